//! Checklists with logic over HTTP (issue 21): templates checked when
//! saved, answers by path (repeat rows, item notes, photos of an item),
//! and what the server finds in a record (`checks`).

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The outfall form as an inspector needs it: "no flow" hides the flow
/// section; a smell asks which; an overflow fails, needs a photo and a
/// note and proposes a follow-up; pipes are rows.
pub fn outfall_items() -> Value {
    json!([
        {"key": "flowing", "label": "排口是否有水流出", "kind": "yes_no", "required": true},
        {"key": "flow", "label": "水流情况", "kind": "section", "relevant": "${flowing} = 'yes'"},
        {"key": "color", "label": "水体颜色", "kind": "choice", "options": ["清澈", "浑浊", "发黑"],
         "required": true, "fail_when": ". = '发黑'", "score": 2},
        {"key": "odor", "label": "有无异味", "kind": "yes_no", "score": 1, "fail_when": ". = 'yes'"},
        {"key": "odor_kind", "label": "异味类型", "kind": "multi_choice", "options": ["腐臭", "刺鼻", "其他"],
         "relevant": "${odor} = 'yes'", "required": true},
        {"key": "other", "label": "其他", "kind": "section"},
        {"key": "overflow", "label": "是否有污水溢流", "kind": "yes_no", "required": true, "score": 3,
         "fail_when": ". = 'yes'", "photo_required_when": ". = 'yes'", "note_required_when": ". = 'yes'",
         "on_fail": {"followup": {"title": "污水溢流整改", "due_days": 3}}},
        {"key": "found_on", "label": "发现日期", "kind": "date"},
        {"key": "pipes", "label": "排水管", "kind": "repeat", "items": [
            {"key": "diameter", "label": "管径(毫米)", "kind": "number", "required": true, "fail_when": ". > 800"},
            {"key": "broken", "label": "是否破损", "kind": "yes_no"},
            {"key": "broken_photo", "label": "破损照片", "kind": "photo", "relevant": "${broken} = 'yes'", "required": true}
        ]},
        {"key": "sign", "label": "巡查人签名", "kind": "signature", "required": true}
    ])
}

fn template(app: &TestApp, items: Value) -> Resp {
    app.post(
        "/api/v1/templates",
        &app.admin,
        &json!({"name": "排口巡查(含逻辑)", "group_id": null, "items": items}),
    )
}

fn field_of(r: &Resp) -> String {
    r.body["error"]["details"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_checklist_with_logic_round_trips_and_what_phones_could_not_fill_is_refused() {
    let app = TestApp::spawn();
    let t = id(template(&app, outfall_items()).ok(201));
    let got = app
        .get(&format!("/api/v1/templates/{t}"), &app.admin)
        .ok(200);
    assert_eq!(got["items"][8]["items"][2]["kind"], "photo");
    assert_eq!(got["items"][6]["on_fail"]["followup"]["due_days"], 3);
    assert_eq!(got["items"][1]["relevant"], "${flowing} = 'yes'");

    // Each refusal is 422 with the item's field, and fast: never a stack
    // overflow or a hang.
    let one = |extra: Value| {
        let mut item = json!({"key": "a", "label": "甲", "kind": "text"});
        item.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!([{"key": "b", "label": "乙", "kind": "yes_no"}, item])
    };
    let long = format!("${{b}} = '{}'", "长".repeat(1 << 20));
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let mut nested = json!({"key": "leaf", "label": "叶", "kind": "text"});
    for i in 0..100 {
        nested =
            json!({"key": format!("r{i}"), "label": "组", "kind": "repeat", "items": [nested]});
    }
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"key": format!("k{i}"), "label": "项", "kind": "yes_no"}))
        .collect();
    let cycle = json!([
        {"key": "a", "label": "甲", "kind": "yes_no", "relevant": "${c} = 'yes'"},
        {"key": "b", "label": "乙", "kind": "yes_no", "relevant": "${a} = 'yes'"},
        {"key": "c", "label": "丙", "kind": "yes_no", "relevant": "${b} = 'yes'"}
    ]);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "1 MB expression",
            one(json!({"fail_when": long})),
            "items[1].fail_when",
        ),
        (
            "nesting 10,000 deep",
            one(json!({"relevant": deep})),
            "items[1].relevant",
        ),
        (
            "a syntax error",
            one(json!({"relevant": "${b} = = 1"})),
            "items[1].relevant",
        ),
        (
            "an unknown key",
            one(json!({"relevant": "${nope} = 1"})),
            "items[1].relevant",
        ),
        ("repeats 100 deep", json!([nested]), ""),
        ("10,000 items", json!(many), "items"),
        ("a cycle of relevant", cycle, ""),
    ];
    for (what, items, field) in cases {
        let started = Instant::now();
        let r = template(&app, items);
        assert_eq!(r.status, 422, "{what}: {}", r.body);
        if !field.is_empty() {
            assert_eq!(field_of(&r), field, "{what}: {}", r.body);
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what} took {:?}",
            started.elapsed()
        );
    }
    // A refused edit leaves the version as it was.
    let r = app.patch(
        &format!("/api/v1/templates/{t}"),
        &app.admin,
        &json!({"items": [{"key": "x", "label": "甲", "kind": "yes_no", "relevant": "${x} = 'yes'"}]}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        app.get(&format!("/api/v1/templates/{t}"), &app.admin)
            .ok(200)["version"],
        1
    );
}

/// A route of group A with one stop on the logic checklist.
fn logic_stop(app: &TestApp, d: &District) -> (String, String, String) {
    let t = id(template(app, outfall_items()).ok(201));
    let route = app.route(&d.group_a, None, &[(&d.site_a, &t)]);
    let stop = route["stops"][0]["id"].as_str().unwrap().to_string();
    (t, id(route), stop)
}

fn record(id: &str, d: &District, t: &str, route: &str, stop: &str, fields: Value) -> Value {
    let mut r = new_inspection(id, d, fields, T0);
    r["template_id"] = json!(t);
    r["route_id"] = json!(route);
    r["stop_id"] = json!(stop);
    r
}

#[test]
fn a_record_pushed_incomplete_and_failing_is_kept_with_its_checks() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let (t, route, stop) = logic_stop(&app, &d);
    let tok = app.login("liming", PASSWORD);
    let dev = uuid();
    let rec = uuid();
    let (row1, row2) = (
        "0b0e5a5e-0001-4000-8000-000000000001",
        "0b0e5a5e-0002-4000-8000-000000000002",
    );
    let fields = json!({
        "title": "桃花河1号排口", "status": "submitted",
        "answers.flowing": true, "answers.color": "发黑", "answers.overflow": true,
        "answers.found_on": "2026-11-20",
        format!("answers.pipes.{row1}._seq"): 1, format!("answers.pipes.{row1}.diameter"): 1000,
        format!("answers.pipes.{row1}.broken"): true,
        format!("answers.pipes.{row2}._seq"): 2, format!("answers.pipes.{row2}.diameter"): 300,
    });
    let r = app
        .push(
            &tok,
            &dev,
            vec![record(&rec, &d, &t, &route, &stop, fields)],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    let coord = app.login("zhoumin", PASSWORD);
    let got = app
        .get(&format!("/api/v1/inspections/{rec}"), &coord)
        .ok(200);
    let checks = &got["checks"];
    assert_eq!(
        checks["failed"],
        json!(["color", "overflow", format!("pipes.{row1}.diameter")])
    );
    assert_eq!(
        checks["missing_required"],
        json!([
            "overflow#photo",
            "overflow#note",
            format!("pipes.{row1}.broken_photo"),
            "sign"
        ])
    );
    assert_eq!(checks["score"], json!({"got": 0.0, "max": 5.0}));
    assert_eq!(got["review_status"], "submitted");

    // The phone adds the note, a photo of the overflow, a photo of the
    // broken pipe and the signature: only what is still missing remains.
    let (p1, p2, sig) = (uuid(), uuid(), uuid());
    let photo = |pid: &str, key: &str, kind: &str, ty: &str| {
        json!({"id": pid, "inspection_id": rec, "sha256": "ab".repeat(32), "bytes": 1000,
               "content_type": ty, "item_key": key, "kind": kind})
    };
    let r = app
        .push(
            &tok,
            &dev,
            vec![edit(
                &rec,
                1,
                json!({"item_notes.overflow": "井盖破裂,污水外溢", format!("answers.pipes.{row1}.broken_photo"): [p2],
                       "answers.sign": sig}),
                "2026-11-20T02:20:00Z",
            )],
            vec![
                photo(&p1, "overflow", "photo", "image/jpeg"),
                photo(&p2, &format!("pipes.{row1}.broken_photo"), "photo", "image/jpeg"),
                photo(&sig, "sign", "signature", "image/png"),
            ],
        )
        .ok(200);
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["error"].is_null()),
        "{r}"
    );
    let got = app
        .get(&format!("/api/v1/inspections/{rec}"), &coord)
        .ok(200);
    assert_eq!(
        got["checks"]["missing_required"],
        json!([]),
        "{}",
        got["checks"]
    );
    let linked: Vec<(&str, &str)> = got["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["item_key"].as_str().unwrap(), p["kind"].as_str().unwrap()))
        .collect();
    assert!(linked.contains(&("sign", "signature")), "{linked:?}");
    assert!(linked.contains(&("overflow", "photo")), "{linked:?}");
    // An older app (cached for days) edits the photo's caption and knows
    // nothing of items: the link stays.
    let old_app = json!({"id": p1, "inspection_id": rec, "sha256": "ab".repeat(32), "bytes": 1000,
        "content_type": "image/jpeg", "caption": "井盖", "base_version": 1});
    let r = app.push(&tok, &uuid(), vec![], vec![old_app]).ok(200);
    assert!(r["results"][0]["error"].is_null(), "{r}");
    let got = app
        .get(&format!("/api/v1/inspections/{rec}"), &coord)
        .ok(200);
    let p = got["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == p1.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (p["caption"].as_str(), p["item_key"].as_str()),
        (Some("井盖"), Some("overflow"))
    );

    // "No flow" after all: the flow questions are hidden and their answers
    // kept, marked irrelevant.
    let r = app
        .push(
            &tok,
            &dev,
            vec![edit(
                &rec,
                2,
                json!({"answers.flowing": false}),
                "2026-11-20T02:30:00Z",
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    let got = app
        .get(&format!("/api/v1/inspections/{rec}"), &coord)
        .ok(200);
    assert_eq!(got["checks"]["irrelevant"], json!(["color"]));
    assert_eq!(got["fields"]["answers.color"], "发黑");
    assert_eq!(
        got["checks"]["failed"],
        json!(["overflow", format!("pipes.{row1}.diameter")])
    );
}

#[test]
fn answers_are_checked_by_path_and_a_bad_one_is_refused_alone() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let (t, route, stop) = logic_stop(&app, &d);
    let tok = app.login("liming", PASSWORD);
    let dev = uuid();
    let row = "0b0e5a5e-0001-4000-8000-000000000001";
    let bad: Vec<(Value, &str)> = vec![
        (json!({"answers.pipes": [1]}), "answers.pipes"),
        (
            json!({"answers.pipes.0B0E5A5E.diameter": 3}),
            "answers.pipes.0B0E5A5E.diameter",
        ),
        (json!({format!("answers.pipes.{row}.nope"): 3}), ""),
        (json!({format!("answers.pipes.{row}._deleted"): "yes"}), ""),
        (json!({"answers.flow": true}), "answers.flow"),
        (
            json!({"answers.odor_kind": ["腐臭", "腐臭"]}),
            "answers.odor_kind",
        ),
        (json!({"answers.odor_kind": "腐臭"}), "answers.odor_kind"),
        (
            json!({"answers.found_on": "2026-13-01"}),
            "answers.found_on",
        ),
        (json!({"answers.sign": "not-a-photo"}), "answers.sign"),
        (json!({"item_notes.nope": "备注"}), "item_notes.nope"),
        (json!({"item_notes.flow": "备注"}), "item_notes.flow"),
        (json!({"answers.flowing.x": true}), "answers.flowing.x"),
    ];
    for (fields, field) in bad {
        let rec = uuid();
        let r = app
            .push(
                &tok,
                &dev,
                vec![record(&rec, &d, &t, &route, &stop, fields.clone())],
                vec![],
            )
            .ok(200);
        let res = &r["results"][0];
        assert_eq!(res["status"], "rejected", "{fields}: {r}");
        if !field.is_empty() {
            assert_eq!(res["error"]["field"], field, "{fields}: {r}");
        }
        assert_eq!(
            app.get(&format!("/api/v1/inspections/{rec}"), &app.admin)
                .status,
            404
        );
    }
    // A photo naming no possible item, a signature that is no PNG: refused.
    let rec = uuid();
    app.push(
        &tok,
        &dev,
        vec![record(&rec, &d, &t, &route, &stop, json!({"title": "x"}))],
        vec![],
    )
    .ok(200);
    for (p, field) in [
        (
            json!({"id": uuid(), "inspection_id": rec, "sha256": "ab".repeat(32), "bytes": 10,
                "content_type": "image/jpeg", "item_key": "Pipes..x"}),
            "item_key",
        ),
        (
            json!({"id": uuid(), "inspection_id": rec, "sha256": "ab".repeat(32), "bytes": 10,
                "content_type": "image/jpeg", "kind": "signature"}),
            "content_type",
        ),
    ] {
        let r = app.push(&tok, &dev, vec![], vec![p]).ok(200);
        assert_eq!(r["results"][0]["status"], "rejected", "{r}");
        assert_eq!(r["results"][0]["error"]["field"], field, "{r}");
    }
}

#[test]
fn two_phones_add_rows_to_one_repeat_offline_and_both_rows_stay() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let (t, route, stop) = logic_stop(&app, &d);
    let tok = app.login("liming", PASSWORD);
    // One inspector's phone and tablet, each offline for days.
    let tok2 = app.login("liming", PASSWORD);
    let (dev1, dev2) = (uuid(), uuid());
    let rec = uuid();
    app.push(
        &tok,
        &dev1,
        vec![record(
            &rec,
            &d,
            &t,
            &route,
            &stop,
            json!({"answers.flowing": true}),
        )],
        vec![],
    )
    .ok(200);
    let (a, b) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000002",
    );
    // Both phones held version 1 for days and each added a row.
    let r1 = app
        .push(&tok, &dev1, vec![edit(&rec, 1, json!({format!("answers.pipes.{a}._seq"): 1, format!("answers.pipes.{a}.diameter"): 300}), "2026-11-21T01:00:00Z")], vec![])
        .ok(200);
    let r2 = app
        .push(&tok2, &dev2, vec![edit(&rec, 1, json!({format!("answers.pipes.{b}._seq"): 1, format!("answers.pipes.{b}.diameter"): 500}), "2026-11-22T01:00:00Z")], vec![])
        .ok(200);
    assert_eq!(r1["results"][0]["status"], "applied", "{r1}");
    assert_eq!(r2["results"][0]["status"], "applied", "{r2}");
    let got = app
        .get(&format!("/api/v1/inspections/{rec}"), &app.admin)
        .ok(200);
    assert_eq!(got["fields"][format!("answers.pipes.{a}.diameter")], 300);
    assert_eq!(got["fields"][format!("answers.pipes.{b}.diameter")], 500);
    assert_eq!(
        app.get("/api/v1/conflicts?status=open", &app.admin).ok(200)["items"],
        json!([])
    );

    // One phone deletes row a while the other, offline, edits its cell:
    // the deletion and the edit are both kept (the row is gone; the edit
    // stays in the field map where a reviewer can see it), no conflict.
    let v = got["version"].as_i64().unwrap();
    app.push(
        &tok,
        &dev1,
        vec![edit(
            &rec,
            v,
            json!({format!("answers.pipes.{a}._deleted"): true}),
            "2026-11-23T01:00:00Z",
        )],
        vec![],
    )
    .ok(200);
    let r = app
        .push(
            &tok2,
            &dev2,
            vec![edit(
                &rec,
                v,
                json!({format!("answers.pipes.{a}.diameter"): 350}),
                "2026-11-23T02:00:00Z",
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    let got = app
        .get(&format!("/api/v1/inspections/{rec}"), &app.admin)
        .ok(200);
    assert_eq!(got["fields"][format!("answers.pipes.{a}._deleted")], true);
    assert_eq!(got["fields"][format!("answers.pipes.{a}.diameter")], 350);
    assert!(
        !got["checks"]["missing_required"].to_string().contains(a),
        "{}",
        got["checks"]
    );

    // The same cell of one row from both: a conflict as for any field.
    let v = got["version"].as_i64().unwrap();
    app.push(
        &tok,
        &dev1,
        vec![edit(
            &rec,
            v,
            json!({format!("answers.pipes.{b}.diameter"): 510}),
            "2026-11-24T01:00:00Z",
        )],
        vec![],
    )
    .ok(200);
    let r = app
        .push(
            &tok2,
            &dev2,
            vec![edit(
                &rec,
                v,
                json!({format!("answers.pipes.{b}.diameter"): 520}),
                "2026-11-24T02:00:00Z",
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "merged", "{r}");
    let open = app.get("/api/v1/conflicts?status=open", &app.admin).ok(200);
    assert_eq!(
        open["items"][0]["field"],
        format!("answers.pipes.{b}.diameter")
    );
}

/// A failing record submitted on the logic checklist: overflow (which
/// proposes a follow-up) and colour (which does not) failed.
fn failing_record(app: &TestApp, d: &District, tok: &str) -> String {
    let (t, route, stop) = logic_stop(app, d);
    let rec = uuid();
    let fields = json!({"title": "桃花河1号排口", "status": "submitted", "answers.flowing": true,
        "answers.color": "发黑", "answers.overflow": true, "item_notes.overflow": "井盖破裂,污水外溢"});
    let r = app
        .push(
            tok,
            &uuid(),
            vec![record(&rec, d, &t, &route, &stop, fields)],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    rec
}

#[test]
fn approval_makes_the_proposed_followups_as_the_reviewer_left_them() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);

    // Proposed while it waits: only the item with on_fail, due in 3 days.
    let a = failing_record(&app, &d, &li);
    let got = app.get(&format!("/api/v1/inspections/{a}"), &coord).ok(200);
    let proposed = got["proposed_followups"].as_array().unwrap().clone();
    assert_eq!(proposed.len(), 1, "{proposed:?}");
    assert_eq!(proposed[0]["item_key"], "overflow");
    assert_eq!(proposed[0]["title"], "污水溢流整改");
    assert_eq!(proposed[0]["department"], "待指定");
    let due: chrono::DateTime<chrono::Utc> =
        proposed[0]["due_at"].as_str().unwrap().parse().unwrap();
    let days = (due - chrono::Utc::now()).num_hours();
    assert!((71..=72).contains(&days), "{days} hours");

    // Refusals change nothing: a follow-up for an item that did not fail,
    // follow-ups with a return.
    let path = format!("/api/v1/inspections/{a}/reviews");
    let r = app.post(
        &path,
        &coord,
        &json!({"decision": "approve",
        "followups": [{"item_key": "flowing", "title": "x", "department": "区住建委"}]}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["field"], "followups[0].item_key");
    let r = app.post(
        &path,
        &coord,
        &json!({"decision": "return", "comment": "补拍",
        "followups": []}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app.post(
        &path,
        &coord,
        &json!({"decision": "approve",
        "followups": [{"item_key": "overflow", "title": "  ", "department": "区住建委"}]}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["field"], "followups[0].title");
    let still = app.get(&format!("/api/v1/inspections/{a}"), &coord).ok(200);
    assert_eq!(still["review_status"], "submitted");
    assert_eq!(still["followups"], json!([]));
    assert_eq!(still["reviews"], json!([]));

    // Edited, then approved: made as edited, and the item proposes no more.
    app.post(
        &path,
        &coord,
        &json!({"decision": "approve",
        "followups": [{"item_key": "overflow", "title": "修复溢流井盖", "department": "区住建委",
                       "due_at": "2026-12-10T15:59:59Z"}]}),
    )
    .ok(201);
    let done = app.get(&format!("/api/v1/inspections/{a}"), &coord).ok(200);
    assert_eq!(done["review_status"], "approved");
    assert_eq!(done["proposed_followups"], json!([]));
    let f = &done["followups"][0];
    assert_eq!(
        (
            f["title"].as_str(),
            f["department"].as_str(),
            f["item_key"].as_str()
        ),
        (Some("修复溢流井盖"), Some("区住建委"), Some("overflow"))
    );
    assert_eq!(f["status"], "open");
    // The hand-off: the inspector's phone gets the follow-up on its pull.
    let (pages, _) = app.pull_all(&li, None);
    assert!(
        pulled(&pages, "changes", "followups").contains(&f["id"].as_str().unwrap().to_string())
    );

    // Approved with nothing said: made as proposed. With an empty list:
    // none (the reviewer dropped it).
    let b = failing_record(&app, &d, &li);
    app.post(
        &format!("/api/v1/inspections/{b}/reviews"),
        &coord,
        &json!({"decision": "approve"}),
    )
    .ok(201);
    let fb = app.get(&format!("/api/v1/inspections/{b}"), &coord).ok(200)["followups"].clone();
    assert_eq!(fb[0]["title"], "污水溢流整改");
    assert_eq!(fb.as_array().unwrap().len(), 1);
    let c = failing_record(&app, &d, &li);
    app.post(
        &format!("/api/v1/inspections/{c}/reviews"),
        &coord,
        &json!({"decision": "approve", "followups": []}),
    )
    .ok(201);
    assert_eq!(
        app.get(&format!("/api/v1/inspections/{c}"), &coord).ok(200)["followups"],
        json!([])
    );
}

#[test]
fn the_review_page_shows_failed_items_first_by_section_and_approves_with_the_proposals() {
    use crate::webui::Web;
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let a = failing_record(&app, &d, &li);
    let web = Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get(&format!("/review/inspections/{a}"), &s);
    assert_eq!(page.status, 200);
    let body = &page.body;
    let at = |t: &str| body.find(t).unwrap_or_else(|| panic!("no {t} in the page"));
    // The summary, then the failed items (with the note), then the
    // sections; the flow section's heading is there, the hidden odor kind
    // is not; the proposal sits in the approval form.
    assert!(at("不合格项:2") < at("<h3>不合格项</h3>"));
    assert!(at("<h3>不合格项</h3>") < at("水流情况"));
    assert!(body.contains("井盖破裂,污水外溢"));
    assert!(
        body.contains("未完成的必填项:是否有污水溢流(缺照片)、巡查人签名"),
        "{body}"
    );
    assert!(!body.contains("异味类型"));
    assert!(body.contains("通过时将创建的整改跟踪"));
    let csrf = page.csrf();
    let version = got_version(&app, &a);
    let r = web.post(
        &format!("/review/inspections/{a}/review"),
        &s,
        &[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("decision", "approve"),
            ("comment", ""),
            ("fu[0].item_key", "overflow"),
            ("fu[0].make", "1"),
            ("fu[0].title", "修复溢流井盖"),
            ("fu[0].department", "区住建委"),
            ("fu[0].due", "2026-12-10"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let done = app
        .get(&format!("/api/v1/inspections/{a}"), &app.admin)
        .ok(200);
    assert_eq!(done["review_status"], "approved");
    assert_eq!(done["followups"][0]["title"], "修复溢流井盖");
    assert_eq!(done["followups"][0]["due_at"], "2026-12-10T15:59:59Z");
    // Unticked: not made.
    let b = failing_record(&app, &d, &li);
    let page = web.get(&format!("/review/inspections/{b}"), &s);
    let version = got_version(&app, &b);
    let r = web.post(
        &format!("/review/inspections/{b}/review"),
        &s,
        &[
            ("csrf", page.csrf().as_str()),
            ("version", version.as_str()),
            ("decision", "approve"),
            ("fu[0].item_key", "overflow"),
            ("fu[0].title", "污水溢流整改"),
            ("fu[0].department", "待指定"),
            ("fu[0].due", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let done = app
        .get(&format!("/api/v1/inspections/{b}"), &app.admin)
        .ok(200);
    assert_eq!(done["review_status"], "approved");
    assert_eq!(done["followups"], json!([]));
}

fn got_version(app: &TestApp, id: &str) -> String {
    app.get(&format!("/api/v1/inspections/{id}"), &app.admin)
        .ok(200)["version"]
        .to_string()
}

#[test]
fn reports_carry_each_item_the_repeat_rows_and_the_failures() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let (t, route, stop) = logic_stop(&app, &d);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let rec = uuid();
    let (r1, r2, r3) = (
        "0b0e5a5e-0001-4000-8000-000000000001",
        "0b0e5a5e-0002-4000-8000-000000000002",
        "0b0e5a5e-0003-4000-8000-000000000003",
    );
    let fields = json!({"title": "桃花河1号排口", "status": "submitted", "answers.flowing": true,
        "answers.color": "发黑", "answers.odor": true, "answers.odor_kind": ["腐臭", "刺鼻"], "answers.overflow": false,
        format!("answers.pipes.{r2}._seq"): 2, format!("answers.pipes.{r2}.diameter"): 1000,
        format!("answers.pipes.{r1}._seq"): 1, format!("answers.pipes.{r1}.diameter"): 300,
        format!("answers.pipes.{r1}.broken"): false,
        format!("answers.pipes.{r3}._seq"): 3, format!("answers.pipes.{r3}.diameter"): 200,
        format!("answers.pipes.{r3}._deleted"): true});
    app.push(
        &li,
        &uuid(),
        vec![record(&rec, &d, &t, &route, &stop, fields)],
        vec![],
    )
    .ok(200);

    let read = |path: &str| {
        let (s, _, body) = app.get_bytes(path, &coord, &[]);
        assert_eq!(s, 200, "{path}");
        assert!(body.starts_with(b"\xEF\xBB\xBF"));
        let mut r = csv::Reader::from_reader(&body[3..]);
        let head: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|x| x.unwrap().iter().map(String::from).collect())
            .collect();
        (head, rows)
    };
    let (head, rows) = read(&format!("/api/v1/reports/inspections.csv?template_id={t}"));
    let col = |n: &str| {
        head.iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("no column {n}: {head:?}"))
    };
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row[col("answers.color")], "发黑");
    assert_eq!(row[col("answers.odor_kind")], "腐臭 刺鼻");
    assert_eq!(row[col("answers.flowing")], "true");
    assert_eq!(
        row[col("failed")],
        format!("color odor pipes.{r2}.diameter")
    );
    assert_eq!(
        (row[col("score")].as_str(), row[col("score_max")].as_str()),
        ("3", "6")
    );
    assert!(
        !head
            .iter()
            .any(|h| h == "answers.pipes" || h == "answers.flow"),
        "{head:?}"
    );

    let (head, rows) = read("/api/v1/reports/repeat_rows.csv");
    assert_eq!(
        head,
        [
            "inspection_id",
            "site",
            "repeat",
            "row_id",
            "row_number",
            "item",
            "value",
            "failed"
        ]
    );
    let lines: Vec<(String, String, String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[3].clone(),
                r[4].clone(),
                r[5].clone(),
                r[6].clone(),
                r[7].clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                r1.into(),
                "1".into(),
                "broken".into(),
                "false".into(),
                "false".into()
            ),
            (
                r1.into(),
                "1".into(),
                "diameter".into(),
                "300".into(),
                "false".into()
            ),
            (
                r2.into(),
                "2".into(),
                "diameter".into(),
                "1000".into(),
                "true".into()
            ),
        ]
    );

    let (_, _, body) = app.get_bytes("/api/v1/reports/inspections.geojson", &coord, &[]);
    let g: Value = serde_json::from_slice(&body).unwrap();
    let props = &g["features"][0]["properties"];
    assert_eq!(props["answers"]["color"], "发黑");
    assert_eq!(props["failed"].as_array().unwrap().len(), 3);
    assert_eq!(props["score"], json!({"got": 3.0, "max": 6.0}));

    let ledger = app.get("/api/v1/reports/ledger", &coord).ok(200);
    let mine = ledger
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["username"] == "liming")
        .unwrap();
    assert_eq!(mine["failed_items"], 3);
}

/// A Chinese inspection form as an admin would write it in a spreadsheet:
/// Chinese labels beside English ones, a yes/no list, a group with a
/// condition, a repeat, our own fail_when column, and rows the subset
/// cannot take.
fn chinese_xlsform() -> Vec<u8> {
    use rust_xlsxwriter::Workbook;
    let mut book = Workbook::new();
    let survey = [
        vec![
            "type",
            "name",
            "label::English (en)",
            "label::Chinese (zh)",
            "required",
            "relevant",
            "fail_when",
            "hint",
        ],
        vec![
            "select_one yn",
            "flowing",
            "Is water flowing?",
            "排口是否有水流出",
            "yes",
            "",
            "",
            "",
        ],
        vec![
            "begin group",
            "flow",
            "Flow",
            "水流情况",
            "",
            "${flowing} = 'yes'",
            "",
            "",
        ],
        vec![
            "select_one color",
            "color",
            "Colour",
            "水体颜色",
            "yes",
            "",
            ". = 'black'",
            "看排口下游一米处",
        ],
        vec![
            "select_multiple odor",
            "odor",
            "Odour",
            "异味类型",
            "",
            "",
            "",
            "",
        ],
        vec!["end group", "", "", "", "", "", "", ""],
        vec!["begin repeat", "pipes", "Pipes", "排水管", "", "", "", ""],
        vec![
            "decimal",
            "diameter",
            "Diameter",
            "管径(毫米)",
            "yes",
            "",
            ". > 800",
            "",
        ],
        vec!["image", "pipe_photo", "Photo", "管口照片", "", "", "", ""],
        vec!["end repeat", "", "", "", "", "", "", ""],
        vec!["calculate", "total", "", "", "", "", "", ""],
        vec!["geopoint", "where", "Where", "位置", "", "", "", ""],
        vec![
            "image",
            "sign",
            "Signature",
            "巡查人签名",
            "yes",
            "",
            "",
            "",
        ],
        vec!["date", "found_on", "Found on", "发现日期", "", "", "", ""],
    ];
    let choices = [
        vec![
            "list_name",
            "name",
            "label::English (en)",
            "label::Chinese (zh)",
        ],
        vec!["yn", "yes", "Yes", "是"],
        vec!["yn", "no", "No", "否"],
        vec!["color", "clear", "Clear", "清澈"],
        vec!["color", "black", "Black", "发黑"],
        vec!["odor", "rotten", "Rotten", "腐臭"],
        vec!["odor", "sharp", "Sharp", "刺鼻"],
    ];
    let s = book.add_worksheet().set_name("survey").unwrap();
    for (r, row) in survey.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            s.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    // The signature's appearance in a column of its own at the end.
    s.write_string(0, 8, "appearance").unwrap();
    s.write_string(12, 8, "signature").unwrap();
    let c = book.add_worksheet().set_name("choices").unwrap();
    for (r, row) in choices.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            c.write_string(r as u32, i as u16, *v).unwrap();
        }
    }
    let st = book.add_worksheet().set_name("settings").unwrap();
    st.write_string(0, 0, "form_title").unwrap();
    st.write_string(1, 0, "排口巡查表(导入)").unwrap();
    book.save_to_buffer().unwrap()
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[test]
fn an_xlsform_is_previewed_then_imported_and_what_it_cannot_take_is_listed() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let file = chinese_xlsform();
    let before = app.get("/api/v1/templates", &app.admin).ok(200)["items"]
        .as_array()
        .unwrap()
        .len();
    let preview = app
        .raw(
            "POST",
            "/api/v1/templates/import?dry_run=true",
            &app.admin,
            XLSX,
            &file,
        )
        .ok(200);
    let t = &preview["template"];
    assert_eq!(t["id"], Value::Null);
    assert_eq!(t["name"], "排口巡查表(导入)");
    let items = t["items"].as_array().unwrap();
    let all: Vec<Value> = items
        .iter()
        .flat_map(|i| {
            std::iter::once(i.clone()).chain(i["items"].as_array().cloned().unwrap_or_default())
        })
        .collect();
    let by = |k: &str| {
        all.iter()
            .find(|i| i["key"] == k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k}: {t}"))
    };
    assert_eq!(by("flowing")["kind"], "yes_no");
    assert_eq!(by("flowing")["label"], "排口是否有水流出");
    assert_eq!(by("color")["options"], json!(["清澈", "发黑"]));
    // A condition comparing with a choice's name compares with its label.
    assert_eq!(by("color")["fail_when"], ". = '发黑'");
    assert_eq!(by("odor")["kind"], "multi_choice");
    assert_eq!(by("pipes")["kind"], "repeat");
    assert_eq!(by("diameter")["fail_when"], ". > 800");
    assert_eq!(by("pipe_photo")["kind"], "photo");
    assert_eq!(by("sign")["kind"], "signature");
    assert_eq!(by("found_on")["kind"], "date");
    // The group is a heading whose condition hides its items.
    let heading = items.iter().find(|i| i["label"] == "水流情况").unwrap();
    assert_eq!(heading["kind"], "section");
    assert_eq!(heading["relevant"], "(${flowing} = 'yes')");
    let unsupported: Vec<(u64, String)> = preview["unsupported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["row"].as_u64().unwrap(),
                u["column"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [(4, "hint"), (11, "type"), (12, "type")] {
        assert!(
            unsupported.contains(&(want.0, want.1.to_string())),
            "{want:?} in {unsupported:?}"
        );
    }
    assert_eq!(
        app.get("/api/v1/templates", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        before,
        "a dry run saves nothing"
    );

    // Imported for group A: a real checklist a route can use and a phone
    // can fill, its answers checked like any other.
    let saved = app
        .raw(
            "POST",
            &format!("/api/v1/templates/import?group_id={}", d.group_a),
            &app.admin,
            XLSX,
            &file,
        )
        .ok(201);
    let tid = saved["template"]["id"].as_str().unwrap().to_string();
    assert_eq!(saved["template"]["version"], 1);
    let route = app.route(&d.group_a, None, &[(&d.site_a, &tid)]);
    let stop = route["stops"][0]["id"].as_str().unwrap().to_string();
    let li = app.login("liming", PASSWORD);
    let rec = uuid();
    let r = app
        .push(
            &li,
            &uuid(),
            vec![record(
                &rec,
                &d,
                &tid,
                &id(route),
                &stop,
                json!({"answers.flowing": true, "answers.color": "发黑", "answers.odor": ["腐臭"]}),
            )],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    let got = app
        .get(&format!("/api/v1/inspections/{rec}"), &app.admin)
        .ok(200);
    assert_eq!(got["checks"]["failed"], json!(["color"]));
    assert_eq!(got["checks"]["missing_required"], json!(["sign"]));

    // Files it cannot read: 422 at `file`, nothing saved.
    for bad in [b"not a spreadsheet".to_vec(), vec![0u8; 10]] {
        let r = app.raw("POST", "/api/v1/templates/import", &app.admin, XLSX, &bad);
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.body["error"]["details"]["field"], "file");
    }
    // A published form (pyxform's real field form) imports too.
    let ucl = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/xlsform/UCL_Biomass_Plot_Form.xlsx"
    ))
    .unwrap();
    let r = app
        .raw(
            "POST",
            "/api/v1/templates/import?dry_run=true",
            &app.admin,
            XLSX,
            &ucl,
        )
        .ok(200);
    assert!(r["template"]["items"].as_array().unwrap().len() > 20);
    assert!(!r["unsupported"].as_array().unwrap().is_empty());
}

#[test]
fn an_admin_imports_an_xlsform_in_the_console_after_a_preview() {
    use crate::admin_console::{admin, hidden, upload_to};
    let upload = |web: &Web, s: &str, parts: &[(&str, Option<&str>, &[u8])]| {
        upload_to(web, "/admin/checklists/import", s, parts)
    };
    use crate::webui::Web;
    let app = TestApp::spawn();
    let web = Web::new(&app);
    let s = admin(&web);
    let list = web.get("/admin/checklists", &s);
    assert!(list.body.contains("/admin/checklists/import"));
    let csrf = web.get("/admin/checklists/import", &s).csrf();
    let file = chinese_xlsform();
    let r = upload(
        &web,
        &s,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("action", None, b"preview"),
            ("file", Some("排口巡查.xlsx"), &file),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for want in [
        "排口巡查表(导入)",
        "排口是否有水流出",
        "重复组",
        "有显示条件",
        "未导入的部分",
        "id=\"apply\"",
    ] {
        assert!(r.body.contains(want), "{want} not in the preview");
    }
    let count = || {
        app.get("/api/v1/templates", &app.admin).ok(200)["items"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(), 0, "a preview saves nothing");
    let content = hidden(&r, "content");
    let r = upload(
        &web,
        &s,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("action", None, b"apply"),
            ("name", None, "排口巡查(试用)".as_bytes()),
            ("content", None, content.as_bytes()),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(count(), 1);
    let t = &app.get("/api/v1/templates", &app.admin).ok(200)["items"][0];
    assert_eq!(t["name"], "排口巡查(试用)");
    // A file that is no form: the reason in Chinese at the file field.
    let r = upload(
        &web,
        &s,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("action", None, b"preview"),
            ("file", Some("x.xlsx"), b"not a spreadsheet"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("不是 .xlsx 文件"), "{}", r.body);
    assert_eq!(count(), 1);
}

#[test]
fn the_console_editor_orders_groups_into_repeats_and_builds_conditions_by_picking() {
    use crate::admin_console::admin;
    use crate::webui::Web;
    let app = TestApp::spawn();
    let web = Web::new(&app);
    let s = admin(&web);
    let csrf = web.get("/admin/checklists/new", &s).csrf();
    let form: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("name", "排口巡查(控制台)"),
        ("group_id", ""),
        ("action", "save"),
        // Typed out of order: seq puts "有无异味" after "是否有水".
        ("items[0].seq", "2"),
        ("items[0].label", "有无异味"),
        ("items[0].kind", "yes_no"),
        ("items[0].cond_item", "q1"),
        ("items[0].cond_op", "="),
        ("items[0].cond_value", "是"),
        ("items[1].seq", "1"),
        ("items[1].label", "是否有水"),
        ("items[1].kind", "yes_no"),
        ("items[2].seq", "3"),
        ("items[2].key", "pipes"),
        ("items[2].label", "排水管"),
        ("items[2].kind", "repeat"),
        ("items[3].seq", "4"),
        ("items[3].label", "管径"),
        ("items[3].kind", "number"),
        ("items[3].parent", "pipes"),
        ("items[3].fail_when", ". > 800"),
        ("items[4].seq", "5"),
        ("items[4].label", "破损"),
        ("items[4].kind", "yes_no"),
        ("items[4].parent", "pipes"),
    ];
    let r = web.post("/admin/checklists", &s, &form);
    assert_eq!(r.status, 303, "{}", r.body);
    let t = &app.get("/api/v1/templates", &app.admin).ok(200)["items"][0];
    let items = t["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{t}");
    assert_eq!(
        (items[0]["key"].as_str(), items[0]["label"].as_str()),
        (Some("q1"), Some("是否有水"))
    );
    assert_eq!(items[1]["relevant"], "${q1} = 'yes'");
    assert_eq!(items[2]["items"][0]["fail_when"], ". > 800");
    assert_eq!(items[2]["items"][1]["label"], "破损");
    // Opened again, the repeat's items are rows naming it, and saving
    // unchanged keeps the version.
    let id = t["id"].as_str().unwrap();
    let page = web.get(&format!("/admin/checklists/{id}"), &s);
    assert!(page.body.contains("name=\"items[3].parent\""));
    // A row naming no repeat: refused at its field, in Chinese.
    let mut bad = form.clone();
    bad.retain(|(k, _)| *k != "items[2].kind");
    bad.push(("items[2].kind", "text"));
    let r = web.post("/admin/checklists", &s, &bad);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("须是排在此项之前的重复组的编号"),
        "{}",
        r.body
    );
    // An expression that does not parse: its reason at its field.
    let mut bad = form.clone();
    bad.push(("items[1].relevant", "${q9} = = 1"));
    let r = web.post("/admin/checklists", &s, &bad);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("个字符处"), "{}", r.body);
}

#[test]
fn the_console_preview_runs_the_logic_on_trial_answers() {
    use crate::admin_console::admin;
    use crate::webui::Web;
    let app = TestApp::spawn();
    let t = id(template(&app, outfall_items()).ok(201));
    let web = Web::new(&app);
    let s = admin(&web);
    let cell = |body: &str, label: &str| -> String {
        // The result cell of the row whose first cell starts with `label`.
        let at = body
            .find(&format!("<td>{label}"))
            .unwrap_or_else(|| panic!("no row {label}"));
        let row_end = body[at..].find("</tr>").unwrap() + at;
        let last = body[at..row_end].rfind("<td>").unwrap() + at + 4;
        body[last..row_end].trim_end_matches("</td>").to_string()
    };
    let page = web.get(&format!("/admin/checklists/{t}/preview"), &s);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("试填:检验逻辑"));
    let tried = web.get(
        &format!("/admin/checklists/{t}/preview?version=1&a.flowing=no&a.overflow=yes&a.color=%E5%8F%91%E9%BB%91"),
        &s,
    );
    assert_eq!(
        cell(&tried.body, "水体颜色"),
        "隐藏",
        "no flow hides the colour"
    );
    assert_eq!(cell(&tried.body, "是否有污水溢流"), "不合格");
    assert_eq!(cell(&tried.body, "巡查人签名"), "缺少");
    let tried = web.get(
        &format!("/admin/checklists/{t}/preview?version=1&a.flowing=yes&a.color=%E5%8F%91%E9%BB%91&a.sign=1"),
        &s,
    );
    assert_eq!(cell(&tried.body, "水体颜色"), "不合格");
    assert_eq!(cell(&tried.body, "巡查人签名"), "显示");
    assert!(tried.body.contains("不合格项:1"));
}

#[test]
fn two_reviewers_approving_at_once_make_the_follow_ups_once() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let rec = failing_record(&app, &d, &li);
    let coord = app.login("zhoumin", PASSWORD);
    let path = format!("/api/v1/inspections/{rec}/reviews");
    let answers: Vec<u16> = std::thread::scope(|s| {
        let a = s.spawn(|| {
            app.post(&path, &coord, &json!({"decision": "approve"}))
                .status
        });
        let b = s.spawn(|| {
            app.post(&path, &app.admin, &json!({"decision": "approve"}))
                .status
        });
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let mut sorted = answers.clone();
    sorted.sort();
    assert_eq!(sorted, [201, 409], "{answers:?}");
    let got = app
        .get(&format!("/api/v1/inspections/{rec}"), &coord)
        .ok(200);
    assert_eq!(
        got["followups"].as_array().unwrap().len(),
        1,
        "{}",
        got["followups"]
    );
    assert_eq!(got["reviews"].as_array().unwrap().len(), 1);
}
