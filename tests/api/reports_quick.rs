//! Quick reports (issue 22): something seen on the way, recorded offline
//! with no site, route or checklist; synced, merged and reviewed like an
//! inspection; the nearest site of the reporter's group found for it.

use crate::helpers::*;
use serde_json::{Value, json};

/// A quick report as the field app's outbox holds it.
pub fn quick_report(id: &str, title: &str, urgency: &str, at: &str) -> Value {
    let fields = json!({
        "title": title, "category": "water", "urgency": urgency, "status": "submitted",
        "notes": "排口有黑水流入河道,气味明显",
        "started_at": at,
        "location": {"lat": 29.8575, "lon": 107.0815, "accuracy_m": 8, "captured_at": at}});
    let changed: serde_json::Map<String, Value> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!(at)))
        .collect();
    json!({"id": id, "kind": "report", "base_version": 0, "fields": fields, "changed_at": changed})
}

#[test]
fn a_quick_report_needs_no_site_and_is_reviewed_like_an_inspection() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let id = uuid();
    let r = app
        .push(
            &li,
            &uuid(),
            vec![quick_report(&id, "桃花河排口黑水", "urgent", T0)],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    let rec = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    assert_eq!(rec["kind"], "report");
    assert_eq!(rec["site_id"], Value::Null);
    assert_eq!(rec["template_id"], Value::Null);
    assert_eq!(rec["group_id"], d.group_a.as_str());
    assert_eq!(rec["review_status"], "submitted");
    // The site of group A at 桃花河 is within 2 km: the nearest.
    assert_eq!(
        rec["checks"]["nearest_site"]["site_id"],
        d.site_a.as_str(),
        "{}",
        rec["checks"]
    );
    assert!(
        rec["checks"]["nearest_site"]["distance_m"]
            .as_f64()
            .unwrap()
            < 2000.0
    );

    // The queue filters by kind, category and urgency.
    let q = |query: &str| {
        app.get(&format!("/api/v1/inspections?{query}"), &coord)
            .ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let planned = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(
            &planned,
            &d,
            json!({"title": "计划巡查"}),
            T0,
        )],
        vec![],
    )
    .ok(200);
    assert_eq!(q("kind=report"), vec![id.clone()]);
    assert_eq!(q("kind=inspection"), vec![planned.clone()]);
    assert_eq!(
        q("kind=report&category=water&urgency=urgent"),
        vec![id.clone()]
    );
    assert!(q("urgency=normal").is_empty());
    assert!(q("category=fire").is_empty());
    let bad = app.get("/api/v1/inspections?category=sky", &coord);
    assert_eq!(
        (bad.status, bad.body["error"]["details"]["field"].as_str()),
        (422, Some("category"))
    );

    // Merged like any record: another phone's note, the coordinator's review.
    let edit = json!({"id": id, "base_version": 1, "fields": {"notes": "已拍视频"},
        "changed_at": {"notes": "2026-11-20T02:20:00Z"}});
    assert_eq!(
        app.push(&li, &uuid(), vec![edit], vec![]).ok(200)["results"][0]["status"],
        "applied"
    );
    app.post(
        &format!("/api/v1/inspections/{id}/reviews"),
        &coord,
        &json!({"decision": "approve", "comment": "已采纳"}),
    )
    .ok(201);
    // A follow-up on a report has no site; a re-inspection stop cannot be
    // made for it.
    let f = app
        .post(
            &format!("/api/v1/inspections/{id}/followups"),
            &coord,
            &json!({"title": "溯源排查", "department": "区生态环境局"}),
        )
        .ok(201);
    assert_eq!(f["site_id"], Value::Null);
    assert_eq!(f["record"]["kind"], "report");
    assert_eq!(f["record"]["urgency"], "urgent");
    // The inspector's phone pulls its report with its kind.
    let (pages, _) = app.pull_all(&li, None);
    let pulled: Vec<&Value> = pages
        .iter()
        .flat_map(|p| p["changes"]["inspections"].as_array().unwrap())
        .filter(|i| i["id"] == id.as_str())
        .collect();
    assert_eq!(pulled.last().unwrap()["kind"], "report");
}

#[test]
fn a_quick_report_refuses_what_it_cannot_be() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let status = |item: Value| -> (String, String) {
        let r = app.push(&li, &uuid(), vec![item], vec![]).ok(200);
        (
            r["results"][0]["status"].as_str().unwrap().to_string(),
            r["results"][0]["error"]["field"]
                .as_str()
                .or(r["results"][0]["error"]["code"].as_str())
                .unwrap_or_default()
                .to_string(),
        )
    };
    // No title, no position, a site named, an unknown category or urgency.
    let mut no_title = quick_report(&uuid(), "x", "normal", T0);
    no_title["fields"]["title"] = json!("");
    assert_eq!(status(no_title).0, "rejected");
    let mut no_place = quick_report(&uuid(), "x", "normal", T0);
    no_place["fields"]
        .as_object_mut()
        .unwrap()
        .remove("location");
    no_place["changed_at"]
        .as_object_mut()
        .unwrap()
        .remove("location");
    assert_eq!(status(no_place), ("rejected".into(), "location".into()));
    let mut with_site = quick_report(&uuid(), "x", "normal", T0);
    with_site["site_id"] = json!(d.site_a);
    assert_eq!(status(with_site), ("rejected".into(), "site_id".into()));
    let mut odd = quick_report(&uuid(), "x", "normal", T0);
    odd["fields"]["category"] = json!("sky");
    assert_eq!(status(odd), ("rejected".into(), "category".into()));
    let mut odd = quick_report(&uuid(), "x", "normal", T0);
    odd["kind"] = json!("rumour");
    assert_eq!(status(odd).0, "rejected");
    // An inspection has no urgency.
    let planned = uuid();
    let mut i = new_inspection(&planned, &d, json!({"title": "计划巡查"}), T0);
    i["fields"]["urgency"] = json!("urgent");
    i["changed_at"]["urgency"] = json!(T0);
    assert_eq!(status(i), ("rejected".into(), "urgency".into()));
    // A kind is set once: a report stays a report, an inspection an
    // inspection, and nothing of the refused push is applied.
    let id = uuid();
    assert_eq!(
        status(quick_report(&id, "排口黑水", "normal", T0)).0,
        "applied"
    );
    let flip = json!({"id": id, "kind": "inspection", "base_version": 1, "fields": {"notes": "改"},
        "changed_at": {"notes": T0}});
    assert_eq!(status(flip), ("rejected".into(), "kind".into()));
    let rec = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    assert_eq!(
        (rec["kind"].as_str(), rec["version"].as_i64()),
        (Some("report"), Some(1))
    );
    assert_ne!(rec["fields"]["notes"], "改");
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(
            &planned,
            &d,
            json!({"title": "计划巡查"}),
            T0,
        )],
        vec![],
    )
    .ok(200);
    let flip = json!({"id": planned, "kind": "report", "base_version": 1, "fields": {"notes": "改"},
        "changed_at": {"notes": T0}});
    assert_eq!(status(flip), ("rejected".into(), "kind".into()));
}
