//! The relay end to end (issue 22): the source's story from an urgent
//! quick report to the housing bureau's repair, with a WeCom-shaped, a
//! DingTalk-shaped and a Standard Webhooks receiver (local servers here,
//! checking each platform's body and signature with their own code), the
//! live feed, and delivery under faults, a kill -9 and two servers.

use crate::helpers::*;
use crate::reports_quick::quick_report;
use crate::responses::relay;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a receiver does with the next request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answers with this status and body.
    With(u16, String),
    /// Answers nothing for this long (the sender's timeout cuts it).
    Hang(Duration),
}

/// A request a receiver got, and what it answered.
#[derive(Clone, Debug)]
pub struct Got {
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub acknowledged: bool,
}

/// A small HTTP server: answers from its script, then with its default.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Got>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Arc<Mutex<Reply>>,
}

impl Receiver {
    pub fn start(default: Reply) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let r = Receiver {
            url,
            got: Arc::default(),
            script: Arc::default(),
            default: Arc::new(Mutex::new(default)),
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let me = me.clone();
                std::thread::spawn(move || me.serve(stream));
            }
        });
        r
    }

    pub fn then(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    pub fn set_default(&self, r: Reply) {
        *self.default.lock().unwrap() = r;
    }

    fn serve(&self, mut stream: std::net::TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let n: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; n];
        let _ = reader.read_exact(&mut body);
        let reply = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.default.lock().unwrap().clone());
        let (status, text) = match reply {
            Reply::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
            Reply::With(s, t) => (s, t),
        };
        let acknowledged = (200..300).contains(&status)
            && !text.contains("\"errcode\":4")
            && !text.contains("\"errcode\":1");
        let answer = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        if stream.write_all(answer.as_bytes()).is_ok() {
            self.got.lock().unwrap().push(Got {
                target,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                acknowledged,
            });
        }
    }

    pub fn acknowledged(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.acknowledged)
            .cloned()
            .collect()
    }

    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Got> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.acknowledged();
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                let all = format!("{:?}", self.got.lock().unwrap());
                panic!("{} of {n} messages arrived: {all}", got.len());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn ok_robot() -> Reply {
    Reply::With(200, r#"{"errcode":0,"errmsg":"ok"}"#.into())
}

/// An app whose channels may reach this machine, retrying fast.
fn relay_app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.channels_allow_http = true;
        c.channels_allow_private = true;
        c.channel_retry_base_ms = 50;
        c.channel_timeout_ms = 500;
        c.public_url = Some("https://xc.example.cn".into());
    })
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// A live feed read line by line on a thread: the frames' `event:` and
/// `data:`. Opened as a browser opens it, accepting compressed answers:
/// the stream must come as it is, frame by frame (a compressor would hold
/// the frames back until its buffer fills).
struct Stream {
    frames: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Stream {
    fn open(app: &TestApp, token: &str) -> Stream {
        let frames: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let out = Arc::clone(&frames);
        let url = app.url("/api/v1/events");
        let token = token.to_string();
        let (ready, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut r = agent
                .get(&url)
                .header("Authorization", format!("Bearer {token}"))
                .header("Accept-Encoding", "gzip, deflate, br, zstd")
                .call()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let encoding = r.headers().get("content-encoding").cloned();
            assert_eq!(encoding, None, "the live stream is never compressed");
            let _ = ready.send(());
            let reader = BufReader::new(r.body_mut().as_reader());
            let mut kind = String::new();
            for line in reader.lines().map_while(Result::ok) {
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = k.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    out.lock()
                        .unwrap()
                        .push((kind.clone(), serde_json::from_str(d).unwrap()));
                }
            }
        });
        wait.recv_timeout(Duration::from_secs(10)).unwrap();
        Stream { frames }
    }

    fn wait(&self, kind: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some((_, v)) = self.frames.lock().unwrap().iter().find(|(k, _)| k == kind) {
                return v.clone();
            }
            assert!(Instant::now() < deadline, "no {kind} on the feed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kinds(&self) -> Vec<String> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.0.clone())
            .collect()
    }
}

#[test]
fn the_relay_walks_the_sources_story() {
    let app = relay_app();
    let r = relay(&app);
    let (wecom, ding, hook) = (
        Receiver::start(ok_robot()),
        Receiver::start(ok_robot()),
        Receiver::start(Reply::With(204, String::new())),
    );
    let secret = "SEC1234567890abcdef";
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    for (name, kind, url, sec) in [
        (
            "渡舟联络组企业微信群",
            "wecom",
            format!("{}/cgi-bin/webhook/send?key=abc", wecom.url),
            None,
        ),
        (
            "区级钉钉群",
            "dingtalk",
            format!("{}/robot/send?access_token=t", ding.url),
            Some(secret),
        ),
        (
            "区数据平台",
            "webhook",
            format!("{}/hooks/fieldsync", hook.url),
            Some(whsec),
        ),
    ] {
        app.post(
            "/api/v1/channels",
            &app.admin,
            &json!({"name": name, "kind": kind, "url": url, "secret": sec,
                    "group_id": if kind == "wecom" { Some(r.d.group_a.clone()) } else { None },
                    "events": ["report.urgent"]}),
        )
        .ok(201);
    }
    // The channel list never shows a robot's URL or a secret.
    let listed = app.get("/api/v1/channels", &app.admin).ok(200).to_string();
    assert!(
        !listed.contains("key=abc") && !listed.contains(secret) && !listed.contains("whsec_"),
        "{listed}"
    );

    // Group A's coordinator and group B's watch the live feed.
    app.user("zhaoli", "coordinator", Some(&r.d.group_b));
    let coord_b = app.login("zhaoli", PASSWORD);
    let feed_a = Stream::open(&app, &r.coord);
    let feed_b = Stream::open(&app, &coord_b);

    // 16:54 by the river, no signal: the member's outbox holds an urgent
    // report with a photo; it goes when the phone is back in coverage.
    let id = uuid();
    let jpg = fixture("xiaomi_IMG_20191224_234846.jpg");
    let photo = uuid();
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [quick_report(&id, "桃花河排口污水直排", "urgent", "2026-11-20T08:54:00Z")],
        "photos": [photo_meta(&photo, &id, &jpg, "image/jpeg")]});
    let pushed = std::time::Instant::now();
    app.push_multipart(&r.li, &batch, &[(photo.as_str(), &jpg)])
        .ok(200);

    // Each receiver: one message, in its platform's shape and signature.
    let w = wecom.wait_for(1, Duration::from_secs(10));
    let v: Value = serde_json::from_str(&w[0].body).unwrap();
    assert_eq!(v["msgtype"], "markdown", "{v}");
    let md = v["markdown"]["content"].as_str().unwrap();
    assert!(
        md.contains("【紧急】") && md.contains("桃花河排口污水直排"),
        "{md}"
    );
    assert!(
        md.contains(&format!("https://xc.example.cn/review/inspections/{id}")),
        "{md}"
    );
    assert!(!md.contains("/api/v1/photos"), "no media in a message");
    let d = ding.wait_for(1, Duration::from_secs(10));
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(d[0].target.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let ts = &q["timestamp"];
    let want = B64.encode(hmac(
        secret.as_bytes(),
        format!("{ts}\n{secret}").as_bytes(),
    ));
    assert_eq!(q["sign"], want, "DingTalk's signature");
    assert_eq!(q["access_token"], "t");
    let v: Value = serde_json::from_str(&d[0].body).unwrap();
    assert_eq!(v["msgtype"], "markdown");
    let h = hook.wait_for(1, Duration::from_secs(10));
    let key = B64.decode(whsec.trim_start_matches("whsec_")).unwrap();
    let signed = format!(
        "{}.{}.{}",
        h[0].headers["webhook-id"], h[0].headers["webhook-timestamp"], h[0].body
    );
    assert_eq!(
        h[0].headers["webhook-signature"],
        format!("v1,{}", B64.encode(hmac(&key, signed.as_bytes()))),
        "the Standard Webhooks signature"
    );
    let v: Value = serde_json::from_str(&h[0].body).unwrap();
    assert_eq!(v["type"], "report.urgent");
    assert_eq!(v["data"]["inspection_id"], id.as_str());
    println!(
        "first delivery {} ms after the push",
        pushed.elapsed().as_millis()
    );

    // The feed: group A's coordinator sees it, group B's does not.
    let e = feed_a.wait("report.urgent", Duration::from_secs(5));
    assert_eq!(e["inspection_id"], id.as_str());
    assert_eq!(e["message"]["urgent"], true);
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        !feed_b.kinds().iter().any(|k| k.starts_with("report.")),
        "another group's coordinator: {:?}",
        feed_b.kinds()
    );

    // 17:10: the coordinator hands it to the environment bureau; its
    // member answers (in progress); 22:50 it goes on to the housing
    // bureau; 09:37 the repair, with a photo; the coordinator verifies.
    let f = id_of(app.post(
        &format!("/api/v1/inspections/{id}/followups"),
        &r.coord,
        &json!({"title": "排查污水来源", "department_id": r.env}),
    ));
    app.post(
        &format!("/api/v1/followups/{f}/responses"),
        &r.env_member,
        &json!({"id": uuid(), "note": "已取样送检,污染源为破损污水管", "status": "in_progress"}),
    )
    .ok(201);
    app.patch(
        &format!("/api/v1/followups/{f}"),
        &r.coord,
        &json!({"department_id": r.housing, "note": "转住建委修复管道"}),
    )
    .ok(200);
    let repair = fixture("canon_sx530_IMG_1054.jpg");
    let media = uuid();
    let body = json!({"id": uuid(), "note": "管道已修复", "status": "resolved",
        "media": [{"id": media, "sha256": sha256_hex(&repair), "bytes": repair.len(), "content_type": "image/jpeg"}]});
    let (ct, bytes) = multipart_named("response", &body, &[(media.as_str(), &repair)]);
    app.raw(
        "POST",
        &format!("/api/v1/followups/{f}/responses"),
        &r.housing_member,
        &ct,
        &bytes,
    )
    .ok(201);
    app.patch(
        &format!("/api/v1/followups/{f}"),
        &r.coord,
        &json!({"status": "verified", "note": "现场复核无渗漏"}),
    )
    .ok(200);
    // The feed told the coordinator each step of the follow-up.
    for k in [
        "followup.assigned",
        "followup.response",
        "followup.resolved",
    ] {
        feed_a.wait(k, Duration::from_secs(5));
    }

    let t = app
        .get(&format!("/api/v1/inspections/{id}/timeline"), &r.coord)
        .ok(200);
    let steps: Vec<(String, String, String)> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_string(),
                s["by"]["display_name"].as_str().unwrap_or("").to_string(),
                s["by"]["department"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let kinds: Vec<&str> = steps.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "captured",
            "received",
            "dispatched",
            "response",
            "dispatched",
            "response",
            "verified"
        ],
        "{t}"
    );
    assert_eq!(steps[3].2, "区生态环境局");
    assert_eq!(
        (steps[5].1.as_str(), steps[5].2.as_str()),
        ("张工", "区住房城乡建委")
    );
    let report = app.get("/api/v1/reports/departments", &r.coord).ok(200);
    let row = |name: &str| {
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .cloned()
            .unwrap()
    };
    let (env, hou) = (row("区生态环境局"), row("区住房城乡建委"));
    assert_eq!(
        (
            env["assigned"].as_i64(),
            env["responded"].as_i64(),
            env["resolved"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(
        (
            hou["assigned"].as_i64(),
            hou["resolved"].as_i64(),
            hou["verified"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert!(env["median_first_response_s"].as_i64().unwrap() >= 0);
    // Nothing was sent twice.
    assert_eq!(wecom.acknowledged().len(), 1);
    assert_eq!(ding.acknowledged().len(), 1);
    assert_eq!(hook.acknowledged().len(), 1);
}

fn id_of(r: Resp) -> String {
    id(r.ok(201))
}

#[test]
fn deliveries_survive_errors_timeouts_and_rate_limits_in_order() {
    let app = relay_app();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let rx = Receiver::start(ok_robot());
    rx.then([
        Reply::With(500, "oops".into()),
        Reply::Hang(Duration::from_millis(1500)),
        Reply::With(
            200,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#.into(),
        ),
    ]);
    app.post(
        "/api/v1/channels",
        &app.admin,
        &json!({"name": "群机器人", "kind": "wecom", "url": format!("{}/send?key=k", rx.url), "events": ["report.created"]}),
    )
    .ok(201);
    let titles: Vec<String> = (1..=4).map(|i| format!("第{i}条随手拍")).collect();
    for t in &titles {
        app.push(
            &li,
            &uuid(),
            vec![quick_report(&uuid(), t, "normal", T0)],
            vec![],
        )
        .ok(200);
    }
    let got = rx.wait_for(4, Duration::from_secs(30));
    let order: Vec<String> = got
        .iter()
        .map(|g| {
            let v: Value = serde_json::from_str(&g.body).unwrap();
            let md = v["markdown"]["content"].as_str().unwrap().to_string();
            titles
                .iter()
                .find(|t| md.contains(t.as_str()))
                .cloned()
                .unwrap()
        })
        .collect();
    assert_eq!(order, titles, "in order, each once");
    // The failures were retried, not dropped; nothing acknowledged twice.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.acknowledged().len(), 4);
    assert!(
        rx.got.lock().unwrap().len() >= 5,
        "the 500 and the rate limit were answered"
    );
    let ch = &app.get("/api/v1/channels", &app.admin).ok(200)[0];
    assert_eq!(
        (ch["sent"].as_i64(), ch["pending"].as_i64()),
        (Some(4), Some(0)),
        "{ch}"
    );
    let metrics = app.get_bytes("/metrics", "", &[]).2;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("fieldsync_relay_deliveries_total{kind=\"wecom\",outcome=\"sent\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"retry\""));
    let _ = d;
}

#[test]
fn channel_urls_and_events_are_checked() {
    let app = TestApp::spawn();
    let post = |body: Value| app.post("/api/v1/channels", &app.admin, &body);
    let base =
        |url: &str| json!({"name": "x", "kind": "wecom", "url": url, "events": ["report.urgent"]});
    for url in [
        "ftp://example.com/x",
        "http://93.184.216.34/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/x",
        "https://[::1]/x",
    ] {
        let r = post(base(url));
        assert_eq!(
            (r.status, r.body["error"]["details"]["field"].as_str()),
            (422, Some("url")),
            "{url}: {}",
            r.body
        );
    }
    let mut bad = base("https://93.184.216.34/x");
    bad["events"] = json!(["report.deleted"]);
    let r = post(bad);
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("events"))
    );
    let r = post(
        json!({"name": "x", "kind": "webhook", "url": "https://93.184.216.34/x", "events": ["report.urgent"]}),
    );
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("secret"))
    );
    // Nothing was made; and only admins may.
    assert_eq!(app.get("/api/v1/channels", &app.admin).ok(200), json!([]));
    let d = District::new(&app);
    let coord = app.login("zhoumin", PASSWORD);
    assert_eq!(post(base("https://93.184.216.34/x")).status, 201);
    assert_eq!(
        app.post("/api/v1/channels", &coord, &base("https://93.184.216.34/x"))
            .status,
        403
    );
    let _ = d;
}

/// One JSON call to a server started as its own process.
fn call(base: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base}{path}");
    let auth = format!("Bearer {token}");
    let mut r = match (method, body) {
        ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
        (_, Some(b)) => agent.post(&url).header("Authorization", &auth).send_json(b),
        (_, None) => agent.post(&url).header("Authorization", &auth).send_empty(),
    }
    .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn token_at(base: &str, user: &str, password: &str) -> String {
    let (s, v) = call(
        base,
        "POST",
        "/api/v1/auth/login",
        "",
        Some(json!({"username": user, "password": password})),
    );
    assert_eq!(s, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

#[test]
fn a_delivery_outlives_a_kill_9_and_two_servers_send_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Reply::With(500, "down".into()));
    let env = [
        ("FIELDSYNC_CHANNELS_ALLOW_HTTP", "true"),
        ("FIELDSYNC_CHANNELS_ALLOW_PRIVATE", "true"),
        ("FIELDSYNC_CHANNEL_RETRY_BASE_MS", "50"),
        ("FIELDSYNC_CHANNEL_TIMEOUT_MS", "500"),
    ];
    let (mut first, base, _) = spawn_serve_with(dir.path(), &env);
    let admin = token_at(&base, "admin", ADMIN_PASSWORD);
    let (_, g) = call(
        &base,
        "POST",
        "/api/v1/groups",
        &admin,
        Some(json!({"name": "渡舟联络组", "towns": ["渡舟街道"]})),
    );
    let g = g["id"].as_str().unwrap().to_string();
    call(
        &base,
        "POST",
        "/api/v1/users",
        &admin,
        Some(
            json!({"username": "liming", "role": "inspector", "group_id": g, "password": PASSWORD}),
        ),
    );
    let (s, _) = call(
        &base,
        "POST",
        "/api/v1/channels",
        &admin,
        Some(json!({"name": "群机器人", "kind": "wecom",
        "url": format!("{}/send?key=k", rx.url), "events": ["report.created"]})),
    );
    assert_eq!(s, 201);
    let li = token_at(&base, "liming", PASSWORD);
    let push = |base: &str, title: &str| {
        let (s, v) = call(
            base,
            "POST",
            "/api/v1/sync/push",
            &li,
            Some(json!({"device_id": uuid(), "batch_id": uuid(),
            "inspections": [quick_report(&uuid(), title, "normal", T0)]})),
        );
        assert_eq!(
            (s, v["results"][0]["status"].as_str()),
            (200, Some("applied")),
            "{v}"
        );
    };
    push(&base, "第1条");
    // The receiver is down: the first attempt fails, then the server dies.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rx.got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no attempt before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    rx.set_default(ok_robot());

    // Two servers on the same database now, both running a sender.
    let (mut a, base_a, _) = spawn_serve_with(dir.path(), &env);
    let (mut b, base_b, _) = spawn_serve_with(dir.path(), &env);
    for i in 2..=7 {
        push(
            if i % 2 == 0 { &base_a } else { &base_b },
            &format!("第{i}条"),
        );
    }
    let got = rx.wait_for(7, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let titles: Vec<String> = rx
        .acknowledged()
        .iter()
        .map(|g| {
            let v: Value = serde_json::from_str(&g.body).unwrap();
            let md = v["markdown"]["content"].as_str().unwrap().to_string();
            (1..=7)
                .map(|i| format!("第{i}条"))
                .find(|t| md.contains(t.as_str()))
                .unwrap()
        })
        .collect();
    assert_eq!(
        titles,
        (1..=7).map(|i| format!("第{i}条")).collect::<Vec<_>>(),
        "each once, in order, the one from before the kill first"
    );
    assert_eq!(got.len(), 7);
    a.kill().unwrap();
    b.kill().unwrap();
    let _ = (a.wait(), b.wait());
}

#[test]
fn the_console_adds_a_channel_tests_it_and_shows_its_deliveries() {
    use crate::admin_console::admin;
    use crate::webui::Web;
    let app = relay_app();
    let rx = Receiver::start(ok_robot());
    let web = Web::new(&app);
    let s = admin(&web);
    let page = web.get("/admin/channels", &s);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("还没有通知通道"));
    let csrf = page.csrf();
    // A bad address comes back in Chinese at its field; nothing is made.
    let url = format!("{}/cgi-bin/webhook/send?key=secret-key", rx.url);
    let r = web.post(
        "/admin/channels",
        &s,
        &[
            ("csrf", &csrf),
            ("name", "联络组群"),
            ("kind", "wecom"),
            ("url", "ftp://x"),
            ("events", "report.urgent"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("须为 https 地址") || r.body.contains("须为网址"),
        "{}",
        r.body
    );
    let r = web.post(
        "/admin/channels",
        &s,
        &[
            ("csrf", &csrf),
            ("name", "联络组群"),
            ("kind", "wecom"),
            ("url", &url),
            ("events", "report.urgent"),
            ("events", "followup.overdue"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = web.get("/admin/channels", &s);
    assert!(page.body.contains("联络组群") && page.body.contains("紧急随手拍"));
    assert!(
        !page.body.contains("secret-key"),
        "a robot's key is never shown"
    );
    let id = app.get("/api/v1/channels", &app.admin).ok(200)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = web.post(
        &format!("/admin/channels/{id}"),
        &s,
        &[("csrf", &csrf), ("action", "test")],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("测试消息已送达"), "{}", r.body);
    let got = rx.wait_for(1, Duration::from_secs(5));
    assert!(got[0].body.contains("fieldsync 测试消息"));
    // An audit line without the key.
    let audit = app.get("/api/v1/audit", &app.admin).ok(200).to_string();
    assert!(audit.contains("channel.create") && !audit.contains("secret-key"));
}

#[test]
fn an_overdue_follow_up_is_announced_once() {
    let app = TestApp::spawn_with(|c| {
        c.channels_allow_http = true;
        c.channels_allow_private = true;
        c.overdue_interval_secs = 1;
    });
    let r = relay(&app);
    let rx = Receiver::start(ok_robot());
    app.post(
        "/api/v1/channels",
        &app.admin,
        &json!({"name": "住建委群", "kind": "dingtalk", "url": format!("{}/robot/send?access_token=t", rx.url),
                "department_id": r.housing, "events": ["followup.overdue", "followup.assigned"]}),
    )
    .ok(201);
    let (rec, _, _) = crate::responses::dispatched(&app, &r, &r.env);
    // Due yesterday, handed to the housing bureau.
    app.post(
        &format!("/api/v1/inspections/{rec}/followups"),
        &r.coord,
        &json!({"title": "修复破损管道", "department_id": r.housing, "due_at": "2026-01-01T00:00:00Z"}),
    )
    .ok(201);
    let got = rx.wait_for(2, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let bodies: Vec<String> = rx.acknowledged().iter().map(|g| g.body.clone()).collect();
    assert_eq!(
        bodies.len(),
        2,
        "assigned and overdue, each once: {bodies:?}"
    );
    assert!(bodies.iter().any(|b| b.contains("整改逾期")), "{bodies:?}");
    assert!(
        bodies.iter().all(|b| !b.contains("排查污水来源")),
        "the environment bureau's follow-up is not this channel's"
    );
    let _ = got;
}
