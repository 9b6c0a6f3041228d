//! Hand-offs: an admin's or a coordinator's edit of what a phone holds
//! offline never makes the phone's work unsyncable, misfiled or
//! invisible (DESIGN "Edits while phones hold them"). Each test is driven
//! the way a phone holds data: it pulls, goes offline, an admin edits, and
//! the phone pushes what it made meanwhile.

use crate::helpers::*;
use serde_json::{Value, json};

/// What a phone holds after a pull: the routes it was handed.
struct Held {
    routes: Vec<Value>,
}

impl Held {
    fn pull(app: &TestApp, token: &str) -> Held {
        let (pages, _) = app.pull_all(token, None);
        let routes = pages
            .iter()
            .flat_map(|p| {
                p["changes"]["routes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        Held { routes }
    }

    fn route(&self, id: &str) -> &Value {
        self.routes
            .iter()
            .find(|r| r["id"] == id)
            .expect("the phone holds the route")
    }
}

/// A submitted inspection made on `stop` of `route` at `site`, as the
/// phone built it offline.
fn on_stop(site: &str, template: &str, route: &str, stop: &str, title: &str) -> Value {
    let id = uuid();
    json!({ "id": id, "base_version": 0, "site_id": site, "template_id": template,
            "route_id": route, "stop_id": stop,
            "fields": {"title": title, "status": "submitted", "answers.outfall_flowing": true,
                       "answers.water_color": "浑浊"},
            "changed_at": {"title": T0, "status": T0, "answers.outfall_flowing": T0,
                           "answers.water_color": T0} })
}

fn applied(resp: Resp) -> Value {
    let body = resp.ok(200);
    let r = &body["results"][0];
    assert_eq!(r["status"], "applied", "{body}");
    r.clone()
}

fn stop_ids(route: &Value) -> Vec<String> {
    route["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_schedule_renamed_or_reordered_keeps_the_stops_phones_hold() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let site2 = app.site(&d.group_a, "桃花河2号排口");
    // Every day, two visits to one outfall and one to another.
    let stops = json!([
        {"site_id": d.site_a, "template_id": d.template},
        {"site_id": site2, "template_id": d.template},
        {"site_id": d.site_a, "template_id": d.template, "notes": "傍晚复查"},
    ]);
    let s = app
        .post(
            "/api/v1/schedules",
            &app.admin,
            &json!({"group_id": d.group_a, "name": "桃花河日巡", "assignee_id": d.inspector_a,
                    "stops": stops, "recurrence": {"freq": "weekly", "weekdays": [1,2,3,4,5,6,7]},
                    "horizon_days": 3}),
        )
        .ok(201);
    let token = app.login("liming", PASSWORD);
    let held = Held::pull(&app, &token);
    let future: Vec<&Value> = held
        .routes
        .iter()
        .filter(|r| {
            r["schedule_id"] == s["id"] && r["scheduled_for"].as_str() > Some(&district_today())
        })
        .collect();
    assert_eq!(future.len(), 3, "{:?}", held.routes);
    let route = future[0].clone();
    let before = stop_ids(&route);

    // Offline for three days; meanwhile the admin renames the schedule,
    // then reorders its stops and edits a note.
    let sid = s["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/schedules/{sid}"),
        &app.admin,
        &json!({"name": "桃花河日巡（冬季）"}),
    )
    .ok(200);
    app.patch(
        &format!("/api/v1/schedules/{sid}"),
        &app.admin,
        &json!({"stops": [
            {"site_id": d.site_a, "template_id": d.template, "notes": "傍晚复查"},
            {"site_id": d.site_a, "template_id": d.template, "notes": "早上先看"},
            {"site_id": site2, "template_id": d.template},
        ]}),
    )
    .ok(200);
    let now = app
        .get(
            &format!("/api/v1/routes/{}", route["id"].as_str().unwrap()),
            &app.admin,
        )
        .ok(200);
    assert_eq!(now["name"], "桃花河日巡（冬季）");
    let mut after = stop_ids(&now);
    let mut was = before.clone();
    after.sort();
    was.sort();
    assert_eq!(after, was, "every stop keeps its id: {now}");

    // The phone hands in the work it made on each stop it held.
    let rid = route["id"].as_str().unwrap();
    for st in route["stops"].as_array().unwrap() {
        let r = applied(app.push(
            &token,
            &uuid(),
            vec![on_stop(
                st["site_id"].as_str().unwrap(),
                &d.template,
                rid,
                st["id"].as_str().unwrap(),
                "排口巡查",
            )],
            vec![],
        ));
        let rec = app
            .get(
                &format!("/api/v1/inspections/{}", r["id"].as_str().unwrap()),
                &app.admin,
            )
            .ok(200);
        assert_eq!(rec["checks"]["stop_removed"], false, "{rec}");
    }
    let done = app
        .get(&format!("/api/v1/routes/{rid}"), &app.admin)
        .ok(200);
    assert!(
        done["stops"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["done"] == true),
        "{done}"
    );
}

#[test]
fn a_route_reordered_through_the_api_without_ids_keeps_them() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let site2 = app.site(&d.group_a, "桃花河2号排口");
    let route = app.route(
        &d.group_a,
        Some(&d.inspector_a),
        &[
            (&d.site_a, &d.template),
            (&site2, &d.template),
            (&d.site_a, &d.template),
        ],
    );
    let rid = route["id"].as_str().unwrap();
    let token = app.login("liming", PASSWORD);
    let held = Held::pull(&app, &token);
    let first = held.route(rid)["stops"][0].clone();

    // The admin moves the second outfall first, sending no ids.
    app.patch(
        &format!("/api/v1/routes/{rid}"),
        &app.admin,
        &json!({"stops": [
            {"site_id": site2, "template_id": d.template},
            {"site_id": d.site_a, "template_id": d.template},
            {"site_id": d.site_a, "template_id": d.template},
        ]}),
    )
    .ok(200);
    let now = app
        .get(&format!("/api/v1/routes/{rid}"), &app.admin)
        .ok(200);
    let mut a = stop_ids(&now);
    let mut b = stop_ids(&route);
    a.sort();
    b.sort();
    assert_eq!(a, b, "{now}");

    let r = applied(app.push(
        &token,
        &uuid(),
        vec![on_stop(
            &d.site_a,
            &d.template,
            rid,
            first["id"].as_str().unwrap(),
            "一号",
        )],
        vec![],
    ));
    let rec = app
        .get(
            &format!("/api/v1/inspections/{}", r["id"].as_str().unwrap()),
            &app.admin,
        )
        .ok(200);
    assert_eq!(rec["checks"]["stop_removed"], false);
}

#[test]
fn work_on_a_removed_stop_or_a_cancelled_route_is_applied_and_flagged() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let site2 = app.site(&d.group_a, "桃花河2号排口");
    let route = app.route(
        &d.group_a,
        None,
        &[(&d.site_a, &d.template), (&site2, &d.template)],
    );
    let rid = route["id"].as_str().unwrap();
    let other = id(app.route(&d.group_a, None, &[(&d.site_a, &d.template)]));
    let token = app.login("liming", PASSWORD);
    let held = Held::pull(&app, &token);
    let stops = held.route(rid)["stops"].clone();
    let other_stop = held.route(&other)["stops"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The admin drops the second stop and cancels the other route.
    app.patch(
        &format!("/api/v1/routes/{rid}"),
        &app.admin,
        &json!({"stops": [{"id": stops[0]["id"], "site_id": d.site_a, "template_id": d.template}]}),
    )
    .ok(200);
    app.patch(
        &format!("/api/v1/routes/{other}"),
        &app.admin,
        &json!({"status": "cancelled"}),
    )
    .ok(200);

    let removed = applied(app.push(
        &token,
        &uuid(),
        vec![on_stop(
            &site2,
            &d.template,
            rid,
            stops[1]["id"].as_str().unwrap(),
            "二号",
        )],
        vec![],
    ));
    let cancelled = applied(app.push(
        &token,
        &uuid(),
        vec![on_stop(
            &d.site_a,
            &d.template,
            &other,
            &other_stop,
            "取消的路线",
        )],
        vec![],
    ));
    // The coordinator who planned it sees both, flagged.
    let coord = app.login("zhoumin", PASSWORD);
    let a = app
        .get(
            &format!("/api/v1/inspections/{}", removed["id"].as_str().unwrap()),
            &coord,
        )
        .ok(200);
    assert_eq!(a["checks"]["stop_removed"], true, "{a}");
    assert_eq!(a["checks"]["route_cancelled"], false);
    assert_eq!(a["group_id"], d.group_a);
    let b = app
        .get(
            &format!("/api/v1/inspections/{}", cancelled["id"].as_str().unwrap()),
            &coord,
        )
        .ok(200);
    assert_eq!(b["checks"]["route_cancelled"], true, "{b}");
    assert_eq!(b["checks"]["stop_removed"], false);
    let queue = app
        .get(&format!("/api/v1/inspections?route_id={other}"), &coord)
        .ok(200);
    assert_eq!(queue["items"].as_array().unwrap().len(), 1);

    // A lying client cannot name another route's stop.
    let body = app
        .push(
            &token,
            &uuid(),
            vec![on_stop(
                &d.site_a,
                &d.template,
                rid,
                &other_stop,
                "别的路线的站点",
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(body["results"][0]["status"], "rejected", "{body}");
    assert_eq!(body["results"][0]["error"]["field"], "stop_id");
}

#[test]
fn work_on_an_older_checklist_version_is_applied_and_flagged() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let token = app.login("liming", PASSWORD);
    let _ = Held::pull(&app, &token);
    // The admin drops the "flowing" question (version 2).
    app.patch(
        &format!("/api/v1/templates/{}", d.template),
        &app.admin,
        &json!({"items": [
            {"key": "water_color", "label": "水体颜色", "kind": "choice", "required": true, "options": ["清澈", "浑浊", "发黑"]}
        ]}),
    )
    .ok(200);
    let mut item = on_stop(
        &d.site_a,
        &d.template,
        &d.route_a,
        &app.first_stop(&d.route_a),
        "旧表",
    );
    item["template_version"] = json!(1);
    let r = applied(app.push(&token, &uuid(), vec![item], vec![]));
    let rec = app
        .get(
            &format!("/api/v1/inspections/{}", r["id"].as_str().unwrap()),
            &app.admin,
        )
        .ok(200);
    assert_eq!(rec["template_version"], 1);
    assert_eq!(rec["fields"]["answers.outfall_flowing"], true);
    assert_eq!(rec["checks"]["template_outdated"], true, "{rec}");

    // A record made on the current version is not flagged.
    let mut now = on_stop(
        &d.site_a,
        &d.template,
        &d.route_a,
        &app.first_stop(&d.route_a),
        "新表",
    );
    now["fields"]
        .as_object_mut()
        .unwrap()
        .remove("answers.outfall_flowing");
    now["changed_at"]
        .as_object_mut()
        .unwrap()
        .remove("answers.outfall_flowing");
    let r = applied(app.push(&token, &uuid(), vec![now], vec![]));
    let rec = app
        .get(
            &format!("/api/v1/inspections/{}", r["id"].as_str().unwrap()),
            &app.admin,
        )
        .ok(200);
    assert_eq!(rec["template_version"], 2);
    assert_eq!(rec["checks"]["template_outdated"], false);
}

#[test]
fn a_site_moved_to_another_group_keeps_offline_work_with_its_planners() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    app.user("liuyang", "coordinator", Some(&d.group_b));
    let token = app.login("liming", PASSWORD);
    let _ = Held::pull(&app, &token);
    app.patch(
        &format!("/api/v1/sites/{}", d.site_a),
        &app.admin,
        &json!({"group_id": d.group_b}),
    )
    .ok(200);
    // On the route the phone held, and seen on the way (no route).
    let on_route = applied(app.push(
        &token,
        &uuid(),
        vec![on_stop(
            &d.site_a,
            &d.template,
            &d.route_a,
            &app.first_stop(&d.route_a),
            "路线上",
        )],
        vec![],
    ));
    let mut seen = new_inspection(&uuid(), &d, json!({"title": "路上看到"}), T0);
    seen["site_id"] = json!(d.site_a);
    let seen = applied(app.push(&token, &uuid(), vec![seen], vec![]));
    let coord_a = app.login("zhoumin", PASSWORD);
    let coord_b = app.login("liuyang", PASSWORD);
    for r in [&on_route, &seen] {
        let path = format!("/api/v1/inspections/{}", r["id"].as_str().unwrap());
        let rec = app.get(&path, &coord_a).ok(200);
        assert_eq!(rec["group_id"], d.group_a);
        assert_eq!(app.get(&path, &coord_b).status, 404);
    }
    // The inspector still sees their own records.
    let (pages, _) = app.pull_all(&token, None);
    let mine = pulled(&pages, "changes", "inspections");
    assert!(mine.contains(&on_route["id"].as_str().unwrap().to_string()));
    assert!(mine.contains(&seen["id"].as_str().unwrap().to_string()));
}

#[test]
fn an_inspector_moved_to_another_group_hands_in_the_old_groups_work() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let token = app.login("liming", PASSWORD);
    let held = Held::pull(&app, &token);
    let stop = held.route(&d.route_a)["stops"][0]["id"].clone();
    app.patch(
        &format!("/api/v1/users/{}", d.inspector_a),
        &app.admin,
        &json!({"group_id": d.group_b}),
    )
    .ok(200);
    let token = app.login("liming", PASSWORD);
    let r = applied(app.push(
        &token,
        &uuid(),
        vec![on_stop(
            &d.site_a,
            &d.template,
            &d.route_a,
            stop.as_str().unwrap(),
            "调走前",
        )],
        vec![],
    ));
    let coord_a = app.login("zhoumin", PASSWORD);
    let rec = app
        .get(
            &format!("/api/v1/inspections/{}", r["id"].as_str().unwrap()),
            &coord_a,
        )
        .ok(200);
    assert_eq!(rec["group_id"], d.group_a);
    assert_eq!(rec["inspector_id"], d.inspector_a);

    // A route is no pass to another group's sites.
    let body = app
        .push(
            &token,
            &uuid(),
            vec![on_stop(
                &d.site_b,
                &d.template,
                &d.route_a,
                stop.as_str().unwrap(),
                "别组的点位",
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(body["results"][0]["status"], "rejected", "{body}");
    assert_eq!(body["results"][0]["error"]["field"], "site_id");

    // An inspector who never belonged to group A cannot file into it.
    let other = app.login("chengang", PASSWORD);
    let body = app
        .push(
            &other,
            &uuid(),
            vec![on_stop(
                &d.site_a,
                &d.template,
                &d.route_a,
                stop.as_str().unwrap(),
                "冒名",
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(body["results"][0]["status"], "rejected", "{body}");
    assert_eq!(body["results"][0]["error"]["field"], "route_id");
}

/// wangfang (inspector_a2) has a weekly schedule and route_a2; then she is
/// deactivated. Returns the schedule.
fn wangfang_leaves_her_schedule(app: &TestApp, d: &District) -> Value {
    let s = app
        .post(
            "/api/v1/schedules",
            &app.admin,
            &json!({"group_id": d.group_a, "name": "王芳周巡", "assignee_id": d.inspector_a2,
                    "stops": [{"site_id": d.site_a, "template_id": d.template}],
                    "recurrence": {"freq": "weekly", "weekdays": [1, 3, 5]}, "horizon_days": 7}),
        )
        .ok(201);
    app.patch(
        &format!("/api/v1/users/{}", d.inspector_a2),
        &app.admin,
        &json!({"active": false}),
    )
    .ok(200);
    s
}

#[test]
fn a_deactivated_inspectors_route_and_schedule_can_be_cancelled_and_paused() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let s = wangfang_leaves_her_schedule(&app, &d);
    let r = app
        .patch(
            &format!("/api/v1/routes/{}", d.route_a2),
            &app.admin,
            &json!({"status": "cancelled"}),
        )
        .ok(200);
    assert_eq!(r["status"], "cancelled");
    assert_eq!(r["assignee_id"], d.inspector_a2);
    let s = app
        .patch(
            &format!("/api/v1/schedules/{}", s["id"].as_str().unwrap()),
            &app.admin,
            &json!({"active": false, "name": "王芳周巡（停）"}),
        )
        .ok(200);
    assert_eq!(s["active"], false);
    // Handing the route to someone who cannot take it is still refused.
    let bad = app.patch(
        &format!("/api/v1/routes/{}", d.route_a2),
        &app.admin,
        &json!({"assignee_id": d.inspector_b}),
    );
    assert_eq!(bad.status, 422);
    assert_eq!(bad.code(), "validation_failed");
}

#[test]
fn an_inspector_made_coordinator_or_a_site_removed_keeps_offline_work() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let site2 = app.site(&d.group_a, "桃花河2号排口");
    let token = app.login("liming", PASSWORD);
    let held = Held::pull(&app, &token);
    let stop = held.route(&d.route_a)["stops"][0]["id"].clone();
    // While liming is offline he is made a coordinator, and the second
    // outfall is removed from the district's list.
    app.patch(
        &format!("/api/v1/users/{}", d.inspector_a),
        &app.admin,
        &json!({"role": "coordinator"}),
    )
    .ok(200);
    app.delete(&format!("/api/v1/sites/{site2}"), &app.admin);
    let token = app.login("liming", PASSWORD);
    let on_route = applied(app.push(
        &token,
        &uuid(),
        vec![on_stop(
            &d.site_a,
            &d.template,
            &d.route_a,
            stop.as_str().unwrap(),
            "升任前",
        )],
        vec![],
    ));
    let mut seen = new_inspection(&uuid(), &d, json!({"title": "已撤销的点位"}), T0);
    seen["site_id"] = json!(site2);
    let seen = applied(app.push(&token, &uuid(), vec![seen], vec![]));
    let coord = app.login("zhoumin", PASSWORD);
    for r in [&on_route, &seen] {
        let rec = app
            .get(
                &format!("/api/v1/inspections/{}", r["id"].as_str().unwrap()),
                &coord,
            )
            .ok(200);
        assert_eq!(rec["inspector_id"], d.inspector_a);
        assert_eq!(rec["group_id"], d.group_a);
    }
}

/// The console cancels the route and pauses the schedule of an inspector
/// since deactivated (the same rule as the API: a status change never
/// re-checks the assignee).
#[test]
fn the_console_cancels_a_deactivated_inspectors_route_and_pauses_the_schedule() {
    use crate::admin_console::{admin, submit};
    let app = TestApp::spawn();
    let d = District::new(&app);
    let s = wangfang_leaves_her_schedule(&app, &d);
    let web = crate::webui::Web::new(&app);
    let cookie = admin(&web);
    let page = format!("/admin/routes/{}", d.route_a2);
    let stop = app.first_stop(&d.route_a2);
    let r = submit(
        &web,
        &cookie,
        &page,
        &page,
        &[
            ("group_id", &d.group_a),
            ("name", "桃花河巡查"),
            ("scheduled_for", "2026-12-08"),
            ("assignee_id", &d.inspector_a2),
            ("row", &stop),
            (&format!("site.{stop}"), &d.site_a),
            (&format!("stop.{stop}"), &stop),
            (&format!("tpl.{stop}"), &d.template),
            ("action", "cancel"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let route = app
        .get(&format!("/api/v1/routes/{}", d.route_a2), &app.admin)
        .ok(200);
    assert_eq!(route["status"], "cancelled");
    let sid = s["id"].as_str().unwrap();
    let spage = format!("/admin/schedules/{sid}");
    let r = submit(
        &web,
        &cookie,
        &spage,
        &spage,
        &[
            ("group_id", &d.group_a),
            ("name", "王芳周巡"),
            ("assignee_id", &d.inspector_a2),
            ("freq", "weekly"),
            ("wd", "1"),
            ("wd", "3"),
            ("wd", "5"),
            ("horizon_days", "7"),
            ("row", &d.site_a),
            (&format!("tpl.{}", d.site_a), &d.template),
            ("action", "save"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let s = app
        .get(&format!("/api/v1/schedules/{sid}"), &app.admin)
        .ok(200);
    assert_eq!(s["active"], false, "unchecked: paused");
}
