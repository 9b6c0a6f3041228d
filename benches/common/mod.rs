//! What the benchmarks share: the real server on a temporary data
//! directory, a small HTTP client, percentiles and memory readings.

#![allow(dead_code)]

use fieldsync::config::Config;
use serde_json::{Value, json};
use std::time::Duration;

pub struct Client {
    pub base: String,
    pub agent: ureq::Agent,
}

impl Client {
    pub fn send(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {token}");
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(url).header("Authorization", auth).call(),
            (_, Some(b)) => self
                .agent
                .post(url)
                .header("Authorization", auth)
                .send_json(b),
            _ => self
                .agent
                .post(url)
                .header("Authorization", auth)
                .send_empty(),
        };
        let mut resp = resp.expect("request");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("body");
        assert!(status < 300, "{method} {path}: {status} {text}");
        serde_json::from_str(&text).expect("json")
    }

    pub fn login(&self, user: &str, pw: &str) -> String {
        let v = self.send(
            "POST",
            "/api/v1/auth/login",
            "",
            Some(&json!({"username": user, "password": pw})),
        );
        v["access_token"].as_str().expect("token").to_string()
    }
}

/// A count from the environment, or `default`.
pub fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `BENCH_DATABASE_URL` (a PostgreSQL server's URL; its user may create
/// databases): the URL of a new, empty database there. Unset: None, and
/// the server runs on SQLite in its data directory.
pub fn bench_database() -> Option<String> {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let server = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = diesel::PgConnection::establish(&server).expect("BENCH_DATABASE_URL");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create the bench database");
    let (base, _) = server.rsplit_once('/').expect("a database URL");
    Some(format!("{base}/{name}"))
}

/// Which backend a bench runs on, for its first line.
pub fn backend(config: &Config) -> &'static str {
    if config.database().is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// Starts the server with 2 workers on a new temporary directory (and a
/// new database on `BENCH_DATABASE_URL` when set).
pub fn start_server(admin_password: &str) -> (tempfile::TempDir, Client) {
    start_server_with(admin_password, |_| {})
}

/// [`start_server`] with settings changed by `f`.
pub fn start_server_with(
    admin_password: &str,
    f: impl FnOnce(&mut Config),
) -> (tempfile::TempDir, Client) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_data_dir(tmp.path());
    config.bind = "127.0.0.1:0".into();
    config.admin_password = Some(admin_password.into());
    config.workers = Some(2);
    config.database_url = bench_database();
    f(&mut config);
    println!("backend: {}", backend(&config));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let started = fieldsync::start(config).expect("start");
            tx.send(started.addrs[0]).expect("send addr");
            let _ = started.server.await;
            started.jobs.shutdown();
        })
    });
    let addr = rx.recv().expect("server address");
    let cl = Client {
        base: format!("http://{addr}"),
        agent: ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(600)))
            .http_status_as_error(false)
            .build()
            .into(),
    };
    (tmp, cl)
}

/// A group, an inspector `liming`, a site and a checklist; returns
/// `(group, site, template, inspector token)`.
pub fn district(cl: &Client, password: &str) -> (String, String, String, String) {
    let admin = cl.login("admin", password);
    let g = cl.send(
        "POST",
        "/api/v1/groups",
        &admin,
        Some(&json!({"name": "渡舟联络组", "towns": ["渡舟街道"]})),
    );
    let gid = g["id"].as_str().expect("group id").to_string();
    cl.send("POST", "/api/v1/users", &admin, Some(&json!({"username": "liming", "role": "inspector", "group_id": gid, "password": password})));
    cl.send("POST", "/api/v1/users", &admin, Some(&json!({"username": "zhoumin", "role": "coordinator", "group_id": gid, "password": password})));
    let site = cl.send("POST", "/api/v1/sites", &admin, Some(&json!({"group_id": gid, "name": "桃花河1号排口", "kind": "outfall", "lat": 29.8571, "lon": 107.0812, "radius_m": 60.0})));
    let tpl = cl.send("POST", "/api/v1/templates", &admin, Some(&json!({"name": "水环境巡查", "items": [
        {"key": "outfall_flowing", "label": "排口是否有水流出", "kind": "yes_no", "required": true},
        {"key": "water_color", "label": "水体颜色", "kind": "choice", "options": ["清澈", "浑浊", "发黑"]},
        {"key": "score", "label": "评分", "kind": "score"}]})));
    let token = cl.login("liming", password);
    (
        gid,
        site["id"].as_str().expect("site id").to_string(),
        tpl["id"].as_str().expect("template id").to_string(),
        token,
    )
}
