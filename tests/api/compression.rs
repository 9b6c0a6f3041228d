//! Bytes on weak links (DESIGN "Field networks"): answers compressed where
//! the client accepts it, never where it does not or for media; pushes
//! taken gzip-compressed, their inflated size held to the push limit.

use crate::helpers::*;
use crate::uploads::{h, start, tus_request};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("brotli");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// `times` chunks of `chunk` zero bytes as one gzip member, made without
/// compressing a gigabyte: after a sync flush the compressor's output for
/// the next chunk of zeros is always the same bytes, so they are repeated,
/// and the trailer's CRC is combined from the chunk's.
fn gzip_of_zeros(chunk: usize, times: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    let data = vec![0u8; chunk];
    let mut c = Compress::new(Compression::best(), false);
    let mut step = |input: &[u8], flush| {
        let mut out = Vec::with_capacity(chunk);
        let before = c.total_in();
        c.compress_vec(input, &mut out, flush).unwrap();
        assert_eq!(c.total_in() - before, input.len() as u64);
        out
    };
    let first = step(&data, FlushCompress::Sync);
    let steady = step(&data, FlushCompress::Sync);
    assert_eq!(step(&data, FlushCompress::Sync), steady, "not steady");
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(&first);
    for _ in 1..times {
        out.extend_from_slice(&steady);
    }
    out.extend_from_slice(&step(&[], FlushCompress::Finish));
    let mut one = Crc::new();
    one.update(&data);
    let mut all = Crc::new();
    for _ in 0..times {
        all.combine(&one);
    }
    out.extend_from_slice(&all.sum().to_le_bytes());
    out.extend_from_slice(&all.amount().to_le_bytes());
    out
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h(hs, name)
}

/// A group with forty inspections: a first pull of some kilobytes.
fn district_with_records(app: &TestApp) -> (District, String) {
    let d = District::new(app);
    let t = app.login("liming", PASSWORD);
    let items: Vec<Value> = (0..40)
        .map(|i| {
            new_inspection(
                &uuid(),
                &d,
                json!({"title": format!("桃花河{i}号排口巡查"), "notes": "排口下游约五十米处有白色泡沫，气味明显，已拍照记录。"}),
                T0,
            )
        })
        .collect();
    app.push(&t, &uuid(), items, vec![]).ok(200);
    (d, t)
}

#[test]
fn answers_are_compressed_where_the_client_accepts_it_and_only_there() {
    let app = TestApp::spawn();
    let (d, t) = district_with_records(&app);
    let coord = app.login("zhoumin", PASSWORD);

    // The same pull page, plain and in each encoding: the same JSON.
    let path = "/api/v1/sync/pull?limit=500";
    let (s, hs, plain) = app.get_bytes(path, &t, &[]);
    assert_eq!(s, 200);
    assert_eq!(header(&hs, "content-encoding"), None);
    assert_eq!(header(&hs, "vary"), Some("accept-encoding"));
    let plain: Value = serde_json::from_slice(&plain).unwrap();
    let records = |v: &Value| {
        v["changes"]["inspections"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or_default()
    };
    assert!(records(&plain) >= 40, "{plain}");
    let mut sizes = vec![];
    for (accept, want, decode) in [
        ("gzip", "gzip", gunzip as fn(&[u8]) -> Vec<u8>),
        ("br", "br", unbrotli),
        // A browser's own header: brotli preferred.
        ("gzip, deflate, br, zstd", "br", unbrotli),
        ("gzip;q=1.0, br;q=0.5", "gzip", gunzip),
    ] {
        let (s, hs, body) = app.get_bytes(path, &t, &[("Accept-Encoding", accept)]);
        assert_eq!(s, 200);
        assert_eq!(header(&hs, "content-encoding"), Some(want), "{accept}");
        assert!(
            header(&hs, "vary").is_some_and(|v| v.contains("accept-encoding")),
            "{hs:?}"
        );
        let got: Value = serde_json::from_slice(&decode(&body)).unwrap();
        assert_eq!(records(&got), records(&plain), "{accept}");
        sizes.push(body.len());
    }
    let plain_len = serde_json::to_vec(&plain).unwrap().len();
    eprintln!("pull page: {plain_len} bytes plain, compressed {sizes:?}");
    assert!(
        sizes.iter().all(|&n| n * 3 < plain_len),
        "{sizes:?} of {plain_len}"
    );
    // Nothing we have, or identity only: as it is.
    for accept in ["identity", "compress", "zstd"] {
        let (s, hs, _) = app.get_bytes(path, &t, &[("Accept-Encoding", accept)]);
        assert_eq!(s, 200);
        assert_eq!(header(&hs, "content-encoding"), None, "{accept}");
    }

    // A streamed report stays streamed (no length known ahead) and
    // arrives compressed; the same rows.
    let csv = "/api/v1/reports/inspections.csv";
    let (_, _, plain_csv) = app.get_bytes(csv, &coord, &[]);
    let (s, hs, gz_csv) = app.get_bytes(csv, &coord, &[("Accept-Encoding", "gzip")]);
    assert_eq!(s, 200);
    assert_eq!(header(&hs, "content-encoding"), Some("gzip"));
    assert_eq!(header(&hs, "content-length"), None, "{hs:?}");
    assert_eq!(gunzip(&gz_csv), plain_csv);
    assert!(String::from_utf8_lossy(&plain_csv).contains("桃花河39号排口巡查"));

    // Pages too.
    let (_, hs, _) = app.get_bytes("/app/", "", &[("Accept-Encoding", "gzip")]);
    assert_eq!(header(&hs, "content-encoding"), Some("gzip"), "{hs:?}");

    // Media never: a photo and a range of it go as they are (the media
    // server says so: identity).
    let as_is =
        |hs: &[(String, String)]| matches!(header(hs, "content-encoding"), None | Some("identity"));
    let jpg = fixture("canon_sx530_IMG_1054.jpg");
    let (_, photo, _) = app.push_with_photo(&d, &t, &jpg, "image/jpeg");
    let p = app.wait_photo(&t, &photo);
    let original = p["urls"]["original"].as_str().unwrap();
    let (s, hs, body) = app.get_bytes(original, "", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(s, 200);
    assert!(as_is(&hs), "{hs:?}");
    assert_eq!(body, jpg);
    let (s, hs, body) = app.get_bytes(
        original,
        "",
        &[("Accept-Encoding", "gzip, br"), ("Range", "bytes=0-99")],
    );
    assert_eq!(s, 206);
    assert!(as_is(&hs), "{hs:?}");
    assert_eq!(body, jpg[..100]);
}

#[test]
fn a_gzip_push_round_trips_and_its_replay_changes_nothing() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let id = uuid();
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id, &d, json!({"title": "云台山护林巡查", "notes": "防火通道畅通"}), T0)],
        "photos": []});
    let body = serde_json::to_vec(&batch).unwrap();
    let zipped = gzip(&body);
    let r = app.raw_with(
        "POST",
        "/api/v1/sync/push",
        &t,
        "application/json",
        &[("Content-Encoding", "gzip")],
        &zipped,
    );
    let first = r.ok(200);
    assert_eq!(first["results"][0]["status"], "applied", "{first}");
    // The record is there, as sent.
    let (s, _, one) = app.get_bytes(&format!("/api/v1/inspections/{id}"), &t, &[]);
    assert_eq!(s, 200);
    let one: Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(one["fields"]["notes"], "防火通道畅通", "{one}");
    // The phone never heard the answer and sends the batch again, this
    // time plain: the same answer, nothing applied twice.
    let again = app
        .raw("POST", "/api/v1/sync/push", &t, "application/json", &body)
        .ok(200);
    assert_eq!(again, first);
    let n = app.sql_text(&format!(
        "SELECT CAST(version AS TEXT) AS v FROM inspections WHERE id = '{id}'"
    ));
    assert_eq!(n.as_deref(), Some("1"));

    // Bad gzip: a clear error, nothing applied.
    let other = uuid();
    let mut broken = gzip(
        &serde_json::to_vec(&json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&other, &d, json!({"title": "x"}), T0)], "photos": []}))
        .unwrap(),
    );
    broken.truncate(broken.len() - 8);
    let r = app.raw_with(
        "POST",
        "/api/v1/sync/push",
        &t,
        "application/json",
        &[("Content-Encoding", "gzip")],
        &broken,
    );
    assert_eq!((r.status, r.code()), (400, "bad_body"), "{}", r.text);
    // Other encodings are not taken on a push.
    let r = app.raw_with(
        "POST",
        "/api/v1/sync/push",
        &t,
        "application/json",
        &[("Content-Encoding", "br")],
        &zipped,
    );
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
    let (s, _, _) = app.get_bytes(&format!("/api/v1/inspections/{other}"), &t, &[]);
    assert_eq!(s, 404, "nothing applied");
}

#[test]
fn a_compressed_body_where_none_is_wanted_is_refused_and_changes_nothing() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    // A site, gzip-compressed, to an API that does not inflate bodies.
    let site = serde_json::to_vec(
        &json!({"group_id": d.group_a, "name": "压缩的新排口", "kind": "outfall", "lat": 29.85, "lon": 107.08, "radius_m": 100.0}),
    )
    .unwrap();
    let r = app.raw_with(
        "POST",
        "/api/v1/sites",
        &app.admin,
        "application/json",
        &[("Content-Encoding", "gzip")],
        &gzip(&site),
    );
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
    let sites = app.get("/api/v1/sites?limit=500", &app.admin).ok(200);
    assert!(!sites.to_string().contains("压缩的新排口"));
    // A photo's bytes by tus, "compressed": refused, the offset unmoved
    // (stored, they would have been taken as the photo).
    let jpg = fixture("canon_sx530_IMG_1054.jpg");
    let (_, loc) = start(&app, &d, &t, &jpg);
    let (s, _) = tus_request(
        &app,
        "PATCH",
        &loc,
        &t,
        &[
            (
                "Content-Type",
                "application/offset+octet-stream".to_string(),
            ),
            ("Upload-Offset", "0".into()),
            ("Content-Encoding", "gzip".into()),
        ],
        &gzip(&jpg),
    );
    assert_eq!(s, 415);
    let (s, hs) = tus_request(&app, "HEAD", &loc, &t, &[], b"");
    assert_eq!(s, 200);
    assert_eq!(h(&hs, "upload-offset"), Some("0"));
}

/// A gigabyte of zeros, gzip-compressed to about a megabyte, to a server
/// process of its own: refused with 413 at once, its memory bounded by the
/// push limit and not by the bomb, and the server fine after.
#[test]
fn a_gigabyte_gzip_bomb_is_refused_quickly_with_bounded_memory() {
    let data = tempfile::tempdir().unwrap();
    let (d, token) = {
        let app = TestApp::start(test_config(data.path()));
        let d = District::new(&app);
        (d, app.login("liming", PASSWORD))
    };
    let (mut child, base, _) = spawn_serve_with(data.path(), &[]);
    let bomb = gzip_of_zeros(1 << 20, 1024);
    eprintln!("bomb: {} bytes of gzip for 1 GiB", bomb.len());
    assert!(bomb.len() < 2 << 20);
    // It is what it says: a gigabyte, whole and checked (CRC and length).
    let inflated = std::io::copy(
        &mut flate2::read::GzDecoder::new(&bomb[..]),
        &mut std::io::sink(),
    )
    .unwrap();
    assert_eq!(inflated, 1 << 30);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let before = peak_rss_kb(child.id());
    for _ in 0..3 {
        let t = Instant::now();
        let mut r = agent
            .post(format!("{base}/api/v1/sync/push"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .send(&bomb[..])
            .unwrap();
        let took = t.elapsed();
        let status = r.status().as_u16();
        let body: Value = r.body_mut().read_json().unwrap();
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["code"], "payload_too_large");
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }
    let peak = peak_rss_kb(child.id());
    // And a real push goes through after.
    let id = uuid();
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id, &d, json!({"title": "x"}), T0)], "photos": []});
    let mut r = agent
        .post(format!("{base}/api/v1/sync/push"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .send(&gzip(&serde_json::to_vec(&batch).unwrap())[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.body_mut().read_json().unwrap();
    assert_eq!(v["results"][0]["status"], "applied");
    let _ = child.kill();
    let _ = child.wait();
    eprintln!(
        "server peak RSS: {} MB before the bombs, {} MB after three",
        before / 1024,
        peak / 1024
    );
    // The push limit is 16 MiB: the inflated body at most once that, the
    // compressed one, and the growing buffer's slack.
    assert!(peak < before + 80 * 1024, "peak {} MB", peak / 1024);
}
