//! Housekeeping while the server runs: old batch answers pruned (and a
//! phone replaying such a batch changes nothing), expired uploads, orphaned
//! parts and stale staged files removed on the sweep's interval, each job
//! visible in `/metrics`.

use crate::helpers::*;
use crate::uploads::{patch, start, tus_request};
use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) AS v FROM {sql}"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// The value of a metric line that starts with `prefix`, if any.
fn metric(app: &TestApp, prefix: &str) -> Option<f64> {
    app.get("/metrics", "")
        .text
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn an_old_batch_answer_is_pruned_and_its_replay_changes_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.sweep_interval_secs = 1;
        c.batch_answers_keep_days = 90;
    });
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let device = uuid();
    let id = uuid();
    // Spring: the record made, then edited, in two batches.
    let made = uuid();
    let first = app
        .push_batch(
            &t,
            &device,
            &made,
            vec![new_inspection(
                &id,
                &d,
                json!({"title": "桃花河排口", "notes": "初看"}),
                T0,
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(first["results"][0]["status"], "applied");
    let edited = uuid();
    let edit_item = edit(
        &id,
        1,
        json!({"notes": "排口已封堵"}),
        "2026-11-20T03:00:00Z",
    );
    app.push_batch(&t, &device, &edited, vec![edit_item.clone()], vec![])
        .ok(200);
    // And a batch of this week, which stays.
    let recent = uuid();
    app.push_batch(
        &t,
        &device,
        &recent,
        vec![new_inspection(&uuid(), &d, json!({"title": "本周"}), T0)],
        vec![],
    )
    .ok(200);
    assert_eq!(count(&app, "push_batches"), 3);
    // Those two answers are now 100 days old.
    let old = (chrono::Utc::now() - chrono::Duration::days(100))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S");
    app.sql(&format!(
        "UPDATE push_batches SET created_at = '{old}' WHERE batch_id IN ('{made}', '{edited}')"
    ));
    wait_for("the old answers pruned", Duration::from_secs(10), || {
        count(&app, "push_batches WHERE length(response) > 0") == 1
    });
    assert_eq!(
        app.sql_text(&format!(
            "SELECT batch_id AS v FROM push_batches WHERE device_id = '{device}' AND length(response) > 0"
        ))
        .as_deref(),
        Some(recent.as_str())
    );
    // Their keys stay (four times as long), so the batches are still
    // known as applied.
    assert_eq!(count(&app, "push_batches"), 3);
    let removed = metric(
        &app,
        r#"fieldsync_housekeeping_removed_total{job="batch_answers"}"#,
    );
    assert!(removed.is_some_and(|n| n >= 2.0), "{removed:?}");
    assert!(
        metric(
            &app,
            r#"fieldsync_housekeeping_last_run_timestamp_seconds{job="batch_answers"}"#
        )
        .is_some()
    );

    // A phone that lost both answers in spring sends both batches again:
    // nothing changes, nothing is refused, nothing is applied twice.
    let before = app.get(&format!("/api/v1/inspections/{id}"), &t).ok(200);
    let again = app
        .push_batch(
            &t,
            &device,
            &made,
            vec![new_inspection(
                &id,
                &d,
                json!({"title": "桃花河排口", "notes": "初看"}),
                T0,
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(again["results"][0]["status"], "unchanged", "{again}");
    let again = app
        .push_batch(&t, &device, &edited, vec![edit_item], vec![])
        .ok(200);
    assert_eq!(again["results"][0]["status"], "unchanged", "{again}");
    let after = app.get(&format!("/api/v1/inspections/{id}"), &t).ok(200);
    let v = |x: &Value| {
        let r = if x["inspection"].is_object() {
            &x["inspection"]
        } else {
            x
        };
        (r["version"].clone(), r["fields"]["notes"].clone())
    };
    assert_eq!(v(&after), v(&before));
    assert_eq!(v(&after).1, "排口已封堵", "the spring edit is not undone");
    let conflicts = app
        .get("/api/v1/conflicts", &app.login("zhoumin", PASSWORD))
        .ok(200);
    assert_eq!(conflicts["items"], json!([]), "no conflict logged");

    // A year on, the keys go too; the same replay is then applied anew
    // like any batch (the merge keeps the newer edit and logs the old
    // value: nothing is lost).
    let year = (chrono::Utc::now() - chrono::Duration::days(365))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S");
    app.sql(&format!(
        "UPDATE push_batches SET created_at = '{year}' WHERE batch_id IN ('{made}', '{edited}')"
    ));
    wait_for("the old keys forgotten", Duration::from_secs(10), || {
        count(&app, "push_batches") == 1
    });
}

#[test]
fn the_sweep_removes_expired_uploads_orphaned_parts_and_stale_staging_on_its_interval() {
    let app = TestApp::spawn_with(|c| {
        c.sweep_interval_secs = 1;
        c.upload_expiry_secs = 2;
    });
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let bytes = fixture("synthetic_orientation_6.jpg");
    let (photo, loc) = start(&app, &d, &t, &bytes);
    let (s, _) = patch(&app, &loc, &t, 0, &bytes[..100], None);
    assert_eq!(s, 204);
    let parts = format!("uploads/{}", loc.rsplit('/').next().unwrap());
    assert_eq!(app.blobs(&parts).len(), 1);
    // A dead server's part with no upload row, and staged files: one a day
    // old (left by a crash), one just written (a request's, in use).
    let orphan = format!("uploads/{}", uuid());
    app.put_blob(&format!("{orphan}/0000000000"), b"left behind");
    let staging = app.staging_dir();
    std::fs::create_dir_all(&staging).unwrap();
    let stale = staging.join(uuid());
    std::fs::write(&stale, b"half a photo").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(86_400))
        .unwrap();
    let fresh = staging.join(uuid());
    std::fs::write(&fresh, b"arriving").unwrap();

    // No request does it: the timer does, within a few intervals.
    wait_for("the sweep", Duration::from_secs(10), || {
        app.blobs(&parts).is_empty() && app.blobs(&orphan).is_empty() && !stale.exists()
    });
    assert!(fresh.exists(), "a file in use is left alone");
    assert_eq!(tus_request(&app, "HEAD", &loc, &t, &[], b"").0, 404);
    assert_eq!(count(&app, "uploads"), 0);
    for job in ["expired_uploads", "orphan_parts", "staging"] {
        let runs = metric(
            &app,
            &format!(r#"fieldsync_housekeeping_runs_total{{job="{job}",outcome="ok"}}"#),
        );
        assert!(runs.is_some_and(|n| n >= 1.0), "{job}: {runs:?}");
        let removed = metric(
            &app,
            &format!(r#"fieldsync_housekeeping_removed_total{{job="{job}"}}"#),
        );
        assert!(removed.is_some_and(|n| n >= 1.0), "{job}: {removed:?}");
    }
    // The photo's metadata is untouched: a phone starts the upload again.
    let (s, _) = tus_request(
        &app,
        "POST",
        "/api/v1/uploads",
        &t,
        &[
            ("Upload-Length", bytes.len().to_string()),
            (
                "Upload-Metadata",
                format!(
                    "photo_id {}",
                    base64::engine::general_purpose::STANDARD.encode(&photo)
                ),
            ),
        ],
        b"",
    );
    assert_eq!(s, 201);
}
