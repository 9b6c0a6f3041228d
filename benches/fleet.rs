//! The evening rush: 300 phones (`FLEET_PHONES`) back in coverage at once,
//! each pushing 10 inspections with 2 photos' metadata and then pulling
//! until it is up to date, for several rounds (`FLEET_ROUNDS`), over
//! loopback HTTP against the real server. Beside it, on the same run, one
//! client pushing 500-record batches: the figure the fleet is compared
//! with. `cargo bench --bench fleet`. Figures: docs/PERFORMANCE.md.

use serde_json::{Value, json};
use std::sync::{Arc, Barrier};
use std::time::Instant;

mod common;
use common::percentile;

const PASSWORD: &str = "bench-password-1";
const PER_PUSH: usize = 10;

fn item(site: &str, tpl: &str, i: usize) -> Value {
    let at = "2026-11-20T10:14:09Z";
    let f = json!({"title": format!("傍晚巡查{i}"), "status": "submitted", "severity": "medium",
        "notes": "排口正常,无异味。", "answers.outfall_flowing": false,
        "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": at}});
    let changed: Value = f
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!(at)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    json!({"id": uuid::Uuid::new_v4().to_string(), "site_id": site, "template_id": tpl, "fields": f, "changed_at": changed})
}

fn photo(inspection: &str, n: usize) -> Value {
    json!({"id": uuid::Uuid::new_v4().to_string(), "inspection_id": inspection,
        "sha256": format!("{:064x}", n as u128 * 7919 + 1), "bytes": 2_400_000, "content_type": "image/jpeg",
        "caption": "排口", "taken_at": "2026-11-20T10:15:00Z"})
}

struct Phone {
    token: String,
    device: String,
    cursor: String,
}

/// Pulls until up to date; returns how many objects came and the last
/// page's size.
fn pull(cl: &common::Client, p: &mut Phone) -> (usize, usize) {
    let mut n = 0;
    loop {
        let v = cl.send(
            "GET",
            &format!("/api/v1/sync/pull?limit=500&cursor={}", p.cursor),
            &p.token,
            None,
        );
        let size = v.to_string().len();
        p.cursor = v["cursor"].as_str().unwrap_or_default().to_string();
        n += v["changes"].as_object().map_or(0, |c| {
            c.values().map(|a| a.as_array().map_or(0, Vec::len)).sum()
        });
        if v["has_more"] != json!(true) {
            return (n, size);
        }
    }
}

fn main() {
    let env = common::env_usize;
    let phones_n = env("FLEET_PHONES", 300);
    let rounds = env("FLEET_ROUNDS", 5);
    // FLEET_PULL=0: pushes only (to see what the pulls cost).
    let with_pull = env("FLEET_PULL", 1) != 0;
    // One phone per inspector, as in the field (FLEET_USERS to share).
    let users = env("FLEET_USERS", phones_n).clamp(1, phones_n);
    // Every phone logs in from this one address: lift the per-address limit.
    let read_pool = env("FLEET_READ_POOL", 8);
    let (tmp, cl) = common::start_server_with(PASSWORD, |c| {
        c.login_burst_per_ip = 10_000;
        // FLEET_READ_POOL: the server's read connections (its default 8).
        c.read_pool = u32::try_from(read_pool).unwrap_or(8);
    });
    let (group, site, tpl, token) = common::district(&cl, PASSWORD);
    let admin = cl.login("admin", PASSWORD);
    let mut tokens = vec![token];
    for u in 1..users {
        cl.send("POST", "/api/v1/users", &admin, Some(&json!({"username": format!("insp{u}"), "role": "inspector", "group_id": group, "password": PASSWORD})));
    }
    // Logins in parallel: password hashing is slow on purpose.
    let logins: Vec<_> = (1..users)
        .map(|u| {
            let (base, agent) = (cl.base.clone(), cl.agent.clone());
            std::thread::spawn(move || {
                common::Client { base, agent }.login(&format!("insp{u}"), PASSWORD)
            })
        })
        .collect();
    tokens.extend(logins.into_iter().map(|h| h.join().expect("login")));
    // The reference on this run: one client, 500-record batches.
    let device = uuid::Uuid::new_v4().to_string();
    let big = 20;
    let started = Instant::now();
    for _ in 0..big {
        let items: Vec<Value> = (0..500).map(|i| item(&site, &tpl, i)).collect();
        cl.send("POST", "/api/v1/sync/push", &tokens[0], Some(&json!({"device_id": device, "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items})));
    }
    let single = (big * 500) as f64 / started.elapsed().as_secs_f64();

    let mut phones: Vec<Phone> = (0..phones_n)
        .map(|i| Phone {
            token: tokens[i % users].clone(),
            device: uuid::Uuid::new_v4().to_string(),
            cursor: String::new(),
        })
        .collect();
    for p in phones.iter_mut() {
        pull(&cl, p);
    }
    println!(
        "fleet benchmark: {phones_n} phones ({users} inspectors), {rounds} rounds of {PER_PUSH} inspections + 2 photos each, then a pull; server workers 2, loopback HTTP"
    );
    // The writer's figures before the rounds: the set-up (user creations,
    // logins, the reference's sequential batches) commits one write at a
    // time, and must not be counted as the fleet's.
    let before = commit_stats(&cl);
    let cl = Arc::new(cl);
    let (site, tpl) = (Arc::new(site), Arc::new(tpl));
    let wal_path = tmp.path().join("fieldsync.db-wal");
    let wal = move || std::fs::metadata(&wal_path).map_or(0, |m| m.len()) as f64 / 1e6;
    let cpu_before = cpu_secs();
    let (fleet_secs, mut all_ms, errors, sizes) =
        rounds_of(&cl, &mut phones, rounds, &site, &tpl, with_pull, Some(&wal));
    let cpu_used = cpu_secs() - cpu_before;
    all_ms.sort_by(f64::total_cmp);
    let fleet = (phones_n * PER_PUSH * rounds) as f64 / fleet_secs;
    // The physical floor on this machine: the same phones, threads and
    // bytes against a bare actix-web server that reads each body and
    // answers a push's and a pull's answer of the same size, with no
    // token, no JSON, no database.
    let bare = Arc::new(common::Client {
        base: floor_server(sizes.0, sizes.1),
        agent: cl.agent.clone(),
    });
    let (floor_secs, mut floor_ms, _, _) =
        rounds_of(&bare, &mut phones, rounds, &site, &tpl, with_pull, None);
    floor_ms.sort_by(f64::total_cmp);
    let floor = (phones_n * PER_PUSH * rounds) as f64 / floor_secs;
    println!("  single client, 500-record batches: {single:.0} records/s");
    println!(
        "  fleet: {fleet:.0} records/s ({:.2}x the big batches), a phone's push+pull p50 {:.0} ms, p99 {:.0} ms, failed pushes {errors}",
        fleet / single,
        percentile(&all_ms, 0.5),
        percentile(&all_ms, 0.99)
    );
    println!(
        "  the floor (the same exchanges with a bare HTTP server): {floor:.0} records/s, p50 {:.0} ms, p99 {:.0} ms; the fleet is {:.2}x of it",
        percentile(&floor_ms, 0.5),
        percentile(&floor_ms, 0.99),
        fleet / floor
    );
    let after = commit_stats(&cl);
    let (commits, writes, singles) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    println!(
        "  the rounds' writes: {writes:.0} in {commits:.0} commits ({:.1} a commit), {singles:.0} commits of one write",
        writes / commits.max(1.0)
    );
    println!(
        "  (the whole run with its set-up: {:.0} writes in {:.0} commits, {:.0} of one write)",
        after.1, after.0, after.2
    );
    println!(
        "  CPU over the rounds (server and phones, one process): {cpu_used:.1} s in {fleet_secs:.1} s, {:.2} of the machine's {} cores",
        cpu_used / fleet_secs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  reads waited for a pooled connection {:.1} s in all over the rounds ({:.0} reads)",
        after.3 - before.3,
        after.4 - before.4
    );
}

type Rounds = (f64, Vec<f64>, usize, (usize, usize));

/// Runs the rounds: every phone pushes (and pulls) at once behind a
/// barrier. Returns the seconds the rounds took, each phone's push+pull
/// milliseconds, failed pushes, and the sizes of the last push's and
/// pull's answers.
fn rounds_of(
    cl: &Arc<common::Client>,
    phones: &mut Vec<Phone>,
    rounds: usize,
    site: &Arc<String>,
    tpl: &Arc<String>,
    with_pull: bool,
    wal: Option<&dyn Fn() -> f64>,
) -> Rounds {
    let mut all_ms: Vec<f64> = Vec::new();
    let mut secs_total = 0.0;
    let mut errors = 0usize;
    let mut sizes = (0, 0);
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(phones.len() + 1));
        let handles: Vec<_> = phones
            .drain(..)
            .map(|mut p| {
                let (cl, barrier, site, tpl) = (cl.clone(), barrier.clone(), site.clone(), tpl.clone());
                std::thread::spawn(move || {
                    let items: Vec<Value> = (0..PER_PUSH).map(|i| item(&site, &tpl, i)).collect();
                    let photos = vec![photo(items[0]["id"].as_str().unwrap_or_default(), round * 2), photo(items[1]["id"].as_str().unwrap_or_default(), round * 2 + 1)];
                    let body = json!({"device_id": p.device, "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items, "photos": photos});
                    barrier.wait();
                    let t = Instant::now();
                    let r = cl.agent.post(format!("{}/api/v1/sync/push", cl.base)).header("Authorization", format!("Bearer {}", p.token)).send_json(&body);
                    let (ok, answer) = match r {
                        Ok(mut resp) => (resp.status().as_u16() == 200, resp.body_mut().read_to_vec().map_or(0, |b| b.len())),
                        Err(_) => (false, 0),
                    };
                    let mut pulled = 0;
                    if ok && with_pull {
                        pulled = pull(&cl, &mut p).1;
                    }
                    (p, t.elapsed().as_secs_f64() * 1000.0, ok, (answer, pulled))
                })
            })
            .collect();
        barrier.wait();
        let t = Instant::now();
        for h in handles {
            let (p, ms, ok, size) = h.join().expect("phone");
            if !ok {
                errors += 1;
            }
            sizes = size;
            all_ms.push(ms);
            phones.push(p);
        }
        let secs = t.elapsed().as_secs_f64();
        secs_total += secs;
        // SQLite's write-ahead log: readers that never stop keep a passive
        // checkpoint from resetting it, and every read walks its index.
        let wal = wal.map_or(String::new(), |w| format!(", WAL {:.1} MB", w()));
        println!(
            "  round {}: {:.0} records/s ({:.2} s){wal}",
            round + 1,
            (phones.len() * PER_PUSH) as f64 / secs,
            secs,
        );
    }
    (secs_total, all_ms, errors, sizes)
}

/// A bare actix-web server with the same two routes: each reads its
/// request's body and answers fixed bytes of the real answers' sizes.
fn floor_server(push_answer: usize, pull_answer: usize) -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let push = web::Bytes::from(format!(
        "{{\"results\":\"{}\"}}",
        "x".repeat(push_answer.saturating_sub(14))
    ));
    let pull = web::Bytes::from(format!(
        "{{\"has_more\":false,\"cursor\":\"c\",\"pad\":\"{}\"}}",
        "x".repeat(pull_answer.saturating_sub(40))
    ));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let (push, pull) = (push.clone(), pull.clone());
                App::new()
                    .route(
                        "/api/v1/sync/push",
                        web::post().to(move |body: web::Bytes| {
                            let push = push.clone();
                            async move {
                                let _ = body.len();
                                HttpResponse::Ok()
                                    .content_type("application/json")
                                    .body(push)
                            }
                        }),
                    )
                    .route(
                        "/api/v1/sync/pull",
                        web::get().to(move || {
                            let pull = pull.clone();
                            async move {
                                HttpResponse::Ok()
                                    .content_type("application/json")
                                    .body(pull)
                            }
                        }),
                    )
            })
            .workers(2)
            .bind("127.0.0.1:0")
            .expect("bind");
            tx.send(server.addrs()[0]).expect("addr");
            let _ = server.run().await;
        })
    });
    format!("http://{}", rx.recv().expect("floor server"))
}

/// This process's CPU time so far (user and system), from /proc.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime
    // are the 12th and 13th of them, in clock ticks (100 a second here).
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// The writer's commits, writes committed, and commits of a single write,
/// from `/metrics`.
fn commit_stats(cl: &common::Client) -> (f64, f64, f64, f64, f64) {
    let m = cl
        .agent
        .get(format!("{}/metrics", cl.base))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let value = |prefix: &str| {
        m.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        value("fieldsync_db_commit_group_size_count"),
        value("fieldsync_db_commit_group_size_sum"),
        value(r#"fieldsync_db_commit_group_size_bucket{le="1.0"}"#),
        value("fieldsync_db_read_pool_wait_seconds_sum"),
        value("fieldsync_db_read_pool_wait_seconds_count"),
    )
}
