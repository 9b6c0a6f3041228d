//! A member on a hillside: the real server behind a shaping proxy (upload
//! and download bandwidth, round-trip time, loss, one disconnect in the
//! middle of an upload), and a client that does what the field app's
//! client does (`fieldsync-client.js`): log in, one gzip push of the day's
//! records and photo metadata, each photo and video by tus in chunks sized
//! to the link it measures (resuming after the cut with a `HEAD`), then
//! pulls (compressed) until the day is acknowledged and every variant is
//! made. Reported against the floor: the bytes on the wire over the
//! bandwidth plus the round trips the protocol needs times the RTT; and
//! the bytes on the wire against the payload.
//!
//! Then a new phone's first pull for a group of 500 sites, 20 routes and
//! 2,000 inspections over the same link, against its floor; and the same
//! for a coordinator of a group with `WEAK_BIG` (50,000) inspections: what
//! a phone receives and keeps.
//!
//! `cargo bench --bench weak_link` (needs ffmpeg for the videos). Knobs:
//! `WEAK_UP_KBIT` (1000), `WEAK_DOWN_KBIT` (4000), `WEAK_RTT_MS` (300),
//! `WEAK_LOSS` (0.01), `WEAK_PHOTOS` (60), `WEAK_VIDEOS` (2),
//! `WEAK_VIDEO_SECS` (20), `WEAK_BIG` (50000; 0 skips it), `WEAK_DAY` (1; 0
//! skips the day, for the pulls alone). With the
//! defaults the day takes about a quarter of an hour: it is the link's
//! time, not the machine's. Figures: docs/PERFORMANCE.md.
//!
//! The loss model: each 1,460-byte segment is lost with the given
//! probability; a lost one is sent again (its bytes cost link time twice)
//! and it, and everything after it on that connection, is delivered one
//! RTT later (TCP is in order; with SACK the link keeps sending meanwhile).
//! A real TCP also halves its window at each loss, which caps one
//! connection at 1% loss and 300 ms to about 475 kbit/s (Mathis et al.):
//! that is the radio's and TCP's cost, not the protocol's, and is left out.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

mod common;

const PASSWORD: &str = "bench-password-1";
const SEGMENT: usize = 1460;

#[derive(Clone, Copy)]
struct Shape {
    up_bps: f64,
    down_bps: f64,
    rtt: Duration,
    loss: f64,
}

/// One direction of the link: shared by every connection, as a radio is.
struct Direction {
    bytes_per_sec: f64,
    free_at: Mutex<Instant>,
    wire: AtomicU64,
    rng: Mutex<u64>,
}

impl Direction {
    fn new(bits_per_sec: f64, seed: u64) -> Direction {
        Direction {
            bytes_per_sec: bits_per_sec / 8.0,
            free_at: Mutex::new(Instant::now()),
            wire: AtomicU64::new(0),
            rng: Mutex::new(seed),
        }
    }

    /// When `n` bytes put on this direction now arrive at the far end.
    fn send(&self, n: usize, shape: &Shape) -> Instant {
        let mut lost = 0usize;
        {
            let mut x = self.rng.lock().unwrap();
            for _ in 0..n.div_ceil(SEGMENT) {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                if (*x % 1_000_000) as f64 / 1e6 < shape.loss {
                    lost += 1;
                }
            }
        }
        let bytes = n + lost * SEGMENT;
        self.wire.fetch_add(bytes as u64, Ordering::Relaxed);
        let mut free = self.free_at.lock().unwrap();
        let start = (*free).max(Instant::now());
        *free = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec);
        let mut at = *free + shape.rtt / 2;
        if lost > 0 {
            at += shape.rtt;
        }
        at
    }
}

struct Link {
    shape: Shape,
    up: Direction,
    down: Direction,
    connections: AtomicU64,
    /// Cut every open connection once this many bytes have gone up (and
    /// only once): a phone walking out of coverage mid-upload.
    cut_after: AtomicU64,
    cut_done: AtomicBool,
    open: Mutex<Vec<(TcpStream, TcpStream)>>,
}

/// Relays `from` to `to` through `dir`: a reader stamps each piece with
/// its arrival time, a writer delivers it then (a small queue between
/// them: the link's buffer, so the sender feels the link's pace).
fn pump(link: Arc<Link>, mut from: TcpStream, mut to: TcpStream, upward: bool) {
    // Room for what is in flight on the link (its bandwidth times the
    // RTT) twice over, as a TCP window would allow: a smaller queue would
    // cap the rate below the link's.
    let bps = if upward {
        link.shape.up_bps
    } else {
        link.shape.down_bps
    };
    let in_flight = bps / 8.0 * link.shape.rtt.as_secs_f64() * 2.0;
    let (tx, rx) = mpsc::sync_channel::<(Instant, Vec<u8>)>((in_flight / 16384.0) as usize + 4);
    let writer = std::thread::spawn(move || {
        for (at, bytes) in rx {
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let dir = if upward { &link.up } else { &link.down };
        let at = dir.send(n, &link.shape);
        if upward
            && !link.cut_done.load(Ordering::Relaxed)
            && link.up.wire.load(Ordering::Relaxed) > link.cut_after.load(Ordering::Relaxed)
            && !link.cut_done.swap(true, Ordering::Relaxed)
        {
            println!(
                "  (the link drops after {:.1} MB up)",
                link.up.wire.load(Ordering::Relaxed) as f64 / 1e6
            );
            for (a, b) in link.open.lock().unwrap().iter() {
                let _ = a.shutdown(Shutdown::Both);
                let _ = b.shutdown(Shutdown::Both);
            }
            break;
        }
        if tx.send((at, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
}

/// Starts the proxy in front of `server`; returns its address.
fn proxy(link: Arc<Link>, server: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for phone in listener.incoming().flatten() {
            let link = Arc::clone(&link);
            let server = server.clone();
            std::thread::spawn(move || {
                // The TCP handshake: one round trip before any byte.
                std::thread::sleep(link.shape.rtt);
                link.connections.fetch_add(1, Ordering::Relaxed);
                let Ok(upstream) = TcpStream::connect(&server) else {
                    return;
                };
                let _ = phone.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                link.open
                    .lock()
                    .unwrap()
                    .push((phone.try_clone().unwrap(), upstream.try_clone().unwrap()));
                let (p2, u2) = (phone.try_clone().unwrap(), upstream.try_clone().unwrap());
                let l2 = Arc::clone(&link);
                let down = std::thread::spawn(move || pump(l2, u2, p2, false));
                pump(link, phone, upstream, true);
                let _ = down.join();
            });
        }
    });
    addr
}

/// The phone's side: HTTP through the proxy, counting round trips.
struct Phone {
    base: String,
    agent: ureq::Agent,
    token: String,
    user: String,
    /// Sign-ins after the access token ran out (a day on a weak link
    /// outlasts one).
    renewals: u64,
    round_trips: u64,
    /// Upload rate measured (bytes a second), as the app's client keeps it.
    rate: Option<f64>,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        let plain = match self.header("content-encoding") {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .expect("gzip");
                out
            }
            _ => self.body.clone(),
        };
        serde_json::from_slice(&plain).unwrap_or(Value::Null)
    }
}

impl Phone {
    fn new(base: String) -> Phone {
        Phone {
            base,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(900)))
                .build()
                .into(),
            token: String::new(),
            user: String::new(),
            renewals: 0,
            round_trips: 0,
            rate: None,
        }
    }

    /// One request; `Err` when the connection broke.
    fn call_once(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Answer, ureq::Error> {
        self.round_trips += 1;
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let auth = format!("Bearer {}", self.token);
        let mut hs: Vec<(&str, String)> = headers.to_vec();
        if !self.token.is_empty() {
            hs.push(("Authorization", auth));
        }
        hs.push(("Accept-Encoding", "gzip".into()));
        let mut r = match (method, body) {
            ("GET" | "HEAD", _) => {
                let mut q = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.head(&url)
                };
                for (k, v) in &hs {
                    q = q.header(*k, v.as_str());
                }
                q.call()?
            }
            (m, b) => {
                let mut q = if m == "PATCH" {
                    self.agent.patch(&url)
                } else {
                    self.agent.post(&url)
                };
                for (k, v) in &hs {
                    q = q.header(*k, v.as_str());
                }
                match b {
                    Some(b) => q.send(b)?,
                    None => q.send_empty()?,
                }
            }
        };
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            r.body_mut().with_config().limit(512 << 20).read_to_vec()?
        };
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// [`Phone::call_once`], signing in again once when the access token
    /// has run out (the app refreshes it the same way, in one request).
    fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Answer, ureq::Error> {
        let a = self.call_once(method, path, headers, body)?;
        if a.status == 401 && !self.user.is_empty() {
            let user = self.user.clone();
            self.login(&user);
            self.renewals += 1;
            return self.call_once(method, path, headers, body);
        }
        Ok(a)
    }

    /// Tries again after a broken connection, as the app does.
    fn call_retrying(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Answer {
        for _ in 0..5 {
            if let Ok(a) = self.call(method, path, headers, body) {
                return a;
            }
        }
        panic!("{method} {path}: the link never came back");
    }

    fn login(&mut self, user: &str) {
        let body = serde_json::to_vec(&json!({"username": user, "password": PASSWORD})).unwrap();
        self.token.clear();
        self.user.clear();
        let a = self.call_retrying(
            "POST",
            "/api/v1/auth/login",
            &[("Content-Type", "application/json".into())],
            Some(&body),
        );
        self.token = a.json()["access_token"].as_str().unwrap().to_string();
        self.user = user.to_string();
    }

    fn push(&mut self, batch: &Value) -> Value {
        let plain = serde_json::to_vec(batch).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let body = gz.finish().unwrap();
        let a = self.call_retrying(
            "POST",
            "/api/v1/sync/push",
            &[
                ("Content-Type", "application/json".into()),
                ("Content-Encoding", "gzip".into()),
            ],
            Some(&body),
        );
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        a.json()
    }

    /// The app's `nextChunk`: what the link moves in 8 s, 256 KiB to 8 MiB.
    fn next_chunk(&self, size: usize) -> usize {
        let least = 256 * 1024;
        let fit = self.rate.map_or(least, |r| (r * 8.0) as usize);
        fit.clamp(least, 8 << 20).max(size.div_ceil(900))
    }

    fn upload(&mut self, photo: &str, bytes: &[u8]) {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(photo);
        let tus = ("Tus-Resumable", "1.0.0".to_string());
        let created = self.call_retrying(
            "POST",
            "/api/v1/uploads",
            &[
                tus.clone(),
                ("Upload-Length", bytes.len().to_string()),
                ("Upload-Metadata", format!("photo_id {b64}")),
            ],
            None,
        );
        assert_eq!(created.status, 201);
        let url = created.header("location").unwrap().to_string();
        let mut offset = 0;
        while offset < bytes.len() {
            let end = (offset + self.next_chunk(bytes.len())).min(bytes.len());
            let t = Instant::now();
            let r = self.call(
                "PATCH",
                &url,
                &[
                    tus.clone(),
                    ("Upload-Offset", offset.to_string()),
                    ("Content-Type", "application/offset+octet-stream".into()),
                ],
                Some(&bytes[offset..end]),
            );
            match r {
                Ok(a) if a.status == 204 => {
                    let rate = (end - offset) as f64 / t.elapsed().as_secs_f64();
                    self.rate = Some(self.rate.map_or(rate, |r| 0.6 * r + 0.4 * rate));
                    offset = a.header("upload-offset").unwrap().parse().unwrap();
                }
                // Cut, busy (the server has not yet seen the cut PATCH
                // end) or a stale offset: wait a moment, as the app's
                // backoff does, and ask where the upload stands.
                other => {
                    let why = match &other {
                        Ok(a) => format!("{}", a.status),
                        Err(e) => e.to_string(),
                    };
                    println!(
                        "  (a PATCH at {offset} failed: {why}; asking where the upload stands)"
                    );
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                        let head =
                            self.call_retrying("HEAD", &url, std::slice::from_ref(&tus), None);
                        if let Some(at) = head.header("upload-offset").and_then(|v| v.parse().ok())
                        {
                            offset = at;
                            break;
                        }
                        println!("  (HEAD answered {} without an offset)", head.status);
                    }
                }
            }
        }
    }

    /// Pulls from `cursor` until up to date; returns the pages' objects.
    fn pull(&mut self, cursor: &mut String) -> Vec<Value> {
        let mut pages = Vec::new();
        loop {
            let a = self.call_retrying(
                "GET",
                &format!("/api/v1/sync/pull?limit=500&cursor={cursor}"),
                &[],
                None,
            );
            assert_eq!(a.status, 200);
            let v = a.json();
            *cursor = v["cursor"].as_str().unwrap_or_default().to_string();
            let more = v["has_more"] == json!(true);
            pages.push(v);
            if !more {
                return pages;
            }
        }
    }
}

fn env_f64(key: &str, default: f64) -> f64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A photo as the app sends it: the fixture scaled to 2560 px, a little
/// noise of its own (a real scene's detail, and its own sha256), JPEG 90.
fn photo_bytes(n: usize) -> Vec<u8> {
    let src = image::load_from_memory(
        &std::fs::read(format!(
            "{}/../shared/fixtures/photos/canon_sx530_IMG_1054.jpg",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap()
    .resize_exact(2560, 1920, image::imageops::FilterType::Triangle)
    .to_rgb8();
    let mut img = src;
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (n as u64 + 1);
    for p in img.pixels_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let d = (x % 9) as i16 - 4;
        for c in p.0.iter_mut() {
            *c = (*c as i16 + d).clamp(0, 255) as u8;
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out
}

/// A phone's video: 1080p H.264 at 10 Mbit/s with sound, by ffmpeg.
fn video_bytes(dir: &std::path::Path, n: usize, secs: usize) -> Option<Vec<u8>> {
    let out = dir.join(format!("v{n}.mp4"));
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc2=size=1920x1080:rate=30:duration={secs},noise=alls={}:allf=t",
            10 + n
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={secs}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "10M",
            "-maxrate",
            "10M",
            "-bufsize",
            "20M",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&out)
        .status()
        .ok()?;
    ok.success().then(|| std::fs::read(&out).ok()).flatten()
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn record(site: &str, tpl: &str, i: usize) -> Value {
    let at = "2026-11-20T02:13:00Z";
    let colour = ["清澈", "浑浊", "发黑"][i % 3];
    let f = json!({"title": format!("桃花河{}号排口巡查", i + 1), "status": "submitted",
        "severity": if i.is_multiple_of(5) { "high" } else { "low" },
        "notes": "排口下游约五十米处有白色泡沫,气味明显,已拍照记录并告知村委会。",
        "answers.outfall_flowing": i.is_multiple_of(2), "answers.water_color": colour,
        "answers.score": (i % 5) + 1,
        "location": {"lat": 29.8571 + i as f64 * 1e-4, "lon": 107.0812, "accuracy_m": 8, "captured_at": at}});
    let changed: serde_json::Map<String, Value> = f
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!(at)))
        .collect();
    json!({"id": uuid::Uuid::new_v4().to_string(), "base_version": 0, "site_id": site,
        "template_id": tpl, "fields": f, "changed_at": changed})
}

fn report(what: &str, took: Duration, floor: f64, up: u64, down: u64, payload: u64, rtts: u64) {
    println!(
        "  {what}: {:.1} s, floor {:.1} s = {:.2}x; on the wire {:.2} MB up + {:.2} MB down for {:.2} MB of payload ({:.2}x); {rtts} round trips",
        took.as_secs_f64(),
        floor,
        took.as_secs_f64() / floor,
        up as f64 / 1e6,
        down as f64 / 1e6,
        payload as f64 / 1e6,
        (up + down) as f64 / payload.max(1) as f64,
    );
}

/// A member's day from an empty outbox to all acknowledged and ready.
fn a_day(
    shape: &Shape,
    new_link: &dyn Fn(u64) -> (Arc<Link>, String),
    site: &str,
    tpl: &str,
    photos_n: usize,
    videos_n: usize,
    video_secs: usize,
) {
    let shape = *shape;
    let media_dir = tempfile::tempdir().unwrap();
    let mut media: Vec<(String, Vec<u8>, &str)> = (0..photos_n)
        .map(|n| {
            (
                uuid::Uuid::new_v4().to_string(),
                photo_bytes(n),
                "image/jpeg",
            )
        })
        .collect();
    for n in 0..videos_n {
        match video_bytes(media_dir.path(), n, video_secs) {
            Some(v) => media.push((uuid::Uuid::new_v4().to_string(), v, "video/mp4")),
            None => println!("  (ffmpeg not installed: no videos)"),
        }
    }
    let records: Vec<Value> = (0..20).map(|i| record(site, tpl, i)).collect();
    let photos_meta: Vec<Value> = media
        .iter()
        .enumerate()
        .map(|(i, (id, bytes, ct))| {
            json!({"id": id, "inspection_id": records[i % records.len()]["id"], "sha256": sha256_hex(bytes),
                "bytes": bytes.len(), "content_type": ct, "caption": "排口近景",
                "taken_at": "2026-11-20T02:20:00Z"})
        })
        .collect();
    let batch = json!({"device_id": uuid::Uuid::new_v4().to_string(), "batch_id": uuid::Uuid::new_v4().to_string(),
        "inspections": records, "photos": photos_meta});
    let payload: u64 = media.iter().map(|m| m.1.len() as u64).sum::<u64>()
        + serde_json::to_vec(&batch).unwrap().len() as u64;
    let photo_mb = media
        .iter()
        .filter(|m| m.2 == "image/jpeg")
        .map(|m| m.1.len())
        .sum::<usize>() as f64
        / 1e6;
    let video_mb = media
        .iter()
        .filter(|m| m.2 != "image/jpeg")
        .map(|m| m.1.len())
        .sum::<usize>() as f64
        / 1e6;
    println!(
        "a day: 20 inspections with checklists, {photos_n} photos at 2560 px ({photo_mb:.1} MB), {videos_n} videos of {video_secs} s ({video_mb:.1} MB)"
    );
    // The drop: in the middle of the upload.
    let (link, base) = new_link(payload / 2);
    let started = Instant::now();
    let mut phone = Phone::new(base);
    phone.login("liming");
    let answer = phone.push(&batch);
    let missing: Vec<String> = answer["photos_missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(missing.len(), media.len());
    let acknowledged = started.elapsed();
    for (id, bytes, _) in &media {
        phone.upload(id, bytes);
    }
    let uploaded = started.elapsed();
    // Pull until every item is ready (a phone pulls after its uploads;
    // the variants of the last video take the server a few seconds).
    let mut cursor = String::new();
    let mut ready = std::collections::HashSet::new();
    let mut pulls = 0;
    while ready.len() < media.len() {
        if pulls > 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        pulls += 1;
        for page in phone.pull(&mut cursor) {
            for p in page["changes"]["photos"].as_array().into_iter().flatten() {
                if p["status"] == "ready" {
                    ready.insert(p["id"].as_str().unwrap().to_string());
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(7200),
            "variants never ready"
        );
    }
    let took = started.elapsed();
    let (up, down) = (
        link.up.wire.load(Ordering::Relaxed),
        link.down.wire.load(Ordering::Relaxed),
    );
    // The protocol's round trips: the connection, the login, the push,
    // and per file its creation and one PATCH; one pull at the end; one
    // sign-in each time the access token ran out.
    let needed = 1 + 1 + 1 + 2 * media.len() as u64 + 1 + phone.renewals;
    let floor = up as f64 / (shape.up_bps / 8.0)
        + down as f64 / (shape.down_bps / 8.0)
        + needed as f64 * shape.rtt.as_secs_f64();
    println!(
        "  pushed and acknowledged in {:.1} s; bytes uploaded by {:.1} s; all variants ready by {:.1} s ({pulls} pulls); {} connections; {} sign-ins after the token ran out; measured link {:.0} kbit/s",
        acknowledged.as_secs_f64(),
        uploaded.as_secs_f64(),
        took.as_secs_f64(),
        link.connections.load(Ordering::Relaxed),
        phone.renewals,
        phone.rate.unwrap_or(0.0) * 8.0 / 1e3
    );
    report(
        "the day, empty outbox to all acknowledged and ready",
        took,
        floor,
        up,
        down,
        payload,
        phone.round_trips,
    );
    println!("  the floor counts {needed} round trips");
}

fn main() {
    let shape = Shape {
        up_bps: env_f64("WEAK_UP_KBIT", 1000.0) * 1000.0,
        down_bps: env_f64("WEAK_DOWN_KBIT", 4000.0) * 1000.0,
        rtt: Duration::from_millis(env_f64("WEAK_RTT_MS", 300.0) as u64),
        loss: env_f64("WEAK_LOSS", 0.01),
    };
    let photos_n = common::env_usize("WEAK_PHOTOS", 60);
    let videos_n = common::env_usize("WEAK_VIDEOS", 2);
    let video_secs = common::env_usize("WEAK_VIDEO_SECS", 20);
    let big = common::env_usize("WEAK_BIG", 50_000);
    let (tmp, cl) = common::start_server_with(PASSWORD, |c| c.login_burst_per_ip = 10_000);
    let (group, site, tpl, _) = common::district(&cl, PASSWORD);
    println!(
        "weak link: {:.0} kbit/s up, {:.0} kbit/s down, RTT {} ms, loss {:.1}%, one drop mid-upload",
        shape.up_bps / 1e3,
        shape.down_bps / 1e3,
        shape.rtt.as_millis(),
        shape.loss * 100.0
    );
    let new_link = |cut_after: u64| {
        let link = Arc::new(Link {
            shape,
            up: Direction::new(shape.up_bps, 0x1234_5678),
            down: Direction::new(shape.down_bps, 0x8765_4321),
            connections: AtomicU64::new(0),
            cut_after: AtomicU64::new(cut_after),
            cut_done: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
        });
        let addr = proxy(
            Arc::clone(&link),
            cl.base.trim_start_matches("http://").to_string(),
        );
        (link, format!("http://{addr}"))
    };

    // ---- a day's work of one member ----
    if common::env_usize("WEAK_DAY", 1) != 0 {
        a_day(
            &shape, &new_link, &site, &tpl, photos_n, videos_n, video_secs,
        );
    }
    // A day outlasts the admin's access token.
    let admin = cl.login("admin", PASSWORD);

    // ---- a new phone's first pull: 500 sites, 20 routes, 2,000 records ----
    let mut sites = vec![site.clone()];
    for i in 1..500 {
        let s = cl.send("POST", "/api/v1/sites", &admin, Some(&json!({"group_id": group, "name": format!("渡舟{i}号点位"), "kind": "outfall",
            "address": "渡舟街道桃花河沿线", "lat": 29.8 + i as f64 * 1e-4, "lon": 107.08, "radius_m": 60.0})));
        sites.push(s["id"].as_str().unwrap().to_string());
    }
    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .date_naive()
        .to_string();
    for r in 0..20 {
        let stops: Vec<Value> = (0..10)
            .map(|k| json!({"site_id": sites[(r * 25 + k) % sites.len()], "template_id": tpl}))
            .collect();
        cl.send(
            "POST",
            "/api/v1/routes",
            &admin,
            Some(&json!({"group_id": group, "name": format!("桃花河巡查{r}"),
            "assignee_id": null, "scheduled_for": today, "stops": stops})),
        );
    }
    let fill = |n: usize| {
        let token = cl.login("liming", PASSWORD);
        let device = uuid::Uuid::new_v4().to_string();
        let mut left = n;
        while left > 0 {
            let k = left.min(500);
            let items: Vec<Value> = (0..k)
                .map(|i| record(&sites[i % sites.len()], &tpl, i))
                .collect();
            cl.send(
                "POST",
                "/api/v1/sync/push",
                &token,
                Some(&json!({"device_id": device,
                "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items})),
            );
            left -= k;
        }
    };
    fill(2000 - 20);
    let first_pull = |label: &str| {
        let (link, base) = new_link(u64::MAX);
        let started = Instant::now();
        let mut phone = Phone::new(base);
        phone.login("zhoumin");
        let mut cursor = String::new();
        let pages = phone.pull(&mut cursor);
        let took = started.elapsed();
        let objects: usize = pages
            .iter()
            .map(|p| {
                p["changes"].as_object().map_or(0, |c| {
                    c.values().map(|a| a.as_array().map_or(0, Vec::len)).sum()
                })
            })
            .sum();
        let json_bytes: u64 = pages
            .iter()
            .map(|p| serde_json::to_vec(p).unwrap().len() as u64)
            .sum();
        let (up, down) = (
            link.up.wire.load(Ordering::Relaxed),
            link.down.wire.load(Ordering::Relaxed),
        );
        // The connection, the login, and one request per page.
        let needed = 2 + pages.len() as u64;
        let floor = up as f64 / (shape.up_bps / 8.0)
            + down as f64 / (shape.down_bps / 8.0)
            + needed as f64 * shape.rtt.as_secs_f64();
        println!(
            "{label}: {objects} objects in {} pages, {:.2} MB of JSON ({:.0} bytes an object)",
            pages.len(),
            json_bytes as f64 / 1e6,
            json_bytes as f64 / objects.max(1) as f64
        );
        report(
            "a coordinator's new phone, first pull",
            took,
            floor,
            up,
            down,
            json_bytes,
            phone.round_trips,
        );
    };
    first_pull("a group of 500 sites, 20 routes, 2,000 inspections");
    if big > 2000 {
        fill(big - 2000);
        first_pull(&format!("years on: the same group with {big} inspections"));
    }
    drop(tmp);
}
