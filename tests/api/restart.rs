//! Everything written survives a restart on the same data directory.

use crate::helpers::*;
use serde_json::json;

#[test]
fn restart_finds_everything() {
    let app = TestApp::spawn_with(|c| c.jwt_secret = None);
    let d = District::new(&app);
    let route_before = app
        .get(&format!("/api/v1/routes/{}", d.route_a), &app.admin)
        .ok(200);
    let session = app.login_full("liming", PASSWORD);
    app.patch(
        &format!("/api/v1/templates/{}", d.template),
        &app.admin,
        &json!({ "name": "水环境巡查(2026版)" }),
    )
    .ok(200);
    // The generated secret was kept in the data directory.
    let secret = std::fs::read_to_string(app.dir.join("jwt-secret")).unwrap();
    assert!(secret.len() >= 32);

    let app = app.restart();
    assert_eq!(
        std::fs::read_to_string(app.dir.join("jwt-secret")).unwrap(),
        secret
    );
    // The old access token still verifies: same secret.
    let old = session["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/users/me", old).ok(200)["username"],
        "liming"
    );
    // The refresh token still rotates.
    app.post(
        "/api/v1/auth/refresh",
        "",
        &json!({ "refresh_token": session["refresh_token"] }),
    )
    .ok(200);

    let route_after = app
        .get(&format!("/api/v1/routes/{}", d.route_a), &app.admin)
        .ok(200);
    assert_eq!(route_before, route_after);
    let t = app
        .get(&format!("/api/v1/templates/{}", d.template), &app.admin)
        .ok(200);
    assert_eq!(
        (t["version"].as_i64(), t["name"].as_str()),
        (Some(2), Some("水环境巡查(2026版)"))
    );
    assert_eq!(
        app.get("/api/v1/groups", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.get("/api/v1/users", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    app.get(&format!("/api/v1/sites/{}", d.site_b), &app.admin)
        .ok(200);
}

/// Another server (or a long import) holds the write lock for longer than
/// the busy timeout: a server starting meanwhile comes up and serves reads
/// (its start-up only reads, and making scheduled routes waits for the
/// schedule job), and writes go through once the lock is free.
#[test]
fn a_server_starts_while_another_holds_the_write_lock() {
    use diesel::connection::SimpleConnection;
    let mut app = TestApp::spawn_with(|c| c.busy_timeout_ms = 300);
    let d = District::new(&app);
    app.post(
        "/api/v1/schedules",
        &app.admin,
        &json!({"group_id": d.group_a, "name": "每日巡河",
                "stops": [{"site_id": d.site_a, "template_id": d.template}],
                "recurrence": {"freq": "weekly", "weekdays": [1,2,3,4,5,6,7]}, "horizon_days": 2}),
    )
    .ok(201);
    let admin = app.admin.clone();
    app.stop();
    // Days pass (the schedule has dates to make) while another process
    // holds the lock.
    app.sql("UPDATE schedules SET generated_through = NULL;");
    let mut other = app.db();
    fieldsync::db::begin_write(&mut other).unwrap();
    let started = std::time::Instant::now();
    let mut second = TestApp::start_signed_out(app.config.clone());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(second.get("/healthz", "").status, 200);
    second.get("/api/v1/routes", &admin).ok(200);
    assert_eq!(
        second
            .post(
                "/api/v1/auth/login",
                "",
                &json!({"username": "admin", "password": ADMIN_PASSWORD})
            )
            .status,
        503
    );
    other.batch_execute("ROLLBACK;").unwrap();
    second.admin = second.login("admin", ADMIN_PASSWORD);
    second.get("/api/v1/groups", &second.admin).ok(200);
    second.stop();
}
