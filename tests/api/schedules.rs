//! Recurring schedules: routes made ahead once per date, across a month
//! boundary, across restarts (kill -9 included) and days passing, and
//! following an edit. The server runs as its own process so each run can
//! be told what day it is (`FIELDSYNC_TEST_TODAY`, debug builds only).

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

struct Remote {
    base: String,
    agent: ureq::Agent,
}

impl Remote {
    fn new(base: String) -> Remote {
        Remote {
            base,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    fn call(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let r = match (method, body) {
            ("GET", _) => self.agent.get(url).header("Authorization", auth).call(),
            ("DELETE", _) => self.agent.delete(url).header("Authorization", auth).call(),
            ("POST", Some(b)) => self
                .agent
                .post(url)
                .header("Authorization", auth)
                .send_json(b),
            ("PATCH", Some(b)) => self
                .agent
                .patch(url)
                .header("Authorization", auth)
                .send_json(b),
            _ => panic!("{method}"),
        }
        .expect("request");
        let status = r.status().as_u16();
        let text = r.into_body().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn ok(&self, method: &str, path: &str, token: &str, body: Option<&Value>, want: u16) -> Value {
        let (s, v) = self.call(method, path, token, body);
        assert_eq!(s, want, "{method} {path}: {v}");
        v
    }

    fn login(&self, user: &str, password: &str) -> String {
        self.ok(
            "POST",
            "/api/v1/auth/login",
            "",
            Some(&json!({"username": user, "password": password})),
            200,
        )["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Live routes per schedule: schedule id -> dates (a date listed twice
/// would be a duplicate).
fn dates_by_schedule(r: &Remote, token: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for route in r.ok("GET", "/api/v1/routes?limit=500", token, None, 200)["items"]
        .as_array()
        .unwrap()
    {
        if let Some(s) = route["schedule_id"].as_str() {
            out.entry(s.to_string())
                .or_default()
                .push(route["scheduled_for"].as_str().unwrap().to_string());
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn serve(dir: &std::path::Path, today: &str) -> (std::process::Child, Remote) {
    let (child, base, _) = spawn_serve_with(dir, &[("FIELDSYNC_TEST_TODAY", today)]);
    (child, Remote::new(base))
}

#[test]
fn schedules_make_each_date_once_across_a_month_and_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    // Monday 27 January 2031.
    let (mut child, r) = serve(tmp.path(), "2031-01-27");
    let admin = r.login("admin", ADMIN_PASSWORD);
    let post = |path: &str, body: Value| {
        r.ok("POST", path, &admin, Some(&body), 201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let group = post(
        "/api/v1/groups",
        json!({"name": "渡舟联络组", "towns": ["渡舟街道"]}),
    );
    post(
        "/api/v1/users",
        json!({"username": "liming", "role": "inspector", "group_id": group, "password": PASSWORD}),
    );
    let site = post(
        "/api/v1/sites",
        json!({"group_id": group, "name": "桃花河1号排口", "kind": "outfall", "lat": 29.857, "lon": 107.081, "radius_m": 80.0}),
    );
    let template = post(
        "/api/v1/templates",
        json!({"name": "水环境巡查", "items": [{"key": "ok", "label": "正常", "kind": "yes_no"}]}),
    );
    let stops = json!([{"site_id": site, "template_id": template, "notes": "看排口"}]);
    let schedule = |name: &str, recurrence: Value, horizon: i64| {
        post(
            "/api/v1/schedules",
            json!({"group_id": group, "name": name, "stops": stops, "recurrence": recurrence, "horizon_days": horizon}),
        )
    };
    let weekly = schedule(
        "周二周五巡河",
        json!({"freq": "weekly", "weekdays": [5, 2]}),
        7,
    );
    let on_31 = schedule("月末巡查", json!({"freq": "monthly", "month_day": 31}), 7);
    let on_28 = schedule("每月28日", json!({"freq": "monthly", "month_day": 28}), 40);
    let expect = |w: &[&str], m31: &[&str], m28: &[&str]| {
        BTreeMap::from([
            (
                weekly.clone(),
                w.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ),
            (on_31.clone(), m31.iter().map(|s| s.to_string()).collect()),
            (on_28.clone(), m28.iter().map(|s| s.to_string()).collect()),
        ])
    };
    let day1 = expect(
        &["2031-01-28", "2031-01-31"],
        &["2031-01-31"],
        &["2031-01-28", "2031-02-28"],
    );
    assert_eq!(dates_by_schedule(&r, &admin), day1);
    let s = r.ok(
        "GET",
        &format!("/api/v1/schedules/{weekly}"),
        &admin,
        None,
        200,
    );
    assert_eq!(
        s["recurrence"],
        json!({"freq": "weekly", "weekdays": [2, 5]})
    );
    assert_eq!(s["generated_through"], "2031-02-03");

    // Killed, and back the same day: nothing new, nothing twice.
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, r) = serve(tmp.path(), "2031-01-27");
    let admin = r.login("admin", ADMIN_PASSWORD);
    assert_eq!(dates_by_schedule(&r, &admin), day1);
    child.kill().unwrap();
    child.wait().unwrap();

    // Sunday 2 February: the job reaches to the 9th at start.
    let (mut child, r) = serve(tmp.path(), "2031-02-02");
    let admin = r.login("admin", ADMIN_PASSWORD);
    let day2 = expect(
        &["2031-01-28", "2031-01-31", "2031-02-04", "2031-02-07"],
        &["2031-01-31"],
        &["2031-01-28", "2031-02-28"],
    );
    assert_eq!(dates_by_schedule(&r, &admin), day2);

    // The inspector's phone has them, with their schedule and stops.
    let li = r.login("liming", PASSWORD);
    let pulled = r.ok("GET", "/api/v1/sync/pull?limit=500", &li, None, 200);
    let routes: Vec<&Value> = pulled["changes"]["routes"]
        .as_array()
        .or_else(|| pulled["routes"].as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mine: Vec<&&Value> = routes
        .iter()
        .filter(|x| x["schedule_id"] == json!(weekly))
        .collect();
    assert_eq!(mine.len(), 4, "{pulled}");
    assert!(
        mine.iter()
            .all(|x| x["stops"][0]["notes"] == "看排口" && x["assignee_id"].is_null())
    );

    // Tuesdays and Fridays become Wednesdays: the planned routes after
    // today follow; the past ones stay.
    r.ok(
        "PATCH",
        &format!("/api/v1/schedules/{weekly}"),
        &admin,
        Some(&json!({"recurrence": {"freq": "weekly", "weekdays": [3]}, "name": "周三巡河"})),
        200,
    );
    let after = dates_by_schedule(&r, &admin);
    assert_eq!(
        after[&weekly],
        vec!["2031-01-28", "2031-01-31", "2031-02-05"]
    );
    // An admin deletes one by hand: the job never brings it back.
    let routes = r.ok("GET", "/api/v1/routes?limit=500", &admin, None, 200);
    let wed = routes["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["scheduled_for"] == "2031-02-05")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        routes["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == json!(wed))
            .unwrap()["name"],
        "周三巡河"
    );
    r.ok(
        "DELETE",
        &format!("/api/v1/routes/{wed}"),
        &admin,
        None,
        204,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, r) = serve(tmp.path(), "2031-02-02");
    let admin = r.login("admin", ADMIN_PASSWORD);
    assert_eq!(
        dates_by_schedule(&r, &admin)[&weekly],
        vec!["2031-01-28", "2031-01-31"]
    );

    // Deleting the schedule removes its planned future routes only.
    r.ok(
        "DELETE",
        &format!("/api/v1/schedules/{on_28}"),
        &admin,
        None,
        204,
    );
    assert_eq!(dates_by_schedule(&r, &admin)[&on_28], vec!["2031-01-28"]);
    assert_eq!(
        r.call("GET", &format!("/api/v1/schedules/{on_28}"), &admin, None)
            .0,
        404
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn schedule_errors_are_plain() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let post = |body: Value| app.post("/api/v1/schedules", &app.admin, &body);
    let base = json!({"group_id": d.group_a, "name": "巡河", "stops": [{"site_id": d.site_a, "template_id": d.template}],
        "recurrence": {"freq": "weekly", "weekdays": [1]}});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (
            with("recurrence", json!({"freq": "weekly", "weekdays": []})),
            "recurrence.weekdays",
        ),
        (
            with("recurrence", json!({"freq": "weekly", "weekdays": [8]})),
            "recurrence.weekdays",
        ),
        (
            with("recurrence", json!({"freq": "monthly"})),
            "recurrence.month_day",
        ),
        (
            with("recurrence", json!({"freq": "monthly", "month_day": 0})),
            "recurrence.month_day",
        ),
        (with("horizon_days", json!(400)), "horizon_days"),
        (with("stops", json!([])), "stops"),
        (
            with(
                "stops",
                json!([{"site_id": d.site_b, "template_id": d.template}]),
            ),
            "stops[0].site_id",
        ),
        (with("assignee_id", json!(d.inspector_b)), "assignee_id"),
        (with("name", json!(" ")), "name"),
    ] {
        let r = post(body);
        assert_eq!(r.status, 422, "{field}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    assert_eq!(
        post(with("recurrence", json!({"freq": "daily"}))).status,
        422
    );
    // Nothing was written by any of them.
    let list = app.get("/api/v1/schedules", &app.admin).ok(200);
    assert_eq!(list["items"], json!([]));
    // Scoped reads: an inspector of the other group sees none of A's.
    let s = id(post(with("assignee_id", json!(d.inspector_a))).ok(201));
    let cg = app.login("chengang", PASSWORD);
    assert_eq!(app.get(&format!("/api/v1/schedules/{s}"), &cg).status, 404);
    let wf = app.login("wangfang", PASSWORD);
    assert_eq!(app.get(&format!("/api/v1/schedules/{s}"), &wf).status, 404);
    let li = app.login("liming", PASSWORD);
    app.get(&format!("/api/v1/schedules/{s}"), &li).ok(200);
}
