// What a record's answers say against its checklist, in the field app:
// which items are hidden, which required answers, photos and notes are
// missing, which items failed, and the score. The same rules as the
// server's (src/inspection/checklist.rs); both run the cases in
// tests/expr/checklists.json. Pure functions over plain values.

import { parse, evaluate, truth } from './expr.js';

const ANSWERS = 'answers.';
const NOTES = 'item_notes.';

/** Whether a value counts as an answer. */
export function answered(v) {
  if (v === undefined || v === null) return false;
  if (typeof v === 'string') return v.trim() !== '';
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

const answerable = (item) => item.kind !== 'section' && item.kind !== 'repeat';
const children = (item) => item.items ?? [];

function compileExpr(src) {
  if (!src) return null;
  try { return parse(src); } catch { return null; }
}

function holds(e, answers) {
  if (!e) return false;
  try { return truth(evaluate(e, answers)); } catch { return false; }
}

/** Every item, with the repeat it is in, in template order. */
export function walk(items) {
  const out = [];
  for (const item of items) {
    out.push([item, null]);
    for (const child of children(item)) out.push([child, item]);
  }
  return out;
}

/** Reads of an expression: the keys it names. */
function reads(e, out = []) {
  if (!e) return out;
  switch (e.k) {
    case 'ref': out.push(e.v); break;
    case 'neg': reads(e.x, out); break;
    case 'bin': reads(e.l, out); reads(e.r, out); break;
    case 'call': for (const a of e.args) reads(a, out); break;
    default: break;
  }
  return out;
}

/**
 * A checklist version made ready: parsed expressions, the section of each
 * item and an order where each item's relevance follows what it reads.
 */
export function compile(items) {
  const logic = new Map();
  const section = new Map();
  const deps = [];
  const level = (list, repeat) => {
    let current = null;
    for (const item of list) {
      const l = {
        relevant: compileExpr(item.relevant),
        required_when: compileExpr(item.required_when),
        photo_required_when: compileExpr(item.photo_required_when),
        note_required_when: compileExpr(item.note_required_when),
        fail_when: compileExpr(item.fail_when),
      };
      logic.set(item.key, l);
      const d = reads(l.relevant);
      if (item.kind === 'section') current = item.key;
      else if (current) { section.set(item.key, current); d.push(current); }
      if (repeat) d.push(repeat);
      deps.push([item.key, d]);
      if (item.kind === 'repeat') level(children(item), item.key);
    }
  };
  level(items, null);
  // Kahn's algorithm; a circle (refused by the server when saved) leaves
  // the rest in template order.
  const index = new Map(deps.map(([k], i) => [k, i]));
  const waiting = deps.map(() => 0);
  const then = deps.map(() => []);
  deps.forEach(([, ds], i) => {
    for (const d of ds) {
      const j = index.get(d);
      if (j !== undefined) { waiting[i] += 1; then[j].push(i); }
    }
  });
  const ready = [];
  for (let i = deps.length - 1; i >= 0; i -= 1) if (waiting[i] === 0) ready.push(i);
  const order = [];
  while (ready.length) {
    const i = ready.pop();
    order.push(deps[i][0]);
    for (const n of then[i]) { waiting[n] -= 1; if (waiting[n] === 0) ready.push(n); }
  }
  if (order.length < deps.length) {
    for (const [k] of deps) if (!order.includes(k)) order.push(k);
  }
  return { items, logic, section, order };
}

/** The rows of a repeat from the field map, live ones in order. */
function tree(c, fields) {
  const top = {};
  const repeats = new Set(c.items.filter((i) => i.kind === 'repeat').map((i) => i.key));
  const rows = new Map();
  for (const [path, v] of Object.entries(fields)) {
    if (!path.startsWith(ANSWERS) || v === null || v === undefined) continue;
    const rest = path.slice(ANSWERS.length);
    const dot = rest.indexOf('.');
    if (dot < 0) { top[rest] = v; continue; }
    const key = rest.slice(0, dot);
    const tail = rest.slice(dot + 1);
    const dot2 = tail.indexOf('.');
    if (!repeats.has(key) || dot2 < 0) continue;
    const row = tail.slice(0, dot2);
    if (!rows.has(key)) rows.set(key, new Map());
    const byRow = rows.get(key);
    if (!byRow.has(row)) byRow.set(row, {});
    byRow.get(row)[tail.slice(dot2 + 1)] = v;
  }
  const live = new Map();
  for (const [key, byRow] of rows) {
    const list = [...byRow.entries()].filter(([, r]) => r._deleted !== true);
    const seq = (r) => (typeof r._seq === 'number' ? r._seq : 0);
    // Row ids compare by code point, as the server's.
    list.sort((a, b) => seq(a[1]) - seq(b[1]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    top[key] = list.map(([, r]) => ({ ...r }));
    live.set(key, list);
  }
  return { top, rows: live };
}

function hide(c, keys, map, top) {
  const hidden = new Set();
  const taken = new Set();
  for (const key of c.order) {
    if (!keys.has(key)) continue;
    const sec = c.section.get(key);
    const rel = c.logic.get(key)?.relevant;
    const shown = !(sec && hidden.has(sec))
      && (!rel || holds(rel, top ? { top, row: map } : { top: map }));
    if (!shown) {
      hidden.add(key);
      if (Object.hasOwn(map, key)) { taken.add(key); delete map[key]; }
    }
  }
  return { hidden, taken };
}

/**
 * The checks of one record: { missing_required, failed, score: {got, max},
 * irrelevant, hidden: Set of hidden paths (items, sections and repeats,
 * answered or not) }. `photoPaths`: the answer paths the record's live
 * photos name.
 */
export function checks(c, fields, photoPaths = new Set()) {
  const { top, rows } = tree(c, fields);
  const topKeys = new Set(c.items.map((i) => i.key));
  const { hidden, taken } = hide(c, topKeys, top, null);
  const out = { missing_required: [], failed: [], score: { got: 0, max: 0 }, irrelevant: [], hidden: new Set() };
  const judge = (item, path, answers) => {
    const l = c.logic.get(item.key);
    const value = answers.current;
    const photo = photoPaths.has(path);
    let has = answered(value);
    if (item.kind === 'photo') has = has || photo;
    if ((item.required || holds(l.required_when, answers)) && !has) out.missing_required.push(path);
    if (holds(l.photo_required_when, answers) && !photo) out.missing_required.push(`${path}#photo`);
    if (holds(l.note_required_when, answers) && !answered(fields[`${NOTES}${path}`])) out.missing_required.push(`${path}#note`);
    const failed = has && holds(l.fail_when, answers);
    if (failed) out.failed.push(path);
    if (typeof item.score === 'number' && has) {
      out.score.max += item.score;
      if (!failed) out.score.got += item.score;
    }
  };
  for (const item of c.items) {
    if (hidden.has(item.key)) {
      out.hidden.add(item.key);
      if (item.kind === 'repeat') {
        for (const [row, r] of rows.get(item.key) ?? []) {
          for (const k of Object.keys(r).filter((k) => !k.startsWith('_')).sort()) out.irrelevant.push(`${item.key}.${row}.${k}`);
        }
      } else if (taken.has(item.key)) {
        out.irrelevant.push(item.key);
      }
      continue;
    }
    if (item.kind === 'section') continue;
    if (item.kind === 'repeat') {
      const live = rows.get(item.key) ?? [];
      const l = c.logic.get(item.key);
      if ((item.required || holds(l.required_when, { top })) && live.length === 0) out.missing_required.push(item.key);
      const keys = new Set(children(item).map((x) => x.key));
      for (const [row, stored] of live) {
        const r = { ...stored };
        const h = hide(c, keys, r, top);
        for (const child of children(item)) {
          const path = `${item.key}.${row}.${child.key}`;
          if (h.hidden.has(child.key)) {
            out.hidden.add(path);
            if (h.taken.has(child.key)) out.irrelevant.push(path);
            continue;
          }
          if (answerable(child)) judge(child, path, { top, row: r, current: r[child.key] });
        }
      }
      continue;
    }
    judge(item, item.key, { top, current: top[item.key] });
  }
  return out;
}
