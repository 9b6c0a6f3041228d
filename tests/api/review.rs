//! The coordinator's side over HTTP: queue, reviews, conflicts, audit.

use crate::helpers::*;
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

/// Pushes a submitted inspection at site A; returns its id.
fn submitted(app: &TestApp, d: &District, token: &str, title: &str) -> String {
    let id = uuid();
    let fields = json!({"title": title, "status": "submitted",
        "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 5, "captured_at": T0}});
    app.push(
        token,
        &uuid(),
        vec![new_inspection(&id, d, fields, T0)],
        vec![],
    )
    .ok(200);
    id
}

#[test]
fn the_queue_filters_and_pages_newest_first() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let wang = app.login("wangfang", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let a = submitted(&app, &d, &li, "一");
    let b = submitted(&app, &d, &li, "二");
    let draft = uuid();
    app.push(
        &wang,
        &uuid(),
        vec![new_inspection(&draft, &d, json!({"title": "草稿"}), T0)],
        vec![],
    )
    .ok(200);

    let all = app.get("/api/v1/inspections", &coord).ok(200);
    assert_eq!(
        ids(&all),
        vec![draft.clone(), b.clone(), a.clone()],
        "newest first"
    );
    let q = app
        .get("/api/v1/inspections?review_status=submitted", &coord)
        .ok(200);
    assert_eq!(ids(&q), vec![b.clone(), a.clone()]);
    let q = app
        .get(
            &format!("/api/v1/inspections?inspector_id={}", d.inspector_a2),
            &coord,
        )
        .ok(200);
    assert_eq!(ids(&q), vec![draft.clone()]);
    let q = app
        .get(
            &format!(
                "/api/v1/inspections?site_id={}&group_id={}",
                d.site_a, d.group_a
            ),
            &coord,
        )
        .ok(200);
    assert_eq!(ids(&q).len(), 3);
    let q = app
        .get(
            &format!("/api/v1/inspections?route_id={}", d.route_a),
            &coord,
        )
        .ok(200);
    assert!(ids(&q).is_empty());
    let q = app
        .get("/api/v1/inspections?bbox=107.0,29.8,107.1,29.9", &coord)
        .ok(200);
    assert_eq!(
        ids(&q),
        vec![b.clone(), a.clone()],
        "the draft has no location"
    );
    let q = app
        .get("/api/v1/inspections?bbox=100,20,101,21", &coord)
        .ok(200);
    assert!(ids(&q).is_empty());
    assert_eq!(
        app.get("/api/v1/inspections?bbox=1,2,3", &coord).status,
        422
    );
    let q = app
        .get(
            "/api/v1/inspections?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z",
            &coord,
        )
        .ok(200);
    assert!(ids(&q).is_empty());
    let q = app
        .get("/api/v1/inspections?has_conflicts=true", &coord)
        .ok(200);
    assert!(ids(&q).is_empty());
    let q = app
        .get("/api/v1/inspections?has_conflicts=false", &coord)
        .ok(200);
    assert_eq!(ids(&q).len(), 3);

    // Paging by one.
    let p1 = app.get("/api/v1/inspections?limit=1", &coord).ok(200);
    let c1 = p1["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(&format!("/api/v1/inspections?limit=1&cursor={c1}"), &coord)
        .ok(200);
    let c2 = p2["next_cursor"].as_str().unwrap();
    let p3 = app
        .get(&format!("/api/v1/inspections?limit=1&cursor={c2}"), &coord)
        .ok(200);
    assert_eq!(
        [ids(&p1), ids(&p2), ids(&p3)].concat(),
        vec![draft.clone(), b.clone(), a.clone()]
    );
    assert!(p3["next_cursor"].is_null());

    // Scope: inspectors their own; another group's coordinator nothing.
    assert_eq!(
        ids(&app.get("/api/v1/inspections", &li).ok(200)),
        vec![b.clone(), a.clone()]
    );
    app.user("sunli", "coordinator", Some(&d.group_b));
    let other = app.login("sunli", PASSWORD);
    assert!(ids(&app.get("/api/v1/inspections", &other).ok(200)).is_empty());
    assert_eq!(
        app.get(&format!("/api/v1/inspections/{a}"), &other).status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/inspections/{a}"), &wang).status,
        404
    );

    let detail = app.get(&format!("/api/v1/inspections/{a}"), &coord).ok(200);
    assert_eq!(detail["fields"]["title"], "一");
    assert_eq!(detail["reviews"], json!([]));
    assert_eq!(detail["conflicts"], json!([]));
    assert_eq!(detail["checks"]["within_site_radius"], true);
}

#[test]
fn reviews_move_records_and_reach_the_phone() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let id = submitted(&app, &d, &li, "排口");
    let (_, cursor) = app.pull_all(&li, None);
    let path = format!("/api/v1/inspections/{id}/reviews");

    assert_eq!(
        app.post(&path, &li, &json!({"decision": "approve"})).status,
        403
    );
    let r = app.post(&path, &coord, &json!({"decision": "return"}));
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("comment"))
    );
    let r = app
        .post(
            &path,
            &coord,
            &json!({"decision": "return", "comment": "请补拍排口近景照片"}),
        )
        .ok(201);
    assert_eq!(r["decision"], "return");
    assert_eq!(
        app.get(&format!("/api/v1/inspections/{id}"), &coord)
            .ok(200)["review_status"],
        "returned"
    );
    assert_eq!(
        app.post(&path, &coord, &json!({"decision": "approve"}))
            .code(),
        "invalid_transition"
    );

    // The inspector's next pull carries the comment, the new status and
    // the server's own edit: `status: draft`, a new version.
    let p = app
        .get(&format!("/api/v1/sync/pull?cursor={cursor}"), &li)
        .ok(200);
    assert_eq!(p["changes"]["reviews"][0]["comment"], "请补拍排口近景照片");
    let pulled = &p["changes"]["inspections"][0];
    assert_eq!(pulled["review_status"], "returned");
    assert_eq!(pulled["fields"]["status"], "draft");
    assert_eq!(pulled["version"], 2);

    // An old outbox that still says `submitted` (changed before the return)
    // does not put it back in the queue: the return is newer.
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(&id, 1, json!({"status": "submitted"}), T0)],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["fields"]["status"], "draft");
    // An edit alone does not either.
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(
                &id,
                2,
                json!({"notes": "已补充"}),
                "2026-11-21T00:00:00Z",
            )],
            vec![],
        )
        .ok(200);
    let v = r["results"][0]["version"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/inspections/{id}"), &coord)
            .ok(200)["review_status"],
        "returned"
    );
    // An explicit new submit does.
    app.push(
        &li,
        &uuid(),
        vec![edit(
            &id,
            v,
            json!({"status": "submitted"}),
            "2026-11-21T00:01:00Z",
        )],
        vec![],
    )
    .ok(200);
    let detail = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    assert_eq!(detail["review_status"], "submitted");
    let seen = detail["version"].as_i64().unwrap();

    // A reviewer who saw an older version is refused, and nothing changes.
    let r = app.post(
        &path,
        &coord,
        &json!({"decision": "approve", "version": seen - 1}),
    );
    assert_eq!((r.status, r.code()), (409, "stale"));
    app.post(
        &path,
        &coord,
        &json!({"decision": "approve", "comment": "好", "version": seen}),
    )
    .ok(201);
    let detail = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    assert_eq!(detail["review_status"], "approved");
    assert_eq!(detail["reviews"].as_array().unwrap().len(), 2);
    // Approved is locked against the inspector.
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(
                &id,
                seen,
                json!({"notes": "再改"}),
                "2026-11-22T00:00:00Z",
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["error"]["code"], "locked");
}

#[test]
fn conflicts_are_listed_and_overridden_to_every_device() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let id = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(&id, &d, json!({"notes": "原始"}), T0)],
        vec![],
    )
    .ok(200);
    app.push(
        &li,
        &uuid(),
        vec![edit(
            &id,
            1,
            json!({"notes": "后来的"}),
            "2026-11-20T05:00:00Z",
        )],
        vec![],
    )
    .ok(200);
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(
                &id,
                1,
                json!({"notes": "更早的"}),
                "2026-11-20T04:00:00Z",
            )],
            vec![],
        )
        .ok(200);
    let conflict = r["results"][0]["conflicts"][0]["conflict_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, cursor) = app.pull_all(&li, None);

    let open = app.get("/api/v1/conflicts?status=open", &coord).ok(200);
    assert_eq!(ids(&open), vec![conflict.clone()]);
    assert_eq!(
        app.get("/api/v1/inspections?has_conflicts=true", &coord)
            .ok(200)["items"][0]["id"],
        id.as_str()
    );
    let path = format!("/api/v1/conflicts/{conflict}/resolve");
    assert_eq!(
        app.post(&path, &li, &json!({"keep": "discarded"})).status,
        403
    );
    let c = app
        .post(&path, &coord, &json!({"keep": "discarded"}))
        .ok(200);
    assert_eq!(c["status"], "resolved");
    assert!(c["resolved_by"].is_string());
    assert_eq!(
        app.post(&path, &coord, &json!({"keep": "kept"})).code(),
        "already_resolved"
    );
    assert!(ids(&app.get("/api/v1/conflicts?status=open", &coord).ok(200)).is_empty());

    // The override is a new version every device pulls.
    let p = app
        .get(&format!("/api/v1/sync/pull?cursor={cursor}"), &li)
        .ok(200);
    let rec = &p["changes"]["inspections"][0];
    assert_eq!(rec["fields"]["notes"], "更早的");
    assert_eq!(rec["version"], 3);
    assert_eq!(p["changes"]["conflicts"][0]["status"], "resolved");
}

#[test]
fn an_override_restores_an_edit_that_lost_to_a_delete() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let id = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(&id, &d, json!({"notes": "x"}), T0)],
        vec![],
    )
    .ok(200);
    app.push(
        &li,
        &uuid(),
        vec![json!({"id": id, "base_version": 1, "deleted": true, "fields": {}})],
        vec![],
    )
    .ok(200);
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(
                &id,
                1,
                json!({"notes": "误删前的记录"}),
                "2026-11-20T05:00:00Z",
            )],
            vec![],
        )
        .ok(200);
    let conflict = r["results"][0]["conflicts"][0]["conflict_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/conflicts/{conflict}/resolve"),
        &coord,
        &json!({"keep": "discarded"}),
    )
    .ok(200);
    let detail = app.get(&format!("/api/v1/inspections/{id}"), &li).ok(200);
    assert_eq!(detail["deleted"], false);
    assert_eq!(detail["fields"]["notes"], "误删前的记录");
}

#[test]
fn the_audit_log_records_who_did_what() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let id = submitted(&app, &d, &li, "排口");
    app.post(
        &format!("/api/v1/inspections/{id}/reviews"),
        &coord,
        &json!({"decision": "approve"}),
    )
    .ok(201);

    let all = app.get("/api/v1/audit?limit=500", &app.admin).ok(200);
    let actions: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "auth.login",
        "group.create",
        "user.create",
        "site.create",
        "template.create",
        "route.create",
        "review.approve",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert_eq!(actions[0], "review.approve", "newest first");
    let q = app
        .get(
            &format!("/api/v1/audit?object_type=inspection&object_id={id}"),
            &app.admin,
        )
        .ok(200);
    assert_eq!(q["items"].as_array().unwrap().len(), 1);
    assert_eq!(q["items"][0]["details"]["to"], "approved");
    let q = app
        .get(
            &format!("/api/v1/audit?actor_id={}&object_type=user", d.inspector_a),
            &app.admin,
        )
        .ok(200);
    assert!(
        q["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("auth."))
    );
    assert_eq!(app.get("/api/v1/audit", &coord).status, 403);
    let p1 = app.get("/api/v1/audit?limit=2", &app.admin).ok(200);
    let p2 = app
        .get(
            &format!(
                "/api/v1/audit?limit=2&cursor={}",
                p1["next_cursor"].as_str().unwrap()
            ),
            &app.admin,
        )
        .ok(200);
    assert_ne!(p1["items"][0]["id"], p2["items"][0]["id"]);
}

#[test]
fn followups_are_chased_to_verification_on_the_ground() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let id = submitted(&app, &d, &li, "排口污水溢流");
    let (_, cursor) = app.pull_all(&li, None);
    let path = format!("/api/v1/inspections/{id}/followups");
    let body = json!({"title": "修复破损污水管网", "department": "区住房和城乡建委", "due_at": "2020-01-01T00:00:00Z"});
    assert_eq!(app.post(&path, &li, &body).status, 403);
    let f = app.post(&path, &coord, &body).ok(201);
    assert_eq!(f["status"], "open");
    assert_eq!(f["site_id"], d.site_a.as_str());
    assert_eq!(f["overdue"], true);
    assert_eq!(f["history"].as_array().unwrap().len(), 1);
    let fid = f["id"].as_str().unwrap().to_string();

    // It reaches the inspector's phone, and the overdue list.
    let p = app
        .get(&format!("/api/v1/sync/pull?cursor={cursor}"), &li)
        .ok(200);
    assert_eq!(p["changes"]["followups"][0]["title"], "修复破损污水管网");
    let overdue = app.get("/api/v1/followups?overdue=true", &coord).ok(200);
    assert_eq!(ids(&overdue), vec![fid.clone()]);

    let fp = format!("/api/v1/followups/{fid}");
    let r = app.patch(&fp, &coord, &json!({"status": "verified"}));
    assert_eq!(r.code(), "invalid_transition");
    app.patch(
        &fp,
        &coord,
        &json!({"status": "in_progress", "note": "已派单"}),
    )
    .ok(200);
    let f = app
        .patch(
            &fp,
            &coord,
            &json!({"status": "resolved", "note": "部门报告已修复"}),
        )
        .ok(200);
    assert_eq!(f["overdue"], false);
    let hist: Vec<&str> = f["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(hist, vec!["open", "in_progress", "resolved"]);
    assert_eq!(f["history"][2]["note"], "部门报告已修复");
    assert!(f["history"][2]["by"].is_string() && f["history"][2]["at"].is_string());

    // A re-verification stop on the group's route, where the inspector
    // looks again: not fixed reopens, fixed verifies.
    let f = app
        .post(
            &format!("{fp}/verification"),
            &coord,
            &json!({"route_id": d.route_a, "template_id": d.template}),
        )
        .ok(200);
    let stop = f["verify_stop_id"].as_str().unwrap().to_string();
    let route = app
        .get(&format!("/api/v1/routes/{}", d.route_a), &li)
        .ok(200);
    let last = route["stops"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["id"].as_str(), last["site_id"].as_str()),
        (Some(stop.as_str()), Some(d.site_a.as_str()))
    );

    let look = |rectified: bool| {
        let mut item = new_inspection(
            &uuid(),
            &d,
            json!({"status": "submitted", "rectified": rectified}),
            T0,
        );
        item["route_id"] = json!(d.route_a);
        item["stop_id"] = json!(stop);
        app.push(&li, &uuid(), vec![item], vec![]).ok(200);
    };
    look(false);
    assert_eq!(app.get(&fp, &coord).ok(200)["status"], "open");
    app.patch(
        &fp,
        &coord,
        &json!({"status": "resolved", "note": "再次整改"}),
    )
    .ok(200);
    look(true);
    let f = app.get(&fp, &coord).ok(200);
    assert_eq!(f["status"], "verified");
    assert_eq!(
        app.get(&format!("/api/v1/inspections/{id}"), &coord)
            .ok(200)["followups"][0]["status"],
        "verified"
    );
    assert_eq!(
        app.patch(&fp, &coord, &json!({"status": "open"})).status,
        409
    );
}

#[test]
fn reports_parse_back_with_their_filters() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let a = submitted(&app, &d, &li, "桃花河,排口 \"一号\"");
    let b = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(&b, &d, json!({"title": "草稿"}), T0)],
        vec![],
    )
    .ok(200);
    app.post(
        &format!("/api/v1/inspections/{a}/reviews"),
        &coord,
        &json!({"decision": "approve"}),
    )
    .ok(201);
    app.post(
        &format!("/api/v1/inspections/{a}/followups"),
        &coord,
        &json!({"title": "整改", "department": "区生态环境局"}),
    )
    .ok(201);

    let (s, hs, body) = app.get_bytes("/api/v1/reports/inspections.csv", &coord, &[]);
    assert_eq!(s, 200);
    assert!(
        hs.iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/csv"))
    );
    assert!(
        body.starts_with(b"\xEF\xBB\xBF"),
        "UTF-8 BOM for spreadsheets"
    );
    let mut r = csv::Reader::from_reader(&body[3..]);
    let headers = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let row_a = rows.iter().find(|x| &x[col("id")] == a.as_str()).unwrap();
    assert_eq!(&row_a[col("title")], "桃花河,排口 \"一号\"");
    assert_eq!(&row_a[col("review_status")], "approved");
    assert_eq!(&row_a[col("site")], "桃花河1号排口");
    // Times in the sheet are district time, the same instant as the API's.
    let created = &row_a[col("created_at")];
    assert!(created.ends_with("+08:00"), "{created}");
    let api = app.get(&format!("/api/v1/inspections/{a}"), &coord).ok(200);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(created).unwrap(),
        chrono::DateTime::parse_from_rfc3339(api["created_at"].as_str().unwrap()).unwrap()
    );
    let (_, _, filtered) = app.get_bytes(
        "/api/v1/reports/inspections.csv?review_status=approved",
        &coord,
        &[],
    );
    assert_eq!(
        csv::Reader::from_reader(&filtered[3..]).records().count(),
        1
    );

    let (s, hs, body) = app.get_bytes("/api/v1/reports/inspections.geojson", &coord, &[]);
    assert_eq!(s, 200);
    assert!(
        hs.iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/geo+json"))
    );
    let g: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(g["type"], "FeatureCollection");
    let feats = g["features"].as_array().unwrap();
    assert_eq!(feats.len(), 2);
    let fa = feats.iter().find(|f| f["id"] == a.as_str()).unwrap();
    assert_eq!(fa["type"], "Feature");
    assert_eq!(fa["geometry"]["type"], "Point");
    assert_eq!(
        fa["geometry"]["coordinates"],
        json!([107.0812, 29.8571]),
        "[lon, lat]"
    );
    assert_eq!(fa["properties"]["review_status"], "approved");
    assert_eq!(fa["properties"]["photo_count"], 0);
    let fb = feats.iter().find(|f| f["id"] == b.as_str()).unwrap();
    assert!(fb["geometry"].is_null());

    let ledger = app
        .get(
            "/api/v1/reports/ledger?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
            &coord,
        )
        .ok(200);
    let rows = ledger.as_array().unwrap();
    let mine = rows.iter().find(|r| r["username"] == "liming").unwrap();
    assert_eq!(
        (mine["inspections"].as_i64(), mine["approved"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(mine["followups_raised"], 1);
    assert_eq!(mine["followups_resolved"], 0);
    let other = rows.iter().find(|r| r["username"] == "wangfang").unwrap();
    assert_eq!(other["inspections"], 0);
    assert!(
        rows.iter().all(|r| r["group_id"] == d.group_a.as_str()),
        "the coordinator's group only"
    );
    let empty = app
        .get(
            "/api/v1/reports/ledger?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z",
            &coord,
        )
        .ok(200);
    assert!(
        empty
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["inspections"] == 0)
    );
}
