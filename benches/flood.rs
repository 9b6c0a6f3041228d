//! A flood of variant requests: the `fieldsync` binary in a process of its
//! own (so its memory is its own), six of the largest photos it accepts
//! (three 62-megapixel JPEGs, three PNGs at the non-JPEG limit), then 48
//! parallel `GET .../display` of them at once, before their jobs are done.
//! Prints the server's resident memory at rest and its peak (VmHWM), and
//! the budget it must stay within: photo workers x the per-decode budget
//! plus the base.
//!
//! `cargo bench --bench flood`. Figures: docs/PERFORMANCE.md.

use serde_json::{Value, json};
use sha2::Digest;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

mod common;

const PASSWORD: &str = "bench-password-1";
const WORKERS: usize = 2;
const REQUESTS: usize = 48;

fn status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn jpeg(w: u16, h: u16) -> Vec<u8> {
    // A gradient, so the decoder has real work; made row by row into one
    // buffer (the client's memory is not the server's).
    let mut rgb = vec![0u8; usize::from(w) * usize::from(h) * 3];
    for (i, px) in rgb.chunks_exact_mut(3).enumerate() {
        let (x, y) = (i % usize::from(w), i / usize::from(w));
        px.copy_from_slice(&[(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8]);
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 70)
        .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encode jpeg");
    out
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode png");
    out
}

fn multipart(batch: &Value, parts: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let b = "fieldsync-flood";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{b}\r\nContent-Disposition: form-data; name=\"batch\"\r\nContent-Type: application/json\r\n\r\n{batch}\r\n").as_bytes());
    for (id, bytes) in parts {
        body.extend_from_slice(format!("--{b}\r\nContent-Disposition: form-data; name=\"photo:{id}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .env_clear()
        .env("FIELDSYNC_DATA_DIR", tmp.path())
        .env("FIELDSYNC_ADMIN_PASSWORD", PASSWORD)
        .env("FIELDSYNC_BIND", "127.0.0.1:0")
        .env("FIELDSYNC_WORKERS", "2")
        .env("FIELDSYNC_PHOTO_WORKERS", WORKERS.to_string())
        .env("FIELDSYNC_LOG", "warn")
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn fieldsync");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines.next().expect("serve exited").expect("stdout");
        if let Some(a) = line.strip_prefix("fieldsync listening on ") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let cl = common::Client {
        base: base.clone(),
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into(),
    };
    let (_g, site, tpl, token) = common::district(&cl, PASSWORD);
    let at_rest = status_kb(pid, "VmRSS:") / 1024.0;

    println!("making the photos (3 x 62 MP JPEG, 3 x 20 MP PNG)...");
    let big_jpeg = jpeg(9600, 6460);
    let big_png = png(5000, 4000);
    // All six in one push: their jobs start together with the flood.
    let (mut items, mut metas, mut parts, mut photos) = (vec![], vec![], vec![], vec![]);
    for (k, (bytes, ct)) in [
        (&big_jpeg, "image/jpeg"),
        (&big_jpeg, "image/jpeg"),
        (&big_jpeg, "image/jpeg"),
        (&big_png, "image/png"),
        (&big_png, "image/png"),
        (&big_png, "image/png"),
    ]
    .into_iter()
    .enumerate()
    {
        // The same bytes three times over would be one decode (one
        // blob); a byte appended after the image's end makes each its own.
        let mut bytes = bytes.clone();
        bytes.push(k as u8);
        let (insp, photo) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        items.push(
            json!({"id": insp, "site_id": site, "template_id": tpl, "base_version": 0,
            "fields": {"title": "大图"}, "changed_at": {"title": "2026-11-20T02:13:00Z"}}),
        );
        metas.push(json!({"id": photo, "inspection_id": insp, "sha256": sha, "bytes": bytes.len(), "content_type": ct}));
        parts.push((photo.clone(), bytes));
        photos.push(photo);
    }
    let batch = json!({"device_id": uuid::Uuid::new_v4(), "batch_id": uuid::Uuid::new_v4(),
        "inspections": items, "photos": metas});
    let (ctype, body) = multipart(&batch, &parts);
    drop(parts);
    let r: Value = cl
        .agent
        .post(format!("{base}/api/v1/sync/push"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", ctype)
        .send(&body[..])
        .expect("push")
        .body_mut()
        .read_json()
        .expect("answer");
    drop(body);
    let applied = r["results"].as_array().map_or(0, |rs| {
        rs.iter().filter(|x| x["status"] == "applied").count()
    });
    assert_eq!(applied, 12, "{r}");
    drop(big_jpeg);
    drop(big_png);

    let started = Instant::now();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let (cl, token, photo) = (&cl, &token, &photos[i % photos.len()]);
                s.spawn(move || {
                    cl.agent
                        .get(format!("{}/api/v1/photos/{photo}/display", cl.base))
                        .header("Authorization", format!("Bearer {token}"))
                        .call()
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let took = started.elapsed();
    let peak = status_kb(pid, "VmHWM:") / 1024.0;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let busy = statuses.iter().filter(|s| **s == 503).count();
    let budget = WORKERS as f64 * fieldsync::photos::jobs::DECODE_BUDGET_MIB as f64;
    println!(
        "{REQUESTS} parallel display requests of 6 photos: {ok} x 200, {busy} x 503, {took:.1?}"
    );
    println!("server RSS at rest:  {at_rest:.1} MB");
    println!("server peak RSS:     {peak:.1} MB");
    println!(
        "budget:              {WORKERS} workers x {} MiB + base {at_rest:.0} MB = {:.0} MB ({})",
        fieldsync::photos::jobs::DECODE_BUDGET_MIB,
        budget + at_rest,
        if peak <= budget + at_rest {
            "within"
        } else {
            "OVER"
        }
    );
    let _ = child.kill();
    let _ = child.wait();
}
