//! End to end in headless Chromium, driven over WebDriver (chromedriver's
//! JSON API, no client library): a coordinator logs in, opens an
//! inspection with photos, sees the thumbnails load, returns it with a
//! comment, and the inspector's next pull carries that comment. A
//! screenshot of the inspection page is saved under
//! `target/test-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them). Without them the test says so and passes, unless
//! `FIELDSYNC_REQUIRE_BROWSER` is set (as `.ci/run` does).

use crate::helpers::*;
use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    base: String,
    session: String,
    agent: ureq::Agent,
    process: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Option<Driver> {
        Self::start_sized("1100,1800")
    }

    /// A browser with a window of `size` (`width,height` in CSS pixels), or
    /// None (the test is skipped) when Chromium is not installed, which
    /// `FIELDSYNC_REQUIRE_BROWSER` (CI) does not allow.
    fn start_sized(size: &str) -> Option<Driver> {
        let driver = Self::launch(size);
        if driver.is_none() {
            assert!(
                std::env::var_os("FIELDSYNC_REQUIRE_BROWSER").is_none(),
                "chromium and chromium-driver are required here"
            );
            eprintln!(
                "browser test skipped: install Debian's chromium and chromium-driver to run it"
            );
        }
        driver
    }

    fn launch(size: &str) -> Option<Driver> {
        let (Ok(_), true) = (
            which("chromedriver"),
            std::path::Path::new("/usr/bin/chromium").exists(),
        ) else {
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let process = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().ok()?;
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     format!("--user-data-dir={}", profile.path().display()),  format!("--window-size={size}")]}}}});
        let mut r = agent
            .post(format!("{base}/session"))
            .send_json(&caps)
            .ok()?;
        let v: Value = r.body_mut().read_json().ok()?;
        let session = v["value"]["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_string();
        Some(Driver {
            base,
            session,
            agent,
            process,
            _profile: profile,
        })
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let r = match method {
            "GET" => self.agent.get(url).call(),
            _ => self.agent.post(url).send_json(&body),
        };
        let v: Value = r
            .expect("webdriver")
            .body_mut()
            .read_json()
            .expect("webdriver json");
        assert!(v["value"].get("error").is_none(), "webdriver {path}: {v}");
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url}));
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        );
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), json!({}));
    }

    /// A Chrome DevTools command (network off, a position, permissions).
    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
    }

    fn offline(&self, off: bool) {
        // Without Network.enable the page's requests are not held to the
        // emulated conditions (only navigator.onLine follows them).
        self.cdp("Network.enable", json!({}));
        self.cdp(
            "Network.emulateNetworkConditions",
            json!({"offline": off, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        );
    }

    fn script(&self, js: &str) -> Value {
        self.call("POST", "/execute/sync", json!({"script": js, "args": []}))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn which(cmd: &str) -> Result<(), ()> {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map_err(|_| ())
        .and_then(|o| if o.status.success() { Ok(()) } else { Err(()) })
}

#[test]
fn a_coordinator_returns_an_inspection_in_a_real_browser() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let jpg = fixture("canon_sx530_IMG_1054.jpg");
    let sideways = fixture("synthetic_orientation_6.jpg");
    let (id, p1, p2) = (uuid(), uuid(), uuid());
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id, &d, json!({"title": "桃花河1号排口 污水溢流", "status": "submitted", "severity": "high",
            "answers.outfall_flowing": true, "answers.water_color": "发黑", "notes": "排口有黑色污水流出,有异味",
            "location": {"lat": 29.8572, "lon": 107.0813, "accuracy_m": 6, "captured_at": T0}}), T0)],
        "photos": [photo_meta(&p1, &id, &jpg, "image/jpeg"), photo_meta(&p2, &id, &sideways, "image/jpeg")]});
    app.push_multipart(
        &li,
        &batch,
        &[(p1.as_str(), &jpg), (p2.as_str(), &sideways)],
    )
    .ok(200);
    app.wait_photo(&li, &p1);
    app.wait_photo(&li, &p2);
    let (_, cursor) = app.pull_all(&li, None);

    // localhost, not 127.0.0.1: browsers send Secure cookies to it over http.
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    driver.go(&format!("{site}/review/login"));
    driver.type_into("#username", "zhoumin");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !driver
        .script("return document.body.innerText")
        .as_str()
        .unwrap_or_default()
        .contains("桃花河1号排口")
    {
        assert!(
            Instant::now() < deadline,
            "the queue did not show the inspection"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    driver.go(&format!("{site}/review/inspections/{id}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let loaded = driver.script(
            "const i = Array.from(document.querySelectorAll('img.thumb'));\
             return i.length > 0 && i.every(x => x.complete && x.naturalWidth > 0) ? i.map(x => [x.naturalWidth, x.naturalHeight]) : null;",
        );
        if let Some(sizes) = loaded.as_array() {
            assert_eq!(sizes.len(), 2, "both thumbnails");
            assert!(
                sizes
                    .iter()
                    .any(|s| s == &json!([240, 320]) || s == &json!([320, 240]))
            );
            break;
        }
        assert!(Instant::now() < deadline, "thumbnails did not load");
        std::thread::sleep(Duration::from_millis(100));
    }
    let shot = driver.call("GET", "/screenshot", json!({}));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("review-inspection.png"), &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    driver.type_into("#comment", "请补拍排口近景和水样照片");
    driver.click("#return");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !driver
        .script("return document.body.innerText")
        .as_str()
        .unwrap_or_default()
        .contains("已退回")
    {
        assert!(
            Instant::now() < deadline,
            "the page did not show the return"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let p = app
        .get(&format!("/api/v1/sync/pull?cursor={cursor}"), &li)
        .ok(200);
    assert_eq!(
        p["changes"]["reviews"][0]["comment"],
        "请补拍排口近景和水样照片"
    );
    assert_eq!(p["changes"]["inspections"][0]["review_status"], "returned");
}

impl Driver {
    /// Waits until the page's text contains `text`.
    fn wait_text(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .script("return document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .contains(text)
        {
            assert!(
                Instant::now() < deadline,
                "the page never showed {text:?}: {}",
                self.script("return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a screenshot of the page under `target/test-artifacts/`.
    /// Opens the field app at `site` and signs `user` in; waits for the
    /// district's route on the home screen.
    fn app_login(&self, site: &str, user: &str) {
        self.go(&format!("{site}/app/"));
        self.wait_text("巡查员登录");
        self.type_into("#username", user);
        self.type_into("#password", PASSWORD);
        self.click("#login");
        self.wait_text("桃花河巡查");
    }

    /// Fails on any English word the screen shows a person (its text and
    /// the attributes a browser shows: placeholder, alt, title, label).
    fn assert_chinese(&self, screen: &str) {
        let text = self.script(
            "return document.body.innerText + ' ' + [...document.querySelectorAll('[placeholder],[alt],[title],[aria-label]')]
               .map((e) => ['placeholder', 'alt', 'title', 'aria-label'].map((a) => e.getAttribute(a) ?? '').join(' ')).join(' ')",
        );
        let words = crate::language::english_words(
            text.as_str().unwrap_or_default(),
            &["liming", "wangfang", "zhoumin", "chengang", "admin"],
        );
        assert!(words.is_empty(), "{screen} shows English: {words:?}");
    }

    fn screenshot(&self, name: &str) {
        let shot = self.call("GET", "/screenshot", json!({}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), &png).unwrap();
    }
}

#[test]
fn an_admin_imports_sites_plans_a_route_and_the_inspector_pulls_it() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::spawn();
    let group = app.group("渡舟联络组");
    let li_id = app.user("liming", "inspector", Some(&group));
    app.user("wangfang", "inspector", Some(&group));
    app.template(None);
    let sheet = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    std::fs::write(
        sheet.path(),
        "\u{feff}编码,名称,类型,地址,纬度,经度,半径(米),联络组\n\
         DZ-001,桃花河1号排口,排污口,渡舟街道桃花河大桥下,29.8572,107.0813,80,渡舟联络组\n\
         DZ-002,长江渡舟段,河段,渡舟街道江边,29.8631,107.0921,300,渡舟联络组\n\
         DZ-003,渡舟化工厂,企业,工业园区3号,29.8495,107.0712,150,渡舟联络组\n",
    )
    .unwrap();

    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    driver.go(&format!("{site}/review/login"));
    driver.type_into("#username", "admin");
    driver.type_into("#password", ADMIN_PASSWORD);
    driver.click("#login");
    driver.wait_text("管理控制台");
    driver.screenshot("admin-overview.png");

    // Import: preview first, then confirm.
    driver.go(&format!("{site}/admin/sites/import"));
    driver.type_into("#file", &sheet.path().display().to_string());
    driver.click("#preview");
    driver.wait_text("新建 3");
    driver.screenshot("admin-import-preview.png");
    driver.click("#apply");
    driver.wait_text("已导入");
    let found = app.get("/api/v1/sites?q=DZ-00", &app.admin).ok(200);
    let ids: std::collections::HashMap<String, String> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["code"].as_str().unwrap().to_string(),
                s["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(ids.len(), 3);
    driver.go(&format!("{site}/admin/sites?group_id={group}"));
    driver.wait_text("渡舟化工厂");
    driver.screenshot("admin-sites.png");
    driver.go(&format!("{site}/admin/sites/{}", ids["DZ-001"]));
    driver.wait_text("在地图上点击");
    driver.screenshot("admin-site-edit.png");

    // A route from two of them, the outfall last, for liming.
    driver.go(&format!("{site}/admin/routes/new?group_id={group}"));
    driver.wait_text("长江渡舟段");
    driver.type_into("#name", "渡舟周一巡河");
    for (code, seq) in [("DZ-002", "1"), ("DZ-001", "2")] {
        let id = &ids[code];
        driver.click(&format!("input[name='row'][value='{id}']"));
        driver.type_into(&format!("input[name='seq.{id}']"), seq);
    }
    driver.click(&format!("#assignee_id option[value='{li_id}']"));
    driver.screenshot("admin-route-plan.png");
    driver.click("#save");
    driver.wait_text("编辑路线");

    let li = app.login("liming", PASSWORD);
    let (pages, _) = app.pull_pages(&li, None, 500);
    let routes: Vec<Value> = pages
        .iter()
        .flat_map(|p| {
            p["changes"]["routes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|r| r["name"] == "渡舟周一巡河")
        .collect();
    assert_eq!(routes.len(), 1, "the inspector's pull carries the route");
    let r = &routes[0];
    assert_eq!(r["assignee_id"], json!(li_id));
    let stops: Vec<&str> = r["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site_id"].as_str().unwrap())
        .collect();
    assert_eq!(stops, [ids["DZ-002"].as_str(), ids["DZ-001"].as_str()]);

    // The other main pages, for the record.
    for (path, text, name) in [
        ("/admin/routes", "渡舟周一巡河", "admin-routes.png"),
        ("/admin/groups", "渡舟联络组", "admin-groups.png"),
        ("/admin/users", "liming", "admin-users.png"),
        (
            "/admin/checklists/new",
            "新建检查清单",
            "admin-checklist-editor.png",
        ),
        ("/admin/schedules/new", "新建周期计划", "admin-schedule.png"),
        ("/admin/coverage", "从未巡查", "admin-coverage.png"),
    ] {
        driver.go(&format!("{site}{path}"));
        driver.wait_text(text);
        driver.screenshot(name);
    }
    let t = app.get("/api/v1/templates", &app.admin).ok(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    driver.go(&format!("{site}/admin/checklists/{t}/preview"));
    driver.wait_text("手机上的样子");
    driver.screenshot("admin-checklist-phone.png");
}

/// A function body for [`wait_until`]: presses play on the page's video
/// (muted, as a coordinator might) until it has a frame to show, then
/// answers where it plays from. The player loads only metadata until then
/// (`preload="metadata"`), so waiting for a frame without pressing play
/// depends on the browser's whims under load.
const PLAY_VIDEO: &str = "const v = document.querySelector('video'); if (!v) return false; \
    if (v.readyState >= 2) return v.currentSrc; \
    if (v.paused) { v.muted = true; v.play().catch(() => {}); } return false;";

/// Waits until `js` (a function body) returns something truthy.
fn wait_until(driver: &Driver, what: &str, js: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = driver.script(js);
        if !(v.is_null() || v == json!(false) || v == json!(0)) {
            return v;
        }
        if Instant::now() >= deadline {
            let state = driver.script("const v = document.querySelector('video'); return v ? [v.readyState, v.networkState, v.paused, v.currentSrc, v.error && v.error.message] : null");
            panic!("timed out waiting for {what} ({state})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_inspector_completes_a_stop_offline_and_it_syncs_on_reconnect() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let stop = app.first_stop(&d.route_a);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");

    driver.go(&format!("{site}/app/"));
    driver.wait_text("巡查员登录");
    driver.screenshot("app-login.png");
    driver.type_into("#username", "liming");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    driver.wait_text("桃花河巡查");
    wait_until(
        &driver,
        "the service worker",
        "return !!navigator.serviceWorker.controller",
    );
    driver.screenshot("app-home.png");
    // Installable: a manifest Chromium reads without errors.
    let manifest = driver.cdp("Page.getAppManifest", json!({}));
    assert_eq!(manifest["errors"], json!([]), "{manifest}");
    let installable = driver.cdp("Page.getInstallabilityErrors", json!({}));
    assert_eq!(
        installable["installabilityErrors"],
        json!([]),
        "{installable}"
    );
    driver.cdp(
        "Browser.grantPermissions",
        json!({"origin": site, "permissions": ["geolocation"]}),
    );
    driver.cdp(
        "Emulation.setGeolocationOverride",
        json!({"latitude": 29.8572, "longitude": 107.0813, "accuracy": 6}),
    );

    // At the stop, with signal: a position and a draft, synced.
    driver.go(&format!("{site}/app/#/stop/{}/{stop}", d.route_a));
    driver.wait_text("记录当前位置");
    driver.click("#locate");
    driver.wait_text("已定位");
    driver.wait_text("在范围内");
    driver.click("#save-draft");
    driver.wait_text("已全部上传");
    let coord = app.login("zhoumin", PASSWORD);
    let listed = app
        .get(
            &format!("/api/v1/inspections?route_id={}", d.route_a),
            &coord,
        )
        .ok(200);
    let id = listed["items"][0]["id"]
        .as_str()
        .expect("the draft reached the server")
        .to_string();

    // No signal: answers, notes, two photos, submit.
    driver.offline(true);
    driver.go(&format!("{site}/app/#/stop/{}/{stop}", d.route_a));
    driver.wait_text("记录当前位置");
    // Submitting with required items unanswered is refused on the phone.
    driver.click("#submit");
    driver.wait_text("还有 2 项必填未填写");
    let marked = driver.script("return document.querySelectorAll('fieldset.item.missing').length");
    assert_eq!(marked, json!(2), "both required items are marked");
    assert!(
        driver
            .script("return location.hash")
            .as_str()
            .unwrap_or_default()
            .starts_with("#/stop/")
    );
    driver.click("input[name='answers.outfall_flowing'][value='true'] + span");
    driver.click("input[name='answers.water_color'][value='发黑'] + span");
    driver.click("input[name='answers.score'][value='3'] + span");
    driver.type_into("#notes", "排口有黑色污水流出,有异味");
    driver.script("document.activeElement.blur()");
    let fixture_path = |name: &str| {
        std::fs::canonicalize(format!(
            "{}/../shared/fixtures/photos/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .display()
        .to_string()
    };
    let (jpg, small) = (
        fixture_path("canon_sx530_IMG_1054.jpg"),
        fixture_path("synthetic_orientation_6.jpg"),
    );
    driver.type_into("#camera", &format!("{jpg}\n{small}"));
    wait_until(
        &driver,
        "two photos",
        "return document.querySelectorAll('#photos figure').length === 2",
    );
    driver.type_into("#photos figure:first-child .caption", "排口近景");
    driver.script("document.activeElement.blur()");
    driver.screenshot("app-stop.png");
    driver.click("#submit");
    driver.wait_text("已提交");
    driver.wait_text("离线");

    // Meanwhile a tablet edits the notes, a minute later than the phone.
    let later = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339();
    let li = app.login("liming", PASSWORD);
    app.push(
        &li,
        &uuid(),
        vec![edit(&id, 1, json!({"notes": "平板:排口已封堵"}), &later)],
        vec![],
    )
    .ok(200);

    // The app is closed and opened again, still with no signal.
    driver.go("about:blank");
    driver.go(&format!("{site}/app/"));
    driver.wait_text("桃花河巡查");
    let load = driver.script(
        "const n = performance.getEntriesByType('navigation')[0]; return n ? n.domContentLoadedEventEnd : null;",
    );
    println!("the app opened offline from its cache: DOMContentLoaded at {load} ms");
    let waiting = driver.script("return document.getElementById('waiting').textContent");
    assert!(
        waiting.as_str().unwrap_or_default().contains("待上传"),
        "{waiting}"
    );
    driver.screenshot("app-offline.png");
    driver.assert_chinese("the app offline");

    // Signal again: it syncs by itself.
    driver.offline(false);
    driver.wait_text("已全部上传");
    driver.wait_text("「备注」与另一台设备的修改冲突");
    // On the way the app gzipped its push (CompressionStream) and the
    // browser took the pull compressed.
    let metrics = app.get("/metrics", "").text;
    assert!(
        metrics.contains(r#"fieldsync_push_bodies_total{encoding="gzip"}"#),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("push_bod"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let pulls = driver.script(
        "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/sync/pull')).map((e) => [e.encodedBodySize, e.decodedBodySize]);",
    );
    assert!(
        pulls
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0].as_f64().unwrap() < p[1].as_f64().unwrap()),
        "no pull came compressed: {pulls}"
    );
    driver.screenshot("app-conflict.png");
    driver.assert_chinese("a conflict notice");
    let detail = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    let record = if detail["inspection"].is_object() {
        &detail["inspection"]
    } else {
        &detail
    };
    assert_eq!(record["fields"]["status"], "submitted");
    assert_eq!(record["fields"]["answers.water_color"], "发黑");
    assert_eq!(record["fields"]["answers.outfall_flowing"], true);
    assert_eq!(record["fields"]["notes"], "平板:排口已封堵");
    assert!(record["fields"]["location"]["lat"].is_number());
    let photos: Vec<String> = record["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(photos.len(), 2);
    // The camera's photo carries the moment its EXIF says it was taken
    // (2020-09-12 11:49:38 in the district), not the file's date.
    let taken: Vec<&str> = record["photos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["taken_at"].as_str())
        .collect();
    assert!(
        taken.iter().any(|t| t.starts_with("2020-09-12T03:49:38")),
        "{taken:?}"
    );
    for p in &photos {
        let ready = app.wait_photo(&coord, p);
        assert_eq!(ready["status"], "ready", "{ready}");
    }
    let conflicts = app.get("/api/v1/conflicts?status=open", &coord).ok(200);
    assert!(
        conflicts["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["inspection_id"] == json!(id)
                && c["discarded"] == "排口有黑色污水流出,有异味"),
        "{conflicts}"
    );
}

/// A photo upload cut in the middle (the network drops during a chunk)
/// goes on from where it stopped once the network is back: one tus upload
/// is created, never a second.
#[test]
fn a_photo_upload_cut_in_the_middle_resumes() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let stop = app.first_stop(&d.route_a);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    driver.app_login(&site, "liming");
    driver.go(&format!("{site}/app/#/stop/{}/{stop}", d.route_a));
    driver.wait_text("记录当前位置");
    driver.click("input[name='answers.outfall_flowing'][value='false'] + span");
    driver.click("input[name='answers.water_color'][value='清澈'] + span");
    // A large photo (a 10 MB PNG of noise, sent as it is): chunks are
    // sized to the measured link, so it takes several, and the network can
    // drop between two of them (Chromium's offline mode does not cut a
    // request already on its way).
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("large.png");
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let img = image::RgbImage::from_fn(1800, 1800, |_, _| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    img.save(&png).unwrap();
    let size = std::fs::metadata(&png).unwrap().len() as f64;
    driver.type_into("#camera", &png.display().to_string());
    wait_until(
        &driver,
        "the photo",
        "return document.querySelectorAll('#photos figure').length === 1",
    );
    // A slow link: 600 ms a round trip.
    driver.cdp("Network.enable", json!({}));
    driver.cdp(
        "Network.emulateNetworkConditions",
        json!({"offline": false, "latency": 600, "downloadThroughput": -1, "uploadThroughput": -1}),
    );
    driver.click("#submit");
    // The first chunk is in; the network drops during the second.
    wait_until(
        &driver,
        "a partial upload",
        "const p = document.getElementById('upload'); return p && p.value >= 262144 && p.value < p.max;",
    );
    driver.offline(true);
    let at = driver.script("return document.getElementById('upload').value");
    driver.screenshot("app-upload-cut.png");
    std::thread::sleep(Duration::from_millis(1500));
    let still =
        driver.script("const p = document.getElementById('upload'); return p ? p.value : null;");
    println!("cut at {at}; 1.5 s offline later {still}");
    // Offline, the upload stopped short of its end (and the bytes are
    // waiting on the phone).
    assert!(
        still.as_f64().is_some_and(|v| v < size),
        "cut at {at}, yet the upload went on: {still} of {size}"
    );
    driver.cdp(
        "Network.emulateNetworkConditions",
        json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
    );
    driver.click("#sync");
    driver.wait_text("已全部上传");
    let coord = app.login("zhoumin", PASSWORD);
    let listed = app
        .get(
            &format!("/api/v1/inspections?route_id={}", d.route_a),
            &coord,
        )
        .ok(200);
    let id = listed["items"][0]["id"].as_str().unwrap().to_string();
    let detail = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    let record = if detail["inspection"].is_object() {
        &detail["inspection"]
    } else {
        &detail
    };
    let photo = record["photos"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(app.wait_photo(&coord, &photo)["status"], "ready");
    let metrics = app.get("/metrics", "").text;
    let created = metrics
        .lines()
        .find(|l| l.starts_with("fieldsync_http_requests_total{method=\"POST\",route=\"/api/v1/uploads\",status=\"201\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("0")
        .to_string();
    assert_eq!(created, "1", "resumed, not started again: {metrics}");
}

/// The relay back to the phone: a coordinator returns a record, and the
/// inspector's app shows it as 已退回 with the comment, who and when, on
/// the home screen, the route and the stop, until it is submitted again.
/// Then the phone is shared: liming signs out with a draft unsent (told
/// what waits and for whom), wangfang signs in and is told it is his, and
/// her sync never sends it.
#[test]
fn a_returned_record_reaches_the_phone_and_a_shared_phone_keeps_work_apart() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let stop = app.first_stop(&d.route_a);
    let li = app.login("liming", PASSWORD);
    let id = uuid();
    let mut item = new_inspection(
        &id,
        &d,
        json!({"title": "桃花河1号排口 污水溢流", "status": "submitted", "answers.outfall_flowing": true, "answers.water_color": "发黑"}),
        T0,
    );
    item["route_id"] = json!(d.route_a);
    item["stop_id"] = json!(stop);
    app.push(&li, &uuid(), vec![item], vec![]).ok(200);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    driver.app_login(&site, "liming");
    driver.wait_text("1/1 站");

    let coord = app.login("zhoumin", PASSWORD);
    let rec = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    app.post(
        &format!("/api/v1/inspections/{id}/reviews"),
        &coord,
        &json!({"decision": "return", "comment": "请到现场补拍", "version": rec["version"]}),
    )
    .ok(201);
    driver.click("#sync");
    driver.wait_text("已退回 1 条");
    driver.wait_text("「请到现场补拍」");
    driver.wait_text("0/1 站");
    driver.screenshot("app-returned-home.png");
    driver.assert_chinese("the home screen");
    driver.go(&format!("{site}/app/#/route/{}", d.route_a));
    driver.wait_text("已退回");
    driver.assert_chinese("the route");
    driver.go(&format!("{site}/app/#/stop/{}/{stop}", d.route_a));
    driver.wait_text("已退回,请补充后重新提交");
    driver.wait_text("「请到现场补拍」");
    driver.screenshot("app-returned-stop.png");
    driver.assert_chinese("the stop");

    // Offline, liming fixes the record and signs out before it is sent.
    driver.offline(true);
    driver.type_into("#notes", "已补拍近景");
    driver.script("document.getElementById('notes').dispatchEvent(new Event('change'));");
    driver.click("#save-draft");
    // Saved: the app goes back to the route.
    wait_until(
        &driver,
        "the route after saving",
        "return location.hash.startsWith('#/route/')",
    );
    driver.wait_text("待上传");
    driver.go(&format!("{site}/app/#/outbox"));
    driver.wait_text("桃花河巡查 · 第 1 站 · 桃花河1号排口");
    driver.screenshot("app-outbox.png");
    driver.assert_chinese("the outbox");
    driver.go(&format!("{site}/app/#/"));
    driver.wait_text("退出登录");
    driver.script("window.confirm = (t) => { window.__asked = t; return true; };");
    driver.click("#logout");
    driver.wait_text("巡查员登录");
    let asked = driver.script("return window.__asked");
    let asked = asked.as_str().unwrap_or_default();
    assert!(
        asked.contains("1 条记录") && asked.contains("liming") && asked.contains("保留在本机"),
        "{asked}"
    );
    driver.wait_text("本机还有 liming(liming)未上传的 1 条记录");
    driver.screenshot("app-shared-login.png");
    driver.assert_chinese("the login screen");

    // A wrong password is said in Chinese.
    driver.offline(false);
    driver.type_into("#username", "wangfang");
    driver.type_into("#password", "not-her-password");
    driver.click("#login");
    driver.wait_text("用户名或密码不对");
    driver.assert_chinese("a refused login");
    driver.script("document.getElementById('username').value = ''; document.getElementById('password').value = '';");

    // wangfang signs in on the same phone, with signal.
    driver.type_into("#username", "wangfang");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    driver.wait_text("wangfang(wangfang)");
    driver.wait_text("已全部上传");
    assert!(
        !driver
            .script("return document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .contains("污水溢流"),
        "liming's record is not shown to her"
    );
    let now = app
        .get(&format!("/api/v1/inspections/{id}"), &coord)
        .ok(200);
    assert_eq!(
        now["fields"]["notes"],
        Value::Null,
        "not sent under her name"
    );
    assert_eq!(now["review_status"], "returned");
}

/// Every page of the console and of the review page fits a phone held
/// upright (412 px): wide tables and maps scroll inside their card, the
/// page itself never gets wider.
#[test]
fn the_console_and_the_review_pages_fit_a_phone() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    // Headless Chromium's window is at least 500 px wide: the phone's
    // width is emulated.
    driver.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 412, "height": 915, "deviceScaleFactor": 1, "mobile": true}),
    );
    let app = TestApp::spawn();
    let d = District::new(&app);
    let route = d.route_a.clone();
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    driver.go(&format!("{site}/review/login"));
    driver.type_into("#username", "admin");
    driver.type_into("#password", ADMIN_PASSWORD);
    driver.click("#login");
    driver.wait_text("概览");
    let mut wide = Vec::new();
    for path in [
        "/admin".to_string(),
        "/admin/groups".into(),
        "/admin/users".into(),
        "/admin/sites".into(),
        "/admin/sites/new".into(),
        "/admin/sites/import".into(),
        "/admin/checklists".into(),
        "/admin/checklists/new".into(),
        format!("/admin/checklists/{}", d.template),
        "/admin/routes".into(),
        format!("/admin/routes/new?group_id={}", d.group_a),
        format!("/admin/routes/{route}"),
        "/admin/schedules".into(),
        format!("/admin/schedules/new?group_id={}", d.group_a),
        "/admin/coverage".into(),
        "/review".into(),
    ] {
        driver.go(&format!("{site}{path}"));
        let w = driver.script("return document.documentElement.scrollWidth");
        if w.as_i64().unwrap_or(0) > 412 {
            wide.push(format!("{path}: {w}"));
            let name = path
                .trim_start_matches('/')
                .replace(['/', '?', '=', '&'], "-");
            driver.screenshot(&format!("narrow-{name}.png"));
        }
    }
    assert!(wide.is_empty(), "wider than a phone: {wide:?}");
}

/// A draft begun on a stop that an admin then removed, against a checklist
/// the admin then changed: the phone still opens it, says why, and submits
/// it; the server applies it as made and flags both to the reviewer.
#[test]
fn a_draft_on_a_removed_stop_and_an_old_checklist_is_finished_on_the_phone() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let stop = app.first_stop(&d.route_a);
    let site2 = app.site(&d.group_a, "桃花河2号排口");
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    driver.app_login(&site, "liming");
    driver.offline(true);
    driver.go(&format!("{site}/app/#/stop/{}/{stop}", d.route_a));
    driver.wait_text("记录当前位置");
    driver.click("input[name='answers.outfall_flowing'][value='true'] + span");
    driver.click("#save-draft");
    wait_until(
        &driver,
        "the route after saving",
        "return location.hash.startsWith('#/route/')",
    );

    // Meanwhile the admin replaces the stop and drops a question.
    app.patch(
        &format!("/api/v1/routes/{}", d.route_a),
        &app.admin,
        &json!({"stops": [{"site_id": site2, "template_id": d.template}]}),
    )
    .ok(200);
    app.patch(
        &format!("/api/v1/templates/{}", d.template),
        &app.admin,
        &json!({"items": [{"key": "water_color", "label": "水体颜色", "kind": "choice", "required": true, "options": ["清澈", "浑浊", "发黑"]}]}),
    )
    .ok(200);

    // Back in coverage: the draft syncs as a draft, the new plan comes down.
    driver.offline(false);
    driver.go(&format!("{site}/app/#/route/{}", d.route_a));
    driver.click("#sync");
    // The route as it is now (drawn again when the sync is done).
    driver.wait_text("桃花河2号排口");
    driver.go(&format!("{site}/app/#/stop/{}/{stop}", d.route_a));
    driver.wait_text("这个站点已从路线中移除");
    driver.wait_text("这条记录按第 1 版填写");
    driver.screenshot("app-stop-removed.png");
    driver.assert_chinese("a stop removed since");
    driver.click("#submit");
    wait_until(
        &driver,
        "the route after submitting",
        "return location.hash.startsWith('#/route/')",
    );
    driver.click("#sync");
    driver.wait_text("已全部上传");
    let coord = app.login("zhoumin", PASSWORD);
    let listed = app
        .get(
            &format!("/api/v1/inspections?route_id={}", d.route_a),
            &coord,
        )
        .ok(200);
    let rec = &listed["items"][0];
    assert_eq!(rec["fields"]["status"], "submitted", "{listed}");
    assert_eq!(rec["fields"]["answers.outfall_flowing"], true);
    assert_eq!(rec["template_version"], 1);
    assert_eq!(rec["checks"]["stop_removed"], true);
    assert_eq!(rec["checks"]["template_outdated"], true);
}

/// Issue 21 on a phone: an inspector at 412 px fills a checklist with logic
/// offline (a branch opened by an answer, a failed item with its own photo
/// and note, a signature drawn with a finger, two rows of a repeat), syncs
/// when the signal returns, and the coordinator reads it by section with
/// the failed items first.
#[test]
fn an_inspector_fills_a_checklist_with_logic_offline_and_the_coordinator_sees_failed_items_first() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = id(app
        .post(
            "/api/v1/templates",
            &app.admin,
            &json!({"name": "排口巡查(含逻辑)", "group_id": null, "items": crate::checklists::outfall_items()}),
        )
        .ok(201));
    let route = app.route(&d.group_a, None, &[(&d.site_a, &t)]);
    let route_id = route["id"].as_str().unwrap().to_string();
    let stop = route["stops"][0]["id"].as_str().unwrap().to_string();
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    driver.app_login(&site, "liming");
    wait_until(
        &driver,
        "the service worker",
        "return !!navigator.serviceWorker.controller",
    );

    driver.go(&format!("{site}/app/#/stop/{route_id}/{stop}"));
    driver.wait_text("记录当前位置");
    driver.offline(true);
    let hidden = |path: &str| {
        driver.script(&format!(
            "const e = document.querySelector('[data-path=\"{path}\"]'); return e ? e.hidden : null"
        ))
    };
    // "Is water flowing?" unanswered: the flow section is hidden.
    assert_eq!(hidden("flow"), json!(true));
    assert_eq!(hidden("color"), json!(true));
    driver.click("input[name='answers.flowing'][value='true'] + span");
    wait_until(
        &driver,
        "the flow section",
        "return document.querySelector('[data-path=\"color\"]').hidden === false",
    );
    driver.click("input[name='answers.color'][value='发黑'] + span");
    wait_until(
        &driver,
        "color marked failed",
        "return document.querySelector('[data-path=\"color\"]').classList.contains('failed')",
    );
    assert_eq!(hidden("odor_kind"), json!(true));
    driver.click("input[name='answers.odor'][value='true'] + span");
    wait_until(
        &driver,
        "the odor kinds",
        "return document.querySelector('[data-path=\"odor_kind\"]').hidden === false",
    );
    driver.click("input[name='answers.odor_kind'][value='腐臭'] + span");
    driver.click("input[name='answers.overflow'][value='true'] + span");

    // Submitting now names what is missing and scrolls to the first.
    driver.click("#submit");
    driver.wait_text("必填未填写");
    let missing = driver
        .script("return [...document.querySelectorAll('.missing')].map((e) => e.dataset.path)");
    assert_eq!(
        missing,
        json!(["overflow", "sign"]),
        "the photo and note of the overflow, and the signature"
    );

    // The overflow's own photo and note.
    let photo = std::fs::canonicalize(format!(
        "{}/../shared/fixtures/photos/canon_sx530_IMG_1054.jpg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .display()
    .to_string();
    driver.type_into("input[data-camera='overflow']", &photo);
    wait_until(
        &driver,
        "the overflow's photo",
        "return document.querySelectorAll('[data-photos=\"overflow\"] figure').length === 1",
    );
    driver.type_into("textarea[name='item_notes.overflow']", "井盖破裂,污水外溢");
    driver.script("document.activeElement.blur()");

    // Two pipes, one failing.
    driver.click(".add-row");
    wait_until(
        &driver,
        "one row",
        "return document.querySelectorAll('.row-card').length === 1",
    );
    driver.click(".add-row");
    wait_until(
        &driver,
        "two rows",
        "return document.querySelectorAll('.row-card').length === 2",
    );
    driver.type_into(".row-card:nth-child(1) input[type='number']", "300");
    driver.script("document.activeElement.blur()");
    driver.type_into(".row-card:nth-child(2) input[type='number']", "1000");
    driver.script("document.activeElement.blur()");
    wait_until(
        &driver,
        "the wide pipe failed",
        "return document.querySelectorAll('.row-card fieldset.failed').length === 1",
    );

    // A signature drawn with a finger.
    driver.script(
        "const c = document.querySelector('canvas.pad'); c.scrollIntoView(); const r = c.getBoundingClientRect();
         const at = (x, y, type) => c.dispatchEvent(new PointerEvent(type, {clientX: r.left + x, clientY: r.top + y, pointerId: 1, bubbles: true}));
         at(20, 40, 'pointerdown'); for (let i = 1; i < 30; i++) at(20 + i * 8, 40 + (i % 5) * 10, 'pointermove'); at(260, 60, 'pointerup');",
    );
    driver.click(".signature .buttons button:nth-child(2)");
    wait_until(
        &driver,
        "the signature saved",
        "return !!document.querySelector('img.signed') || document.body.innerText.includes('已签名')",
    );
    driver.screenshot("app-checklist-logic.png");
    driver.assert_chinese("a checklist with logic");
    driver.click("#submit");
    driver.wait_text("已提交");

    // Signal again: it all reaches the server.
    driver.offline(false);
    driver.wait_text("已全部上传");
    let coord = app.login("zhoumin", PASSWORD);
    let listed = app
        .get(&format!("/api/v1/inspections?route_id={route_id}"), &coord)
        .ok(200);
    let rec = listed["items"][0].clone();
    let rid = rec["id"].as_str().unwrap().to_string();
    assert_eq!(rec["review_status"], "submitted");
    assert_eq!(
        rec["checks"]["missing_required"],
        json!([]),
        "{}",
        rec["checks"]
    );
    let failed = rec["checks"]["failed"].as_array().unwrap().clone();
    assert!(
        failed.contains(&json!("color")) && failed.contains(&json!("overflow")),
        "{failed:?}"
    );
    assert_eq!(
        failed.len(),
        4,
        "color, odor, overflow and the wide pipe: {failed:?}"
    );
    let kinds: Vec<(String, String)> = rec["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["item_key"].as_str().unwrap_or_default().to_string(),
                p["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("overflow".into(), "photo".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("sign".into(), "signature".into())),
        "{kinds:?}"
    );
    assert_eq!(rec["fields"]["item_notes.overflow"], "井盖破裂,污水外溢");

    // The coordinator, on a phone too: failed items first, then sections.
    driver.go(&format!("{site}/review/login"));
    driver.type_into("#username", "zhoumin");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    driver.wait_text("桃花河1号排口");
    driver.go(&format!("{site}/review/inspections/{rid}"));
    driver.wait_text("不合格项");
    let text = driver.script("return document.body.innerText");
    let text = text.as_str().unwrap_or_default();
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("no {s} in {text}"));
    assert!(at("不合格项") < at("水流情况"), "failed items come first");
    assert!(text.contains("井盖破裂,污水外溢"));
    assert!(text.contains("通过时将创建的整改跟踪"));
    driver.screenshot("review-checklist-logic.png");
    driver.assert_chinese("the review of a checklist with logic");
}

#[test]
fn a_member_files_an_urgent_quick_report_offline_and_it_reaches_the_queue() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    let app = TestApp::spawn();
    let d = District::new(&app);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    // No signal by the river: one tap, a photo, and the report is saved.
    member_offline_by_the_river(&driver, &site);
    let photo = std::fs::canonicalize(format!(
        "{}/../shared/fixtures/photos/xiaomi_IMG_20191224_234846.jpg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .display()
    .to_string();
    driver.type_into("#quick-camera", &photo);
    driver.wait_text("已定位");
    wait_until(
        &driver,
        "the photo",
        "return document.querySelectorAll('#photos figure').length === 1",
    );
    driver.script("const t = document.getElementById('title'); t.value = '桃花河排口黑水直排'; t.dispatchEvent(new Event('change'));");
    driver.click("input[name='category'][value='water'] + span");
    driver.click("#urgent");
    driver.type_into("#notes", "下水道破损,污水流入河道");
    driver.script("document.activeElement.blur()");
    driver.screenshot("app-quick-report.png");
    driver.assert_chinese("the quick report");
    driver.click("#submit");
    driver.wait_text("我的随手拍");
    driver.wait_text("【紧急】桃花河排口黑水直排");

    // Signal again: it syncs, and the coordinator finds it urgent, with
    // its photo, the nearest site found for it.
    driver.offline(false);
    driver.wait_text("已全部上传");
    let coord = app.login("zhoumin", PASSWORD);
    let listed = app
        .get("/api/v1/inspections?kind=report&urgency=urgent", &coord)
        .ok(200);
    let rec = &listed["items"][0];
    assert_eq!(rec["fields"]["title"], "桃花河排口黑水直排", "{listed}");
    assert_eq!(rec["fields"]["category"], "water");
    assert_eq!(rec["review_status"], "submitted");
    assert_eq!(rec["photos"].as_array().unwrap().len(), 1);
    assert_eq!(rec["checks"]["nearest_site"]["site_id"], d.site_a.as_str());
    let web = crate::webui::Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get("/review", &s);
    let urgent = page
        .body
        .split("id=\"urgent-list\"")
        .nth(1)
        .unwrap_or_default();
    assert!(urgent.contains("桃花河排口黑水直排"), "{}", page.body);
}

#[test]
fn the_review_queue_shows_an_urgent_report_without_a_reload_and_the_relay_on_its_page() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::spawn();
    let r = crate::responses::relay(&app);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    driver.go(&format!("{site}/review/login"));
    driver.type_into("#username", "zhoumin");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    driver.wait_text("暂无待审核的紧急随手拍");
    // The page is open; a member's urgent report arrives meanwhile.
    let id = uuid();
    app.push(
        &r.li,
        &uuid(),
        vec![crate::reports_quick::quick_report(
            &id,
            "桃花河排口黑水直排",
            "urgent",
            T0,
        )],
        vec![],
    )
    .ok(200);
    driver.wait_text("桃花河排口黑水直排");
    let top =
        driver.script("return document.querySelector('#urgent-list li a').getAttribute('href')");
    assert_eq!(top, json!(format!("/review/inspections/{id}")));
    assert_eq!(
        driver.script("return performance.getEntriesByType('navigation').length"),
        json!(1),
        "no reload"
    );
    driver.screenshot("review-live-urgent.png");
    driver.assert_chinese("the live queue");

    // The relay on the record's page: handed to a bureau, answered.
    let f = id_of(app.post(
        &format!("/api/v1/inspections/{id}/followups"),
        &r.coord,
        &json!({"title": "排查污水来源", "department_id": r.env}),
    ));
    app.post(
        &format!("/api/v1/followups/{f}/responses"),
        &r.env_member,
        &json!({"note": "已取样送检", "status": "in_progress"}),
    )
    .ok(201);
    driver.click("#urgent-list li a");
    driver.wait_text("处置经过");
    driver.wait_text("已取样送检");
    let steps = driver.script("return document.querySelectorAll('ol.relay li').length");
    assert_eq!(
        steps,
        json!(4),
        "captured, received, dispatched, response: {steps}"
    );
    driver.screenshot("review-relay.png");
    driver.assert_chinese("the relay");
}

fn id_of(r: Resp) -> String {
    id(r.ok(201))
}

#[test]
fn a_department_member_answers_from_the_phone_page_with_a_photo() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    let app = TestApp::spawn();
    let r = crate::responses::relay(&app);
    let (_, _, fid) = crate::responses::dispatched(&app, &r, &r.housing);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    // A link from the group chat: to the login, then back to the page.
    driver.go(&format!("{site}/dept/followups/{fid}"));
    driver.wait_text("登录");
    driver.type_into("#username", "zhanggong");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    driver.wait_text("待办");
    driver.wait_text("排查污水来源");
    driver.click("ul.tasks li a");
    driver.wait_text("回复处理情况");
    driver.type_into("textarea[name='note']", "已更换破损管道,恢复通水");
    driver.click("input[name='status'][value='resolved']");
    let photo = std::fs::canonicalize(format!(
        "{}/../shared/fixtures/photos/canon_sx530_IMG_1054.jpg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .display()
    .to_string();
    driver.type_into("input[name='photos']", &photo);
    driver.screenshot("dept-answer.png");
    driver.assert_chinese("the department's page");
    driver.click("#answer");
    driver.wait_text("已提交，协调员会收到您的回复");
    // And signs out from the same page.
    driver.click("header form button");
    driver.wait_text("登录");
    let f = app
        .get(&format!("/api/v1/followups/{fid}"), &r.coord)
        .ok(200);
    assert_eq!(f["status"], "resolved");
    assert_eq!(f["responses"][0]["note"], "已更换破损管道,恢复通水");
    assert_eq!(f["responses"][0]["media"].as_array().unwrap().len(), 1);
}

/// A member films on the way with no signal: the video waits in the
/// outbox with its picture, goes up when the signal comes, and the
/// coordinator plays it on the record's page, from `display` once ffmpeg
/// made it, and from the original on a server without ffmpeg.
#[test]
fn a_video_filmed_offline_goes_up_and_plays_on_the_review_page() {
    let Some(driver) = Driver::start_sized("412,915") else {
        return;
    };
    if crate::videos::ffmpeg().is_none() {
        return;
    }
    let app = TestApp::spawn();
    let _d = District::new(&app);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    member_offline_by_the_river(&driver, &site);
    let fixture = |p: &str| {
        std::fs::canonicalize(format!("{}/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .display()
            .to_string()
    };
    driver.type_into(
        "#quick-camera",
        &fixture("../shared/fixtures/photos/canon_sx530_IMG_1054.jpg"),
    );
    driver.wait_text("已定位");
    driver.type_into(
        "#video-camera",
        &fixture("tests/fixtures/video/h264_rot90_location.mp4"),
    );
    wait_until(
        &driver,
        "the video in the outbox",
        "return document.querySelectorAll('#photos figure[data-kind=video] video').length === 1",
    );
    driver.wait_text("视频 · 待上传");
    driver.script("const t = document.getElementById('title'); t.value = '下水道破损视频'; t.dispatchEvent(new Event('change'));");
    driver.screenshot("app-video-outbox.png");
    driver.assert_chinese("a report with a video");
    driver.click("#submit");
    driver.wait_text("我的随手拍");
    driver.offline(false);
    driver.wait_text("已全部上传");

    let coord = app.login("zhoumin", PASSWORD);
    let listed = app.get("/api/v1/inspections?kind=report", &coord).ok(200);
    let rec = listed["items"][0].clone();
    let id = rec["id"].as_str().unwrap().to_string();
    let vid = rec["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "video")
        .unwrap_or_else(|| panic!("{rec}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.pulled_photos(&coord)[&vid]["status"] != "ready" {
        assert!(Instant::now() < deadline, "the video's variants");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The coordinator plays it.
    driver.go(&format!("{site}/review/login"));
    driver.type_into("#username", "zhoumin");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    // Signed in (the session cookie set) before going on: cookies do not
    // tell ports apart, and a page asked for too early meets the login.
    wait_until(
        &driver,
        "the signed-in queue",
        "return !location.pathname.endsWith('/login') && document.readyState === 'complete'",
    );
    driver.go(&format!("{site}/review/inspections/{id}"));
    let played = wait_until(&driver, "the video plays from display", PLAY_VIDEO);
    assert!(
        played.as_str().unwrap_or_default().contains("/display?"),
        "{played}"
    );
    driver.screenshot("review-video.png");

    // A server without ffmpeg plays the original.
    let app2 = TestApp::spawn_with(|c| c.ffmpeg = Some("/nonexistent/ffmpeg".into()));
    let d2 = District::new(&app2);
    let li = app2.login("liming", PASSWORD);
    let bytes = crate::videos::video_fixture("h264_rot90_location.mp4");
    let (id2, photo2) = (uuid(), uuid());
    let mut meta = photo_meta(&photo2, &id2, &bytes, "video/mp4");
    meta["kind"] = json!("video");
    let batch = json!({"device_id": uuid(), "batch_id": uuid(),
        "inspections": [new_inspection(&id2, &d2, json!({"title": "无转码", "status": "submitted"}), T0)],
        "photos": [meta]});
    app2.push_multipart(&li, &batch, &[(photo2.as_str(), &bytes)])
        .ok(200);
    let port2 = app2.base.rsplit(':').next().unwrap().to_string();
    let site2 = format!("http://localhost:{port2}");
    driver.go(&format!("{site2}/review/login"));
    driver.type_into("#username", "zhoumin");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    // Signed in (the session cookie set) before going on: cookies do not
    // tell ports apart, and a page asked for too early meets the login.
    wait_until(
        &driver,
        "the signed-in queue",
        "return !location.pathname.endsWith('/login') && document.readyState === 'complete'",
    );
    driver.go(&format!("{site2}/review/inspections/{id2}"));
    let played = wait_until(&driver, "the video plays from the original", PLAY_VIDEO);
    assert!(
        played.as_str().unwrap_or_default().contains("/original?"),
        "{played}"
    );
}

/// liming signs in to the field app at `site`, allows its position (by the
/// river at site A), and loses the signal on the home screen. (The home
/// screen is drawn again when the sync settles and when the signal goes:
/// a camera's input is taken after that.)
fn member_offline_by_the_river(driver: &Driver, site: &str) {
    driver.go(&format!("{site}/app/"));
    driver.wait_text("巡查员登录");
    driver.type_into("#username", "liming");
    driver.type_into("#password", PASSWORD);
    driver.click("#login");
    driver.wait_text("随手拍");
    wait_until(
        driver,
        "the service worker",
        "return !!navigator.serviceWorker.controller",
    );
    driver.cdp(
        "Browser.grantPermissions",
        json!({"origin": site, "permissions": ["geolocation"]}),
    );
    driver.cdp(
        "Emulation.setGeolocationOverride",
        json!({"latitude": 29.8575, "longitude": 107.0815, "accuracy": 8}),
    );
    driver.wait_text("上次同步");
    driver.offline(true);
    driver.wait_text("离线");
    std::thread::sleep(Duration::from_millis(500));
}

/// The dashboard and a site's file (issue 25) at a phone's width (412 px)
/// and a desk's (1366 px): nothing wider than the screen, the charts'
/// words at a readable size, every word Chinese; screenshots saved.
#[test]
fn the_dashboard_and_a_sites_file_read_on_a_phone_and_a_desk() {
    let app = TestApp::spawn();
    let r = crate::responses::relay(&app);
    let t = crate::summary::failing_template(&app);
    // A record with a photo handed to a bureau, which answers with one;
    // failing inspections and quick reports at the site.
    crate::site_history::repaired(&app, &r);
    let mut items = Vec::new();
    for colour in ["发黑", "清澈", "发黑", "清澈", "清澈"] {
        items.push(crate::summary::inspection(
            &uuid(),
            &r.d.site_a,
            &t,
            json!({"color": colour}),
        ));
    }
    crate::summary::push(&app, &r.li, items);
    crate::summary::push(
        &app,
        &r.li,
        vec![
            crate::reports_quick::quick_report(&uuid(), "排口旁黑水", "urgent", T0),
            crate::reports_quick::quick_report(&uuid(), "河面漂浮物", "normal", T0),
        ],
    );
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let site = format!("http://localhost:{port}");
    for (size, width) in [("412,2600", 412), ("1366,1800", 1366)] {
        let Some(driver) = Driver::start_sized(size) else {
            return;
        };
        driver.go(&format!("{site}/review/login"));
        driver.type_into("#username", "zhoumin");
        driver.type_into("#password", PASSWORD);
        driver.click("#login");
        driver.wait_text("巡查记录");
        for (path, name, text) in [
            ("/review/dashboard".to_string(), "dashboard", "每周记录"),
            (
                format!("/review/sites/{}", r.d.site_a),
                "site-file",
                "整改前",
            ),
        ] {
            driver.go(&format!("{site}{path}"));
            driver.wait_text(text);
            let fit =
                driver.script("return [document.documentElement.scrollWidth, window.innerWidth]");
            assert!(
                fit[0].as_i64() <= fit[1].as_i64(),
                "{name} at {width} px is wider than the screen: {fit}"
            );
            if name == "dashboard" {
                // Chart words at least 10 px high on a phone.
                let h = driver.script(
                    "return Math.min(...[...document.querySelectorAll('svg.chart text')].map((t) => t.getBoundingClientRect().height).filter((h) => h > 0))",
                );
                assert!(
                    h.as_f64().unwrap_or(0.0) >= 10.0,
                    "chart text {h} px at {width}"
                );
                let charts = driver.script("return document.querySelectorAll('svg.chart').length");
                assert!(charts.as_i64().unwrap_or(0) >= 5, "{charts}");
            } else {
                // The before/after photos load.
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    let ok = driver.script(
                        "const i = [...document.querySelectorAll('.before-after img')]; return i.length >= 2 && i.every((x) => x.complete && x.naturalWidth > 0)",
                    );
                    if ok == json!(true) {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "before/after photos did not load"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            driver.assert_chinese(name);
            driver.screenshot(&format!("{name}-{width}.png"));
        }
    }
}
