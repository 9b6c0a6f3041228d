// The review queue, live: the server's feed (/review/events, the page's own
// session) puts a new urgent quick report at the top of the queue without a
// reload, and shows a browser notification when the page is allowed to.
// Other new records are announced with a link to reload the queue.

const urgent = document.getElementById('urgent-list');
const notice = document.getElementById('live-notice');
const askButton = document.getElementById('notify-on');

function urgentRow(e) {
  const li = document.createElement('li');
  li.className = 'report live';
  const a = document.createElement('a');
  a.className = 'row';
  a.href = `/review/inspections/${e.inspection_id}`;
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = e.message.title;
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = `随手拍 · ${e.message.place}`;
  const badge = document.createElement('span');
  badge.className = 'badge urgent';
  badge.textContent = '紧急';
  a.append(title, meta, badge);
  li.append(a);
  return li;
}

if (askButton && 'Notification' in window) {
  if (Notification.permission !== 'default') askButton.hidden = true;
  askButton.addEventListener('click', async () => {
    await Notification.requestPermission();
    askButton.hidden = Notification.permission !== 'default';
  });
} else if (askButton) {
  askButton.hidden = true;
}

if (urgent && 'EventSource' in window) {
  const feed = new EventSource('/review/events');
  let fresh = 0;
  feed.addEventListener('report.urgent', (m) => {
    const e = JSON.parse(m.data);
    if (document.querySelector(`#urgent-list a[href$="${e.inspection_id}"]`)) return;
    document.getElementById('urgent-empty')?.remove();
    urgent.prepend(urgentRow(e));
    if ('Notification' in window && Notification.permission === 'granted') {
      new Notification('紧急随手拍', { body: `${e.message.title}\n${e.message.place}`, tag: e.id });
    }
  });
  const more = () => {
    fresh += 1;
    if (notice) {
      notice.hidden = false;
      notice.querySelector('span').textContent = `有 ${fresh} 条新的记录或进展`;
    }
  };
  for (const kind of ['report.created', 'inspection.submitted', 'followup.response', 'followup.resolved']) {
    feed.addEventListener(kind, more);
  }
}
