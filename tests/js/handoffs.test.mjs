// Hand-offs on one phone and between people, through the reference client
// against the real server (tests/api/client_js.rs starts it): a phone
// shared by two members, data kept before users were kept apart, a record
// sent back by a coordinator, a checklist edited while the phone was
// offline, the devices list, and "no network" said at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FieldsyncClient, MemoryStore } from '../../src/webui/field/app/fieldsync-client.js';
import { exifTakenAt } from '../../src/webui/field/app/exif.js';

import { URL, SITE, TEMPLATE, ROUTE, STOP, PASSWORD, ADMIN_PASSWORD, FIXTURES, meta, token, api } from './env.mjs';

const noSleep = { sleep: async () => {} };

/** A fetch that is offline while `net.down` is true. */
function network() {
  const net = { down: false, calls: 0 };
  net.fetch = async (url, init) => {
    net.calls++;
    if (net.down) throw new TypeError('no network');
    return fetch(url, init);
  };
  return net;
}

function phone(store, net, opts = {}) {
  return new FieldsyncClient({ baseUrl: URL, store, fetch: net.fetch, maxRetries: 0, ...noSleep, ...opts });
}

test('a shared phone keeps each member\'s work apart and sends it only under its owner', async () => {
  const store = new MemoryStore();
  const net = network();
  // liming syncs once from this phone (its device id is now his), then
  // works offline and signs out with the work unsent.
  const a1 = phone(store, net);
  await a1.login('liming', PASSWORD);
  assert.equal(await a1.sync(), true, JSON.stringify(a1.lastError));
  await a1.edit(null, { title: '李明:1号排口', status: 'draft' }, meta);
  const mine = await a1.edit(null, { title: '李明:排口溢流', status: 'submitted' }, meta);
  net.down = true;
  const left = await a1.logout();
  assert.deepEqual(left, { records: 2, photos: 0 });

  // The app is opened again; wangfang signs in on the same phone.
  net.down = false;
  const a2 = phone(store, net);
  assert.equal(await a2.user(), null, 'nobody is signed in');
  await a2.login('wangfang', PASSWORD);
  assert.equal((await a2.status()).waiting, 0, 'liming\'s work is not hers to send');
  assert.equal((await a2.inspections()).length, 0, 'nor to see');
  const others = await a2.waitingOthers();
  assert.equal(others.length, 1);
  assert.equal(others[0].username, 'liming');
  assert.equal(others[0].records, 2);
  const hers = await a2.edit(null, { title: '王芳:2号排口', status: 'submitted' }, meta);
  assert.equal(await a2.sync(), true, `her sync is never blocked: ${JSON.stringify(a2.lastError)}`);
  const coord = await token('zhoumin');
  let r = await api('GET', `/api/v1/inspections/${mine}`, coord);
  assert.equal(r.status, 404, 'liming\'s record is not sent under her name');
  r = await api('GET', `/api/v1/inspections/${hers}`, coord);
  assert.equal(r.body.inspector_id, (await a2.user()).id);

  // liming signs in again: his work goes up, as his.
  await a2.logout();
  const a3 = phone(store, net);
  await a3.login('liming', PASSWORD);
  assert.equal((await a3.status()).waiting, 2);
  assert.equal(await a3.sync(), true, JSON.stringify(a3.lastError));
  r = await api('GET', `/api/v1/inspections/${mine}`, coord);
  assert.equal(r.status, 200);
  assert.equal(r.body.inspector_id, (await a3.user()).id);
  assert.equal((await a3.waitingOthers()).length, 0);
});

test('work kept before users were kept apart goes to its owner', async () => {
  // What a phone of the previous version holds: keys without a user.
  const store = new MemoryStore();
  const net = network();
  const old = phone(store, net);
  // Build the old layout by hand: a session and an unsent record.
  const login = await (await fetch(`${URL}/api/v1/auth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'liming', password: PASSWORD }),
  })).json();
  const id = globalThis.crypto.randomUUID();
  await store.put('meta', 'device_id', globalThis.crypto.randomUUID());
  await store.put('meta', 'session', { access_token: login.access_token, refresh_token: login.refresh_token, expires_at: Date.now() + 600_000, user: login.user });
  await store.put('pending', id, { id, base_version: 0, ...meta, fields: { title: '旧版本留下的记录', status: 'submitted' }, changed_at: { title: new Date().toISOString(), status: new Date().toISOString() } });
  assert.equal((await old.user()).username, 'liming');
  assert.equal((await old.status()).waiting, 1);
  assert.equal(await old.sync(), true, JSON.stringify(old.lastError));
  const r = await api('GET', `/api/v1/inspections/${id}`, await token('zhoumin'));
  assert.equal(r.body.inspector_id, login.user.id);
});

test('a returned record tells its inspector why, who and when, until submitted again', async () => {
  const net = network();
  const p = phone(new MemoryStore(), net);
  await p.login('liming', PASSWORD);
  const id = await p.edit(null, { title: '退回测试', status: 'submitted', 'answers.outfall_flowing': true }, meta);
  assert.equal(await p.sync(), true);
  const coord = await token('zhoumin');
  const rec = (await api('GET', `/api/v1/inspections/${id}`, coord)).body;
  const r = await api('POST', `/api/v1/inspections/${id}/reviews`, coord, { decision: 'return', comment: '请到现场补拍', version: rec.version });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(await p.sync(), true);
  const shown = await p.inspection(id);
  assert.equal(shown.review_status, 'returned');
  const back = await p.returned(shown);
  assert.equal(back.comment, '请到现场补拍');
  assert.ok(back.by && back.by !== '协调员', back.by);
  assert.ok(back.at);
  // Submitted again: no longer shown as returned, even before the server answers.
  await p.edit(id, { status: 'submitted' });
  assert.equal(await p.returned(await p.inspection(id)), null);
  assert.equal(await p.sync(), true);
  assert.equal((await api('GET', `/api/v1/inspections/${id}`, coord)).body.review_status, 'submitted');
});

test('answers made offline on a checklist\'s old version are accepted after the admin edits it', async () => {
  const admin = await token('admin', ADMIN_PASSWORD);
  const t = await api('POST', '/api/v1/templates', admin, { name: '临时检查表', group_id: null, items: [
    { key: 'smell', label: '是否有异味', kind: 'yes_no', required: true },
    { key: 'colour', label: '颜色', kind: 'text' },
  ] });
  assert.equal(t.status, 201, JSON.stringify(t.body));
  const net = network();
  const p = phone(new MemoryStore(), net);
  await p.login('liming', PASSWORD);
  assert.equal(await p.sync(), true);
  net.down = true;
  const id = await p.edit(null, { title: '旧版清单', status: 'submitted', 'answers.smell': true, 'answers.colour': '发黑' },
    { site_id: SITE, template_id: t.body.id });
  // Meanwhile the admin drops the "smell" question.
  const v2 = await api('PATCH', `/api/v1/templates/${t.body.id}`, admin, { items: [{ key: 'colour', label: '颜色', kind: 'text' }] });
  assert.equal(v2.status, 200);
  assert.equal(v2.body.version, 2);
  net.down = false;
  assert.equal(await p.sync(), true, JSON.stringify(p.lastError));
  assert.deepEqual(await p.notices(), [], 'nothing refused');
  const rec = (await api('GET', `/api/v1/inspections/${id}`, admin)).body;
  assert.equal(rec.template_version, 1);
  assert.equal(rec.fields['answers.smell'], true);
  assert.equal(rec.checks.template_outdated, true);
});

test('a phone that only pulls shows in the devices list', async () => {
  const net = network();
  const p = phone(new MemoryStore(), net);
  await p.login('chengang', PASSWORD);
  assert.equal(await p.sync(), true);
  const device = await p.deviceId();
  const list = await api('GET', '/api/v1/devices?limit=500', await token('admin', ADMIN_PASSWORD));
  const row = list.body.items.find((d) => d.id === device);
  assert.ok(row, JSON.stringify(list.body));
  assert.ok(row.last_pull_at, 'the pull was recorded');
  assert.equal(row.last_push_at, null);
});

test('sync with no network says so at once', async () => {
  const net = network();
  const p = phone(new MemoryStore(), net, { maxRetries: 4, sleep: () => new Promise((r) => setTimeout(r, 10_000)) });
  await p.login('chengang', PASSWORD);
  const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', { value: { onLine: false }, configurable: true, writable: true });
  try {
    const calls = net.calls;
    const started = Date.now();
    assert.equal(await p.sync(), false);
    assert.ok(Date.now() - started < 1000);
    assert.equal(p.lastError.code, 'offline');
    assert.match(p.lastError.message, /没有网络/);
    assert.equal(net.calls, calls, 'no request tried');
  } finally {
    if (had) Object.defineProperty(globalThis, 'navigator', had);
    else delete globalThis.navigator;
  }
});

test('a photo\'s time is when the camera took it (EXIF), not the file\'s date', () => {
  const read = (f) => {
    const b = readFileSync(`${FIXTURES}/${f}`);
    return new Uint8Array(b.buffer, b.byteOffset, Math.min(b.length, 256 * 1024));
  };
  // The Xiaomi wrote 2019:12:24 23:48:46 with no offset: district time.
  assert.equal(exifTakenAt(read('xiaomi_IMG_20191224_234846.jpg'), '+08:00'), '2019-12-24T15:48:46.000Z');
  assert.match(exifTakenAt(read('canon_sx530_IMG_1054.jpg')), /^2020-09-1\dT/);
  assert.equal(exifTakenAt(read('synthetic_orientation_3.jpg')), null, 'no EXIF time');
  assert.equal(exifTakenAt(read('d-debian.png')), null, 'not a JPEG');
  // Damaged files give null, never an exception.
  const x = read('xiaomi_IMG_20191224_234846.jpg');
  for (let cut = 0; cut < 4000; cut += 97) assert.doesNotThrow(() => exifTakenAt(x.subarray(0, cut)));
  const noisy = Uint8Array.from(x.subarray(0, 4096));
  for (let i = 20; i < noisy.length; i += 13) noisy[i] ^= 0x5a;
  assert.doesNotThrow(() => exifTakenAt(noisy));
});

test('unsent work is discarded only when asked, and only the signed-in user\'s', async () => {
  const store = new MemoryStore();
  const net = network();
  const a = phone(store, net);
  await a.login('liming', PASSWORD);
  net.down = true;
  await a.edit(null, { title: '李明:留着', status: 'draft' }, meta);
  await a.logout();
  net.down = false;
  const b = phone(store, net);
  await b.login('wangfang', PASSWORD);
  const gone = await b.edit(null, { title: '王芳:不要了', status: 'draft' }, meta);
  assert.equal((await b.status()).waiting, 1);
  await b.discardUnsent();
  assert.equal((await b.status()).waiting, 0);
  assert.equal(await b.sync(), true);
  const r = await api('GET', `/api/v1/inspections/${gone}`, await token('zhoumin'));
  assert.equal(r.status, 404, 'discarded, never sent');
  const others = await b.waitingOthers();
  assert.equal(others.length, 1, 'liming\'s work is untouched');
  assert.equal(others[0].records, 1);
});
