//! The admin console over HTTP: each form, its CSRF token, its errors
//! shown next to their fields, and who may use it. (A browser drives it
//! end to end in `admin_browser.rs`.)

use crate::helpers::*;
use crate::webui::{Page, Web};
use serde_json::{Value, json};

pub(crate) fn admin(web: &Web) -> String {
    web.login_as("admin", ADMIN_PASSWORD)
        .expect("admin logs in")
}

/// A form post with the session's CSRF token (taken from `page`).
pub(crate) fn submit(
    web: &Web,
    cookie: &str,
    page: &str,
    action: &str,
    form: &[(&str, &str)],
) -> Page {
    let csrf = web.get(page, cookie).csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(form);
    web.post(action, cookie, &all)
}

/// The error shown under a field: `<input name=...>` ... `field-error`.
fn error_at(p: &Page, field: &str) -> Option<String> {
    let needle = format!("name=\"{field}\"");
    p.body.match_indices(&needle).find_map(|(at, _)| {
        let rest = &p.body[at..];
        // Up to the end of the field's label or table cell.
        let end = ["</label>", "</td>"]
            .iter()
            .filter_map(|t| rest.find(t))
            .min()
            .unwrap_or(rest.len());
        let inside = &rest[..end];
        let e = inside.find("class=\"field-error\"")?;
        let text = &inside[e..];
        let start = text.find('>')? + 1;
        let stop = text.find("</span>")?;
        Some(text[start..stop].to_string())
    })
}

/// The fields a browser would send from the form posting to `action`, as
/// the page shows them (checked boxes, selected options, typed values):
/// a form saved unchanged.
fn form_fields(p: &Page, action: &str) -> Vec<(String, String)> {
    let at = p
        .body
        .find(&format!("action=\"{action}\""))
        .expect("the form");
    let start = p.body[..at].rfind("<form").unwrap();
    let end = at + p.body[at..].find("</form>").unwrap();
    let form = &p.body[start..end];
    let unescape = |v: &str| {
        v.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let attrs = |tag: &str| -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        let mut rest = tag;
        while let Some(i) = rest.find(|c: char| c.is_ascii_alphabetic()) {
            rest = &rest[i..];
            let name_end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            let name = rest[..name_end].to_string();
            rest = &rest[name_end..];
            if let Some(r) = rest.strip_prefix("=\"") {
                let close = r.find('"').unwrap_or(r.len());
                out.push((name, Some(unescape(&r[..close]))));
                rest = &r[(close + 1).min(r.len())..];
            } else {
                out.push((name, None));
            }
        }
        out
    };
    let get = |a: &[(String, Option<String>)], k: &str| {
        a.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone().unwrap_or_default())
    };
    let mut fields = Vec::new();
    let mut i = 0;
    while let Some(lt) = form[i..].find('<') {
        let tag_start = i + lt;
        let tag_end = tag_start + form[tag_start..].find('>').unwrap();
        let tag = &form[tag_start + 1..tag_end];
        i = tag_end + 1;
        let (kind, rest) = tag.split_once(' ').unwrap_or((tag, ""));
        let a = attrs(rest);
        let Some(name) = get(&a, "name") else {
            continue;
        };
        match kind {
            "input" => {
                let ty = get(&a, "type").unwrap_or_default();
                let on = a.iter().any(|(n, _)| n == "checked");
                match ty.as_str() {
                    "checkbox" | "radio" if !on => {}
                    "image" | "submit" | "file" => {}
                    _ => fields.push((name, get(&a, "value").unwrap_or_default())),
                }
            }
            "textarea" => {
                let close = form[i..].find("</textarea>").unwrap();
                fields.push((name, unescape(&form[i..i + close])));
            }
            "select" => {
                let close = i + form[i..].find("</select>").unwrap();
                let options = &form[i..close];
                let mut first = None;
                let mut chosen = None;
                for o in options.split("<option").skip(1) {
                    let head = &o[..o.find('>').unwrap()];
                    let oa = attrs(head);
                    let v = get(&oa, "value").unwrap_or_default();
                    first.get_or_insert(v.clone());
                    if oa.iter().any(|(n, _)| n == "selected") {
                        chosen = Some(v);
                    }
                }
                fields.push((name, chosen.or(first).unwrap_or_default()));
            }
            _ => {}
        }
    }
    fields
}

/// Where a form sent the browser, without the `saved=1` that makes the
/// next page confirm the save.
fn location(p: &Page) -> &str {
    let l = p.header("location").unwrap_or_default();
    l.strip_suffix("?saved=1")
        .or_else(|| l.strip_suffix("&saved=1"))
        .unwrap_or(l)
}

#[test]
fn only_admins_use_the_console_and_every_form_needs_its_token() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let web = Web::new(&app);
    let r = web.get("/admin", "");
    assert_eq!((r.status, location(&r)), (303, "/review/login"));
    // A coordinator signs in once for /review; the console is not theirs.
    let coord = web.login("zhoumin").unwrap();
    assert_eq!(web.get("/review", &coord).status, 200);
    assert_eq!(web.get("/admin/sites", &coord).status, 403);
    // An admin lands in the console, with the page rules of /review.
    let form = web.get("/review/login", "");
    let pre = form.set_cookie("fieldsync_login_csrf").unwrap();
    let r = web.post(
        "/review/login",
        pre.split(';').next().unwrap(),
        &[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("csrf", &form.csrf()),
        ],
    );
    assert_eq!((r.status, location(&r)), (303, "/admin"));
    let cookie = r.set_cookie("fieldsync_session").unwrap();
    assert!(
        cookie.contains("Path=/;") || cookie.ends_with("Path=/"),
        "{cookie}"
    );
    let session = admin(&web);
    let page = web.get("/admin", &session);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(!page.body.contains("<script"));

    // No token, a wrong token, or another session's token: 403, nothing written.
    let before = app.get("/api/v1/groups", &app.admin).ok(200)["items"]
        .as_array()
        .unwrap()
        .len();
    for token in ["", "forged", &web.get("/review", &coord).csrf()] {
        let r = web.post(
            "/admin/groups",
            &session,
            &[("csrf", token), ("name", "伪造组")],
        );
        assert_eq!(r.status, 403, "{token}");
    }
    let r = web.post(
        &format!("/admin/sites/{}", d.site_a),
        &session,
        &[("csrf", "forged"), ("action", "delete")],
    );
    assert_eq!(r.status, 403);
    app.get(&format!("/api/v1/sites/{}", d.site_a), &app.admin)
        .ok(200);
    assert_eq!(
        app.get("/api/v1/groups", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        before
    );
    // Every console page answers an admin.
    for p in [
        "/admin",
        "/admin/groups",
        "/admin/users",
        "/admin/sites",
        "/admin/sites/new",
        "/admin/sites/import",
        "/admin/checklists",
        "/admin/checklists/new",
        "/admin/routes",
        "/admin/routes/new",
        "/admin/schedules",
        "/admin/schedules/new",
        "/admin/coverage",
    ] {
        let r = web.get(p, &session);
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        assert!(r.body.contains("lang=\"zh-CN\""));
        assert_eq!(web.get(p, &coord).status, 403, "{p}");
    }
}

#[test]
fn groups_and_users_with_their_errors_in_place() {
    let app = TestApp::spawn();
    let web = Web::new(&app);
    let s = admin(&web);
    let r = submit(
        &web,
        &s,
        "/admin/groups",
        "/admin/groups",
        &[("name", "渡舟联络组"), ("towns", "渡舟街道、凤城街道")],
    );
    assert_eq!((r.status, location(&r)), (303, "/admin/groups"));
    // The next page confirms the save.
    let next = web.get(r.header("location").unwrap(), &s);
    assert!(next.body.contains("id=\"saved\""), "{}", next.body);
    assert!(!web.get("/admin/groups", &s).body.contains("id=\"saved\""));
    let groups = app.get("/api/v1/groups", &app.admin).ok(200);
    let g = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "渡舟联络组")
        .unwrap()
        .clone();
    assert_eq!(g["towns"], json!(["渡舟街道", "凤城街道"]));
    let gid = g["id"].as_str().unwrap().to_string();

    let r = submit(
        &web,
        &s,
        "/admin/groups",
        "/admin/groups",
        &[("name", "  "), ("towns", "八颗街道")],
    );
    assert_eq!(r.status, 422);
    assert_eq!(error_at(&r, "name").as_deref(), Some("不能为空"));
    assert!(
        r.body.contains("value=\"八颗街道\""),
        "the form keeps what was typed"
    );

    // An inspector needs a group; a taken name is refused.
    let user = |name: &str, role: &str, group: &str| {
        submit(
            &web,
            &s,
            "/admin/users",
            "/admin/users",
            &[
                ("username", name),
                ("display_name", "李明"),
                ("role", role),
                ("group_id", group),
                ("password", PASSWORD),
            ],
        )
    };
    let r = user("liming", "inspector", "");
    assert_eq!(r.status, 422);
    assert!(error_at(&r, "group_id").is_some(), "{}", r.body);
    assert_eq!(location(&user("liming", "inspector", &gid)), "/admin/users");
    let r = user("liming", "inspector", &gid);
    assert_eq!(r.status, 409);
    assert_eq!(error_at(&r, "username").as_deref(), Some("用户名已被占用"));
    let r = submit(
        &web,
        &s,
        "/admin/users",
        "/admin/users",
        &[
            ("username", "short"),
            ("role", "inspector"),
            ("group_id", &gid),
            ("password", "1"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(error_at(&r, "password").is_some(), "{}", r.body);

    // Reset a password, move to coordinator, then deactivate.
    let li = app.get("/api/v1/users", &app.admin).ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "liming")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = format!("/admin/users/{li}");
    let r = submit(
        &web,
        &s,
        &page,
        &page,
        &[
            ("display_name", "李明(组长)"),
            ("role", "coordinator"),
            ("group_id", &gid),
            ("active", "1"),
            ("password", "a-new-password-9"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let u = app.get(&format!("/api/v1/users/{li}"), &app.admin).ok(200);
    assert_eq!(
        (u["role"].clone(), u["display_name"].clone()),
        (json!("coordinator"), json!("李明(组长)"))
    );
    assert_eq!(
        app.raw(
            "POST",
            "/api/v1/auth/login",
            "",
            "application/json",
            json!({"username": "liming", "password": "a-new-password-9"})
                .to_string()
                .as_bytes()
        )
        .status,
        200
    );
    let r = submit(
        &web,
        &s,
        &page,
        &page,
        &[
            ("display_name", "李明"),
            ("role", "coordinator"),
            ("group_id", &gid),
        ],
    );
    assert_eq!(r.status, 303);
    assert_eq!(
        app.get(&format!("/api/v1/users/{li}"), &app.admin).ok(200)["active"],
        json!(false)
    );

    // The last admin cannot deactivate themselves.
    let me = app.get("/api/v1/users/me", &app.admin).ok(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = format!("/admin/users/{me}");
    let r = submit(
        &web,
        &s,
        &page,
        &page,
        &[("display_name", "管理员"), ("role", "admin")],
    );
    assert_eq!(r.status, 409);
    assert!(r.body.contains("至少需要保留一名在岗管理员"), "{}", r.body);
    assert_eq!(
        app.get("/api/v1/users/me", &app.admin).ok(200)["active"],
        json!(true)
    );
}

#[test]
fn a_site_is_placed_by_a_click_on_the_map_and_saved() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let web = Web::new(&app);
    let s = admin(&web);
    let page = web.get(&format!("/admin/sites/new?group_id={}", d.group_a), &s);
    let at = page.body.find("name=\"view\" value=\"").unwrap() + 19;
    let view = page.body[at..].split('"').next().unwrap().to_string();
    let base = [
        ("group_id", d.group_a.as_str()),
        ("name", "桃花河2号排口"),
        ("code", "DZ-100"),
        ("kind", "outfall"),
        ("address", "桃花河下游"),
        ("radius_m", "60"),
        ("view", view.as_str()),
    ];
    // A typed position that is not a number.
    let mut form = base.to_vec();
    form.extend([("lat", "二十九"), ("lon", "107.08"), ("action", "save")]);
    let r = submit(&web, &s, "/admin/sites/new", "/admin/sites", &form);
    assert_eq!(r.status, 422);
    assert_eq!(error_at(&r, "lat").as_deref(), Some("必须是数字"));
    // A click on the map fills the position and saves nothing.
    let mut form = base.to_vec();
    form.extend([
        ("lat", ""),
        ("lon", ""),
        ("pick.x", "320"),
        ("pick.y", "200"),
    ]);
    let r = submit(&web, &s, "/admin/sites/new", "/admin/sites", &form);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("已在地图上选定位置"));
    let value = |name: &str| {
        let at = r
            .body
            .find(&format!("name=\"{name}\" id=\"{name}\" value=\""))
            .unwrap();
        let v = &r.body[at..];
        let v = &v[v.find("value=\"").unwrap() + 7..];
        v.split('"').next().unwrap().parse::<f64>().unwrap()
    };
    let (lat, lon) = (value("lat"), value("lon"));
    // The centre of the view is the middle of group A's one site.
    assert!(
        (lat - 29.857).abs() < 0.001 && (lon - 107.081).abs() < 0.001,
        "{lat} {lon}"
    );
    let sites = |app: &TestApp| {
        app.get("/api/v1/sites?q=DZ-100", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(sites(&app).is_empty());
    let mut form = base.to_vec();
    let (la, lo) = (format!("{lat}"), format!("{lon}"));
    form.extend([
        ("lat", la.as_str()),
        ("lon", lo.as_str()),
        ("action", "save"),
    ]);
    let r = submit(&web, &s, "/admin/sites/new", "/admin/sites", &form);
    assert_eq!(r.status, 303, "{}", r.body);
    let saved = sites(&app);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0]["radius_m"], json!(60.0));
    // The picker's clickable layer is an SVG image.
    let img = web.get(
        &format!("/admin/map.svg?group_id={}&view={}", d.group_a, enc(&view)),
        &s,
    );
    assert_eq!(img.header("content-type"), Some("image/svg+xml"));
    assert!(img.body.contains("<circle"));
    // A taken code comes back next to its field.
    let id = saved[0]["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/sites/{}", d.site_a),
        &app.admin,
        &json!({"code": "DZ-1"}),
    )
    .ok(200);
    let mut form = base.to_vec();
    form.retain(|(k, _)| *k != "code");
    form.extend([
        ("code", "DZ-1"),
        ("lat", la.as_str()),
        ("lon", lo.as_str()),
        ("action", "save"),
    ]);
    let r = submit(
        &web,
        &s,
        &format!("/admin/sites/{id}"),
        &format!("/admin/sites/{id}"),
        &form,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        error_at(&r, "code").as_deref(),
        Some("编码已被其他点位使用")
    );
}

/// A multipart form post (the import's file upload).
pub(crate) fn upload(web: &Web, cookie: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Page {
    upload_to(web, "/admin/sites/import", cookie, parts)
}

/// A multipart form post to `path`.
pub(crate) fn upload_to(
    web: &Web,
    path: &str,
    cookie: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> Page {
    let boundary = "fieldsyncboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Web::finish(
        web.agent
            .post(format!("{}{path}", web.base))
            .header("Cookie", cookie)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .send(&body[..])
            .unwrap(),
    )
}

pub(crate) fn hidden(p: &Page, name: &str) -> String {
    let at = p.body.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
    p.body[at..].split('"').next().unwrap().to_string()
}

#[test]
fn an_import_is_previewed_then_confirmed_in_the_console() {
    let app = TestApp::spawn();
    let g = app.group("云集联络组");
    let web = Web::new(&app);
    let s = admin(&web);
    let csrf = web.get("/admin/sites/import", &s).csrf();
    let (gbk, _, _) = encoding_rs::GBK.encode("编码,名称,类型,纬度,经度\nYJ-1,云台山护林点,护林点,29.9,107.1\nYJ-2,龙沟村作坊,作坊,29.91,107.12\n");
    let r = upload(
        &web,
        &s,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("action", None, b"preview"),
            ("group_id", None, g.as_bytes()),
            ("file", Some("点位.csv"), &gbk),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("云台山护林点") && r.body.contains("id=\"apply\""),
        "{}",
        r.body
    );
    let count = || {
        app.get("/api/v1/sites", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(), 0, "a preview writes nothing");
    let content = hidden(&r, "content");
    let r = upload(
        &web,
        &s,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("action", None, b"apply"),
            ("group_id", None, g.as_bytes()),
            ("content", None, content.as_bytes()),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("已导入"));
    assert_eq!(count(), 2);

    // A bad file: rows with their errors, nothing written, no confirm button.
    let bad = "名称,纬度,经度\n好点位,29.9,107.1\n坏点位,abc,107.1\n";
    let r = upload(
        &web,
        &s,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("action", None, b"preview"),
            ("group_id", None, g.as_bytes()),
            ("file", Some("bad.csv"), bad.as_bytes()),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("坏点位") && r.body.contains("纬度") && !r.body.contains("id=\"apply\""),
        "{}",
        r.body
    );
    let r = upload(
        &web,
        &s,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("action", None, b"apply"),
            ("group_id", None, g.as_bytes()),
            ("file", Some("bad.csv"), bad.as_bytes()),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("坏点位"));
    assert_eq!(count(), 2);
    // Without the token: 403.
    let r = upload(
        &web,
        &s,
        &[("csrf", None, b"forged"), ("file", Some("x.csv"), &gbk)],
    );
    assert_eq!(r.status, 403);
    // The export downloads with the session.
    let csv = web.get("/admin/sites/export.csv", &s);
    assert_eq!(csv.status, 200);
    assert!(csv.body.contains("云台山护林点"));
}

#[test]
fn a_checklist_gets_versions_and_a_phone_preview() {
    let app = TestApp::spawn();
    let web = Web::new(&app);
    let s = admin(&web);
    let rows: Vec<(String, String)> = vec![
        ("items[0].key", "flowing"),
        ("items[0].label", "排口是否有水"),
        ("items[0].kind", "yes_no"),
        ("items[0].required", "1"),
        ("items[1].key", "ph"),
        ("items[1].label", "pH 值"),
        ("items[1].kind", "number"),
        ("items[1].min", "0"),
        ("items[1].max", "14"),
        ("items[2].key", "score"),
        ("items[2].label", "整体评分"),
        ("items[2].kind", "score"),
        ("items[2].min", "1"),
        ("items[2].max", "5"),
        ("items[3].key", "smell"),
        ("items[3].label", "气味描述"),
        ("items[3].kind", "text"),
        ("items[4].key", "color"),
        ("items[4].label", "水体颜色"),
        ("items[4].kind", "choice"),
        ("items[4].options", "清澈、浑浊、发黑"),
        ("items[5].key", ""),
        ("items[5].label", ""),
        ("items[5].kind", "text"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut form: Vec<(&str, &str)> = rows.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    form.extend([("name", "排口巡查"), ("group_id", ""), ("action", "save")]);
    let r = submit(
        &web,
        &s,
        "/admin/checklists/new",
        "/admin/checklists",
        &form,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let id = location(&r).rsplit('/').next().unwrap().to_string();
    let t = app
        .get(&format!("/api/v1/templates/{id}"), &app.admin)
        .ok(200);
    assert_eq!(t["version"], 1);
    let kinds: Vec<&str> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["yes_no", "number", "score", "text", "choice"]);
    assert_eq!(t["items"][4]["options"], json!(["清澈", "浑浊", "发黑"]));
    assert_eq!(
        (t["items"][1]["min"].clone(), t["items"][1]["max"].clone()),
        (json!(0.0), json!(14.0))
    );

    // An edit makes version 2; a bad key is shown on its row.
    let page = format!("/admin/checklists/{id}");
    let mut bad = form.clone();
    bad.retain(|(k, _)| *k != "items[3].key");
    bad.push(("items[3].key", "气味"));
    let r = submit(&web, &s, &page, &page, &bad);
    assert_eq!(r.status, 422);
    assert!(error_at(&r, "items[3].key").is_some(), "{}", r.body);
    assert_eq!(
        app.get(
            &page.replace("/admin/checklists", "/api/v1/templates"),
            &app.admin
        )
        .ok(200)["version"],
        1
    );
    let mut fewer = form.clone();
    fewer.retain(|(k, _)| !k.starts_with("items[3]"));
    let r = submit(&web, &s, &page, &page, &fewer);
    assert_eq!(r.status, 303, "{}", r.body);
    let t = app
        .get(&format!("/api/v1/templates/{id}"), &app.admin)
        .ok(200);
    assert_eq!(
        (t["version"].clone(), t["items"].as_array().unwrap().len()),
        (json!(2), 4)
    );
    let editor = web.get(&page, &s);
    assert!(editor.body.contains("第 1 版") && editor.body.contains("第 2 版"));
    let v1 = web.get(&format!("{page}/preview?version=1"), &s);
    assert!(v1.body.contains("气味描述") && v1.body.contains("class=\"phone\""));
    let v2 = web.get(&format!("{page}/preview"), &s);
    assert!(!v2.body.contains("气味描述") && v2.body.contains("发黑"));
}

#[test]
fn a_route_is_planned_assigned_copied_and_cancelled() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let far = app.site(&d.group_a, "长江渡舟段");
    let web = Web::new(&app);
    let s = admin(&web);
    let planner = format!("/admin/routes/new?group_id={}", d.group_a);
    let page = web.get(&planner, &s);
    assert!(page.body.contains("长江渡舟段") && page.body.contains("从未"));
    let (tpl_a, tpl_far) = (format!("tpl.{}", d.site_a), format!("tpl.{far}"));
    let (seq_a, seq_far) = (format!("seq.{}", d.site_a), format!("seq.{far}"));
    let notes = format!("notes.{far}");
    let base: Vec<(&str, &str)> = vec![
        ("group_id", &d.group_a),
        ("name", "周一巡河"),
        ("scheduled_for", "2026-12-07"),
        ("due", ""),
        ("assignee_id", &d.inspector_a),
        ("row", &d.site_a),
        ("row", &far),
        (&seq_a, "2"),
        (&seq_far, "1"),
        (&tpl_a, &d.template),
        (&tpl_far, &d.template),
        (&notes, "先看江边"),
        ("action", "save"),
    ];
    // No name: the error is on the name, the choices stay.
    let mut no_name = base.clone();
    no_name.retain(|(k, _)| *k != "name");
    no_name.push(("name", ""));
    let r = submit(&web, &s, &planner, "/admin/routes", &no_name);
    assert_eq!(r.status, 422);
    assert_eq!(error_at(&r, "name").as_deref(), Some("不能为空"));
    assert!(r.body.contains("先看江边"));
    // Another group's inspector cannot be assigned.
    let mut wrong = base.clone();
    wrong.retain(|(k, _)| *k != "assignee_id");
    wrong.push(("assignee_id", &d.inspector_b));
    assert_eq!(
        submit(&web, &s, &planner, "/admin/routes", &wrong).status,
        422
    );

    let r = submit(&web, &s, &planner, "/admin/routes", &base);
    assert_eq!(r.status, 303, "{}", r.body);
    let id = location(&r).rsplit('/').next().unwrap().to_string();
    let route = app.get(&format!("/api/v1/routes/{id}"), &app.admin).ok(200);
    assert_eq!(route["assignee_id"], json!(d.inspector_a));
    let order: Vec<&str> = route["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["site_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [far.as_str(), d.site_a.as_str()],
        "ordered by the numbers given"
    );
    assert_eq!(route["stops"][0]["notes"], "先看江边");
    // The assignee's phone has it.
    let li = app.login("liming", PASSWORD);
    let (pages, _) = app.pull_pages(&li, None, 500);
    assert!(pulled(&pages, "changes", "routes").contains(&id));

    // The copy starts with the same stops, for a new day.
    let copy = web.get(&format!("/admin/routes/new?copy={id}"), &s);
    assert!(copy.body.contains("先看江边") && copy.body.contains("周一巡河"));
    assert!(!copy.body.contains("name=\"stop."), "a copy has new stops");
    // Cancelled from its page: the phone learns it.
    let page = format!("/admin/routes/{id}");
    let mut cancel = base.clone();
    cancel.retain(|(k, _)| *k != "action");
    cancel.push(("action", "cancel"));
    assert_eq!(submit(&web, &s, &page, &page, &cancel).status, 303);
    assert_eq!(
        app.get(&format!("/api/v1/routes/{id}"), &app.admin).ok(200)["status"],
        "cancelled"
    );
    // A reorder keeps the stops' ids (inspections name them).
    let before: Vec<Value> = route["stops"].as_array().unwrap().clone();
    let mut restore = base.clone();
    restore.retain(|(k, _)| *k != "action");
    restore.push(("action", "restore"));
    assert_eq!(submit(&web, &s, &page, &page, &restore).status, 303);
    // The edit page saved with the two stops' numbers swapped.
    let edit = web.get(&page, &s);
    let (first, second) = (
        before[0]["id"].as_str().unwrap(),
        before[1]["id"].as_str().unwrap(),
    );
    let mut fields = form_fields(&edit, &page);
    for (k, v) in fields.iter_mut() {
        if *k == format!("seq.{first}") {
            *v = "2".into();
        } else if *k == format!("seq.{second}") {
            *v = "1".into();
        } else if k == "action" {
            *v = "save".into();
        }
    }
    fields.retain(|(k, _)| k != "csrf");
    fields.push(("action".into(), "save".into()));
    let reorder: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(submit(&web, &s, &page, &page, &reorder).status, 303);
    let after = app.get(&format!("/api/v1/routes/{id}"), &app.admin).ok(200);
    assert_eq!(after["status"], "planned");
    assert_eq!(after["stops"][0]["id"], before[1]["id"]);
    assert_eq!(after["stops"][1]["id"], before[0]["id"]);
}

#[test]
fn a_schedule_from_the_console_makes_its_routes_and_coverage_shows_the_gaps() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let web = Web::new(&app);
    let s = admin(&web);
    let tpl = format!("tpl.{}", d.site_a);
    let form = [
        ("group_id", d.group_a.as_str()),
        ("name", "每周巡河"),
        ("assignee_id", ""),
        ("active", "1"),
        ("freq", "weekly"),
        ("wd", "1"),
        ("wd", "2"),
        ("wd", "3"),
        ("wd", "4"),
        ("wd", "5"),
        ("wd", "6"),
        ("wd", "7"),
        ("month_day", ""),
        ("horizon_days", "6"),
        ("row", d.site_a.as_str()),
        (tpl.as_str(), d.template.as_str()),
        ("action", "save"),
    ];
    let r = submit(&web, &s, "/admin/schedules/new", "/admin/schedules", &form);
    assert_eq!(
        (r.status, location(&r)),
        (303, "/admin/schedules"),
        "{}",
        r.body
    );
    let list = app.get("/api/v1/schedules", &app.admin).ok(200);
    let sid = list["items"][0]["id"].as_str().unwrap().to_string();
    let routes = app
        .get(
            &format!("/api/v1/routes?group_id={}&limit=500", d.group_a),
            &app.admin,
        )
        .ok(200);
    let made = routes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["schedule_id"] == json!(sid))
        .count();
    assert_eq!(made, 7, "today and six days ahead, every day");
    // Monthly without a day: the error is at the day.
    let mut monthly = form.to_vec();
    monthly.retain(|(k, _)| *k != "freq");
    monthly.push(("freq", "monthly"));
    let r = submit(
        &web,
        &s,
        "/admin/schedules/new",
        "/admin/schedules",
        &monthly,
    );
    assert_eq!(r.status, 422);
    assert!(
        error_at(&r, "month_day").is_some() || r.body.contains("每月计划须填写"),
        "{}",
        r.body
    );

    let cov = web.get(&format!("/admin/coverage?group_id={}", d.group_a), &s);
    assert_eq!(cov.status, 200);
    assert!(cov.body.contains("桃花河1号排口") && cov.body.contains("从未"));
    let csv = web.get(&format!("/admin/coverage.csv?group_id={}", d.group_a), &s);
    assert!(csv.body.starts_with('\u{feff}') && csv.body.contains(&d.site_a));
}

#[test]
fn map_tiles_are_allowed_by_the_policy_when_configured() {
    let app = TestApp::spawn_with(|c| {
        c.map_tiles = Some("https://tiles.example.org/{z}/{x}/{y}.png".into())
    });
    let d = District::new(&app);
    let web = Web::new(&app);
    let s = admin(&web);
    let r = web.get(&format!("/admin/sites?group_id={}", d.group_a), &s);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("img-src 'self' https://tiles.example.org;"),
        "{csp}"
    );
    assert!(r.body.contains("https://tiles.example.org/"), "tiles drawn");
    let plain = TestApp::spawn();
    let web = Web::new(&plain);
    let s = admin(&web);
    let r = web.get("/admin/sites", &s);
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("img-src 'self';")
    );
    assert!(
        r.body.contains("class=\"grid\""),
        "a plane with a grid, no tiles"
    );
}

use crate::webui::enc;

#[test]
fn sites_are_picked_for_a_plan_by_clicking_the_map() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let web = Web::new(&app);
    let s = admin(&web);
    let planner = format!("/admin/routes/new?group_id={}", d.group_b);
    let page = web.get(&planner, &s);
    let view = hidden(&page, "plan_view");
    let checked = |p: &Page| {
        p.body
            .contains(&format!("name=\"row\" value=\"{}\" checked", d.site_b))
    };
    assert!(!checked(&page));
    let click = |x: &str, y: &str, extra: &[(&str, &str)]| {
        let mut form = vec![
            ("group_id", d.group_b.as_str()),
            ("name", "云台山巡山"),
            ("scheduled_for", "2026-12-08"),
            ("plan_view", view.as_str()),
            ("mappick.x", x),
            ("mappick.y", y),
        ];
        form.extend_from_slice(extra);
        submit(&web, &s, &planner, "/admin/routes", &form)
    };
    // The group's one site sits in the middle of the fitted map.
    let r = click("321", "199", &[]);
    assert_eq!(r.status, 200, "a click saves nothing");
    assert!(checked(&r), "{}", r.body);
    assert_eq!(hidden(&r, "plan_view"), view, "the map does not move");
    // Far from any site: nothing changes; on it again: left out.
    let on = [("row", d.site_b.as_str())];
    assert!(checked(&click("5", "5", &on)));
    assert!(!checked(&click("320", "200", &on)));
    let routes = app
        .get(
            &format!("/api/v1/routes?group_id={}", d.group_b),
            &app.admin,
        )
        .ok(200);
    assert_eq!(
        routes["items"].as_array().unwrap().len(),
        1,
        "only the District's route"
    );
}

/// The console's import keeps the API's limit on a sheet
/// (`FIELDSYNC_MAX_JSON_BYTES`), and says so in the form, in Chinese.
#[test]
fn a_sheet_over_the_limit_is_refused_in_the_form() {
    let app = TestApp::spawn_with(|c| c.max_json_bytes = 2048);
    let g = app.group("云集联络组");
    let web = Web::new(&app);
    let s = admin(&web);
    let csrf = web.get("/admin/sites/import", &s).csrf();
    let mut sheet = String::from("编码,名称,类型,纬度,经度\n");
    for i in 0..100 {
        sheet.push_str(&format!("YJ-{i},云台山护林点{i},护林点,29.9,107.1\n"));
    }
    assert!(sheet.len() > 2048);
    let r = upload(
        &web,
        &s,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("action", None, b"preview"),
            ("group_id", None, g.as_bytes()),
            ("file", Some("点位.csv"), sheet.as_bytes()),
        ],
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(
        error_at(&r, "file").as_deref(),
        Some("文件太大,超过服务器允许的上限")
    );
    assert!(
        app.get("/api/v1/sites", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// A route that visits one site twice, saved from its page unchanged,
/// keeps all its stops with their ids, order and notes (stops are rows of
/// their own, never keyed by their site).
#[test]
fn a_route_visiting_a_site_twice_is_saved_unchanged() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let far = app.site(&d.group_a, "长江渡舟段");
    let r = app
        .post(
            "/api/v1/routes",
            &app.admin,
            &json!({"group_id": d.group_a, "name": "早晚两次", "scheduled_for": "2026-12-08",
            "stops": [
                {"site_id": d.site_a, "template_id": d.template, "notes": "早上"},
                {"site_id": far, "template_id": d.template},
                {"site_id": d.site_a, "template_id": d.template, "notes": "傍晚"},
            ]}),
        )
        .ok(201);
    let id = r["id"].as_str().unwrap();
    let web = Web::new(&app);
    let s = admin(&web);
    let page = format!("/admin/routes/{id}");
    let edit = web.get(&page, &s);
    let mut fields = form_fields(&edit, &page);
    fields.retain(|(k, _)| k != "csrf");
    fields.push(("action".into(), "save".into()));
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let saved = submit(&web, &s, &page, &page, &form);
    assert_eq!(saved.status, 303, "{}", saved.body);
    let after = app.get(&format!("/api/v1/routes/{id}"), &app.admin).ok(200);
    let pick = |v: &Value| -> Vec<(Value, Value, Value)> {
        v["stops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].clone(), s["site_id"].clone(), s["notes"].clone()))
            .collect()
    };
    assert_eq!(pick(&after), pick(&r));
    // And the page said it was saved.
    let next = web.get(saved.header("location").unwrap(), &s);
    assert!(next.body.contains("已保存"));
}

/// A new stop's checklist is the one last planned for its kind of site in
/// the group, never a guess by name or by place in the list; a kind never
/// planned waits for the admin to choose.
#[test]
fn the_default_checklist_of_a_stop_follows_its_sites_kind() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let forest = id(app
        .post(
            "/api/v1/sites",
            &app.admin,
            &json!({"group_id": d.group_a, "name": "云台山护林点", "kind": "forest_patrol",
                    "lat": 29.9, "lon": 107.1, "radius_m": 200.0}),
        )
        .ok(201));
    let works = id(app
        .post(
            "/api/v1/sites",
            &app.admin,
            &json!({"group_id": d.group_a, "name": "渡舟化工厂", "kind": "enterprise",
                    "lat": 29.85, "lon": 107.07, "radius_m": 150.0}),
        )
        .ok(201));
    let fire = id(app
        .post(
            "/api/v1/templates",
            &app.admin,
            &json!({"name": "森林防火巡查", "group_id": null, "items": [
                {"key": "fire", "label": "有无火情", "kind": "yes_no", "required": true}]}),
        )
        .ok(201));
    app.route(&d.group_a, None, &[(&forest, &fire)]);
    let web = Web::new(&app);
    let s = admin(&web);
    let page = web.get(&format!("/admin/routes/new?group_id={}", d.group_a), &s);
    let chosen = |site: &str| -> String {
        let f = form_fields(&page, "/admin/routes");
        f.into_iter()
            .find(|(k, _)| *k == format!("tpl.{site}"))
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    assert_eq!(
        chosen(&forest),
        fire,
        "the forest point gets the fire checklist"
    );
    assert_eq!(chosen(&d.site_a), d.template, "the outfall the water one");
    assert_eq!(
        chosen(&works),
        "",
        "a kind never planned: the admin chooses"
    );
    assert!(page.body.contains("请选择检查清单"));
    // Saved without a choice: said at that stop, in Chinese.
    let r = submit(
        &web,
        &s,
        &format!("/admin/routes/new?group_id={}", d.group_a),
        "/admin/routes",
        &[
            ("group_id", &d.group_a),
            ("name", "化工厂检查"),
            ("scheduled_for", "2026-12-09"),
            ("row", &works),
            (&format!("tpl.{works}"), ""),
            ("action", "save"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("请选择检查清单"), "{}", r.body);
    assert!(!r.body.contains("template_id"));
}
