//! The district at a glance (issue 25): the summary's figures against a
//! district built here with known counts, district days at their edges (a
//! record at 23:30 local time belongs to that day), scope (a group's
//! coordinator counts exactly what an admin counts for that group, and
//! nothing of another), and the tables behind the charts as CSV and XLSX.

use crate::helpers::*;
use crate::reports_quick::quick_report;
use serde_json::{Value, json};

/// An outfall checklist whose colour fails when black.
pub fn failing_template(app: &TestApp) -> String {
    id(app
        .post(
            "/api/v1/templates",
            &app.admin,
            &json!({"name": "排口巡查", "group_id": null, "items": [
                {"key": "color", "label": "水体颜色", "kind": "choice", "options": ["清澈", "发黑"],
                 "fail_when": ". = '发黑'"},
                {"key": "pipes", "label": "排水管", "kind": "repeat", "items": [
                    {"key": "broken", "label": "是否破损", "kind": "yes_no", "fail_when": ". = 'yes'"}
                ]}
            ]}),
        )
        .ok(201))
}

pub fn inspection(id: &str, site: &str, template: &str, answers: Value) -> Value {
    let mut fields = json!({"title": "排口巡查", "status": "submitted",
        "location": {"lat": 29.857, "lon": 107.081, "accuracy_m": 5, "captured_at": T0}});
    for (k, v) in answers.as_object().unwrap() {
        fields[format!("answers.{k}")] = v.clone();
    }
    let changed: serde_json::Map<String, Value> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!(T0)))
        .collect();
    json!({"id": id, "base_version": 0, "site_id": site, "template_id": template,
           "fields": fields, "changed_at": changed})
}

pub fn push(app: &TestApp, token: &str, items: Vec<Value>) {
    let r = app.push(token, &uuid(), items, vec![]).ok(200);
    for x in r["results"].as_array().unwrap() {
        assert_eq!(x["status"], "applied", "{r}");
    }
}

/// Moves a record's arrival to a time (the server stamps it, and its
/// minute, on arrival).
fn created_at(app: &TestApp, id: &str, at: &str) {
    let minute = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp()
        / 60;
    app.sql(&format!(
        "UPDATE inspections SET created_at = '{at}', created_minute = {minute} WHERE id = '{id}'"
    ));
}

fn summary(app: &TestApp, token: &str, query: &str) -> Value {
    app.get(&format!("/api/v1/reports/summary?{query}"), token)
        .ok(200)
}

#[test]
fn the_summary_counts_a_known_district_by_district_days_and_scope() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let t = failing_template(&app);
    let li = app.login("liming", PASSWORD);
    let wang = app.login("wangfang", PASSWORD);
    let cheng = app.login("chengang", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);

    // Group A: four inspections of its site (two failing: black water, and
    // a broken pipe in two rows of one record), a draft, two quick reports
    // beside the site. Group B: two inspections, one failing.
    let a: Vec<String> = (0..4).map(|_| uuid()).collect();
    push(
        &app,
        &li,
        vec![
            inspection(&a[0], &d.site_a, &t, json!({"color": "发黑"})),
            inspection(
                &a[1],
                &d.site_a,
                &t,
                json!({"color": "清澈",
                "pipes.r1.broken": true, "pipes.r1._seq": 1, "pipes.r2.broken": true, "pipes.r2._seq": 2}),
            ),
            inspection(&a[2], &d.site_a, &t, json!({"color": "清澈"})),
        ],
    );
    push(
        &app,
        &wang,
        vec![inspection(&a[3], &d.site_a, &t, json!({"color": "清澈"}))],
    );
    let draft = uuid();
    let mut d0 = inspection(&draft, &d.site_a, &t, json!({"color": "发黑"}));
    d0["fields"]["status"] = json!("draft");
    push(&app, &li, vec![d0]);
    let (r1, r2) = (uuid(), uuid());
    push(
        &app,
        &li,
        vec![
            quick_report(&r1, "排口黑水", "urgent", T0),
            quick_report(&r2, "河面漂浮物", "normal", T0),
        ],
    );
    let b: Vec<String> = (0..2).map(|_| uuid()).collect();
    push(
        &app,
        &cheng,
        vec![
            inspection(&b[0], &d.site_b, &t, json!({"color": "发黑"})),
            inspection(&b[1], &d.site_b, &t, json!({"color": "清澈"})),
        ],
    );

    // Times: 2026-03-01 (a Sunday) 23:30 in the district is 15:30 UTC;
    // 00:30 on Monday 03-02 is 16:30 UTC on 03-01.
    created_at(&app, &a[0], "2026-03-01 15:30:00");
    created_at(&app, &a[1], "2026-03-01 16:30:00");
    created_at(&app, &a[2], "2026-03-05 02:00:00");
    created_at(&app, &a[3], "2026-06-10 02:00:00");
    created_at(&app, &r1, "2026-03-03 01:00:00");
    created_at(&app, &r2, "2026-06-11 01:00:00");
    created_at(&app, &b[0], "2026-03-02 01:00:00");
    created_at(&app, &b[1], "2026-06-12 01:00:00");

    // Reviews: two approved, one returned (group A); one approved (B).
    for (id, decision, token) in [
        (&a[0], "approve", &coord),
        (&a[1], "approve", &coord),
        (&a[2], "return", &coord),
        (&b[0], "approve", &app.admin),
    ] {
        app.post(
            &format!("/api/v1/inspections/{id}/reviews"),
            token,
            &json!({"decision": decision, "comment": "请补充排口照片"}),
        )
        .ok(201);
    }
    // A follow-up handed to a department, answered and resolved.
    let f = id(app
        .post(
            &format!("/api/v1/inspections/{}/followups", a[0]),
            &coord,
            &json!({"title": "排口黑水整改", "department": "区生态环境局"}),
        )
        .ok(201));
    app.patch(
        &format!("/api/v1/followups/{f}"),
        &coord,
        &json!({"status": "resolved"}),
    )
    .ok(200);

    // The admin's district for the year.
    let all = summary(&app, &app.admin, "from=2026-01-01&to=2026-12-31");
    let totals = &all["totals"];
    assert_eq!(totals["inspections"], 6, "{all}");
    assert_eq!(totals["reports"], 2, "{all}");
    assert_eq!(totals["members"], 3, "liming, wangfang, chengang: {all}");
    assert_eq!(totals["sites"], 2);
    assert_eq!(totals["sites_inspected"], 2);
    assert_eq!(totals["inspections_with_failures"], 3);
    assert_eq!(all["reviews"]["decisions"], 4);
    assert_eq!(all["reviews"]["approved"], 3);
    assert_eq!(all["reviews"]["returned"], 1);
    assert_eq!(all["reviews"]["approval_rate"], 0.75);
    assert_eq!(all["reviews"]["return_rate"], 0.25);
    assert_eq!(all["followups"]["opened"], 1);
    assert_eq!(all["followups"]["resolved"], 1);
    assert_eq!(all["utc_offset"], "+08:00");
    assert_eq!(all["period"]["from"], "2026-01-01");
    assert_eq!(all["period"]["to"], "2026-12-31");
    // Failed items by site kind: black water twice, a broken pipe once
    // (two rows of one record are one inspection).
    let failed = all["failed_items"].as_array().unwrap();
    assert_eq!(failed[0]["item"], "color", "{failed:?}");
    assert_eq!(failed[0]["label"], "水体颜色");
    assert_eq!(failed[0]["site_kind_name"], "排污口");
    assert_eq!(failed[0]["count"], 2);
    assert_eq!(failed[1]["item"], "pipes.broken");
    assert_eq!(failed[1]["label"], "是否破损");
    assert_eq!(failed[1]["count"], 1);
    // Site A keeps coming back: two failed inspections, two reports.
    let back = all["recurring_sites"].as_array().unwrap();
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0]["site_id"], d.site_a.as_str());
    assert_eq!(back[0]["failed_inspections"], 2);
    assert_eq!(back[0]["reports"], 2);

    // The week of 2026-02-23 holds the 23:30 Sunday record; 00:30 Monday
    // is the next week's.
    let week = |s: &Value, w: &str| {
        s["weeks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["week"] == w)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(week(&all, "2026-02-23")["inspections"], 1, "{all}");
    assert_eq!(week(&all, "2026-03-02")["inspections"], 3);
    assert_eq!(week(&all, "2026-03-02")["reports"], 1);
    assert_eq!(all["weeks"].as_array().unwrap().len(), 53);
    let report_row = all["weekly"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "report" && r["week"] == "2026-03-02")
        .unwrap();
    assert_eq!(report_row["category"], "water");
    assert_eq!(report_row["group_name"], "渡舟联络组");
    // One district day: 03-01 holds the 23:30 record only, 03-02 the
    // 00:30 one and group B's.
    let day = summary(&app, &app.admin, "from=2026-03-01&to=2026-03-01");
    assert_eq!(day["totals"]["inspections"], 1, "{day}");
    let day = summary(&app, &app.admin, "from=2026-03-02&to=2026-03-02");
    assert_eq!(day["totals"]["inspections"], 2, "{day}");

    // Scope: group A's coordinator counts exactly what the admin counts
    // for group A, and nothing of group B.
    let mine = summary(&app, &coord, "from=2026-01-01&to=2026-12-31");
    let as_admin = summary(
        &app,
        &app.admin,
        &format!("from=2026-01-01&to=2026-12-31&group_id={}", d.group_a),
    );
    let without_group = |mut v: Value| {
        v.as_object_mut().unwrap().remove("group_id");
        v
    };
    assert_eq!(without_group(mine.clone()), without_group(as_admin));
    assert_eq!(mine["totals"]["inspections"], 4);
    assert_eq!(mine["totals"]["members"], 2);
    assert_eq!(mine["totals"]["sites"], 1);
    assert_eq!(mine["reviews"]["decisions"], 3);
    assert_eq!(mine["failed_items"][0]["count"], 1);
    let other = summary(
        &app,
        &coord,
        &format!("from=2026-01-01&to=2026-12-31&group_id={}", d.group_b),
    );
    assert_eq!(other["totals"]["inspections"], 0, "{other}");
    assert_eq!(other["totals"]["sites"], 0);
    assert_eq!(other["reviews"]["decisions"], 0);
    // Inspectors do not read the district's figures.
    assert_eq!(app.get("/api/v1/reports/summary", &li).status, 403);
    // Bad periods are refused with the field.
    let r = app.get(
        "/api/v1/reports/summary?from=2026-03-05&to=2026-03-01",
        &app.admin,
    );
    assert_eq!(r.status, 422, "{:?}", r.body);
    let r = app.get("/api/v1/reports/summary?from=yesterday", &app.admin);
    assert_eq!(r.status, 400);

    // The tables behind the charts: CSV and XLSX, the same numbers.
    let (s, _, csv) = app.get_bytes(
        "/api/v1/reports/summary.csv?table=totals&from=2026-01-01&to=2026-12-31",
        &coord,
        &[],
    );
    assert_eq!(s, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.contains("inspections,巡查记录,4\r\n") || csv.contains("inspections,巡查记录,4\n"),
        "{csv}"
    );
    let (s, _, xlsx) = app.get_bytes(
        "/api/v1/reports/summary.xlsx?table=weekly&from=2026-01-01&to=2026-12-31",
        &coord,
        &[],
    );
    assert_eq!(s, 200);
    use calamine::{Data, Reader};
    let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(std::io::Cursor::new(xlsx)).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(range.get((0, 0)), Some(&Data::String("周(周一)".into())));
    let Some(Data::DateTime(first)) = range.get((1, 0)) else {
        panic!("{:?}", range.get((1, 0)))
    };
    assert_eq!(
        first.as_datetime().unwrap().date().to_string(),
        "2026-02-23"
    );
    assert!(matches!(range.get((1, 5)), Some(Data::Float(n)) if *n == 1.0));
    let r = app.get("/api/v1/reports/summary.csv?table=bogus", &coord);
    assert_eq!(r.status, 400);

    // The dashboard: the same figures, charts drawn as SVG with their
    // tables, all in Chinese; its tables download with the session.
    let web = crate::webui::Web::new(&app);
    let session = web.login("zhoumin").unwrap();
    let page = web.get("/review/dashboard?from=2026-01-01&to=2026-12-31", &session);
    assert_eq!(page.status, 200);
    assert!(page.body.matches("<svg").count() >= 5, "{}", page.body);
    assert!(page.body.contains("每周巡查记录与随手拍"));
    assert!(page.body.contains("水体颜色"));
    assert!(page.body.contains(&format!("/review/sites/{}", d.site_a)));
    assert!(
        !page.body.contains("75.0%"),
        "the coordinator's own rate, not the district's"
    );
    assert!(page.body.contains("66.7%"), "2 of 3 decisions approved");
    assert!(
        !page.body.contains("云台山护林点"),
        "group B's site is not on group A's dashboard"
    );
    let words =
        crate::language::english_words(&crate::language::visible_text(&page.body), &["zhoumin"]);
    assert!(words.is_empty(), "English on the dashboard: {words:?}");
    let xlsx = web.get(
        "/review/dashboard.xlsx?table=failed_items&from=2026-01-01&to=2026-12-31",
        &session,
    );
    assert_eq!(xlsx.status, 200);
    let csv = web.get(
        "/review/dashboard.csv?table=coverage&from=2026-01-01&to=2026-12-31",
        &session,
    );
    assert!(csv.body.contains("fresh,7 天内巡查过,"), "{}", csv.body);

    // The period brief: the group's name, the period, the counts in words,
    // the charts; the same from the API and from the pages.
    let (status, hs, brief) = app.get_bytes(
        "/api/v1/reports/brief?from=2026-01-01&to=2026-12-31",
        &coord,
        &[],
    );
    assert_eq!(status, 200);
    assert!(
        hs.iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/html"))
    );
    let brief = String::from_utf8(brief).unwrap();
    assert!(
        brief.contains("渡舟联络组巡查履职简报(2026-01-01 至 2026-12-31)"),
        "{brief}"
    );
    assert!(
        brief.contains("本期共开展巡查 <strong>4</strong> 次"),
        "{brief}"
    );
    assert!(brief.contains("被采纳 <strong>0</strong> 件"));
    assert!(brief.contains("北京时间"));
    assert!(brief.matches("<svg").count() >= 4);
    let page = web.get("/review/brief?from=2026-01-01&to=2026-12-31", &session);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("本期共开展巡查 <strong>4</strong> 次"));
    let district = app
        .get_bytes(
            "/api/v1/reports/brief?from=2026-03-01&to=2026-03-01",
            &app.admin,
            &[],
        )
        .2;
    let district = String::from_utf8(district).unwrap();
    assert!(
        district.contains("全区巡查履职简报(2026-03-01 至 2026-03-01)"),
        "{district}"
    );
    assert!(
        district.contains("本期共开展巡查 <strong>1</strong> 次"),
        "the 23:30 record is that day's"
    );

    // The brief as a PDF drawn by the server, with a CJK font found at run
    // time; without one, 406 saying so (and the server carries on).
    if fieldsync::webui::pdf::find_font(None).is_some() {
        let (status, hs, pdf) = app.get_bytes(
            "/api/v1/reports/brief?from=2026-01-01&to=2026-12-31&format=pdf",
            &coord,
            &[],
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
        assert!(
            hs.iter()
                .any(|(k, v)| k == "content-type" && v == "application/pdf")
        );
        assert!(pdf.starts_with(b"%PDF-"), "{:?}", &pdf[..16.min(pdf.len())]);
        assert!(
            pdf.windows(5).rev().take(16).any(|w| w == b"%%EOF"),
            "a whole file"
        );
        assert!(
            pdf.len() > 5_000,
            "an embedded font subset: {} bytes",
            pdf.len()
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("brief.pdf"), &pdf).unwrap();
        let page = web.get("/review/brief.pdf?from=2026-01-01&to=2026-12-31", &session);
        assert_eq!(page.status, 200);
    } else {
        assert!(
            std::env::var_os("FIELDSYNC_REQUIRE_PDF_FONT").is_none(),
            "a CJK font (fonts-wqy-microhei) is required here"
        );
        eprintln!("the PDF brief is not checked: no CJK font (install fonts-wqy-microhei)");
    }
    let r = app.get("/api/v1/reports/brief?format=docx", &coord);
    assert_eq!(r.status, 400);

    // Records written before failed items were kept with them are judged
    // by the housekeeping job (it runs when a server starts).
    app.sql("UPDATE inspections SET failed = NULL");
    let gone = summary(&app, &app.admin, "from=2026-01-01&to=2026-12-31");
    assert_eq!(gone["totals"]["inspections_with_failures"], 0);
    let app = app.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let again = summary(&app, &app.admin, "from=2026-01-01&to=2026-12-31");
        if again["totals"]["inspections_with_failures"] == 3 {
            assert_eq!(again["failed_items"], all["failed_items"]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{again}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn without_a_cjk_font_the_brief_is_not_a_pdf_and_the_server_says_why() {
    let app = TestApp::spawn_with(|c| c.pdf_font = Some("/nonexistent/font.ttc".into()));
    let r = app.get("/api/v1/reports/brief?format=pdf", &app.admin);
    assert_eq!(r.status, 406, "{:?}", r.body);
    assert_eq!(r.code(), "not_acceptable");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("FIELDSYNC_PDF_FONT")
    );
    // The page itself still works.
    assert_eq!(app.get("/api/v1/reports/brief", &app.admin).status, 200);
    // The document says both answers (a client may ask for either).
    let doc = app.get("/api/v1/openapi.json", "").ok(200);
    let op = &doc["paths"]["/api/v1/reports/brief"]["get"];
    let content = op["responses"]["200"]["content"].as_object().unwrap();
    assert!(
        content.contains_key("text/html") && content.contains_key("application/pdf"),
        "{op}"
    );
    assert!(op["parameters"].to_string().contains("format"));
}
