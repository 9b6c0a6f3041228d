// exif.js: when a JPEG says it was taken. A phone's file date is when the
// file was copied or saved, not when the photo was taken; the camera
// writes the moment into EXIF (DateTimeOriginal, with OffsetTimeOriginal
// on newer phones). Only that one fact is read, from the first bytes of
// the file, with every offset checked against the buffer: a damaged or
// hostile file gives null, never an exception or a long loop.

const DATE_TIME = 0x0132;
const EXIF_IFD = 0x8769;
const DATE_TIME_ORIGINAL = 0x9003;
const OFFSET_TIME_ORIGINAL = 0x9011;

/**
 * When the photo was taken, as an RFC 3339 UTC string, or null.
 * @param {Uint8Array} bytes the file's start (64 KiB holds the EXIF of every phone seen)
 * @param {string} defaultOffset the district's offset, for a camera that writes none
 */
export function exifTakenAt(bytes, defaultOffset = '+08:00') {
  try {
    const tiff = findTiff(bytes);
    if (!tiff) return null;
    const ifd0 = readIfd(tiff, tiff.u32(4));
    const exifAt = ifd0.get(EXIF_IFD);
    const exif = exifAt ? readIfd(tiff, exifAt.value) : new Map();
    const when = ascii(tiff, exif.get(DATE_TIME_ORIGINAL)) ?? ascii(tiff, ifd0.get(DATE_TIME));
    const offset = ascii(tiff, exif.get(OFFSET_TIME_ORIGINAL));
    return when ? toUtc(when, offset && /^[+-]\d\d:\d\d$/.test(offset) ? offset : defaultOffset) : null;
  } catch {
    return null;
  }
}

/** The TIFF structure inside a JPEG's APP1 "Exif" segment. */
function findTiff(b) {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let at = 2;
  for (let guard = 0; guard < 64 && at + 4 <= b.length; guard++) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1];
    if (marker === 0xda || marker === 0xd9) return null; // image data: no EXIF before it
    const len = (b[at + 2] << 8) | b[at + 3];
    if (len < 2) return null;
    const start = at + 4;
    if (marker === 0xe1 && start + 6 <= b.length
      && String.fromCharCode(...b.subarray(start, start + 4)) === 'Exif') {
      const t = start + 6;
      const end = Math.min(b.length, at + 2 + len);
      if (t + 8 > end) return null;
      const little = b[t] === 0x49 && b[t + 1] === 0x49;
      const view = new DataView(b.buffer, b.byteOffset + t, end - t);
      return {
        view,
        size: end - t,
        u16: (o) => view.getUint16(o, little),
        u32: (o) => view.getUint32(o, little),
      };
    }
    at = at + 2 + len;
  }
  return null;
}

/** An IFD's entries: tag -> {type, count, value (or offset)}. */
function readIfd(t, offset) {
  const out = new Map();
  if (offset + 2 > t.size) return out;
  const n = Math.min(t.u16(offset), 512);
  for (let i = 0; i < n; i++) {
    const e = offset + 2 + i * 12;
    if (e + 12 > t.size) break;
    out.set(t.u16(e), { type: t.u16(e + 2), count: t.u32(e + 4), value: t.u32(e + 8), at: e + 8 });
  }
  return out;
}

/** An ASCII entry's text (type 2), without its NUL. */
function ascii(t, entry) {
  if (!entry || entry.type !== 2 || entry.count < 2 || entry.count > 64) return null;
  const start = entry.count <= 4 ? entry.at : entry.value;
  if (start + entry.count > t.size) return null;
  let s = '';
  for (let i = 0; i < entry.count; i++) {
    const c = t.view.getUint8(start + i);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s.trim() || null;
}

/** `2019:12:24 23:48:46` at `+08:00` -> `2019-12-24T15:48:46.000Z`. */
function toUtc(text, offset) {
  const m = /^(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)/.exec(text);
  if (!m) return null;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${offset}`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
