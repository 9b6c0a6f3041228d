//! The district at a glance on years of data: 200,000 records
//! (`DISTRICT_ROWS`) in 4 groups, 200 sites of 5 kinds, 40 members, made
//! over four years (2023-2026), a fifth failing a checklist item, a tenth
//! quick reports, half reviewed, a few hundred follow-ups. Measured over
//! HTTP against the real server: `GET /api/v1/reports/summary` for 2026 and
//! for all four years (every record in one summary) as the district's
//! admin and as a group's coordinator (p50/p95/p99 of `DISTRICT_REQUESTS`),
//! beside the queue's first page on the same data (the reference); then
//! every record exported as XLSX and as CSV, with the time, the bytes and
//! the process's memory above what it held before.
//! `cargo bench --bench district`. Figures: docs/PERFORMANCE.md.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{percentile, rss_mb};

const PASSWORD: &str = "bench-password-1";
const KINDS: [&str; 5] = [
    "outfall",
    "river_section",
    "enterprise",
    "workshop",
    "forest_patrol",
];
const CATEGORIES: [&str; 4] = ["water", "waste", "fire", "safety"];

fn item(site: &str, tpl: &str, k: usize, lat: f64, lon: f64) -> Value {
    let at = "2026-06-20T02:14:09Z";
    let report = k % 10 == 9;
    let mut f = json!({"title": format!("巡查{k}"), "status": "submitted",
        "location": {"lat": lat, "lon": lon, "accuracy_m": 5, "captured_at": at}});
    if report {
        f["category"] = json!(CATEGORIES[k % CATEGORIES.len()]);
        f["urgency"] = json!(if k.is_multiple_of(7) {
            "urgent"
        } else {
            "normal"
        });
    } else {
        f["answers.water_color"] = json!(if k.is_multiple_of(5) {
            "发黑"
        } else {
            "清澈"
        });
        f["answers.outfall_flowing"] = json!(k.is_multiple_of(2));
    }
    let changed = Value::Object(
        f.as_object()
            .unwrap()
            .keys()
            .map(|k| (k.clone(), json!(at)))
            .collect(),
    );
    let id = uuid::Uuid::new_v4().to_string();
    if report {
        json!({"id": id, "kind": "report", "fields": f, "changed_at": changed})
    } else {
        json!({"id": id, "site_id": site, "template_id": tpl, "fields": f, "changed_at": changed})
    }
}

/// Spreads the records over 2023-2026 and reviews half of them, in the
/// database itself (setting a year of history over HTTP would take the
/// year).
fn age(config_db: Option<&str>, data_dir: &std::path::Path) {
    match config_db {
        Some(url) => {
            let mut c = diesel::PgConnection::establish(url).expect("postgres");
            c.batch_execute(
                "UPDATE inspections SET created_at = timestamp '2023-01-01' + (abs(hashtext(id)) % 126144000) * interval '1 second';
                 UPDATE inspections SET created_minute = floor(extract(epoch FROM created_at) / 60)::bigint;
                 INSERT INTO reviews (id, inspection_id, decision, comment, reviewer_id, created_at)
                   SELECT 'r-' || id, id, CASE WHEN abs(hashtext(id)) % 5 = 0 THEN 'return' ELSE 'approve' END, '',
                          inspector_id, created_at + interval '1 day'
                   FROM inspections WHERE abs(hashtext(id)) % 2 = 0;
                 UPDATE inspections SET review_status = 'approved' WHERE id IN (SELECT inspection_id FROM reviews WHERE decision = 'approve');
                 ANALYZE;",
            )
            .expect("age");
        }
        None => {
            let mut c = diesel::SqliteConnection::establish(
                data_dir.join("fieldsync.db").to_str().expect("path"),
            )
            .expect("sqlite");
            c.batch_execute(
                "PRAGMA busy_timeout = 60000;
                 UPDATE inspections SET created_at = strftime('%Y-%m-%d %H:%M:%f', '2023-01-01', '+' || (abs(random()) % 126144000) || ' seconds');
                 UPDATE inspections SET created_minute = CAST(strftime('%s', created_at) AS INTEGER) / 60;
                 INSERT INTO reviews (id, inspection_id, decision, comment, reviewer_id, created_at)
                   SELECT 'r-' || id, id, CASE WHEN abs(random()) % 5 = 0 THEN 'return' ELSE 'approve' END, '',
                          inspector_id, created_at
                   FROM inspections WHERE abs(random()) % 2 = 0;
                 UPDATE inspections SET review_status = 'approved' WHERE id IN (SELECT inspection_id FROM reviews WHERE decision = 'approve');
                 ANALYZE;",
            )
            .expect("age");
        }
    }
}

/// Times `n` GETs of `path`; returns the sorted milliseconds.
fn times(cl: &common::Client, path: &str, token: &str, n: usize) -> Vec<f64> {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            cl.send("GET", path, token, None);
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t
}

fn line(what: &str, t: &[f64]) {
    println!(
        "  {what:<44} p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms",
        percentile(t, 0.50),
        percentile(t, 0.95),
        percentile(t, 0.99)
    );
}

/// Downloads `path` to nowhere, sampling the process's memory meanwhile;
/// returns (seconds, bytes, MB held at the start, peak MB above it).
fn export(cl: &common::Client, path: &str, token: &str) -> (f64, u64, f64, f64) {
    let base = rss_mb();
    let peak = Arc::new(Mutex::new(base));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let now = rss_mb();
                if let Ok(mut p) = peak.lock() {
                    *p = p.max(now);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let started = Instant::now();
    let mut r = cl
        .agent
        .get(format!("{}{path}", cl.base))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("export");
    assert_eq!(r.status().as_u16(), 200, "{path}");
    let bytes = std::io::copy(&mut r.body_mut().as_reader(), &mut std::io::sink()).expect("read");
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let peak = *peak.lock().expect("peak");
    (secs, bytes, base, peak - base)
}

fn main() {
    let rows = common::env_usize("DISTRICT_ROWS", 200_000);
    let requests = common::env_usize("DISTRICT_REQUESTS", 200);
    let (tmp, cl) = common::start_server_with(PASSWORD, |c| {
        c.login_burst_per_ip = 10_000;
    });
    let admin = cl.login("admin", PASSWORD);
    let tpl = cl.send("POST", "/api/v1/templates", &admin, Some(&json!({"name": "水环境巡查", "items": [
        {"key": "outfall_flowing", "label": "排口是否有水流出", "kind": "yes_no"},
        {"key": "water_color", "label": "水体颜色", "kind": "choice", "options": ["清澈", "浑浊", "发黑"], "fail_when": ". = '发黑'"}]})))["id"]
        .as_str()
        .expect("template")
        .to_string();
    let mut groups = Vec::new();
    let mut inspectors = Vec::new();
    let mut sites: Vec<(usize, String, f64, f64)> = Vec::new();
    for g in 0..4 {
        let gid = cl.send(
            "POST",
            "/api/v1/groups",
            &admin,
            Some(&json!({"name": format!("联络组{g}"), "towns": ["渡舟街道"]})),
        )["id"]
            .as_str()
            .expect("group")
            .to_string();
        cl.send("POST", "/api/v1/users", &admin, Some(&json!({"username": format!("coord{g}"), "role": "coordinator", "group_id": gid, "password": PASSWORD})));
        for m in 0..10 {
            let name = format!("member{g}_{m}");
            cl.send("POST", "/api/v1/users", &admin, Some(&json!({"username": name, "role": "inspector", "group_id": gid, "password": PASSWORD})));
            inspectors.push((g, cl.login(&name, PASSWORD)));
        }
        for s in 0..50 {
            let (lat, lon) = (
                29.8 + g as f64 * 0.05 + s as f64 * 0.002,
                107.0 + s as f64 * 0.002,
            );
            let sid = cl.send(
                "POST",
                "/api/v1/sites",
                &admin,
                Some(&json!({"group_id": gid, "name": format!("点位{g}-{s}"),
                "kind": KINDS[s % KINDS.len()], "lat": lat, "lon": lon, "radius_m": 100.0})),
            )["id"]
                .as_str()
                .expect("site")
                .to_string();
            sites.push((g, sid, lat, lon));
        }
        groups.push(gid);
    }
    let started = Instant::now();
    let per_batch = 500;
    for b in 0..rows.div_ceil(per_batch) {
        let (g, token) = &inspectors[b % inspectors.len()];
        let group_sites: Vec<&(usize, String, f64, f64)> =
            sites.iter().filter(|s| s.0 == *g).collect();
        let items: Vec<Value> = (0..per_batch.min(rows - b * per_batch))
            .map(|i| {
                let k = b * per_batch + i;
                let s = group_sites[k % group_sites.len()];
                item(&s.1, &tpl, k, s.2, s.3)
            })
            .collect();
        cl.send(
            "POST",
            "/api/v1/sync/push",
            token,
            Some(&json!({"device_id": uuid::Uuid::new_v4().to_string(),
            "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items})),
        );
    }
    let loaded = started.elapsed().as_secs_f64();
    age(common::bench_database().as_deref(), tmp.path());
    // Follow-ups on some approved records, half of them resolved.
    let coord0 = cl.login("coord0", PASSWORD);
    let some = cl.send(
        "GET",
        "/api/v1/inspections?review_status=approved&limit=200",
        &coord0,
        None,
    );
    for (i, r) in some["items"].as_array().expect("items").iter().enumerate() {
        let id = r["id"].as_str().expect("id");
        let f = cl.send("POST", &format!("/api/v1/inspections/{id}/followups"), &coord0,
            Some(&json!({"title": "整改", "department": if i % 2 == 0 { "区生态环境局" } else { "区住房城乡建委" }})));
        if i % 2 == 0 {
            let fid = f["id"].as_str().expect("followup");
            let url = format!("{}/api/v1/followups/{fid}", cl.base);
            let _ = cl
                .agent
                .patch(url)
                .header("Authorization", format!("Bearer {coord0}"))
                .send_json(json!({"status": "resolved"}));
        }
    }
    println!(
        "district benchmark: {rows} records in 4 groups, 200 sites, 40 members, loaded in {loaded:.1} s; {requests} requests each"
    );

    let year = "/api/v1/reports/summary?from=2026-01-01&to=2026-12-31";
    let all = "/api/v1/reports/summary?from=2023-01-01&to=2026-12-31";
    let s = cl.send("GET", year, &admin, None);
    println!(
        "  2026: {} inspections, {} reports, {} members, {} with failures, {} decisions, {} follow-ups",
        s["totals"]["inspections"],
        s["totals"]["reports"],
        s["totals"]["members"],
        s["totals"]["inspections_with_failures"],
        s["reviews"]["decisions"],
        s["followups"]["opened"]
    );
    line(
        "reference: queue first page (admin)",
        &times(&cl, "/api/v1/inspections?limit=50", &admin, requests),
    );
    line(
        "summary, 2026, district (admin)",
        &times(&cl, year, &admin, requests),
    );
    line(
        "summary, 2026, one group (coordinator)",
        &times(&cl, year, &coord0, requests),
    );
    let every = cl.send("GET", all, &admin, None);
    println!(
        "  2023-2026: {} inspections, {} reports in one summary",
        every["totals"]["inspections"], every["totals"]["reports"]
    );
    line(
        "summary, 2023-2026, district (admin)",
        &times(&cl, all, &admin, requests),
    );
    line(
        "summary, 2023-2026, one group (coordinator)",
        &times(&cl, all, &coord0, requests),
    );
    line(
        "summary, one month, district (admin)",
        &times(
            &cl,
            "/api/v1/reports/summary?from=2026-06-01&to=2026-06-30",
            &admin,
            requests,
        ),
    );
    let web_like = "/api/v1/reports/brief?from=2026-01-01&to=2026-12-31";
    let t: Vec<f64> = {
        let mut v: Vec<f64> = (0..requests.min(50))
            .map(|_| {
                let st = Instant::now();
                let mut r = cl
                    .agent
                    .get(format!("{}{web_like}", cl.base))
                    .header("Authorization", format!("Bearer {admin}"))
                    .call()
                    .expect("brief");
                let _ = r.body_mut().read_to_string();
                st.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    line("brief page, 2026, district (admin)", &t);

    for (what, path) in [
        ("CSV ", "/api/v1/reports/inspections.csv"),
        ("XLSX", "/api/v1/reports/inspections.xlsx"),
    ] {
        let (secs, bytes, base, mb) = export(&cl, path, &admin);
        println!(
            "  export {what} of every record: {secs:.1} s, {:.1} MB, memory +{mb:.1} MB above the {base:.0} MB held before",
            bytes as f64 / 1e6,
        );
    }
    drop(groups);
    // DISTRICT_KEEP=1: the data directory is left for a look at the plans.
    if std::env::var_os("DISTRICT_KEEP").is_some() {
        println!("data directory kept: {}", tmp.path().display());
        std::mem::forget(tmp);
    }
}
