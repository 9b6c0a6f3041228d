//! Sync benchmark: the real server on a temporary data directory, driven
//! over HTTP on loopback, against the `sqlite3` command-line tool inserting
//! the same rows with the same pragmas as the physical reference.
//!
//! `cargo bench --bench sync` (set `BENCH_ROWS`, default 10000, to grow the
//! database; RSS is printed as it grows). Figures: docs/PERFORMANCE.md.

use serde_json::{Value, json};
use std::io::Write;
use std::time::Instant;

mod common;
use common::{percentile, rss_mb};

const BATCH: usize = 500;
const PASSWORD: &str = "bench-password-1";
fn fields(i: usize) -> Value {
    json!({
        "title": format!("桃花河{i}号排口巡查"),
        "notes": "排口有少量污水流出,水体发黑,有异味,已拍照留存。",
        "severity": "high",
        "status": "submitted",
        "answers.outfall_flowing": true,
        "answers.water_color": "发黑",
        "answers.score": 3,
        "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": "2026-11-20T02:14:09Z"}
    })
}

fn changed_at(f: &Value, at: &str) -> Value {
    Value::Object(
        f.as_object()
            .unwrap()
            .keys()
            .map(|k| (k.clone(), json!(at)))
            .collect(),
    )
}

fn main() {
    let rows = common::env_usize("BENCH_ROWS", 10_000);
    let rows = rows.div_ceil(BATCH) * BATCH;
    let (tmp, cl) = common::start_server(PASSWORD);

    let (_group, site_id, tpl_id, token) = common::district(&cl, PASSWORD);

    println!(
        "fieldsync sync benchmark: {rows} inspections, batches of {BATCH}, server workers 2, loopback HTTP"
    );
    println!("rss at start: {:.1} MB", rss_mb());

    // 1. Fresh records.
    let ids: Vec<String> = (0..rows)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let device = uuid::Uuid::new_v4().to_string();
    let mut batch_ms = Vec::new();
    let started = Instant::now();
    for (b, chunk) in ids.chunks(BATCH).enumerate() {
        let items: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let f = fields(b * BATCH + i);
                json!({"id": id, "base_version": 0, "site_id": site_id, "template_id": tpl_id,
                       "changed_at": changed_at(&f, "2026-11-20T02:14:09Z"), "fields": f})
            })
            .collect();
        let body = json!({"device_id": device, "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items});
        let t = Instant::now();
        let r = cl.send("POST", "/api/v1/sync/push", &token, Some(&body));
        batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        debug_assert_eq!(r["results"][0]["status"], "applied");
        let done = (b + 1) * BATCH;
        if done.is_multiple_of(100_000) {
            println!("  {done} rows pushed, rss {:.1} MB", rss_mb());
        }
    }
    let fresh_rate = rows as f64 / started.elapsed().as_secs_f64();
    batch_ms.sort_by(f64::total_cmp);
    println!(
        "push, fresh records:       {fresh_rate:>9.0} records/s  (batch of {BATCH}: p50 {:.1} ms, p99 {:.1} ms)",
        percentile(&batch_ms, 0.5),
        percentile(&batch_ms, 0.99)
    );

    // 2. Conflicting edits: another device edits the same fields on the
    // same base version; every field is a true conflict.
    let conflict_rows = rows.min(10_000);
    let device2 = uuid::Uuid::new_v4().to_string();
    let mut batch_ms = Vec::new();
    let started = Instant::now();
    for chunk in ids[..conflict_rows].chunks(BATCH) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|id| {
                let f = json!({"notes": "平板上的另一份记录", "severity": "critical", "answers.score": 1});
                json!({"id": id, "base_version": 0, "changed_at": changed_at(&f, "2026-11-20T03:00:00Z"), "fields": f})
            })
            .collect();
        let body = json!({"device_id": device2, "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items});
        let t = Instant::now();
        let r = cl.send("POST", "/api/v1/sync/push", &token, Some(&body));
        batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        debug_assert_eq!(r["results"][0]["status"], "merged");
    }
    let conflict_rate = conflict_rows as f64 / started.elapsed().as_secs_f64();
    batch_ms.sort_by(f64::total_cmp);
    println!(
        "push, conflicting edits:   {conflict_rate:>9.0} records/s  (3 conflicts each; batch p50 {:.1} ms, p99 {:.1} ms)",
        percentile(&batch_ms, 0.5),
        percentile(&batch_ms, 0.99)
    );

    // 3. A device catching up on every change, 500 per page, five times.
    let catch_up = rows.min(10_000);
    let mut page_ms = Vec::new();
    let mut objects = 0;
    for _ in 0..5 {
        let mut cursor = String::new();
        objects = 0;
        loop {
            let path = format!("/api/v1/sync/pull?limit=500&cursor={cursor}");
            let t = Instant::now();
            let p = cl.send("GET", &path, &token, None);
            page_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            objects += p["changes"]["inspections"].as_array().map_or(0, Vec::len);
            cursor = p["cursor"].as_str().unwrap().to_string();
            if p["has_more"] != true || objects >= catch_up {
                break;
            }
        }
    }
    page_ms.sort_by(f64::total_cmp);
    println!(
        "pull, catching up on {objects} changes: page of 500: p50 {:.1} ms, p99 {:.1} ms ({} pages)",
        percentile(&page_ms, 0.5),
        percentile(&page_ms, 0.99),
        page_ms.len()
    );
    println!("rss at end: {:.1} MB", rss_mb());

    // 4. The physical reference: the same rows by the database's own
    // command-line tool, in transactions of the same size.
    if let Some(url) = common::bench_database() {
        match reference_pg(tmp.path(), &url, rows.min(100_000)) {
            Some(rate) => {
                println!(
                    "psql reference insert:     {rate:>9.0} rows/s (same schema, batch size, server)"
                );
                println!("ratio push/raw:            {:>9.2}", fresh_rate / rate);
            }
            None => println!(
                "psql reference: psql is not installed (apt-get install postgresql-client)"
            ),
        }
        return;
    }
    match reference(tmp.path(), rows.min(100_000)) {
        Some(rate) => {
            println!(
                "sqlite3 reference insert:  {rate:>9.0} rows/s (same schema, pragmas, batch size, disk)"
            );
            println!("ratio push/raw:            {:>9.2}", fresh_rate / rate);
        }
        None => println!(
            "sqlite3 reference: the sqlite3 tool is not installed (apt-get install sqlite3)"
        ),
    }
}

const META: &str = r#"{"answers.outfall_flowing":{"v":1,"d":"dev","t":"2026-11-20T02:14:09Z"},"answers.score":{"v":1,"d":"dev","t":"2026-11-20T02:14:09Z"},"answers.water_color":{"v":1,"d":"dev","t":"2026-11-20T02:14:09Z"},"location":{"v":1,"d":"dev","t":"2026-11-20T02:14:09Z"},"notes":{"v":1,"d":"dev","t":"2026-11-20T02:14:09Z"},"severity":{"v":1,"d":"dev","t":"2026-11-20T02:14:09Z"},"status":{"v":1,"d":"dev","t":"2026-11-20T02:14:09Z"},"title":{"v":1,"d":"dev","t":"2026-11-20T02:14:09Z"}}"#;

/// The rows of the reference: what they refer to, then `n` inspections in
/// transactions of `BATCH` (`no`: the dialect's false, `begin` its write
/// transaction).
fn reference_rows(f: &mut impl Write, n: usize, no: &str, begin: &str) -> Option<()> {
    writeln!(
        f,
        "INSERT INTO groups VALUES ('g', 'g', '[]', '2026-11-20 00:00:00', '2026-11-20 00:00:00');
         INSERT INTO users (id, username, display_name, role, group_id, password_hash, created_at, updated_at)
           VALUES ('u', 'u', 'u', 'inspector', 'g', 'x', '2026-11-20 00:00:00', '2026-11-20 00:00:00');
         INSERT INTO sites (id, group_id, name, kind, lat, lon, radius_m, created_at, updated_at)
           VALUES ('s', 'g', 's', 'outfall', 29.8, 107.0, 60, '2026-11-20 00:00:00', '2026-11-20 00:00:00');
         INSERT INTO templates VALUES ('t', NULL, 1, {no}, '2026-11-20 00:00:00', '2026-11-20 00:00:00');"
    )
    .ok()?;
    for b in 0..n / BATCH {
        writeln!(f, "{begin}").ok()?;
        for i in 0..BATCH {
            let k = b * BATCH + i;
            let fields = fields(k).to_string().replace('\'', "''");
            writeln!(
                f,
                "INSERT INTO inspections (id, version, group_id, inspector_id, site_id, template_id, template_version, fields, field_meta, status, lat, lon, review_status, created_at, updated_at) VALUES ('{}', 1, 'g', 'u', 's', 't', 1, '{fields}', '{META}', 'submitted', 29.8571, 107.0812, 'submitted', '2026-11-20 02:14:09', '2026-11-20 02:14:09');",
                uuid::Uuid::new_v4()
            )
            .ok()?;
        }
        writeln!(f, "COMMIT;").ok()?;
    }
    Some(())
}

/// Inserts `n` inspection rows shaped like the server's into a new
/// database at `url` with the server's PostgreSQL schema, in transactions
/// of `BATCH`, by psql over the same connection kind the server uses.
fn reference_pg(dir: &std::path::Path, url: &str, n: usize) -> Option<f64> {
    let script = dir.join("reference-pg.sql");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&script).ok()?);
    let sql = std::fs::read_to_string(format!(
        "{}/migrations/postgres/2026-11-30-000010_initial/up.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .ok()?;
    writeln!(f, "{sql}").ok()?;
    reference_rows(&mut f, n, "FALSE", "BEGIN;")?;
    f.flush().ok()?;
    drop(f);
    let started = Instant::now();
    let out = std::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(&script)
        .output()
        .ok()?;
    let took = started.elapsed();
    if !out.status.success() {
        eprintln!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some((n / BATCH * BATCH) as f64 / took.as_secs_f64())
}

/// Inserts `n` inspection rows shaped like the server's, in transactions
/// of `BATCH`, with WAL and synchronous=FULL, by the sqlite3 tool.
fn reference(dir: &std::path::Path, n: usize) -> Option<f64> {
    let db = dir.join("reference.db");
    let script = dir.join("reference.sql");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&script).ok()?);
    writeln!(
        f,
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
    )
    .ok()?;
    // Every migration, as the server's database has: the same indexes to
    // keep up.
    let dir = format!("{}/migrations/sqlite", env!("CARGO_MANIFEST_DIR"));
    let mut migrations: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    migrations.sort();
    for m in migrations {
        writeln!(f, "{}", std::fs::read_to_string(m.join("up.sql")).ok()?).ok()?;
    }
    reference_rows(&mut f, n, "0", "BEGIN IMMEDIATE;")?;
    f.flush().ok()?;
    drop(f);
    let input = std::fs::File::open(&script).ok()?;
    let started = Instant::now();
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .stdin(input)
        .output()
        .ok()?;
    let took = started.elapsed();
    if !out.status.success() {
        eprintln!("sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some((n / BATCH * BATCH) as f64 / took.as_secs_f64())
}
