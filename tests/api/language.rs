//! Every word a person reads on `/review` and `/admin` is Chinese: each
//! page rendered with real data, and each form with its error, is read as
//! a person sees it (text, labels, buttons, placeholders, image texts) and
//! any English word fails the test. Product names, file formats and the
//! data the test itself typed (user names) are allowed. The field app's
//! screens are read the same way in Chromium (`browser.rs`).

use crate::admin_console::{admin, submit, upload};
use crate::helpers::*;
use crate::webui::{Page, Web};
use serde_json::json;

/// Words a Chinese page may carry: the product, file formats and units.
pub const ALLOWED: &[&str] = &[
    "fieldsync",
    "CSV",
    "GeoJSON",
    "UTF",
    "GBK",
    "Excel",
    "PDF",
    "ID",
    "BOM",
    "JPEG",
    "PNG",
    "MB",
    "km",
    "XLSForm",
];

/// The text of a page as a person reads it: its text nodes, and the
/// attributes a browser shows (placeholder, alt, title, aria-label, a
/// button's value); not its head, scripts or styles.
pub fn visible_text(html: &str) -> String {
    let mut s = html.to_string();
    for (open, close) in [
        ("head", "</head>"),
        ("script", "</script>"),
        ("style", "</style>"),
    ] {
        // `<head>` or `<head ...>`, never `<header>`.
        let at = |s: &str| {
            s.match_indices('<').map(|(i, _)| i).find(|&i| {
                s[i + 1..].starts_with(open)
                    && matches!(s[i + 1 + open.len()..].chars().next(), Some('>' | ' '))
            })
        };
        while let Some(a) = at(&s) {
            let b = s[a..].find(close).map_or(s.len(), |b| a + b + close.len());
            s.replace_range(a..b, " ");
        }
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        out.push(' ');
        let gt = rest[lt..].find('>').map_or(rest.len(), |g| lt + g);
        let tag = &rest[lt..gt];
        for attr in ["placeholder=\"", "alt=\"", "title=\"", "aria-label=\""] {
            if let Some(at) = tag.find(attr) {
                let v = &tag[at + attr.len()..];
                out.push_str(&v[..v.find('"').unwrap_or(v.len())]);
                out.push(' ');
            }
        }
        if tag.contains("type=\"submit\"")
            && tag.starts_with("<input")
            && let Some(at) = tag.find("value=\"")
        {
            let v = &tag[at + 7..];
            out.push_str(&v[..v.find('"').unwrap_or(v.len())]);
        }
        rest = &rest[(gt + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// The English words in `text`: runs of two or more Latin letters that
/// are not allowed and not data the test made.
pub fn english_words(text: &str, data: &[&str]) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphabetic() {
            cur.push(c);
        } else {
            if cur.len() >= 2
                && !ALLOWED.iter().any(|a| a.eq_ignore_ascii_case(&cur))
                && !data.iter().any(|d| d.eq_ignore_ascii_case(&cur))
            {
                words.push(cur.clone());
            }
            cur.clear();
        }
    }
    words.sort();
    words.dedup();
    words
}

/// The people the district's data names by user name (data, not words).
const PEOPLE: &[&str] = &["liming", "wangfang", "chengang", "zhoumin", "admin"];

fn check(found: &mut Vec<String>, what: &str, p: &Page) {
    if std::env::var_os("FIELDSYNC_SHOW_TEXT").is_some() {
        println!("== {what} ({})\n{}", p.status, visible_text(&p.body));
    }
    let words = english_words(&visible_text(&p.body), PEOPLE);
    if !words.is_empty() {
        found.push(format!("{what} ({}): {words:?}", p.status));
    }
}

#[test]
fn every_page_and_every_form_error_is_in_chinese() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    // A record with a photo, reviewed, with a follow-up and a conflict.
    let li = app.login("liming", PASSWORD);
    let bytes = fixture("xiaomi_IMG_20191224_234846.jpg");
    let (id, photo) = (uuid(), uuid());
    let mut item = new_inspection(
        &id,
        &d,
        json!({"title": "桃花河排口巡查", "status": "submitted", "severity": "high",
               "answers.outfall_flowing": true, "answers.water_color": "发黑", "notes": "有异味",
               "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": T0}}),
        T0,
    );
    item["route_id"] = json!(d.route_a);
    item["stop_id"] = json!(app.first_stop(&d.route_a));
    let batch = json!({"device_id": uuid(), "batch_id": uuid(), "inspections": [item],
                       "photos": [photo_meta(&photo, &id, &bytes, "image/jpeg")]});
    app.push_multipart(&li, &batch, &[(photo.as_str(), &bytes)])
        .ok(200);
    app.wait_photo(&li, &photo);
    let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
    app.push(
        &li,
        &uuid(),
        vec![edit(&id, 1, json!({"notes": "平板:已封堵"}), &later)],
        vec![],
    )
    .ok(200);
    app.push(
        &li,
        &uuid(),
        vec![edit(&id, 1, json!({"notes": "手机:仍在流"}), T0)],
        vec![],
    )
    .ok(200);
    app.post(
        &format!("/api/v1/inspections/{id}/followups"),
        &app.admin,
        &json!({"title": "封堵排口", "department": "住建委", "due_at": "2020-01-31T00:00:00Z"}),
    )
    .ok(201);
    let schedule = app
        .post(
            "/api/v1/schedules",
            &app.admin,
            &json!({"group_id": d.group_a, "name": "每周巡河",
                    "stops": [{"site_id": d.site_a, "template_id": d.template}],
                    "recurrence": {"freq": "weekly", "weekdays": [1, 4]}, "horizon_days": 7}),
        )
        .ok(201);
    let sid = schedule["id"].as_str().unwrap();
    let user_id = &d.inspector_a;

    let web = Web::new(&app);
    let mut found = Vec::new();

    // The review page, as a coordinator.
    check(&mut found, "login", &web.get("/review/login", ""));
    let bad = web.login_as("zhoumin", "not-the-password").unwrap_err();
    check(&mut found, "login refused", &bad);
    let c = web.login("zhoumin").unwrap();
    for path in [
        "/review".to_string(),
        "/review?review_status=&conflicts=1".into(),
        "/review?review_status=submitted&done=1".into(),
        format!("/review/inspections/{id}"),
        format!("/review/inspections/{id}/print"),
        format!("/review/inspections/{}", uuid()),
        "/review/dashboard".into(),
        "/review/dashboard?from=2026-01-01&to=2026-12-31".into(),
        "/review/dashboard?from=2026-12-31&to=2026-01-01".into(),
        format!("/review/sites/{}", d.site_a),
        format!("/review/sites/{}", uuid()),
        "/review/brief".into(),
    ] {
        check(&mut found, &path, &web.get(&path, &c));
    }
    let page = web.get(&format!("/review/inspections/{id}"), &c);
    let csrf = page.csrf();
    let version = page
        .body
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    for (what, path, form) in [
        (
            "return without a comment",
            format!("/review/inspections/{id}/review"),
            vec![
                ("csrf", csrf.as_str()),
                ("decision", "return"),
                ("comment", ""),
                ("version", version.as_str()),
            ],
        ),
        (
            "a stale decision",
            format!("/review/inspections/{id}/review"),
            vec![
                ("csrf", csrf.as_str()),
                ("decision", "approve"),
                ("comment", ""),
                ("version", "1"),
            ],
        ),
        (
            "a follow-up without a date",
            format!("/review/inspections/{id}/followups"),
            vec![
                ("csrf", csrf.as_str()),
                ("title", "清理"),
                ("department", "街道办"),
                ("due", "明天"),
            ],
        ),
        (
            "a forged form",
            format!("/review/inspections/{id}/review"),
            vec![
                ("csrf", "forged"),
                ("decision", "approve"),
                ("version", version.as_str()),
            ],
        ),
    ] {
        check(&mut found, what, &web.post(&path, &c, &form));
    }

    // The console, as the admin: every page, then every form's error.
    let s = admin(&web);
    for path in [
        "/admin".to_string(),
        "/admin/groups".into(),
        format!("/admin/groups/{}", d.group_a),
        "/admin/users".into(),
        format!("/admin/users/{user_id}"),
        "/admin/sites".into(),
        "/admin/sites/new".into(),
        format!("/admin/sites/{}", d.site_a),
        "/admin/sites/import".into(),
        "/admin/checklists".into(),
        "/admin/checklists/new".into(),
        format!("/admin/checklists/{}", d.template),
        format!("/admin/checklists/{}/preview", d.template),
        "/admin/routes".into(),
        format!("/admin/routes/new?group_id={}", d.group_a),
        format!("/admin/routes/{}", d.route_a),
        "/admin/schedules".into(),
        format!("/admin/schedules/new?group_id={}", d.group_a),
        format!("/admin/schedules/{sid}"),
        "/admin/coverage".into(),
        "/admin/groups?saved=1".into(),
    ] {
        let p = web.get(&path, &s);
        assert_eq!(p.status, 200, "{path}");
        check(&mut found, &path, &p);
    }
    let planner = format!("/admin/routes/new?group_id={}", d.group_a);
    /// What a form is, the page it is on, where it posts, what it sends.
    type Form<'a> = (&'a str, String, String, Vec<(&'a str, &'a str)>);
    let forms: Vec<Form> = vec![
        (
            "group without a name",
            "/admin/groups".into(),
            "/admin/groups".into(),
            vec![("name", ""), ("towns", "")],
        ),
        (
            "user with a short password",
            "/admin/users".into(),
            "/admin/users".into(),
            vec![
                ("username", "li ming"),
                ("display_name", ""),
                ("role", "inspector"),
                ("group_id", ""),
                ("password", "short"),
            ],
        ),
        (
            "user name taken",
            "/admin/users".into(),
            "/admin/users".into(),
            vec![
                ("username", "liming"),
                ("display_name", "李明"),
                ("role", "inspector"),
                ("group_id", d.group_a.as_str()),
                ("password", PASSWORD),
            ],
        ),
        (
            "site with a bad position",
            "/admin/sites/new".into(),
            "/admin/sites".into(),
            vec![
                ("group_id", d.group_a.as_str()),
                ("name", ""),
                ("kind", "outfall"),
                ("lat", "abc"),
                ("lon", "200"),
                ("radius_m", "-1"),
                ("action", "save"),
            ],
        ),
        (
            "checklist without items",
            "/admin/checklists/new".into(),
            "/admin/checklists".into(),
            vec![("name", ""), ("group_id", ""), ("action", "save")],
        ),
        (
            "route without a name or a date",
            planner.clone(),
            "/admin/routes".into(),
            vec![
                ("group_id", d.group_a.as_str()),
                ("name", ""),
                ("scheduled_for", "x"),
                ("action", "save"),
            ],
        ),
        (
            "route with a stop but no checklist",
            planner.clone(),
            "/admin/routes".into(),
            vec![
                ("group_id", d.group_a.as_str()),
                ("name", "巡河"),
                ("scheduled_for", "2026-12-09"),
                ("row", d.site_a.as_str()),
                ("action", "save"),
            ],
        ),
        (
            "schedule without stops",
            format!("/admin/schedules/new?group_id={}", d.group_a),
            "/admin/schedules".into(),
            vec![
                ("group_id", d.group_a.as_str()),
                ("name", "计划"),
                ("freq", "weekly"),
                ("horizon_days", "abc"),
                ("action", "save"),
            ],
        ),
        (
            "deleting a group in use",
            format!("/admin/groups/{}", d.group_a),
            format!("/admin/groups/{}", d.group_a),
            vec![("action", "delete")],
        ),
    ];
    for (what, page, action, form) in forms {
        let r = submit(&web, &s, &page, &action, &form);
        assert!(r.status >= 400 || r.status == 303, "{what}: {}", r.status);
        check(&mut found, what, &r);
    }
    let csrf = web.get("/admin/sites/import", &s).csrf();
    for (what, file) in [
        (
            "a sheet without coordinates",
            "名称,地址\n某处,某地\n".as_bytes(),
        ),
        (
            "a sheet with bad rows",
            "名称,纬度,经度,联络组\n甲,abc,107,无此组\n甲,29,107,\n".as_bytes(),
        ),
    ] {
        let r = upload(
            &web,
            &s,
            &[
                ("csrf", None, csrf.as_bytes()),
                ("action", None, b"preview"),
                ("group_id", None, b""),
                ("file", Some("点位.csv"), file),
            ],
        );
        check(&mut found, what, &r);
    }
    assert!(
        found.is_empty(),
        "English a person would read:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_word_finder_finds_english() {
    assert_eq!(
        english_words("请填写 comment: say what", &[]),
        ["comment", "say", "what"]
    );
    assert!(english_words("fieldsync 巡查 · CSV(UTF-8) 200 米 liming", &["liming"]).is_empty());
    let text = visible_text(
        "<head><title>Head</title></head><header>巡查</header><style>p{}</style><p title=\"hover\">正文<b>Bold</b><input type=\"submit\" value=\"Go\"></p>",
    );
    assert_eq!(english_words(&text, &[]), ["Bold", "Go", "hover"]);
    assert!(text.contains("巡查"), "{text}");
}
