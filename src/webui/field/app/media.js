// media.js: what the camera gives, made ready for the outbox. Videos go as
// recorded. Photos may be shrunk (the setting: original, or a long edge of
// 2560 or 1600; default 2560) to spare a weak link, keeping the original's
// EXIF (its time and position, which the server checks) with the
// orientation set to upright, since the pixels are drawn upright.

import { VIDEO_TYPES } from './fieldsync-client.js';
import { exifTakenAt } from './exif.js';

export const PHOTO_SIZES = [['2560', '2560 像素(推荐)'], ['1600', '1600 像素(省流量)'], ['original', '原图']];
const KEY = 'fieldsync.photo_size';

export function photoSize() {
  const v = globalThis.localStorage?.getItem(KEY);
  return PHOTO_SIZES.some(([k]) => k === v) ? v : '2560';
}

export function setPhotoSize(v) {
  if (PHOTO_SIZES.some(([k]) => k === v)) globalThis.localStorage?.setItem(KEY, v);
}

/**
 * What to put in the outbox for a file from the camera:
 * `{data, content_type, kind, taken_at}`.
 */
export async function prepare(file, offset = '+08:00') {
  const type = (file.type || '').toLowerCase();
  if (type.startsWith('video/')) {
    return {
      data: file,
      content_type: VIDEO_TYPES.includes(type) ? type : 'video/mp4',
      kind: 'video',
      // A video's own time is read by the server from its container.
      taken_at: new Date(file.lastModified || Date.now()).toISOString(),
    };
  }
  const head = new Uint8Array(await file.slice(0, 256 * 1024).arrayBuffer());
  const taken = exifTakenAt(head, offset) ?? new Date(file.lastModified || Date.now()).toISOString();
  const size = photoSize();
  let data = file;
  if (size !== 'original' && (type === 'image/jpeg' || type === '')) {
    data = (await shrink(file, Number(size), head)) ?? file;
  }
  return { data, content_type: type || 'image/jpeg', kind: 'photo', taken_at: taken };
}

/** The photo with its long edge at most `long`, or null to keep it as is. */
async function shrink(file, long, head) {
  if (typeof createImageBitmap !== 'function' || typeof document === 'undefined') return null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    return null;
  }
  const scale = long / Math.max(bitmap.width, bitmap.height);
  if (scale >= 1) {
    bitmap.close?.();
    return null;
  }
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close?.();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
  if (!blob) return null;
  const out = withExif(new Uint8Array(await blob.arrayBuffer()), head);
  return new Blob([out], { type: 'image/jpeg' });
}

/**
 * `jpeg` with the EXIF segment of `original` (its first bytes) put after
 * its start marker, the orientation in it set to 1 (upright). `jpeg` as
 * it is when the original has no EXIF or it cannot be read safely.
 */
export function withExif(jpeg, original) {
  const app1 = exifSegment(original);
  if (!app1 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return jpeg;
  const seg = app1.slice();
  uprightOrientation(seg);
  const out = new Uint8Array(jpeg.length + seg.length);
  out.set(jpeg.subarray(0, 2), 0);
  out.set(seg, 2);
  out.set(jpeg.subarray(2), 2 + seg.length);
  return out;
}

/** The APP1 "Exif" segment (marker included) of a JPEG's first bytes. */
function exifSegment(b) {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let at = 2;
  while (at + 4 <= b.length && b[at] === 0xff) {
    const marker = b[at + 1];
    if (marker === 0xda || marker === 0xd9) return null;
    const len = (b[at + 2] << 8) | b[at + 3];
    if (len < 2 || at + 2 + len > b.length) return null;
    if (marker === 0xe1 && b[at + 4] === 0x45 && b[at + 5] === 0x78 && b[at + 6] === 0x69 && b[at + 7] === 0x66) {
      return b.subarray(at, at + 2 + len);
    }
    at += 2 + len;
  }
  return null;
}

/** Sets IFD0's Orientation (0x0112) to 1 in an APP1 segment, in place. */
function uprightOrientation(seg) {
  const t = 10; // FF E1, length (2), "Exif\0\0"
  if (seg.length < t + 8) return;
  const le = seg[t] === 0x49;
  const u16 = (o) => (le ? seg[o] | (seg[o + 1] << 8) : (seg[o] << 8) | seg[o + 1]);
  const u32 = (o) => (le
    ? (seg[o] | (seg[o + 1] << 8) | (seg[o + 2] << 16) | (seg[o + 3] << 24)) >>> 0
    : ((seg[o] << 24) | (seg[o + 1] << 16) | (seg[o + 2] << 8) | seg[o + 3]) >>> 0);
  const ifd = t + u32(t + 4);
  if (ifd + 2 > seg.length) return;
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > seg.length) return;
    if (u16(e) === 0x0112) {
      // A SHORT held in the entry's value field.
      seg[e + 8] = le ? 1 : 0;
      seg[e + 9] = le ? 0 : 1;
      return;
    }
  }
}
