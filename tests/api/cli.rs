//! The binary's subcommands, run as processes.

use crate::helpers::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn fieldsync(dir: &std::path::Path) -> Command {
    let mut c = fieldsync_cmd(dir);
    c.env_remove("FIELDSYNC_JWT_SECRET");
    c
}

#[test]
fn demo_then_serve_gives_an_inspector_their_routes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fieldsync(tmp.path())
        .args(["demo", "--password", "demo-pass-1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("liming"), "{text}");

    // A second demo run refuses rather than doubling the district.
    let again = fieldsync(tmp.path())
        .args(["demo", "--password", "demo-pass-1"])
        .output()
        .unwrap();
    assert!(!again.status.success());

    let mut config = test_config(tmp.path());
    config.jwt_secret = None;
    let app = TestApp::start(config);
    let t = app.login("liming", "demo-pass-1");
    let routes = app.get("/api/v1/routes", &t).ok(200);
    let routes = routes["items"].as_array().unwrap();
    assert_eq!(routes.len(), 2, "their own route and the group's");
    assert!(
        routes
            .iter()
            .all(|r| !r["stops"].as_array().unwrap().is_empty())
    );
    let sites = app.get("/api/v1/sites", &t).ok(200);
    assert!(sites["items"].as_array().unwrap().len() >= 5);
    assert!(
        sites["items"][0]["name"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| c > '\u{4e00}')
    );
    let all = app.get("/api/v1/sites?limit=500", &app.admin).ok(200);
    assert!(all["items"].as_array().unwrap().len() >= 20);
    let templates = app.get("/api/v1/templates", &t).ok(200);
    assert_eq!(templates["items"].as_array().unwrap().len(), 3);
}

#[test]
fn user_create_migrate_and_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fieldsync(tmp.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Password from standard input.
    let mut child = fieldsync(tmp.path())
        .args([
            "user",
            "create",
            "--username",
            "ops",
            "--role",
            "coordinator",
            "--display-name",
            "值班员",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ops-password-1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A bad role is refused with a message.
    let out = fieldsync(tmp.path())
        .args([
            "user",
            "create",
            "--username",
            "x",
            "--role",
            "boss",
            "--password",
            "long-enough-1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());

    let backup = tmp.path().join("backup.db");
    let out = fieldsync(tmp.path())
        .arg("backup")
        .arg(&backup)
        .output()
        .unwrap();
    if on_postgres() {
        // A PostgreSQL database is backed up with its own tools: said so.
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    } else {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::metadata(&backup).unwrap().len() > 0);
    }

    let mut config = test_config(tmp.path());
    config.jwt_secret = None;
    let app = TestApp::start(config);
    let t = app.login("ops", "ops-password-1");
    let me = app.get("/api/v1/users/me", &t).ok(200);
    assert_eq!(me["display_name"], "值班员");
    assert_eq!(me["role"], "coordinator");
}

#[test]
fn serve_prints_its_address_and_stops_gracefully_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_serve(tmp.path());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent.get(format!("{addr}/healthz")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit after SIGTERM: {status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A PostgreSQL password is never printed, wherever the connection string
/// carries it, and a libpq key/value string is never taken for a SQLite
/// file name (nothing is created in the working directory).
#[test]
fn a_database_password_never_shows_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "postgres://fs:s3cret-a@127.0.0.1:1/fs",
        "postgres://fs@127.0.0.1:1/fs?password=s3cret-b&connect_timeout=2",
        "host=127.0.0.1 port=1 user=fs password=s3cret-c dbname=fs",
        "host=127.0.0.1 port=1 password = 's3cret d' dbname=fs",
    ] {
        let out = fieldsync_cmd(dir.path())
            .current_dir(dir.path())
            .env("FIELDSYNC_DATABASE_URL", url)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url}: no server listens on port 1");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("s3cret"), "{url}: {all}");
        assert!(
            all.contains("***") || all.contains("127.0.0.1"),
            "{url}: {all}"
        );
    }
    let strays: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("host="))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
}
