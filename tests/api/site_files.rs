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

/// A sheet changes only what it has: a sheet of names and positions leaves
/// each site's kind, address, radius and group as they were (the import's
/// default group is for new sites only), even when a member's planned
/// routes hold those sites.
#[test]
fn a_sheet_changes_only_the_cells_it_has() {
    let app = TestApp::spawn();
    let a = app.group("渡舟联络组");
    let b = app.group("云集联络组");
    import(&app, "", "text/csv", SHEET.as_bytes()).ok(200);
    let before = sites(&app);
    let outfall = before
        .iter()
        .find(|s| s["code"] == "DZ-001")
        .unwrap()
        .clone();

    let partial = "编码,名称,纬度,经度\nDZ-001,桃花河1号排口（东）,29.857,107.081\n";
    let r = import(
        &app,
        &format!("?group_id={b}"),
        "text/csv",
        partial.as_bytes(),
    )
    .ok(200);
    assert_eq!(
        (r["updated"].clone(), r["created"].clone()),
        (json!(1), json!(0)),
        "{r}"
    );
    let now = sites(&app);
    let after = now.iter().find(|s| s["code"] == "DZ-001").unwrap();
    assert_eq!(after["name"], "桃花河1号排口（东）");
    for field in ["kind", "address", "radius_m", "group_id", "lat", "lon"] {
        assert_eq!(after[field], outfall[field], "{field}");
    }
    assert_eq!(after["group_id"], json!(a));

    // Empty kind, radius and group cells keep what the site has too; a
    // group the row names moves it.
    let blanks = "编码,名称,类型,半径(米),联络组,纬度,经度\n\
                  DZ-001,桃花河1号排口（东）,,,,29.857,107.081\n\
                  DZ-003,渡舟化工厂,,,云集联络组,29.85,107.07\n";
    let r = import(&app, "", "text/csv", blanks.as_bytes()).ok(200);
    assert_eq!(
        (r["unchanged"].clone(), r["updated"].clone()),
        (json!(1), json!(1)),
        "{r}"
    );
    let now = sites(&app);
    let moved = now.iter().find(|s| s["code"] == "DZ-003").unwrap();
    assert_eq!(moved["group_id"], json!(b));
    assert_eq!(moved["kind"], "enterprise");
    assert_eq!(moved["radius_m"], json!(150.0));
}

/// An exported sheet imported back unchanged is unchanged, the cells the
/// export kept from running as formulas included (its `'` is its own).
#[test]
fn an_export_with_formula_like_cells_imports_back_unchanged() {
    let app = TestApp::spawn();
    let g = app.group("渡舟联络组");
    for (name, address) in [
        ("-1号排口", "=渡舟街道"),
        ("+2号排口", "@江边"),
        ("'引号点", "普通地址"),
    ] {
        app.post(
            "/api/v1/sites",
            &app.admin,
            &json!({"group_id": g, "name": name, "kind": "outfall", "address": address,
                    "lat": 29.857, "lon": 107.081, "radius_m": 80.0}),
        )
        .ok(201);
    }
    let before = sites(&app);
    let csv = app.get("/api/v1/reports/sites.csv", &app.admin);
    assert_eq!(csv.status, 200);
    assert!(csv.text.contains("'-1号排口"), "{}", csv.text);
    let r = import(&app, "", "text/csv", csv.text.as_bytes()).ok(200);
    assert_eq!(r["unchanged"], json!(3), "{r}");
    assert_eq!(r["updated"], json!(0), "{r}");
    let after = sites(&app);
    for s in &before {
        let a = after.iter().find(|x| x["id"] == s["id"]).unwrap();
        assert_eq!(a["name"], s["name"]);
        assert_eq!(a["address"], s["address"]);
    }
}

/// Two rows naming one site (the same `ID`, or an `ID` and the code of the
/// same site) are refused: neither silently wins.
#[test]
fn two_rows_naming_one_site_are_refused() {
    let app = TestApp::spawn();
    app.group("渡舟联络组");
    import(&app, "", "text/csv", SHEET.as_bytes()).ok(200);
    let id = sites(&app).iter().find(|s| s["code"] == "DZ-001").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for sheet in [
        format!("ID,名称,纬度,经度\n{id},甲,29.85,107.08\n{id},乙,29.85,107.08\n"),
        format!("ID,编码,名称,纬度,经度\n{id},,甲,29.85,107.08\n,DZ-001,乙,29.85,107.08\n"),
    ] {
        let r = import(&app, "", "text/csv", sheet.as_bytes());
        assert_eq!(r.status, 422, "{}", r.text);
        let rows = r.body["error"]["details"]["report"]["rows"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(rows[1]["action"], "error", "{rows:?}");
        assert_eq!(rows[1]["errors"][0]["field"], "id");
    }
    let site = sites(&app)
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap();
    assert_eq!(site["name"], "桃花河1号排口");
}
