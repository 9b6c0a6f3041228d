//! Departments (issue 22, first part): admins keep the district bureaus,
//! follow-ups are handed to one by id, and a client that still sends a
//! name lands on the department of that name.

use crate::helpers::*;
use serde_json::json;

#[test]
fn departments_are_kept_by_admins_and_follow_ups_are_handed_to_them() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let env = app
        .post(
            "/api/v1/departments",
            &app.admin,
            &json!({"name": "区生态环境局"}),
        )
        .ok(201);
    let env_id = env["id"].as_str().unwrap().to_string();
    assert_eq!(env["active"], true);
    // Names are unique; inspectors and coordinators read, only admins write.
    let r = app.post(
        "/api/v1/departments",
        &app.admin,
        &json!({"name": " 区生态环境局 "}),
    );
    assert_eq!((r.status, r.code()), (409, "already_exists"), "{}", r.body);
    assert_eq!(r.body["error"]["details"]["field"], "name");
    assert_eq!(
        app.post("/api/v1/departments", &coord, &json!({"name": "区水利局"}))
            .status,
        403
    );
    let listed = app.get("/api/v1/departments", &li).ok(200);
    assert_eq!(listed["items"][0]["name"], "区生态环境局");

    // A follow-up by id carries the department's name too.
    let rec = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(
            &rec,
            &d,
            json!({"title": "排口溢流", "status": "submitted"}),
            T0,
        )],
        vec![],
    )
    .ok(200);
    let f = app
        .post(
            &format!("/api/v1/inspections/{rec}/followups"),
            &coord,
            &json!({"title": "溯源排查", "department_id": env_id}),
        )
        .ok(201);
    assert_eq!(
        (f["department"].as_str(), f["department_id"].as_str()),
        (Some("区生态环境局"), Some(env_id.as_str()))
    );
    // By name: the department of that name, not a second one.
    let g = app
        .post(
            &format!("/api/v1/inspections/{rec}/followups"),
            &coord,
            &json!({"title": "复查", "department": "区生态环境局"}),
        )
        .ok(201);
    assert_eq!(g["department_id"], env_id.as_str());
    // A new name makes its department (older clients keep working).
    let h = app
        .post(
            &format!("/api/v1/inspections/{rec}/followups"),
            &coord,
            &json!({"title": "管网修复", "department": "区住房城乡建委"}),
        )
        .ok(201);
    let housing = h["department_id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/api/v1/departments", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Re-dispatched to the housing bureau: id and name move together.
    let moved = app
        .patch(
            &format!("/api/v1/followups/{}", f["id"].as_str().unwrap()),
            &coord,
            &json!({"department_id": housing, "note": "转住建委处理"}),
        )
        .ok(200);
    assert_eq!(
        (
            moved["department"].as_str(),
            moved["department_id"].as_str()
        ),
        (Some("区住房城乡建委"), Some(housing.as_str()))
    );
    let by_dept = app
        .get(
            &format!("/api/v1/followups?department_id={housing}"),
            &coord,
        )
        .ok(200);
    assert_eq!(by_dept["items"].as_array().unwrap().len(), 2);

    // A deactivated department takes no new follow-up; its old ones keep it.
    app.patch(
        &format!("/api/v1/departments/{env_id}"),
        &app.admin,
        &json!({"active": false}),
    )
    .ok(200);
    let r = app.post(
        &format!("/api/v1/inspections/{rec}/followups"),
        &coord,
        &json!({"title": "再查", "department_id": env_id}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["field"], "department_id");
    assert_eq!(
        app.get(
            &format!("/api/v1/followups/{}", g["id"].as_str().unwrap()),
            &coord
        )
        .ok(200)["department_id"],
        env_id.as_str()
    );
    // Renamed: follow-ups keep the name they were given.
    app.patch(
        &format!("/api/v1/departments/{housing}"),
        &app.admin,
        &json!({"name": "区住建委"}),
    )
    .ok(200);
    assert_eq!(
        app.get(
            &format!("/api/v1/followups/{}", h["id"].as_str().unwrap()),
            &coord
        )
        .ok(200)["department"],
        "区住房城乡建委"
    );
    // Every change is in the audit log.
    let audit = app.get("/api/v1/audit", &app.admin).ok(200);
    assert!(audit.to_string().contains("department.update"));
}

#[test]
fn the_console_adds_renames_and_stops_departments() {
    use crate::admin_console::admin;
    use crate::webui::Web;
    let app = TestApp::spawn();
    let web = Web::new(&app);
    let s = admin(&web);
    let page = web.get("/admin/departments", &s);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("还没有部门"));
    let csrf = page.csrf();
    let r = web.post(
        "/admin/departments",
        &s,
        &[("csrf", &csrf), ("name", "区生态环境局")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = web.post(
        "/admin/departments",
        &s,
        &[("csrf", &csrf), ("name", "区生态环境局")],
    );
    assert_eq!(r.status, 409);
    assert!(r.body.contains("已被占用"), "{}", r.body);
    let id = app.get("/api/v1/departments", &app.admin).ok(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = web.post(
        &format!("/admin/departments/{id}"),
        &s,
        &[
            ("csrf", &csrf),
            ("action", "rename"),
            ("name", "区生态环境保护局"),
        ],
    );
    assert_eq!(r.status, 303);
    let r = web.post(
        &format!("/admin/departments/{id}"),
        &s,
        &[("csrf", &csrf), ("action", "stop")],
    );
    assert_eq!(r.status, 303);
    let d = app
        .get(&format!("/api/v1/departments/{id}"), &app.admin)
        .ok(200);
    assert_eq!(
        (d["name"].as_str(), d["active"].as_bool()),
        (Some("区生态环境保护局"), Some(false))
    );
    assert!(web.get("/admin/departments", &s).body.contains("已停用"));
}

#[test]
fn a_member_of_any_role_may_belong_to_a_department() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let env = app
        .post(
            "/api/v1/departments",
            &app.admin,
            &json!({"name": "区生态环境局"}),
        )
        .ok(201);
    let env_id = env["id"].as_str().unwrap();
    let u = app
        .patch(
            &format!("/api/v1/users/{}", d.coordinator_a),
            &app.admin,
            &json!({"department_id": env_id}),
        )
        .ok(200);
    assert_eq!(u["department_id"], env_id);
    assert_eq!(u["role"], "coordinator", "the role stays");
    // An unknown or stopped department: refused at its field.
    let r = app.patch(
        &format!("/api/v1/users/{}", d.inspector_a),
        &app.admin,
        &json!({"department_id": uuid()}),
    );
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (422, Some("department_id"))
    );
    app.patch(
        &format!("/api/v1/departments/{env_id}"),
        &app.admin,
        &json!({"active": false}),
    )
    .ok(200);
    let r = app.patch(
        &format!("/api/v1/users/{}", d.inspector_a),
        &app.admin,
        &json!({"department_id": env_id}),
    );
    assert_eq!(r.status, 422);
    // Who already belongs stays, through an unrelated edit.
    let u = app
        .patch(
            &format!("/api/v1/users/{}", d.coordinator_a),
            &app.admin,
            &json!({"display_name": "周敏"}),
        )
        .ok(200);
    assert_eq!(u["department_id"], env_id);
    let u = app
        .patch(
            &format!("/api/v1/users/{}", d.coordinator_a),
            &app.admin,
            &json!({"department_id": null}),
        )
        .ok(200);
    assert_eq!(u["department_id"], serde_json::Value::Null);
    // The console's user page offers the departments.
    use crate::admin_console::admin;
    use crate::webui::Web;
    let web = Web::new(&app);
    let s = admin(&web);
    let page = web.get(&format!("/admin/users/{}", d.coordinator_a), &s);
    assert!(page.body.contains("区生态环境局(已停用)"), "{}", page.body);
}

#[test]
fn the_review_page_hands_a_follow_up_to_a_department_and_shows_its_due_light() {
    use crate::webui::Web;
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let env = app
        .post(
            "/api/v1/departments",
            &app.admin,
            &json!({"name": "区生态环境局"}),
        )
        .ok(201);
    let housing = app
        .post(
            "/api/v1/departments",
            &app.admin,
            &json!({"name": "区住房城乡建委"}),
        )
        .ok(201);
    let (env_id, housing_id) = (env["id"].as_str().unwrap(), housing["id"].as_str().unwrap());
    let rec = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(
            &rec,
            &d,
            json!({"title": "排口溢流", "status": "submitted"}),
            T0,
        )],
        vec![],
    )
    .ok(200);
    let web = Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get(&format!("/review/inspections/{rec}"), &s);
    assert!(page.body.contains("区生态环境局") && page.body.contains("name=\"department_id\""));
    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .date_naive()
        .to_string();
    let r = web.post(
        &format!("/review/inspections/{rec}/followups"),
        &s,
        &[
            ("csrf", &page.csrf()),
            ("title", "溯源排查"),
            ("department_id", env_id),
            ("department", ""),
            ("due", &today),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let f = &app
        .get(&format!("/api/v1/inspections/{rec}"), &app.admin)
        .ok(200)["followups"][0];
    assert_eq!(f["department_id"], env_id);
    // Due by the end of today: the yellow light.
    let page = web.get(&format!("/review/inspections/{rec}"), &s);
    assert!(page.body.contains("一天内到期"), "{}", page.body);
    // Re-dispatched to the housing bureau from the page.
    let fid = f["id"].as_str().unwrap();
    let r = web.post(
        &format!("/review/followups/{fid}"),
        &s,
        &[
            ("csrf", &page.csrf()),
            ("status", "in_progress"),
            ("department_id", housing_id),
            ("note", "转住建委修复管网"),
            ("due", &today),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let f = app
        .get(&format!("/api/v1/followups/{fid}"), &app.admin)
        .ok(200);
    assert_eq!(
        (f["department"].as_str(), f["status"].as_str()),
        (Some("区住房城乡建委"), Some("in_progress"))
    );
}
