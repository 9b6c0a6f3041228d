//! Coverage: per site the last inspection, the last approved one, days
//! since, open and overdue follow-ups; never-inspected sites; as CSV.

use crate::helpers::*;
use serde_json::{Value, json};

#[test]
fn coverage_per_site_and_the_stale_filter() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let quiet = app.site(&d.group_a, "从未巡查的排口");
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    // A draft does not count as an inspection; a submitted one does.
    let (draft, done) = (uuid(), uuid());
    app.push(
        &li,
        &uuid(),
        vec![
            new_inspection(&draft, &d, json!({"status": "draft"}), T0),
            new_inspection(&done, &d, json!({"status": "submitted"}), T0),
        ],
        vec![],
    )
    .ok(200);
    let page = |q: &str, token: &str| -> Vec<Value> {
        app.get(&format!("/api/v1/reports/coverage{q}"), token)
            .ok(200)["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let row = |rows: &[Value], site: &str| rows.iter().find(|r| r["site_id"] == site).cloned();
    let rows = page(&format!("?group_id={}", d.group_a), &coord);
    let a = row(&rows, &d.site_a).expect("site a");
    assert!(a["last_inspected_at"].is_string());
    assert_eq!(a["last_approved_at"], Value::Null);
    assert_eq!(a["days_since_inspected"], json!(0));
    let q = row(&rows, &quiet).expect("the quiet site");
    assert_eq!(q["last_inspected_at"], Value::Null);
    assert_eq!(q["days_since_inspected"], Value::Null);

    // Approved, and a follow-up already past due.
    app.post(
        &format!("/api/v1/inspections/{done}/reviews"),
        &coord,
        &json!({"decision": "approve", "comment": "好"}),
    )
    .ok(201);
    app.post(
        &format!("/api/v1/inspections/{done}/followups"),
        &coord,
        &json!({"title": "清理排口", "department": "街道办", "due_at": "2026-01-01T00:00:00Z"}),
    )
    .ok(201);
    let rows = page("", &coord);
    let a = row(&rows, &d.site_a).unwrap();
    assert!(a["last_approved_at"].is_string());
    assert_eq!(
        (a["open_followups"].clone(), a["overdue_followups"].clone()),
        (json!(1), json!(1))
    );
    // Scope: group A's coordinator never sees group B's sites.
    assert!(row(&rows, &d.site_b).is_none());
    assert!(row(&page("", &app.admin), &d.site_b).is_some());

    // Not inspected for a day or more: the quiet site only.
    let stale = page("?stale_days=1", &app.admin);
    assert!(row(&stale, &quiet).is_some());
    assert!(row(&stale, &d.site_a).is_none());
    assert!(row(&stale, &d.site_b).is_some(), "never inspected");

    let csv = app
        .get("/api/v1/reports/coverage.csv?stale_days=1", &app.admin)
        .text;
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("\u{feff}site_id,code,name")
    );
    assert_eq!(lines.count(), stale.len());

    // Bad filters are 400, not a 500.
    assert_eq!(
        app.get("/api/v1/reports/coverage?stale_days=x", &coord)
            .status,
        400
    );
}
