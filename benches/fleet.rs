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

/// Pulls until up to date; returns how many objects came.
fn pull(cl: &common::Client, p: &mut Phone) -> usize {
    let mut n = 0;
    loop {
        let v = cl.send(
            "GET",
            &format!("/api/v1/sync/pull?limit=500&cursor={}", p.cursor),
            &p.token,
            None,
        );
        p.cursor = v["cursor"].as_str().unwrap_or_default().to_string();
        n += v["changes"].as_object().map_or(0, |c| {
            c.values().map(|a| a.as_array().map_or(0, Vec::len)).sum()
        });
        if v["has_more"] != json!(true) {
            return n;
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
    let (tmp, cl) = common::start_server_with(PASSWORD, |c| c.login_burst_per_ip = 10_000);
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
    let mut all_ms: Vec<f64> = Vec::new();
    let mut fleet_secs = 0.0;
    let mut errors = 0usize;
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
                    let ok = matches!(&r, Ok(resp) if resp.status().as_u16() == 200);
                    if ok && with_pull {
                        pull(&cl, &mut p);
                    }
                    (p, t.elapsed().as_secs_f64() * 1000.0, ok)
                })
            })
            .collect();
        barrier.wait();
        let t = Instant::now();
        for h in handles {
            let (p, ms, ok) = h.join().expect("phone");
            if !ok {
                errors += 1;
            }
            all_ms.push(ms);
            phones.push(p);
        }
        let secs = t.elapsed().as_secs_f64();
        fleet_secs += secs;
        // SQLite's write-ahead log: readers that never stop keep a passive
        // checkpoint from resetting it, and every read walks its index.
        let wal = std::fs::metadata(tmp.path().join("fieldsync.db-wal")).map_or(0, |m| m.len());
        println!(
            "  round {}: {:.0} records/s ({:.2} s), WAL {:.1} MB",
            round + 1,
            (phones.len() * PER_PUSH) as f64 / secs,
            secs,
            wal as f64 / 1e6
        );
    }
    all_ms.sort_by(f64::total_cmp);
    let fleet = (phones_n * PER_PUSH * rounds) as f64 / fleet_secs;
    println!("  single client, 500-record batches: {single:.0} records/s");
    println!(
        "  fleet: {fleet:.0} records/s ({:.2}x the big batches), a phone's push+pull p50 {:.0} ms, p99 {:.0} ms, failed pushes {errors}",
        fleet / single,
        percentile(&all_ms, 0.5),
        percentile(&all_ms, 0.99)
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
}

/// The writer's commits, writes committed, and commits of a single write,
/// from `/metrics`.
fn commit_stats(cl: &common::Client) -> (f64, f64, f64) {
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
    )
}
