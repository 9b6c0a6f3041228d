//! Admin console benchmark: each main page of `/admin`, signed in as an
//! admin over HTTP, on a district of 5,000 sites in 10 groups (imported as
//! one CSV) and 50,000 inspections (`CONSOLE_SITES`, `CONSOLE_INSPECTIONS`).
//! `cargo bench --bench console`.

use serde_json::{Value, json};
use std::time::Instant;

mod common;
use common::percentile;

const PASSWORD: &str = "bench-password-1";
const GROUPS: usize = 10;

/// Signs in on the web page; returns the session cookie.
fn web_login(cl: &common::Client) -> String {
    let mut r = cl
        .agent
        .get(format!("{}/review/login", cl.base))
        .call()
        .expect("login page");
    let pre = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("fieldsync_login_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("csrf cookie")
        .to_string();
    let body = r.body_mut().read_to_string().expect("page");
    let at = body.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    let csrf = body[at..].split('"').next().unwrap_or_default().to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let form = format!("username=admin&password={PASSWORD}&csrf={csrf}");
    let r = agent
        .post(format!("{}/review/login", cl.base))
        .header("Cookie", &pre)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form.as_bytes())
        .expect("login");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("fieldsync_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string()
}

fn main() {
    let env = common::env_usize;
    let n_sites = env("CONSOLE_SITES", 5_000);
    let n_insp = env("CONSOLE_INSPECTIONS", 50_000);
    let (_tmp, cl) = common::start_server(PASSWORD);
    let admin = cl.login("admin", PASSWORD);
    let started = Instant::now();
    let kinds = ["排污口", "河段", "企业", "作坊", "护林点"];
    let mut groups = Vec::new();
    let mut sheet = String::from("编码,名称,类型,地址,纬度,经度,半径(米),联络组\n");
    for g in 0..GROUPS {
        let name = format!("第{g}联络组");
        let id = cl.send(
            "POST",
            "/api/v1/groups",
            &admin,
            Some(&json!({"name": name, "towns": [format!("第{g}街道")]})),
        )["id"]
            .as_str()
            .expect("group")
            .to_string();
        cl.send("POST", "/api/v1/users", &admin, Some(&json!({"username": format!("insp{g}"), "role": "inspector", "group_id": id, "password": PASSWORD})));
        groups.push((id, name));
    }
    for s in 0..n_sites {
        let (_, gname) = &groups[s % GROUPS];
        sheet.push_str(&format!(
            "S-{s:05},点位{s},{},{}号,{:.5},{:.5},100,{gname}\n",
            kinds[s % kinds.len()],
            s,
            29.7 + (s % 97) as f64 * 0.003,
            106.9 + (s / 97) as f64 * 0.004
        ));
    }
    let agent = &cl.agent;
    let mut r = agent
        .post(format!("{}/api/v1/sites/import", cl.base))
        .header("Authorization", format!("Bearer {admin}"))
        .header("Content-Type", "text/csv")
        .send(sheet.as_bytes())
        .expect("import");
    let report: Value = r.body_mut().read_json().expect("report");
    assert_eq!(report["created"], json!(n_sites), "{report}");
    let tpl = cl.send(
        "POST",
        "/api/v1/templates",
        &admin,
        Some(&json!({"name": "水环境巡查", "items": [
        {"key": "ok", "label": "是否正常", "kind": "yes_no", "required": true}]})),
    )["id"]
        .as_str()
        .expect("template")
        .to_string();
    // Sites by group, to push inspections from the group's inspector.
    let mut by_group: Vec<Vec<String>> = vec![Vec::new(); GROUPS];
    for (g, (gid, _)) in groups.iter().enumerate() {
        let mut cursor = String::new();
        loop {
            let p = cl.send(
                "GET",
                &format!("/api/v1/sites?group_id={gid}&limit=500&cursor={cursor}"),
                &admin,
                None,
            );
            by_group[g].extend(
                p["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|s| s["id"].as_str().unwrap_or_default().to_string()),
            );
            match p["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
    }
    let per_group = n_insp / GROUPS;
    for (g, sites) in by_group.iter().enumerate() {
        let token = cl.login(&format!("insp{g}"), PASSWORD);
        let device = uuid::Uuid::new_v4().to_string();
        // Two thirds of the sites get inspections; a third are never visited.
        let visited: Vec<&String> = sites.iter().take(sites.len() * 2 / 3).collect();
        for b in 0..per_group.div_ceil(500) {
            let items: Vec<Value> = (0..500.min(per_group - b * 500))
                .map(|i| {
                    let k = b * 500 + i;
                    let site = visited[k % visited.len()];
                    let f = json!({"title": format!("巡查{k}"), "status": "submitted", "answers.ok": true});
                    let at = json!({"title": "2026-11-20T02:14:09Z", "status": "2026-11-20T02:14:09Z", "answers.ok": "2026-11-20T02:14:09Z"});
                    json!({"id": uuid::Uuid::new_v4().to_string(), "site_id": site, "template_id": tpl, "fields": f, "changed_at": at})
                })
                .collect();
            cl.send("POST", "/api/v1/sync/push", &token, Some(&json!({"device_id": device, "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items})));
        }
    }
    // A week of routes for each group.
    for (g, (gid, _)) in groups.iter().enumerate() {
        for day in 0..7 {
            let stops: Vec<Value> = by_group[g]
                .iter()
                .skip(day * 10)
                .take(10)
                .map(|s| json!({"site_id": s, "template_id": tpl}))
                .collect();
            cl.send(
                "POST",
                "/api/v1/routes",
                &admin,
                Some(&json!({"group_id": gid, "name": format!("第{day}天巡查"),
                "scheduled_for": format!("2026-12-{:02}", day + 1), "stops": stops})),
            );
        }
        cl.send("POST", "/api/v1/schedules", &admin, Some(&json!({"group_id": gid, "name": "每周巡河",
            "stops": [{"site_id": by_group[g][0], "template_id": tpl}], "recurrence": {"freq": "weekly", "weekdays": [1, 4]}})));
    }
    println!(
        "admin console benchmark: {n_sites} sites in {GROUPS} groups, {n_insp} inspections loaded in {:.1} s; 100 requests a page",
        started.elapsed().as_secs_f64()
    );

    let cookie = web_login(&cl);
    let (g0, site0) = (&groups[0].0, &by_group[0][0]);
    let pages = [
        ("overview", "/admin".to_string()),
        ("groups", "/admin/groups".to_string()),
        ("users", "/admin/users".to_string()),
        ("sites (district, page of 200)", "/admin/sites".to_string()),
        (
            "sites of a group (500, map)",
            format!("/admin/sites?group_id={g0}"),
        ),
        ("sites search", "/admin/sites?q=S-0012".to_string()),
        ("site form (picker)", format!("/admin/sites/{site0}")),
        ("checklists", "/admin/checklists".to_string()),
        ("routes (3 weeks)", "/admin/routes".to_string()),
        (
            "route planner (500 sites)",
            format!("/admin/routes/new?group_id={g0}"),
        ),
        ("schedules", "/admin/schedules".to_string()),
        (
            "coverage of a group",
            format!("/admin/coverage?group_id={g0}"),
        ),
        ("coverage, district", "/admin/coverage".to_string()),
    ];
    for (name, path) in pages {
        let mut ms = Vec::with_capacity(100);
        let mut bytes = 0;
        for _ in 0..100 {
            let t = Instant::now();
            let mut r = agent
                .get(format!("{}{path}", cl.base))
                .header("Cookie", &cookie)
                .call()
                .expect("page");
            assert_eq!(r.status().as_u16(), 200, "{path}");
            bytes = r.body_mut().read_to_vec().expect("body").len();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "  {name:<32} p50 {:>6.1} ms   p99 {:>6.1} ms   {:>5} KB",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            bytes / 1024
        );
    }
}
