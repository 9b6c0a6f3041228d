//! Every malformed request gets the contract's JSON error, never HTML,
//! never a 500, and changes nothing.

use crate::helpers::*;
use serde_json::json;

#[test]
fn malformed_json_is_400() {
    let app = TestApp::spawn();
    let r = app.raw(
        "POST",
        "/api/v1/groups",
        &app.admin,
        "application/json",
        b"{\"name\": ",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "malformed_json");
}

#[test]
fn wrong_types_are_422() {
    let app = TestApp::spawn();
    let r = app.post("/api/v1/groups", &app.admin, &json!({ "name": 5 }));
    assert_eq!(r.status, 422);
    assert_eq!(r.code(), "validation_failed");
    let r = app.post(
        "/api/v1/groups",
        &app.admin,
        &json!({ "name": "x", "colour": "red" }),
    );
    assert_eq!(r.status, 422, "unknown fields are refused: {}", r.text);
}

#[test]
fn wrong_content_type_is_415() {
    let app = TestApp::spawn();
    let r = app.raw(
        "POST",
        "/api/v1/groups",
        &app.admin,
        "text/plain",
        br#"{"name":"x"}"#,
    );
    assert_eq!(r.status, 415);
    assert_eq!(r.code(), "unsupported_media_type");
}

#[test]
fn unknown_path_is_404_json() {
    let app = TestApp::spawn();
    for path in ["/nope", "/api/v1/nope", "/api/v2/groups"] {
        let r = app.get(path, &app.admin);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.code(), "not_found");
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
    }
}

#[test]
fn wrong_method_is_405_json() {
    let app = TestApp::spawn();
    let r = app.raw(
        "PUT",
        "/api/v1/groups",
        &app.admin,
        "application/json",
        b"{}",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.code(), "method_not_allowed");
    assert!(r.header("allow").unwrap().contains("GET"));
    let r = app.raw("POST", "/healthz", "", "application/json", b"{}");
    assert_eq!(r.status, 405);
}

#[test]
fn oversized_body_is_413_and_changes_nothing() {
    let app = TestApp::spawn_with(|c| c.max_json_bytes = 4096);
    let big = "河".repeat(3000);
    let r = app.post("/api/v1/groups", &app.admin, &json!({ "name": big }));
    assert_eq!(r.status, 413);
    assert_eq!(r.code(), "payload_too_large");
    let groups = app.get("/api/v1/groups", &app.admin).ok(200);
    assert_eq!(groups["items"].as_array().unwrap().len(), 0);
}

#[test]
fn bad_uuid_in_path_is_400() {
    let app = TestApp::spawn();
    for path in [
        "/api/v1/sites/not-a-uuid",
        "/api/v1/groups/123",
        "/api/v1/routes/%E6%B2%B3",
    ] {
        let r = app.get(path, &app.admin);
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.code(), "invalid_path");
    }
}

#[test]
fn bad_query_and_cursor_are_400_or_422() {
    let app = TestApp::spawn();
    let r = app.get("/api/v1/sites?limit=abc", &app.admin);
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "invalid_query");
    let r = app.get("/api/v1/sites?limit=501", &app.admin);
    assert_eq!(r.status, 422);
    let r = app.get("/api/v1/sites?cursor=!!!", &app.admin);
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "invalid_cursor");
}

#[test]
fn invalid_values_are_422_and_change_nothing() {
    let app = TestApp::spawn();
    let g = app.group("渡舟联络组");
    for (body, field) in [
        (
            json!({"group_id": g, "name": "x", "kind": "outfall", "lat": 91.0, "lon": 107.0, "radius_m": 50.0}),
            "lat",
        ),
        (
            json!({"group_id": g, "name": "x", "kind": "outfall", "lat": 29.0, "lon": -181.0, "radius_m": 50.0}),
            "lon",
        ),
        (
            json!({"group_id": g, "name": "x", "kind": "outfall", "lat": 29.0, "lon": 107.0, "radius_m": 0.0}),
            "radius_m",
        ),
        (
            json!({"group_id": g, "name": "x", "kind": "outfall", "lat": 29.0, "lon": 107.0, "radius_m": -5.0}),
            "radius_m",
        ),
        (
            json!({"group_id": g, "name": "  ", "kind": "outfall", "lat": 29.0, "lon": 107.0, "radius_m": 5.0}),
            "name",
        ),
        (
            json!({"group_id": "01a00000-0000-7000-8000-000000000000", "name": "x", "kind": "outfall", "lat": 29.0, "lon": 107.0, "radius_m": 5.0}),
            "group_id",
        ),
    ] {
        let r = app.post("/api/v1/sites", &app.admin, &body);
        assert_eq!(r.status, 422, "{body}");
        assert_eq!(r.code(), "validation_failed");
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    let sites = app.get("/api/v1/sites", &app.admin).ok(200);
    assert_eq!(sites["items"].as_array().unwrap().len(), 0);
}
