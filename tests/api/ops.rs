use crate::helpers::*;

#[test]
fn health_ready_metrics_openapi() {
    let app = TestApp::spawn();
    assert_eq!(app.get("/healthz", "").ok(200)["status"], "ok");
    assert_eq!(app.get("/readyz", "").ok(200)["status"], "ready");

    let r = app.get("/api/v1/groups", &app.admin);
    let request_id = r.header("x-request-id").expect("request id").to_string();
    assert!(!request_id.is_empty());
    app.get("/api/v1/groups/not-a-uuid", &app.admin);

    let m = app.get("/metrics", "");
    assert_eq!(m.status, 200);
    assert!(m.text.contains("fieldsync_http_requests_total{method=\"GET\",route=\"/api/v1/groups\",status=\"200\"} 1"), "{}", m.text);
    assert!(
        m.text
            .contains("route=\"/api/v1/groups/{id}\",status=\"400\""),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("fieldsync_http_request_duration_seconds_bucket")
    );

    let doc = app.get("/api/v1/openapi.json", "").ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/sites/{id}",
        "/api/v1/routes",
        "/api/v1/templates/{id}",
        "/healthz",
        "/api/v1/sync/push",
        "/api/v1/sync/pull",
        "/api/v1/devices",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"].get("Route").is_some());
}
