//! The phones' history window (`FIELDSYNC_PHONE_HISTORY_DAYS`): closed
//! records quiet for longer than the window are not sent to phones and
//! leave the phones that hold them; open work, recent work and records
//! with follow-ups to verify stay; the server keeps everything.

use crate::helpers::*;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashSet;

fn ids(pages: &[Value], section: &str, kind: &str) -> HashSet<String> {
    pulled(pages, section, kind).into_iter().collect()
}

fn days_ago(days: i64, plus_secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days) + chrono::Duration::seconds(plus_secs))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

#[test]
fn closed_records_past_the_window_leave_phones_and_come_back_with_new_work() {
    let app = TestApp::spawn_with(|c| c.phone_history_days = 180);
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let submitted = |title: &str| json!({"title": title, "status": "submitted"});
    let (old, recent, pending, followed, edge) = (uuid(), uuid(), uuid(), uuid(), uuid());
    let jpg = fixture("synthetic_orientation_6.jpg");
    let photo = uuid();
    app.push(
        &t,
        &uuid(),
        vec![
            new_inspection(&old, &d, submitted("去年的排口巡查"), T0),
            new_inspection(&recent, &d, submitted("上周的排口巡查"), T0),
            new_inspection(&pending, &d, submitted("待审的旧记录"), T0),
            new_inspection(&followed, &d, submitted("整改未验收的旧记录"), T0),
            new_inspection(&edge, &d, submitted("刚满半年的记录"), T0),
        ],
        vec![photo_meta(&photo, &old, &jpg, "image/jpeg")],
    )
    .ok(200);
    for id in [&old, &recent, &followed, &edge] {
        app.post(
            &format!("/api/v1/inspections/{id}/reviews"),
            &coord,
            &json!({"decision": "approve"}),
        )
        .ok(201);
    }
    app.post(
        &format!("/api/v1/inspections/{followed}/followups"),
        &coord,
        &json!({"title": "清理排口", "department": "街道办", "due_at": "2026-01-01T00:00:00Z"}),
    )
    .ok(201);
    // Their ages: a year, ten days, a year (pending), a year (follow-up
    // open), and the window's length less a few seconds.
    for (id, age) in [
        (&old, days_ago(365, 0)),
        (&recent, days_ago(10, 0)),
        (&pending, days_ago(365, 0)),
        (&followed, days_ago(365, 0)),
        (&edge, days_ago(180, 4)),
    ] {
        app.sql(&format!(
            "UPDATE inspections SET updated_at = '{age}' WHERE id = '{id}'"
        ));
    }

    // A coordinator's new phone and the member's: the year-old approved
    // record and its photo are not sent; the rest are.
    for token in [&coord, &t] {
        let (pages, _) = app.pull_all(token, None);
        let got = ids(&pages, "changes", "inspections");
        assert!(!got.contains(&old), "past the window");
        for id in [&recent, &pending, &followed, &edge] {
            assert!(got.contains(id), "{id} should be on the phone");
        }
        assert!(!ids(&pages, "changes", "photos").contains(&photo));
    }
    // The server keeps it, for the pages and reports.
    let kept = app
        .get(&format!("/api/v1/inspections/{old}"), &coord)
        .ok(200);
    assert!(kept.to_string().contains("去年的排口巡查"));

    // The phone that holds the edge record pulls again once it has passed
    // out of the window: it is told to drop it.
    let (_, cursor) = app.pull_all(&coord, None);
    std::thread::sleep(std::time::Duration::from_secs(5));
    let (pages, cursor) = app.pull_all(&coord, Some(&cursor));
    assert!(
        ids(&pages, "deleted", "inspections").contains(&edge),
        "{pages:?}"
    );
    assert_eq!(pages[0]["reset"], false);

    // A follow-up opened on the year-old record brings it back to the
    // phones, with the follow-up.
    let fu = app
        .post(
            &format!("/api/v1/inspections/{old}/followups"),
            &coord,
            &json!({"title": "复查排口", "department": "街道办", "due_at": "2027-01-01T00:00:00Z"}),
        )
        .ok(201);
    let (pages, _) = app.pull_all(&coord, Some(&cursor));
    assert!(ids(&pages, "changes", "inspections").contains(&old));
    assert!(ids(&pages, "changes", "followups").contains(fu["id"].as_str().unwrap()));

    // A cursor made before the window (or with it off) starts the phone
    // over, within the window: its outbox stays (the client's reset).
    let user = app
        .sql_text("SELECT id AS v FROM users WHERE username = 'zhoumin'")
        .unwrap();
    let old_cursor =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("p1.1.0.{user}"));
    let page = app
        .get(&format!("/api/v1/sync/pull?cursor={old_cursor}"), &coord)
        .ok(200);
    assert_eq!(page["reset"], true, "{page}");
}

#[test]
fn without_a_window_phones_keep_everything_and_switching_starts_phones_over() {
    let mut app = TestApp::spawn_with(|c| c.phone_history_days = 30);
    let d = District::new(&app);
    let t = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let old = uuid();
    app.push(
        &t,
        &uuid(),
        vec![new_inspection(
            &old,
            &d,
            json!({"title": "去年的", "status": "submitted"}),
            T0,
        )],
        vec![],
    )
    .ok(200);
    app.post(
        &format!("/api/v1/inspections/{old}/reviews"),
        &coord,
        &json!({"decision": "approve"}),
    )
    .ok(201);
    app.sql(&format!(
        "UPDATE inspections SET updated_at = '{}' WHERE id = '{old}'",
        days_ago(3650, 0)
    ));
    let (pages, cursor) = app.pull_all(&coord, None);
    assert!(!ids(&pages, "changes", "inspections").contains(&old));
    // The district switches the window off: a phone's cursor made with it
    // starts over, and gets everything.
    app.config.phone_history_days = 0;
    let app = app.restart();
    let coord = app.login("zhoumin", PASSWORD);
    let (pages, _) = app.pull_all(&coord, Some(&cursor));
    assert_eq!(pages[0]["reset"], true);
    assert!(ids(&pages, "changes", "inspections").contains(&old));
}
