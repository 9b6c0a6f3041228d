//! The field app's client library (`src/webui/field/app/fieldsync-client.js`)
//! under `node --test`, against this real server: lost answers, 503 with
//! Retry-After, 413, a conflict from a second device, a cut photo upload
//! that resumes, token rotation, a refused edit, pull pages and reset.
//!
//! Needs Node 20 or later (`.ci/run` installs Debian's `nodejs` when it is
//! missing); without it the test says so and passes, unless
//! `FIELDSYNC_REQUIRE_NODE` is set (as `.ci/run` does).

use crate::helpers::*;

pub fn node() -> Option<std::path::PathBuf> {
    let out = std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout);
    let major: u32 = v
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()?;
    (out.status.success() && major >= 20).then(|| "node".into())
}

#[test]
fn the_reference_client_against_the_server() {
    let Some(node) = node() else {
        assert!(
            std::env::var_os("FIELDSYNC_REQUIRE_NODE").is_none(),
            "node 20 or later is required here"
        );
        eprintln!("JavaScript tests skipped: install Node 20 or later to run them");
        return;
    };
    // Two test files log the same people in many times, at once.
    let app = TestApp::spawn_with(|c| {
        c.login_burst_per_user = 200;
        c.login_burst_per_ip = 1000;
    });
    let d = District::new(&app);
    let stop = app.first_stop(&d.route_a);
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(node)
        .current_dir(root)
        .args(["--test", "--test-reporter=spec", "tests/js/"])
        .env("FIELDSYNC_URL", &app.base)
        .env("FIELDSYNC_SITE", &d.site_a)
        .env("FIELDSYNC_TEMPLATE", &d.template)
        .env("FIELDSYNC_ROUTE", &d.route_a)
        .env("FIELDSYNC_STOP", &stop)
        .env("FIELDSYNC_GROUP_B", &d.group_b)
        .env("FIELDSYNC_GROUP_A", &d.group_a)
        .env("FIELDSYNC_PASSWORD", PASSWORD)
        .env("FIELDSYNC_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env(
            "FIELDSYNC_FIXTURES",
            format!("{root}/../shared/fixtures/photos"),
        )
        .output()
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "node --test failed:\n{text}");
    assert!(
        text.contains("ℹ fail 0\n") && !text.contains("ℹ pass 0\n"),
        "{text}"
    );
}
