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
