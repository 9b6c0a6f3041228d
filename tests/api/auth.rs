use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

fn claims(sub: &str, exp_offset: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "role": "admin", "group_id": null, "exp": now + exp_offset,
            "iat": now, "jti": "x", "stamp": 0 })
}

fn admin_id(app: &TestApp) -> String {
    id(app.get("/api/v1/users/me", &app.admin).ok(200))
}

#[test]
fn login_gives_the_contract_shape() {
    let app = TestApp::spawn();
    let v = app.login_full("admin", ADMIN_PASSWORD);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 900);
    assert!(v["refresh_token"].as_str().unwrap().len() >= 32);
    assert_eq!(v["user"]["username"], "admin");
    assert_eq!(v["user"]["role"], "admin");
    assert!(v["user"]["group_id"].is_null());
    assert!(v["user"].get("password_hash").is_none());

    // The JWT carries the contract's claims.
    let token = v["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let c: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    for k in ["sub", "role", "group_id", "exp", "iat", "jti"] {
        assert!(c.get(k).is_some(), "claim {k} missing");
    }
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let app = TestApp::spawn();
    let a = app.post(
        "/api/v1/auth/login",
        "",
        &json!({"username": "admin", "password": "nope-nope"}),
    );
    let b = app.post(
        "/api/v1/auth/login",
        "",
        &json!({"username": "ghost", "password": "nope-nope"}),
    );
    assert_eq!((a.status, b.status), (401, 401));
    assert_eq!(a.code(), "invalid_credentials");
    assert_eq!(b.code(), "invalid_credentials");
}

#[test]
fn tokens_that_must_not_work() {
    let app = TestApp::spawn();
    let sub = admin_id(&app);
    let me = "/api/v1/users/me";

    let r = app.get(me, "");
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "unauthorized");

    let expired = encode(
        &Header::new(Algorithm::HS256),
        &claims(&sub, -3600),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let r = app.get(me, &expired);
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "token_expired");

    let other_key = encode(
        &Header::new(Algorithm::HS256),
        &claims(&sub, 600),
        &EncodingKey::from_secret(b"another-key-another-key-another-key!!"),
    )
    .unwrap();
    assert_eq!(app.get(me, &other_key).status, 401);

    let other_alg = encode(
        &Header::new(Algorithm::HS384),
        &claims(&sub, 600),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(app.get(me, &other_alg).status, 401);

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims(&sub, 600).to_string());
    let none = format!("{header}.{body}.");
    assert_eq!(app.get(me, &none).status, 401);

    let mut no_exp = claims(&sub, 600);
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = encode(
        &Header::new(Algorithm::HS256),
        &no_exp,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(app.get(me, &no_exp).status, 401);

    assert_eq!(app.get(me, "garbage").status, 401);

    // The same claims, signed right, do work: the cases above fail for
    // their own reason.
    let good = encode(
        &Header::new(Algorithm::HS256),
        &claims(&sub, 600),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(app.get(me, &good).status, 200);
}

#[test]
fn refresh_rotates_and_detects_reuse() {
    let app = TestApp::spawn_with(|c| c.refresh_grace_secs = 0);
    let first = app.login_full("admin", ADMIN_PASSWORD);
    let r1 = first["refresh_token"].as_str().unwrap();

    let second = app
        .post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r1 }))
        .ok(200);
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(
        app.get("/api/v1/users/me", second["access_token"].as_str().unwrap())
            .status,
        200
    );

    // r1 again, after the grace window: theft. The whole family goes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let reused = app.post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r1 }));
    assert_eq!(reused.status, 401);
    assert_eq!(reused.code(), "refresh_reused");
    let r = app.post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r2 }));
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "refresh_invalid");

    // Another login is its own family and unaffected.
    let other = app.login_full("admin", ADMIN_PASSWORD);
    app.post(
        "/api/v1/auth/refresh",
        "",
        &json!({ "refresh_token": other["refresh_token"] }),
    )
    .ok(200);
}

#[test]
fn refresh_reused_within_grace_is_a_lost_answer() {
    let app = TestApp::spawn();
    let first = app.login_full("admin", ADMIN_PASSWORD);
    let r1 = first["refresh_token"].as_str().unwrap();
    let _lost = app
        .post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r1 }))
        .ok(200);
    // The phone never saw `_lost`, so it sends r1 again.
    let again = app
        .post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r1 }))
        .ok(200);
    let r3 = again["refresh_token"].as_str().unwrap();
    // The new one works, and goes on working.
    let next = app
        .post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r3 }))
        .ok(200);
    app.post(
        "/api/v1/auth/refresh",
        "",
        &json!({ "refresh_token": next["refresh_token"] }),
    )
    .ok(200);
}

/// A thief replays a rotated token within the grace window while the
/// rightful phone holds its unused successor: the grace answer retires the
/// phone's token, and the phone presenting it revokes the whole family, so
/// the thief's fresh token dies with it.
#[test]
fn a_grace_replay_by_a_thief_revokes_the_family_when_the_phone_returns() {
    let app = TestApp::spawn();
    let first = app.login_full("admin", ADMIN_PASSWORD);
    let r1 = first["refresh_token"].as_str().unwrap();
    let phone = app
        .post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r1 }))
        .ok(200);
    let thief = app
        .post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r1 }))
        .ok(200);
    let r = app.post(
        "/api/v1/auth/refresh",
        "",
        &json!({ "refresh_token": phone["refresh_token"] }),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "refresh_reused");
    let r = app.post(
        "/api/v1/auth/refresh",
        "",
        &json!({ "refresh_token": thief["refresh_token"] }),
    );
    assert_eq!(
        r.status, 401,
        "the thief's token is revoked with its family"
    );
    // A token revoked by logout stays a plain invalid one.
    let s = app.login_full("admin", ADMIN_PASSWORD);
    app.post(
        "/api/v1/auth/logout",
        "",
        &json!({ "refresh_token": s["refresh_token"] }),
    );
    let r = app.post(
        "/api/v1/auth/refresh",
        "",
        &json!({ "refresh_token": s["refresh_token"] }),
    );
    assert_eq!(r.code(), "refresh_invalid");
}

#[test]
fn refresh_reused_after_successor_was_used_is_theft_even_in_grace() {
    let app = TestApp::spawn();
    let first = app.login_full("admin", ADMIN_PASSWORD);
    let r1 = first["refresh_token"].as_str().unwrap();
    let second = app
        .post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r1 }))
        .ok(200);
    let third = app
        .post(
            "/api/v1/auth/refresh",
            "",
            &json!({ "refresh_token": second["refresh_token"] }),
        )
        .ok(200);
    let r = app.post("/api/v1/auth/refresh", "", &json!({ "refresh_token": r1 }));
    assert_eq!(r.code(), "refresh_reused");
    assert_eq!(
        app.post(
            "/api/v1/auth/refresh",
            "",
            &json!({ "refresh_token": third["refresh_token"] })
        )
        .status,
        401
    );
}

#[test]
fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn();
    let s = app.login_full("admin", ADMIN_PASSWORD);
    let r = app.post(
        "/api/v1/auth/logout",
        "",
        &json!({ "refresh_token": s["refresh_token"] }),
    );
    assert_eq!(r.status, 204);
    let r = app.post(
        "/api/v1/auth/refresh",
        "",
        &json!({ "refresh_token": s["refresh_token"] }),
    );
    assert_eq!(r.status, 401);
    // Unknown tokens log out quietly too.
    assert_eq!(
        app.post(
            "/api/v1/auth/logout",
            "",
            &json!({ "refresh_token": "nope" })
        )
        .status,
        204
    );
}

#[test]
fn deactivated_user_loses_access_at_once() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let s = app.login_full("liming", PASSWORD);
    let token = s["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/users/me", token).status, 200);

    app.patch(
        &format!("/api/v1/users/{}", d.inspector_a),
        &app.admin,
        &json!({ "active": false }),
    )
    .ok(200);
    let r = app.get("/api/v1/users/me", token);
    assert_eq!(r.status, 401);
    assert_eq!(
        app.post(
            "/api/v1/auth/refresh",
            "",
            &json!({ "refresh_token": s["refresh_token"] })
        )
        .status,
        401
    );
    assert_eq!(
        app.post(
            "/api/v1/auth/login",
            "",
            &json!({ "username": "liming", "password": PASSWORD })
        )
        .status,
        401
    );

    // Reactivated, they log in again; old tokens stay dead.
    app.patch(
        &format!("/api/v1/users/{}", d.inspector_a),
        &app.admin,
        &json!({ "active": true }),
    )
    .ok(200);
    assert_eq!(app.get("/api/v1/users/me", token).status, 401);
    app.login("liming", PASSWORD);
}

#[test]
fn password_change_ends_sessions() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let token = app.login("liming", PASSWORD);
    app.patch(
        &format!("/api/v1/users/{}", d.inspector_a),
        &app.admin,
        &json!({ "password": "a-new-password" }),
    )
    .ok(200);
    assert_eq!(app.get("/api/v1/users/me", &token).status, 401);
    app.login("liming", "a-new-password");
}

#[test]
fn login_is_rate_limited_per_username() {
    let app = TestApp::spawn_with(|c| {
        c.login_burst_per_user = 3;
        c.login_refill_secs = 3600;
    });
    for _ in 0..3 {
        let r = app.post(
            "/api/v1/auth/login",
            "",
            &json!({"username": "victim", "password": "wrong-pass"}),
        );
        assert_eq!(r.status, 401);
    }
    let r = app.post(
        "/api/v1/auth/login",
        "",
        &json!({"username": "victim", "password": "wrong-pass"}),
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Another name from the same address is still let through.
    let r = app.post(
        "/api/v1/auth/login",
        "",
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn login_is_rate_limited_per_address() {
    let app = TestApp::spawn_with(|c| {
        c.login_burst_per_ip = 4;
        c.login_refill_secs = 3600;
    });
    for i in 0..4 {
        app.post(
            "/api/v1/auth/login",
            "",
            &json!({"username": format!("u{i}"), "password": "wrong-pass"}),
        );
    }
    let r = app.post(
        "/api/v1/auth/login",
        "",
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    );
    assert_eq!(r.status, 429);
}
