//! Photos over HTTP: multipart push, variants, serving, signed URLs, EXIF
//! checks, bad bytes, restarts with jobs pending, shared blobs.

use crate::helpers::*;
use serde_json::json;

fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn dims(jpeg: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(jpeg).expect("a decodable image");
    (img.width(), img.height())
}

#[test]
fn multipart_push_makes_upright_variants_served_with_signed_urls() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (_, photo, r) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
    assert_eq!(r["results"][1]["status"], "applied", "{r}");
    assert_eq!(r["photos_missing"], json!([]));

    let p = app.wait_photo(&t, &photo);
    assert_eq!(p["status"], "ready");
    assert_eq!(
        (p["width"].as_i64(), p["height"].as_i64()),
        (Some(1280), Some(960))
    );
    let urls = &p["urls"];
    // Signed URLs work without a token.
    let (s, hs, thumb) = app.get_bytes(urls["thumb"].as_str().unwrap(), "", &[]);
    assert_eq!(s, 200);
    assert_eq!(header(&hs, "content-type"), Some("image/jpeg"));
    assert_eq!(header(&hs, "x-content-type-options"), Some("nosniff"));
    assert!(
        header(&hs, "cache-control")
            .unwrap()
            .contains("max-age=31536000")
    );
    assert_eq!(dims(&thumb), (320, 240));
    assert!(!thumb.windows(4).any(|w| w == b"Exif"));
    let (_, _, display) = app.get_bytes(urls["display"].as_str().unwrap(), "", &[]);
    assert_eq!(dims(&display), (1280, 960), "never enlarged");
    let (_, hs, original) = app.get_bytes(urls["original"].as_str().unwrap(), "", &[]);
    assert_eq!(original, bytes, "the original is kept as received");
    assert_eq!(header(&hs, "content-type"), Some("image/jpeg"));

    // ETag and If-None-Match.
    let etag = header(&hs, "etag").unwrap().to_string();
    let (s, _, body) = app.get_bytes(
        urls["original"].as_str().unwrap(),
        "",
        &[("If-None-Match", &etag)],
    );
    assert_eq!((s, body.len()), (304, 0));

    // The bearer token works too; a tampered or expired signature does not.
    let (s, _, _) = app.get_bytes(&format!("/api/v1/photos/{photo}/thumb"), &t, &[]);
    assert_eq!(s, 200);
    let tampered = urls["thumb"]
        .as_str()
        .unwrap()
        .replace("/thumb?", "/display?");
    assert_eq!(app.get_bytes(&tampered, "", &[]).0, 403);
    let signer = fieldsync::photos::urls::Signer::new(JWT_SECRET.as_bytes(), 3600);
    let old = signer.url(&photo, "thumb", chrono::Utc::now().timestamp() - 10 * 86400);
    assert_eq!(app.get_bytes(&old, "", &[]).0, 403);
    assert_eq!(
        app.get_bytes(&format!("/api/v1/photos/{photo}/thumb"), "", &[])
            .0,
        401
    );
    // Out of scope: another group's inspector gets 404.
    let chen = app.login("chengang", PASSWORD);
    assert_eq!(
        app.get_bytes(&format!("/api/v1/photos/{photo}/thumb"), &chen, &[])
            .0,
        404
    );
    assert_eq!(
        app.get_bytes(&format!("/api/v1/photos/{photo}/huge"), &t, &[])
            .0,
        404
    );
}

#[test]
fn orientation_is_applied_to_variants() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    for (name, upright) in [
        ("synthetic_orientation_3.jpg", (50, 70)),
        ("synthetic_orientation_6.jpg", (50, 70)),
        ("synthetic_orientation_8.jpg", (50, 70)),
    ] {
        let bytes = fixture(name);
        let (_, photo, _) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
        let p = app.wait_photo(&t, &photo);
        assert_eq!(
            (
                p["width"].as_u64().unwrap() as u32,
                p["height"].as_u64().unwrap() as u32
            ),
            upright,
            "{name}"
        );
        let (_, _, display) = app.get_bytes(p["urls"]["display"].as_str().unwrap(), "", &[]);
        assert_eq!(dims(&display), upright, "{name}");
    }
}

#[test]
fn exif_position_and_time_are_checked_against_the_site_and_the_record() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    // A real phone photo taken in Brazil on 2019-12-24 23:48 local time.
    let bytes = fixture("xiaomi_IMG_20191224_234846.jpg");
    let (id, photo, _) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
    let p = app.wait_photo(&t, &photo);
    assert!(
        (p["exif"]["lat"].as_f64().unwrap() + 15.8356).abs() < 0.001,
        "{p}"
    );
    assert_eq!(p["checks"]["within_site_radius"], false);
    assert!(p["checks"]["distance_to_site_m"].as_f64().unwrap() > 1_000_000.0);
    assert!(p["exif"]["taken_at"].is_string());
    let (pages, _) = app.pull_all(&t, None);
    let insp = pages
        .iter()
        .flat_map(|p| p["changes"]["inspections"].as_array().unwrap().clone())
        .find(|i| i["id"] == id.as_str())
        .unwrap();
    assert_eq!(insp["checks"]["photos_off_site"], 1);
}

#[test]
fn bad_bytes_are_refused_per_photo_and_change_nothing() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let id = uuid();
    let jpg = fixture("canon_sx530_IMG_1054.jpg");
    let pdf = b"%PDF-1.7 this is not a photo at all".to_vec();
    let avif = fixture("mimetype_avif.avif");
    let (p_sha, p_pdf, p_avif, p_ok) = (uuid(), uuid(), uuid(), uuid());
    let mut wrong = photo_meta(&p_sha, &id, &jpg, "image/jpeg");
    wrong["sha256"] = json!("0".repeat(64));
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id, &d, json!({"title": "x"}), T0)],
        "photos": [wrong, photo_meta(&p_pdf, &id, &pdf, "image/jpeg"), photo_meta(&p_avif, &id, &avif, "image/avif"),
                   photo_meta(&p_ok, &id, &jpg, "image/jpeg")]});
    let r = app
        .push_multipart(
            &t,
            &batch,
            &[
                (p_sha.as_str(), &jpg),
                (p_pdf.as_str(), &pdf),
                (p_avif.as_str(), &avif),
                (p_ok.as_str(), &jpg),
            ],
        )
        .ok(200);
    let res = r["results"].as_array().unwrap();
    assert_eq!(res[0]["status"], "applied");
    assert_eq!(res[1]["error"]["code"], "checksum_mismatch");
    assert_eq!(res[2]["error"]["code"], "unsupported_media_type");
    assert_eq!(res[3]["error"]["code"], "unsupported_media_type");
    assert!(
        res[3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("avif")
    );
    assert_eq!(res[4]["status"], "applied");
    let photos = app.pulled_photos(&t);
    assert_eq!(
        photos.keys().cloned().collect::<Vec<_>>(),
        vec![p_ok.clone()]
    );

    // Too many pixels: refused from the header, before any decoding.
    let app2 = TestApp::spawn_with(|c| c.max_photo_pixels = 100_000);
    let d2 = District::new(&app2);
    let t2 = app2.login("liming", PASSWORD);
    let (_, _, r) = app2.push_with_photo(&d2, &t2, &jpg, "image/jpeg");
    assert_eq!(r["results"][1]["error"]["code"], "too_many_pixels");

    // A photo part over the byte limit fails the whole push with 413.
    let app3 = TestApp::spawn_with(|c| c.max_photo_bytes = 10_000);
    let d3 = District::new(&app3);
    let t3 = app3.login("liming", PASSWORD);
    let (id3, ph3) = (uuid(), uuid());
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id3, &d3, json!({"title": "x"}), T0)], "photos": [photo_meta(&ph3, &id3, &jpg, "image/jpeg")]});
    let r = app3.push_multipart(&t3, &batch, &[(ph3.as_str(), &jpg)]);
    assert_eq!(r.status, 413);
    let (pages, _) = app3.pull_all(&t3, None);
    assert!(pulled(&pages, "changes", "inspections").is_empty());
    // A declared size over the limit is refused from the metadata alone.
    let r = app3
        .push(
            &t3,
            &uuid(),
            vec![new_inspection(&id3, &d3, json!({"title": "x"}), T0)],
            vec![photo_meta(&ph3, &id3, &jpg, "image/jpeg")],
        )
        .ok(200);
    assert_eq!(r["results"][1]["error"]["code"], "too_large");

    // Malformed multipart bodies.
    let r = app.raw(
        "POST",
        "/api/v1/sync/push",
        &t,
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--x--\r\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "malformed_multipart");
}

#[test]
fn a_truncated_jpeg_fails_cleanly_and_the_server_lives_on() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let jpg = fixture("canon_sx530_IMG_1054.jpg");
    let cut = &jpg[..jpg.len() / 2];
    let (_, photo, r) = app.push_with_photo(&d, &t, cut, "image/jpeg");
    assert_eq!(
        r["results"][1]["status"], "applied",
        "the header is readable, so the bytes are kept"
    );
    let p = app.wait_photo(&t, &photo);
    assert!(p["status"] == "ready" || p["status"] == "failed", "{p}");
    assert_eq!(app.get("/healthz", "").status, 200);
    // And the original is served as received, whatever became of it.
    let (s, _, body) = app.get_bytes(&format!("/api/v1/photos/{photo}/original"), &t, &[]);
    assert_eq!((s, body.as_slice()), (200, cut));
}

#[test]
fn jobs_pending_at_a_restart_are_finished_after_it() {
    let app = TestApp::spawn_with(|c| c.photo_workers = Some(0));
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (_, photo, _) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(app.pulled_photos(&t)[&photo]["status"], "stored");
    // A variant asked for before its job ran is made on the spot.
    let (s, _, thumb) = app.get_bytes(&format!("/api/v1/photos/{photo}/thumb"), &t, &[]);
    assert_eq!((s, dims(&thumb)), (200, (320, 240)));

    let mut app = app;
    app.set_photo_workers(Some(1));
    let app = app.restart();
    let t = app.login("liming", PASSWORD);
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");
}

#[test]
fn the_same_bytes_are_stored_once() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let (base, t, bytes) = (app.base.clone(), t.clone(), bytes.clone());
            let (site, tpl) = (d.site_a.clone(), d.template.clone());
            std::thread::spawn(move || {
                let (id, photo) = (uuid(), uuid());
                let batch = json!({"device_id": uuid(), "batch_id": uuid(),
                    "inspections": [{"id": id, "site_id": site, "template_id": tpl, "fields": {"title": "x"}, "changed_at": {"title": T0}}],
                    "photos": [photo_meta(&photo, &id, &bytes, "image/jpeg")]});
                let (ct, body) = multipart(&batch, &[(photo.as_str(), &bytes)]);
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let r = agent
                    .post(format!("{base}/api/v1/sync/push"))
                    .header("Authorization", format!("Bearer {t}"))
                    .header("Content-Type", ct)
                    .send(&body[..])
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
                photo
            })
        })
        .collect();
    let photos: Vec<String> = senders.into_iter().map(|h| h.join().unwrap()).collect();
    for p in &photos {
        assert_eq!(app.wait_photo(&t, p)["status"], "ready");
    }
    let originals = app.blobs("originals");
    assert_eq!(originals.len(), 1, "{originals:?}");

    // Metadata alone for the same bytes: knowing a hash grants nothing,
    // the bytes must come for this photo (and are still stored once).
    let (id, photo) = (uuid(), uuid());
    let r = app
        .push(
            &t,
            &uuid(),
            vec![new_inspection(&id, &d, json!({"title": "y"}), T0)],
            vec![photo_meta(&photo, &id, &bytes, "image/jpeg")],
        )
        .ok(200);
    assert_eq!(r["photos_missing"], json!([photo]));
    let batch = json!({"device_id": uuid(), "batch_id": uuid(), "inspections": [],
        "photos": [photo_meta(&photo, &id, &bytes, "image/jpeg")]});
    let r = app
        .push_multipart(&t, &batch, &[(photo.as_str(), &bytes)])
        .ok(200);
    assert_eq!(r["photos_missing"], json!([]));
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");
    assert_eq!(app.blobs("originals").len(), 1);
}

#[test]
fn a_job_that_cannot_read_its_bytes_is_retried_with_backoff() {
    // The lost volume is played by moving a file away.
    let app = TestApp::spawn_on_files(|c| c.photo_workers = Some(0));
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("synthetic_orientation_3.jpg");
    let (_, photo, _) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
    // The disk loses the original (an unmounted volume, say).
    let sha = sha256_hex(&bytes);
    let original = app.dir.join("blobs/originals").join(&sha[..2]).join(&sha);
    let aside = app.dir.join("aside");
    std::fs::rename(&original, &aside).unwrap();

    let mut app = app;
    app.set_photo_workers(Some(1));
    let app = app.restart();
    let t = app.login("liming", PASSWORD);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        app.pulled_photos(&t)[&photo]["status"],
        "stored",
        "not failed: it will be retried"
    );
    let job = app
        .sql_text("SELECT status || ' ' || attempts || ' ' || coalesce(last_error, '') AS v FROM photo_jobs")
        .unwrap();
    assert!(
        job.starts_with("queued 1 "),
        "the first attempt failed and was queued again: {job}"
    );
    // The volume comes back; the next attempt (after a 2 s backoff) works.
    std::fs::rename(&aside, &original).unwrap();
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");
}

/// Several servers share the job queue: a job another server is running
/// (its lease still good) is left alone; once the lease runs out (that
/// server died) this one takes it and finishes it, and a late outcome of
/// the earlier claim no longer counts.
#[test]
fn a_running_job_is_taken_over_only_when_its_lease_runs_out() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("synthetic_orientation_3.jpg");
    let (_, photo, _) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");

    let at = |secs: i64| {
        (chrono::Utc::now() + chrono::Duration::seconds(secs))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    // Another server claimed it an hour ago for another hour.
    app.sql(&format!(
        "UPDATE photo_jobs SET status = 'running', attempts = 1, lease_until = '{}';
         UPDATE photos SET status = 'stored' WHERE id = '{photo}';",
        at(3600)
    ));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let job = || {
        app.sql_text("SELECT status || ' ' || attempts AS v FROM photo_jobs")
            .unwrap()
    };
    assert_eq!(job(), "running 1", "a good lease is respected");
    assert_eq!(app.pulled_photos(&t)[&photo]["status"], "stored");

    // That server died: its lease runs out and this one takes the job.
    app.sql(&format!("UPDATE photo_jobs SET lease_until = '{}'", at(-1)));
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");
    assert_eq!(job(), "done 2");
}

/// A resumed download of an original asks for a range: the same bytes and
/// headers whichever store keeps them (files, or an object store), served
/// in pieces, never read whole into memory.
#[test]
fn originals_are_served_in_ranges() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (_, photo, _) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
    let path = format!("/api/v1/photos/{photo}/original");
    let header = |hs: &[(String, String)], k: &str| {
        hs.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let n = bytes.len();

    let (s, hs, body) = app.get_bytes(&path, &t, &[]);
    assert_eq!(s, 200);
    assert_eq!(body, bytes);
    assert_eq!(header(&hs, "content-type").as_deref(), Some("image/jpeg"));
    assert_eq!(header(&hs, "accept-ranges").as_deref(), Some("bytes"));
    assert!(header(&hs, "etag").is_some_and(|e| e.starts_with('"')));

    let (s, hs, body) = app.get_bytes(&path, &t, &[("Range", "bytes=1000-1999")]);
    assert_eq!(s, 206);
    assert_eq!(body, &bytes[1000..2000]);
    assert_eq!(
        header(&hs, "content-range"),
        Some(format!("bytes 1000-1999/{n}"))
    );
    let (s, _, body) = app.get_bytes(&path, &t, &[("Range", &format!("bytes={}-", n - 10))]);
    assert_eq!((s, body.as_slice()), (206, &bytes[n - 10..]));
    let (s, _, body) = app.get_bytes(&path, &t, &[("Range", "bytes=-5")]);
    assert_eq!((s, body.as_slice()), (206, &bytes[n - 5..]));

    let (s, hs, _) = app.get_bytes(&path, &t, &[("Range", &format!("bytes={}-", n + 10))]);
    assert_eq!(s, 416);
    assert_eq!(header(&hs, "content-range"), Some(format!("bytes */{n}")));
}

/// The blob store the suite runs on (files, or the object store) takes a
/// file larger than one PUT in pieces and gives it back whole, in pieces
/// and in ranges; a directory of keys is listed and removed.
#[test]
fn the_blob_store_keeps_large_files_whole() {
    use futures_util::StreamExt;
    let tmp = tempfile::tempdir().unwrap();
    let config = test_config(tmp.path());
    let store = fieldsync::photos::store_for(&config).unwrap();
    // 20 MiB that repeat no 64 KiB piece: a part mixed up would show.
    let big: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ (i >> 16) as u8)
        .collect();
    let (path, mut f) = store.temp().unwrap();
    std::io::Write::write_all(&mut f, &big).unwrap();
    f.sync_all().unwrap();
    store.put_file("uploads/big/whole", &path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(store.exists("uploads/big/whole").unwrap());
    assert_eq!(store.read("uploads/big/whole").unwrap().len(), big.len());

    let (back, mut out) = store.temp().unwrap();
    assert_eq!(
        store.copy_to("uploads/big/whole", &mut out).unwrap(),
        big.len() as u64
    );
    assert!(std::fs::read(&back).unwrap() == big, "copied back whole");
    let _ = std::fs::remove_file(&back);
    match store.open("uploads/big/whole").unwrap() {
        fieldsync::photos::blob::Opened::File(..) => {}
        fieldsync::photos::blob::Opened::Remote { size } => {
            assert_eq!(size, big.len() as u64);
            let range = 9_000_000u64..13_000_000;
            let pieces = store.stream("uploads/big/whole", range.clone()).unwrap();
            let got: Vec<u8> = actix_web::rt::System::new()
                .block_on(async { pieces.map(|p| p.unwrap().to_vec()).concat().await });
            assert!(got == big[9_000_000..13_000_000], "a range streamed");
        }
    }
    store.put_bytes("uploads/big/small", b"x").unwrap();
    let mut keys = store.list_dir("uploads/big").unwrap();
    keys.sort();
    assert_eq!(keys, ["uploads/big/small", "uploads/big/whole"]);
    store.delete_dir("uploads/big").unwrap();
    assert!(store.list_dir("uploads/big").unwrap().is_empty());
    assert!(!store.exists("uploads/big/whole").unwrap());
}

fn heic_fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/heic/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn mean_rgb(jpeg: &[u8]) -> [f64; 3] {
    let img = image::load_from_memory(jpeg).unwrap().to_rgb8();
    let n = f64::from(img.width() * img.height());
    let mut m = [0.0; 3];
    for p in img.pixels() {
        for (i, c) in p.0.iter().enumerate() {
            m[i] += f64::from(*c) / n;
        }
    }
    m
}

/// An iPhone's default format: decoded by heif-convert in a child process,
/// variants as the JPEG it was made from, its EXIF position read; without
/// the tool it is kept and served and waits, uncounted, for it.
#[test]
fn a_heic_photo_gets_variants_and_its_exif_position() {
    if fieldsync::photos::heif::find(None).is_none() {
        assert!(
            std::env::var_os("FIELDSYNC_REQUIRE_HEIF").is_none(),
            "heif-convert (Debian's libheif-examples) is required here"
        );
        eprintln!("HEIC test skipped: install Debian's libheif-examples to run it");
        return;
    }
    let heic = heic_fixture("xiaomi_400x300.heic");
    let jpeg = heic_fixture("xiaomi_400x300.jpg");
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let (_, photo, r) = app.push_with_photo(&d, &t, &heic, "image/heic");
    assert_eq!(r["results"][1]["status"], "applied", "{r}");
    let p = app.wait_photo(&t, &photo);
    assert_eq!(p["status"], "ready", "{p}");
    assert_eq!(
        (p["width"].as_i64(), p["height"].as_i64()),
        (Some(400), Some(300))
    );
    let lat = p["exif"]["lat"].as_f64().unwrap();
    assert!((lat + 15.8356).abs() < 1e-4, "{p}");
    let (s, hs, display) = app.get_bytes(p["urls"]["display"].as_str().unwrap(), "", &[]);
    assert_eq!(s, 200);
    assert_eq!(header(&hs, "content-type"), Some("image/jpeg"));
    assert_eq!(dims(&display), (400, 300));
    let (got, want) = (mean_rgb(&display), mean_rgb(&jpeg));
    for i in 0..3 {
        assert!((got[i] - want[i]).abs() < 4.0, "{got:?} vs {want:?}");
    }
    let (_, hs, original) = app.get_bytes(p["urls"]["original"].as_str().unwrap(), "", &[]);
    assert_eq!(original, heic);
    assert_eq!(header(&hs, "content-type"), Some("image/heic"));

    // Without the tool: kept, served, waiting.
    let app = TestApp::spawn_with(|c| c.heif_convert = Some("/nonexistent/heif-convert".into()));
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let (_, photo, _) = app.push_with_photo(&d, &t, &heic, "image/heic");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let p = loop {
        let p = app.pulled_photos(&t).remove(&photo).unwrap();
        if p["variants_pending"] == "heif-convert not installed" {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "{p}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(p["status"], "stored");
    let (s, _, _) = app.get_bytes(p["urls"]["original"].as_str().unwrap(), "", &[]);
    assert_eq!(s, 200);
    let r = app.get(&format!("/api/v1/photos/{photo}/thumb"), &t);
    assert_eq!((r.status, r.code()), (404, "variant_pending"));
    let ready = app.get("/readyz", "").ok(200);
    assert_eq!(ready["tools"]["heif-convert"], false);
}

/// FIELDSYNC_ORIGINALS_KEEP_DAYS: an approved record's originals go after
/// that many days, its display stays, the item says when; equal bytes in
/// a record not yet approved keep theirs; the job is audited.
#[test]
fn originals_of_long_approved_records_are_dropped_and_display_stays() {
    let app = TestApp::spawn_with(|c| {
        c.originals_keep_days = Some(30);
        c.schedule_interval_secs = 1;
    });
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (old, photo, _) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
    let (_, twin, _) = app.push_with_photo(&d, &t, &bytes, "image/jpeg");
    app.wait_photo(&t, &photo);
    app.wait_photo(&t, &twin);
    let r = app
        .push(
            &t,
            &uuid(),
            vec![edit(&old, 1, json!({"status": "submitted", "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": T0}}), T0)],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    let coord = app.login("zhoumin", PASSWORD);
    app.post(
        &format!("/api/v1/inspections/{old}/reviews"),
        &coord,
        &json!({"decision": "approve"}),
    )
    .ok(201);
    // Approved today: kept.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let p = app.pulled_photos(&t).remove(&photo).unwrap();
    assert!(p.get("original_dropped_at").is_none(), "{p}");
    // Approved 31 days ago: dropped at the next run.
    let back = if on_postgres() {
        "created_at - INTERVAL '31 days'"
    } else {
        "datetime(created_at, '-31 days')"
    };
    app.sql(&format!(
        "UPDATE reviews SET created_at = {back} WHERE inspection_id = '{old}'"
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let p = loop {
        let p = app.pulled_photos(&t).remove(&photo).unwrap();
        if p.get("original_dropped_at").is_some() {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "{p}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(p["status"], "ready");
    let (s, _, _) = app.get_bytes(p["urls"]["original"].as_str().unwrap(), "", &[]);
    assert_eq!(s, 404, "the original is gone");
    let (s, _, _) = app.get_bytes(p["urls"]["display"].as_str().unwrap(), "", &[]);
    assert_eq!(s, 200, "display stays");
    // The twin (same bytes, record not approved) keeps its original.
    let tw = app.pulled_photos(&t).remove(&twin).unwrap();
    assert!(tw.get("original_dropped_at").is_none());
    let (s, _, body) = app.get_bytes(tw["urls"]["original"].as_str().unwrap(), "", &[]);
    assert_eq!((s, body == bytes), (200, true));
    let audit = app.get("/api/v1/audit", &app.admin).ok(200);
    assert!(audit.to_string().contains("originals.dropped"), "{audit}");
}
