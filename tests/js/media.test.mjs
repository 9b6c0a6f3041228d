// Videos through the reference client and the field app's photo shrinking
// (src/webui/field/app/media.js), against the real server started by
// `cargo test` (tests/api/client_js.rs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FieldsyncClient, MemoryStore } from '../../src/webui/field/app/fieldsync-client.js';
import { exifTakenAt } from '../../src/webui/field/app/exif.js';
import { withExif } from '../../src/webui/field/app/media.js';
import { URL, PASSWORD, FIXTURES, meta, token, api } from './env.mjs';

const noSleep = { sleep: async () => {} };
const video = readFileSync(new globalThis.URL('../fixtures/video/h264_rot90_location.mp4', import.meta.url));

/** A JPEG's segments before its scan: [marker, start, end]. */
function segments(b) {
  const out = [];
  let at = 2;
  while (at + 4 <= b.length && b[at] === 0xff && b[at + 1] !== 0xda) {
    const len = (b[at + 2] << 8) | b[at + 3];
    out.push([b[at + 1], at, at + 2 + len]);
    at += 2 + len;
  }
  return out;
}

function withoutExif(b) {
  const app1 = segments(b).find(([m]) => m === 0xe1);
  return app1 ? Buffer.concat([b.subarray(0, app1[1]), b.subarray(app1[2])]) : b;
}

/** IFD0's orientation in a JPEG's EXIF. */
function orientation(b) {
  const [, s] = segments(b).find(([m]) => m === 0xe1);
  const t = s + 10;
  const le = b[t] === 0x49;
  const u16 = (o) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const ifd = t + u32(t + 4);
  for (let i = 0; i < u16(ifd); i++) {
    const e = ifd + 2 + i * 12;
    if (u16(e) === 0x0112) return u16(e + 8);
  }
  return null;
}

test('a shrunk photo keeps the EXIF time and position, turned upright', () => {
  const phone = readFileSync(`${FIXTURES}/xiaomi_IMG_20191224_234846.jpg`);
  const sideways = readFileSync(`${FIXTURES}/synthetic_orientation_6.jpg`);
  assert.equal(orientation(sideways), 6);
  // What a canvas gives: a JPEG without EXIF.
  const drawn = withoutExif(readFileSync(`${FIXTURES}/synthetic_orientation_3.jpg`));
  assert.equal(segments(drawn).some(([m]) => m === 0xe1), false);
  const out = Buffer.from(withExif(new Uint8Array(drawn), new Uint8Array(sideways.subarray(0, 65536))));
  assert.equal(orientation(out), 1, 'the pixels are upright now');
  const fromPhone = Buffer.from(withExif(new Uint8Array(drawn), new Uint8Array(phone.subarray(0, 262144))));
  assert.equal(exifTakenAt(fromPhone), exifTakenAt(phone));
  assert.ok(exifTakenAt(fromPhone));
  // The GPS directory travels with the segment (its tag 0x8825 in IFD0).
  const app1 = segments(fromPhone).find(([m]) => m === 0xe1);
  const orig = segments(phone).find(([m]) => m === 0xe1);
  assert.equal(app1[2] - app1[1], orig[2] - orig[1], 'the whole EXIF segment');
  // Bytes without EXIF, or not a JPEG, come back unchanged.
  assert.equal(withExif(new Uint8Array(drawn), new Uint8Array([1, 2, 3])).length, drawn.length);
});

test('a video goes up resumably as kind video, in at most 900 pieces', async () => {
  let patches = 0;
  const fetchCounting = async (url, init) => {
    if (init?.method === 'PATCH') patches++;
    return fetch(url, init);
  };
  const c = new FieldsyncClient({ baseUrl: URL, store: new MemoryStore(), fetch: fetchCounting, chunkSize: 16, ...noSleep });
  await c.login('liming', PASSWORD);
  const id = await c.edit(null, { title: '排口视频', status: 'submitted' }, meta);
  const vid = await c.addPhoto(id, new Blob([video], { type: 'video/mp4' }), { caption: '溢流' });
  assert.equal((await c.store.get('photos', vid)).kind, 'video');
  assert.ok(await c.sync(), JSON.stringify(c.lastError));
  assert.ok(patches > 1 && patches <= 900, `${patches} PATCHes`);
  const coord = await token('zhoumin');
  let p;
  for (let i = 0; i < 200; i++) {
    const d = await api('GET', `/api/v1/inspections/${id}`, coord);
    p = (d.body.inspection ?? d.body).photos.find((x) => x.id === vid);
    if (p.video) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(p.kind, 'video');
  assert.equal(p.content_type, 'video/mp4');
  assert.equal(p.video.rotation, 90);
  assert.ok(p.urls.original && p.urls.poster);
});
