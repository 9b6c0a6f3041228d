//! The relay's latency: from the push of an urgent quick report to its
//! first delivery at a local receiver (a Standard Webhooks channel) and to
//! its event on a coordinator's live feed, p50 and p99. Measured twice in
//! the same run: quiet (the reference), then while a fleet of phones
//! (`RELAY_PHONES`, default 100) pushes inspections. Then the fleet's push
//! rate without and with `RELAY_STREAMS` (default 200) coordinators on the
//! live feed, and the memory each stream costs. Last, a Feishu receiver
//! down while `RELAY_BACKLOG` (default 150) reports queue up: how the
//! backlog drains once it is back (within Feishu's 5 a second and 100 a
//! minute, nothing lost, nothing twice). `cargo bench --bench relay`.
//! Figures: docs/PERFORMANCE.md.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::percentile;

const PASSWORD: &str = "bench-password-1";

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A request's body (its head read and dropped).
fn read_body(stream: &std::net::TcpStream) -> Vec<u8> {
    let mut r = BufReader::new(stream.try_clone().expect("clone"));
    let (mut n, mut line) = (0usize, String::new());
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            n = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; n];
    let _ = r.read_exact(&mut body);
    body
}

/// A receiver that notes when each report's first message arrived.
fn receiver(arrivals: Arrivals) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let arrivals = Arc::clone(&arrivals);
            std::thread::spawn(move || {
                let mut stream = stream;
                let body = read_body(&stream);
                let now = Instant::now();
                if let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && let Some(id) = v["data"]["inspection_id"].as_str()
                {
                    arrivals
                        .lock()
                        .expect("lock")
                        .entry(id.to_string())
                        .or_insert(now);
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            });
        }
    });
    url
}

/// A live feed reader noting when each report's event arrived.
fn feed(base: &str, token: &str, arrivals: Arrivals) {
    let url = format!("{base}/api/v1/events");
    let token = token.to_string();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let mut r = agent
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("feed");
        let reader = BufReader::new(r.body_mut().as_reader());
        for line in reader.lines().map_while(Result::ok) {
            if let Some(d) = line.strip_prefix("data: ")
                && let Ok(v) = serde_json::from_str::<Value>(d)
                && v["type"] == "report.urgent"
                && let Some(id) = v["inspection_id"].as_str()
            {
                arrivals
                    .lock()
                    .expect("lock")
                    .entry(id.to_string())
                    .or_insert_with(Instant::now);
            }
        }
    });
}

/// A live feed stream that only drains what comes (a browser tab that
/// does nothing with most events): its cost is the server's.
fn drain(base: &str, token: &str) {
    let url = format!("{base}/api/v1/events");
    let token = token.to_string();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let mut r = agent
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("feed");
        let mut body = r.body_mut().as_reader();
        let mut buf = [0u8; 64 * 1024];
        while matches!(body.read(&mut buf), Ok(n) if n > 0) {}
    });
}

fn report(id: &str, at: &str) -> Value {
    let f = json!({"title": "桃花河排口污水直排", "category": "water", "urgency": "urgent", "status": "submitted",
        "location": {"lat": 29.8575, "lon": 107.0815, "accuracy_m": 8, "captured_at": at}});
    let changed: serde_json::Map<String, Value> = f
        .as_object()
        .expect("object")
        .keys()
        .map(|k| (k.clone(), json!(at)))
        .collect();
    json!({"id": id, "kind": "report", "fields": f, "changed_at": changed})
}

fn inspection(site: &str, tpl: &str, at: &str) -> Value {
    let f = json!({"title": "傍晚巡查", "status": "submitted", "answers.outfall_flowing": false,
        "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": at}});
    let changed: serde_json::Map<String, Value> = f
        .as_object()
        .expect("object")
        .keys()
        .map(|k| (k.clone(), json!(at)))
        .collect();
    json!({"id": uuid::Uuid::new_v4().to_string(), "site_id": site, "template_id": tpl, "fields": f, "changed_at": changed})
}

/// Pushes `n` urgent reports one after another (a pause between) and
/// returns the latencies to the receiver and to the feed, in ms.
fn measure(
    cl: &common::Client,
    token: &str,
    n: usize,
    hooks: &Arrivals,
    events: &Arrivals,
) -> (Vec<f64>, Vec<f64>) {
    let at = "2026-11-20T08:54:00Z";
    let mut pushed = Vec::new();
    for _ in 0..n {
        let id = uuid::Uuid::new_v4().to_string();
        let t = Instant::now();
        cl.send(
            "POST",
            "/api/v1/sync/push",
            token,
            Some(&json!({"device_id": uuid::Uuid::new_v4(), "batch_id": uuid::Uuid::new_v4(), "inspections": [report(&id, at)]})),
        );
        pushed.push((id, t));
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let lat = |a: &Arrivals| -> Vec<f64> {
        loop {
            let got = a.lock().expect("lock");
            if pushed.iter().all(|(id, _)| got.contains_key(id)) || Instant::now() > deadline {
                let mut v: Vec<f64> = pushed
                    .iter()
                    .filter_map(|(id, t)| {
                        got.get(id)
                            .map(|g| g.duration_since(*t).as_secs_f64() * 1000.0)
                    })
                    .collect();
                v.sort_by(f64::total_cmp);
                return v;
            }
            drop(got);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    (lat(hooks), lat(events))
}

fn main() {
    let phones = common::env_usize("RELAY_PHONES", 100);
    let n = common::env_usize("RELAY_REPORTS", 50);
    let (_tmp, cl) = common::start_server_with(PASSWORD, |c| {
        c.channels_allow_http = true;
        c.channels_allow_private = true;
        c.login_burst_per_ip = 10_000;
    });
    let (_g, site, tpl, token) = common::district(&cl, PASSWORD);
    let admin = cl.login("admin", PASSWORD);
    let hooks: Arrivals = Arc::default();
    let events: Arrivals = Arc::default();
    let url = receiver(Arc::clone(&hooks));
    cl.send(
        "POST",
        "/api/v1/channels",
        &admin,
        Some(&json!({"name": "数据平台", "kind": "webhook", "url": url,
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "events": ["report.urgent"]})),
    );
    let coord = cl.login("zhoumin", PASSWORD);
    feed(&cl.base, &coord, Arc::clone(&events));
    std::thread::sleep(Duration::from_millis(500));

    let show = |what: &str, v: &[f64]| {
        println!(
            "{what}: {} of {n} arrived, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    };
    let (h, e) = measure(&cl, &token, n, &hooks, &events);
    println!("reference, no other load:");
    show("  push -> first delivery", &h);
    show("  push -> live feed event", &e);

    // A fleet of phones pushing ten inspections a batch, without pause,
    // for as long as `during` takes; returns its pushes a second.
    let fleet = |during: &mut dyn FnMut()| -> f64 {
        let stop = Arc::new(AtomicBool::new(false));
        let pushes = Arc::new(Mutex::new(0usize));
        let mut threads = Vec::new();
        for _ in 0..phones {
            let (stop, pushes) = (Arc::clone(&stop), Arc::clone(&pushes));
            let cl = common::Client {
                base: cl.base.clone(),
                agent: cl.agent.clone(),
            };
            let (token, site, tpl) = (token.clone(), site.clone(), tpl.clone());
            threads.push(std::thread::spawn(move || {
                let device = uuid::Uuid::new_v4().to_string();
                while !stop.load(Ordering::Relaxed) {
                    let items: Vec<Value> = (0..10).map(|_| inspection(&site, &tpl, "2026-11-20T10:14:09Z")).collect();
                    cl.send("POST", "/api/v1/sync/push", &token,
                        Some(&json!({"device_id": device, "batch_id": uuid::Uuid::new_v4(), "inspections": items})));
                    *pushes.lock().expect("lock") += 1;
                }
            }));
        }
        std::thread::sleep(Duration::from_secs(2));
        let before = *pushes.lock().expect("lock");
        let t = Instant::now();
        during();
        let rate = (*pushes.lock().expect("lock") - before) as f64 / t.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        rate
    };
    let fleet_rate = |secs: u64| fleet(&mut || std::thread::sleep(Duration::from_secs(secs)));
    let mut lat = (Vec::new(), Vec::new());
    let rate = fleet(&mut || lat = measure(&cl, &token, n, &hooks, &events));
    let (h, e) = lat;
    println!("with {phones} phones pushing ({rate:.0} pushes/s of 10 records meanwhile):");
    show("  push -> first delivery", &h);
    show("  push -> live feed event", &e);

    // The fleet without and with coordinators watching the feed.
    let streams = common::env_usize("RELAY_STREAMS", 200);
    let quiet = fleet_rate(10);
    let rss0 = common::rss_mb();
    for _ in 0..streams {
        drain(&cl.base, &coord);
    }
    std::thread::sleep(Duration::from_secs(2));
    let per_stream_kb = (common::rss_mb() - rss0) * 1024.0 / streams as f64;
    let watched = fleet_rate(10);
    println!(
        "{phones} phones: {quiet:.0} pushes/s alone, {watched:.0} pushes/s with {streams} feed streams open ({:+.1}%); \
         memory per stream (server and its reader together) {per_stream_kb:.0} KB",
        (watched - quiet) / quiet * 100.0
    );

    // A Feishu robot down for a while, then back: the backlog drains.
    backlog(&cl, &admin, &token);
}

/// Reports queued while the receiver is down drain within Feishu's limits
/// once it is back; each arrives once.
fn backlog(cl: &common::Client, admin: &str, token: &str) {
    let n = common::env_usize("RELAY_BACKLOG", 150);
    let up = Arc::new(AtomicBool::new(false));
    let got: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/open-apis/bot/v2/hook/x",
        listener.local_addr().expect("addr")
    );
    {
        let (up, got) = (Arc::clone(&up), Arc::clone(&got));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (up, got) = (Arc::clone(&up), Arc::clone(&got));
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let body = read_body(&stream);
                    if !up.load(Ordering::Relaxed) {
                        let _ = stream.write_all(
                            b"HTTP/1.1 503 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        return;
                    }
                    let text = String::from_utf8_lossy(&body).into_owned();
                    got.lock().expect("lock").push((Instant::now(), text));
                    let ok = br#"{"code":0,"msg":"success"}"#;
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            ok.len()
                        )
                        .as_bytes(),
                    );
                    let _ = stream.write_all(ok);
                });
            }
        });
    }
    cl.send(
        "POST",
        "/api/v1/channels",
        admin,
        Some(
            &json!({"name": "飞书群", "kind": "feishu", "url": url, "events": ["report.created"]}),
        ),
    );
    let at = "2026-11-20T08:54:00Z";
    let mut ids = Vec::new();
    for chunk in 0..n.div_ceil(50) {
        let items: Vec<Value> = (0..50.min(n - chunk * 50))
            .map(|_| {
                let id = uuid::Uuid::new_v4().to_string();
                ids.push(id.clone());
                let mut r = report(&id, at);
                r["fields"]["urgency"] = json!("normal");
                r["fields"]["title"] = json!(format!("积压{id}"));
                r
            })
            .collect();
        cl.send("POST", "/api/v1/sync/push", token,
            Some(&json!({"device_id": uuid::Uuid::new_v4(), "batch_id": uuid::Uuid::new_v4(), "inspections": items})));
    }
    // Down for a while (the retries back off), then back.
    std::thread::sleep(Duration::from_secs(20));
    up.store(true, Ordering::Relaxed);
    let back = Instant::now();
    let deadline = back + Duration::from_secs(600);
    while got.lock().expect("lock").len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = got.lock().expect("lock").clone();
    let drained = got
        .last()
        .map_or(f64::NAN, |(t, _)| t.duration_since(back).as_secs_f64());
    let per = |w: Duration| -> usize {
        got.iter()
            .map(|(t, _)| {
                got.iter()
                    .filter(|(u, _)| *u >= *t && u.duration_since(*t) < w)
                    .count()
            })
            .max()
            .unwrap_or(0)
    };
    let mut seen = std::collections::HashSet::new();
    let twice = got
        .iter()
        .filter(|(_, b)| {
            let id = ids
                .iter()
                .find(|i| b.contains(i.as_str()))
                .cloned()
                .unwrap_or_default();
            !seen.insert(id)
        })
        .count();
    println!(
        "backlog of {n} to a Feishu robot: {} arrived {drained:.1} s after it came back; \
         most in 1 s: {} (limit 5), in 60 s: {} (limit 100); sent twice: {twice}",
        got.len(),
        per(Duration::from_secs(1)),
        per(Duration::from_secs(60))
    );
}
