// A checklist as the inspector fills it: every kind of item, conditions
// applied live (an item whose condition is false is hidden, its answer
// kept), photos and a note for any item, a signature pad, repeats with
// rows added and removed, failed items marked. The rules are those of
// checklist.js (the server's, on the same cases); this module only draws
// and writes through `set` (every change is kept at once).

import { h } from './dom.js';
import { compile, checks } from './checklist.js';

const newRowId = () => (crypto.randomUUID ? crypto.randomUUID()
  : '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)));

/** The live rows of a repeat in the field map: [[row id, seq]] in order. */
export function rowsOf(values, key) {
  const prefix = `answers.${key}.`;
  const rows = new Map();
  for (const [path, v] of Object.entries(values)) {
    if (!path.startsWith(prefix)) continue;
    const rest = path.slice(prefix.length);
    const dot = rest.indexOf('.');
    if (dot < 0) continue;
    const row = rest.slice(0, dot);
    const field = rest.slice(dot + 1);
    const r = rows.get(row) ?? { seq: 0, deleted: false };
    if (field === '_seq' && typeof v === 'number') r.seq = v;
    if (field === '_deleted') r.deleted = v === true;
    rows.set(row, r);
  }
  return [...rows.entries()].filter(([, r]) => !r.deleted)
    .sort((a, b) => a[1].seq - b[1].seq || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([id, r]) => [id, r.seq]);
}

const MISSING_WORDS = { '': '必填', photo: '需拍照', note: '需填写说明' };

/**
 * The form of a checklist. `ctx`: { template, values (the record's field
 * map, kept current by `set`), set(path, value), photos() (the record's
 * live photos), addPhoto(blob, {item_key, kind, content_type}) -> id,
 * removePhoto(id), photoUrl(photo) }.
 * Returns { node, refresh(), submitGaps() }.
 */
export function checklistForm(ctx) {
  const { template, values } = ctx;
  const compiled = compile(template.items);
  let photoList = [];
  // The photo list the item boxes were last drawn from: redrawn only when
  // it changed, not on every answer.
  let drawnPhotos = null;
  const node = h('div', { class: 'checklist' });

  async function change(path, value) {
    await ctx.set(path, value);
    refresh();
  }

  function radios(name, choices, value, set) {
    return h('div', { class: 'choices', role: 'radiogroup' },
      choices.map(([v, label]) => h('label', { class: 'choice' },
        h('input', { type: 'radio', name, value: String(v), checked: value === v, onchange: () => set(v) }),
        h('span', {}, label))));
  }

  function input(item, path) {
    const name = `answers.${path}`;
    const value = values[name];
    const set = (v) => change(name, v);
    switch (item.kind) {
      case 'yes_no': return radios(name, [[true, '是'], [false, '否']], value, set);
      case 'score': {
        const out = [];
        for (let v = item.min ?? 0; v <= (item.max ?? 10) && out.length < 21; v++) out.push([v, String(v)]);
        return radios(name, out, value, set);
      }
      case 'choice': return radios(name, (item.options ?? []).map((o) => [o, o]), value, set);
      case 'multi_choice': {
        const chosen = new Set(Array.isArray(value) ? value : []);
        return h('div', { class: 'choices' }, (item.options ?? []).map((o) => h('label', { class: 'choice' },
          h('input', {
            type: 'checkbox', name, value: o, checked: chosen.has(o),
            onchange: (e) => {
              if (e.target.checked) chosen.add(o); else chosen.delete(o);
              // In the options' order, so two phones choosing alike agree.
              const list = (item.options ?? []).filter((x) => chosen.has(x));
              set(list.length ? list : null);
            },
          }),
          h('span', {}, o))));
      }
      case 'number':
        return h('input', {
          type: 'number', inputmode: 'decimal', name, step: 'any', min: item.min, max: item.max, value: value ?? '',
          onchange: (e) => set(e.target.value === '' ? null : Number(e.target.value)),
        });
      case 'date':
        return h('input', { type: 'date', name, value: value ?? '', onchange: (e) => set(e.target.value || null) });
      case 'photo': return null;
      case 'signature': return signaturePad(item, path);
      default:
        return h('textarea', { name, rows: 3, onchange: (e) => set(e.target.value) }, value ?? '');
    }
  }

  function signaturePad(item, path) {
    const name = `answers.${path}`;
    const box = h('div', { class: 'signature' });
    const draw = () => {
      const id = values[name];
      const saved = id ? photoList.find((p) => p.id === id) : null;
      if (id) {
        const src = saved ? ctx.photoUrl(saved) : null;
        box.replaceChildren(
          src ? h('img', { src, alt: '签名', class: 'signed' }) : h('p', {}, '已签名'),
          h('button', { type: 'button', class: 'small', onclick: async () => { if (saved) await ctx.removePhoto(saved.id); await change(name, null); draw(); } }, '重新签名'));
        return;
      }
      const canvas = h('canvas', { width: 600, height: 240, class: 'pad', 'aria-label': '在此处用手指签名' });
      const pen = canvas.getContext('2d');
      // White, not transparent: a reviewer's thumbnail (a JPEG) has no
      // transparency and would show the strokes on black.
      const blank = () => { pen.fillStyle = '#fff'; pen.fillRect(0, 0, canvas.width, canvas.height); };
      blank();
      pen.lineWidth = 4; pen.lineCap = 'round'; pen.strokeStyle = '#000';
      let down = false;
      let inked = false;
      const at = (e) => {
        const r = canvas.getBoundingClientRect();
        return [(e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height)];
      };
      canvas.addEventListener('pointerdown', (e) => { down = true; canvas.setPointerCapture?.(e.pointerId); pen.beginPath(); pen.moveTo(...at(e)); e.preventDefault(); });
      canvas.addEventListener('pointermove', (e) => { if (!down) return; pen.lineTo(...at(e)); pen.stroke(); inked = true; e.preventDefault(); });
      canvas.addEventListener('pointerup', () => { down = false; });
      canvas.addEventListener('pointercancel', () => { down = false; });
      const message = h('p', { class: 'field-error' });
      box.replaceChildren(canvas,
        h('div', { class: 'buttons' },
          h('button', { type: 'button', class: 'small', onclick: () => { blank(); inked = false; } }, '清除'),
          h('button', {
            type: 'button', class: 'small', onclick: async () => {
              if (!inked) { message.textContent = '请先签名'; return; }
              const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
              const id = await ctx.addPhoto(blob, { item_key: path, kind: 'signature', content_type: 'image/png' });
              photoList = await ctx.photos();
              await change(name, id);
              draw();
            },
          }, '保存签名')),
        message);
    };
    draw();
    return box;
  }

  /** Photos of one item, a button to take more, and its note. */
  function tools(item, path) {
    if (item.kind === 'signature') return null;
    const thumbs = h('div', { class: 'photos item-photos', 'data-photos': path });
    const camera = h('input', {
      type: 'file', accept: 'image/*', capture: 'environment', multiple: true, 'data-camera': path,
      onchange: async (e) => {
        const ids = [];
        for (const file of e.target.files) ids.push(await ctx.addPhoto(file, { item_key: path }));
        e.target.value = '';
        photoList = await ctx.photos();
        if (item.kind === 'photo') {
          const name = `answers.${path}`;
          const before = Array.isArray(values[name]) ? values[name] : [];
          await ctx.set(name, [...before, ...ids]);
        }
        refresh();
      },
    });
    const noteName = `item_notes.${path}`;
    const note = h('textarea', { name: noteName, rows: 2, placeholder: '本项说明', onchange: (e) => change(noteName, e.target.value || null) }, values[noteName] ?? '');
    const noteBox = h('div', { class: 'item-note', hidden: !values[noteName] }, note);
    return h('div', { class: 'item-tools' },
      h('div', { class: 'buttons' },
        h('label', { class: 'small camera' }, item.kind === 'photo' ? '拍照' : '拍照取证', camera),
        h('button', { type: 'button', class: 'small', onclick: () => { noteBox.hidden = false; note.focus(); } }, '添加说明')),
      noteBox, thumbs);
  }

  function itemNode(item, path) {
    if (item.kind === 'section') return h('h3', { class: 'section', 'data-path': path }, item.label);
    if (item.kind === 'repeat') return repeatNode(item);
    const star = item.required || item.required_when ? h('span', { class: 'req' }, ' *') : null;
    return h('fieldset', { class: 'item', 'data-path': path, 'data-key': item.key },
      h('legend', {}, item.label, star, h('span', { class: 'failed-mark' }, ' 不合格')),
      input(item, path),
      tools(item, path),
      h('p', { class: 'field-error' }));
  }

  function repeatNode(item) {
    const rowsBox = h('div', { class: 'rows' });
    const drawRows = () => {
      const rows = rowsOf(values, item.key);
      rowsBox.replaceChildren(...rows.map(([row], i) => h('div', { class: 'row-card', 'data-row': row },
        h('div', { class: 'row-head' }, h('strong', {}, `第 ${i + 1} 行`),
          h('button', {
            type: 'button', class: 'small', onclick: async () => {
              if (!confirm(`删除第 ${i + 1} 行?`)) return;
              await ctx.set(`answers.${item.key}.${row}._deleted`, true);
              drawRows(); refresh();
            },
          }, '删除此行')),
        (item.items ?? []).map((child) => itemNode(child, `${item.key}.${row}.${child.key}`)))));
    };
    drawRows();
    return h('fieldset', { class: 'item repeat', 'data-path': item.key, 'data-key': item.key },
      h('legend', {}, item.label, item.required || item.required_when ? h('span', { class: 'req' }, ' *') : null),
      rowsBox,
      h('button', {
        type: 'button', class: 'small add-row', onclick: async () => {
          const rows = rowsOf(values, item.key);
          const seq = rows.length ? Math.max(...rows.map(([, s]) => s)) + 1 : 1;
          await ctx.set(`answers.${item.key}.${newRowId()}._seq`, seq);
          drawRows(); refresh();
        },
      }, '添加一行'),
      h('p', { class: 'field-error' }));
  }

  node.append(...template.items.map((item) => itemNode(item, item.key)));

  function current() {
    const linked = new Set(photoList.filter((p) => p.item_key && !p.deleted).map((p) => p.item_key));
    return checks(compiled, values, linked);
  }

  /** Applies the conditions and marks: hidden, failed, and each item's photos. */
  function refresh() {
    const c = current();
    const failed = new Set(c.failed);
    // A gap filled since the last submit is no longer marked.
    const gaps = new Set(c.missing_required.map((g) => g.split('#')[0]));
    for (const el of node.querySelectorAll('.missing')) {
      if (gaps.has(el.dataset.path)) continue;
      el.classList.remove('missing');
      const err = el.querySelector(':scope > .field-error');
      if (err) err.textContent = '';
    }
    for (const el of node.querySelectorAll('[data-path]')) {
      const path = el.dataset.path;
      const hide = c.hidden.has(path);
      if (el.hidden !== hide) el.hidden = hide;
      if (el.classList.contains('failed') !== failed.has(path)) el.classList.toggle('failed');
    }
    if (drawnPhotos === photoList && !node.querySelector('[data-photos]:not([data-drawn])')) return c;
    drawnPhotos = photoList;
    for (const box of node.querySelectorAll('[data-photos]')) {
      box.dataset.drawn = '1';
      const mine = photoList.filter((p) => p.item_key === box.dataset.photos && !p.deleted);
      box.replaceChildren(...mine.map((p) => {
        const src = ctx.photoUrl(p);
        return h('figure', {}, src ? h('img', { src, alt: '照片' }) : h('div', { class: 'pending' }, '照片'),
          h('button', { type: 'button', class: 'small', onclick: async () => {
            await ctx.removePhoto(p.id);
            const name = `answers.${box.dataset.photos}`;
            if (Array.isArray(values[name])) await ctx.set(name, values[name].filter((x) => x !== p.id));
            photoList = await ctx.photos();
            refresh();
          } }, '删除'));
      }));
    }
    return c;
  }

  /** Marks what submitting lacks; returns the missing paths (the first scrolled into view). */
  function submitGaps() {
    for (const el of node.querySelectorAll('.missing')) {
      el.classList.remove('missing');
      const err = el.querySelector(':scope > .field-error');
      if (err) err.textContent = '';
    }
    const c = refresh();
    for (const gap of c.missing_required) {
      const [path, what = ''] = gap.split('#');
      const el = node.querySelector(`[data-path="${CSS.escape(path)}"]`);
      if (!el) continue;
      el.classList.add('missing');
      const err = el.querySelector(':scope > .field-error');
      if (err) err.textContent = [err.textContent, MISSING_WORDS[what]].filter(Boolean).join(',');
      if (what === 'note') { const n = el.querySelector('.item-note'); if (n) n.hidden = false; }
    }
    node.querySelector('.missing')?.scrollIntoView({ block: 'center' });
    return c.missing_required;
  }

  (async () => { photoList = await ctx.photos(); refresh(); })();
  return { node, refresh, submitGaps, setPhotos: (list) => { photoList = list; refresh(); } };
}
