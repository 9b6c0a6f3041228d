//! Happy paths of groups, users, sites and templates, with Chinese text.

use crate::helpers::*;
use serde_json::json;

#[test]
fn groups_crud() {
    let app = TestApp::spawn();
    let g = app
        .post(
            "/api/v1/groups",
            &app.admin,
            &json!({ "name": "长寿湖联络组", "towns": ["长寿湖镇", "万顺镇", "长寿湖镇"] }),
        )
        .ok(201);
    assert_eq!(g["name"], "长寿湖联络组");
    assert_eq!(g["towns"], json!(["长寿湖镇", "万顺镇"]));
    let gid = id(g);
    let one = app
        .get(&format!("/api/v1/groups/{gid}"), &app.admin)
        .ok(200);
    assert_eq!(one["towns"][1], "万顺镇");
    let p = app
        .patch(
            &format!("/api/v1/groups/{gid}"),
            &app.admin,
            &json!({ "towns": ["洪湖镇"] }),
        )
        .ok(200);
    assert_eq!(p["towns"], json!(["洪湖镇"]));
    assert_eq!(p["name"], "长寿湖联络组");
    let list = app.get("/api/v1/groups", &app.admin).ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["next_cursor"].is_null());

    // Duplicate names are a conflict.
    let r = app.post(
        "/api/v1/groups",
        &app.admin,
        &json!({ "name": "长寿湖联络组" }),
    );
    assert_eq!(r.status, 409);

    // A group with members cannot go; an empty one can.
    app.user("zhengwei", "inspector", Some(&gid));
    let r = app.delete(&format!("/api/v1/groups/{gid}"), &app.admin);
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "in_use");
    let empty = app.group("空联络组");
    assert_eq!(
        app.delete(&format!("/api/v1/groups/{empty}"), &app.admin)
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/groups/{empty}"), &app.admin)
            .status,
        404
    );
}

#[test]
fn users_crud_and_rules() {
    let app = TestApp::spawn();
    let g = app.group("渡舟联络组");
    let u = app
        .post("/api/v1/users", &app.admin, &json!({ "username": "李明", "display_name": "李明 (渡舟)", "role": "inspector", "group_id": g, "password": PASSWORD }))
        .ok(201);
    assert_eq!(u["username"], "李明");
    assert_eq!(u["display_name"], "李明 (渡舟)");
    assert_eq!(u["active"], true);
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    let uid = id(u);

    // A Chinese user name logs in.
    let token = app.login("李明", PASSWORD);
    let me = app.get("/api/v1/users/me", &token).ok(200);
    assert_eq!(me["id"], uid.as_str());
    assert_eq!(me["group_id"], g.as_str());

    // Unique user names.
    let r = app.post(
        "/api/v1/users",
        &app.admin,
        &json!({ "username": "李明", "role": "inspector", "group_id": g, "password": PASSWORD }),
    );
    assert_eq!(r.status, 409);
    // An inspector needs a group, an admin has none, passwords are long enough.
    let r = app.post(
        "/api/v1/users",
        &app.admin,
        &json!({ "username": "x1", "role": "inspector", "password": PASSWORD }),
    );
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("group_id"))
    );
    let r = app.post(
        "/api/v1/users",
        &app.admin,
        &json!({ "username": "x2", "role": "admin", "group_id": g, "password": PASSWORD }),
    );
    assert_eq!(r.status, 422);
    let r = app.post(
        "/api/v1/users",
        &app.admin,
        &json!({ "username": "x3", "role": "coordinator", "password": "short" }),
    );
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("password"))
    );
    let r = app.post(
        "/api/v1/users",
        &app.admin,
        &json!({ "username": "x4", "role": "boss", "password": PASSWORD }),
    );
    assert_eq!(r.status, 422);

    // PATCH: display name, move to district-wide coordinator.
    let p = app
        .patch(
            &format!("/api/v1/users/{uid}"),
            &app.admin,
            &json!({ "display_name": "李明", "role": "coordinator", "group_id": null }),
        )
        .ok(200);
    assert_eq!(p["role"], "coordinator");
    assert!(p["group_id"].is_null());

    let list = app.get("/api/v1/users", &app.admin).ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    app.get(&format!("/api/v1/users/{uid}"), &app.admin).ok(200);
}

#[test]
fn the_last_admin_cannot_be_deactivated() {
    let app = TestApp::spawn();
    let me = id(app.get("/api/v1/users/me", &app.admin).ok(200));
    let r = app.patch(
        &format!("/api/v1/users/{me}"),
        &app.admin,
        &json!({ "active": false }),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "last_admin");
    // Still works: nothing changed.
    app.get("/api/v1/users/me", &app.admin).ok(200);
}

#[test]
fn sites_crud_with_chinese_text() {
    let app = TestApp::spawn();
    let g = app.group("渡舟联络组");
    let body = json!({ "group_id": g, "name": "桃花河1号排口(渡舟大桥)", "kind": "outfall",
                       "address": "重庆市长寿区渡舟街道 桃花河 🌊", "lat": 29.857, "lon": 107.081, "radius_m": 60.0 });
    let s = app.post("/api/v1/sites", &app.admin, &body).ok(201);
    for k in [
        "group_id", "name", "kind", "address", "lat", "lon", "radius_m",
    ] {
        assert_eq!(s[k], body[k], "{k}");
    }
    let sid = id(s);
    let p = app
        .patch(
            &format!("/api/v1/sites/{sid}"),
            &app.admin,
            &json!({ "radius_m": 100.0, "name": "桃花河一号排口" }),
        )
        .ok(200);
    assert_eq!(p["radius_m"], 100.0);
    assert_eq!(p["name"], "桃花河一号排口");
    assert_eq!(p["address"], body["address"]);
    let r = app.patch(
        &format!("/api/v1/sites/{sid}"),
        &app.admin,
        &json!({ "lat": -90.5 }),
    );
    assert_eq!(r.status, 422);

    let filtered = app
        .get(&format!("/api/v1/sites?group_id={g}"), &app.admin)
        .ok(200);
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.delete(&format!("/api/v1/sites/{sid}"), &app.admin)
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/sites/{sid}"), &app.admin).status,
        404
    );
    assert_eq!(
        app.get("/api/v1/sites", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn list_paging_follows_the_cursor() {
    let app = TestApp::spawn();
    let g = app.group("渡舟联络组");
    let mut made: Vec<String> = (0..7).map(|i| app.site(&g, &format!("排口{i}"))).collect();
    made.sort();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/sites?limit=3&cursor={c}"),
            None => "/api/v1/sites?limit=3".to_string(),
        };
        let page = app.get(&path, &app.admin).ok(200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, made);
}

#[test]
fn templates_are_versioned() {
    let app = TestApp::spawn();
    let tid = app.template(None);
    let t = app
        .get(&format!("/api/v1/templates/{tid}"), &app.admin)
        .ok(200);
    assert_eq!(t["version"], 1);
    assert_eq!(t["name"], "水环境巡查");
    assert_eq!(t["items"][1]["options"], json!(["清澈", "浑浊", "发黑"]));
    assert_eq!(t["items"][2]["min"], 0.0);
    assert_eq!(t["items"][2]["max"], 10.0);

    let items =
        json!([{ "key": "odor", "label": "是否有异味", "kind": "yes_no", "required": true }]);
    let t2 = app
        .patch(
            &format!("/api/v1/templates/{tid}"),
            &app.admin,
            &json!({ "items": items }),
        )
        .ok(200);
    assert_eq!(t2["version"], 2);
    assert_eq!(t2["items"].as_array().unwrap().len(), 1);
    // The old version is unchanged and still readable.
    let v1 = app
        .get(&format!("/api/v1/templates/{tid}?version=1"), &app.admin)
        .ok(200);
    assert_eq!(v1["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        app.get(&format!("/api/v1/templates/{tid}?version=9"), &app.admin)
            .status,
        404
    );
    // A patch that changes nothing makes no version.
    let same = app
        .patch(
            &format!("/api/v1/templates/{tid}"),
            &app.admin,
            &json!({ "items": items }),
        )
        .ok(200);
    assert_eq!(same["version"], 2);

    let bad = app.post(
        "/api/v1/templates",
        &app.admin,
        &json!({ "name": "x", "items": [
        { "key": "a.b", "label": "x", "kind": "text" }]}),
    );
    assert_eq!(bad.status, 422);
    let bad = app.post(
        "/api/v1/templates",
        &app.admin,
        &json!({ "name": "x", "items": [
        { "key": "a", "label": "x", "kind": "choice" }]}),
    );
    assert_eq!(bad.status, 422);

    assert_eq!(
        app.get("/api/v1/templates", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.delete(&format!("/api/v1/templates/{tid}"), &app.admin)
            .status,
        204
    );
    assert_eq!(
        app.get("/api/v1/templates", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Retired, still readable for the inspections that used it.
    app.get(&format!("/api/v1/templates/{tid}"), &app.admin)
        .ok(200);
}
