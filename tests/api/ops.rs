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
    // The writer and the photo jobs: writes waiting, writes per commit
    // (the admin's login wrote at least once), commits, jobs waiting.
    let value = |name: &str| -> f64 {
        m.text
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {}", m.text))
    };
    assert_eq!(value("fieldsync_db_writes_queued"), 0.0);
    assert!(value("fieldsync_db_commits_total") >= 1.0);
    assert!(value("fieldsync_db_commit_group_size_count") >= 1.0);
    assert!(value("fieldsync_db_read_pool_wait_seconds_count") >= 1.0);
    assert_eq!(value("fieldsync_photo_jobs_queued"), 0.0);

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

/// Logs for machines: with `FIELDSYNC_LOG_FORMAT=json` every line is one
/// JSON object, and the lines logged while serving a request (those of its
/// database work on other threads too) carry its request id. Without a
/// terminal there are no colour codes.
#[test]
fn json_logs_carry_the_request_id_into_database_work() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, base, lines) = spawn_serve_with(
        tmp.path(),
        &[
            ("FIELDSYNC_LOG_FORMAT", "json"),
            ("FIELDSYNC_LOG", "info,fieldsync::db=debug"),
        ],
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .unwrap();
    let id = r
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mut seen: Vec<serde_json::Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut all = Vec::new();
    while Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) else {
            if seen
                .iter()
                .any(|l| l["fields"]["message"] == "database write")
            {
                break;
            }
            continue;
        };
        assert!(
            !line.contains('\u{1b}'),
            "a colour code in a log file: {line}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if line.contains(&id) {
            seen.push(v);
        }
        all.push(line);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let messages: Vec<&str> = seen
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"database read"),
        "{messages:?}\n{all:#?}"
    );
    assert!(messages.contains(&"database write"), "{messages:?}");
    // And the request line itself, when its span closes.
    assert!(
        seen.iter().any(|l| l["fields"]["message"] == "close"),
        "{seen:#?}"
    );
}

#[test]
fn plain_logs_have_no_colour_codes_without_a_terminal() {
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, base, lines) = spawn_serve_with(tmp.path(), &[("FIELDSYNC_LOG", "info")]);
    let _ = ureq::get(format!("{base}/healthz")).call();
    let mut got = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
        got.push(line);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!got.is_empty());
    assert!(got.iter().all(|l| !l.contains('\u{1b}')), "{got:#?}");
}

#[test]
fn readyz_fails_when_the_photo_store_cannot_take_bytes() {
    // The local store is broken here by a file in its way.
    let app = TestApp::spawn_on_files(|_| {});
    assert_eq!(app.get("/readyz", "").ok(200)["status"], "ready");
    let tmp = app.dir.join("blobs/tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"in the way").unwrap();
    let r = app.get("/readyz", "");
    assert_eq!((r.status, r.code()), (503, "unavailable"));
    assert!(r.text.contains("photo store"), "{}", r.text);
    std::fs::remove_file(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    assert_eq!(app.get("/readyz", "").ok(200)["status"], "ready");
}

/// The PostgreSQL migrations go down and up again (SQLite's: a unit test
/// in `db`).
#[test]
#[ignore = "needs PostgreSQL (FIELDSYNC_TEST_DATABASE_URL): .ci/run's second pass"]
fn postgres_migrations_go_down_and_up_again() {
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;
    require_postgres(false);
    let tmp = tempfile::tempdir().unwrap();
    let url = test_database(tmp.path()).unwrap();
    let mut c = diesel::PgConnection::establish(&url).unwrap();
    use fieldsync::db::POSTGRES_MIGRATIONS as M;
    assert!(!c.run_pending_migrations(M).unwrap().is_empty());
    c.revert_all_migrations(M).unwrap();
    assert!(!c.run_pending_migrations(M).unwrap().is_empty());
    // And the server runs on what they made.
    let mut config = test_config(tmp.path());
    config.database_url = Some(url);
    let app = TestApp::start(config);
    assert_eq!(app.get("/readyz", "").ok(200)["status"], "ready");
}
