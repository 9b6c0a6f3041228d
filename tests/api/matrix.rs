//! Every operation of the OpenAPI document (the route table the server
//! mounts) against every kind of caller: nobody, an inspector of group A,
//! group A's coordinator, an admin, an inspector of group B for whom
//! group A's objects are out of scope, a responder of the department
//! group A's follow-up is handed to, and an inspector of group B who also
//! works for that department (the responder's rights added to their own). Each operation must have its row
//! here: a new route cannot be added without saying who may call it.

use crate::helpers::*;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Expected statuses: nobody, inspector A, coordinator A, admin, inspector
/// B, a responder of the department group A's follow-up is handed to, and
/// an inspector of group B who also works for that department.
type Expect = [u16; 7];

/// What a cell sends: the body (None: no body) and extra headers.
struct Row {
    expect: Expect,
    body: Option<Value>,
    tus: bool,
}

fn row(expect: Expect) -> Row {
    Row {
        expect,
        body: None,
        tus: false,
    }
}

fn with(expect: Expect, body: Value) -> Row {
    Row {
        expect,
        body: Some(body),
        tus: false,
    }
}

/// The objects of group A the paths name.
struct Ids {
    inspection: String,
    conflict: String,
    followup: String,
    photo: String,
    upload: String,
    schedule: String,
    department: String,
    channel: String,
}

fn fill(path: &str, d: &District, ids: &Ids) -> String {
    let (family, rest) = path
        .trim_start_matches("/api/v1/")
        .split_once('/')
        .unwrap_or((path, ""));
    let id = match family {
        "groups" => d.group_a.as_str(),
        "users" => d.inspector_a.as_str(),
        "sites" => d.site_a.as_str(),
        "templates" => d.template.as_str(),
        "routes" => d.route_a.as_str(),
        "inspections" => ids.inspection.as_str(),
        "conflicts" => ids.conflict.as_str(),
        "followups" => ids.followup.as_str(),
        "photos" => ids.photo.as_str(),
        "uploads" => ids.upload.as_str(),
        "schedules" => ids.schedule.as_str(),
        "departments" => ids.department.as_str(),
        "channels" => ids.channel.as_str(),
        _ => "",
    };
    let _ = rest;
    path.replace("{id}", id).replace("{variant}", "thumb")
}

fn send(app: &TestApp, method: &str, path: &str, token: &str, r: &Row) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = app.url(path);
    let auth = format!("Bearer {token}");
    macro_rules! hdrs {
        ($req:expr) => {{
            let mut q = $req;
            if !token.is_empty() {
                q = q.header("Authorization", auth.as_str());
            }
            if r.tus {
                q = q.header("Tus-Resumable", "1.0.0");
            }
            q
        }};
    }
    // A push needs a device of the caller's own.
    let fresh;
    let body = if path.ends_with("/sync/push") {
        fresh = Some(json!({"device_id": uuid(), "batch_id": uuid()}));
        &fresh
    } else {
        &r.body
    };
    let res = match (method, body) {
        ("get", _) => hdrs!(agent.get(url)).call(),
        ("head", _) => hdrs!(agent.head(url)).call(),
        ("options", _) => hdrs!(agent.options(url)).call(),
        ("delete", _) => hdrs!(agent.delete(url)).call(),
        ("post", Some(b)) => hdrs!(agent.post(url)).send_json(b),
        ("patch", Some(b)) => hdrs!(agent.patch(url)).send_json(b),
        ("post", None) => hdrs!(agent.post(url)).send_empty(),
        (_, None) => hdrs!(agent.patch(url)).send_empty(),
        (m, _) => panic!("{m}"),
    };
    res.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[test]
fn every_route_for_every_kind_of_caller() {
    // Channels may point at this machine (the test message's receiver is
    // a closed local port: it fails at once).
    let app = TestApp::spawn_with(|c| {
        c.channels_allow_http = true;
        c.channels_allow_private = true;
    });
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let cg = app.login("chengang", PASSWORD);

    // Group A's objects: liming's record with a photo, a conflict, a
    // follow-up, and an upload of liming's.
    let (insp, photo) = (uuid(), uuid());
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&insp, &d, json!({"notes": "一", "status": "submitted"}), T0)],
        "photos": [photo_meta(&photo, &insp, &bytes, "image/jpeg")]});
    app.push_multipart(&li, &batch, &[(photo.as_str(), &bytes)])
        .ok(200);
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(
                &insp,
                0,
                json!({"notes": "二"}),
                "2026-11-19T00:00:00Z",
            )],
            vec![],
        )
        .ok(200);
    let conflict = r["results"][0]["conflicts"][0]["conflict_id"]
        .as_str()
        .expect("a conflict")
        .to_string();
    let made = app
        .post(
            &format!("/api/v1/inspections/{insp}/followups"),
            &coord,
            &json!({"title": "清理排口", "department": "街道办"}),
        )
        .ok(201);
    // A follow-up named by its department's name makes the department.
    let department = made["department_id"]
        .as_str()
        .expect("a department made from the name")
        .to_string();
    let followup = id(made);
    app.post(
        "/api/v1/users",
        &app.admin,
        &json!({"username": "zhanggong", "role": "responder", "department_id": department, "password": PASSWORD}),
    )
    .ok(201);
    app.post(
        "/api/v1/users",
        &app.admin,
        &json!({"username": "wujun", "role": "inspector", "group_id": d.group_b, "department_id": department, "password": PASSWORD}),
    )
    .ok(201);
    let responder = app.login("zhanggong", PASSWORD);
    let member = app.login("wujun", PASSWORD);
    let (photo2, insp2) = (uuid(), uuid());
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(&insp2, &d, json!({"title": "x"}), T0)],
        vec![photo_meta(&photo2, &insp2, &bytes, "image/jpeg")],
    )
    .ok(200);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let created = agent
        .post(app.url("/api/v1/uploads"))
        .header("Authorization", format!("Bearer {li}"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .header(
            "Upload-Metadata",
            format!(
                "photo_id {}",
                base64::engine::general_purpose::STANDARD.encode(&photo2)
            ),
        )
        .send_empty()
        .unwrap();
    let upload = created
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .unwrap()
        .to_string();
    let schedule = id(app
        .post(
            "/api/v1/schedules",
            &app.admin,
            &json!({"group_id": d.group_a, "name": "每周二巡河", "stops": [{"site_id": d.site_a, "template_id": d.template}],
                "recurrence": {"freq": "weekly", "weekdays": [2]}, "horizon_days": 7}),
        )
        .ok(201));
    let channel = id(app
        .post(
            "/api/v1/channels",
            &app.admin,
            &json!({"name": "群机器人", "kind": "wecom", "url": "http://127.0.0.1:9/send?key=k", "events": ["report.urgent"]}),
        )
        .ok(201));
    let ids = Ids {
        channel,
        inspection: insp,
        conflict,
        followup,
        photo,
        upload,
        schedule,
        department,
    };

    // Nobody, inspector A, coordinator A, admin, inspector B.
    let rows: HashMap<(&str, &str), Row> = HashMap::from([
        (
            ("post", "/api/v1/auth/login"),
            with(
                [401, 401, 401, 401, 401, 401, 401],
                json!({"username": "nobody", "password": "wrong-password"}),
            ),
        ),
        (
            ("post", "/api/v1/auth/refresh"),
            with(
                [401, 401, 401, 401, 401, 401, 401],
                json!({"refresh_token": "not-a-token"}),
            ),
        ),
        (
            ("post", "/api/v1/auth/logout"),
            with(
                [204, 204, 204, 204, 204, 204, 204],
                json!({"refresh_token": "not-a-token"}),
            ),
        ),
        (
            ("get", "/api/v1/groups"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("post", "/api/v1/groups"),
            with(
                [401, 403, 403, 201, 403, 403, 403],
                json!({"name": "新联络组", "towns": []}),
            ),
        ),
        (
            ("get", "/api/v1/groups/{id}"),
            row([401, 200, 200, 200, 404, 404, 404]),
        ),
        (
            ("patch", "/api/v1/groups/{id}"),
            with(
                [401, 403, 403, 200, 403, 403, 403],
                json!({"towns": ["凤城街道"]}),
            ),
        ),
        (
            ("delete", "/api/v1/groups/{id}"),
            row([401, 403, 403, 409, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/users"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("post", "/api/v1/users"),
            with(
                [401, 403, 403, 201, 403, 403, 403],
                json!({"username": "newone", "role": "inspector", "group_id": d.group_a, "password": PASSWORD}),
            ),
        ),
        (
            ("get", "/api/v1/users/me"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/users/{id}"),
            row([401, 200, 200, 200, 404, 404, 404]),
        ),
        (
            ("patch", "/api/v1/users/{id}"),
            with(
                [401, 403, 403, 200, 403, 403, 403],
                json!({"display_name": "李明"}),
            ),
        ),
        (
            ("get", "/api/v1/sites"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("post", "/api/v1/sites"),
            with(
                [401, 403, 403, 201, 403, 403, 403],
                json!({"group_id": d.group_a, "name": "新点位", "kind": "outfall", "lat": 29.8, "lon": 107.0, "radius_m": 50.0}),
            ),
        ),
        (
            ("get", "/api/v1/sites/{id}"),
            row([401, 200, 200, 200, 404, 404, 404]),
        ),
        (
            ("get", "/api/v1/sites/{id}/history"),
            row([401, 200, 200, 200, 404, 404, 404]),
        ),
        (
            ("patch", "/api/v1/sites/{id}"),
            with(
                [401, 403, 403, 200, 403, 403, 403],
                json!({"address": "渡舟大桥下游"}),
            ),
        ),
        (
            ("delete", "/api/v1/sites/{id}"),
            row([401, 403, 403, 204, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/departments"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("post", "/api/v1/departments"),
            with(
                [401, 403, 403, 201, 403, 403, 403],
                json!({"name": "区生态环境局"}),
            ),
        ),
        (
            ("get", "/api/v1/departments/{id}"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("patch", "/api/v1/departments/{id}"),
            with([401, 403, 403, 200, 403, 403, 403], json!({"active": true})),
        ),
        (
            ("get", "/api/v1/templates"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        // No file: the admin's import is refused as unreadable.
        (
            ("post", "/api/v1/templates/import"),
            row([401, 403, 403, 422, 403, 403, 403]),
        ),
        (
            ("post", "/api/v1/templates"),
            with(
                [401, 403, 403, 201, 403, 403, 403],
                json!({"name": "新清单", "items": [{"key": "ok", "label": "正常", "kind": "yes_no"}]}),
            ),
        ),
        (
            ("get", "/api/v1/templates/{id}"),
            row([401, 200, 200, 200, 200, 404, 200]),
        ),
        (
            ("patch", "/api/v1/templates/{id}"),
            with(
                [401, 403, 403, 200, 403, 403, 403],
                json!({"name": "水环境巡查(新)"}),
            ),
        ),
        (
            ("delete", "/api/v1/templates/{id}"),
            row([401, 403, 403, 204, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/routes"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("post", "/api/v1/routes"),
            with(
                [401, 403, 403, 201, 403, 403, 403],
                json!({"group_id": d.group_b, "name": "新路线", "scheduled_for": "2026-12-01", "stops": []}),
            ),
        ),
        (
            ("get", "/api/v1/routes/{id}"),
            row([401, 200, 200, 200, 404, 404, 404]),
        ),
        (
            ("patch", "/api/v1/routes/{id}"),
            with(
                [401, 403, 403, 200, 403, 403, 403],
                json!({"name": "桃花河巡查(改)"}),
            ),
        ),
        (
            ("delete", "/api/v1/routes/{id}"),
            row([401, 403, 403, 204, 403, 403, 403]),
        ),
        (
            ("post", "/api/v1/sync/push"),
            with(
                [401, 200, 200, 200, 200, 200, 200],
                json!({"device_id": uuid(), "batch_id": uuid()}),
            ),
        ),
        (
            ("get", "/api/v1/sync/pull"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/devices"),
            row([401, 403, 200, 200, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/photos/{id}/{variant}"),
            row([401, 200, 200, 200, 404, 200, 200]),
        ),
        (
            ("get", "/api/v1/inspections"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/inspections/{id}"),
            row([401, 200, 200, 200, 404, 404, 404]),
        ),
        (
            ("post", "/api/v1/inspections/{id}/reviews"),
            with(
                [401, 403, 201, 409, 403, 403, 403],
                json!({"decision": "approve"}),
            ),
        ),
        (
            ("get", "/api/v1/conflicts"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("post", "/api/v1/conflicts/{id}/resolve"),
            with([401, 403, 200, 409, 403, 403, 403], json!({"keep": "kept"})),
        ),
        (
            ("get", "/api/v1/audit"),
            row([401, 403, 403, 200, 403, 403, 403]),
        ),
        (
            ("post", "/api/v1/inspections/{id}/followups"),
            with(
                [401, 403, 201, 201, 403, 403, 403],
                json!({"title": "再查", "department": "环保所"}),
            ),
        ),
        (
            ("get", "/api/v1/followups"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/followups/{id}"),
            row([401, 200, 200, 200, 404, 200, 200]),
        ),
        (
            ("patch", "/api/v1/followups/{id}"),
            with(
                [401, 403, 200, 200, 404, 200, 200],
                json!({"status": "in_progress", "note": "已通知"}),
            ),
        ),
        (
            ("post", "/api/v1/followups/{id}/responses"),
            with(
                [401, 403, 201, 201, 404, 201, 201],
                json!({"note": "已派人查看"}),
            ),
        ),
        (
            ("get", "/api/v1/channels"),
            row([401, 403, 403, 200, 403, 403, 403]),
        ),
        (
            ("post", "/api/v1/channels"),
            with(
                [401, 403, 403, 201, 403, 403, 403],
                json!({"name": "数据平台", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
                       "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "events": ["report.urgent"]}),
            ),
        ),
        (
            ("get", "/api/v1/channels/{id}"),
            row([401, 403, 403, 200, 403, 403, 403]),
        ),
        (
            ("patch", "/api/v1/channels/{id}"),
            with([401, 403, 403, 200, 403, 403, 403], json!({"active": true})),
        ),
        (
            ("post", "/api/v1/channels/{id}/resend"),
            row([401, 403, 403, 200, 403, 403, 403]),
        ),
        (
            ("post", "/api/v1/channels/{id}/test"),
            row([401, 403, 403, 200, 403, 403, 403]),
        ),
        // The live feed: everyone signed in, each in their scope.
        (
            ("get", "/api/v1/events"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/inspections/{id}/timeline"),
            row([401, 200, 200, 200, 404, 404, 404]),
        ),
        (
            ("get", "/api/v1/reports/departments"),
            row([401, 403, 200, 200, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/reports/departments.csv"),
            row([401, 403, 200, 200, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/reports/summary"),
            row([401, 403, 200, 200, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/reports/brief"),
            row([401, 403, 200, 200, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/reports/summary.csv"),
            row([401, 403, 200, 200, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/reports/summary.xlsx"),
            row([401, 403, 200, 200, 403, 403, 403]),
        ),
        (
            ("get", "/api/v1/reports/departments.xlsx"),
            row([401, 403, 200, 200, 403, 403, 403]),
        ),
        (
            ("post", "/api/v1/followups/{id}/verification"),
            with(
                [401, 403, 409, 409, 403, 403, 403],
                json!({"route_id": d.route_a, "template_id": d.template}),
            ),
        ),
        (
            ("get", "/api/v1/reports/inspections.csv"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/inspections.xlsx"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/inspections.geojson"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/repeat_rows.csv"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/repeat_rows.xlsx"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/ledger"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/coverage"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/coverage.csv"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/coverage.xlsx"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/sites.csv"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/sites.xlsx"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/reports/sites.geojson"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("post", "/api/v1/sites/import"),
            // A JSON body is a GeoJSON file with no features: 422.
            with(
                [401, 403, 403, 422, 403, 403, 403],
                json!({"type": "FeatureCollection"}),
            ),
        ),
        (
            ("get", "/api/v1/schedules"),
            row([401, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("post", "/api/v1/schedules"),
            with(
                [401, 403, 403, 201, 403, 403, 403],
                json!({"group_id": d.group_b, "name": "每月巡山", "stops": [{"site_id": d.site_b, "template_id": d.template}],
                    "recurrence": {"freq": "monthly", "month_day": 31}}),
            ),
        ),
        (
            ("get", "/api/v1/schedules/{id}"),
            row([401, 200, 200, 200, 404, 404, 404]),
        ),
        (
            ("patch", "/api/v1/schedules/{id}"),
            with(
                [401, 403, 403, 200, 403, 403, 403],
                json!({"horizon_days": 10}),
            ),
        ),
        (
            ("delete", "/api/v1/schedules/{id}"),
            row([401, 403, 403, 204, 403, 403, 403]),
        ),
        (
            ("options", "/api/v1/uploads"),
            row([204, 204, 204, 204, 204, 204, 204]),
        ),
        (
            ("post", "/api/v1/uploads"),
            Row {
                expect: [401, 400, 400, 400, 400, 400, 400],
                body: None,
                tus: true,
            },
        ),
        (
            ("head", "/api/v1/uploads/{id}"),
            Row {
                expect: [401, 200, 404, 404, 404, 404, 404],
                body: None,
                tus: true,
            },
        ),
        (
            ("patch", "/api/v1/uploads/{id}"),
            Row {
                expect: [401, 415, 415, 415, 415, 415, 415],
                body: None,
                tus: true,
            },
        ),
        (
            ("delete", "/api/v1/uploads/{id}"),
            Row {
                expect: [401, 204, 404, 404, 404, 404, 404],
                body: None,
                tus: true,
            },
        ),
        (
            ("get", "/healthz"),
            row([200, 200, 200, 200, 200, 200, 200]),
        ),
        (("get", "/readyz"), row([200, 200, 200, 200, 200, 200, 200])),
        (
            ("get", "/metrics"),
            row([200, 200, 200, 200, 200, 200, 200]),
        ),
        (
            ("get", "/api/v1/openapi.json"),
            row([200, 200, 200, 200, 200, 200, 200]),
        ),
    ]);

    let doc = app.get("/api/v1/openapi.json", "").ok(200);
    let callers = [
        "",
        li.as_str(),
        coord.as_str(),
        app.admin.as_str(),
        cg.as_str(),
        responder.as_str(),
        member.as_str(),
    ];
    let names = [
        "nobody",
        "inspector A",
        "coordinator A",
        "admin",
        "inspector B",
        "responder",
        "inspector B in the department",
    ];
    let mut checked = 0;
    let mut wrong = Vec::new();
    // Destructive operations last, so they do not take away what the
    // others read.
    let mut ops: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in ["get", "head", "options", "post", "patch", "delete"] {
            if item.get(m).is_some() {
                ops.push((m.to_string(), path.clone()));
            }
        }
    }
    ops.sort_by_key(|(m, p)| (m == "delete", p.contains("/auth/"), p.clone(), m.clone()));
    for (m, p) in &ops {
        let r = rows.get(&(m.as_str(), p.as_str())).unwrap_or_else(|| {
            panic!("{m} {p} has no row in the role matrix: say who may call it")
        });
        for (k, token) in callers.iter().enumerate() {
            let got = send(&app, m, &fill(p, &d, &ids), token, r);
            checked += 1;
            if got != r.expect[k] {
                wrong.push(format!(
                    "{m} {p} as {}: {got}, expected {}",
                    names[k], r.expect[k]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(
        rows.len(),
        ops.len(),
        "rows for operations the document lacks"
    );
    eprintln!(
        "role matrix: {} operations x 7 callers = {checked} cells",
        ops.len()
    );
}
