//! XLSX beside every CSV: the same rows, read back by an independent
//! reader (calamine) with their types: numbers as numbers, times as Excel
//! dates in district time, text people typed as text (never a formula),
//! Chinese headers, the header row frozen; the same scope as the CSV.

use crate::helpers::*;
use calamine::{Data, Reader, Xlsx};
use serde_json::json;
use std::io::Read;

/// The first sheet of a workbook, and its first sheet's XML.
fn workbook(bytes: &[u8]) -> (calamine::Range<Data>, String) {
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("an xlsx");
    let range = book.worksheet_range_at(0).expect("a sheet").expect("read");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    (range, xml)
}

fn csv_rows(body: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body));
    let head = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (head, rows)
}

fn fetch(app: &TestApp, path: &str, token: &str) -> Vec<u8> {
    // A browser's Accept-Encoding: a workbook (a zip) is not compressed
    // again; the CSV comes plain to this reader.
    let xlsx = path.contains(".xlsx");
    let accept: &[(&str, &str)] = if xlsx {
        &[("Accept-Encoding", "gzip, br")]
    } else {
        &[]
    };
    let (status, hs, body) = app.get_bytes(path, token, accept);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    if xlsx {
        let ct = hs.iter().find(|(k, _)| k == "content-type").unwrap();
        assert!(ct.1.contains("spreadsheetml"), "{ct:?}");
        // A zip is not compressed again.
        assert!(!hs.iter().any(|(k, _)| k == "content-encoding"), "{hs:?}");
        let cd = hs.iter().find(|(k, _)| k == "content-disposition").unwrap();
        assert!(cd.1.contains(".xlsx"), "{cd:?}");
    }
    body
}

#[test]
fn every_csv_has_an_xlsx_with_the_same_rows_typed() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let ins = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let (a, b) = (uuid(), uuid());
    app.push(
        &ins,
        &uuid(),
        vec![
            new_inspection(
                &a,
                &d,
                json!({"title": "=HYPERLINK(\"http://x\")", "notes": "排口\n渗漏", "status": "submitted",
                       "location": {"lat": 29.5631, "lon": 106.5516, "accuracy_m": 5, "captured_at": T0}}),
                T0,
            ),
            new_inspection(&b, &d, json!({"title": "桃花河巡查"}), T0),
        ],
        vec![],
    )
    .ok(200);
    app.post(
        &format!("/api/v1/inspections/{a}/reviews"),
        &coord,
        &json!({"decision": "approve"}),
    )
    .ok(201);
    app.post(
        &format!("/api/v1/inspections/{a}/followups"),
        &coord,
        &json!({"title": "整改", "department": "区生态环境局"}),
    )
    .ok(201);

    // The queue: the same records, the same columns, typed.
    let (head, rows) = csv_rows(&fetch(&app, "/api/v1/reports/inspections.csv", &coord));
    let (range, xml) = workbook(&fetch(&app, "/api/v1/reports/inspections.xlsx", &coord));
    assert!(
        xml.contains(r#"state="frozen""#) && xml.contains(r#"ySplit="1""#),
        "{xml}"
    );
    assert_eq!(range.height(), rows.len() + 1);
    assert_eq!(range.width(), head.len());
    let zh: Vec<String> = (0..head.len())
        .map(|c| range.get((0, c)).unwrap().to_string())
        .collect();
    assert_eq!(zh[0], "记录编号");
    assert!(zh.iter().all(|h| !h.is_ascii()), "{zh:?}");
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let at = |row: usize, name: &str| range.get((row, col(name))).unwrap().clone();
    let x_row = (1..range.height())
        .find(|r| at(*r, "id") == Data::String(a.clone()))
        .unwrap();
    let c_row = rows.iter().find(|r| r[col("id")] == a).unwrap();
    // The time: an Excel date, the district's wall clock of the CSV's time.
    let Data::DateTime(t) = at(x_row, "created_at") else {
        panic!("{:?}", at(x_row, "created_at"))
    };
    let csv_time = chrono::DateTime::parse_from_rfc3339(&c_row[col("created_at")]).unwrap();
    assert_eq!(
        t.as_datetime().unwrap().format("%F %T").to_string(),
        csv_time.format("%F %T").to_string()
    );
    assert_eq!(at(x_row, "lat"), Data::Float(29.5631));
    assert_eq!(at(x_row, "photos"), Data::Float(0.0));
    assert_eq!(at(x_row, "review_status"), Data::String("approved".into()));
    // What was typed, as typed: a string, not a formula, in the workbook;
    // neutralised in the CSV.
    assert_eq!(
        at(x_row, "title"),
        Data::String("=HYPERLINK(\"http://x\")".into())
    );
    assert!(!xml.contains("<f>"), "no formulas: {xml}");
    assert!(c_row[col("title")].starts_with("'="));
    assert_eq!(at(x_row, "notes"), Data::String("排口\n渗漏".into()));

    // The other tables: the same rows as their CSV, Chinese headers.
    for (stem, token) in [
        ("coverage", &coord),
        ("departments", &coord),
        ("sites", &coord),
        ("repeat_rows", &coord),
    ] {
        let (head, rows) = csv_rows(&fetch(&app, &format!("/api/v1/reports/{stem}.csv"), token));
        let (range, _) = workbook(&fetch(&app, &format!("/api/v1/reports/{stem}.xlsx"), token));
        assert_eq!(range.height().max(1), rows.len() + 1, "{stem}");
        assert_eq!(range.width(), head.len(), "{stem}");
        assert!(
            !range.get((0, 1)).unwrap().to_string().is_ascii(),
            "{stem}: {:?}",
            range.get((0, 1))
        );
    }
    let (_, rows) = csv_rows(&fetch(&app, "/api/v1/reports/departments.csv", &coord));
    let (range, _) = workbook(&fetch(&app, "/api/v1/reports/departments.xlsx", &coord));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        range.get((1, 2)),
        Some(&Data::Float(1.0)),
        "assigned: a number"
    );
    let (range, _) = workbook(&fetch(&app, "/api/v1/reports/sites.xlsx", &coord));
    assert_eq!(range.get((0, 5)), Some(&Data::String("纬度".into())));
    assert!(matches!(range.get((1, 5)), Some(Data::Float(_))));

    // Scope: group B's inspector sees none of group A's records.
    let other = app.login("chengang", PASSWORD);
    let (range, _) = workbook(&fetch(&app, "/api/v1/reports/inspections.xlsx", &other));
    assert_eq!(range.height(), 1, "only the header");
    // A bad filter is a JSON error before anything is sent.
    let r = app.get(
        "/api/v1/reports/inspections.xlsx?review_status=bogus",
        &coord,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "invalid_query");
}
