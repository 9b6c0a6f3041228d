//! What a video is, read in process from its container and never decoded:
//! the container by its first bytes (an ISO BMFF `ftyp` brand for MP4, MOV
//! and 3GP, EBML for WebM), then its tracks (duration, size, rotation,
//! codec) and the position and time the phone wrote into it.
//!
//! The bytes are hostile until proven otherwise. The top-level boxes are
//! walked first by their headers alone (a box that claims more than the
//! file holds is refused without reading it, so is a `moov` over
//! `MAX_MOOV`); only `ftyp` and `moov` are then read into memory and
//! handed to two parsers fuzzed for this (`mp4parse` for the tracks,
//! `nom-exif` for Apple's ISO 6709 key and `©xyz`). `mdat`, the bulk of
//! the file, is never read here. WebM goes to `matroska-demuxer`, which
//! reads the header elements only.

use super::inspect::Refusal;
use crate::error::ErrorCode;
use chrono::{DateTime, Utc};
use std::io::{Read, Seek, SeekFrom};

/// A video's container, from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Mp4,
    QuickTime,
    ThreeGp,
    WebM,
}

impl Container {
    pub fn content_type(self) -> &'static str {
        match self {
            Container::Mp4 => "video/mp4",
            Container::QuickTime => "video/quicktime",
            Container::ThreeGp => "video/3gpp",
            Container::WebM => "video/webm",
        }
    }

    /// ffmpeg's demuxer for it: the only one the child may use.
    pub fn demuxer(self) -> &'static str {
        match self {
            Container::Mp4 | Container::QuickTime | Container::ThreeGp => "mov",
            Container::WebM => "matroska",
        }
    }
}

/// The video types a photo item may declare.
pub const VIDEO_TYPES: [&str; 4] = ["video/mp4", "video/quicktime", "video/3gpp", "video/webm"];

/// The major and compatible brands of an ISO BMFF `ftyp` box at the start.
fn brands(head: &[u8]) -> Option<Vec<[u8; 4]>> {
    if head.len() < 16 || &head[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let end = size.clamp(16, head.len().min(256));
    let mut out = vec![[head[8], head[9], head[10], head[11]]];
    out.extend(
        head[16..end]
            .chunks_exact(4)
            .map(|b| [b[0], b[1], b[2], b[3]]),
    );
    Some(out)
}

/// The container, from the first bytes (256 are enough); `None` when they
/// are not a video this server takes (an HEIC photo is an `ftyp` file too,
/// and is left to `inspect::sniff`).
pub fn sniff(head: &[u8]) -> Option<Container> {
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        // EBML: WebM when its DocType says so (within the EBML header).
        let window = &head[..head.len().min(64)];
        return window
            .windows(4)
            .any(|w| w == b"webm")
            .then_some(Container::WebM);
    }
    let brands = brands(head)?;
    let major = brands[0];
    if &major == b"qt  " {
        return Some(Container::QuickTime);
    }
    if major.starts_with(b"3gp") || major.starts_with(b"3g2") {
        return Some(Container::ThreeGp);
    }
    const MP4: [&[u8; 4]; 12] = [
        b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"MSNV",
        b"mmp4", b"dash",
    ];
    const IMAGE: [&[u8; 4]; 10] = [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis",
    ];
    if IMAGE.contains(&&major) {
        return None;
    }
    if MP4.contains(&&major) || brands.iter().any(|b| MP4.contains(&b)) {
        return Some(Container::Mp4);
    }
    if brands.iter().any(|b| b == b"qt  ") {
        return Some(Container::QuickTime);
    }
    None
}

/// What the server holds of a video besides its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub container: Container,
    /// `h264`, `hevc`, `vp8`, `vp9`, `av1`, `mpeg4`, `h263` or the sample
    /// entry's own four letters.
    pub codec: String,
    /// Upright (after `rotation`).
    pub width: u32,
    pub height: u32,
    /// Clockwise degrees a player turns it: 0, 90, 180 or 270.
    pub rotation: u16,
    pub duration_ms: u64,
    pub taken_at: Option<DateTime<Utc>>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// What a video may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_duration_ms: u64,
}

/// The most a `moov` may take in memory: a ten-minute phone video's index
/// is a few megabytes.
pub const MAX_MOOV: u64 = 64 << 20;
/// The most top-level boxes a file may have before its `moov` and the
/// most boxes of any kind mp4parse is given (a million tiny ones is a
/// refusal, not a minute's work).
pub const MAX_TOP_BOXES: usize = 4096;

fn corrupt(msg: impl Into<String>) -> Refusal {
    Refusal::new(422, ErrorCode::CorruptImage, msg)
}

fn io(e: std::io::Error) -> Refusal {
    corrupt(format!("视频无法读取：{e}"))
}

/// Reads what the video is, from a file of `size` bytes.
pub fn probe<R: Read + Seek>(
    file: &mut R,
    size: u64,
    limits: Limits,
) -> Result<VideoInfo, Refusal> {
    let mut head = [0u8; 256];
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let n = read_up_to(file, &mut head).map_err(io)?;
    let container = sniff(&head[..n]).ok_or_else(|| {
        Refusal::new(
            415,
            ErrorCode::UnsupportedMediaType,
            "这不是可接收的视频（MP4、MOV、3GP 或 WebM）",
        )
    })?;
    let info = match container {
        Container::WebM => webm(file, container)?,
        _ => iso(file, size, container)?,
    };
    if info.duration_ms > limits.max_duration_ms {
        return Err(Refusal::new(
            413,
            ErrorCode::TooLarge,
            format!(
                "视频长 {} 秒，超过上限 {} 秒",
                info.duration_ms.div_ceil(1000),
                limits.max_duration_ms / 1000
            ),
        ));
    }
    if info.width == 0 || info.height == 0 {
        return Err(corrupt("视频没有画面（找不到视频轨道）"));
    }
    Ok(info)
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// One box header: where its content starts and ends in the file.
struct BoxAt {
    name: [u8; 4],
    start: u64,
    content: u64,
    end: u64,
}

/// The top-level boxes, by their headers alone, each checked against the
/// file's size.
fn top_boxes<R: Read + Seek>(file: &mut R, size: u64) -> Result<Vec<BoxAt>, Refusal> {
    let mut out = Vec::new();
    let mut at = 0u64;
    while at < size {
        if out.len() >= MAX_TOP_BOXES {
            return Err(corrupt("视频的结构异常（顶层盒子过多）"));
        }
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        let mut h = [0u8; 16];
        let n = read_up_to(file, &mut h).map_err(io)?;
        if n < 8 {
            return Err(corrupt("视频文件不完整（末尾被截断）"));
        }
        let small = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        let name = [h[4], h[5], h[6], h[7]];
        let (len, header) = match small {
            0 => (size - at, 8),
            1 if n >= 16 => (
                u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
                16,
            ),
            1 => return Err(corrupt("视频文件不完整（末尾被截断）")),
            s => (s, 8),
        };
        if len < header {
            return Err(corrupt("视频的结构异常（盒子长度错误）"));
        }
        let end = at.checked_add(len).filter(|&e| e <= size).ok_or_else(|| {
            corrupt(format!(
                "视频文件不完整：“{}”声称 {len} 字节，文件只剩 {} 字节",
                String::from_utf8_lossy(&name),
                size - at
            ))
        })?;
        out.push(BoxAt {
            name,
            start: at,
            content: at + header,
            end,
        });
        at = end;
    }
    Ok(out)
}

fn iso<R: Read + Seek>(
    file: &mut R,
    size: u64,
    container: Container,
) -> Result<VideoInfo, Refusal> {
    let boxes = top_boxes(file, size)?;
    let moov = boxes
        .iter()
        .find(|b| &b.name == b"moov")
        .ok_or_else(|| corrupt("视频缺少索引（moov），可能没有录完"))?;
    if moov.end - moov.start > MAX_MOOV {
        return Err(Refusal::new(
            413,
            ErrorCode::TooLarge,
            format!("视频的索引超过 {} MiB", MAX_MOOV >> 20),
        ));
    }
    // ftyp then moov, in memory: all the parsers need.
    let mut index = Vec::new();
    for b in boxes
        .iter()
        .filter(|b| &b.name == b"ftyp" || &b.name == b"moov")
    {
        file.seek(SeekFrom::Start(b.start)).map_err(io)?;
        let len = usize::try_from(b.end - b.start).map_err(|_| corrupt("视频过大"))?;
        let from = index.len();
        index.resize(from + len, 0);
        file.read_exact(&mut index[from..]).map_err(io)?;
    }
    let moov_bytes = {
        let from = index.len() - (moov.end - moov.start) as usize;
        &index[from + (moov.content - moov.start) as usize..]
    };
    if count_boxes(moov_bytes, 0) > 200_000 {
        return Err(corrupt("视频的索引结构异常（盒子过多）"));
    }
    if !tables_hold_their_counts(moov_bytes) {
        return Err(corrupt(
            "视频的索引声称的条目多于它所含的（文件损坏或被改动）",
        ));
    }
    let ctx = mp4parse::read_mp4(&mut std::io::Cursor::new(&index))
        .map_err(|e| corrupt(format!("视频的索引无法读取：{e:?}")))?;
    let track = ctx
        .tracks
        .iter()
        .find(|t| t.track_type == mp4parse::TrackType::Video)
        .ok_or_else(|| corrupt("视频没有画面（找不到视频轨道）"))?;
    // Every chunk the index names lies inside the file: one that claims
    // more than the file holds is refused here, not found by a decoder.
    let chunk_end = track
        .stco
        .as_ref()
        .and_then(|c| c.offsets.iter().max().copied())
        .unwrap_or(0);
    if chunk_end >= size {
        return Err(corrupt("视频的索引指向文件之外（文件不完整或被改动）"));
    }
    let duration_ms = ctx
        .tracks
        .iter()
        .filter_map(|t| {
            let d = t.duration?.0;
            let s = t.timescale?.0;
            (s > 0).then(|| u64::try_from(u128::from(d) * 1000 / u128::from(s)).unwrap_or(u64::MAX))
        })
        .max()
        .unwrap_or(0);
    let (mut w, mut h, rotation) = match &track.tkhd {
        Some(t) => (t.width >> 16, t.height >> 16, rotation(&t.matrix)),
        None => (0, 0, 0),
    };
    let entry = track.stsd.as_ref().and_then(|s| s.descriptions.first());
    let codec = match entry {
        Some(mp4parse::SampleEntry::Video(v)) => {
            if w == 0 || h == 0 {
                (w, h) = (u32::from(v.width), u32::from(v.height));
            }
            codec_name(&v.codec_type)
        }
        _ => None,
    }
    .map(str::to_string)
    .or_else(|| sample_entry_fourcc(moov_bytes))
    .unwrap_or_else(|| "unknown".into());
    if rotation % 180 == 90 {
        std::mem::swap(&mut w, &mut h);
    }
    let (taken_at, lat, lon) = place_and_time(index);
    Ok(VideoInfo {
        container,
        codec,
        width: w,
        height: h,
        rotation,
        duration_ms,
        taken_at,
        lat,
        lon,
    })
}

fn codec_name(c: &mp4parse::CodecType) -> Option<&'static str> {
    use mp4parse::CodecType as C;
    Some(match c {
        C::H264 => "h264",
        C::VP8 => "vp8",
        C::VP9 => "vp9",
        C::AV1 => "av1",
        C::MP4V => "mpeg4",
        C::H263 => "h263",
        _ => return None,
    })
}

/// Clockwise degrees from a track header's matrix (16.16 fixed point).
fn rotation(m: &mp4parse::Matrix) -> u16 {
    const ONE: i32 = 1 << 16;
    match (m.a, m.b, m.c, m.d) {
        (0, ONE, x, 0) if x == -ONE => 90,
        (x, 0, 0, y) if x == -ONE && y == -ONE => 180,
        (0, x, ONE, 0) if x == -ONE => 270,
        _ => 0,
    }
}

/// The boxes directly in `bytes` (name, content), stopping at the first
/// that does not fit.
fn children(bytes: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at + 8 > bytes.len() {
            return None;
        }
        let len =
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if len < 8 || at + len > bytes.len() {
            return None;
        }
        let item = (&bytes[at + 4..at + 8], &bytes[at + 8..at + len]);
        at += len;
        Some(item)
    })
}

fn child<'a>(bytes: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    children(bytes).find(|(n, _)| *n == name).map(|(_, c)| c)
}

/// Whether every sample table of every track holds the entries its count
/// claims: a parser sizes its table by the count before reading it, so a
/// count of a billion in a box of a hundred bytes would ask for gigabytes
/// (found by the fuzz target). Refused here, before any parser sees it.
fn tables_hold_their_counts(moov: &[u8]) -> bool {
    // (box, bytes before the count after version+flags, bytes an entry)
    const TABLES: [(&[u8; 4], usize, u64); 7] = [
        (b"stts", 0, 8),
        (b"ctts", 0, 8),
        (b"stsc", 0, 12),
        (b"stss", 0, 4),
        (b"stco", 0, 4),
        (b"co64", 0, 8),
        (b"stsz", 4, 4),
    ];
    for (name, trak) in children(moov) {
        if name != b"trak" {
            continue;
        }
        if let Some(elst) = child(trak, b"edts").and_then(|e| child(e, b"elst")) {
            let per = if elst.first() == Some(&1) { 20 } else { 12 };
            if !holds(elst, 0, per) {
                return false;
            }
        }
        let Some(stbl) = child(trak, b"mdia")
            .and_then(|m| child(m, b"minf"))
            .and_then(|m| child(m, b"stbl"))
        else {
            continue;
        };
        for (table, content) in children(stbl) {
            for (t, skip, per) in TABLES {
                if table == t {
                    // stsz with a fixed sample size lists no entries.
                    let listed = t != b"stsz" || content.get(4..8) == Some(&[0, 0, 0, 0]);
                    if listed && !holds(content, skip, per) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

/// A full box's table: version+flags (4), `skip` bytes, a count (4), then
/// `count` entries of `per` bytes, all inside `content`.
fn holds(content: &[u8], skip: usize, per: u64) -> bool {
    let at = 4 + skip;
    let Some(c) = content.get(at..at + 4) else {
        return false;
    };
    let count = u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    count.saturating_mul(per) <= (content.len() - at - 4) as u64
}

/// How many boxes lie in `bytes` (recursing into the containers a video's
/// index nests), stopping early past the limit.
fn count_boxes(bytes: &[u8], depth: u8) -> usize {
    const NESTED: [&[u8; 4]; 8] = [
        b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"mvex",
    ];
    let mut n = 0;
    let mut at = 0usize;
    while at + 8 <= bytes.len() && n <= 200_000 {
        let len =
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if len < 8 || at + len > bytes.len() {
            break;
        }
        n += 1;
        if depth < 8 && NESTED.iter().any(|b| &bytes[at + 4..at + 8] == *b) {
            n += count_boxes(&bytes[at + 8..at + len], depth + 1);
        }
        at += len;
    }
    n
}

/// The four letters of the video track's first sample entry (HEVC's
/// `hvc1`/`hev1` are not among the codecs mp4parse names): found by
/// walking moov/trak/mdia/minf/stbl/stsd of the track whose handler is
/// `vide`, bounds-checked at every step.
fn sample_entry_fourcc(moov: &[u8]) -> Option<String> {
    for (name, trak) in children(moov) {
        if name != b"trak" {
            continue;
        }
        let mdia = child(trak, b"mdia")?;
        // hdlr: version+flags (4), pre_defined (4), handler type (4).
        let hdlr = child(mdia, b"hdlr")?;
        if hdlr.get(8..12) != Some(b"vide") {
            continue;
        }
        let stsd = child(child(child(mdia, b"minf")?, b"stbl")?, b"stsd")?;
        // stsd: version+flags (4), entry count (4), then the entries.
        let fourcc = stsd.get(12..16)?;
        if !fourcc
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b' ')
        {
            return None;
        }
        return Some(match fourcc {
            b"hvc1" | b"hev1" => "hevc".into(),
            other => String::from_utf8_lossy(other).trim().to_string(),
        });
    }
    None
}

/// The time and position a phone wrote into an ISO BMFF index (Apple's
/// ISO 6709 key, QuickTime's and Android's `©xyz`, `creation_time`).
/// Metadata is a bonus: a file whose metadata cannot be read is still a
/// video.
fn place_and_time(index: Vec<u8>) -> (Option<DateTime<Utc>>, Option<f64>, Option<f64>) {
    let Ok(ms) = nom_exif::MediaSource::seekable(std::io::Cursor::new(index)) else {
        return (None, None, None);
    };
    let mut parser = nom_exif::MediaParser::new();
    let Ok(info) = parser.parse_track(ms) else {
        return (None, None, None);
    };
    let taken_at = info
        .get(nom_exif::TrackInfoTag::CreateDate)
        .and_then(|v| match v {
            nom_exif::EntryValue::DateTime(t) => Some(t.with_timezone(&Utc)),
            nom_exif::EntryValue::NaiveDateTime(t) => Some(t.and_utc()),
            _ => None,
        })
        // QuickTime's epoch (1904) is what an unset time reads as.
        .filter(|t| t.timestamp() > 0);
    let (lat, lon) = info
        .gps_info()
        // Degrees-minutes-seconds back to decimal leave float dust: a
        // centimetre (7 places) is all a phone's fix holds.
        .map(|g| {
            let round = |x: Option<f64>| x.map(|x| (x * 1e7).round() / 1e7);
            (round(g.latitude_decimal()), round(g.longitude_decimal()))
        })
        .filter(|(a, o)| {
            a.is_some_and(|a| (-90.0..=90.0).contains(&a))
                && o.is_some_and(|o| (-180.0..=180.0).contains(&o))
        })
        .unwrap_or((None, None));
    (taken_at, lat, lon)
}

fn webm<R: Read + Seek>(file: &mut R, container: Container) -> Result<VideoInfo, Refusal> {
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mkv = matroska_demuxer::MatroskaFile::open(&mut *file)
        .map_err(|e| corrupt(format!("WebM 视频无法读取：{e}")))?;
    let track = mkv
        .tracks()
        .iter()
        .find(|t| t.track_type() == matroska_demuxer::TrackType::Video)
        .ok_or_else(|| corrupt("视频没有画面（找不到视频轨道）"))?;
    let video = track
        .video()
        .ok_or_else(|| corrupt("视频没有画面（找不到视频轨道）"))?;
    let info = mkv.info();
    let scale = info.timestamp_scale().get() as f64;
    let duration_ms = info
        .duration()
        .map(|d| (d * scale / 1_000_000.0).round())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map_or(0, |d| d as u64);
    let codec = match track.codec_id() {
        "V_VP8" => "vp8",
        "V_VP9" => "vp9",
        "V_AV1" => "av1",
        "V_MPEG4/ISO/AVC" => "h264",
        "V_MPEGH/ISO/HEVC" => "hevc",
        other => other,
    }
    .to_string();
    // Matroska's DateUTC: nanoseconds since 2001-01-01.
    let taken_at = info.date_utc().and_then(|ns| {
        let base = DateTime::from_timestamp(978_307_200, 0)?;
        base.checked_add_signed(chrono::Duration::nanoseconds(ns))
    });
    Ok(VideoInfo {
        container,
        codec,
        width: u32::try_from(video.pixel_width().get()).unwrap_or(0),
        height: u32::try_from(video.pixel_height().get()).unwrap_or(0),
        rotation: 0,
        duration_ms,
        taken_at,
        lat: None,
        lon: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn bx(name: &[u8; 4], content: &[u8]) -> Vec<u8> {
        let mut b = ((content.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(name);
        b.extend_from_slice(content);
        b
    }

    fn limits() -> Limits {
        Limits {
            max_duration_ms: 600_000,
        }
    }

    fn ftyp(major: &[u8; 4], compat: &[&[u8; 4]]) -> Vec<u8> {
        let mut c = major.to_vec();
        c.extend_from_slice(&[0, 0, 2, 0]);
        for b in compat {
            c.extend_from_slice(*b);
        }
        bx(b"ftyp", &c)
    }

    fn probe_bytes(bytes: &[u8]) -> Result<VideoInfo, Refusal> {
        probe(&mut Cursor::new(bytes), bytes.len() as u64, limits())
    }

    #[test]
    fn containers_are_told_by_their_brands() {
        assert_eq!(sniff(&ftyp(b"isom", &[b"mp41"])), Some(Container::Mp4));
        assert_eq!(sniff(&ftyp(b"mp42", &[b"isom"])), Some(Container::Mp4));
        assert_eq!(
            sniff(&ftyp(b"qt  ", &[b"qt  "])),
            Some(Container::QuickTime)
        );
        assert_eq!(sniff(&ftyp(b"3gp4", &[b"isom"])), Some(Container::ThreeGp));
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1"])), None, "a photo");
        assert_eq!(sniff(&ftyp(b"avif", &[b"mif1"])), None, "a photo");
        let webm = [
            0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x84, b'w', b'e', b'b', b'm',
        ];
        assert_eq!(sniff(&webm), Some(Container::WebM));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0 a jpeg"), None);
    }

    #[test]
    fn random_bytes_are_not_a_video() {
        let r = probe_bytes(&[7u8; 4096]).unwrap_err();
        assert_eq!(r.status, 415);
    }

    #[test]
    fn a_moov_claiming_a_terabyte_is_refused_from_its_header() {
        let mut f = ftyp(b"isom", &[b"mp41"]);
        f.extend_from_slice(&1u32.to_be_bytes());
        f.extend_from_slice(b"moov");
        f.extend_from_slice(&(1u64 << 40).to_be_bytes());
        f.extend_from_slice(&[0u8; 64]);
        let t = std::time::Instant::now();
        let r = probe_bytes(&f).unwrap_err();
        assert_eq!(r.status, 422, "{}", r.message);
        assert!(r.message.contains("moov"), "{}", r.message);
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let mut f = ftyp(b"isom", &[b"mp41"]);
        f.extend(bx(b"moov", &[0u8; 1000]));
        f.truncate(f.len() - 300);
        assert_eq!(probe_bytes(&f).unwrap_err().status, 422);
        // No index at all: a recording cut off before it was finished.
        let mut f = ftyp(b"isom", &[b"mp41"]);
        f.extend(bx(b"mdat", &[0u8; 1000]));
        let r = probe_bytes(&f).unwrap_err();
        assert!(r.message.contains("moov"), "{}", r.message);
    }

    #[test]
    fn a_million_tiny_boxes_are_refused_quickly() {
        let mut content = Vec::with_capacity(8_000_000);
        for _ in 0..1_000_000 {
            content.extend_from_slice(&8u32.to_be_bytes());
            content.extend_from_slice(b"free");
        }
        let mut f = ftyp(b"isom", &[b"mp41"]);
        f.extend(bx(b"moov", &bx(b"trak", &content)));
        let t = std::time::Instant::now();
        let r = probe_bytes(&f).unwrap_err();
        assert_eq!(r.status, 422, "{}", r.message);
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        // And as many top-level boxes.
        let mut f = ftyp(b"isom", &[b"mp41"]);
        for _ in 0..100_000 {
            f.extend(bx(b"free", &[]));
        }
        let t = std::time::Instant::now();
        assert_eq!(probe_bytes(&f).unwrap_err().status, 422);
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn rotation_is_read_from_the_matrix() {
        let m = |a: i32, b: i32, c: i32, d: i32| mp4parse::Matrix {
            a,
            b,
            u: 0,
            c,
            d,
            v: 0,
            x: 0,
            y: 0,
            w: 1 << 30,
        };
        let one = 1 << 16;
        assert_eq!(rotation(&m(one, 0, 0, one)), 0);
        assert_eq!(rotation(&m(0, one, -one, 0)), 90);
        assert_eq!(rotation(&m(-one, 0, 0, -one)), 180);
        assert_eq!(rotation(&m(0, -one, one, 0)), 270);
    }

    #[test]
    fn the_sample_entry_names_hevc() {
        let mut stsd = vec![0u8; 8];
        stsd.extend(bx(b"hvc1", &[0u8; 78]));
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"vide");
        hdlr.extend_from_slice(&[0u8; 12]);
        let minf = bx(b"minf", &bx(b"stbl", &bx(b"stsd", &stsd)));
        let mut mdia = bx(b"hdlr", &hdlr);
        mdia.extend(minf);
        let moov = bx(b"trak", &bx(b"mdia", &mdia));
        assert_eq!(sample_entry_fourcc(&moov).as_deref(), Some("hevc"));
        assert_eq!(sample_entry_fourcc(&moov[..20]), None);
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/video/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn phone_videos_are_read() {
        let v = probe_bytes(&fixture("h264_rot90_location.mp4")).unwrap();
        assert_eq!(v.container, Container::Mp4);
        assert_eq!(v.codec, "h264");
        assert_eq!((v.width, v.height, v.rotation), (240, 320, 90));
        assert!(v.duration_ms.abs_diff(2000) <= 40, "{}", v.duration_ms);
        assert_eq!(v.lat, Some(31.2304));
        assert_eq!(v.lon, Some(121.4737));
        assert_eq!(
            v.taken_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-30T01:02:03+00:00")
        );

        let v = probe_bytes(&fixture("hevc_iphone_keys.mov")).unwrap();
        assert_eq!(v.container, Container::QuickTime);
        assert_eq!(v.codec, "hevc");
        assert_eq!((v.width, v.height, v.rotation), (640, 360, 0));
        assert!(v.duration_ms.abs_diff(3000) <= 60, "{}", v.duration_ms);
        assert_eq!((v.lat, v.lon), (Some(22.5431), Some(114.0579)));
        assert_eq!(
            v.taken_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-30T13:30:00+00:00")
        );

        let v = probe_bytes(&fixture("vp9.webm")).unwrap();
        assert_eq!(v.container, Container::WebM);
        assert_eq!(v.codec, "vp9");
        assert_eq!((v.width, v.height), (320, 240));
        assert!(v.duration_ms.abs_diff(2000) <= 40, "{}", v.duration_ms);
    }

    /// The fuzz target's find: a sample-to-chunk table claiming 964
    /// million entries in a real video's index.
    #[test]
    fn a_table_claiming_more_entries_than_it_holds_is_refused() {
        let mut f = fixture("h264_rot90_location.mp4");
        let at = f.windows(4).position(|w| w == b"stsc").unwrap();
        f[at + 8..at + 12].copy_from_slice(&0x3978_29cbu32.to_be_bytes());
        let r = probe_bytes(&f).unwrap_err();
        assert_eq!(r.status, 422);
        assert!(r.message.contains("条目"), "{}", r.message);
        // The untouched file passes the same check.
        assert!(probe_bytes(&fixture("h264_rot90_location.mp4")).is_ok());
        assert!(probe_bytes(&fixture("hevc_iphone_keys.mov")).is_ok());
    }

    #[test]
    fn a_video_over_the_duration_limit_is_413() {
        let r = probe(
            &mut Cursor::new(fixture("hevc_iphone_keys.mov")),
            fixture("hevc_iphone_keys.mov").len() as u64,
            Limits {
                max_duration_ms: 1000,
            },
        )
        .unwrap_err();
        assert_eq!(r.status, 413);
    }

    #[test]
    fn every_cut_of_a_real_video_is_refused_or_read_never_a_panic() {
        let full = fixture("h264_rot90_location.mp4");
        for cut in (0..full.len()).step_by(97) {
            let _ = probe_bytes(&full[..cut]);
        }
        let webm = fixture("vp9.webm");
        for cut in (0..webm.len()).step_by(101) {
            let _ = probe_bytes(&webm[..cut]);
        }
    }
}
