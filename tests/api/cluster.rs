//! Three servers on one PostgreSQL database and one bucket: phones sync
//! with whichever answers (a photo upload begun on one is finished on
//! another), one server is killed with SIGKILL mid-run and started again.
//! Every device converges on the server's state through incremental pulls
//! taken from any server while others write, and nothing a server
//! acknowledged is lost. Runs when the suite runs on PostgreSQL and an
//! object store (`.ci/run` does).

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The servers phones may reach: base URLs, one of them dead for a while.
type Servers = Arc<Mutex<Vec<String>>>;

/// Status, headers and body of an answer.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// One request to one server; None when the server did not answer (dead,
/// connection cut).
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
) -> Option<Answer> {
    let r = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            for (k, v) in headers {
                r = r.header(*k, v);
            }
            r.call()
        }
        ("HEAD", _) => {
            let mut r = agent.head(url);
            for (k, v) in headers {
                r = r.header(*k, v);
            }
            r.call()
        }
        (m, b) => {
            let mut r = match m {
                "POST" => agent.post(url),
                "PATCH" => agent.patch(url),
                _ => unreachable!(),
            };
            for (k, v) in headers {
                r = r.header(*k, v);
            }
            r.send(b.unwrap_or_default())
        }
    };
    let mut r = r.ok()?;
    let status = r.status().as_u16();
    let hs = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = r.body_mut().read_to_vec().ok()?;
    Some((status, hs, body))
}

struct Phone {
    device: String,
    token: String,
    agent: ureq::Agent,
    servers: Servers,
    rng: StdRng,
    /// What the phone pulled, incrementally: id -> (version, fields).
    local: BTreeMap<String, (i64, Map<String, Value>)>,
    cursor: Option<String>,
    /// What the phone wrote and a server acknowledged: id -> fields.
    acked: BTreeMap<String, Map<String, Value>>,
    photos: Vec<(String, Vec<u8>)>,
    /// Requests no server answered (sent again to another).
    unanswered: usize,
    /// Answers by server.
    answered: BTreeMap<String, usize>,
    /// The server that answered the last request.
    last: String,
    /// A server not to send to (an upload goes on elsewhere than it began).
    avoid: Option<String>,
}

impl Phone {
    fn new(servers: Servers, token: String, seed: u64) -> Phone {
        Phone {
            device: uuid(),
            token,
            agent: agent(),
            servers,
            rng: StdRng::seed_from_u64(seed),
            local: BTreeMap::new(),
            cursor: None,
            acked: BTreeMap::new(),
            photos: Vec::new(),
            unanswered: 0,
            answered: BTreeMap::new(),
            last: String::new(),
            avoid: None,
        }
    }

    fn server(&mut self) -> String {
        let s = self.servers.lock().unwrap();
        let choices: Vec<&String> = s
            .iter()
            .filter(|u| Some(*u) != self.avoid.as_ref())
            .collect();
        choices[self.rng.random_range(0..choices.len())].clone()
    }

    /// A request to a random server, again on another until one answers
    /// with something other than 503.
    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Answer {
        let mut hs = headers.to_vec();
        hs.push(("Authorization", format!("Bearer {}", self.token)));
        for _ in 0..200 {
            let url = format!("{}{path}", self.server());
            let r = call(&self.agent, method, &url, &hs, body);
            if r.is_some() {
                let base = url.split("/api/").next().unwrap_or_default().to_string();
                *self.answered.entry(base.clone()).or_default() += 1;
                self.last = base;
            }
            match r {
                Some((503, _, _)) => std::thread::sleep(Duration::from_millis(50)),
                None => {
                    self.unanswered += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Some(r) => return r,
            }
        }
        panic!("no server answered {method} {path}");
    }

    fn json(&mut self, method: &str, path: &str, body: &Value) -> Value {
        let bytes = serde_json::to_vec(body).unwrap();
        let (s, _, b) = self.send(
            method,
            path,
            &[("Content-Type", "application/json".into())],
            Some(&bytes),
        );
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
        serde_json::from_slice(&b).unwrap()
    }

    fn pull(&mut self) {
        loop {
            let path = match &self.cursor {
                Some(c) => format!("/api/v1/sync/pull?limit=7&cursor={c}"),
                None => "/api/v1/sync/pull?limit=7".to_string(),
            };
            let (s, _, b) = self.send("GET", &path, &[], None);
            assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
            let page: Value = serde_json::from_slice(&b).unwrap();
            assert_ne!(page["reset"], true, "no reset in this run");
            for i in page["changes"]["inspections"].as_array().unwrap() {
                self.local.insert(
                    i["id"].as_str().unwrap().to_string(),
                    (
                        i["version"].as_i64().unwrap(),
                        i["fields"].as_object().unwrap().clone(),
                    ),
                );
            }
            self.cursor = Some(page["cursor"].as_str().unwrap().to_string());
            if page["has_more"] != true {
                break;
            }
        }
    }

    /// New records and an edit of one of its own, in one batch, sent until
    /// a server answers it (the same batch again after a lost answer).
    fn push(&mut self, d: &District, round: usize, photo: Option<(&str, &str, &[u8])>) {
        let at = format!("2026-11-30T{:02}:00:00Z", 1 + round);
        let mut items = Vec::new();
        for k in 0..2 {
            let id = uuid();
            let fields = json!({"title": format!("排口{round}-{k}"), "notes": "河水发黑", "answers.score": round % 10});
            items.push(new_inspection(&id, d, fields, &at));
        }
        if let Some(id) = self.acked.keys().next().cloned() {
            let version = self.local.get(&id).map_or(1, |(v, _)| *v);
            items.push(json!({"id": id, "base_version": version,
                "fields": {"notes": format!("第{round}轮复查")}, "changed_at": {"notes": at}}));
        }
        let photos: Vec<Value> = photo
            .map(|(p, insp, bytes)| vec![photo_meta(p, insp, bytes, "image/jpeg")])
            .unwrap_or_default();
        let body = json!({"device_id": self.device, "batch_id": uuid(),
            "inspections": items, "photos": photos});
        let answer = self.json("POST", "/api/v1/sync/push", &body);
        for (r, item) in answer["results"].as_array().unwrap().iter().zip(&items) {
            if r["kind"] == "photo" {
                continue;
            }
            assert!(r["status"] == "applied" || r["status"] == "merged", "{r}");
            let id = r["id"].as_str().unwrap().to_string();
            let mine = self.acked.entry(id).or_default();
            for (k, v) in item["fields"].as_object().unwrap() {
                mine.insert(k.clone(), v.clone());
            }
        }
    }

    /// A photo's bytes by tus: created on one server, the first half sent
    /// to it, the rest to whichever answers (HEAD first, as a phone does
    /// after losing its connection).
    fn upload(&mut self, photo: &str, bytes: &[u8]) {
        let meta = format!("photo_id {}", STANDARD.encode(photo));
        let tus = ("Tus-Resumable", "1.0.0".to_string());
        let (s, hs, b) = self.send(
            "POST",
            "/api/v1/uploads",
            &[
                tus.clone(),
                ("Upload-Length", bytes.len().to_string()),
                ("Upload-Metadata", meta),
            ],
            Some(b""),
        );
        assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
        let began_on = self.last.clone();
        let loc = header(&hs, "location").unwrap();
        let half = bytes.len() / 2;
        let mut offset = 0usize;
        while offset < bytes.len() {
            let end = if offset < half { half } else { bytes.len() };
            // The rest goes to another server than the one it began on.
            self.avoid = (offset >= half).then(|| began_on.clone());
            let (s, hs, b) = self.send(
                "PATCH",
                &loc,
                &[
                    tus.clone(),
                    (
                        "Content-Type",
                        "application/offset+octet-stream".to_string(),
                    ),
                    ("Upload-Offset", offset.to_string()),
                ],
                Some(&bytes[offset..end]),
            );
            match s {
                204 => offset = header(&hs, "upload-offset").unwrap().parse().unwrap(),
                // A PATCH cut by the kill may still hold its lease, or the
                // offset moved: ask where it stands and go on from there.
                409 => {
                    std::thread::sleep(Duration::from_millis(200));
                    let (s, hs, _) = self.send("HEAD", &loc, std::slice::from_ref(&tus), None);
                    match s {
                        200 => offset = header(&hs, "upload-offset").unwrap().parse().unwrap(),
                        // Gone: the last PATCH did finish, its answer was
                        // lost with its server (the photo's status says).
                        404 => break,
                        _ => panic!("HEAD answered {s}"),
                    }
                }
                404 => break,
                _ => panic!("PATCH answered {s}: {}", String::from_utf8_lossy(&b)),
            }
        }
        self.avoid = None;
        assert_ne!(self.last, began_on, "finished on another server");
        self.photos.push((photo.to_string(), bytes.to_vec()));
    }
}

fn header(hs: &[(String, String)], name: &str) -> Option<String> {
    hs.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

#[test]
#[ignore = "needs PostgreSQL and an S3-compatible store (FIELDSYNC_TEST_DATABASE_URL, FIELDSYNC_TEST_BLOB_URL): .ci/run's second pass"]
fn three_servers_share_one_database_and_bucket_and_survive_a_kill_9() {
    require_postgres(true);
    let shared = tempfile::tempdir().unwrap();
    let mut config = test_config(shared.path());
    config.job_lease_secs = 3;
    config.upload_lease_secs = 3;
    let db_url = config.database_url.clone().unwrap();
    let blob_url = config.blob_url.clone().unwrap();
    let a = TestApp::start(config);
    let d = District::new(&a);
    let names: Vec<String> = (0..6).map(|i| format!("inspector{i}")).collect();
    for n in &names {
        a.user(n, "inspector", Some(&d.group_a));
    }

    // B and C: processes of their own (C is the one killed), each with a
    // data directory of its own, on the same database and bucket.
    let env = [
        ("FIELDSYNC_DATABASE_URL", db_url.as_str()),
        ("FIELDSYNC_BLOB_URL", blob_url.as_str()),
        ("FIELDSYNC_JOB_LEASE_SECS", "3"),
        ("FIELDSYNC_UPLOAD_LEASE_SECS", "3"),
    ];
    let (dir_b, dir_c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut b, url_b, _) = spawn_serve_with(dir_b.path(), &env);
    let (mut c, url_c, _) = spawn_serve_with(dir_c.path(), &env);
    let servers: Servers = Arc::new(Mutex::new(vec![
        a.base.clone(),
        url_b.clone(),
        url_c.clone(),
    ]));

    let photo_bytes = fixture("canon_sx530_IMG_1054.jpg");
    let started = Instant::now();
    // Pushes acknowledged so far, for killing C in the middle of the run.
    let progress = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rounds = 12;
    let phones: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (servers, token) = (Arc::clone(&servers), a.login(n, PASSWORD));
            let (d, photo_bytes) = (d.clone(), photo_bytes.clone());
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                let mut p = Phone::new(servers, token, i as u64);
                for round in 0..rounds {
                    let photo = (round == 2 || round == 5).then(uuid);
                    let insp = p.acked.keys().next().cloned();
                    match (&photo, &insp) {
                        (Some(ph), Some(insp)) => {
                            let mut bytes = photo_bytes.clone();
                            // Bytes of its own: a JPEG ignores what follows
                            // its end marker.
                            bytes.extend_from_slice(ph.as_bytes());
                            p.push(&d, round, Some((ph, insp, &bytes)));
                            p.upload(ph, &bytes);
                        }
                        _ => p.push(&d, round, None),
                    }
                    progress.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    p.pull();
                }
                p
            })
        })
        .collect();
    // A coordinator's device pulls the whole group as it is written.
    let coordinator = {
        let (servers, token) = (Arc::clone(&servers), a.login("zhoumin", PASSWORD));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d2 = Arc::clone(&done);
        let h = std::thread::spawn(move || {
            let mut p = Phone::new(servers, token, 99);
            while !d2.load(std::sync::atomic::Ordering::SeqCst) {
                p.pull();
                std::thread::sleep(Duration::from_millis(20));
            }
            p
        });
        (h, done)
    };

    // A third of the way through, C dies without a word; a moment later it
    // is started again (on another port, as a replaced machine would be).
    while progress.load(std::sync::atomic::Ordering::SeqCst) < names.len() * rounds / 3 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed_at = started.elapsed();
    c.kill().unwrap();
    c.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let (mut c2, url_c2, _) = spawn_serve_with(dir_c.path(), &env);
    {
        let mut s = servers.lock().unwrap();
        s.retain(|u| *u != url_c);
        s.push(url_c2.clone());
    }

    let phones: Vec<Phone> = phones.into_iter().map(|h| h.join().unwrap()).collect();
    let unanswered: usize = phones.iter().map(|p| p.unanswered).sum();
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for p in &phones {
        for (k, v) in &p.answered {
            *answered.entry(k.clone()).or_default() += v;
        }
    }
    eprintln!(
        "cluster: C killed at {killed_at:?}, phones done after {:?}; answers by server \
         {answered:?}; {unanswered} requests unanswered (sent again elsewhere)",
        started.elapsed()
    );
    for s in [&a.base, &url_b, &url_c] {
        assert!(
            answered.get(s).copied().unwrap_or(0) > 0,
            "{s} served phones"
        );
    }
    assert!(unanswered > 0, "phones were still running when C died");
    coordinator
        .1
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut coord = coordinator.0.join().unwrap();
    coord.pull();

    // The server's state, read afresh.
    let everything = |token: &str| -> BTreeMap<String, (i64, Map<String, Value>)> {
        let (pages, _) = a.pull_all(token, None);
        pages
            .iter()
            .flat_map(|p| p["changes"]["inspections"].as_array().unwrap().clone())
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_string(),
                    (
                        i["version"].as_i64().unwrap(),
                        i["fields"].as_object().unwrap().clone(),
                    ),
                )
            })
            .collect()
    };
    let mut all_acked = 0;
    for mut p in phones {
        p.pull();
        let server = everything(&p.token);
        assert_eq!(
            p.local, server,
            "a phone's incremental pulls equal the server's state"
        );
        for (id, fields) in &p.acked {
            let (_, have) = &server[id];
            for (k, v) in fields {
                assert_eq!(&have[k], v, "{id}.{k}: the last acknowledged value is kept");
            }
            all_acked += 1;
        }
        for (photo, bytes) in &p.photos {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (pages, _) = a.pull_all(&p.token, None);
                let status = pages
                    .iter()
                    .flat_map(|pg| pg["changes"]["photos"].as_array().unwrap().clone())
                    .find(|ph| ph["id"] == json!(photo))
                    .map(|ph| ph["status"].clone());
                if status == Some(json!("ready")) {
                    break;
                }
                assert!(Instant::now() < deadline, "photo {photo}: {status:?}");
                std::thread::sleep(Duration::from_millis(250));
            }
            let (s, _, got) =
                a.get_bytes(&format!("/api/v1/photos/{photo}/original"), &p.token, &[]);
            assert_eq!(s, 200);
            assert!(got == *bytes, "photo {photo}: the bytes sent");
        }
    }
    assert_eq!(all_acked, names.len() * rounds * 2);
    assert_eq!(
        coord.local,
        everything(&coord.token),
        "the coordinator's incremental pulls equal the group's state"
    );
    let _ = b.kill();
    let _ = c2.kill();
    let _ = (b.wait(), c2.wait());
}
