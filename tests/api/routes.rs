//! Inspection routes: stops, assignment, reassignment, cancellation.

use crate::helpers::*;
use serde_json::json;

#[test]
fn route_lifecycle() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let site2 = app.site(&d.group_a, "桃花溪三洞桥排口");
    let r = app
        .post(
            "/api/v1/routes",
            &app.admin,
            &json!({
            "group_id": d.group_a, "name": "渡舟 明日巡查", "assignee_id": d.inspector_a,
            "scheduled_for": "2026-11-26", "due_at": "2026-11-27T10:00:00Z",
            "stops": [
                { "site_id": d.site_a, "template_id": d.template, "notes": "重点查看排口" },
                { "site_id": site2, "template_id": d.template }
            ]}),
        )
        .ok(201);
    assert_eq!(r["status"], "planned");
    assert_eq!(r["scheduled_for"], "2026-11-26");
    assert_eq!(r["due_at"], "2026-11-27T10:00:00Z");
    assert_eq!(r["assignee_id"], d.inspector_a.as_str());
    let stops = r["stops"].as_array().unwrap();
    assert_eq!(stops.len(), 2);
    assert_eq!(
        (stops[0]["seq"].as_i64(), stops[1]["seq"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(stops[0]["notes"], "重点查看排口");
    assert_eq!(stops[0]["done"], false);
    let rid = id(r.clone());
    let stop1 = stops[0]["id"].as_str().unwrap().to_string();
    let stop2 = stops[1]["id"].as_str().unwrap().to_string();

    // The inspector sees it.
    let token = app.login("liming", PASSWORD);
    app.get(&format!("/api/v1/routes/{rid}"), &token).ok(200);

    // Reorder: stop ids are kept.
    let p = app
        .patch(&format!("/api/v1/routes/{rid}"), &app.admin, &json!({ "stops": [
            { "id": stop2, "seq": 1, "site_id": site2, "template_id": d.template },
            { "id": stop1, "seq": 2, "site_id": d.site_a, "template_id": d.template, "notes": "重点查看排口" }
        ]}))
        .ok(200);
    assert_eq!(p["stops"][0]["id"], stop2.as_str());
    assert_eq!(p["stops"][1]["id"], stop1.as_str());

    // Reassign to another inspector: the first no longer sees it.
    app.patch(
        &format!("/api/v1/routes/{rid}"),
        &app.admin,
        &json!({ "assignee_id": d.inspector_a2 }),
    )
    .ok(200);
    assert_eq!(
        app.get(&format!("/api/v1/routes/{rid}"), &token).status,
        404
    );
    // Reassign to the whole group: everybody in it sees it.
    let p = app
        .patch(
            &format!("/api/v1/routes/{rid}"),
            &app.admin,
            &json!({ "assignee_id": null }),
        )
        .ok(200);
    assert!(p["assignee_id"].is_null());
    app.get(&format!("/api/v1/routes/{rid}"), &token).ok(200);

    // Status: planned -> active -> cancelled -> planned; done is final.
    for s in ["active", "cancelled", "planned", "done"] {
        let p = app
            .patch(
                &format!("/api/v1/routes/{rid}"),
                &app.admin,
                &json!({ "status": s }),
            )
            .ok(200);
        assert_eq!(p["status"], s);
    }
    let r = app.patch(
        &format!("/api/v1/routes/{rid}"),
        &app.admin,
        &json!({ "status": "planned" }),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "invalid_transition");

    // Filters.
    let done = app
        .get(
            &format!("/api/v1/routes?status=done&group_id={}", d.group_a),
            &app.admin,
        )
        .ok(200);
    assert_eq!(done["items"].as_array().unwrap().len(), 1);

    assert_eq!(
        app.delete(&format!("/api/v1/routes/{rid}"), &app.admin)
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/routes/{rid}"), &app.admin).status,
        404
    );
}

#[test]
fn route_validation() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let post = |body: serde_json::Value| app.post("/api/v1/routes", &app.admin, &body);
    let base = |extra: serde_json::Value| {
        let mut b = json!({ "group_id": d.group_a, "name": "巡查", "scheduled_for": "2026-11-26", "stops": [] });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };

    // A site of another group.
    let r = post(base(
        json!({ "stops": [{ "site_id": d.site_b, "template_id": d.template }] }),
    ));
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("stops[0].site_id"))
    );
    // An assignee of another group, or a coordinator.
    let r = post(base(json!({ "assignee_id": d.inspector_b })));
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("assignee_id"))
    );
    let r = post(base(json!({ "assignee_id": d.coordinator_a })));
    assert_eq!(r.status, 422);
    // A checklist of another group.
    let tb = app.template(Some(&d.group_b));
    let r = post(base(
        json!({ "stops": [{ "site_id": d.site_a, "template_id": tb }] }),
    ));
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("stops[0].template_id"))
    );
    // Stop order with a gap or a repeat.
    let s = |seq: i32| json!({ "seq": seq, "site_id": d.site_a, "template_id": d.template });
    assert_eq!(post(base(json!({ "stops": [s(1), s(3)] }))).status, 422);
    assert_eq!(post(base(json!({ "stops": [s(1), s(1)] }))).status, 422);
    assert_eq!(post(base(json!({ "stops": [s(2), s(1)] }))).status, 201);
    // A bad date.
    assert_eq!(
        post(base(json!({ "scheduled_for": "2026-13-40" }))).status,
        422
    );
    // Moving a route to group B while its stops are group A's sites.
    let r = app.patch(
        &format!("/api/v1/routes/{}", d.route_a),
        &app.admin,
        &json!({ "group_id": d.group_b }),
    );
    assert_eq!(r.status, 422);
    // A foreign stop id.
    let other_stop = app
        .get(&format!("/api/v1/routes/{}", d.route_b), &app.admin)
        .ok(200)["stops"][0]["id"]
        .clone();
    let r = app.patch(
        &format!("/api/v1/routes/{}", d.route_a),
        &app.admin,
        &json!({ "stops": [
        { "id": other_stop, "site_id": d.site_a, "template_id": d.template }]}),
    );
    assert_eq!(r.status, 422);
    // Nothing above changed route A.
    let a = app
        .get(&format!("/api/v1/routes/{}", d.route_a), &app.admin)
        .ok(200);
    assert_eq!(a["group_id"], d.group_a.as_str());
    assert_eq!(a["stops"].as_array().unwrap().len(), 1);
}
