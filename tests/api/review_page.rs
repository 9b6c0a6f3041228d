//! The review page as a coordinator uses it day to day: district time,
//! Chinese for every value and error, a refused form kept with its text,
//! follow-ups moved on from the record's page, the next record after a
//! decision, and a printed report complete enough to file.

use crate::helpers::*;
use crate::webui::Web;
use serde_json::{Value, json};

/// A submitted record with a photo taken by a real phone (its EXIF has a
/// time and a place), made by liming at site A.
fn submitted(app: &TestApp, d: &District, title: &str) -> (String, String) {
    let li = app.login("liming", PASSWORD);
    let bytes = fixture("xiaomi_IMG_20191224_234846.jpg");
    let (id, photo) = (uuid(), uuid());
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id, d, json!({"title": title, "status": "submitted",
            "severity": "medium", "answers.outfall_flowing": true, "answers.water_color": "发黑",
            "started_at": "2026-11-20T01:30:00Z",
            "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": T0}}), T0)],
        "photos": [photo_meta(&photo, &id, &bytes, "image/jpeg")]});
    app.push_multipart(&li, &batch, &[(photo.as_str(), &bytes)])
        .ok(200);
    app.wait_photo(&li, &photo);
    (id, photo)
}

/// `2026-11-20T02:13:00Z` as the district reads it.
fn district(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn version_of(body: &str) -> String {
    body.split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string()
}

#[test]
fn times_are_district_time_and_values_are_chinese() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let (id, _) = submitted(&app, &d, "桃花河排口巡查");
    let rec = app
        .get(&format!("/api/v1/inspections/{id}"), &app.admin)
        .ok(200);
    let created = rec["created_at"].as_str().unwrap();
    let web = Web::new(&app);
    let s = web.login("zhoumin").unwrap();

    let queue = web.get("/review", &s);
    assert!(queue.body.contains(&district(created)), "{}", queue.body);
    let page = web.get(&format!("/review/inspections/{id}"), &s);
    assert!(page.body.contains(&district(created)));
    assert!(
        page.body.contains(&district("2026-11-20T01:30:00Z")),
        "the start, in district time"
    );
    for word in ["中", "发黑", "是"] {
        assert!(page.body.contains(&format!("<td>{word}</td>")), "{word}");
    }
    assert!(!page.body.contains(">medium<"));
    // The photo's EXIF time (the phone's local time) and place.
    assert!(page.body.contains("拍摄于 2019-12-24"), "{}", page.body);
    assert!(page.body.contains("北纬 -15.83"));
}

#[test]
fn a_refused_decision_comes_back_in_the_form_in_chinese() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let (id, _) = submitted(&app, &d, "桃花河排口巡查");
    let web = Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get(&format!("/review/inspections/{id}"), &s);
    let (csrf, version) = (page.csrf(), version_of(&page.body));

    // A return without a comment: the form again, saying what to fill in.
    let r = web.post(
        &format!("/review/inspections/{id}/review"),
        &s,
        &[
            ("csrf", &csrf),
            ("decision", "return"),
            ("comment", " "),
            ("version", &version),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.body.contains("请填写意见"), "{}", r.body);
    assert!(r.body.contains("id=\"comment\""), "the form is still there");
    assert!(!r.body.contains("say what"));
    let rec = app
        .get(&format!("/api/v1/inspections/{id}"), &app.admin)
        .ok(200);
    assert_eq!(rec["review_status"], "submitted", "nothing changed");

    // The record changed meanwhile: the text typed is kept.
    let li = app.login("liming", PASSWORD);
    app.push(
        &li,
        &uuid(),
        vec![edit(&id, 1, json!({"notes": "补充说明"}), T0)],
        vec![],
    )
    .ok(200);
    let r = web.post(
        &format!("/review/inspections/{id}/review"),
        &s,
        &[
            ("csrf", &csrf),
            ("decision", "return"),
            ("comment", "请补拍排口近景"),
            ("version", &version),
        ],
    );
    assert_eq!(r.status, 409);
    assert!(r.body.contains("记录已被他人修改"), "{}", r.body);
    assert!(r.body.contains("请补拍排口近景"));

    // A stale page's form says to reload, in Chinese.
    let r = web.post(
        &format!("/review/inspections/{id}/review"),
        &s,
        &[
            ("csrf", "from-an-old-page"),
            ("decision", "approve"),
            ("version", &version),
        ],
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("页面已过期"), "{}", r.body);

    // A follow-up with a bad date: the same.
    let r = web.post(
        &format!("/review/inspections/{id}/followups"),
        &s,
        &[
            ("csrf", &csrf),
            ("title", "清理排口"),
            ("department", "街道办"),
            ("due", "下周"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("期限须是日期"), "{}", r.body);
}

#[test]
fn after_a_decision_the_next_record_waiting_opens() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    // The queue lists the newest first: third, second, first.
    let (first, _) = submitted(&app, &d, "一号排口");
    let (second, _) = submitted(&app, &d, "二号排口");
    let (third, _) = submitted(&app, &d, "三号排口");
    let web = Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let decide = |id: &str| -> String {
        let page = web.get(&format!("/review/inspections/{id}"), &s);
        let r = web.post(
            &format!("/review/inspections/{id}/review"),
            &s,
            &[
                ("csrf", &page.csrf()),
                ("decision", "approve"),
                ("version", &version_of(&page.body)),
            ],
        );
        assert_eq!(r.status, 303);
        let next = web.get(r.header("location").unwrap(), &s);
        next.header("location").unwrap().to_string()
    };
    // After the second, the one below it in the queue; after the last in
    // the queue, the first one still waiting; then nothing is left.
    assert_eq!(decide(&second), format!("/review/inspections/{first}"));
    assert_eq!(decide(&first), format!("/review/inspections/{third}"));
    assert_eq!(decide(&third), "/review?review_status=submitted&done=1");
}

#[test]
fn follow_ups_are_managed_on_the_records_page() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let (id, _) = submitted(&app, &d, "桃花河排口巡查");
    let web = Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get(&format!("/review/inspections/{id}"), &s);
    let csrf = page.csrf();
    let r = web.post(
        &format!("/review/inspections/{id}/followups"),
        &s,
        &[
            ("csrf", &csrf),
            ("title", "封堵排口"),
            ("department", "住建委"),
            ("due", "2020-01-31"),
        ],
    );
    assert_eq!(r.status, 303);
    let f = app
        .get(&format!("/api/v1/inspections/{id}"), &app.admin)
        .ok(200)["followups"][0]
        .clone();
    let fid = f["id"].as_str().unwrap();
    // Due at the end of that day in the district, so it is overdue now.
    assert_eq!(f["due_at"], "2020-01-31T15:59:59Z");
    let page = web.get(&format!("/review/inspections/{id}"), &s);
    assert!(
        page.body.contains("待整改") && page.body.contains("已逾期"),
        "{}",
        page.body
    );

    let r = web.post(
        &format!("/review/followups/{fid}"),
        &s,
        &[
            ("csrf", &csrf),
            ("status", "in_progress"),
            ("note", "已通知住建委"),
            ("due", "2099-12-31"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let f = app
        .get(&format!("/api/v1/followups/{fid}"), &app.admin)
        .ok(200);
    assert_eq!(f["status"], "in_progress");
    assert_eq!(f["overdue"], false);
    assert_eq!(
        f["history"].as_array().unwrap().last().unwrap()["note"],
        "已通知住建委"
    );
    let page = web.get(&format!("/review/inspections/{id}"), &s);
    assert!(page.body.contains("整改中") && page.body.contains("已通知住建委"));
    assert!(page.body.contains("2099-12-31"));
    assert!(!page.body.contains("in_progress<"));

    // A step the work cannot take is said in the form.
    let r = web.post(
        &format!("/review/followups/{fid}"),
        &s,
        &[
            ("csrf", &csrf),
            ("status", "verified"),
            ("note", ""),
            ("due", "2099-12-31"),
        ],
    );
    assert_eq!(r.status, 409);
    assert!(r.body.contains("当前状态下不能这样操作"), "{}", r.body);
}

#[test]
fn the_printed_report_is_complete_enough_to_file() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let (id, _) = submitted(&app, &d, "桃花河排口巡查");
    let web = Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get(&format!("/review/inspections/{id}"), &s);
    let csrf = page.csrf();
    web.post(
        &format!("/review/inspections/{id}/followups"),
        &s,
        &[
            ("csrf", &csrf),
            ("title", "封堵排口"),
            ("department", "住建委"),
            ("due", "2099-01-31"),
        ],
    );
    web.post(
        &format!("/review/inspections/{id}/review"),
        &s,
        &[
            ("csrf", &csrf),
            ("decision", "return"),
            ("comment", "请补拍排口近景"),
            ("version", &version_of(&page.body)),
        ],
    );
    let rec: Value = app
        .get(&format!("/api/v1/inspections/{id}"), &app.admin)
        .ok(200);
    let reviewed = rec["reviews"][0]["created_at"].as_str().unwrap();
    let print = web.get(&format!("/review/inspections/{id}/print"), &s);
    assert_eq!(print.status, 200);
    for want in [
        "排口是否有水流出",
        "水体颜色",
        "发黑",
        "记录位置距点位",
        "在范围内",
        "拍摄于 2019-12-24",
        "北纬 -15.83",
        "退回补充",
        "请补拍排口近景",
        "zhoumin",
        "封堵排口",
        "住建委",
        "2099-01-31",
        "巡查人签字",
        "审核人签字",
    ] {
        assert!(print.body.contains(want), "{want}: {}", print.body);
    }
    assert!(print.body.contains(&district(reviewed)));
    assert!(
        print.body.contains("width=device-width"),
        "readable on a phone"
    );
}

#[test]
fn records_whose_plan_changed_are_flagged_to_the_reviewer() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let stop = app.first_stop(&d.route_a);
    let id = uuid();
    let mut item = new_inspection(
        &id,
        &d,
        json!({"title": "取消前的巡查", "status": "submitted"}),
        T0,
    );
    item["route_id"] = json!(d.route_a);
    item["stop_id"] = json!(stop);
    app.patch(
        &format!("/api/v1/routes/{}", d.route_a),
        &app.admin,
        &json!({"status": "cancelled"}),
    )
    .ok(200);
    app.push(&li, &uuid(), vec![item], vec![]).ok(200);
    let web = Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    assert!(web.get("/review", &s).body.contains("计划已变更"));
    assert!(
        web.get(&format!("/review/inspections/{id}"), &s)
            .body
            .contains("所属路线已取消")
    );
}
