//! Resumable uploads (tus 1.0) over HTTP, including a dropped connection.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use std::io::Write;

pub(crate) fn tus_request(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Vec<(String, String)>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = app.url(path);
    let mut hs: Vec<(&str, String)> = vec![("Tus-Resumable", "1.0.0".into())];
    if !token.is_empty() {
        hs.push(("Authorization", format!("Bearer {token}")));
    }
    hs.extend(headers.iter().cloned());
    let resp = match method {
        "POST" | "PATCH" => {
            let mut r = if method == "POST" {
                agent.post(url)
            } else {
                agent.patch(url)
            };
            for (k, v) in &hs {
                r = r.header(*k, v.as_str());
            }
            r.send(body)
        }
        "HEAD" | "DELETE" | "OPTIONS" => {
            let mut r = match method {
                "HEAD" => agent.head(url),
                "DELETE" => agent.delete(url),
                _ => agent.options(url),
            };
            for (k, v) in &hs {
                r = r.header(*k, v.as_str());
            }
            r.call()
        }
        _ => unreachable!(),
    }
    .expect("request");
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    (resp.status().as_u16(), headers)
}

pub(crate) fn h<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Pushes a photo's metadata and creates its upload; returns (photo, upload path).
pub(crate) fn start(app: &TestApp, d: &District, t: &str, bytes: &[u8]) -> (String, String) {
    let (id, photo) = (uuid(), uuid());
    let r = app
        .push(
            t,
            &uuid(),
            vec![new_inspection(&id, d, json!({"title": "x"}), T0)],
            vec![photo_meta(&photo, &id, bytes, "image/jpeg")],
        )
        .ok(200);
    assert_eq!(r["photos_missing"], json!([photo]));
    let meta = format!(
        "photo_id {},filename {}",
        STANDARD.encode(&photo),
        STANDARD.encode("a.jpg")
    );
    let (s, hs) = tus_request(
        app,
        "POST",
        "/api/v1/uploads",
        t,
        &[
            ("Upload-Length", bytes.len().to_string()),
            ("Upload-Metadata", meta),
        ],
        b"",
    );
    assert_eq!(s, 201);
    assert_eq!(h(&hs, "tus-resumable"), Some("1.0.0"));
    (photo, h(&hs, "location").unwrap().to_string())
}

pub(crate) fn patch(
    app: &TestApp,
    loc: &str,
    t: &str,
    offset: usize,
    chunk: &[u8],
    checksum: Option<&[u8]>,
) -> (u16, Vec<(String, String)>) {
    let mut hs = vec![
        (
            "Content-Type",
            "application/offset+octet-stream".to_string(),
        ),
        ("Upload-Offset", offset.to_string()),
    ];
    if let Some(c) = checksum {
        hs.push((
            "Upload-Checksum",
            format!("sha256 {}", STANDARD.encode(sha2_bytes(c))),
        ));
    }
    tus_request(app, "PATCH", loc, t, &hs, chunk)
}

fn sha2_bytes(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

#[test]
fn options_advertise_the_protocol() {
    let app = TestApp::spawn();
    let (s, hs) = tus_request(&app, "OPTIONS", "/api/v1/uploads", "", &[], b"");
    assert_eq!(s, 204);
    assert_eq!(h(&hs, "tus-version"), Some("1.0.0"));
    let ext = h(&hs, "tus-extension").unwrap();
    for e in ["creation", "termination", "checksum"] {
        assert!(ext.contains(e), "{ext}");
    }
    assert_eq!(h(&hs, "tus-checksum-algorithm"), Some("sha256"));
}

#[test]
fn an_upload_in_chunks_with_checksums_binds_the_bytes_to_the_photo() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (photo, loc) = start(&app, &d, &t, &bytes);
    let half = bytes.len() / 2;

    let (s, hs) = patch(&app, &loc, &t, 0, &bytes[..half], Some(&bytes[..half]));
    assert_eq!(s, 204);
    assert_eq!(h(&hs, "upload-offset"), Some(half.to_string().as_str()));
    let (s, hs) = tus_request(&app, "HEAD", &loc, &t, &[], b"");
    assert_eq!(
        (s, h(&hs, "upload-offset")),
        (200, Some(half.to_string().as_str()))
    );
    assert_eq!(
        h(&hs, "upload-length"),
        Some(bytes.len().to_string().as_str())
    );

    // A wrong offset, a bad checksum, a wrong type: refused, nothing moves.
    assert_eq!(patch(&app, &loc, &t, 0, &bytes[..10], None).0, 409);
    assert_eq!(
        patch(
            &app,
            &loc,
            &t,
            half,
            &bytes[half..],
            Some(b"something else")
        )
        .0,
        460
    );
    let (s, _) = tus_request(
        &app,
        "PATCH",
        &loc,
        &t,
        &[
            ("Content-Type", "application/json".into()),
            ("Upload-Offset", half.to_string()),
        ],
        b"{}",
    );
    assert_eq!(s, 415);
    assert_eq!(
        h(
            &tus_request(&app, "HEAD", &loc, &t, &[], b"").1,
            "upload-offset"
        ),
        Some(half.to_string().as_str())
    );

    let (s, _) = patch(&app, &loc, &t, half, &bytes[half..], Some(&bytes[half..]));
    assert_eq!(s, 204);
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");
    let (_, _, original) = app.get_bytes(&format!("/api/v1/photos/{photo}/original"), &t, &[]);
    assert_eq!(original, bytes);
    // Finished uploads are gone.
    assert_eq!(tus_request(&app, "HEAD", &loc, &t, &[], b"").0, 404);
}

#[test]
fn an_interrupted_upload_resumes_from_the_last_byte_received() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (photo, loc) = start(&app, &d, &t, &bytes);

    // Send headers for the whole body, 300 kB of it, then drop the line.
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        sock,
        "PATCH {loc} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    )
    .unwrap();
    sock.write_all(&bytes[..300_000]).unwrap();
    sock.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(sock);

    // The server records what arrived once it sees the line drop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let offset: usize = loop {
        let (s, hs) = tus_request(&app, "HEAD", &loc, &t, &[], b"");
        assert_eq!(s, 200);
        let o: usize = h(&hs, "upload-offset").unwrap().parse().unwrap();
        if o > 0 || std::time::Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(offset > 0 && offset <= 300_000, "kept {offset} bytes");
    let (s, _) = patch(&app, &loc, &t, offset, &bytes[offset..], None);
    assert_eq!(s, 204);
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");
    let (_, _, original) = app.get_bytes(&format!("/api/v1/photos/{photo}/original"), &t, &[]);
    assert_eq!(original, bytes);
}

#[test]
fn termination_expiry_and_refusals() {
    let app = TestApp::spawn_with(|c| c.upload_expiry_secs = 1);
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("synthetic_orientation_6.jpg");

    let (_, loc) = start(&app, &d, &t, &bytes);
    assert_eq!(tus_request(&app, "DELETE", &loc, &t, &[], b"").0, 204);
    assert_eq!(tus_request(&app, "HEAD", &loc, &t, &[], b"").0, 404);

    let (_, loc) = start(&app, &d, &t, &bytes);
    patch(&app, &loc, &t, 0, &bytes[..100], None);
    let parts = format!("uploads/{}", loc.rsplit('/').next().unwrap());
    assert_eq!(app.blobs(&parts).len(), 1, "a part in the blob store");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        tus_request(&app, "HEAD", &loc, &t, &[], b"").0,
        404,
        "expired"
    );
    start(&app, &d, &t, &bytes); // creating sweeps expired uploads
    assert!(
        app.blobs(&parts).is_empty(),
        "an expired upload's bytes are removed"
    );

    // No protocol version, an unknown photo, another user's upload.
    let (s, _) = tus_request(&app, "OPTIONS", "/api/v1/uploads", "", &[], b"");
    assert_eq!(s, 204);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .post(app.url("/api/v1/uploads"))
        .header("Authorization", format!("Bearer {t}"))
        .header("Upload-Length", "10")
        .send_empty()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "no version: malformed");
    let r = agent
        .post(app.url("/api/v1/uploads"))
        .header("Authorization", format!("Bearer {t}"))
        .header("Tus-Resumable", "0.2.2")
        .header("Upload-Length", "10")
        .send_empty()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        412,
        "a version this server does not speak"
    );
    let meta = format!("photo_id {}", STANDARD.encode(uuid()));
    assert_eq!(
        tus_request(
            &app,
            "POST",
            "/api/v1/uploads",
            &t,
            &[("Upload-Length", "10".into()), ("Upload-Metadata", meta)],
            b""
        )
        .0,
        404
    );
    let (_, loc) = start(&app, &d, &t, &bytes);
    let wang = app.login("wangfang", PASSWORD);
    assert_eq!(tus_request(&app, "HEAD", &loc, &wang, &[], b"").0, 404);
    // Bytes that do not match the photo's sha256 are refused at the end.
    let mut other = bytes.clone();
    other[500] ^= 0xFF;
    let (s, _) = patch(&app, &loc, &t, 0, &other, None);
    assert_eq!(s, 422);
}

/// A body that sends its first half, waits, then the rest: a PATCH that
/// is still writing when another arrives.
struct Slow {
    bytes: Vec<u8>,
    at: usize,
    paused: bool,
}

impl std::io::Read for Slow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let half = self.bytes.len() / 2;
        if self.at == half && !self.paused {
            self.paused = true;
            std::thread::sleep(std::time::Duration::from_millis(1500));
        }
        let end = if self.at < half {
            half
        } else {
            self.bytes.len()
        };
        let n = buf.len().min(end - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn two_patches_of_one_upload_never_interleave() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (photo, loc) = start(&app, &d, &t, &bytes);
    let slow = {
        let (url, t, bytes) = (app.url(&loc), t.clone(), bytes.clone());
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            agent
                .patch(url)
                .header("Tus-Resumable", "1.0.0")
                .header("Authorization", format!("Bearer {t}"))
                .header("Content-Type", "application/offset+octet-stream")
                .header("Upload-Offset", "0")
                .send(ureq::SendBody::from_reader(&mut Slow {
                    bytes,
                    at: 0,
                    paused: false,
                }))
                .map(|r| r.status().as_u16())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Meanwhile another PATCH at the same offset: refused, nothing written.
    let (s, _) = patch(&app, &loc, &t, 0, &bytes[..1000], None);
    assert_eq!(s, 409);
    assert_eq!(slow.join().unwrap().unwrap(), 204);
    let p = app.wait_photo(&t, &photo);
    assert_eq!(p["status"], "ready", "the bytes are whole: {p}");
}

#[test]
fn a_user_cannot_open_uploads_without_bound() {
    let app = TestApp::spawn_with(|c| {
        c.max_uploads_per_user = 2;
        c.max_upload_bytes_per_user = 3_000_000;
    });
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    start(&app, &d, &t, &bytes);
    start(&app, &d, &t, &bytes);
    // The third: over the count.
    let (id, photo) = (uuid(), uuid());
    app.push(
        &t,
        &uuid(),
        vec![new_inspection(&id, &d, json!({"title": "x"}), T0)],
        vec![photo_meta(&photo, &id, &bytes, "image/jpeg")],
    )
    .ok(200);
    let meta = format!("photo_id {}", STANDARD.encode(&photo));
    let (s, _) = tus_request(
        &app,
        "POST",
        "/api/v1/uploads",
        &t,
        &[
            ("Upload-Length", bytes.len().to_string()),
            ("Upload-Metadata", meta),
        ],
        b"",
    );
    assert_eq!(s, 409);
}

/// The offset says "complete" only once the photo is stored: when keeping
/// the last bytes fails on the server's side, the upload stays where it
/// was, free at once, and the phone sends the last bytes again. A replay
/// of the last PATCH whose answer was lost finds the upload gone (404)
/// and the photo kept.
#[test]
fn the_last_bytes_complete_an_upload_only_once_the_photo_is_stored() {
    // The failure is played with a file in the local store's way.
    let app = TestApp::spawn_on_files(|_| {});
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("synthetic_orientation_6.jpg");
    let (photo, loc) = start(&app, &d, &t, &bytes);
    let half = bytes.len() / 2;
    assert_eq!(patch(&app, &loc, &t, 0, &bytes[..half], None).0, 204);

    // The originals cannot be written (a full or broken volume).
    let originals = app.dir.join("blobs/originals");
    let _ = std::fs::remove_dir_all(&originals);
    std::fs::write(&originals, b"in the way").unwrap();
    let (s, _) = patch(&app, &loc, &t, half, &bytes[half..], None);
    assert_eq!(s, 503);
    let (s, hs) = tus_request(&app, "HEAD", &loc, &t, &[], b"");
    assert_eq!(
        (s, h(&hs, "upload-offset")),
        (200, Some(half.to_string().as_str())),
        "not complete: the photo was not stored"
    );
    assert_eq!(app.pulled_photos(&t)[&photo]["status"], "missing");

    // The volume is back: the same last bytes again, at once.
    std::fs::remove_file(&originals).unwrap();
    let (s, hs) = patch(&app, &loc, &t, half, &bytes[half..], None);
    assert_eq!(
        (s, h(&hs, "upload-offset")),
        (204, Some(bytes.len().to_string().as_str()))
    );
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");
    // Its answer lost, the phone sends them once more: the upload is gone
    // and the photo kept.
    assert_eq!(patch(&app, &loc, &t, half, &bytes[half..], None).0, 404);
    assert_eq!(tus_request(&app, "HEAD", &loc, &t, &[], b"").0, 404);
    let (_, _, original) = app.get_bytes(&format!("/api/v1/photos/{photo}/original"), &t, &[]);
    assert_eq!(original, bytes);
    assert!(
        app.blobs(&format!("uploads/{}", loc.rsplit('/').next().unwrap()))
            .is_empty(),
        "its parts are gone"
    );
}

/// Bytes of an upload whose row is gone (its server died between removing
/// the row and the parts) are swept away when a server starts.
#[test]
fn parts_without_an_upload_are_swept() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("synthetic_orientation_6.jpg");
    let (_, loc) = start(&app, &d, &t, &bytes);
    let (_, live) = start(&app, &d, &t, &bytes);
    patch(&app, &loc, &t, 0, &bytes[..100], None);
    patch(&app, &live, &t, 0, &bytes[..100], None);
    let id = loc.rsplit('/').next().unwrap().to_string();
    app.sql(&format!("DELETE FROM uploads WHERE id = '{id}'"));
    assert_eq!(app.blobs(&format!("uploads/{id}")).len(), 1);
    let app = app.restart();
    assert!(app.blobs(&format!("uploads/{id}")).is_empty(), "swept");
    let other = live.rsplit('/').next().unwrap();
    assert_eq!(
        app.blobs(&format!("uploads/{other}")).len(),
        1,
        "a live upload's bytes stay"
    );
}

/// A client sending its photo a byte at a time cannot make an upload of
/// endless parts: after 999 the rest must come in one PATCH (409 with the
/// offset otherwise, nothing kept), and then the photo is whole.
#[test]
fn an_upload_has_a_bounded_number_of_parts() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("synthetic_orientation_6.jpg");
    let (photo, loc) = start(&app, &d, &t, &bytes);
    let n = fieldsync::photos::tus::MAX_PARTS - 1;
    for i in 0..n {
        assert_eq!(patch(&app, &loc, &t, i, &bytes[i..i + 1], None).0, 204);
    }
    let (s, _) = patch(&app, &loc, &t, n, &bytes[n..n + 1], None);
    assert_eq!(s, 409, "a thousandth small part is refused");
    let (s, hs) = tus_request(&app, "HEAD", &loc, &t, &[], b"");
    assert_eq!(
        (s, h(&hs, "upload-offset")),
        (200, Some(n.to_string().as_str()))
    );
    assert_eq!(patch(&app, &loc, &t, n, &bytes[n..], None).0, 204);
    assert_eq!(app.wait_photo(&t, &photo)["status"], "ready");
    let (_, _, original) = app.get_bytes(&format!("/api/v1/photos/{photo}/original"), &t, &[]);
    assert_eq!(original, bytes);
}
