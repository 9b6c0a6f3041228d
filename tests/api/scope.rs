//! Who sees what: out of scope is 404 (as if missing), a role that may not
//! act is 403.

use crate::helpers::*;
use serde_json::json;

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn inspector_sees_only_their_group() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);

    app.get(&format!("/api/v1/sites/{}", d.site_a), &t).ok(200);
    let r = app.get(&format!("/api/v1/sites/{}", d.site_b), &t);
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_found");
    assert_eq!(
        ids(&app.get("/api/v1/sites", &t).ok(200)),
        vec![d.site_a.clone()]
    );
    // Filtering for another group's sites finds nothing rather than leaking.
    assert!(
        ids(&app
            .get(&format!("/api/v1/sites?group_id={}", d.group_b), &t)
            .ok(200))
        .is_empty()
    );

    app.get(&format!("/api/v1/routes/{}", d.route_a), &t)
        .ok(200);
    assert_eq!(
        app.get(&format!("/api/v1/routes/{}", d.route_b), &t).status,
        404
    );
    // A route of their own group assigned to somebody else.
    assert_eq!(
        app.get(&format!("/api/v1/routes/{}", d.route_a2), &t)
            .status,
        404
    );
    assert_eq!(
        ids(&app.get("/api/v1/routes", &t).ok(200)),
        vec![d.route_a.clone()]
    );

    app.get(&format!("/api/v1/groups/{}", d.group_a), &t)
        .ok(200);
    assert_eq!(
        app.get(&format!("/api/v1/groups/{}", d.group_b), &t).status,
        404
    );
    assert_eq!(
        ids(&app.get("/api/v1/groups", &t).ok(200)),
        vec![d.group_a.clone()]
    );

    // District-wide checklists, and their own group's, not group B's.
    let tb = app.template(Some(&d.group_b));
    let ta = app.template(Some(&d.group_a));
    let seen = ids(&app.get("/api/v1/templates", &t).ok(200));
    assert!(seen.contains(&d.template) && seen.contains(&ta) && !seen.contains(&tb));
    assert_eq!(app.get(&format!("/api/v1/templates/{tb}"), &t).status, 404);

    // Users: only themselves.
    assert_eq!(
        ids(&app.get("/api/v1/users", &t).ok(200)),
        vec![d.inspector_a.clone()]
    );
    assert_eq!(
        app.get(&format!("/api/v1/users/{}", d.inspector_a2), &t)
            .status,
        404
    );
}

#[test]
fn inspector_cannot_write_reference_data() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let site = json!({ "group_id": d.group_a, "name": "x", "kind": "outfall", "lat": 29.0, "lon": 107.0, "radius_m": 5.0 });
    let r = app.post("/api/v1/sites", &t, &site);
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "forbidden");
    assert_eq!(
        app.patch(
            &format!("/api/v1/sites/{}", d.site_a),
            &t,
            &json!({ "name": "y" })
        )
        .status,
        403
    );
    assert_eq!(
        app.delete(&format!("/api/v1/sites/{}", d.site_a), &t)
            .status,
        403
    );
    assert_eq!(
        app.post("/api/v1/groups", &t, &json!({ "name": "x" }))
            .status,
        403
    );
    assert_eq!(
        app.post(
            "/api/v1/templates",
            &t,
            &json!({ "name": "x", "items": [] })
        )
        .status,
        403
    );
    assert_eq!(
        app.patch(
            &format!("/api/v1/routes/{}", d.route_a),
            &t,
            &json!({ "status": "cancelled" })
        )
        .status,
        403
    );
    // Even on an object outside their scope the answer is the role's 403,
    // which says nothing about whether the object exists.
    assert_eq!(
        app.patch(
            &format!("/api/v1/sites/{}", d.site_b),
            &t,
            &json!({ "name": "y" })
        )
        .status,
        403
    );
    // Nothing changed.
    assert_eq!(
        app.get(&format!("/api/v1/sites/{}", d.site_a), &t).ok(200)["name"],
        "桃花河1号排口"
    );
}

#[test]
fn coordinator_sees_group_but_cannot_manage_users() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("zhoumin", PASSWORD);
    let r = app.post("/api/v1/users", &t, &json!({ "username": "new1", "role": "inspector", "group_id": d.group_a, "password": PASSWORD }));
    assert_eq!(r.status, 403);
    assert_eq!(
        app.patch(
            &format!("/api/v1/users/{}", d.inspector_a),
            &t,
            &json!({ "active": false })
        )
        .status,
        403
    );
    let site = json!({ "group_id": d.group_a, "name": "x", "kind": "outfall", "lat": 29.0, "lon": 107.0, "radius_m": 5.0 });
    assert_eq!(app.post("/api/v1/sites", &t, &site).status, 403);

    // Every route of the group, including ones assigned to one inspector.
    let mut seen = ids(&app.get("/api/v1/routes", &t).ok(200));
    seen.sort();
    let mut want = vec![d.route_a.clone(), d.route_a2.clone()];
    want.sort();
    assert_eq!(seen, want);
    assert_eq!(
        app.get(&format!("/api/v1/routes/{}", d.route_b), &t).status,
        404
    );
    // The group's users, not group B's.
    let users = ids(&app.get("/api/v1/users", &t).ok(200));
    assert!(users.contains(&d.inspector_a) && !users.contains(&d.inspector_b));
    assert_eq!(
        app.get(&format!("/api/v1/users/{}", d.inspector_b), &t)
            .status,
        404
    );
}

#[test]
fn district_coordinator_sees_every_group() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    app.user("district", "coordinator", None);
    let t = app.login("district", PASSWORD);
    app.get(&format!("/api/v1/routes/{}", d.route_b), &t)
        .ok(200);
    app.get(&format!("/api/v1/sites/{}", d.site_b), &t).ok(200);
    assert_eq!(ids(&app.get("/api/v1/groups", &t).ok(200)).len(), 2);
}

#[test]
fn moving_an_inspector_changes_their_scope_at_once() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    app.get(&format!("/api/v1/sites/{}", d.site_a), &t).ok(200);
    app.patch(
        &format!("/api/v1/users/{}", d.inspector_a),
        &app.admin,
        &json!({ "group_id": d.group_b }),
    )
    .ok(200);
    assert_eq!(
        app.get(&format!("/api/v1/sites/{}", d.site_a), &t).status,
        404
    );
    app.get(&format!("/api/v1/sites/{}", d.site_b), &t).ok(200);
}
