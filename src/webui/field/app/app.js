// The field app: screens for an inspection walk, built on the reference
// client. Everything is kept in IndexedDB at once (an edit is never only
// on the screen), and sync runs on start, on reconnect, every minute and
// after a submit. No framework: a small element builder and a hash router.

import { FieldsyncClient, IdbStore } from './fieldsync-client.js';
import { h } from './dom.js';
import { checklistForm } from './form.js';
import { PHOTO_SIZES, photoSize, prepare, setPhotoSize } from './media.js';

const KIND = { river_section: '河段', outfall: '排污口', enterprise: '企业', workshop: '作坊', forest_patrol: '护林点', quarantine_site: '隔离点', other: '其他' };
const SEVERITY = [['low', '低'], ['medium', '中'], ['high', '高'], ['critical', '严重']];
const ROUTE_STATUS = { planned: '待巡查', active: '进行中', done: '已完成', cancelled: '已取消' };
const FOLLOWUP_STATUS = { open: '待整改', in_progress: '整改中', resolved: '已整改', verified: '已核实' };
const CATEGORY = [['water', '水环境'], ['air', '大气'], ['waste', '垃圾固废'], ['fire', '森林防火'], ['road', '道路交通'], ['safety', '安全隐患'], ['livelihood', '民生'], ['other', '其他']];

const store = await IdbStore.open();
const client = new FieldsyncClient({ store });
await client.open();

/** The district's UTC offset in minutes (Chongqing: +08:00): every date and time the app shows is the district's. */
const DISTRICT_MINUTES = 8 * 60;
const DISTRICT_OFFSET = '+08:00';

/** A time as district wall-clock fields (the phone's own time zone may differ). */
function district(t) {
  const d = new Date(new Date(t).getTime() + DISTRICT_MINUTES * 60_000);
  return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes() };
}
const view = document.getElementById('view');
const bar = document.getElementById('state');

function show(...nodes) {
  view.replaceChildren(...nodes.flat(Infinity).filter((n) => n != null && n !== false));
  window.scrollTo(0, 0);
}

/** The district's day of a time, as `2026-11-20` (a route's `scheduled_for`). */
function districtDay(ms) {
  const t = district(ms);
  return `${t.y}-${String(t.mo).padStart(2, '0')}-${String(t.d).padStart(2, '0')}`;
}

function today() {
  return districtDay(Date.now());
}

function hhmm(iso) {
  if (!iso) return '';
  const t = district(iso);
  return `${t.mo}月${t.d}日 ${String(t.h).padStart(2, '0')}:${String(t.mi).padStart(2, '0')}`;
}

/**
 * Where a stop stands, the one rule for the home screen, the route and the
 * stop: 已退回 (sent back, not yet submitted again), 已提交, 草稿, 未开始.
 */
function stopState(stop, recs) {
  const rec = recs.find((i) => i.stop_id === stop.id);
  if (rec && rec.review_status === 'returned' && rec.fields.status !== 'submitted') return '已退回';
  if (rec?.fields.status === 'submitted' || (stop.done && !rec)) return '已提交';
  if (rec) return '草稿';
  return '未开始';
}

function routeProgress(route, recs) {
  const done = route.stops.filter((s) => stopState(s, recs) === '已提交').length;
  return { done, total: route.stops.length, complete: route.stops.length > 0 && done === route.stops.length };
}

/** Metres between two positions (haversine). */
function distance(a, b) {
  const r = 6_371_000;
  const rad = (x) => (x * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(s));
}

// ---- the sync bar ----

function renderState(s) {
  const online = navigator.onLine;
  const parts = [];
  parts.push(h('span', { class: online ? 'dot on' : 'dot off' }, online ? '在线' : '离线'));
  parts.push(s.waiting
    ? h('a', { id: 'waiting', href: '#/outbox' }, `待上传 ${s.waiting} 项`)
    : h('span', { id: 'waiting' }, '已全部上传'));
  if (s.uploading.total > 0 && s.syncing) {
    parts.push(h('span', {}, `照片上传 ${Math.round((100 * s.uploading.done) / s.uploading.total)}%`));
    parts.push(h('progress', { id: 'upload', max: s.uploading.total, value: s.uploading.done }));
  }
  if (s.syncing) parts.push(h('span', { class: 'busy' }, '同步中…'));
  if (s.lastSync) parts.push(h('span', { class: 'muted', id: 'last-sync' }, `上次同步 ${hhmm(s.lastSync)}`));
  if (s.error) parts.push(h('span', { class: 'error', id: 'sync-error' }, s.error.message));
  bar.replaceChildren(...parts);
  bar.className = s.error ? 'has-error' : '';
}

client.onChange(renderState);

let editing = false;

async function syncNow() {
  if (!(await client.user())) return;
  const ok = await client.sync();
  if (!ok && client.lastError?.code === 'signed_out') {
    await render();
    return;
  }
  // The stop being filled in is never redrawn under the inspector's fingers.
  if (!editing) await render();
}

document.getElementById('sync').addEventListener('click', syncNow);
window.addEventListener('online', syncNow);
window.addEventListener('offline', () => client.emit());
setInterval(() => { if (navigator.onLine) syncNow(); }, 60_000);

// ---- screens ----

async function loginScreen(message) {
  const others = await client.waitingOthers();
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'error', id: 'login-error' }, message ?? '');
  const form = h('form', {
    class: 'card',
    onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      try {
        await client.login(user.value.trim(), pass.value);
        location.hash = '#/';
        await syncNow();
        await render();
      } catch (e) {
        err.textContent = e.code === 'offline' ? '没有网络,首次登录需要信号' : e.message;
      }
    },
  },
  h('h1', {}, '巡查员登录'),
  h('label', {}, '用户名', user),
  h('label', {}, '密码', pass),
  err,
  h('button', { class: 'big primary', id: 'login', type: 'submit' }, '登录'),
  h('p', { class: 'muted' }, '登录一次即可离线使用数周;回到有信号的地方会自动同步。'),
  others.length ? h('div', { class: 'notice', id: 'waiting-others' },
    others.map((o) => h('p', {}, `本机还有 ${o.display_name}(${o.username})未上传的 ${describeUnsent(o.records, o.photos)},等其本人登录后上传,其他人登录不会上传或看到。`))) : null);
  show(form);
}

function describeUnsent(records, photos) {
  const parts = [];
  if (records) parts.push(`${records} 条记录`);
  if (photos) parts.push(`${photos} 张照片`);
  return parts.join('、') || '内容';
}

const FIELD = { title: '事项', notes: '备注', severity: '严重程度', status: '状态', location: '位置', started_at: '开始时间', finished_at: '结束时间' };

/** A field path as the inspector knows it: `answers.ph` is its checklist item's label. */
function fieldLabel(path, templates) {
  if (!path) return '';
  if (path.startsWith('answers.')) {
    const key = path.slice(8);
    for (const t of templates) {
      const item = t.items?.find((i) => i.key === key);
      if (item) return item.label;
    }
    return key;
  }
  if (path.startsWith('photos.')) return '照片说明';
  return FIELD[path] ?? path;
}

function noticeCard(n, templates) {
  const text = n.kind === 'conflict'
    ? [`「${fieldLabel(n.field, templates)}」与另一台设备的修改冲突:保留了「${fmt(n.kept)}」,你填写的「${fmt(n.discarded)}」已交协调员处理。`]
    : [`修改未被接受:${n.message}`, n.values ? `(内容:${Object.entries(n.values).map(([k, v]) => `${fieldLabel(k, templates)}=${fmt(v)}`).join(',')})` : ''];
  return h('div', { class: `notice ${n.kind}` },
    h('p', {}, ...text),
    h('button', { class: 'small', onclick: async () => { await client.dismiss(n.id); await render(); } }, '知道了'));
}

function fmt(v) {
  if (v === true) return '是';
  if (v === false) return '否';
  if (v == null) return '(空)';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

async function homeScreen() {
  const user = await client.user();
  const routes = (await client.all('routes')).filter((r) => r.status !== 'cancelled');
  const notices = await client.notices();
  const templates = await client.all('templates');
  const followups = await client.all('followups');
  const mine = await client.inspections();
  const t = today();
  const done = (r) => routeProgress(r, mine).complete;
  const todays = routes.filter((r) => r.scheduled_for === t).sort((a, b) => a.name.localeCompare(b.name));
  const later = routes.filter((r) => r.scheduled_for > t).sort((a, b) => a.scheduled_for.localeCompare(b.scheduled_for));
  const open = routes.filter((r) => r.scheduled_for < t && r.status !== 'done' && !done(r));
  const weekAgo = districtDay(Date.now() - 7 * 86_400_000);
  const recent = routes
    .filter((r) => r.scheduled_for < t && r.scheduled_for >= weekAgo && (r.status === 'done' || done(r)))
    .sort((a, b) => b.scheduled_for.localeCompare(a.scheduled_for));
  const routeLink = (r) => {
    const p = routeProgress(r, mine);
    return h('a', { class: 'row', href: `#/route/${r.id}` },
      h('strong', {}, r.name),
      h('span', { class: 'muted progress' }, `${r.scheduled_for} · ${p.done}/${p.total} 站 · ${ROUTE_STATUS[r.status] ?? '未知状态'}`));
  };
  const returned = [];
  const reviews = await client.all('reviews');
  for (const i of mine) {
    const back = await client.returned(i, reviews);
    if (back) returned.push([i, back]);
  }
  const drafts = mine.filter((i) => i.fields.status !== 'submitted' && !returned.some(([r]) => r.id === i.id));
  const sites = new Map((await client.all('sites')).map((x) => [x.id, x]));
  const recordLink = (i) => (i.kind === 'report' ? `#/report/${i.id}` : i.route_id && i.stop_id ? `#/stop/${i.route_id}/${i.stop_id}` : `#/`);
  const reports = mine.filter((i) => i.kind === 'report').sort((a, b) => (b.fields.started_at ?? '').localeCompare(a.fields.started_at ?? ''));
  show(
    h('section', { class: 'card quick' },
      h('label', { class: 'big primary camera', id: 'quick-report' }, '随手拍',
        h('input', { type: 'file', accept: 'image/*', capture: 'environment', id: 'quick-camera', onchange: (e) => quickReport(e.target.files) })),
      h('p', { class: 'muted center' }, '路上看到问题?拍下来,没有信号也能先存着')),
    returned.length ? h('section', { class: 'card returned', id: 'returned' },
      h('h2', {}, `已退回 ${returned.length} 条,请补充后重新提交`),
      returned.map(([i, back]) => h('a', { class: 'row', href: recordLink(i) },
        h('strong', {}, `已退回 · ${i.fields.title ?? sites.get(i.site_id)?.name ?? '巡查记录'}`),
        h('span', { class: 'comment' }, `「${back.comment || '(无意见)'}」`),
        h('span', { class: 'muted' }, `${back.by} · ${hhmm(back.at)}`)))) : null,
    ...notices.map((n) => noticeCard(n, templates)),
    h('section', { class: 'card' },
      h('h2', {}, '今天的路线'),
      todays.length ? todays.map(routeLink) : h('p', { class: 'muted' }, '今天没有路线'),
      open.length ? [h('h3', {}, '未完成的'), open.map(routeLink)] : null,
      later.length ? [h('h3', {}, '之后的'), later.slice(0, 20).map(routeLink)] : null,
      recent.length ? [h('h3', {}, '最近完成'), recent.map(routeLink)] : null),
    followups.length ? h('section', { class: 'card', id: 'followups' },
      h('h2', {}, '整改跟踪'),
      followups.map((f) => h('div', { class: 'row' },
        h('strong', {}, f.title),
        h('span', { class: 'muted' }, `${f.department} · ${FOLLOWUP_STATUS[f.status] ?? '未知状态'}${f.due_at ? ` · 期限 ${hhmm(f.due_at).split(' ')[0]}` : ''}${f.overdue ? ' · 已逾期' : ''}`)))) : null,
    reports.length ? h('section', { class: 'card', id: 'reports' },
      h('h2', {}, '我的随手拍'),
      reports.slice(0, 20).map((i) => h('a', { class: 'row', href: `#/report/${i.id}` },
        h('strong', {}, `${i.fields.urgency === 'urgent' ? '【紧急】' : ''}${i.fields.title ?? '随手拍'}`),
        h('span', { class: 'muted' }, `${hhmm(i.fields.started_at)} · ${i.fields.status === 'submitted' ? (i.unsent.length ? '已提交,待上传' : '已提交') : '草稿'}`)))) : null,
    drafts.filter((i) => i.kind !== 'report').length ? h('section', { class: 'card' },
      h('h2', {}, '草稿'),
      drafts.filter((i) => i.kind !== 'report').map((i) => h('a', { class: 'row', href: recordLink(i) },
        h('strong', {}, i.fields.title ?? '未命名'), h('span', { class: 'muted' }, i.unsent.length ? '未上传' : '已保存')))) : null,
    h('section', { class: 'card', id: 'settings' },
      h('label', {}, '照片上传尺寸',
        h('select', { id: 'photo-size', onchange: (e) => setPhotoSize(e.target.value) },
          PHOTO_SIZES.map(([v, l]) => h('option', { value: v, selected: photoSize() === v }, l)))),
      h('p', { class: 'muted' }, '缩小后的照片保留拍摄时间和位置;视频按原样上传,断网可续传')),
    h('p', { class: 'muted center' }, `${user.display_name}(${user.username})`,
      h('button', { class: 'link', id: 'logout', onclick: signOut }, '退出登录')),
  );
}

/** A photo or video in a record's list: its picture and where its upload stands. */
function mediaFigure(p) {
  const local = p.data instanceof Blob ? URL.createObjectURL(p.data) : null;
  const video = p.kind === 'video';
  const picture = video
    ? (local ? h('video', { src: local, muted: true, playsinline: true, preload: 'metadata', class: 'poster' })
      : p.urls?.poster && p.status === 'ready' ? h('img', { src: p.urls.poster, alt: p.caption || '视频' }) : h('div', { class: 'pending' }, '视频'))
    : (local ?? p.urls?.thumb) ? h('img', { src: local ?? p.urls.thumb, alt: p.caption || '照片' }) : h('div', { class: 'pending' }, '照片');
  const pct = p.upload && p.bytes ? Math.floor((100 * (p.upload.offset ?? 0)) / p.bytes) : null;
  const state = p.needs_upload ? (pct != null ? `上传中 ${pct}%` : '待上传') : p.dirty ? '待上传' : '已上传';
  return [picture, `${hhmm(p.taken_at)}${video ? ' · 视频' : ''} · ${state}`];
}

/** Signing out says what will wait, and for whom; the work stays on the phone. */
async function signOut() {
  const user = await client.user();
  const { records, photos } = await client.unsent();
  const waiting = records.length + photos.length;
  const text = waiting
    ? `你还有 ${describeUnsent(records.length, photos.length)}未上传。退出后它们保留在本机,等 ${user.display_name} 再次登录后上传;其他人登录不会上传或看到它们。退出后需要有信号才能再登录。确定退出?`
    : '退出后需要有信号才能再登录。确定退出?';
  if (!confirm(text)) return;
  await client.logout();
  await render();
}

/** What is waiting to go up: each record with its route and stop, each photo with its record. */
async function outboxScreen() {
  const { records, photos } = await client.unsent();
  const routes = new Map((await client.all('routes')).map((r) => [r.id, r]));
  const sites = new Map((await client.all('sites')).map((x) => [x.id, x]));
  const titleOf = async (id) => (await client.inspection(id))?.fields.title ?? '巡查记录';
  const where = (p) => {
    const route = routes.get(p.route_id);
    const stop = route?.stops.find((x) => x.id === p.stop_id);
    const site = sites.get(stop?.site_id ?? p.site_id);
    return [route?.name, stop ? `第 ${stop.seq} 站` : null, site?.name].filter(Boolean).join(' · ') || '路上发现';
  };
  const recordRows = [];
  for (const p of records) {
    recordRows.push(h('a', { class: 'row', href: p.route_id && p.stop_id ? `#/stop/${p.route_id}/${p.stop_id}` : `#/` },
      h('strong', {}, await titleOf(p.id)), h('span', { class: 'muted' }, `${where(p)} · ${p.deleted ? '待删除' : `${Object.keys(p.fields).length} 项修改`}`)));
  }
  const photoRows = [];
  for (const p of photos) {
    photoRows.push(h('div', { class: 'row' },
      h('strong', {}, p.caption || '照片'),
      h('span', { class: 'muted' }, `${await titleOf(p.inspection_id)} · ${hhmm(p.taken_at)} · ${p.needs_upload && !p.dirty ? '照片待上传' : '信息待上传'}`)));
  }
  show(h('section', { class: 'card', id: 'outbox' },
    h('a', { href: '#/' }, '← 返回'),
    h('h1', {}, '待上传'),
    records.length + photos.length ? null : h('p', { class: 'muted' }, '已全部上传'),
    records.length ? [h('h2', {}, `记录 ${records.length} 条`), recordRows] : null,
    photos.length ? [h('h2', {}, `照片 ${photos.length} 张`), photoRows] : null,
    h('p', { class: 'muted' }, '有信号时会自动上传,也可以点上方的「同步」。'),
    records.length + photos.length ? h('button', {
      class: 'link danger', id: 'discard',
      onclick: async () => {
        // Never a side effect of anything else: asked twice, then gone.
        if (!confirm(`放弃这 ${describeUnsent(records.length, photos.length)}?放弃后无法恢复。`)) return;
        if (!confirm('再次确认:放弃后这些内容不会上传,也无法找回。')) return;
        await client.discardUnsent();
        await render();
      },
    }, '放弃未上传的内容') : null));
}

async function routeScreen(id) {
  const r = await client.get('routes', id);
  if (!r) return show(h('p', {}, '路线不存在或已取消'), h('a', { href: '#/' }, '返回'));
  const mine = await client.inspections();
  const stops = [];
  for (const s of [...r.stops].sort((a, b) => a.seq - b.seq)) {
    const site = await client.get('sites', s.site_id);
    const state = stopState(s, mine);
    stops.push(h('a', { class: `row stop ${state === '已提交' ? 'done' : ''} ${state === '已退回' ? 'returned' : ''}`, href: `#/stop/${r.id}/${s.id}` },
      h('strong', {}, `${s.seq}. ${site?.name ?? '点位'}`),
      h('span', { class: 'muted' }, `${KIND[site?.kind] ?? '其他'} · ${state}${s.notes ? ` · ${s.notes}` : ''}`)));
  }
  show(h('section', { class: 'card' },
    h('a', { href: '#/' }, '← 返回'),
    h('h1', {}, r.name),
    h('p', { class: 'muted progress' }, `${r.scheduled_for} · ${routeProgress(r, mine).done}/${r.stops.length} 站 · ${ROUTE_STATUS[r.status] ?? '未知状态'}`),
    stops));
}

function here() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) return reject(new Error('此设备不能定位'));
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({
        lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: Math.round(p.coords.accuracy),
        ...(p.coords.altitude != null ? { altitude_m: p.coords.altitude } : {}),
        captured_at: new Date(p.timestamp).toISOString(),
      }),
      (e) => reject(new Error(e.code === 1 ? '没有定位权限' : '定位失败,请到开阔处重试')),
      { enableHighAccuracy: true, timeout: 20_000, maximumAge: 30_000 });
  });
}

async function stopScreen(routeId, stopId) {
  const route = await client.get('routes', routeId);
  let rec = (await client.inspections()).find((i) => i.stop_id === stopId) ?? null;
  // A stop an admin removed (or a route cancelled) since this record was
  // begun: the record stays the inspector's to finish; the server applies
  // it and tells the reviewer.
  const planned = route && route.status !== 'cancelled' ? route.stops.find((s) => s.id === stopId) : null;
  const stop = planned ?? (rec ? { id: stopId, seq: 0, site_id: rec.site_id, template_id: rec.template_id, notes: '' } : null);
  if (!stop) return show(h('p', {}, '站点不存在'), h('a', { href: '#/' }, '返回'));
  const site = await client.get('sites', stop.site_id);
  // The checklist as this record was begun on: after an admin's new
  // version the phone holds only the new one, whose items the record's
  // version would refuse; its answers stay, and the rest of it can still
  // be finished and submitted.
  const held = await client.get('templates', stop.template_id);
  const outdated = Boolean(rec?.template_version && held && held.version !== rec.template_version);
  const template = outdated ? null : held;
  let id = rec?.id ?? null;
  const metaOf = { site_id: stop.site_id, route_id: routeId, stop_id: stopId, template_id: stop.template_id, template_version: template?.version };
  const back = await client.returned(rec);
  const followups = rec ? (await client.all('followups')).filter((f) => f.inspection_id === rec.id) : [];
  const values = { ...(rec?.fields ?? {}) };
  editing = true;

  async function set(path, value) {
    values[path] = value;
    if (!id) {
      const first = { title: values.title ?? site?.name ?? '巡查记录', status: 'draft', started_at: new Date().toISOString() };
      Object.assign(values, first, { [path]: value });
      id = await client.edit(null, { ...first, [path]: value }, metaOf);
    } else {
      await client.edit(id, { [path]: value });
    }
  }

  const distanceLine = h('p', { class: 'muted', id: 'distance' });
  const showDistance = (loc) => {
    if (loc && site) {
      const m = distance(loc, site);
      distanceLine.textContent = `距点位 ${m < 1000 ? `${Math.round(m)} 米` : `${(m / 1000).toFixed(1)} 公里`}${m > site.radius_m ? '(不在点位范围内)' : '(在范围内)'}`;
    }
  };
  showDistance(values.location);

  const locLine = h('p', { id: 'location' }, values.location ? `已定位(精度 ${values.location.accuracy_m} 米)` : '尚未定位');
  const locate = h('button', {
    type: 'button', class: 'big', id: 'locate',
    onclick: async () => {
      locLine.textContent = '定位中…';
      try {
        const loc = await here();
        await set('location', loc);
        locLine.textContent = `已定位(精度 ${loc.accuracy_m} 米)`;
        showDistance(loc);
      } catch (e) {
        locLine.textContent = e.message;
      }
    },
  }, '记录当前位置');

  /** Ensures the record exists (a photo needs one to belong to). */
  async function ensure() {
    if (!id) await set('title', values.title ?? site?.name ?? '巡查记录');
  }
  async function takePhoto(file, extra = {}) {
    await ensure();
    // When the camera says it was taken (the file's date is when it was
    // saved), shrunk to the setting's size, or a video as recorded.
    const m = await prepare(file, DISTRICT_OFFSET);
    return client.addPhoto(id, m.data, { caption: '', taken_at: m.taken_at, location: values.location ?? null, content_type: m.content_type, kind: m.kind, ...extra });
  }
  const form = template ? checklistForm({
    template,
    values,
    set,
    photos: async () => (id ? client.photos(id) : []),
    addPhoto: takePhoto,
    removePhoto: (pid) => client.editPhoto(pid, { deleted: true }),
    photoUrl: (p) => (p.data instanceof Blob ? URL.createObjectURL(p.data) : p.urls?.thumb ?? null),
  }) : null;
  const items = form ? form.node : null;

  const photoList = h('div', { class: 'photos', id: 'photos' });
  async function drawPhotos() {
    if (!id) return photoList.replaceChildren();
    // Photos of an item are shown with it; the rest here.
    const list = (await client.photos(id)).filter((p) => !p.item_key);
    photoList.replaceChildren(...list.map((p) => {
      const [picture, line] = mediaFigure(p);
      return h('figure', { 'data-kind': p.kind },
        picture,
        h('input', { class: 'caption', placeholder: '说明', value: p.caption ?? '', onchange: (e) => client.editPhoto(p.id, { caption: e.target.value }) }),
        h('span', { class: 'muted' }, line),
        h('button', { type: 'button', class: 'small', onclick: async () => { await client.editPhoto(p.id, { deleted: true }); await drawPhotos(); } }, '删除'));
    }));
  }
  const camera = h('input', {
    type: 'file', accept: 'image/*', capture: 'environment', multiple: true, id: 'camera',
    onchange: async (e) => {
      for (const file of e.target.files) await takePhoto(file);
      e.target.value = '';
      await drawPhotos();
    },
  });

  const message = h('p', { class: 'error', id: 'form-error' });
  async function save(submit) {
    message.textContent = '';
    if (submit && form) {
      // Only what the checklist makes required blocks a submit; a failed
      // item is marked, never a reason to refuse.
      const gaps = form.submitGaps();
      if (gaps.length) {
        message.textContent = `还有 ${gaps.length} 项必填未填写`;
        return;
      }
    }
    await set('status', submit ? 'submitted' : 'draft');
    if (submit) await set('finished_at', new Date().toISOString());
    editing = false;
    location.hash = `#/route/${routeId}`;
    if (navigator.onLine) syncNow();
  }

  show(planned ? null : h('section', { class: 'card notice', id: 'plan-changed' },
    h('p', {}, route && route.status !== 'cancelled' ? '这个站点已从路线中移除。记录仍会上传,协调员会看到。' : '这条路线已取消。记录仍会上传,协调员会看到。')),
  back ? h('section', { class: 'card returned', id: 'returned-banner' },
    h('h2', {}, '已退回,请补充后重新提交'),
    h('p', { class: 'comment' }, `「${back.comment || '(无意见)'}」`),
    h('p', { class: 'muted' }, `${back.by} · ${hhmm(back.at)}`)) : null,
  h('section', { class: 'card' },
    h('a', { href: `#/route/${routeId}`, onclick: () => { editing = false; } }, '← 返回路线'),
    h('h1', {}, site?.name ?? '点位'),
    h('p', { class: 'muted' }, `${KIND[site?.kind] ?? '其他'} · ${site?.address ?? ''}`),
    stop.notes ? h('p', { class: 'hint' }, stop.notes) : null,
    distanceLine,
    locLine, locate),
  h('section', { class: 'card' },
    h('label', {}, '事项', h('input', { name: 'title', id: 'title', value: values.title ?? site?.name ?? '', onchange: (e) => set('title', e.target.value) })),
    h('fieldset', { class: 'item' }, h('legend', {}, '严重程度'),
      h('div', { class: 'choices' }, SEVERITY.map(([v, l]) => h('label', { class: 'choice' },
        h('input', { type: 'radio', name: 'severity', value: v, checked: values.severity === v, onchange: () => set('severity', v) }), h('span', {}, l))))),
    h('h2', {}, template ? `${template.name}(第 ${template.version} 版)` : '检查清单'),
    outdated ? h('p', { class: 'hint', id: 'template-outdated' }, `检查清单已更新为第 ${held.version} 版;这条记录按第 ${rec.template_version} 版填写,已填的答案会保留并上传。`) : null,
    items,
    h('label', {}, '备注', h('textarea', { name: 'notes', id: 'notes', rows: 4, onchange: (e) => set('notes', e.target.value) }, values.notes ?? ''))),
  h('section', { class: 'card' },
    h('h2', {}, '照片和视频'),
    h('label', { class: 'big camera' }, '拍照 / 选择照片', camera),
    h('label', { class: 'big camera' }, '录像', h('input', {
      type: 'file', accept: 'video/*', capture: 'environment', id: 'video-camera',
      onchange: async (e) => {
        for (const file of e.target.files) await takePhoto(file);
        e.target.value = '';
        await drawPhotos();
      },
    })),
    photoList),
  followups.length ? h('section', { class: 'card' },
    h('h2', {}, '整改跟踪'),
    followups.map((f) => h('p', {}, h('strong', {}, f.title), ` · ${f.department} · ${FOLLOWUP_STATUS[f.status] ?? '未知状态'}${f.overdue ? ' · 已逾期' : ''}`))) : null,
  h('section', { class: 'card actions' },
    message,
    h('button', { type: 'button', class: 'big', id: 'save-draft', onclick: () => save(false) }, '存草稿'),
    h('button', { type: 'button', class: 'big primary', id: 'submit', onclick: () => save(true) }, '提交')));
  await drawPhotos();
}

/**
 * 随手拍: one tap opens the camera; the photo and a new report go to the
 * outbox at once (no signal needed), the position is taken meanwhile, and
 * the report's screen opens to add a title, a category and an urgency.
 */
async function quickReport(files) {
  if (!files || !files.length) return;
  const now = new Date().toISOString();
  const t = district(now);
  const title = `随手拍 ${t.mo}月${t.d}日 ${String(t.h).padStart(2, '0')}:${String(t.mi).padStart(2, '0')}`;
  const id = await client.edit(null, { title, category: 'other', urgency: 'normal', status: 'draft', started_at: now }, { kind: 'report' });
  for (const file of files) await addReportPhoto(id, file, null);
  // Its screen takes the position (the report is saved already).
  location.hash = `#/report/${id}`;
}

async function addReportPhoto(id, file, loc) {
  const m = await prepare(file, DISTRICT_OFFSET);
  return client.addPhoto(id, m.data, { caption: '', taken_at: m.taken_at, location: loc, content_type: m.content_type, kind: m.kind });
}

async function reportScreen(id) {
  const rec = await client.inspection(id);
  if (!rec || rec.kind !== 'report') return show(h('p', {}, '随手拍不存在'), h('a', { href: '#/' }, '返回'));
  const values = { ...rec.fields };
  const sent = values.status === 'submitted';
  const back = await client.returned(rec);
  const followups = (await client.all('followups')).filter((f) => f.inspection_id === id);
  const set = async (path, value) => { values[path] = value; await client.edit(id, { [path]: value }); };
  const locLine = h('p', { id: 'location' }, values.location ? `已定位(精度 ${values.location.accuracy_m} 米)` : '正在定位…(没有信号也能定位,请稍候)');
  const locateNow = async () => {
    locLine.textContent = '定位中…';
    try {
      const loc = await here();
      await set('location', loc);
      locLine.textContent = `已定位(精度 ${loc.accuracy_m} 米)`;
    } catch (e) {
      locLine.textContent = e.message;
    }
  };
  const locate = h('button', { type: 'button', class: 'big', id: 'locate', onclick: locateNow }, '重新定位');
  const photoList = h('div', { class: 'photos', id: 'photos' });
  async function drawPhotos() {
    const list = await client.photos(id);
    photoList.replaceChildren(...list.map((p) => {
      const [picture, line] = mediaFigure(p);
      return h('figure', { 'data-kind': p.kind },
        picture,
        h('span', { class: 'muted' }, line),
        sent ? null : h('button', { type: 'button', class: 'small', onclick: async () => { await client.editPhoto(p.id, { deleted: true }); await drawPhotos(); } }, '删除'));
    }));
  }
  const camera = h('input', {
    type: 'file', accept: 'image/*', capture: 'environment', multiple: true, id: 'camera',
    onchange: async (e) => {
      for (const file of e.target.files) await addReportPhoto(id, file, values.location ?? null);
      e.target.value = '';
      await drawPhotos();
    },
  });
  const message = h('p', { class: 'error', id: 'form-error' });
  async function submit() {
    message.textContent = '';
    if (!(values.title ?? '').trim()) { message.textContent = '请填写事项'; return; }
    if (!values.location) { message.textContent = '尚未定位,请点「重新定位」'; return; }
    await set('status', 'submitted');
    await set('finished_at', new Date().toISOString());
    editing = false;
    location.hash = '#/';
    if (navigator.onLine) syncNow();
  }
  editing = !sent;
  show(
    back ? h('section', { class: 'card returned', id: 'returned-banner' },
      h('h2', {}, '已退回,请补充后重新提交'),
      h('p', { class: 'comment' }, `「${back.comment || '(无意见)'}」`),
      h('p', { class: 'muted' }, `${back.by} · ${hhmm(back.at)}`)) : null,
    h('section', { class: 'card', id: 'report' },
      h('a', { href: '#/', onclick: () => { editing = false; } }, '← 返回'),
      h('h1', {}, '随手拍'),
      locLine, locate,
      h('label', {}, '事项', h('input', { name: 'title', id: 'title', value: values.title ?? '', onchange: (e) => set('title', e.target.value) })),
      h('fieldset', { class: 'item' }, h('legend', {}, '分类'),
        h('div', { class: 'choices' }, CATEGORY.map(([v, l]) => h('label', { class: 'choice' },
          h('input', { type: 'radio', name: 'category', value: v, checked: values.category === v, onchange: () => set('category', v) }), h('span', {}, l))))),
      h('label', { class: 'check urgent' },
        h('input', { type: 'checkbox', id: 'urgent', checked: values.urgency === 'urgent', onchange: (e) => set('urgency', e.target.checked ? 'urgent' : 'normal') }),
        '紧急(立即通知协调员)'),
      h('label', {}, '情况说明', h('textarea', { name: 'notes', id: 'notes', rows: 4, onchange: (e) => set('notes', e.target.value) }, values.notes ?? ''))),
    h('section', { class: 'card' },
      h('h2', {}, '照片和视频'),
      h('label', { class: 'big camera' }, '再拍一张', camera),
      sent ? null : h('label', { class: 'big camera' }, '录像', h('input', {
        type: 'file', accept: 'video/*', capture: 'environment', id: 'video-camera',
        onchange: async (e) => {
          for (const file of e.target.files) await addReportPhoto(id, file, values.location ?? null);
          e.target.value = '';
          await drawPhotos();
        },
      })),
      photoList),
    followups.length ? h('section', { class: 'card' },
      h('h2', {}, '整改跟踪'),
      followups.map((f) => h('p', {}, h('strong', {}, f.title), ` · ${f.department} · ${FOLLOWUP_STATUS[f.status] ?? '未知状态'}${f.overdue ? ' · 已逾期' : ''}`))) : null,
    h('section', { class: 'card actions' },
      message,
      sent && !back ? h('p', { class: 'muted' }, '已提交') : h('button', { type: 'button', class: 'big primary', id: 'submit', onclick: submit }, '提交')));
  await drawPhotos();
  // A new report takes its position as soon as the phone has a fix.
  if (!values.location && !sent) locateNow();
}

/**
 * Draws the screen the address names. Draws run one after another: two
 * that overlapped (a sync's redraw and a tap) could otherwise finish in the
 * wrong order and leave the screen of an address already left.
 */
let drawing = Promise.resolve();
function render() {
  drawing = drawing.then(draw, draw);
  return drawing;
}

async function draw() {
  if (!(await client.user())) {
    editing = false;
    return loginScreen(client.lastError?.code === 'signed_out' ? client.lastError.message : null);
  }
  const [, page, a, b] = location.hash.split('/');
  if (page !== 'stop' && page !== 'report') editing = false;
  if (page === 'route' && a) return routeScreen(a);
  if (page === 'stop' && a && b) return stopScreen(a, b);
  if (page === 'report' && a) return reportScreen(a);
  if (page === 'outbox') return outboxScreen();
  return homeScreen();
}

window.addEventListener('hashchange', render);

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch(() => {});
}

await client.emit();
await render();
if (navigator.onLine && (await client.user())) syncNow();
