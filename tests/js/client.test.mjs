// The reference client (src/webui/field/app/fieldsync-client.js) against the
// real server: `cargo test` starts one and runs `node --test` on this file
// with FIELDSYNC_URL and the ids of a small district (tests/api/client_js.rs).
// Faults (a lost answer, a 503, a cut upload) are made by wrapping fetch;
// the server, its database and the bytes are real.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FieldsyncClient, MemoryStore, backoff, explain, sha256Hex, nextChunk, gzipText, MAX_CHUNK } from '../../src/webui/field/app/fieldsync-client.js';

import { URL, SITE, TEMPLATE, ROUTE, STOP, PASSWORD, ADMIN_PASSWORD, FIXTURES, meta, token, api } from './env.mjs';

const noSleep = { sleep: async () => {} };

function client(opts = {}) {
  return new FieldsyncClient({ baseUrl: URL, store: new MemoryStore(), ...noSleep, ...opts });
}

test('backoff grows, has jitter, and Retry-After wins', () => {
  assert.equal(backoff(0, 7), 7000);
  for (let n = 0; n < 12; n++) {
    const lo = backoff(n, null, () => 0);
    const hi = backoff(n, null, () => 0.999);
    assert.ok(lo >= 500 && hi <= 60_000 && hi > lo, `${n}: ${lo} ${hi}`);
  }
  assert.match(explain('locked'), /审核/);
  // A code the phone does not know is still said in Chinese, never as the code.
  assert.doesNotMatch(explain('something_new'), /[A-Za-z]/);
  assert.doesNotMatch(explain(undefined), /[A-Za-z]/);
});

test('an edit reaches the server once even when the answer is lost', async () => {
  let lost = 0;
  const c = client({
    fetch: async (url, init) => {
      const res = await fetch(url, init);
      if (url.endsWith('/sync/push') && lost === 0) {
        lost++;
        throw new TypeError('the answer was lost on the way');
      }
      return res;
    },
  });
  await c.login('liming', PASSWORD);
  const id = await c.edit(null, { title: '桃花河1号排口 污水溢流', status: 'draft', 'answers.outfall_flowing': true }, meta);
  assert.equal((await c.status()).waiting, 1);
  assert.equal(await c.sync(), true, JSON.stringify(c.lastError));
  assert.equal(lost, 1);
  assert.equal((await c.status()).waiting, 0);
  const coord = await token('zhoumin');
  const server = await api('GET', `/api/v1/inspections/${id}`, coord);
  assert.equal(server.status, 200);
  const record = server.body.inspection ?? server.body;
  assert.equal(record.version, 1, 'applied once, not twice');
  assert.equal(record.fields.title, '桃花河1号排口 污水溢流');
  // The phone holds what the server holds.
  assert.equal((await c.inspection(id)).version, 1);
  assert.deepEqual((await c.inspection(id)).unsent, []);
});

test('a second device edits the same field: the phone shows the conflict, nothing is lost', async () => {
  const a = client();
  const b = client();
  await a.login('liming', PASSWORD);
  await b.login('liming', PASSWORD);
  const id = await a.edit(null, { title: '云台山排口', notes: '初看' }, meta);
  assert.ok(await a.sync());
  assert.ok(await b.sync());
  assert.equal((await b.inspection(id)).fields.notes, '初看');
  // Both edit notes; a's is later, so a's wins wherever it arrives.
  let t = Date.parse('2026-11-20T03:00:00Z');
  b.now = () => new Date(t);
  await b.edit(id, { notes: '平板上的记录' });
  t += 60_000;
  a.now = () => new Date(t);
  await a.edit(id, { notes: '手机上的记录(较新)' });
  assert.ok(await a.sync());
  assert.ok(await b.sync());
  const notices = await b.notices();
  assert.equal(notices.length, 1, JSON.stringify(notices));
  assert.equal(notices[0].kind, 'conflict');
  assert.equal(notices[0].field, 'notes');
  assert.equal(notices[0].kept, '手机上的记录(较新)');
  assert.equal(notices[0].discarded, '平板上的记录');
  assert.equal((await b.inspection(id)).fields.notes, '手机上的记录(较新)');
  // The coordinator sees the loser in the conflict log.
  const coord = await token('zhoumin');
  const open = await api('GET', '/api/v1/conflicts?status=open&limit=500', coord);
  assert.ok(open.body.items.some((x) => x.inspection_id === id && x.discarded === '平板上的记录'));
});

test('a busy server is retried after its Retry-After, a 413 splits the batch', async () => {
  const waits = [];
  let calls = 0;
  const c = client({
    batchSize: 4,
    sleep: async (ms) => { waits.push(ms); },
    fetch: async (url, init) => {
      if (url.endsWith('/sync/push')) {
        calls++;
        if (calls === 1) return new Response('{"error":{"code":"busy","message":"busy","details":{}}}', { status: 503, headers: { 'Retry-After': '3' } });
        if (calls === 2) return new Response('{"error":{"code":"payload_too_large","message":"too large","details":{}}}', { status: 413 });
      }
      return fetch(url, init);
    },
  });
  await c.login('liming', PASSWORD);
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(await c.edit(null, { title: `批量${i}` }, meta));
  assert.ok(await c.sync(), JSON.stringify(c.lastError));
  assert.equal(waits[0], 3000, 'waited as Retry-After said');
  assert.equal(c.batchSize, 2, 'halved after 413');
  const coord = await token('zhoumin');
  for (const id of ids) assert.equal((await api('GET', `/api/v1/inspections/${id}`, coord)).status, 200);
});

test('photos go up in chunks and a cut upload resumes where it stopped', async () => {
  const bytes = readFileSync(`${FIXTURES}/canon_sx530_IMG_1054.jpg`);
  let patches = 0;
  let sentBytes = 0;
  let cut = true;
  const store = new MemoryStore();
  const faulty = async (url, init) => {
    if (init?.method === 'PATCH') {
      patches++;
      if (cut && patches === 3) throw new TypeError('the network dropped');
      sentBytes += init.body.byteLength;
    }
    return fetch(url, init);
  };
  // chunkSeconds 0: every chunk the least, whatever the link (here fast).
  const c = new FieldsyncClient({ baseUrl: URL, store, fetch: faulty, chunkSize: 64 * 1024, chunkSeconds: 0, maxRetries: 0, ...noSleep });
  await c.login('liming', PASSWORD);
  const id = await c.edit(null, { title: '带照片的记录', status: 'submitted' }, meta);
  const photo = await c.addPhoto(id, new Blob([bytes], { type: 'image/jpeg' }), { caption: '排口近景' });
  assert.equal(await c.sync(), false, 'the upload was cut');
  const half = await c.store.get('photos', photo);
  assert.ok(half.needs_upload && half.upload.offset === 2 * 64 * 1024, JSON.stringify(half.upload));
  // The app is closed and opened again: a new client on the same store.
  cut = false;
  const again = new FieldsyncClient({ baseUrl: URL, store, fetch: faulty, chunkSize: 64 * 1024, chunkSeconds: 0, ...noSleep });
  assert.ok(await again.sync(), JSON.stringify(again.lastError));
  assert.equal(sentBytes, bytes.length, 'every byte sent once: resumed, not restarted');
  const done = await again.store.get('photos', photo);
  assert.equal(done.needs_upload, false);
  assert.equal(done.sha256, await sha256Hex(bytes));
  // The server has the bytes (and makes the variants).
  const coord = await token('zhoumin');
  let status;
  for (let i = 0; i < 100; i++) {
    const d = await api('GET', `/api/v1/inspections/${id}`, coord);
    const p = (d.body.inspection ?? d.body).photos.find((x) => x.id === photo);
    status = p.status;
    if (status === 'ready') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 'ready');
  // After the pull, the phone no longer needs its copy of the bytes.
  assert.ok(await again.sync());
  assert.equal((await again.store.get('photos', photo)).data, undefined);
});

test('an expired access token is refreshed and the refresh token rotated', async () => {
  const c = client();
  await c.login('liming', PASSWORD);
  const before = await c.store.get('meta', 'session');
  await c.store.put('meta', 'session', { ...before, expires_at: 0 });
  assert.ok(await c.sync());
  const after = await c.store.get('meta', 'session');
  assert.notEqual(after.refresh_token, before.refresh_token);
  assert.notEqual(after.access_token, before.access_token);
  // A revoked session asks for a new login and keeps the outbox.
  await c.store.put('meta', 'session', { ...after, access_token: 'x', refresh_token: 'revoked', expires_at: Date.now() + 60_000 });
  await c.edit(null, { title: '离线时写的' }, meta);
  assert.equal(await c.sync(), false);
  assert.equal(c.lastError.code, 'signed_out');
  assert.equal((await c.status()).waiting, 1);
  await c.login('liming', PASSWORD);
  assert.ok(await c.sync());
  assert.equal((await c.status()).waiting, 0);
});

test('an edit the server refuses is explained and kept, not retried forever', async () => {
  const c = client();
  await c.login('liming', PASSWORD);
  const id = await c.edit(null, { title: '待审核', status: 'submitted' }, meta);
  assert.ok(await c.sync());
  const coord = await token('zhoumin');
  const r = await api('POST', `/api/v1/inspections/${id}/reviews`, coord, { decision: 'approve', comment: '好' });
  assert.equal(r.status, 201);
  await c.edit(id, { notes: '通过后又改' });
  assert.ok(await c.sync());
  const [n] = await c.notices();
  assert.equal(n.kind, 'rejected');
  assert.equal(n.code, 'locked');
  assert.match(n.message, /审核/);
  assert.deepEqual(n.values, { notes: '通过后又改' });
  assert.equal((await c.status()).waiting, 0);
});

test('pull pages until has_more is false; a reset drops pulled data but not the outbox', async () => {
  const c = client();
  await c.login('wangfang', PASSWORD);
  await c.pullAll(2);
  const routes = await c.all('routes');
  assert.ok(routes.some((r) => r.id === ROUTE), 'the group route');
  assert.ok((await c.all('sites')).some((s) => s.id === SITE));
  assert.ok((await c.all('templates')).some((t) => t.id === TEMPLATE));
  // The admin moves wangfang to the other group: her cursor no longer holds.
  const admin = await token('admin', process.env.FIELDSYNC_ADMIN_PASSWORD);
  await c.edit(null, { title: '搬家前写的' }, meta);
  const u = await api('GET', '/api/v1/users?limit=500', admin);
  const me = u.body.items.find((x) => x.username === 'wangfang');
  const r = await api('PATCH', `/api/v1/users/${me.id}`, admin, { group_id: process.env.FIELDSYNC_GROUP_B });
  assert.equal(r.status, 200);
  await c.login('wangfang', PASSWORD);
  await c.pullAll(2);
  assert.ok(!(await c.all('sites')).some((s) => s.id === SITE), 'group A sites are gone');
  assert.equal((await c.status()).waiting, 1, 'the outbox stays');
});

test('a day of 10 stops with 5 photos each syncs in one go', async () => {
  const bytes = readFileSync(`${FIXTURES}/canon_sx530_IMG_1054.jpg`);
  const c = client();
  await c.login('liming', PASSWORD);
  const ids = [];
  for (let s = 0; s < 10; s++) {
    const id = await c.edit(null, { title: `第${s + 1}站`, status: 'submitted', 'answers.outfall_flowing': s % 2 === 0 }, meta);
    ids.push(id);
    for (let p = 0; p < 5; p++) {
      // Each photo its own bytes, as a camera makes them.
      const own = new Uint8Array(bytes);
      own[own.length - 3] = s;
      own[own.length - 4] = p;
      await c.addPhoto(id, new Blob([own], { type: 'image/jpeg' }), { caption: `第${s + 1}站 照片${p + 1}` });
    }
  }
  assert.equal((await c.status()).waiting, 60);
  const started = Date.now();
  assert.ok(await c.sync(), JSON.stringify(c.lastError));
  console.log(`a day (10 inspections, 50 photos of ${bytes.length} bytes) synced in ${Date.now() - started} ms`);
  assert.equal((await c.status()).waiting, 0);
  const coord = await token('zhoumin');
  for (const id of ids) {
    const d = await api('GET', `/api/v1/inspections/${id}`, coord);
    const rec = d.body.inspection ?? d.body;
    assert.equal(rec.photos.length, 5);
    assert.ok(rec.photos.every((p) => p.status !== 'missing'), JSON.stringify(rec.photos.map((p) => p.status)));
  }
});

test('a quick report made offline keeps its kind through the outbox, and a draft may wait for its position', async () => {
  const c = client();
  await c.login('liming', PASSWORD);
  const at = new Date().toISOString();
  const id = await c.edit(null, { title: '随手拍 河道黑水', category: 'water', urgency: 'urgent', status: 'draft', started_at: at }, { kind: 'report' });
  assert.equal((await c.inspection(id)).kind, 'report');
  // Synced before the first GPS fix: kept as a draft, not refused.
  assert.equal(await c.sync(), true, JSON.stringify(c.lastError));
  await c.edit(id, { location: { lat: 29.8575, lon: 107.0815, accuracy_m: 8, captured_at: at }, status: 'submitted' });
  assert.equal(await c.sync(), true, JSON.stringify(c.lastError));
  const coord = await token('zhoumin');
  const server = await api('GET', `/api/v1/inspections/${id}`, coord);
  assert.equal(server.status, 200);
  const record = server.body.inspection ?? server.body;
  assert.equal(record.kind, 'report');
  assert.equal(record.site_id, null);
  assert.equal(record.review_status, 'submitted');
  assert.equal((await c.inspection(id)).kind, 'report', 'the pulled record keeps its kind');
});

test('edits made in the same instant are all kept (a tap while a title is saved)', async () => {
  const c = client();
  await c.login('liming', PASSWORD);
  const id = await c.edit(null, { title: '随手拍', status: 'draft' }, { kind: 'report' });
  await Promise.all([
    c.edit(id, { title: '桃花河排口黑水直排' }),
    c.edit(id, { category: 'water' }),
    c.edit(id, { urgency: 'urgent' }),
    c.edit(id, { notes: '下水道破损' }),
  ]);
  const f = (await c.inspection(id)).fields;
  assert.deepEqual([f.title, f.category, f.urgency, f.notes], ['桃花河排口黑水直排', 'water', 'urgent', '下水道破损']);
});

test('pushes go gzip-compressed and pulls come compressed; a server refusing gzip gets the batch plain', async () => {
  const seen = [];
  const watching = async (url, init) => {
    const res = await fetch(url, init);
    seen.push({ url, sent: init?.headers?.['Content-Encoding'] ?? null, got: res.headers.get('content-encoding'), bytes: init?.body?.byteLength ?? init?.body?.length ?? 0 });
    return res;
  };
  const c = client({ fetch: watching });
  await c.login('liming', PASSWORD);
  const ids = [];
  for (let i = 0; i < 20; i++) {
    ids.push(await c.edit(null, { title: `压缩上传${i} 桃花河排口`, notes: '排口下游约五十米处有白色泡沫,气味明显。'.repeat(4) }, meta));
  }
  assert.ok(await c.sync(), JSON.stringify(c.lastError));
  const push = seen.find((s) => s.url.endsWith('/sync/push'));
  assert.equal(push.sent, 'gzip');
  const plain = JSON.stringify({ device_id: 'x', inspections: ids.map(() => ({})) }).length;
  assert.ok(push.bytes > 0 && push.bytes < 4000, `${push.bytes} bytes for 20 records`);
  const pull = seen.find((s) => s.url.includes('/sync/pull'));
  assert.ok(['gzip', 'br'].includes(pull.got), `pull came ${pull.got}`);
  assert.ok(plain > 0);
  // What the server holds is what was typed.
  const coord = await token('zhoumin');
  const one = await api('GET', `/api/v1/inspections/${ids[7]}`, coord);
  assert.equal((one.body.inspection ?? one.body).fields.title, '压缩上传7 桃花河排口');

  // An older server answers a compressed push with 415: the same batch
  // goes again as it is, once, and later pushes stay plain.
  let refused = 0;
  const old = client({
    fetch: async (url, init) => {
      if (url.endsWith('/sync/push') && init.headers['Content-Encoding']) {
        refused++;
        return new Response(JSON.stringify({ error: { code: 'unsupported_media_type', message: 'no', details: {} } }), { status: 415 });
      }
      return fetch(url, init);
    },
  });
  await old.login('liming', PASSWORD);
  const id = await old.edit(null, { title: '旧服务器', notes: '旧服务器不认压缩的上传。'.repeat(100) }, meta);
  assert.ok(await old.sync(), JSON.stringify(old.lastError));
  assert.equal(refused, 1);
  assert.equal(old.compress, false);
  const there = await api('GET', `/api/v1/inspections/${id}`, coord);
  assert.equal(there.status, 200);
  assert.equal((await old.status()).waiting, 0);
  assert.equal(new TextDecoder().decode(await new Response(new Blob([await gzipText('对')]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer()), '对');
});

test('tus chunks are sized to the link measured', async () => {
  // The sizing rule.
  assert.equal(nextChunk({ rate: null, seconds: 8, least: 256 * 1024, size: 1e6 }), 256 * 1024);
  assert.equal(nextChunk({ rate: 125_000, seconds: 8, least: 256 * 1024, size: 1e6 }), 1_000_000);
  assert.equal(nextChunk({ rate: 10_000, seconds: 8, least: 256 * 1024, size: 1e6 }), 256 * 1024);
  assert.equal(nextChunk({ rate: 1e9, seconds: 8, least: 256 * 1024, size: 1e6 }), MAX_CHUNK);
  assert.equal(nextChunk({ rate: 10_000, seconds: 8, least: 1024, size: 900e6 }), 1e6, 'within 1000 parts');
  // A link of 1 MB/s: the client's clock advances by each PATCH's size (a
  // real timer would also count the server's own time, which on a loaded CI
  // machine swamps a simulated link). After the first chunk the next ones
  // carry 0.2 s worth: 200,000 bytes, the last one what is left.
  const bytes = readFileSync(`${FIXTURES}/canon_sx530_IMG_1054.jpg`);
  const sizes = [];
  let ms = 0;
  const slow = async (url, init) => {
    if (init?.method === 'PATCH') {
      sizes.push(init.body.byteLength);
      ms += init.body.byteLength / 1000;
    }
    return fetch(url, init);
  };
  const c = client({ fetch: slow, chunkSize: 64 * 1024, chunkSeconds: 0.2, clock: () => ms });
  await c.login('liming', PASSWORD);
  const id = await c.edit(null, { title: '测速上传' }, meta);
  await c.addPhoto(id, new Blob([bytes], { type: 'image/jpeg' }), {});
  assert.ok(await c.sync(), JSON.stringify(c.lastError));
  assert.equal(sizes[0], 64 * 1024);
  assert.ok(sizes.length > 3, `${sizes}`);
  for (const s of sizes.slice(1, -1)) assert.equal(s, 200_000, `${sizes}`);
  assert.ok(sizes.at(-1) <= 200_000, `${sizes}`);
  assert.equal(sizes.reduce((a, b) => a + b, 0), bytes.length);
});
