//! A real server on a real SQLite file in a temporary directory (or, with
//! `FIELDSYNC_TEST_DATABASE_URL`, a database of its own on that PostgreSQL
//! server), bound to a free port, driven over HTTP.

use fieldsync::config::Config;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-0123456789";
pub const PASSWORD: &str = "inspector-pass-1";

pub struct TestApp {
    pub base: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<JoinHandle<()>>,
    agent: ureq::Agent,
    pub admin: String,
    pub config: Config,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The contract's error code, asserting the error shape on the way.
    pub fn code(&self) -> &str {
        let e = &self.body["error"];
        assert!(
            e.is_object(),
            "not a JSON error: {} {}",
            self.status,
            self.text
        );
        assert!(
            e["message"].is_string(),
            "error without message: {}",
            self.text
        );
        assert!(
            e["details"].is_object(),
            "error without details: {}",
            self.text
        );
        e["code"].as_str().unwrap_or_default()
    }

    #[track_caller]
    pub fn ok(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self.body
    }
}

/// The PostgreSQL server the suite runs on, if any: a URL of any database
/// on it whose user may create databases.
fn test_postgres() -> Option<String> {
    std::env::var("FIELDSYNC_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// With `FIELDSYNC_TEST_DATABASE_URL`, the URL of a database of the test's
/// own on that server, named after its data directory (so a server and the
/// CLI on one directory share it) and made on first use. Without: None,
/// the SQLite file in the data directory.
pub fn test_database(dir: &Path) -> Option<String> {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let server = test_postgres()?;
    let name = format!("fs_{}", dir_key(dir));
    let (base, _) = server.rsplit_once('/').expect("a database URL");
    let mut admin = diesel::PgConnection::establish(&server).expect("the test PostgreSQL");
    // Two processes of one test may race to make it: the loser's "already
    // exists" is as good.
    let _ = admin.batch_execute(&format!("CREATE DATABASE {name}"));
    Some(format!("{base}/{name}"))
}

/// A test's own name on a shared server, from its data directory.
fn dir_key(dir: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(dir.to_string_lossy().as_bytes()))[..24].to_string()
}

pub fn on_postgres() -> bool {
    test_postgres().is_some()
}

/// With `FIELDSYNC_TEST_BLOB_URL` (`s3://<bucket>`, its server at
/// `FIELDSYNC_S3_ENDPOINT`, keys in `AWS_*`), every test server keeps its
/// blobs under a prefix of its own in that bucket, named after its data
/// directory. Without: files under the data directory.
pub fn test_blob_url(dir: &Path) -> Option<String> {
    let base = std::env::var("FIELDSYNC_TEST_BLOB_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    Some(format!("{}/t-{}", base.trim_end_matches('/'), dir_key(dir)))
}

pub fn on_object_store() -> bool {
    test_blob_url(Path::new("/")).is_some()
}

/// The tests that need PostgreSQL (or an object store too) are marked
/// `#[ignore]` with the reason, and `.ci/run`'s second pass, which has
/// both, runs them with `--include-ignored`. Run by hand without them they
/// fail and say why: they never pass unseen.
pub fn require_postgres(and_object_store: bool) {
    assert!(
        on_postgres(),
        "this test needs PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (.ci/run does)"
    );
    assert!(
        !and_object_store || on_object_store(),
        "this test needs an S3-compatible store: set FIELDSYNC_TEST_BLOB_URL (.ci/run does)"
    );
}

pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::for_data_dir(dir);
    c.database_url = test_database(dir);
    c.blob_url = test_blob_url(dir);
    c.s3_endpoint = std::env::var("FIELDSYNC_S3_ENDPOINT").ok();
    c.bind = "127.0.0.1:0".into();
    c.admin_password = Some(ADMIN_PASSWORD.into());
    c.jwt_secret = Some(JWT_SECRET.into());
    c.workers = Some(1);
    c.read_pool = 2;
    c
}

impl TestApp {
    pub fn spawn() -> TestApp {
        Self::spawn_with(|_| {})
    }

    /// A server that keeps its blobs in files whatever the suite's store:
    /// for the tests that break the local store on purpose (an object
    /// store's outage is not played), so they run in both passes.
    pub fn spawn_on_files(f: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with(|c| {
            c.blob_url = None;
            f(c)
        })
    }

    pub fn spawn_with(f: impl FnOnce(&mut Config)) -> TestApp {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(tmp.path());
        f(&mut config);
        let mut app = Self::start(config);
        app._tmp = Some(tmp);
        app
    }

    /// Serves an existing data directory (kept by the caller).
    pub fn start(config: Config) -> TestApp {
        let mut app = Self::start_signed_out(config);
        app.admin = app.login("admin", ADMIN_PASSWORD);
        app
    }

    /// [`Self::start`] without signing the admin in (a login is a write:
    /// for tests where another process holds the write lock).
    pub fn start_signed_out(config: Config) -> TestApp {
        let (tx, rx) = mpsc::channel();
        let cfg = config.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match fieldsync::start(cfg) {
                    Ok(started) => {
                        let _ = tx.send(Ok((started.server.handle(), started.addrs[0])));
                        let _ = started.server.await;
                        started.jobs.shutdown();
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("{e:#}")));
                    }
                }
            })
        });
        let (handle, addr) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server start timed out")
            .expect("server failed to start");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        TestApp {
            base: format!("http://{addr}"),
            dir: config.data_dir.clone(),
            _tmp: None,
            handle: Some(handle),
            thread: Some(thread),
            agent,
            admin: String::new(),
            config,
        }
    }

    /// Stops the server (gracefully) and starts a new one on the same data
    /// directory.
    pub fn restart(mut self) -> TestApp {
        self.stop();
        let tmp = self._tmp.take();
        let mut app = Self::start(self.config.clone());
        app._tmp = tmp;
        app
    }

    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            actix_web::rt::System::new().block_on(h.stop(true));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut r = r.expect("request failed");
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            text,
            headers,
        }
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        let mut req = self.agent.get(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        Self::finish(req.call())
    }

    pub fn delete(&self, path: &str, token: &str) -> Resp {
        let req = self
            .agent
            .delete(self.url(path))
            .header("Authorization", format!("Bearer {token}"));
        Self::finish(req.call())
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        let mut req = self.agent.post(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        Self::finish(req.send_json(body))
    }

    pub fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        let req = self
            .agent
            .patch(self.url(path))
            .header("Authorization", format!("Bearer {token}"));
        Self::finish(req.send_json(body))
    }

    /// Sends raw bytes with any content type and method.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: &[u8],
    ) -> Resp {
        self.raw_with(method, path, token, content_type, &[], body)
    }

    /// [`Self::raw`] with more headers.
    pub fn raw_with(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let url = self.url(path);
        let req = match method {
            "POST" => self.agent.post(url),
            "PUT" => self.agent.put(url),
            "PATCH" => self.agent.patch(url),
            other => panic!("raw: {other}"),
        };
        let mut req = req.header("Content-Type", content_type);
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::finish(req.send(body))
    }

    pub fn login_full(&self, username: &str, password: &str) -> Value {
        self.post(
            "/api/v1/auth/login",
            "",
            &json!({ "username": username, "password": password }),
        )
        .ok(200)
    }

    /// Logs in and returns the access token.
    pub fn login(&self, username: &str, password: &str) -> String {
        self.login_full(username, password)["access_token"]
            .as_str()
            .expect("access token")
            .to_string()
    }

    // Builders for reference data, as the admin.

    pub fn group(&self, name: &str) -> String {
        id(self
            .post(
                "/api/v1/groups",
                &self.admin,
                &json!({ "name": name, "towns": ["凤城街道"] }),
            )
            .ok(201))
    }

    pub fn user(&self, username: &str, role: &str, group: Option<&str>) -> String {
        id(self
            .post(
                "/api/v1/users",
                &self.admin,
                &json!({ "username": username, "role": role, "group_id": group, "password": PASSWORD }),
            )
            .ok(201))
    }

    pub fn site(&self, group: &str, name: &str) -> String {
        id(self
            .post(
                "/api/v1/sites",
                &self.admin,
                &json!({ "group_id": group, "name": name, "kind": "outfall", "address": "渡舟大桥",
                         "lat": 29.857, "lon": 107.081, "radius_m": 80.0 }),
            )
            .ok(201))
    }

    pub fn template(&self, group: Option<&str>) -> String {
        id(self
            .post(
                "/api/v1/templates",
                &self.admin,
                &json!({ "name": "水环境巡查", "group_id": group, "items": [
                    {"key": "outfall_flowing", "label": "排口是否有水流出", "kind": "yes_no", "required": true},
                    {"key": "water_color", "label": "水体颜色", "kind": "choice", "required": true, "options": ["清澈", "浑浊", "发黑"]},
                    {"key": "score", "label": "评分", "kind": "score"}
                ]}),
            )
            .ok(201))
    }

    pub fn route(&self, group: &str, assignee: Option<&str>, stops: &[(&str, &str)]) -> Value {
        let stops: Vec<Value> = stops
            .iter()
            .map(|(s, t)| json!({ "site_id": s, "template_id": t }))
            .collect();
        self.post(
            "/api/v1/routes",
            &self.admin,
            &json!({ "group_id": group, "name": "桃花河巡查", "assignee_id": assignee,
                     "scheduled_for": district_today(), "stops": stops }),
        )
        .ok(201)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn id(v: Value) -> String {
    v["id"].as_str().expect("id in answer").to_string()
}

/// A district of two groups, A and B, with an inspector, a coordinator,
/// a site and a route in each, and one district-wide checklist.
#[derive(Clone)]
pub struct District {
    pub group_a: String,
    pub group_b: String,
    pub inspector_a: String,
    pub inspector_a2: String,
    pub inspector_b: String,
    pub coordinator_a: String,
    pub site_a: String,
    pub site_b: String,
    pub template: String,
    pub route_a: String,
    pub route_b: String,
    /// Group A's route assigned to inspector_a2 only.
    pub route_a2: String,
}

impl District {
    pub fn new(app: &TestApp) -> District {
        let group_a = app.group("渡舟联络组");
        let group_b = app.group("云集联络组");
        let inspector_a = app.user("liming", "inspector", Some(&group_a));
        let inspector_a2 = app.user("wangfang", "inspector", Some(&group_a));
        let inspector_b = app.user("chengang", "inspector", Some(&group_b));
        let coordinator_a = app.user("zhoumin", "coordinator", Some(&group_a));
        let site_a = app.site(&group_a, "桃花河1号排口");
        let site_b = app.site(&group_b, "云台山护林点");
        let template = app.template(None);
        let route_a = id(app.route(&group_a, None, &[(&site_a, &template)]));
        let route_b = id(app.route(&group_b, None, &[(&site_b, &template)]));
        let route_a2 = id(app.route(&group_a, Some(&inspector_a2), &[(&site_a, &template)]));
        District {
            group_a,
            group_b,
            inspector_a,
            inspector_a2,
            inspector_b,
            coordinator_a,
            site_a,
            site_b,
            template,
            route_a,
            route_b,
            route_a2,
        }
    }
}

/// Today in the district's time zone (+08:00), as the server and the
/// field app count days: routes planned for it are "today's".
pub fn district_today() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .date_naive()
        .to_string()
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub const T0: &str = "2026-11-20T02:13:00Z";

/// A new inspection item for a push: every field changed at `at`.
pub fn new_inspection(id: &str, d: &District, fields: Value, at: &str) -> Value {
    let changed: serde_json::Map<String, Value> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!(at)))
        .collect();
    json!({ "id": id, "base_version": 0, "site_id": d.site_a, "template_id": d.template,
            "fields": fields, "changed_at": changed })
}

/// An edit of an existing inspection.
pub fn edit(id: &str, base: i64, fields: Value, at: &str) -> Value {
    let changed: serde_json::Map<String, Value> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!(at)))
        .collect();
    json!({ "id": id, "base_version": base, "fields": fields, "changed_at": changed })
}

impl TestApp {
    pub fn push(
        &self,
        token: &str,
        device: &str,
        inspections: Vec<Value>,
        photos: Vec<Value>,
    ) -> Resp {
        self.push_batch(token, device, &uuid(), inspections, photos)
    }

    pub fn push_batch(
        &self,
        token: &str,
        device: &str,
        batch: &str,
        inspections: Vec<Value>,
        photos: Vec<Value>,
    ) -> Resp {
        self.post(
            "/api/v1/sync/push",
            token,
            &json!({ "device_id": device, "batch_id": batch, "inspections": inspections, "photos": photos }),
        )
    }

    /// Pulls from `cursor` until `has_more` is false; returns every page.
    pub fn pull_all(&self, token: &str, cursor: Option<&str>) -> (Vec<Value>, String) {
        self.pull_pages(token, cursor, 500)
    }

    /// [`Self::pull_all`] in pages of at most `limit` objects.
    pub fn pull_pages(
        &self,
        token: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> (Vec<Value>, String) {
        let mut pages = Vec::new();
        let mut cursor = cursor.map(str::to_string);
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/sync/pull?limit={limit}&cursor={c}"),
                None => format!("/api/v1/sync/pull?limit={limit}"),
            };
            let page = self.get(&path, token).ok(200);
            cursor = Some(page["cursor"].as_str().unwrap().to_string());
            let more = page["has_more"].as_bool().unwrap();
            pages.push(page);
            if !more {
                break;
            }
        }
        (pages, cursor.unwrap_or_default())
    }

    /// Runs SQL on the server's database, for states the API cannot make
    /// (years of records, a record changed behind the API's back).
    pub fn sql(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        match self.db() {
            fieldsync::db::DbConn::Sqlite(mut c) => c
                .batch_execute(&format!("PRAGMA busy_timeout = 5000; {sql}"))
                .unwrap(),
            c => {
                let mut c = c;
                c.batch_execute(sql).unwrap()
            }
        }
    }

    /// The keys under `prefix` in the server's blob store (an object
    /// store: through a store of the test's own on the same bucket).
    pub fn blobs(&self, prefix: &str) -> Vec<String> {
        match &self.config.blob_url {
            Some(url) if url.starts_with("s3://") => {
                let mut cfg = self.config.clone();
                // Its own staging directory: a store clears its own at start.
                cfg.data_dir = self.dir.join("test-staging");
                fieldsync::photos::store_for(&cfg)
                    .unwrap()
                    .list_dir(prefix)
                    .unwrap()
            }
            _ => {
                let root = self.dir.join("blobs");
                let mut out = Vec::new();
                let mut dirs = vec![root.join(prefix)];
                while let Some(d) = dirs.pop() {
                    for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                        if e.path().is_dir() {
                            dirs.push(e.path());
                        } else {
                            let rel = e.path().strip_prefix(&root).unwrap().to_path_buf();
                            out.push(rel.to_string_lossy().into_owned());
                        }
                    }
                }
                out
            }
        }
    }

    /// The id of a route's first stop.
    pub fn first_stop(&self, route: &str) -> String {
        let r = self
            .get(&format!("/api/v1/routes/{route}"), &self.admin)
            .ok(200);
        r["stops"][0]["id"].as_str().unwrap().to_string()
    }

    /// Where the server stages bytes on their way into its blob store.
    /// Stores bytes under `key` in the server's blob store, behind its back
    /// (a part a dead server left).
    pub fn put_blob(&self, key: &str, bytes: &[u8]) {
        match &self.config.blob_url {
            Some(url) if url.starts_with("s3://") => {
                let mut cfg = self.config.clone();
                cfg.data_dir = self.dir.join("test-staging");
                fieldsync::photos::store_for(&cfg)
                    .unwrap()
                    .put_bytes(key, bytes)
                    .unwrap();
            }
            // Not through a store of our own: opening one clears the
            // server's staging directory.
            _ => {
                let path = self.dir.join("blobs").join(key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
        }
    }

    pub fn staging_dir(&self) -> PathBuf {
        if self.config.blob_url.is_some() {
            self.dir.join("staging")
        } else {
            self.dir.join("blobs/tmp")
        }
    }

    /// A connection of the test's own to the server's database.
    pub fn db(&self) -> fieldsync::db::DbConn {
        use diesel::Connection;
        match self.config.database() {
            fieldsync::db::Target::Sqlite(p) => fieldsync::db::DbConn::Sqlite(
                diesel::SqliteConnection::establish(p.to_str().unwrap()).unwrap(),
            ),
            fieldsync::db::Target::Postgres(u) => {
                fieldsync::db::DbConn::Pg(diesel::PgConnection::establish(&u).unwrap())
            }
        }
    }
}

/// The ids of one kind of object over a series of pull pages.
pub fn pulled(pages: &[Value], section: &str, kind: &str) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p[section][kind].as_array().cloned().unwrap_or_default())
        .map(|v| match v {
            Value::String(s) => s,
            v => v["id"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// The `fieldsync` binary with a clean environment on `dir`.
pub fn fieldsync_cmd(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_fieldsync"));
    c.env_clear()
        .env("FIELDSYNC_DATA_DIR", dir)
        .env("FIELDSYNC_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("FIELDSYNC_JWT_SECRET", JWT_SECRET)
        .env("FIELDSYNC_LOG", "warn");
    if let Some(url) = test_database(dir) {
        c.env("FIELDSYNC_DATABASE_URL", url);
    }
    if let Some(url) = test_blob_url(dir) {
        c.env("FIELDSYNC_BLOB_URL", url);
        for (k, v) in std::env::vars() {
            if k.starts_with("AWS_") || k == "FIELDSYNC_S3_ENDPOINT" {
                c.env(k, v);
            }
        }
    }
    c
}

/// `fieldsync serve` as a separate process on a free port; returns the
/// process and its base URL once it listens.
pub fn spawn_serve(dir: &Path) -> (std::process::Child, String) {
    let (child, base, _) = spawn_serve_with(dir, &[]);
    (child, base)
}

/// [`spawn_serve`] with extra environment; also returns the lines the
/// server writes to stderr, as they come.
pub fn spawn_serve_with(
    dir: &Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String, mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut cmd = fieldsync_cmd(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .env("FIELDSYNC_BIND", "127.0.0.1:0")
        .env("FIELDSYNC_WORKERS", "1")
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn fieldsync serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve exited early")
            .expect("read stdout");
        if let Some(a) = line.strip_prefix("fieldsync listening on ") {
            break a.to_string();
        }
    };
    // Keep draining both pipes so the server never blocks on a full one.
    std::thread::spawn(move || for _ in lines {});
    let (tx, rx) = mpsc::channel();
    let err = BufReader::new(child.stderr.take().expect("stderr"));
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, addr, rx)
}

/// A process's peak resident memory so far, in KiB (Linux's `VmHWM`).
pub fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../shared/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A `multipart/form-data` body: the batch, then `photo:<id>` parts.
pub fn multipart(batch: &Value, photos: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    multipart_named("batch", batch, photos)
}

/// A `multipart/form-data` body: the JSON in part `name`, then
/// `photo:<id>` parts.
pub fn multipart_named(name: &str, batch: &Value, photos: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("fieldsync-{}", uuid());
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nContent-Type: application/json\r\n\r\n").as_bytes());
    body.extend_from_slice(batch.to_string().as_bytes());
    body.extend_from_slice(b"\r\n");
    for (id, bytes) in photos {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo:{id}\"; filename=\"{id}.jpg\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Photo metadata for a push.
pub fn photo_meta(id: &str, inspection: &str, bytes: &[u8], content_type: &str) -> Value {
    json!({"id": id, "inspection_id": inspection, "sha256": sha256_hex(bytes), "bytes": bytes.len(),
           "content_type": content_type, "caption": "排口", "taken_at": "2026-11-20T02:14:30Z"})
}

impl TestApp {
    /// A multipart push of one batch with photo bytes.
    /// A new inspection at site A (inspected 2019-12-24, 15:00 to 16:30
    /// UTC, when the fixtures' phone took its photo) with one photo,
    /// pushed as multipart: `(inspection id, photo id, answer)`.
    pub fn push_with_photo(
        &self,
        d: &District,
        token: &str,
        bytes: &[u8],
        ct: &str,
    ) -> (String, String, Value) {
        let (id, photo) = (uuid(), uuid());
        let batch = json!({"device_id": uuid(), "batch_id": uuid(),
            "inspections": [new_inspection(&id, d, json!({"title": "桃花河排口", "started_at": "2019-12-24T15:00:00Z", "finished_at": "2019-12-24T16:30:00Z"}), T0)],
            "photos": [photo_meta(&photo, &id, bytes, ct)]});
        let r = self
            .push_multipart(token, &batch, &[(photo.as_str(), bytes)])
            .ok(200);
        (id, photo, r)
    }

    pub fn push_multipart(&self, token: &str, batch: &Value, photos: &[(&str, &[u8])]) -> Resp {
        let (ct, body) = multipart(batch, photos);
        self.raw("POST", "/api/v1/sync/push", token, &ct, &body)
    }

    /// The photo objects a full pull gives `token`, by id.
    pub fn pulled_photos(&self, token: &str) -> std::collections::HashMap<String, Value> {
        let (pages, _) = self.pull_all(token, None);
        pages
            .iter()
            .flat_map(|p| {
                p["changes"]["photos"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|p| (p["id"].as_str().unwrap_or_default().to_string(), p))
            .collect()
    }

    /// Waits until a photo leaves `stored` (its job ran); returns it.
    pub fn wait_photo(&self, token: &str, id: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let p = self.pulled_photos(token).remove(id).expect("photo in pull");
            if p["status"] != "stored" && p["status"] != "missing" {
                return p;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "photo job did not finish: {p}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// GET of raw bytes (no JSON), with optional extra headers.
    pub fn get_bytes(
        &self,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut req = self.agent.get(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.call().expect("request");
        let status = r.status().as_u16();
        let hs = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = r
            .body_mut()
            .with_config()
            .limit(200 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        (status, hs, body)
    }
}

impl TestApp {
    /// Changes the photo worker count for the next `restart`.
    pub fn set_photo_workers(&mut self, n: Option<usize>) {
        self.config.photo_workers = n;
    }
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

impl TestApp {
    /// The first column `v` of a query on the server's database file.
    pub fn sql_text(&self, sql: &str) -> Option<String> {
        use diesel::RunQueryDsl;
        let mut c = self.db();
        diesel::sql_query(sql)
            .load::<TextRow>(&mut c)
            .unwrap()
            .into_iter()
            .next()
            .map(|r| r.v)
    }
}
