// fieldsync-client.js: the reference client of the fieldsync sync protocol.
// One ES module, no dependencies, no build step: it runs in a browser (with
// IndexedDB) and under Node 20 (with the in-memory store), and it is what
// the field app at /app uses. docs/CLIENT.md explains it.
//
// What it keeps (in a Store: IndexedDB in the browser), apart for each
// user signed in on this phone (a liaison group often shares one): every
// key of a user's data starts with `<user id>/` (UserStore), and only
// `~current` (who is signed in) and `~users` (who has signed in here, with
// their device id) are the phone's own. A user's outbox is sent only while
// that user is signed in, under that user's device id.
//   meta        device id, session (tokens), pull cursor, last sync, the
//               batch in flight
//   pending     the outbox: per inspection, the fields edited here and not
//               yet acknowledged, each with its changed_at
//   inspections the server's copy of each inspection (version, fields)
//   photos      photos taken here (with their bytes until the server has
//               them) and photos pulled
//   notices     what the inspector must see: conflicts, rejected edits
//   routes, sites, templates, groups, followups, reviews, conflicts:
//               reference data as pulled
//
// Rules it follows (DESIGN.md, "Sync protocol"):
//   - A batch is written to the store, with its batch_id, before it is sent,
//     and sent again unchanged until an answer arrives: a lost answer is
//     never a lost or doubled edit (the server answers a replay from its
//     store).
//   - base_version is the version the first unsent edit of a record was made
//     against, kept until the server acknowledges the edit.
//   - Network errors, 429 and 5xx are retried with exponential backoff and
//     jitter, honouring Retry-After; 413 halves the batch.
//   - Photos go up with tus 1.0 in chunks, each with its sha256; the upload
//     URL and offset are stored after every chunk, so a drop or a closed app
//     resumes where it stopped.
//   - Pull runs until has_more is false; reset drops the pulled data (never
//     the outbox) and starts over.

import { WORDS } from './errors.js';

export const TABLES = [
  'meta', 'pending', 'inspections', 'photos', 'notices',
  'routes', 'sites', 'templates', 'groups', 'followups', 'reviews', 'conflicts',
];

/** The tables a pull's `reset` empties (the outbox and photos not yet sent stay). */
const PULLED = ['inspections', 'routes', 'sites', 'templates', 'groups', 'followups', 'reviews', 'conflicts'];

/** A store in memory (tests, Node). */
export class MemoryStore {
  constructor() { this.t = new Map(TABLES.map((n) => [n, new Map()])); }
  async get(table, key) { return structuredClone(this.t.get(table).get(key)); }
  async put(table, key, value) { this.t.get(table).set(key, structuredClone(value)); }
  async delete(table, key) { this.t.get(table).delete(key); }
  async all(table) { return [...this.t.get(table).values()].map((v) => structuredClone(v)); }
  async clear(table) { this.t.get(table).clear(); }
  async keys(table) { return [...this.t.get(table).keys()]; }
  async allPrefixed(table, prefix) {
    return [...this.t.get(table)].filter(([k]) => k.startsWith(prefix)).map(([, v]) => structuredClone(v));
  }
  async clearPrefixed(table, prefix) {
    for (const k of [...this.t.get(table).keys()]) if (k.startsWith(prefix)) this.t.get(table).delete(k);
  }
}

/** A store in IndexedDB: one object store per table, keyed by id. */
export class IdbStore {
  static open(name = 'fieldsync') {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => {
        for (const t of TABLES) if (!req.result.objectStoreNames.contains(t)) req.result.createObjectStore(t);
      };
      req.onsuccess = () => resolve(new IdbStore(req.result));
      req.onerror = () => reject(req.error);
    });
  }
  constructor(db) { this.db = db; }
  run(table, mode, f) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(table, mode);
      const r = f(tx.objectStore(table));
      tx.oncomplete = () => resolve(r && 'result' in r ? r.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }
  get(table, key) { return this.run(table, 'readonly', (s) => s.get(key)); }
  put(table, key, value) { return this.run(table, 'readwrite', (s) => s.put(value, key)); }
  delete(table, key) { return this.run(table, 'readwrite', (s) => s.delete(key)); }
  all(table) { return this.run(table, 'readonly', (s) => s.getAll()); }
  clear(table) { return this.run(table, 'readwrite', (s) => s.clear()); }
  keys(table) { return this.run(table, 'readonly', (s) => s.getAllKeys()); }
  allPrefixed(table, prefix) {
    return this.run(table, 'readonly', (s) => s.getAll(IDBKeyRange.bound(prefix, `${prefix}\uffff`)));
  }
  clearPrefixed(table, prefix) {
    return this.run(table, 'readwrite', (s) => s.delete(IDBKeyRange.bound(prefix, `${prefix}\uffff`)));
  }
}

/** One user's part of a store: the same tables, every key under `<user id>/`. */
export class UserStore {
  constructor(base, userId) { this.base = base; this.p = `${userId}/`; }
  get(table, key) { return this.base.get(table, this.p + key); }
  put(table, key, value) { return this.base.put(table, this.p + key, value); }
  delete(table, key) { return this.base.delete(table, this.p + key); }
  all(table) { return this.base.allPrefixed(table, this.p); }
  clear(table) { return this.base.clearPrefixed(table, this.p); }
}

/** Keys of the phone's own (not any user's). */
const CURRENT = '~current';
const USERS = '~users';

/** An answer the client gave up on for now (offline, server busy, signed out). */
export class SyncError extends Error {
  constructor(message, { status = 0, code = 'offline', retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

function uuid() {
  return globalThis.crypto.randomUUID();
}

function hex(buf) {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function b64(buf) {
  let s = '';
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s);
}

function utf8b64(text) {
  return b64(new TextEncoder().encode(text));
}

/** Bytes of a Blob, an ArrayBuffer or a typed array. */
/** The content types that make a photo item a video (DESIGN "Videos"). */
export const VIDEO_TYPES = ['video/mp4', 'video/quicktime', 'video/3gpp', 'video/webm'];

async function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(await data.arrayBuffer());
}

export async function sha256Hex(data) {
  return hex(await globalThis.crypto.subtle.digest('SHA-256', await bytesOf(data)));
}

/** Backoff before try `n` (from 0): 1 s, 2 s, 4 s ... at most 60 s, with jitter. */
/** Pushes shorter than this go as they are (gzip's header costs more than it saves). */
const GZIP_FROM = 1024;

/** The most bytes one PATCH carries, however fast the link. */
export const MAX_CHUNK = 8 * 1024 * 1024;

/**
 * The size of the next tus PATCH: what the link carries in `seconds` at the
 * measured `rate` (a cut connection loses at most that much), never less
 * than `least`, never more than MAX_CHUNK, and at least a 900th of the file
 * (the server takes an upload in at most 1000 parts).
 */
export function nextChunk({ rate, seconds, least, size }) {
  const fit = rate == null ? least : Math.round(rate * seconds);
  const clamped = Math.min(MAX_CHUNK, Math.max(least, fit));
  return Math.max(clamped, Math.ceil(size / 900));
}

/** gzip of a text, by the platform's CompressionStream. */
export async function gzipText(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function clockMs() {
  return globalThis.performance?.now?.() ?? Date.now();
}

export function backoff(n, retryAfter, random = Math.random) {
  if (retryAfter != null && Number.isFinite(retryAfter)) return Math.min(retryAfter, 300) * 1000;
  const base = Math.min(60_000, 1000 * 2 ** n);
  return base / 2 + random() * (base / 2);
}

/** What an error code means to the inspector. */
export function explain(code) {
  return Object.hasOwn(WORDS, code ?? '') ? WORDS[code] : '服务器拒绝了这项操作';
}

export class FieldsyncClient {
  /**
   * @param {object} o
   * @param {string} [o.baseUrl] the server ('' in the browser: same origin)
   * @param {object} o.store a MemoryStore or IdbStore
   * @param {Function} [o.fetch] fetch (tests wrap it to lose answers)
   * @param {Function} [o.now] the clock (a Date)
   * @param {Function} [o.sleep] waits ms
   * @param {number} [o.batchSize] inspections per push
   * @param {number} [o.chunkSize] bytes of the first tus PATCH, and the least
   *   (later ones are sized to the link measured: see nextChunk)
   * @param {number} [o.chunkSeconds] how long a PATCH should take on the link
   * @param {Function} [o.clock] a monotonic clock in ms (times PATCHes to measure the link)
   * @param {number} [o.maxRetries] tries of one request before giving up
   * @param {boolean} [o.compress] gzip pushes (CompressionStream), falling back
   *   to plain where a server refuses them
   */
  constructor({ baseUrl = '', store, fetch = globalThis.fetch.bind(globalThis), now = () => new Date(),
    sleep = (ms) => new Promise((r) => setTimeout(r, ms)), random = Math.random,
    batchSize = 100, chunkSize = 256 * 1024, chunkSeconds = 8, maxRetries = 4, compress = true, clock = clockMs } = {}) {
    Object.assign(this, { baseUrl, base: store, fetchFn: fetch, now, sleep, random, batchSize, chunkSize, chunkSeconds, maxRetries, clock });
    this.compress = compress && typeof CompressionStream !== 'undefined';
    /** The upload rate measured on the link (bytes a second), or null. */
    this.linkRate = null;
    /** The signed-in user's id (their part of the store), once read. */
    this.uid = null;
    this.opened = null;
    this.listeners = new Set();
    this.progress = { photos: 0, done: 0, total: 0 };
    this.syncing = null;
    this.lastError = null;
  }

  // ---- state for the screen ----

  onChange(f) { this.listeners.add(f); return () => this.listeners.delete(f); }

  async emit() {
    const s = await this.status();
    for (const f of this.listeners) f(s);
  }

  /** Items waiting, photos uploading (with bytes done of total), last sync, last error. */
  async status() {
    const store = await this.open();
    const { records, photos } = await this.unsent();
    return {
      waiting: records.length + photos.length,
      uploading: { ...this.progress },
      lastSync: await store.get('meta', 'last_sync') ?? null,
      error: this.lastError,
      signedIn: Boolean(await store.get('meta', 'session')),
      syncing: Boolean(this.syncing),
    };
  }

  /** What the signed-in user has not sent yet: records and photos, each with what a person needs to find it. */
  async unsent() {
    const store = await this.open();
    const records = await store.all('pending');
    const photos = (await store.all('photos')).filter((p) => p.local && (p.dirty || p.needs_upload));
    return { records, photos };
  }

  // ---- the phone's users ----

  /**
   * The signed-in user's part of the store. The first call reads who is
   * signed in, and moves data kept before users were kept apart into its
   * owner's part.
   */
  open() {
    if (!this.opened) {
      this.opened = (async () => {
        await this.adoptLegacy(null);
        this.uid = (await this.base.get('meta', CURRENT)) ?? null;
      })();
    }
    return this.opened.then(() => this.store);
  }

  /** The signed-in user's store; an empty part when nobody is. */
  get store() { return new UserStore(this.base, this.uid ?? '~nobody'); }

  /** Everybody who has signed in on this phone: `{id: {username, display_name, device_id}}`. */
  async users() { return (await this.base.get('meta', USERS)) ?? {}; }

  /**
   * Data kept before users were kept apart (keys without a `/`): it is
   * moved to its owner's part: the user of its session, else the owner of
   * its records, else (`signingIn`) the first user who signs in.
   */
  async adoptLegacy(signingIn) {
    const legacy = {};
    let any = false;
    for (const t of TABLES) {
      legacy[t] = (await this.base.keys(t)).filter((k) => typeof k === 'string' && !k.includes('/') && !k.startsWith('~'));
      any ||= legacy[t].length > 0;
    }
    if (!any) return;
    const session = await this.base.get('meta', 'session');
    let owner = session?.user?.id ?? null;
    if (!owner) {
      for (const k of legacy.inspections) {
        const i = await this.base.get('inspections', k);
        if (i?.inspector_id) { owner = i.inspector_id; break; }
      }
    }
    owner ??= signingIn;
    if (!owner || (signingIn && owner !== signingIn)) return;
    for (const t of TABLES) {
      for (const k of legacy[t]) {
        await this.base.put(t, `${owner}/${k}`, await this.base.get(t, k));
        await this.base.delete(t, k);
      }
    }
    const users = await this.users();
    const device = await this.base.get('meta', `${owner}/device_id`);
    users[owner] = { ...(users[owner] ?? {}), ...(session?.user ? { username: session.user.username, display_name: session.user.display_name } : {}), device_id: device };
    await this.base.put('meta', USERS, users);
    if (session) await this.base.put('meta', CURRENT, owner);
  }

  /** The other users of this phone with work waiting for them: [{display_name, username, waiting}]. */
  async waitingOthers() {
    await this.open();
    const out = [];
    for (const [id, u] of Object.entries(await this.users())) {
      if (id === this.uid) continue;
      const part = new UserStore(this.base, id);
      const records = (await part.all('pending')).length;
      const photos = (await part.all('photos')).filter((p) => p.local && (p.dirty || p.needs_upload)).length;
      if (records + photos > 0) out.push({ id, username: u.username, display_name: u.display_name ?? u.username, records, photos });
    }
    return out;
  }

  // ---- device and session ----

  /** The signed-in user's device id on this phone (a device id belongs to one user). */
  async deviceId() {
    const store = await this.open();
    let id = await store.get('meta', 'device_id');
    if (!id) {
      id = uuid();
      await store.put('meta', 'device_id', id);
    }
    return id;
  }

  async user() {
    return (await (await this.open()).get('meta', 'session'))?.user ?? null;
  }

  async login(username, password) {
    await this.open();
    // A sync under way finishes in its own user's part first.
    if (this.syncing) await this.syncing;
    const name = username.trim();
    const users = await this.users();
    // The device id this user had here, or a new one: never another user's.
    const known = Object.values(users).find((u) => u.username === name);
    const device = known?.device_id ?? uuid();
    const r = await this.request('/api/v1/auth/login', {
      method: 'POST', auth: false,
      json: { username: name, password, device_id: device },
    });
    if (r.status !== 200) {
      const code = r.body?.error?.code ?? 'login_failed';
      throw new SyncError(explain(code), { status: r.status, code });
    }
    const u = r.body.user;
    // Whoever was signed in is signed out (their work stays theirs).
    this.uid = u.id;
    await this.base.put('meta', CURRENT, u.id);
    await this.adoptLegacy(u.id);
    const store = this.store;
    if (!(await store.get('meta', 'device_id'))) await store.put('meta', 'device_id', device);
    users[u.id] = { username: u.username, display_name: u.display_name, device_id: await store.get('meta', 'device_id') };
    await this.base.put('meta', USERS, users);
    await this.saveSession(r.body);
    await this.emit();
    return u;
  }

  async saveSession(t) {
    await this.store.put('meta', 'session', {
      access_token: t.access_token,
      refresh_token: t.refresh_token,
      expires_at: this.now().getTime() + (t.expires_in - 30) * 1000,
      user: t.user,
    });
  }

  /**
   * Signs out: ends the refresh token. The user's unsent work stays in
   * their part of the phone, sent when they sign in again; answers what
   * waits (`{records, photos}`).
   */
  async logout() {
    await this.open();
    if (this.syncing) await this.syncing;
    const store = this.store;
    const s = await store.get('meta', 'session');
    const { records, photos } = await this.unsent();
    await store.delete('meta', 'session');
    await this.base.delete('meta', CURRENT);
    this.uid = null;
    if (s) {
      try {
        await this.request('/api/v1/auth/logout', { method: 'POST', auth: false, json: { refresh_token: s.refresh_token }, retries: 0 });
      } catch { /* offline: the token expires on its own */ }
    }
    await this.emit();
    return { records: records.length, photos: photos.length };
  }

  /** Discards the signed-in user's unsent records and photos: an explicit act, never a side effect. */
  async discardUnsent() {
    const store = await this.open();
    const { records, photos } = await this.unsent();
    for (const r of records) await store.delete('pending', r.id);
    for (const p of photos) await store.delete('photos', p.id);
    await store.delete('meta', 'batch');
    await this.emit();
  }

  /** Rotates the refresh token; the new pair is stored before it is used. */
  async refresh() {
    await this.open();
    const s = await this.store.get('meta', 'session');
    if (!s) throw new SyncError('请先登录', { status: 401, code: 'signed_out' });
    const r = await this.request('/api/v1/auth/refresh', { method: 'POST', auth: false, json: { refresh_token: s.refresh_token } });
    if (r.status === 200) {
      await this.saveSession(r.body);
      return;
    }
    if (r.status === 401) {
      await this.store.delete('meta', 'session');
      throw new SyncError('登录已失效,请重新登录', { status: 401, code: 'signed_out' });
    }
    throw new SyncError(`刷新登录失败:${explain(r.body?.error?.code)}`, { status: r.status, code: 'refresh_failed' });
  }

  async accessToken() {
    await this.open();
    const s = await this.store.get('meta', 'session');
    if (!s) throw new SyncError('请先登录', { status: 401, code: 'signed_out' });
    if (this.now().getTime() >= s.expires_at) {
      await this.refresh();
      return (await this.store.get('meta', 'session')).access_token;
    }
    return s.access_token;
  }

  // ---- HTTP ----

  /**
   * One request with retries: network errors, 408/429/5xx wait (Retry-After
   * or backoff) and try again, up to maxRetries; a 401 refreshes once.
   * Answers {status, headers, body}; throws SyncError when it gives up.
   */
  async request(path, { method = 'GET', json, body, headers = {}, auth = true, retries = this.maxRetries, gzip = false } = {}) {
    let refreshed = false;
    let sent = body;
    const extra = {};
    if (json !== undefined) {
      sent = JSON.stringify(json);
      extra['Content-Type'] = 'application/json';
      // Compressed once, sent as often as it takes; a small body goes as it is.
      if (gzip && sent.length >= GZIP_FROM) {
        sent = await gzipText(sent);
        extra['Content-Encoding'] = 'gzip';
      }
    }
    for (let attempt = 0; ; attempt++) {
      const h = { ...headers, ...extra };
      if (auth) h.Authorization = `Bearer ${await this.accessToken()}`;
      let res;
      try {
        res = await this.fetchFn(this.baseUrl + path, { method, headers: h, body: sent });
      } catch (e) {
        if (attempt >= retries) throw new SyncError('网络不可用,稍后自动重试', { code: 'offline' });
        await this.sleep(backoff(attempt, null, this.random));
        continue;
      }
      if (res.status === 401 && auth && !refreshed) {
        refreshed = true;
        await this.refresh();
        attempt--;
        continue;
      }
      if (RETRYABLE.has(res.status)) {
        const ra = Number(res.headers.get('Retry-After'));
        if (attempt >= retries) {
          throw new SyncError(`服务器忙(${res.status}),稍后自动重试`, { status: res.status, code: 'busy', retryAfter: Number.isFinite(ra) ? ra : null });
        }
        await this.sleep(backoff(attempt, res.headers.get('Retry-After') != null ? ra : null, this.random));
        continue;
      }
      const text = method === 'HEAD' ? '' : await res.text();
      let parsed = null;
      try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
      return { status: res.status, headers: res.headers, body: parsed };
    }
  }

  // ---- local edits ----

  /** The inspection as the phone shows it: the server's fields under the edits not yet sent. */
  async inspection(id) {
    await this.open();
    const server = await this.store.get('inspections', id);
    const p = await this.store.get('pending', id);
    if (!server && !p) return null;
    return {
      ...(server ?? {}),
      ...(p ? { site_id: p.site_id, route_id: p.route_id, stop_id: p.stop_id, template_id: p.template_id } : {}),
      kind: server?.kind ?? p?.kind ?? 'inspection',
      template_version: server?.template_version ?? p?.template_version ?? null,
      id,
      version: server?.version ?? 0,
      deleted: p?.deleted ?? server?.deleted ?? false,
      fields: { ...(server?.fields ?? {}), ...(p?.fields ?? {}) },
      unsent: p ? Object.keys(p.fields) : [],
    };
  }

  /** All inspections known here (pulled or made here), as shown. */
  async inspections() {
    await this.open();
    const ids = new Set([...(await this.store.all('inspections')).map((i) => i.id), ...(await this.store.all('pending')).map((p) => p.id)]);
    const out = [];
    for (const id of ids) {
      const i = await this.inspection(id);
      if (i && !i.deleted) out.push(i);
    }
    return out;
  }

  /**
   * Records edits of fields (`{"answers.ph": 7, "status": "submitted"}`),
   * each with the time it was made. `meta` gives a new record's kind,
   * site, route, stop and checklist. Returns the inspection id.
   */
  edit(id, fields, meta = {}) {
    return this.oneAtATime(() => this.editNow(id, fields, meta));
  }

  /**
   * Local writes one after another: an edit reads the record's pending
   * fields and writes them back, so two edits made in the same instant
   * (a tap on a category while a title is saved) would otherwise each write
   * what they read, and one of them would be lost.
   */
  oneAtATime(f) {
    const next = (this.writing ?? Promise.resolve()).then(f, f);
    this.writing = next.catch(() => {});
    return next;
  }

  async editNow(id, fields, meta) {
    await this.open();
    id = id ?? uuid();
    const at = this.now().toISOString();
    const server = await this.store.get('inspections', id);
    const templateId = meta.template_id ?? server?.template_id;
    const p = (await this.store.get('pending', id)) ?? {
      id,
      base_version: server?.version ?? 0,
      // `report` for a quick report (no site, route or checklist); sent
      // with every push of the record, as the server set it.
      kind: meta.kind ?? server?.kind,
      site_id: meta.site_id ?? server?.site_id,
      route_id: meta.route_id ?? server?.route_id ?? null,
      stop_id: meta.stop_id ?? server?.stop_id ?? null,
      template_id: templateId,
      // The checklist version the answers are made on: an admin's new
      // version while the phone is offline must not refuse them.
      template_version: meta.template_version ?? server?.template_version
        ?? (templateId ? (await this.store.get('templates', templateId))?.version : undefined) ?? null,
      fields: {},
      changed_at: {},
    };
    for (const [k, v] of Object.entries(fields)) {
      p.fields[k] = v;
      p.changed_at[k] = at;
    }
    await this.store.put('pending', id, p);
    await this.emit();
    return id;
  }

  remove(id) {
    return this.oneAtATime(() => this.removeNow(id));
  }

  async removeNow(id) {
    await this.open();
    const server = await this.store.get('inspections', id);
    const p = (await this.store.get('pending', id)) ?? { id, base_version: server?.version ?? 0, fields: {}, changed_at: {} };
    p.deleted = true;
    await this.store.put('pending', id, p);
    await this.emit();
  }

  /**
   * Adds a photo or a video (a Blob or bytes) to an inspection. Returns
   * its id. `item_key`: the answer path of the checklist item it proves;
   * `kind: 'signature'` for a signature drawn on the phone (a PNG); a
   * video type (`video/mp4`, `video/quicktime`, `video/3gpp`,
   * `video/webm`) makes it `kind: 'video'`. Videos go up as recorded,
   * resumably (tus), like photos.
   */
  addPhoto(inspectionId, data, options = {}) {
    return this.oneAtATime(() => this.addPhotoNow(inspectionId, data, options));
  }

  async addPhotoNow(inspectionId, data, { caption = '', taken_at = null, location = null, content_type, item_key = null, kind = 'photo' } = {}) {
    await this.open();
    const bytes = await bytesOf(data);
    const id = uuid();
    const at = this.now().toISOString();
    const type = (content_type ?? data.type ?? 'image/jpeg').toLowerCase();
    if (VIDEO_TYPES.includes(type)) kind = 'video';
    await this.store.put('photos', id, {
      id,
      inspection_id: inspectionId,
      sha256: await sha256Hex(bytes),
      bytes: bytes.byteLength,
      content_type: type,
      caption,
      taken_at: taken_at ?? at,
      location,
      item_key,
      kind,
      deleted: false,
      data: typeof Blob !== 'undefined' && data instanceof Blob ? data : bytes,
      local: true,
      dirty: true,
      changed_at: { caption: at, taken_at: at, location: at, deleted: at, item_key: at },
      needs_upload: true,
      upload: null,
    });
    await this.emit();
    return id;
  }

  editPhoto(id, changes) {
    return this.oneAtATime(() => this.editPhotoNow(id, changes));
  }

  async editPhotoNow(id, changes) {
    await this.open();
    const p = await this.store.get('photos', id);
    if (!p) return;
    const at = this.now().toISOString();
    for (const [k, v] of Object.entries(changes)) {
      p[k] = v;
      p.changed_at = { ...(p.changed_at ?? {}), [k]: at };
    }
    p.local = true;
    p.dirty = true;
    await this.store.put('photos', id, p);
    await this.emit();
  }

  async photos(inspectionId) {
    await this.open();
    return (await this.store.all('photos')).filter((p) => p.inspection_id === inspectionId && !p.deleted);
  }

  async notices() {
    await this.open();
    return (await this.store.all('notices')).sort((a, b) => (a.at < b.at ? 1 : -1));
  }

  async dismiss(id) {
    await this.open();
    await this.store.delete('notices', id);
    await this.emit();
  }

  // ---- sync ----

  /**
   * Push the outbox, upload the photos the server lacks, pull until up to
   * date. One at a time: a call while a sync runs waits for that one.
   */
  sync() {
    if (!this.syncing) {
      this.syncing = (async () => {
        try {
          await this.open();
          if (globalThis.navigator?.onLine === false) {
            // No network: said at once, not after a minute of retries.
            throw new SyncError('没有网络,恢复信号后会自动同步', { code: 'offline' });
          }
          if (!this.uid) throw new SyncError('请先登录', { status: 401, code: 'signed_out' });
          await this.emit();
          await this.pushAll();
          await this.uploadAll();
          await this.pullAll();
          await this.store.put('meta', 'last_sync', this.now().toISOString());
          this.lastError = null;
          return true;
        } catch (e) {
          // A person reads the message: an unexpected failure is said in Chinese
          // (its own text goes to the console for whoever debugs it).
          if (!(e instanceof SyncError)) console.error(e);
          this.lastError = e instanceof SyncError ? { code: e.code, message: e.message, status: e.status } : { code: 'error', message: '同步出错,稍后自动重试' };
          return false;
        } finally {
          this.syncing = null;
          this.progress = { photos: 0, done: 0, total: 0 };
          await this.emit();
        }
      })();
    }
    return this.syncing;
  }

  /** The batch to send: the one in flight (a retry) or a new one from the outbox. */
  async nextBatch() {
    const inflight = await this.store.get('meta', 'batch');
    if (inflight) return inflight;
    const pending = (await this.store.all('pending')).slice(0, this.batchSize);
    const inspections = pending.map((p) => {
      const item = { id: p.id, base_version: p.base_version, fields: p.fields, changed_at: p.changed_at };
      for (const k of ['kind', 'site_id', 'route_id', 'stop_id', 'template_id', 'template_version']) if (p[k]) item[k] = p[k];
      if (p.deleted) item.deleted = true;
      return item;
    });
    const photos = (await this.store.all('photos'))
      .filter((p) => p.local && p.dirty)
      .slice(0, this.batchSize)
      .map((p) => ({
        id: p.id, inspection_id: p.inspection_id, sha256: p.sha256, bytes: p.bytes, content_type: p.content_type,
        caption: p.caption, taken_at: p.taken_at, location: p.location, deleted: p.deleted, changed_at: p.changed_at,
        // Sent only when known: a photo the phone pulled before it knew of
        // items must not unlink one another phone linked.
        ...(p.item_key !== undefined ? { item_key: p.item_key } : {}),
        kind: p.kind ?? 'photo',
      }));
    if (!inspections.length && !photos.length) return null;
    const batch = { batch_id: uuid(), inspections, photos };
    // Stored before it is sent: after a lost answer the same batch goes again.
    await this.store.put('meta', 'batch', batch);
    return batch;
  }

  async pushAll() {
    for (let guard = 0; guard < 10_000; guard++) {
      const batch = await this.nextBatch();
      if (!batch) return;
      const r = await this.request('/api/v1/sync/push', {
        method: 'POST',
        json: { device_id: await this.deviceId(), ...batch },
        gzip: this.compress,
      });
      if (r.status === 415 && this.compress) {
        // A server that does not take compressed pushes: nothing was
        // applied; the same batch goes again as it is.
        this.compress = false;
        continue;
      }
      if (r.status === 413 && this.batchSize > 1) {
        // Nothing was applied: split it.
        await this.store.delete('meta', 'batch');
        this.batchSize = Math.max(1, Math.floor(this.batchSize / 2));
        continue;
      }
      if (r.status !== 200) {
        throw new SyncError(`上传失败:${explain(r.body?.error?.code)}`, { status: r.status, code: r.body?.error?.code ?? 'push_failed' });
      }
      await this.applyPush(batch, r.body);
      await this.store.delete('meta', 'batch');
      await this.emit();
    }
  }

  /** Applies a push's answer: versions and merged fields, conflicts and rejections as notices. */
  async applyPush(batch, answer) {
    const sent = new Map(batch.inspections.map((i) => [i.id, i]));
    for (const res of answer.results ?? []) {
      if (res.kind === 'photo') {
        if (res.status === 'rejected') await this.notice('rejected', res.id, null, { code: res.error?.code, message: explain(res.error?.code), server: res.error?.message, photo: true });
        continue;
      }
      const item = sent.get(res.id);
      if (!item) continue;
      if (res.status !== 'rejected') {
        const old = (await this.store.get('inspections', res.id)) ?? {};
        await this.store.put('inspections', res.id, {
          ...old,
          id: res.id,
          version: res.version,
          fields: res.fields ?? old.fields ?? {},
          deleted: res.deleted ?? false,
          site_id: item.site_id ?? old.site_id,
          route_id: item.route_id ?? old.route_id,
          stop_id: item.stop_id ?? old.stop_id,
          template_id: item.template_id ?? old.template_id,
        });
        for (const c of res.conflicts ?? []) {
          await this.notice('conflict', res.id, c.field, { kept: c.kept, discarded: c.discarded, conflict_id: c.conflict_id });
        }
      } else {
        await this.notice('rejected', res.id, res.error?.details?.field ?? null, {
          code: res.error?.code, message: explain(res.error?.code), server: res.error?.message, values: item.fields,
        });
      }
      // The fields sent leave the outbox unless edited again since.
      const p = await this.store.get('pending', res.id);
      if (p) {
        for (const [k, at] of Object.entries(item.changed_at ?? {})) {
          if (p.changed_at[k] === at) {
            delete p.fields[k];
            delete p.changed_at[k];
          }
        }
        if (item.deleted && p.deleted) delete p.deleted;
        if (Object.keys(p.fields).length || p.deleted) await this.store.put('pending', res.id, p);
        else await this.store.delete('pending', res.id);
      }
    }
    const missing = new Set(answer.photos_missing ?? []);
    for (const ph of batch.photos) {
      const p = await this.store.get('photos', ph.id);
      if (!p) continue;
      // Sent unless changed again meanwhile.
      if (JSON.stringify(p.changed_at) === JSON.stringify(ph.changed_at)) p.dirty = false;
      p.needs_upload = missing.has(ph.id) && p.data != null;
      await this.store.put('photos', ph.id, p);
    }
  }

  async notice(kind, inspectionId, field, extra) {
    const id = uuid();
    await this.store.put('notices', id, { id, kind, inspection_id: inspectionId, field, at: this.now().toISOString(), ...extra });
  }

  // ---- photos (tus) ----

  async uploadAll() {
    const todo = (await this.store.all('photos')).filter((p) => p.needs_upload && p.data != null && !p.dirty);
    this.progress = { photos: todo.length, done: 0, total: todo.reduce((n, p) => n + p.bytes, 0) };
    await this.emit();
    for (const p of todo) {
      await this.upload(p.id);
    }
  }

  /** Folds one PATCH's rate into the link's (a moving average: one fast or slow chunk does not swing it). */
  measure(bytes, ms) {
    if (ms <= 0 || bytes < 16 * 1024) return;
    const rate = (bytes * 1000) / ms;
    this.linkRate = this.linkRate == null ? rate : 0.6 * this.linkRate + 0.4 * rate;
  }

  async uploadHead(url) {
    const r = await this.request(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
    if (r.status === 200) return Number(r.headers.get('Upload-Offset'));
    return null;
  }

  /**
   * Uploads one photo's or video's bytes, resuming a stored upload. A
   * Blob is read a chunk at a time (a 300 MB video is never held whole);
   * chunks grow with the file so an upload stays within the server's
   * 1000 parts.
   */
  async upload(id) {
    let p = await this.store.get('photos', id);
    const blob = typeof Blob !== 'undefined' && p.data instanceof Blob;
    const whole = blob ? null : await bytesOf(p.data);
    const size = blob ? p.data.size : whole.byteLength;
    const piece = async (a, b) => (blob ? new Uint8Array(await p.data.slice(a, b).arrayBuffer()) : whole.slice(a, b));
    let offset = 0;
    if (p.upload?.url) {
      const at = await this.uploadHead(p.upload.url);
      if (at == null) p.upload = null; // expired or gone: start again
      else offset = at;
    }
    if (!p.upload?.url) {
      const r = await this.request('/api/v1/uploads', {
        method: 'POST',
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': String(size), 'Upload-Metadata': `photo_id ${utf8b64(id)}` },
      });
      if (r.status !== 201) throw new SyncError(`照片上传失败:${explain(r.body?.error?.code)}`, { status: r.status, code: r.body?.error?.code ?? 'upload_failed' });
      p.upload = { url: r.headers.get('Location'), offset: 0 };
      offset = 0;
      await this.store.put('photos', id, p);
    }
    const before = this.progress.done;
    while (offset < size) {
      const want = nextChunk({ rate: this.linkRate, seconds: this.chunkSeconds, least: this.chunkSize, size });
      const chunk = await piece(offset, Math.min(offset + want, size));
      const sum = b64(await globalThis.crypto.subtle.digest('SHA-256', chunk));
      const started = this.clock();
      const r = await this.request(p.upload.url, {
        method: 'PATCH',
        body: chunk,
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Upload-Checksum': `sha256 ${sum}` },
      });
      if (r.status === 204) {
        this.measure(chunk.byteLength, this.clock() - started);
        offset = Number(r.headers.get('Upload-Offset'));
      } else if (r.status === 409 || r.status === 460) {
        // Our offset was stale (a PATCH whose answer was lost) or the chunk
        // was damaged on the way: ask where the upload stands.
        const at = await this.uploadHead(p.upload.url);
        if (at == null) throw new SyncError('照片上传中断,稍后重试', { status: r.status, code: 'upload_lost' });
        offset = at;
      } else if (r.status === 404) {
        p.upload = null;
        await this.store.put('photos', id, p);
        throw new SyncError('照片上传已过期,将重新开始', { status: 404, code: 'upload_expired' });
      } else {
        throw new SyncError(`照片上传失败:${explain(r.body?.error?.code)}`, { status: r.status, code: r.body?.error?.code ?? 'upload_failed' });
      }
      p = await this.store.get('photos', id);
      p.upload = { ...p.upload, offset };
      await this.store.put('photos', id, p);
      this.progress.done = before + offset;
      await this.emit();
    }
    p.needs_upload = false;
    p.upload = null;
    await this.store.put('photos', id, p);
    this.progress.done = before + size;
  }

  // ---- pull ----

  async pullAll(limit = 200) {
    for (let guard = 0; guard < 100_000; guard++) {
      const cursor = await this.store.get('meta', 'cursor');
      // The device id tells the server this phone synced (its devices list).
      const q = `limit=${limit}&device_id=${await this.deviceId()}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const r = await this.request(`/api/v1/sync/pull?${q}`);
      if (r.status !== 200) throw new SyncError(`同步失败:${explain(r.body?.error?.code)}`, { status: r.status, code: r.body?.error?.code ?? 'pull_failed' });
      const page = r.body;
      if (page.reset) {
        for (const t of PULLED) await this.store.clear(t);
        for (const p of await this.store.all('photos')) if (!p.local) await this.store.delete('photos', p.id);
        await this.store.delete('meta', 'cursor');
        continue;
      }
      await this.applyPull(page);
      await this.store.put('meta', 'cursor', page.cursor);
      if (!page.has_more) return;
    }
  }

  async applyPull(page) {
    const c = page.changes ?? {};
    for (const t of ['groups', 'sites', 'templates', 'routes', 'followups', 'reviews', 'conflicts']) {
      for (const o of c[t] ?? []) await this.store.put(t, o.id, o);
    }
    for (const o of c.inspections ?? []) await this.store.put('inspections', o.id, o);
    for (const o of c.photos ?? []) {
      const mine = await this.store.get('photos', o.id);
      const merged = { ...(mine ?? {}), ...o, local: mine?.local ?? false };
      // The bytes are kept until the server holds them.
      if (mine?.data != null && !mine.needs_upload && o.status !== 'missing') delete merged.data;
      if (mine?.dirty) {
        // Edits not yet sent stay on top.
        for (const k of ['caption', 'taken_at', 'location', 'deleted', 'item_key']) if (k in mine) merged[k] = mine[k];
      }
      await this.store.put('photos', o.id, merged);
    }
    const d = page.deleted ?? {};
    // A record deleted on the server leaves this phone; edits of it not yet
    // sent stay in the outbox and go up (the server keeps them in its
    // conflict log: nothing typed here is lost).
    for (const id of d.inspections ?? []) await this.store.delete('inspections', id);
    for (const id of d.routes ?? []) await this.store.delete('routes', id);
    for (const id of d.photos ?? []) {
      // Bytes still to go up stay until they are sent: nothing taken on
      // this phone is dropped unsent.
      const mine = await this.store.get('photos', id);
      if (mine?.needs_upload && mine.data != null) continue;
      await this.store.delete('photos', id);
    }
    if ((d.inspections ?? []).length) {
      // A record that left the phone (deleted, or past the district's
      // history window) takes its reviews and conflicts along.
      const gone = new Set(d.inspections);
      for (const t of ['reviews', 'conflicts']) {
        for (const o of await this.store.all(t)) if (gone.has(o.inspection_id)) await this.store.delete(t, o.id);
      }
    }
    for (const t of ['sites', 'templates', 'groups', 'followups', 'reviews', 'conflicts']) {
      for (const id of d[t] ?? []) await this.store.delete(t, id);
    }
  }

  // ---- reading reference data ----

  async all(table) { return (await this.open()).all(table); }
  async get(table, id) { return (await this.open()).get(table, id); }

  /**
   * The coordinator's last word on a record, when it sent the record back
   * and the inspector has not submitted it again: `{comment, by, at}`.
   * `allReviews`: the pulled reviews, when the caller already read them.
   */
  async returned(record, allReviews = null) {
    if (!record || record.review_status !== 'returned' || record.fields?.status === 'submitted') return null;
    // A screen that asks for many records passes the reviews it read once.
    const reviews = (allReviews ?? await this.all('reviews'))
      .filter((r) => r.inspection_id === record.id && r.decision === 'return')
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    const r = reviews[0];
    return { comment: r?.comment ?? '', by: r?.reviewer_name ?? '协调员', at: r?.created_at ?? null };
  }
}
