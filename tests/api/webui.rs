//! The review web page over HTTP (a browser drives it in `browser.rs`).

use crate::helpers::*;
use serde_json::json;

pub(crate) struct Web {
    pub agent: ureq::Agent,
    pub base: String,
}

#[derive(Debug)]
pub(crate) struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `name=value` of a Set-Cookie, with its attributes.
    pub(crate) fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.clone())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The value of the first hidden `csrf` input.
    pub(crate) fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Web {
    pub(crate) fn new(app: &TestApp) -> Web {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Web {
            agent,
            base: app.base.clone(),
        }
    }

    pub(crate) fn finish(r: ureq::http::Response<ureq::Body>) -> Page {
        let mut r = r;
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        Page {
            status: r.status().as_u16(),
            headers,
            body: r.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    pub(crate) fn get(&self, path: &str, cookie: &str) -> Page {
        Self::finish(
            self.agent
                .get(format!("{}{path}", self.base))
                .header("Cookie", cookie)
                .call()
                .unwrap(),
        )
    }

    pub(crate) fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Page {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        Self::finish(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Cookie", cookie)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(body.join("&").as_bytes())
                .unwrap(),
        )
    }

    /// Logs in; returns the session cookie (`name=value`).
    pub(crate) fn login(&self, user: &str) -> Result<String, Page> {
        self.login_as(user, PASSWORD)
    }

    pub(crate) fn login_as(&self, user: &str, password: &str) -> Result<String, Page> {
        let form = self.get("/review/login", "");
        let pre = form
            .set_cookie("fieldsync_login_csrf")
            .expect("login csrf cookie");
        let pre = pre.split(';').next().unwrap().to_string();
        let r = self.post(
            "/review/login",
            &pre,
            &[
                ("username", user),
                ("password", password),
                ("csrf", &form.csrf()),
            ],
        );
        match r.set_cookie("fieldsync_session") {
            Some(c) if r.status == 303 => Ok(c.split(';').next().unwrap().to_string()),
            _ => Err(r),
        }
    }
}

#[test]
fn a_coordinator_reviews_on_the_web_page() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (id, photo) = (uuid(), uuid());
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id, &d, json!({"title": "桃花河排口巡查", "status": "submitted", "answers.outfall_flowing": true,
            "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": T0}}), T0)],
        "photos": [photo_meta(&photo, &id, &bytes, "image/jpeg")]});
    app.push_multipart(&li, &batch, &[(photo.as_str(), &bytes)])
        .ok(200);
    app.wait_photo(&li, &photo);
    let (_, cursor) = app.pull_all(&li, None);

    let web = Web::new(&app);
    let r = web.get("/review", "");
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/review/login"))
    );
    let css = web.get("/review/static/review.css", "");
    assert!(
        css.header("content-type").unwrap().starts_with("text/css")
            && css.body.contains("@media print")
    );

    // A stale login form is refused; a good one sets a locked-down cookie.
    let stale = web.post(
        "/review/login",
        "",
        &[
            ("username", "zhoumin"),
            ("password", PASSWORD),
            ("csrf", "x"),
        ],
    );
    assert!(stale.set_cookie("fieldsync_session").is_none());
    let form = web.get("/review/login", "");
    let pre = form.set_cookie("fieldsync_login_csrf").unwrap();
    let pre_pair = pre.split(';').next().unwrap().to_string();
    let r = web.post(
        "/review/login",
        &pre_pair,
        &[
            ("username", "zhoumin"),
            ("password", PASSWORD),
            ("csrf", &form.csrf()),
        ],
    );
    assert_eq!(r.status, 303);
    let set = r.set_cookie("fieldsync_session").unwrap();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(set.contains(attr), "{set}");
    }
    let session = set.split(';').next().unwrap().to_string();

    let queue = web.get("/review", &session);
    assert_eq!(queue.status, 200);
    assert!(
        queue
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(queue.body.contains("桃花河排口巡查") && queue.body.contains("待审核"));

    // The queue's filters.
    let q = web.get(
        &format!("/review?review_status=&site_id={}", d.site_a),
        &session,
    );
    assert!(q.body.contains("桃花河排口巡查"));
    let q = web.get(
        &format!("/review?review_status=&site_id={}", d.site_b),
        &session,
    );
    assert!(!q.body.contains("桃花河排口巡查"));
    let q = web.get(
        "/review?review_status=&from=2000-01-01&to=2000-12-31",
        &session,
    );
    assert!(!q.body.contains("桃花河排口巡查"));
    let q = web.get("/review?review_status=&conflicts=1", &session);
    assert!(!q.body.contains("桃花河排口巡查"));

    let page = web.get(&format!("/review/inspections/{id}"), &session);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("class=\"thumb\""));
    assert!(
        page.body
            .contains(&format!("/api/v1/photos/{photo}/thumb?exp="))
    );
    assert!(page.body.contains("排口是否有水流出"), "checklist labels");
    assert!(page.body.contains("在范围内"));
    let csrf = page.csrf();
    // The form carries the version the page showed.
    let version = page
        .body
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the review form's version")
        .to_string();

    let forged = web.post(
        &format!("/review/inspections/{id}/review"),
        &session,
        &[
            ("csrf", "forged"),
            ("decision", "approve"),
            ("version", &version),
        ],
    );
    assert_eq!(forged.status, 403);
    assert!(
        forged
            .header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "an error page, not JSON"
    );
    let r = web.post(
        &format!("/review/inspections/{id}/review"),
        &session,
        &[
            ("csrf", &csrf),
            ("decision", "return"),
            ("comment", "请补拍排口近景"),
            ("version", &version),
        ],
    );
    // On to the next record waiting: none is left, so back to the queue.
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("/review/next?after={id}").as_str()))
    );
    let next = web.get(&format!("/review/next?after={id}"), &session);
    assert_eq!(
        next.header("location"),
        Some("/review?review_status=submitted&done=1")
    );
    assert!(
        web.get("/review?review_status=submitted&done=1", &session)
            .body
            .contains("已全部处理完毕")
    );
    let p = app
        .get(&format!("/api/v1/sync/pull?cursor={cursor}"), &li)
        .ok(200);
    assert_eq!(p["changes"]["reviews"][0]["comment"], "请补拍排口近景");

    let r = web.post(
        &format!("/review/inspections/{id}/followups"),
        &session,
        &[
            ("csrf", &csrf),
            ("title", "清理排口"),
            ("department", "街道办"),
            ("due", "2026-12-31"),
        ],
    );
    assert_eq!(r.status, 303);
    assert!(
        web.get(&format!("/review/inspections/{id}"), &session)
            .body
            .contains("清理排口")
    );

    let print = web.get(&format!("/review/inspections/{id}/print"), &session);
    assert!(
        print
            .body
            .contains(&format!("/api/v1/photos/{photo}/display?exp="))
    );

    // Inspectors do not get a session; logging out ends one.
    assert!(web.login("liming").is_err());
    let r = web.post("/review/logout", &session, &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(web.get("/review", &session).status, 303);
}

#[test]
fn review_pages_are_never_cached_framed_or_scripted() {
    let app = TestApp::spawn();
    District::new(&app);
    let web = Web::new(&app);
    let session = web.login("zhoumin").unwrap();
    for path in ["/review/login", "/review"] {
        let page = web.get(path, &session);
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
        let csp = page.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
    }
}

#[test]
fn a_session_ends_with_a_password_change_a_deactivation_or_a_new_role() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let web = Web::new(&app);
    let user = format!("/api/v1/users/{}", d.coordinator_a);
    for (change, restore) in [
        (
            json!({"password": "a-new-password-2"}),
            json!({"password": PASSWORD}),
        ),
        (json!({"active": false}), json!({"active": true})),
        (
            json!({"role": "admin", "group_id": null}),
            json!({"role": "coordinator", "group_id": d.group_a}),
        ),
    ] {
        let session = web.login("zhoumin").unwrap();
        assert_eq!(web.get("/review", &session).status, 200);
        app.patch(&user, &app.admin, &change).ok(200);
        let r = web.get("/review", &session);
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/review/login")),
            "the session outlived {change}"
        );
        app.patch(&user, &app.admin, &restore).ok(200);
        // An old session does not come back with the old state either.
        assert_eq!(web.get("/review", &session).status, 303, "{change}");
    }
}

#[test]
fn failed_web_logins_are_audited() {
    let app = TestApp::spawn();
    District::new(&app);
    let web = Web::new(&app);
    let form = web.get("/review/login", "");
    let pre = form.set_cookie("fieldsync_login_csrf").unwrap();
    let pre = pre.split(';').next().unwrap().to_string();
    let r = web.post(
        "/review/login",
        &pre,
        &[
            ("username", "zhoumin"),
            ("password", "wrong-password"),
            ("csrf", &form.csrf()),
        ],
    );
    assert_eq!(r.status, 200);
    let audit = app.get("/api/v1/audit?limit=500", &app.admin).ok(200);
    let failed = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "auth.web_login_failed")
        .expect("the failed web login is in the audit log");
    assert_eq!(failed["details"]["username"], "zhoumin");
}
