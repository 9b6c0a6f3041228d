//! Videos as photo items over HTTP: multipart and tus, what their
//! containers say, variants made by ffmpeg (and waiting for it when it is
//! absent), `Range` on every media URL, hostile files, a hung ffmpeg.
//!
//! The tests that run ffmpeg need it on PATH; without it they are skipped
//! with a message, unless `FIELDSYNC_REQUIRE_FFMPEG` is set (as `.ci/run`
//! does), where its absence fails them.

use crate::helpers::*;
use crate::uploads::{h, patch, tus_request};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn video_fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/video/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// ffmpeg and ffprobe on PATH, or None (skipped) where that is allowed.
pub fn ffmpeg() -> Option<(PathBuf, PathBuf)> {
    let found = fieldsync::photos::ffmpeg::find(None);
    let probe = found
        .as_ref()
        .map(|f| f.with_file_name("ffprobe"))
        .filter(|p| p.exists());
    match (found, probe) {
        (Some(f), Some(p)) => Some((f, p)),
        _ => {
            assert!(
                std::env::var_os("FIELDSYNC_REQUIRE_FFMPEG").is_none(),
                "ffmpeg and ffprobe (Debian's ffmpeg) are required here"
            );
            eprintln!("video test skipped: install Debian's ffmpeg to run it");
            None
        }
    }
}

/// What ffprobe says of a file's first video stream and its format.
fn ffprobe(probe: &std::path::Path, bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("v");
    std::fs::write(&f, bytes).unwrap();
    let out = std::process::Command::new(probe)
        .args(["-v", "error", "-print_format", "json", "-show_streams"])
        .args(["-show_format"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn push_video(
    app: &TestApp,
    d: &District,
    t: &str,
    bytes: &[u8],
    ct: &str,
    with_bytes: bool,
) -> (String, String, Value) {
    let (id, photo) = (uuid(), uuid());
    let mut meta = photo_meta(&photo, &id, bytes, ct);
    meta["kind"] = json!("video");
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id, d, json!({"title": "桃花河排口视频", "started_at": "2026-11-30T00:30:00Z", "finished_at": "2026-11-30T01:30:00Z"}), T0)],
        "photos": [meta]});
    let parts: Vec<(&str, &[u8])> = if with_bytes {
        vec![(photo.as_str(), bytes)]
    } else {
        vec![]
    };
    let r = app.push_multipart(t, &batch, &parts).ok(200);
    (id, photo, r)
}

/// Waits until `cond` holds of the pulled item.
fn wait_for(
    app: &TestApp,
    t: &str,
    photo: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let p = app.pulled_photos(t).remove(photo).expect("in pull");
        if cond(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "{what}: {p}");
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `Range` on a media URL: one range 206 with its Content-Range, past the
/// end 416, and Accept-Ranges on the whole.
fn ranges_work(app: &TestApp, url: &str, whole: &[u8]) {
    let (s, hs, body) = app.get_bytes(url, "", &[]);
    assert_eq!(s, 200);
    assert_eq!(body, whole);
    assert_eq!(header(&hs, "accept-ranges"), Some("bytes"));
    assert!(header(&hs, "etag").is_some());
    let (s, hs, body) = app.get_bytes(url, "", &[("Range", "bytes=100-1099")]);
    assert_eq!(s, 206, "{url}");
    assert_eq!(body, &whole[100..1100]);
    assert_eq!(
        header(&hs, "content-range"),
        Some(format!("bytes 100-1099/{}", whole.len()).as_str())
    );
    let (s, _, body) = app.get_bytes(url, "", &[("Range", "bytes=-500")]);
    assert_eq!((s, body.as_slice()), (206, &whole[whole.len() - 500..]));
    let (s, hs, _) = app.get_bytes(
        url,
        "",
        &[("Range", &format!("bytes={}-", whole.len() + 10))],
    );
    assert_eq!(s, 416);
    assert_eq!(
        header(&hs, "content-range"),
        Some(format!("bytes */{}", whole.len()).as_str())
    );
}

#[test]
fn a_phone_video_is_read_made_into_variants_and_served_with_ranges() {
    let Some((_, probe)) = ffmpeg() else { return };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = video_fixture("h264_rot90_location.mp4");
    let (id, photo, r) = push_video(&app, &d, &t, &bytes, "video/mp4", true);
    assert_eq!(r["results"][1]["status"], "applied", "{r}");
    assert_eq!(r["photos_missing"], json!([]));

    let p = wait_for(&app, &t, &photo, "variants", |p| p["status"] == "ready");
    assert_eq!(p["kind"], "video");
    assert_eq!(p["content_type"], "video/mp4");
    let ms = p["duration_ms"].as_i64().unwrap();
    assert!((ms - 2000).abs() <= 40, "duration within 2%: {ms}");
    assert_eq!(
        p["video"],
        json!({"codec": "h264", "width": 240, "height": 320, "rotation": 90})
    );
    assert_eq!(
        (p["width"].as_i64(), p["height"].as_i64()),
        (Some(240), Some(320))
    );
    assert_eq!(p["exif"]["lat"], json!(31.2304));
    assert_eq!(p["exif"]["lon"], json!(121.4737));
    assert_eq!(p["exif"]["taken_at"], "2026-11-30T01:02:03Z");
    // The record's window is 00:30-01:30 UTC plus half an hour: inside.
    assert_eq!(p["checks"]["within_time_window"], true);
    assert!(p.get("variants_pending").is_none(), "{p}");

    // The poster: upright, a JPEG; the thumb too.
    let urls = &p["urls"];
    let (s, hs, poster) = app.get_bytes(urls["poster"].as_str().unwrap(), "", &[]);
    assert_eq!(s, 200);
    assert_eq!(header(&hs, "content-type"), Some("image/jpeg"));
    let img = image::load_from_memory(&poster).unwrap();
    assert_eq!((img.width(), img.height()), (240, 320));
    let (_, _, thumb) = app.get_bytes(urls["thumb"].as_str().unwrap(), "", &[]);
    assert_eq!(image::load_from_memory(&thumb).unwrap().height(), 320);

    // display: H.264 in MP4, upright, index at the front, no position.
    let (s, hs, display) = app.get_bytes(urls["display"].as_str().unwrap(), "", &[]);
    assert_eq!(s, 200);
    assert_eq!(header(&hs, "content-type"), Some("video/mp4"));
    let info = ffprobe(&probe, &display);
    let v = &info["streams"][0];
    assert_eq!(v["codec_name"], "h264", "{info}");
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(240), Some(320))
    );
    let moov = display.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = display.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat, "faststart: the index before the data");
    assert!(
        !display.windows(8).any(|w| w == b"+31.2304"),
        "no position in display"
    );

    // The original as received, with Range; display too.
    let (_, hs, original) = app.get_bytes(urls["original"].as_str().unwrap(), "", &[]);
    assert_eq!(original, bytes);
    assert_eq!(header(&hs, "content-type"), Some("video/mp4"));
    ranges_work(&app, urls["original"].as_str().unwrap(), &bytes);
    ranges_work(&app, urls["display"].as_str().unwrap(), &display);

    // The reviewer sees the same object in the record.
    let coord = app.login("zhoumin", PASSWORD);
    let rec = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    assert_eq!(rec["photos"][0]["kind"], "video");
    assert_eq!(rec["photos"][0]["duration_ms"], p["duration_ms"]);

    // The review page plays it (display, then the original as fallback),
    // the printed report shows its poster and length, exports count it
    // apart from photos.
    let web = crate::webui::Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get(&format!("/review/inspections/{id}"), &s).body;
    let player = &page[page.find("<video").expect("a player")..];
    let player = &player[..player.find("</video>").unwrap()];
    assert!(player.contains("poster=\"/api/v1/photos/"), "{player}");
    let display = player.find("/display?").expect("display source");
    let original = player.find("/original?").expect("original source");
    assert!(display < original, "display first: {player}");
    assert!(page.contains("视频 0:02"), "length shown");
    let print = web.get(&format!("/review/inspections/{id}/print"), &s).body;
    assert!(print.contains("/poster?"), "poster in print");
    assert!(print.contains("视频 0:02"));
    let (_, _, csv) = app.get_bytes("/api/v1/reports/inspections.csv", &coord, &[]);
    let csv = String::from_utf8_lossy(&csv).to_string();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .split(',')
        .collect();
    let row: Vec<&str> = lines
        .find(|l| l.starts_with(&id))
        .unwrap()
        .split(',')
        .collect();
    let col = |name: &str| row[head.iter().position(|h| *h == name).unwrap()];
    assert_eq!((col("photos"), col("videos")), ("0", "1"), "{csv}");
    let geo = app
        .get("/api/v1/reports/inspections.geojson", &coord)
        .ok(200);
    let f = geo["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(f["properties"]["photo_count"], 0);
    assert_eq!(f["properties"]["video_count"], 1);
}

#[test]
fn an_iphone_hevc_mov_goes_up_by_tus_and_a_webm_by_multipart() {
    let Some((_, probe)) = ffmpeg() else { return };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let mov = video_fixture("hevc_iphone_keys.mov");
    let (_, photo, r) = push_video(&app, &d, &t, &mov, "video/quicktime", false);
    assert_eq!(r["photos_missing"], json!([photo]));
    let meta = format!("photo_id {}", STANDARD.encode(&photo));
    let (s, hs) = tus_request(
        &app,
        "POST",
        "/api/v1/uploads",
        &t,
        &[
            ("Upload-Length", mov.len().to_string()),
            ("Upload-Metadata", meta),
        ],
        b"",
    );
    assert_eq!(s, 201);
    let loc = h(&hs, "location").unwrap().to_string();
    // In three pieces, as a phone on a poor link sends it.
    let third = mov.len() / 3;
    let mut at = 0;
    for end in [third, 2 * third, mov.len()] {
        let (s, hs) = patch(&app, &loc, &t, at, &mov[at..end], Some(&mov[at..end]));
        assert_eq!(s, 204);
        at = h(&hs, "upload-offset").unwrap().parse().unwrap();
    }
    let p = wait_for(&app, &t, &photo, "mov variants", |p| p["status"] == "ready");
    assert_eq!(p["content_type"], "video/quicktime");
    assert_eq!(p["video"]["codec"], "hevc");
    assert_eq!(
        (p["width"].as_i64(), p["height"].as_i64()),
        (Some(640), Some(360))
    );
    assert_eq!(p["exif"]["lat"], json!(22.5431));
    assert_eq!(p["exif"]["taken_at"], "2026-11-30T13:30:00Z");
    let (_, _, display) = app.get_bytes(p["urls"]["display"].as_str().unwrap(), "", &[]);
    assert_eq!(
        ffprobe(&probe, &display)["streams"][0]["codec_name"],
        "h264"
    );

    let webm = video_fixture("vp9.webm");
    let (_, photo, _) = push_video(&app, &d, &t, &webm, "video/webm", true);
    let p = wait_for(&app, &t, &photo, "webm variants", |p| {
        p["status"] == "ready"
    });
    assert_eq!(p["video"]["codec"], "vp9");
    let ms = p["duration_ms"].as_i64().unwrap();
    assert!((ms - 2000).abs() <= 40, "{ms}");
    let (_, _, display) = app.get_bytes(p["urls"]["display"].as_str().unwrap(), "", &[]);
    let info = ffprobe(&probe, &display);
    assert_eq!(info["streams"][0]["codec_name"], "h264");
    assert_eq!(info["streams"][0]["width"], 320);
}

#[test]
fn videos_made_by_ffmpeg_in_the_test_are_read_to_within_two_percent() {
    let Some((ffmpeg, probe)) = ffmpeg() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("long.mp4");
    // 12.5 s of 1080p-wide test pattern with sound.
    let ok = std::process::Command::new(&ffmpeg)
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc=size=640x360:rate=25:duration=12.5")
        .args(["-f", "lavfi", "-i", "sine=frequency=300:duration=12.5"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-shortest"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(ok.success());
    let bytes = std::fs::read(&out).unwrap();
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let (_, photo, _) = push_video(&app, &d, &t, &bytes, "video/mp4", true);
    let p = wait_for(&app, &t, &photo, "variants", |p| p["status"] == "ready");
    let ms = p["duration_ms"].as_f64().unwrap();
    assert!((ms - 12_500.0).abs() / 12_500.0 < 0.02, "{ms}");
    // The poster is the frame half a second in, as ffmpeg gives it.
    let frame = dir.path().join("frame.png");
    let ok = std::process::Command::new(&ffmpeg)
        .args(["-v", "error", "-ss", "0.5", "-i"])
        .arg(&out)
        .args(["-frames:v", "1"])
        .arg(&frame)
        .status()
        .unwrap();
    assert!(ok.success());
    let want = image::open(&frame).unwrap().to_rgb8();
    let (_, _, poster) = app.get_bytes(p["urls"]["poster"].as_str().unwrap(), "", &[]);
    let got = image::load_from_memory(&poster).unwrap().to_rgb8();
    assert_eq!(got.dimensions(), want.dimensions());
    let diff: f64 = got
        .as_raw()
        .iter()
        .zip(want.as_raw())
        .map(|(a, b)| f64::from((i16::from(*a) - i16::from(*b)).unsigned_abs()))
        .sum::<f64>()
        / got.as_raw().len() as f64;
    assert!(
        diff < 6.0,
        "poster differs from the frame by {diff} a channel"
    );
    let (_, _, display) = app.get_bytes(p["urls"]["display"].as_str().unwrap(), "", &[]);
    let info = ffprobe(&probe, &display);
    let d: f64 = info["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (d - 12.5).abs() < 0.25,
        "display plays its whole length: {d}"
    );
}

#[test]
fn without_ffmpeg_a_video_is_kept_checked_and_served_and_made_later() {
    let mut app = TestApp::spawn_with(|c| {
        c.ffmpeg = Some(PathBuf::from("/nonexistent/ffmpeg"));
    });
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = video_fixture("h264_rot90_location.mp4");
    let (_, photo, _) = push_video(&app, &d, &t, &bytes, "video/mp4", true);
    let p = wait_for(&app, &t, &photo, "metadata", |p| {
        p["variants_pending"] == "ffmpeg not installed"
    });
    assert_eq!(p["status"], "stored");
    assert_eq!(p["video"]["rotation"], 90);
    assert_eq!(p["exif"]["lat"], json!(31.2304));
    ranges_work(&app, p["urls"]["original"].as_str().unwrap(), &bytes);
    let r = app.get(&format!("/api/v1/photos/{photo}/poster"), &t);
    assert_eq!((r.status, r.code()), (404, "variant_pending"));
    let ready = app.get("/readyz", "").ok(200);
    assert_eq!(ready["tools"]["ffmpeg"], false);
    assert!(ready["missing"][0].as_str().unwrap().contains("ffmpeg"));
    // The admin console says it too, in Chinese.
    let web = crate::webui::Web::new(&app);
    let s = crate::admin_console::admin(&web);
    let page = web.get("/admin", &s).body;
    assert!(page.contains("未安装 ffmpeg"), "{page}");
    // Waiting for a tool is not an attempt.
    assert_eq!(
        app.sql_text(&format!(
            "SELECT CAST(attempts AS TEXT) || needs AS v FROM photo_jobs WHERE photo_id = '{photo}'"
        ))
        .as_deref(),
        Some("0ffmpeg")
    );

    // Installed later: the same server, restarted with ffmpeg found.
    if fieldsync::photos::ffmpeg::find(None).is_none() {
        assert!(std::env::var_os("FIELDSYNC_REQUIRE_FFMPEG").is_none());
        return;
    }
    app.config.ffmpeg = None;
    let app = app.restart();
    let t = app.login("liming", PASSWORD);
    let p = wait_for(&app, &t, &photo, "made later", |p| p["status"] == "ready");
    assert!(p.get("variants_pending").is_none(), "{p}");
    assert_eq!(
        app.get_bytes(p["urls"]["poster"].as_str().unwrap(), "", &[])
            .0,
        200
    );
}

#[test]
fn hostile_videos_are_refused_quickly_and_the_server_carries_on() {
    let app = TestApp::spawn_with(|c| c.max_video_secs = 1);
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let real = video_fixture("h264_rot90_location.mp4");
    for (what, bytes, code) in hostile_cases() {
        let started = Instant::now();
        let (_, photo, r) = push_video(&app, &d, &t, &bytes, "video/mp4", true);
        assert!(started.elapsed() < Duration::from_secs(3), "{what}: slow");
        let rejected = r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == photo.as_str())
            .unwrap_or_else(|| panic!("{what}: {r}"));
        assert_eq!(rejected["status"], "rejected", "{what}: {r}");
        assert_eq!(rejected["error"]["code"], code, "{what}: {r}");
    }
    // An image's bytes sent as a video, and a video's sent as a photo.
    let jpeg = fixture("canon_sx530_IMG_1054.jpg");
    let (_, photo, r) = push_video(&app, &d, &t, &jpeg, "video/mp4", true);
    let x = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == photo.as_str())
        .unwrap()
        .clone();
    assert_eq!(x["error"]["code"], "unsupported_media_type", "{r}");
    let (_, photo, r) = app.push_with_photo(&d, &t, &real, "image/jpeg");
    let x = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == photo.as_str())
        .unwrap()
        .clone();
    assert_eq!(x["error"]["code"], "unsupported_media_type", "{r}");
    // A declared size over the limit is refused from the metadata.
    let (id, photo) = (uuid(), uuid());
    let mut meta = photo_meta(&photo, &id, &real, "video/mp4");
    meta["bytes"] = json!(600u64 * 1024 * 1024);
    let r = app
        .push(
            &t,
            &uuid(),
            vec![new_inspection(&id, &d, json!({"title": "x"}), T0)],
            vec![meta],
        )
        .ok(200);
    assert_eq!(r["results"][1]["status"], "rejected", "{r}");
    assert_eq!(r["results"][1]["error"]["field"], "bytes", "{r}");
    app.get("/readyz", "").ok(200);
}

/// Bytes that claim to be a video: (what, bytes, the refusal's code).
fn hostile_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut random = vec![0u8; 200_000];
    rand_fill(&mut random);
    let real = video_fixture("h264_rot90_location.mp4");
    let mut terabyte = real[..32].to_vec();
    terabyte.extend_from_slice(&1u32.to_be_bytes());
    terabyte.extend_from_slice(b"moov");
    terabyte.extend_from_slice(&(1u64 << 40).to_be_bytes());
    terabyte.extend_from_slice(&[0u8; 4096]);
    let mut tiny = real[..32].to_vec();
    let mut moov = Vec::new();
    for _ in 0..1_000_000 {
        moov.extend_from_slice(&8u32.to_be_bytes());
        moov.extend_from_slice(b"free");
    }
    tiny.extend_from_slice(&((moov.len() + 8) as u32).to_be_bytes());
    tiny.extend_from_slice(b"moov");
    tiny.extend_from_slice(&moov);
    vec![
        ("random bytes", random, "unsupported_media_type"),
        (
            "truncated",
            real[..real.len() / 2].to_vec(),
            "corrupt_image",
        ),
        ("a moov claiming a terabyte", terabyte, "corrupt_image"),
        ("a million tiny boxes", tiny, "corrupt_image"),
        ("over the duration limit", real, "too_large"),
    ]
}

/// The same hostile files, ten times each, to a server process of its own:
/// its memory stays bounded (the index read at most, `mdat` never).
#[test]
fn hostile_videos_keep_a_servers_memory_bounded() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.max_video_secs = 1;
    let (d, token) = {
        let app = TestApp::start(config);
        let d = District::new(&app);
        (d, app.login("liming", PASSWORD))
    };
    let (mut child, base, _) = spawn_serve_with(data.path(), &[("FIELDSYNC_MAX_VIDEO_SECS", "1")]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for _ in 0..10 {
        for (what, bytes, code) in hostile_cases() {
            let (id, photo) = (uuid(), uuid());
            let mut meta = photo_meta(&photo, &id, &bytes, "video/mp4");
            meta["kind"] = json!("video");
            let batch = json!({"device_id": uuid(), "batch_id": uuid(),
                "inspections": [new_inspection(&id, &d, json!({"title": "x"}), T0)],
                "photos": [meta]});
            let (ct, body) = multipart(&batch, &[(photo.as_str(), &bytes)]);
            let r: Value = agent
                .post(format!("{base}/api/v1/sync/push"))
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", &ct)
                .send(&body[..])
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap();
            assert_eq!(r["results"][1]["error"]["code"], code, "{what}: {r}");
        }
    }
    let hwm_kb = peak_rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    eprintln!(
        "server peak RSS after 50 hostile videos: {} MB",
        hwm_kb / 1024
    );
    assert!(hwm_kb < 256 * 1024, "peak RSS {} MB", hwm_kb / 1024);
}

fn rand_fill(buf: &mut [u8]) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in buf.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

#[test]
fn a_hung_ffmpeg_is_killed_at_its_limit_and_the_job_tried_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("ffmpeg");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.ffmpeg = Some(fake.clone());
        c.video_timeout_secs = 1;
    });
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = video_fixture("vp9.webm");
    let started = Instant::now();
    let (_, photo, _) = push_video(&app, &d, &t, &bytes, "video/webm", true);
    let p = wait_for(&app, &t, &photo, "killed", |p| {
        p["variants_pending"]
            .as_str()
            .is_some_and(|s| s.contains("超过"))
    });
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(p["status"], "stored", "the original is still there");
    assert_eq!(p["video"]["codec"], "vp9", "read before the transcode");
    let job = app
        .sql_text(&format!(
            "SELECT CAST(attempts AS TEXT) || ' ' || status || ' ' || last_error AS v FROM photo_jobs WHERE photo_id = '{photo}'"
        ))
        .unwrap();
    assert!(job.starts_with("1 queued ffmpeg 运行超过 1 秒"), "{job}");
    // No child left behind.
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "sleep 600"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert!(ps.is_empty(), "the hung child was killed: {ps}");
    // The server answers on.
    app.get("/readyz", "").ok(200);
}

/// Sixteen people open 1080p videos at once, while the server is still
/// making their variants and after: the server (a process of its own)
/// stays under 1 GB.
#[test]
fn sixteen_parallel_video_requests_keep_the_server_under_a_gigabyte() {
    let Some((ffmpeg, _)) = ffmpeg() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("clip.mp4");
    let ok = std::process::Command::new(&ffmpeg)
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1920x1080:rate=30:duration=4")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(ok.success());
    let bytes = std::fs::read(&clip).unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = test_config(data.path());
    let (d, token) = {
        let app = TestApp::start(config.clone());
        let d = District::new(&app);
        (d, app.login("liming", PASSWORD))
    };
    let ff = ffmpeg.display().to_string();
    let (mut child, base, _) = spawn_serve_with(data.path(), &[("FIELDSYNC_FFMPEG", &ff)]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut photos = Vec::new();
    for _ in 0..4 {
        let (id, photo) = (uuid(), uuid());
        let mut meta = photo_meta(&photo, &id, &bytes, "video/mp4");
        meta["kind"] = json!("video");
        let batch = json!({"device_id": uuid(), "batch_id": uuid(),
            "inspections": [new_inspection(&id, &d, json!({"title": "1080p"}), T0)],
            "photos": [meta]});
        let (ct, body) = multipart(&batch, &[(photo.as_str(), &bytes)]);
        let r = agent
            .post(format!("{base}/api/v1/sync/push"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", &ct)
            .send(&body[..])
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        photos.push(photo);
    }
    let hammer = |round: &str| {
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let (agent, base, token) = (agent.clone(), base.clone(), token.clone());
                let photo = photos[i % photos.len()].clone();
                let variant = if i % 2 == 0 { "poster" } else { "display" };
                std::thread::spawn(move || {
                    let mut r = agent
                        .get(format!("{base}/api/v1/photos/{photo}/{variant}"))
                        .header("Authorization", format!("Bearer {token}"))
                        .call()
                        .unwrap();
                    let status = r.status().as_u16();
                    let n = r
                        .body_mut()
                        .with_config()
                        .limit(1 << 30)
                        .read_to_vec()
                        .map_or(0, |b| b.len());
                    (status, n)
                })
            })
            .collect();
        for t in threads {
            let (status, _) = t.join().unwrap();
            assert!(status == 200 || status == 404, "{round}: {status}");
        }
    };
    hammer("while the variants are made");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut r = agent
            .get(format!(
                "{base}/api/v1/photos/{}/display",
                photos[photos.len() - 1]
            ))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        let _ = r.body_mut().read_to_vec();
        if r.status().as_u16() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "variants never made");
        std::thread::sleep(Duration::from_millis(300));
    }
    for _ in 0..3 {
        hammer("once made");
    }
    let hwm_kb = peak_rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("server peak RSS {} MB", hwm_kb / 1024);
    assert!(hwm_kb < 1024 * 1024, "peak RSS {} MB", hwm_kb / 1024);
}

/// The contract as OpenAPI states it: a photo item's kind may be a
/// video, and a video's fields are described.
#[test]
fn openapi_describes_videos() {
    let app = TestApp::spawn();
    let doc = app.get("/api/v1/openapi.json", "").ok(200);
    let schemas = &doc["components"]["schemas"];
    let photo = &schemas["Photo"]["properties"];
    for field in [
        "duration_ms",
        "video",
        "variants_pending",
        "original_dropped_at",
        "kind",
    ] {
        assert!(
            photo.get(field).is_some(),
            "Photo.{field}: {}",
            schemas["Photo"]
        );
    }
    assert!(
        schemas["PhotoKind"].to_string().contains("\"video\""),
        "{}",
        schemas["PhotoKind"]
    );
    let track = &schemas["VideoTrack"]["properties"];
    for field in ["codec", "width", "height", "rotation"] {
        assert!(track.get(field).is_some(), "VideoTrack.{field}");
    }
    let bytes = doc["paths"]["/api/v1/photos/{id}/{variant}"]["get"].to_string();
    assert!(bytes.contains("poster") && bytes.contains("206") && bytes.contains("416"));
}
