//! Review queue benchmark: `GET /api/v1/inspections` under each filter on
//! a database of 100,000 inspections (`QUEUE_ROWS`), as the group's
//! coordinator, over HTTP. `cargo bench --bench queue`.

use serde_json::{Value, json};
use std::time::Instant;

mod common;
use common::percentile;

const PASSWORD: &str = "bench-password-1";

fn main() {
    let rows: usize = std::env::var("QUEUE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (_tmp, cl) = common::start_server(PASSWORD);
    let (_group, site, tpl, token) = common::district(&cl, PASSWORD);
    let coord = cl.login("zhoumin", PASSWORD);
    let device = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(rows);
    for b in 0..rows.div_ceil(500) {
        let items: Vec<Value> = (0..500)
            .map(|i| {
                let k = b * 500 + i;
                let id = uuid::Uuid::new_v4().to_string();
                ids.push(id.clone());
                let status = if k % 3 == 0 { "draft" } else { "submitted" };
                let f = json!({"title": format!("排口{k}"), "status": status, "severity": "high",
                    "location": {"lat": 29.8 + (k % 100) as f64 * 0.001, "lon": 107.0 + (k % 97) as f64 * 0.001,
                                 "accuracy_m": 5, "captured_at": "2026-11-20T02:14:09Z"}});
                let at = Value::Object(f.as_object().unwrap().keys().map(|k| (k.clone(), json!("2026-11-20T02:14:09Z"))).collect());
                json!({"id": id, "site_id": site, "template_id": tpl, "fields": f, "changed_at": at})
            })
            .collect();
        cl.send("POST", "/api/v1/sync/push", &token, Some(&json!({"device_id": device, "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items})));
    }
    // Conflicts on 1% of the records, from a second device.
    let device2 = uuid::Uuid::new_v4().to_string();
    let items: Vec<Value> = ids
        .iter()
        .step_by(100)
        .map(|id| json!({"id": id, "base_version": 0, "fields": {"severity": "low"}, "changed_at": {"severity": "2026-11-20T01:00:00Z"}}))
        .collect();
    for chunk in items.chunks(500) {
        cl.send("POST", "/api/v1/sync/push", &token, Some(&json!({"device_id": device2, "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": chunk})));
    }
    println!(
        "review queue benchmark: {rows} inspections loaded in {:.1} s; 200 requests per filter, limit 50",
        started.elapsed().as_secs_f64()
    );

    let filters = [
        ("no filter", String::new()),
        (
            "review_status=submitted",
            "review_status=submitted".to_string(),
        ),
        ("site_id", format!("site_id={site}")),
        (
            "date range",
            "from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z".to_string(),
        ),
        ("bbox", "bbox=107.0,29.8,107.05,29.85".to_string()),
        ("has_conflicts=true", "has_conflicts=true".to_string()),
        ("page 20 (cursor)", String::from("CURSOR")),
    ];
    for (name, q) in filters {
        let q = if q == "CURSOR" {
            let mut cursor = String::new();
            for _ in 0..19 {
                let p = cl.send(
                    "GET",
                    &format!("/api/v1/inspections?limit=50&cursor={cursor}"),
                    &coord,
                    None,
                );
                cursor = p["next_cursor"].as_str().unwrap_or_default().to_string();
            }
            format!("cursor={cursor}")
        } else {
            q
        };
        let mut ms = Vec::with_capacity(200);
        let mut n = 0;
        for _ in 0..200 {
            let t = Instant::now();
            let p = cl.send(
                "GET",
                &format!("/api/v1/inspections?limit=50&{q}"),
                &coord,
                None,
            );
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            n = p["items"].as_array().map_or(0, Vec::len);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "  {name:<26} p50 {:>6.2} ms   p99 {:>6.2} ms   ({n} items a page)",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        );
    }
}
