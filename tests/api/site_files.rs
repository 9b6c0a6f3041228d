//! Sites from a spreadsheet: preview, all-or-nothing import, re-import by
//! code, GBK files, GeoJSON, and the export that imports back unchanged.

use crate::helpers::*;
use serde_json::{Value, json};

fn sites(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/sites?limit=500", &app.admin).ok(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn import(app: &TestApp, query: &str, content_type: &str, body: &[u8]) -> Resp {
    app.raw(
        "POST",
        &format!("/api/v1/sites/import{query}"),
        &app.admin,
        content_type,
        body,
    )
}

const SHEET: &str = "\u{feff}编码,名称,类型,地址,纬度,经度,半径（米）,联络组\n\
    DZ-001,桃花河1号排口,排污口,渡舟街道桃花河大桥下,29.857,107.081,80,渡舟联络组\n\
    DZ-002,长江渡舟段,河段,渡舟街道江边,29.86,107.09,,渡舟联络组\n\
    DZ-003,渡舟化工厂,企业,工业园区3号,29.85,107.07,150,渡舟联络组\n";

#[test]
fn a_sheet_is_previewed_imported_and_reimported_without_duplicates() {
    let app = TestApp::spawn();
    let group = app.group("渡舟联络组");
    let before = sites(&app).len();

    // The preview writes nothing.
    let r = import(&app, "?dry_run=true", "text/csv", SHEET.as_bytes()).ok(200);
    assert_eq!(
        (r["applied"].clone(), r["created"].clone()),
        (json!(false), json!(3))
    );
    assert_eq!(sites(&app).len(), before);

    let r = import(&app, "", "text/csv", SHEET.as_bytes()).ok(200);
    assert_eq!(r["applied"], json!(true));
    assert_eq!(r["created"], json!(3));
    let all = sites(&app);
    assert_eq!(all.len(), before + 3);
    let outfall = all.iter().find(|s| s["code"] == "DZ-001").unwrap();
    assert_eq!(outfall["kind"], "outfall");
    assert_eq!(outfall["group_id"], json!(group));
    assert_eq!(outfall["radius_m"], json!(80.0));
    let river = all.iter().find(|s| s["code"] == "DZ-002").unwrap();
    assert_eq!(river["radius_m"], json!(100.0), "the default radius");

    // The same file again: nothing changes.
    let r = import(&app, "", "text/csv", SHEET.as_bytes()).ok(200);
    assert_eq!(
        (r["created"].clone(), r["unchanged"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(sites(&app).len(), before + 3);

    // One row edited: that site is updated in place.
    let edited = SHEET.replace(
        "渡舟化工厂,企业,工业园区3号",
        "渡舟化工厂(搬迁),企业,工业园区9号",
    );
    let r = import(&app, "", "text/csv", edited.as_bytes()).ok(200);
    assert_eq!(
        (r["updated"].clone(), r["unchanged"].clone()),
        (json!(1), json!(2))
    );
    let all = sites(&app);
    assert_eq!(all.len(), before + 3);
    let moved = all.iter().find(|s| s["code"] == "DZ-003").unwrap();
    assert_eq!(moved["address"], "工业园区9号");

    // The export imports back as it is, GeoJSON too.
    let csv = app.get("/api/v1/reports/sites.csv", &app.admin).text;
    assert!(csv.starts_with('\u{feff}'));
    let r = import(&app, "", "text/csv", csv.as_bytes()).ok(200);
    assert_eq!(r["unchanged"], json!(before + 3), "{r}");
    let geo = app.get("/api/v1/reports/sites.geojson", &app.admin).ok(200);
    assert_eq!(geo["features"].as_array().unwrap().len(), before + 3);
    let r = import(&app, "", "application/geo+json", geo.to_string().as_bytes()).ok(200);
    assert_eq!(r["unchanged"], json!(before + 3), "{r}");
}

#[test]
fn a_gbk_sheet_with_english_headers_and_a_default_group() {
    let app = TestApp::spawn();
    let group = app.group("云集联络组");
    let text = "code,name,kind,lat,lon\nYJ-01,云台山护林点,护林点,29.9,107.1\nYJ-02,龙沟村作坊,workshop,29.91,107.12\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(text);
    assert!(std::str::from_utf8(&gbk).is_err(), "really GBK");
    // Without a group column the import needs a default group.
    let r = import(&app, "", "text/csv", &gbk);
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body["error"]["details"]["report"]["rows"][0]["errors"][0]["field"],
        "group"
    );
    let r = import(&app, &format!("?group_id={group}"), "text/csv", &gbk).ok(200);
    assert_eq!(r["created"], json!(2));
    let names: Vec<String> = sites(&app)
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"云台山护林点".to_string()), "{names:?}");
    assert!(sites(&app).iter().any(|s| s["kind"] == "forest_patrol"));
}

#[test]
fn one_bad_row_writes_nothing_and_every_error_is_reported() {
    let app = TestApp::spawn();
    app.group("渡舟联络组");
    let before = sites(&app).len();
    let bad = "名称,纬度,经度,编码,联络组\n\
        好的点位,29.8,107.0,A-1,渡舟联络组\n\
        坏纬度,abc,107.0,A-2,渡舟联络组\n\
        超范围,95,107.0,A-3,渡舟联络组\n\
        未知组,29.8,107.0,A-4,不存在的组\n\
        重复编码,29.8,107.0,A-1,渡舟联络组\n\
        ,29.8,107.0,A-6,渡舟联络组\n";
    let r = import(&app, "", "text/csv", bad.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.code(), "validation_failed");
    let report = &r.body["error"]["details"]["report"];
    assert_eq!(report["errors"], json!(5));
    let fields: Vec<(u64, String)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["action"] == "error")
        .map(|row| {
            (
                row["line"].as_u64().unwrap(),
                row["errors"][0]["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (3, "lat".to_string()),
            (4, "lat".to_string()),
            (5, "group".to_string()),
            (6, "code".to_string()),
            (7, "name".to_string())
        ]
    );
    assert_eq!(sites(&app).len(), before, "nothing written");
    // The preview shows the same report with 200.
    let r = import(&app, "?dry_run=true", "text/csv", bad.as_bytes()).ok(200);
    assert_eq!(r["errors"], json!(5));

    // Whole-file errors: no coordinates column, not text, empty.
    for (body, what) in [
        (b"name,address\nx,y\n".to_vec(), "header"),
        (vec![0xff, 0xfe, 0xff, 0x00, 0x81], "UTF-8"),
        (b"name,lat,lon\n".to_vec(), "no rows"),
        (b"{\"type\": 1}".to_vec(), "FeatureCollection"),
    ] {
        let r = import(&app, "", "text/csv", &body);
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert_eq!(r.code(), "validation_failed");
    }
    // Coordinators may not import.
    let coord = {
        let g = app.group("云集联络组");
        app.user("zhoumin", "coordinator", Some(&g));
        app.login("zhoumin", PASSWORD)
    };
    let r = app.raw(
        "POST",
        "/api/v1/sites/import",
        &coord,
        "text/csv",
        SHEET.as_bytes(),
    );
    assert_eq!(r.status, 403);
}

#[test]
fn codes_are_unique_through_the_api_too() {
    let app = TestApp::spawn();
    let g = app.group("渡舟联络组");
    let site = |code: &str| {
        app.post(
            "/api/v1/sites",
            &app.admin,
            &json!({"group_id": g, "name": "点位", "kind": "outfall", "lat": 29.8, "lon": 107.0, "radius_m": 50.0, "code": code}),
        )
    };
    let first = site("C-1").ok(201);
    let r = site("C-1");
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "already_exists");
    assert_eq!(r.body["error"]["details"]["field"], "code");
    let second = id(site("C-2").ok(201));
    let r = app.patch(
        &format!("/api/v1/sites/{second}"),
        &app.admin,
        &json!({"code": "C-1"}),
    );
    assert_eq!(r.status, 409);
    // Search by code, name or address.
    let found = app.get("/api/v1/sites?q=C-1", &app.admin).ok(200);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], first["id"]);
}

#[test]
fn two_admins_importing_the_same_sheet_at_once_make_each_site_once() {
    let app = TestApp::spawn();
    app.group("渡舟联络组");
    let before = sites(&app).len();
    let answers: Vec<Value> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| import(&app, "", "text/csv", SHEET.as_bytes()).ok(200)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let created: u64 = answers.iter().map(|a| a["created"].as_u64().unwrap()).sum();
    let unchanged: u64 = answers
        .iter()
        .map(|a| a["unchanged"].as_u64().unwrap())
        .sum();
    assert_eq!((created, unchanged), (3, 9), "{answers:?}");
    assert_eq!(sites(&app).len(), before + 3);
}
