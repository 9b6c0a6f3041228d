//! Responders and responses (issue 22): a department's member sees their
//! department's follow-ups and what they need of each record, nothing
//! else; answers with a note, a status and photos; the coordinator
//! verifies or sends back. Every hand-off checked from the next person's
//! side.

use crate::helpers::*;
use serde_json::{Value, json};

pub struct Relay {
    pub d: District,
    pub env: String,
    pub housing: String,
    pub env_member: String,
    pub housing_member: String,
    pub coord: String,
    pub li: String,
}

/// Two bureaus, a responder in each (the environment bureau's is a
/// committee member of group B who also works there, the housing
/// bureau's a plain responder).
pub fn relay(app: &TestApp) -> Relay {
    let d = District::new(app);
    let dept = |name: &str| {
        id(app
            .post("/api/v1/departments", &app.admin, &json!({ "name": name }))
            .ok(201))
    };
    let env = dept("区生态环境局");
    let housing = dept("区住房城乡建委");
    app.patch(
        &format!("/api/v1/users/{}", d.inspector_b),
        &app.admin,
        &json!({ "department_id": env }),
    )
    .ok(200);
    app.post(
        "/api/v1/users",
        &app.admin,
        &json!({"username": "zhanggong", "display_name": "张工", "role": "responder",
                "department_id": housing, "password": PASSWORD}),
    )
    .ok(201);
    Relay {
        env_member: app.login("chengang", PASSWORD),
        housing_member: app.login("zhanggong", PASSWORD),
        coord: app.login("zhoumin", PASSWORD),
        li: app.login("liming", PASSWORD),
        d,
        env,
        housing,
    }
}

/// A record of group A with a photo, and a follow-up on it handed to
/// `department`: `(record, record photo, follow-up)`.
pub fn dispatched(app: &TestApp, r: &Relay, department: &str) -> (String, String, String) {
    let jpg = fixture("canon_sx530_IMG_1054.jpg");
    let (rec, photo, _) = app.push_with_photo(&r.d, &r.li, &jpg, "image/jpeg");
    let f = app
        .post(
            &format!("/api/v1/inspections/{rec}/followups"),
            &r.coord,
            &json!({"title": "排查污水来源", "department_id": department,
                    "due_at": "2030-01-01T00:00:00Z"}),
        )
        .ok(201);
    (rec, photo, id(f))
}

fn items(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_responder_sees_only_their_departments_follow_ups_and_what_they_need_of_the_record() {
    let app = TestApp::spawn();
    let r = relay(&app);
    let (rec, photo, fid) = dispatched(&app, &r, &r.env);
    let (_, _, other) = dispatched(&app, &r, &r.housing);

    // The environment bureau's member (an inspector of group B) sees the
    // follow-up handed to their bureau, with the record's brief and photo.
    let mine = app.get("/api/v1/followups", &r.env_member).ok(200);
    assert_eq!(items(&mine), vec![fid.clone()]);
    let f = app
        .get(&format!("/api/v1/followups/{fid}"), &r.env_member)
        .ok(200);
    assert_eq!(f["record"]["title"], "桃花河排口");
    let shown = &f["record"]["photos"][0];
    assert_eq!(shown["id"], photo.as_str());
    // Its signed URL and its bearer URL both serve the bytes to them.
    let thumb = shown["urls"]["thumb"].as_str().unwrap();
    assert_eq!(app.get_bytes(thumb, "", &[]).0, 200);
    let original = format!("/api/v1/photos/{photo}/original");
    assert_eq!(app.get_bytes(&original, &r.env_member, &[]).0, 200);
    // But never the record itself, nor another department's follow-up, nor
    // the other record's photo.
    assert_eq!(
        app.get(&format!("/api/v1/inspections/{rec}"), &r.env_member)
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/followups/{other}"), &r.env_member)
            .status,
        404
    );
    let housing = app.get("/api/v1/followups", &r.housing_member).ok(200);
    assert_eq!(items(&housing), vec![other.clone()]);
    assert_eq!(
        app.get_bytes(&original, &r.housing_member, &[]).0,
        404,
        "another department's record photo"
    );
    // A plain responder pulls nothing and lists no records.
    let (pages, _) = app.pull_all(&r.housing_member, None);
    for p in &pages {
        for (section, list) in p["changes"].as_object().unwrap() {
            assert!(
                list.as_array().unwrap().is_empty(),
                "a responder pulled {section}: {list}"
            );
        }
    }
    assert!(
        items(&app.get("/api/v1/inspections", &r.housing_member).ok(200)).is_empty(),
        "no records"
    );
    // Nor may they act as a coordinator: 403, nothing changed.
    let p = app.patch(
        &format!("/api/v1/followups/{other}"),
        &r.housing_member,
        &json!({"department_id": r.env}),
    );
    assert_eq!(p.status, 403, "{}", p.body);
    let p = app.patch(
        &format!("/api/v1/followups/{other}"),
        &r.housing_member,
        &json!({"status": "verified"}),
    );
    assert_eq!(p.status, 403, "{}", p.body);
    // A responder has no group; one without a department is refused.
    let u = app.post(
        "/api/v1/users",
        &app.admin,
        &json!({"username": "nobody", "role": "responder", "password": PASSWORD}),
    );
    assert_eq!(
        (u.status, u.body["error"]["details"]["field"].as_str()),
        (422, Some("department_id"))
    );
    let u = app.post(
        "/api/v1/users",
        &app.admin,
        &json!({"username": "nobody", "role": "responder", "password": PASSWORD,
                "department_id": r.env, "group_id": r.d.group_a}),
    );
    assert_eq!(u.status, 422);
}

#[test]
fn a_department_responds_with_photos_and_the_coordinator_verifies() {
    let app = TestApp::spawn();
    let r = relay(&app);
    let (_rec, _, fid) = dispatched(&app, &r, &r.env);
    let path = format!("/api/v1/followups/{fid}/responses");

    // In progress, as JSON; the same response sent again is stored once.
    let first = json!({"id": uuid(), "note": "已派人现场取样", "status": "in_progress"});
    let a = app.post(&path, &r.env_member, &first).ok(201);
    assert_eq!(a["followup"]["status"], "in_progress");
    assert_eq!(a["replayed"], false);
    let again = app.post(&path, &r.env_member, &first).ok(200);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["followup"]["responses"].as_array().unwrap().len(), 1);
    // The same id with other content: refused, nothing changed.
    let mut changed = first.clone();
    changed["note"] = json!("别的内容");
    let c = app.post(&path, &r.env_member, &changed);
    assert_eq!(c.status, 409, "{}", c.body);

    // Someone outside the department: 404; the record's inspector, who sees
    // it: 403. Neither changes anything.
    let out = app.post(&path, &r.housing_member, &json!({"note": "x"}));
    assert_eq!(out.status, 404, "{}", out.body);
    let reader = app.post(&path, &r.li, &json!({"note": "x"}));
    assert_eq!(reader.status, 403, "{}", reader.body);
    // A response cannot verify.
    let bad = app.post(&path, &r.env_member, &json!({"status": "verified"}));
    assert_eq!(bad.status, 422, "{}", bad.body);

    // Resolved, as multipart with a photo of the repair.
    let jpg = fixture("xiaomi_IMG_20191224_234846.jpg");
    let media = uuid();
    let body = json!({"id": uuid(), "note": "管道已修复", "status": "resolved",
        "media": [{"id": media, "sha256": sha256_hex(&jpg), "bytes": jpg.len(),
                   "content_type": "image/jpeg", "caption": "修复后"}]});
    let (ct, bytes) = multipart_named("response", &body, &[(media.as_str(), &jpg)]);
    let done = app.raw("POST", &path, &r.env_member, &ct, &bytes).ok(201);
    assert_eq!(done["followup"]["status"], "resolved");
    assert_eq!(done["media_missing"], json!([]));
    let shown = &done["response"]["media"][0];
    assert_eq!(shown["id"], media.as_str());
    assert_eq!(shown["response_id"], done["response"]["id"]);
    assert_eq!(
        app.get_bytes(shown["urls"]["display"].as_str().unwrap(), "", &[])
            .0,
        200
    );

    // The next person: the coordinator sees both responses in order, with
    // who and the department, and the evidence is not among the record's
    // own photos.
    let f = app
        .get(&format!("/api/v1/followups/{fid}"), &r.coord)
        .ok(200);
    let notes: Vec<&str> = f["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["note"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["已派人现场取样", "管道已修复"]);
    assert_eq!(f["responses"][1]["department_id"], r.env.as_str());
    assert_eq!(f["record"]["photos"].as_array().unwrap().len(), 1);
    // The record's inspector's phone pulls the follow-up with its
    // responses, and not the evidence as a photo of their record.
    let pulled = app.pulled_photos(&r.li);
    assert!(
        !pulled.contains_key(&media),
        "evidence pulled as a record photo"
    );
    // Their phone cannot edit the evidence as one of its record's photos.
    let meta = json!({"id": media, "inspection_id": f["inspection_id"], "sha256": sha256_hex(&jpg),
        "bytes": jpg.len(), "content_type": "image/jpeg", "deleted": true});
    let p = app.push(&r.li, &uuid(), vec![], vec![meta]).ok(200);
    assert_eq!(p["results"][0]["status"], "rejected", "{p}");

    // The coordinator sends it back, the department resolves again, the
    // coordinator verifies; then the department can no longer answer.
    app.patch(
        &format!("/api/v1/followups/{fid}"),
        &r.coord,
        &json!({"status": "in_progress", "note": "现场仍有渗漏"}),
    )
    .ok(200);
    app.post(
        &path,
        &r.env_member,
        &json!({"status": "resolved", "note": "已补漏"}),
    )
    .ok(201);
    let v = app
        .patch(
            &format!("/api/v1/followups/{fid}"),
            &r.coord,
            &json!({"status": "verified", "note": "复核通过"}),
        )
        .ok(200);
    assert_eq!(v["status"], "verified");
    let late = app.post(&path, &r.env_member, &json!({"note": "补充"}));
    assert_eq!(late.status, 409, "{}", late.body);
}

#[test]
fn a_re_dispatched_follow_up_leaves_the_old_department_and_reaches_the_new() {
    let app = TestApp::spawn();
    let r = relay(&app);
    let (_, photo, fid) = dispatched(&app, &r, &r.env);
    app.post(
        &format!("/api/v1/followups/{fid}/responses"),
        &r.env_member,
        &json!({"note": "污染源为破损管道,建议住建委维修", "status": "in_progress"}),
    )
    .ok(201);
    app.patch(
        &format!("/api/v1/followups/{fid}"),
        &r.coord,
        &json!({"department_id": r.housing, "note": "转住建委维修"}),
    )
    .ok(200);
    // The old department no longer sees it, nor the record's photo.
    assert_eq!(
        app.get(&format!("/api/v1/followups/{fid}"), &r.env_member)
            .status,
        404
    );
    let original = format!("/api/v1/photos/{photo}/original");
    assert_eq!(app.get_bytes(&original, &r.env_member, &[]).0, 404);
    // The new one does, with what the old one found.
    let f = app
        .get(&format!("/api/v1/followups/{fid}"), &r.housing_member)
        .ok(200);
    assert_eq!(f["department"], "区住房城乡建委");
    assert_eq!(f["responses"][0]["note"], "污染源为破损管道,建议住建委维修");
    assert_eq!(app.get_bytes(&original, &r.housing_member, &[]).0, 200);
    app.post(
        &format!("/api/v1/followups/{fid}/responses"),
        &r.housing_member,
        &json!({"note": "已修复", "status": "resolved"}),
    )
    .ok(201);
}

#[test]
fn the_timeline_tells_the_relay_and_the_departments_report_times_it() {
    let app = TestApp::spawn();
    let r = relay(&app);
    let (rec, _, fid) = dispatched(&app, &r, &r.env);
    app.post(
        &format!("/api/v1/followups/{fid}/responses"),
        &r.env_member,
        &json!({"note": "已取样", "status": "in_progress"}),
    )
    .ok(201);
    app.patch(
        &format!("/api/v1/followups/{fid}"),
        &r.coord,
        &json!({"department_id": r.housing, "note": "转住建委"}),
    )
    .ok(200);
    app.post(
        &format!("/api/v1/followups/{fid}/responses"),
        &r.housing_member,
        &json!({"note": "管道已修复", "status": "resolved"}),
    )
    .ok(201);
    app.patch(
        &format!("/api/v1/followups/{fid}"),
        &r.coord,
        &json!({"status": "verified"}),
    )
    .ok(200);

    let t = app
        .get(&format!("/api/v1/inspections/{rec}/timeline"), &r.coord)
        .ok(200);
    let steps: Vec<(&str, Option<&str>)> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["by"]["department"].as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("captured", None),
            ("received", None),
            ("dispatched", None),
            ("response", Some("区生态环境局")),
            ("dispatched", None),
            ("response", Some("区住房城乡建委")),
            ("verified", None),
        ],
        "{t}"
    );
    assert!(
        t["items"][2]["text"]
            .as_str()
            .unwrap()
            .contains("区生态环境局")
    );
    assert_eq!(t["items"][5]["by"]["display_name"], "张工");
    assert_eq!(t["items"][5]["by"]["role"], "responder");
    // The record's page shows the relay with the time since the report.
    let web = crate::webui::Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get(&format!("/review/inspections/{rec}"), &s);
    assert!(page.body.contains("处置经过"), "{}", page.body);
    assert!(page.body.contains("区住房城乡建委"));
    assert!(page.body.contains("class=\"elapsed\""));
    let print = web.get(&format!("/review/inspections/{rec}/print"), &s);
    assert!(print.body.contains("处置经过"));
    // Out of scope: 404, like the record.
    assert_eq!(
        app.get(
            &format!("/api/v1/inspections/{rec}/timeline"),
            &r.housing_member
        )
        .status,
        404
    );

    let rows = app.get("/api/v1/reports/departments", &r.coord).ok(200);
    let by: std::collections::HashMap<&str, &Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap(), x))
        .collect();
    let env = by["区生态环境局"];
    assert_eq!(
        (
            env["assigned"].as_i64(),
            env["responded"].as_i64(),
            env["resolved"].as_i64(),
            env["verified"].as_i64()
        ),
        (Some(1), Some(1), Some(0), Some(0)),
        "{env}"
    );
    let hou = by["区住房城乡建委"];
    assert_eq!(
        (
            hou["assigned"].as_i64(),
            hou["responded"].as_i64(),
            hou["resolved"].as_i64(),
            hou["verified"].as_i64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{hou}"
    );
    assert!(hou["median_resolve_s"].as_i64().unwrap() >= 0);
    // Nothing handed over in a period before it all.
    let none = app
        .get("/api/v1/reports/departments?to=2020-01-01", &r.coord)
        .ok(200);
    assert!(none.as_array().unwrap().iter().all(|x| x["assigned"] == 0));
    let (status, _, csv) = app.get_bytes("/api/v1/reports/departments.csv", &r.coord, &[]);
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    // With a byte-order mark, as every CSV (a spreadsheet reads the Chinese).
    assert!(
        csv.starts_with("\u{feff}department_id,name,assigned"),
        "{csv}"
    );
    assert!(csv.contains("区住房城乡建委,1,1,1,1,0,"), "{csv}");
    assert_eq!(
        app.get("/api/v1/reports/departments", &r.housing_member)
            .status,
        403
    );
}

#[test]
fn a_department_answers_from_its_page_with_a_photo() {
    use crate::webui::Web;
    let app = TestApp::spawn();
    let r = relay(&app);
    let (_, _, fid) = dispatched(&app, &r, &r.housing);
    let web = Web::new(&app);
    // A link from a group chat: not signed in, to the login and back.
    let first = web.get(&format!("/dept/followups/{fid}"), "");
    assert_eq!(first.status, 303);
    assert_eq!(first.header("location"), Some("/review/login?next=/dept"));
    let s = web.login("zhanggong").expect("a responder signs in");
    let home = web.get("/dept", &s);
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("区住房城乡建委"), "{}", home.body);
    assert!(home.body.contains("排查污水来源"));
    let page = web.get(&format!("/dept/followups/{fid}"), &s);
    assert!(page.body.contains("桃花河排口"), "the record's title");
    assert!(page.body.contains("/api/v1/photos/"), "the record's photo");
    let csrf = page.csrf();
    let response_id = uuid();
    // The form as a phone's browser sends it: text fields and a photo.
    let jpg = fixture("xiaomi_IMG_20191224_234846.jpg");
    let boundary = "dept-form-boundary";
    let mut body = Vec::new();
    for (k, v) in [
        ("csrf", csrf.as_str()),
        ("response_id", response_id.as_str()),
        ("note", "已更换破损管道"),
        ("status", "resolved"),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(&jpg);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let send = || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        agent
            .post(app.url(&format!("/dept/followups/{fid}")))
            .header("Cookie", &s)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .send(&body[..])
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(send(), 303);
    // Pressed twice: one response.
    assert_eq!(send(), 303);
    let f = app
        .get(&format!("/api/v1/followups/{fid}"), &r.coord)
        .ok(200);
    assert_eq!(f["status"], "resolved");
    assert_eq!(f["responses"].as_array().unwrap().len(), 1, "{f}");
    assert_eq!(f["responses"][0]["note"], "已更换破损管道");
    assert_eq!(
        f["responses"][0]["media"][0]["sha256"],
        sha256_hex(&jpg).as_str()
    );
    // Another department's member is refused the page of this one.
    let other = web.login("chengang").expect("a department member signs in");
    assert_eq!(
        web.get(&format!("/dept/followups/{fid}"), &other).status,
        404
    );
    // An inspector with no department is not let in.
    assert!(web.login("liming").is_err());
}
