//! A server killed with SIGKILL in the middle of a large push keeps all of
//! that batch or none of it, keeps every push it answered, and a replay
//! then applies the batch exactly once.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

fn count_inspections(app: &TestApp) -> Vec<(String, i64)> {
    let (pages, _) = app.pull_all(&app.admin, None);
    let mut out: Vec<(String, i64)> = pages
        .iter()
        .flat_map(|p| p["changes"]["inspections"].as_array().unwrap().clone())
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["version"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn kill_9_mid_push_keeps_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let config = test_config(tmp.path());
    let (d, token) = {
        let app = TestApp::start(config.clone());
        let d = District::new(&app);
        let token = app.login("liming", PASSWORD);
        (d, token)
    };
    let device = uuid();
    let batch = uuid();
    let items: Vec<Value> = (0..1000)
        .map(|i| {
            new_inspection(
                &uuid(),
                &d,
                json!({"title": format!("排口{i}"), "notes": "河水发黑,有异味。".repeat(20), "severity": "high",
                       "answers.outfall_flowing": true, "answers.water_color": "发黑", "answers.score": 2,
                       "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": T0}}),
                T0,
            )
        })
        .collect();
    let body = json!({"device_id": device, "batch_id": batch, "inspections": items, "photos": []});

    // How long such a push takes here, on a scratch copy of the district.
    let took = {
        let scratch = TestApp::spawn();
        let sd = District::new(&scratch);
        let st = scratch.login("liming", PASSWORD);
        let mut b = body.clone();
        for item in b["inspections"].as_array_mut().unwrap() {
            item["id"] = json!(uuid());
            item["site_id"] = json!(sd.site_a);
            item["template_id"] = json!(sd.template);
        }
        let started = std::time::Instant::now();
        scratch.post("/api/v1/sync/push", &st, &b).ok(200);
        started.elapsed()
    };

    let mut outcomes = Vec::new();
    // Kill at moments spread over the request (and one well after it), so
    // some runs die mid-transaction and one after the commit.
    let ms = took.as_millis() as u64;
    for delay_ms in [ms / 4, ms / 2, ms * 3 / 4, ms, ms * 4 + 200] {
        let (mut child, base) = spawn_serve(tmp.path());
        let url = format!("{base}/api/v1/sync/push");
        let (t, b) = (token.clone(), body.clone());
        let sender = std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into();
            let _ = agent
                .post(url)
                .header("Authorization", format!("Bearer {t}"))
                .send_json(&b);
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let _ = sender.join();

        let app = TestApp::start(config.clone());
        let found = count_inspections(&app);
        assert!(
            found.is_empty() || found.len() == 1000,
            "a torn batch: {} of 1000",
            found.len()
        );
        outcomes.push(found.len());
        drop(app);
    }

    // The phone never heard back: it replays the batch. Exactly once.
    let app = TestApp::start(config);
    let first = app.post("/api/v1/sync/push", &token, &body).ok(200);
    let again = app.post("/api/v1/sync/push", &token, &body).ok(200);
    assert_eq!(first, again);
    let found = count_inspections(&app);
    assert_eq!(found.len(), 1000);
    assert!(
        found.iter().all(|(_, v)| *v == 1),
        "each record applied once"
    );
    eprintln!("push took {ms} ms; rows found after each kill: {outcomes:?}");
}

/// The test build holds each push inside its write transaction for a while
/// (`FIELDSYNC_TEST_PUSH_DELAY_MS`) and says so on stderr: the kill lands
/// inside the transaction for certain, not by timing luck.
#[test]
fn kill_9_inside_the_write_transaction_keeps_every_answered_push() {
    let tmp = tempfile::tempdir().unwrap();
    let config = test_config(tmp.path());
    let (d, token) = {
        let app = TestApp::start(config.clone());
        let d = District::new(&app);
        let token = app.login("liming", PASSWORD);
        (d, token)
    };
    let (mut child, base, stderr) =
        spawn_serve_with(tmp.path(), &[("FIELDSYNC_TEST_PUSH_DELAY_MS", "3000")]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let push = move |agent: &ureq::Agent, items: Vec<Value>| {
        let body = json!({"device_id": uuid(), "batch_id": uuid(), "inspections": items});
        agent
            .post(format!("{base}/api/v1/sync/push"))
            .header("Authorization", format!("Bearer {token}"))
            .send_json(&body)
            .map(|r| r.status().as_u16())
    };
    let inside = |n: usize| {
        let mut seen = 0;
        while seen < n {
            let line = stderr
                .recv_timeout(Duration::from_secs(60))
                .expect("the server said nothing");
            if line.contains("push inside its write transaction") {
                seen += 1;
            }
        }
    };
    // Two pushes answered 200 before the kill.
    let answered: Vec<String> = (0..2)
        .map(|i| {
            let id = uuid();
            let status = push(
                &agent,
                vec![new_inspection(
                    &id,
                    &d,
                    json!({"title": format!("已应答{i}")}),
                    T0,
                )],
            )
            .unwrap();
            assert_eq!(status, 200);
            id
        })
        .collect();
    inside(2);
    // A third is inside its transaction when the server dies.
    let lost: Vec<String> = (0..50).map(|_| uuid()).collect();
    let items: Vec<Value> = lost
        .iter()
        .map(|id| new_inspection(id, &d, json!({"title": "未应答"}), T0))
        .collect();
    let sender = {
        let agent = agent.clone();
        std::thread::spawn(move || push(&agent, items))
    };
    inside(1);
    child.kill().unwrap(); // SIGKILL, mid-transaction
    child.wait().unwrap();
    assert!(
        sender.join().unwrap().is_err(),
        "the killed push was never answered"
    );

    let app = TestApp::start(config);
    let found: Vec<String> = count_inspections(&app)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for id in &answered {
        assert!(
            found.contains(id),
            "an answered push is gone after the kill"
        );
    }
    assert!(
        lost.iter().all(|id| !found.contains(id)),
        "the killed transaction left part of its batch"
    );
    assert_eq!(found.len(), answered.len());
}
