//! The sync invariants one at a time, each as the case that broke them:
//! change-log scope, base versions, reused batch ids, overrides that would
//! overwrite unseen data, edit/delete races, duplicate conflicts, photos
//! of deleted records, photo metadata merges, phantom versions.

use crate::helpers::*;
use serde_json::{Value, json};

fn inspection(app: &TestApp, id: &str, token: &str) -> Value {
    app.get(&format!("/api/v1/inspections/{id}"), token).ok(200)
}

fn conflicts_of(app: &TestApp, id: &str, token: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/conflicts?inspection_id={id}"), token)
        .ok(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

const T1: &str = "2026-11-20T03:00:00Z";
const T2: &str = "2026-11-20T04:00:00Z";
const T3: &str = "2026-11-20T05:00:00Z";

#[test]
fn a_moved_route_reaches_its_new_group_whatever_else_touches_it() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let stop = app.first_stop(&d.route_a);
    // Liming submits an inspection at the route's stop.
    let id = uuid();
    let mut item = new_inspection(&id, &d, json!({"title": "排口", "status": "submitted"}), T0);
    item["route_id"] = json!(d.route_a);
    item["stop_id"] = json!(stop);
    app.push(&li, &uuid(), vec![item], vec![]).ok(200);
    // The admin moves the route to group B.
    app.patch(
        &format!("/api/v1/routes/{}", d.route_a),
        &app.admin,
        &json!({"group_id": d.group_b, "stops": [{"site_id": d.site_b, "template_id": d.template}]}),
    )
    .ok(200);
    // Liming withdraws the old inspection: that touches the route's
    // change-log entry, which must stay under the route's own group.
    app.push(
        &li,
        &uuid(),
        vec![edit(&id, 1, json!({"status": "draft"}), T1)],
        vec![],
    )
    .ok(200);
    // A new phone of group B gets the route; group A's inspector does not.
    let cg = app.login("chengang", PASSWORD);
    let (pages, _) = app.pull_all(&cg, None);
    assert!(pulled(&pages, "changes", "routes").contains(&d.route_a));
    let (pages, _) = app.pull_all(&li, None);
    assert!(!pulled(&pages, "changes", "routes").contains(&d.route_a));
}

#[test]
fn a_base_version_above_the_record_is_rejected_and_changes_nothing() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let id = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(&id, &d, json!({"notes": "原始"}), T0)],
        vec![],
    )
    .ok(200);
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(&id, 99, json!({"notes": "跳过冲突检测"}), T1)],
            vec![],
        )
        .ok(200);
    let res = &r["results"][0];
    assert_eq!(res["status"], "rejected");
    assert_eq!(res["error"]["code"], "invalid_value");
    assert_eq!(res["error"]["field"], "base_version");
    assert_eq!(
        (res["version"].as_i64(), &res["fields"]["notes"]),
        (Some(1), &json!("原始"))
    );
    let now = inspection(&app, &id, &li);
    assert_eq!(
        (now["version"].as_i64(), &now["fields"]["notes"]),
        (Some(1), &json!("原始"))
    );
    // A record the server has never seen has version 0.
    let mut fresh = new_inspection(&uuid(), &d, json!({"notes": "x"}), T0);
    fresh["base_version"] = json!(3);
    let r = app.push(&li, &uuid(), vec![fresh], vec![]).ok(200);
    assert_eq!(r["results"][0]["error"]["field"], "base_version");
}

#[test]
fn a_reused_batch_id_with_other_content_is_refused_whole() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let (device, batch) = (uuid(), uuid());
    let (a, b) = (uuid(), uuid());
    let first = app
        .push_batch(
            &li,
            &device,
            &batch,
            vec![new_inspection(&a, &d, json!({"title": "一"}), T0)],
            vec![],
        )
        .ok(200);
    // The same batch again (keys in another order): the stored answer.
    let body = format!(
        r#"{{"inspections":[{{"changed_at":{{"title":"{T0}"}},"fields":{{"title":"一"}},"template_id":"{}","site_id":"{}","base_version":0,"id":"{a}"}}],"batch_id":"{batch}","device_id":"{device}"}}"#,
        d.template, d.site_a
    );
    let again = app
        .raw(
            "POST",
            "/api/v1/sync/push",
            &li,
            "application/json",
            body.as_bytes(),
        )
        .ok(200);
    assert_eq!(first, again);
    // Another batch under the same id: refused, nothing applied.
    let r = app.push_batch(
        &li,
        &device,
        &batch,
        vec![new_inspection(&b, &d, json!({"title": "二"}), T0)],
        vec![],
    );
    assert_eq!((r.status, r.code()), (409, "batch_id_reused"));
    assert_eq!(
        app.get(&format!("/api/v1/inspections/{b}"), &li).status,
        404
    );
    // The same batch id from another device is another batch.
    app.push_batch(
        &li,
        &uuid(),
        &batch,
        vec![new_inspection(&b, &d, json!({"title": "二"}), T0)],
        vec![],
    )
    .ok(200);
}

/// A record liming's first phone made, then a conflict over its notes: the
/// first phone's "一" (base 1) against the second phone's "二" (base 1, an
/// earlier clock). Returns (record id, conflict id, phone 1, phone 2).
fn conflict_over_notes(app: &TestApp, d: &District, li: &str) -> (String, String, String, String) {
    let (p1, p2, id) = (uuid(), uuid(), uuid());
    app.push(
        li,
        &p1,
        vec![new_inspection(&id, d, json!({"notes": "原始"}), T0)],
        vec![],
    )
    .ok(200);
    app.push(
        li,
        &p1,
        vec![edit(&id, 1, json!({"notes": "一"}), T2)],
        vec![],
    )
    .ok(200);
    let r = app
        .push(
            li,
            &p2,
            vec![edit(&id, 1, json!({"notes": "二"}), T1)],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "merged");
    let cid = r["results"][0]["conflicts"][0]["conflict_id"]
        .as_str()
        .unwrap()
        .to_string();
    (id, cid, p1, p2)
}

#[test]
fn an_override_never_overwrites_a_newer_value_nor_undeletes_unseen() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);

    // A newer value arrived after the conflict: keeping the old discarded
    // one would overwrite it unseen.
    let (id, cid, p1, _) = conflict_over_notes(&app, &d, &li);
    app.push(
        &li,
        &p1,
        vec![edit(&id, 2, json!({"notes": "三"}), T3)],
        vec![],
    )
    .ok(200);
    let r = app.post(
        &format!("/api/v1/conflicts/{cid}/resolve"),
        &coord,
        &json!({"keep": "discarded"}),
    );
    assert_eq!((r.status, r.code()), (409, "stale"));
    assert_eq!(inspection(&app, &id, &coord)["fields"]["notes"], "三");
    assert_eq!(conflicts_of(&app, &id, &coord)[0]["status"], "open");
    // Keeping the kept value closes it and writes nothing.
    app.post(
        &format!("/api/v1/conflicts/{cid}/resolve"),
        &coord,
        &json!({"keep": "kept"}),
    )
    .ok(200);
    assert_eq!(inspection(&app, &id, &coord)["version"], 3);

    // The record was deleted after an ordinary conflict: no undelete.
    let (id, cid, p1, _) = conflict_over_notes(&app, &d, &li);
    app.push(
        &li,
        &p1,
        vec![json!({"id": id, "base_version": 2, "deleted": true, "changed_at": {"deleted": T3}})],
        vec![],
    )
    .ok(200);
    let r = app.post(
        &format!("/api/v1/conflicts/{cid}/resolve"),
        &coord,
        &json!({"keep": "discarded"}),
    );
    assert_eq!((r.status, r.code()), (409, "stale"));
    assert_eq!(inspection(&app, &id, &coord)["deleted"], true);

    // With no newer value, keeping the discarded one writes it as a new
    // version that every device pulls.
    let (id, cid, _, _) = conflict_over_notes(&app, &d, &li);
    let (_, cursor) = app.pull_all(&li, None);
    let c = app
        .post(
            &format!("/api/v1/conflicts/{cid}/resolve"),
            &coord,
            &json!({"keep": "discarded"}),
        )
        .ok(200);
    assert_eq!(c["status"], "resolved");
    let p = app
        .get(&format!("/api/v1/sync/pull?cursor={cursor}"), &li)
        .ok(200);
    let pulled = &p["changes"]["inspections"][0];
    assert_eq!(pulled["id"], id.as_str());
    assert_eq!(
        (
            pulled["fields"]["notes"].as_str(),
            pulled["version"].as_i64()
        ),
        (Some("二"), Some(3))
    );
}

/// Pushes an edit and a delete of `id` (version 1) from two phones in the
/// given order; returns both answers' results.
fn race(app: &TestApp, li: &str, id: &str, delete_first: bool) -> (Value, Value) {
    let (p1, p2) = (uuid(), uuid());
    let del = json!({"id": id, "base_version": 1, "deleted": true, "changed_at": {"deleted": T2}});
    let ed = edit(id, 1, json!({"notes": "现场补记"}), T1);
    if delete_first {
        let a = app.push(li, &p1, vec![del], vec![]).ok(200);
        let b = app.push(li, &p2, vec![ed], vec![]).ok(200);
        (a["results"][0].clone(), b["results"][0].clone())
    } else {
        let b = app.push(li, &p2, vec![ed], vec![]).ok(200);
        let a = app.push(li, &p1, vec![del], vec![]).ok(200);
        (a["results"][0].clone(), b["results"][0].clone())
    }
}

#[test]
fn an_edit_racing_a_delete_is_logged_in_either_arrival_order() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    for delete_first in [true, false] {
        let id = uuid();
        app.push(
            &li,
            &uuid(),
            vec![new_inspection(&id, &d, json!({"notes": "原始"}), T0)],
            vec![],
        )
        .ok(200);
        let (del, ed) = race(&app, &li, &id, delete_first);
        // The later answer says the record is deleted, whichever it was.
        let later = if delete_first { &ed } else { &del };
        assert_eq!(later["deleted"], true, "{later}");
        assert_eq!(later["status"], "merged", "{later}");
        let rec = inspection(&app, &id, &coord);
        assert_eq!(rec["deleted"], true);
        let logged = conflicts_of(&app, &id, &coord);
        assert_eq!(logged.len(), 1, "delete first: {delete_first}: {logged:?}");
        let c = &logged[0];
        assert_eq!(
            (
                &c["field"],
                &c["discarded"],
                &c["kept"],
                &c["against_deletion"],
                &c["status"]
            ),
            (
                &json!("notes"),
                &json!("现场补记"),
                &Value::Null,
                &json!(true),
                &json!("open")
            ),
            "delete first: {delete_first}"
        );
        // Keeping the edit restores the record with it.
        app.post(
            &format!("/api/v1/conflicts/{}/resolve", c["id"].as_str().unwrap()),
            &coord,
            &json!({"keep": "discarded"}),
        )
        .ok(200);
        let rec = inspection(&app, &id, &coord);
        assert_eq!(
            (&rec["deleted"], &rec["fields"]["notes"]),
            (&json!(false), &json!("现场补记"))
        );
    }
}

#[test]
fn a_losing_value_sent_again_is_not_logged_twice() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let (id, cid, _, p2) = conflict_over_notes(&app, &d, &li);
    // The second phone never heard the answer and sends the value again in
    // a new batch.
    let r = app
        .push(
            &li,
            &p2,
            vec![edit(&id, 1, json!({"notes": "二"}), T1)],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["conflicts"][0]["conflict_id"], cid.as_str());
    let open: Vec<Value> = conflicts_of(&app, &id, &li)
        .into_iter()
        .filter(|c| c["status"] == "open")
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
}

#[test]
fn a_photo_of_a_deleted_record_is_never_live_until_the_record_is_restored() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let id = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(&id, &d, json!({"notes": "原始"}), T0)],
        vec![],
    )
    .ok(200);
    // One phone deletes the record; another, not knowing, adds a photo
    // (with its bytes) and an edit.
    let (p1, p2, photo) = (uuid(), uuid(), uuid());
    app.push(
        &li,
        &p1,
        vec![json!({"id": id, "base_version": 1, "deleted": true, "changed_at": {"deleted": T2}})],
        vec![],
    )
    .ok(200);
    let batch = json!({"device_id": p2, "batch_id": uuid(),
        "inspections": [edit(&id, 1, json!({"notes": "补拍"}), T1)],
        "photos": [photo_meta(&photo, &id, &bytes, "image/jpeg")]});
    let r = app
        .push_multipart(&li, &batch, &[(photo.as_str(), &bytes)])
        .ok(200);
    assert_eq!(r["results"][1]["status"], "applied", "{r}");
    let (pages, _) = app.pull_all(&coord, None);
    assert!(!pulled(&pages, "changes", "photos").contains(&photo));
    assert!(pulled(&pages, "deleted", "photos").contains(&photo));
    let (status, _, _) = app.get_bytes(&format!("/api/v1/photos/{photo}/thumb"), &coord, &[]);
    assert_eq!(status, 404);

    // The coordinator keeps the edit against the deletion: the record
    // and its photo come back.
    let (_, cursor) = app.pull_all(&coord, None);
    let c = conflicts_of(&app, &id, &coord)
        .into_iter()
        .find(|c| c["against_deletion"] == true)
        .expect("the edit against the deletion is logged");
    app.post(
        &format!("/api/v1/conflicts/{}/resolve", c["id"].as_str().unwrap()),
        &coord,
        &json!({"keep": "discarded"}),
    )
    .ok(200);
    let (pages, _) = app.pull_all(&coord, Some(&cursor));
    assert!(pulled(&pages, "changes", "photos").contains(&photo));
    assert!(pulled(&pages, "changes", "inspections").contains(&id));
    let p = app.wait_photo(&coord, &photo);
    assert_eq!(p["deleted"], false);
}

#[test]
fn photo_metadata_merges_per_field_and_conflicts_are_logged() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let coord = app.login("zhoumin", PASSWORD);
    let bytes = fixture("canon_sx530_IMG_1054.jpg");
    let (id, photo, p1, p2) = (uuid(), uuid(), uuid(), uuid());
    let mut meta = photo_meta(&photo, &id, &bytes, "image/jpeg");
    meta["caption"] = json!("近景");
    meta["changed_at"] = json!({"caption": T2});
    let r = app
        .push(
            &li,
            &p1,
            vec![new_inspection(&id, &d, json!({"title": "排口"}), T0)],
            vec![meta.clone()],
        )
        .ok(200);
    assert_eq!(r["results"][1]["version"], 1);
    // The other phone changed the caption earlier and the position later,
    // from version 0 of the photo.
    let mut other = meta.clone();
    other["caption"] = json!("远景");
    other["location"] = json!({"lat": 29.8572, "lon": 107.0813, "accuracy_m": 5});
    other["changed_at"] = json!({"caption": T1, "location": T3});
    let r = app.push(&li, &p2, vec![], vec![other]).ok(200);
    let res = &r["results"][0];
    assert_eq!(res["status"], "merged", "{res}");
    assert_eq!(res["fields"]["caption"], "近景");
    assert_eq!(res["fields"]["location"]["lat"], 29.8572);
    let note = &res["conflicts"][0];
    assert_eq!(note["field"], format!("photos.{photo}.caption"));
    assert_eq!(note["discarded"], "远景");
    // The coordinator keeps the other caption: the photo's next version.
    app.post(
        &format!(
            "/api/v1/conflicts/{}/resolve",
            note["conflict_id"].as_str().unwrap()
        ),
        &coord,
        &json!({"keep": "discarded"}),
    )
    .ok(200);
    let photos = app.pulled_photos(&li);
    assert_eq!(photos[&photo]["caption"], "远景");
    assert_eq!(photos[&photo]["location"]["lon"], 107.0813);
}

#[test]
fn a_write_that_changes_nothing_makes_no_version() {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let li = app.login("liming", PASSWORD);
    let id = uuid();
    app.push(
        &li,
        &uuid(),
        vec![new_inspection(&id, &d, json!({"title": "排口"}), T0)],
        vec![],
    )
    .ok(200);
    let (_, cursor) = app.pull_all(&li, None);
    // Clearing a field that was never set, and resending a value.
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(&id, 1, json!({"notes": null, "title": "排口"}), T1)],
            vec![],
        )
        .ok(200);
    assert_eq!(
        (&r["results"][0]["status"], &r["results"][0]["version"]),
        (&json!("unchanged"), &json!(1))
    );
    // Nothing to pull, and a later edit from version 1 applies cleanly.
    let p = app
        .get(&format!("/api/v1/sync/pull?cursor={cursor}"), &li)
        .ok(200);
    assert_eq!(p["changes"]["inspections"], json!([]));
    let r = app
        .push(
            &li,
            &uuid(),
            vec![edit(&id, 1, json!({"notes": "新"}), T0)],
            vec![],
        )
        .ok(200);
    assert_eq!(r["results"][0]["status"], "applied");
    // A record pushed with no field yet still comes to be, at version 1.
    let bare = uuid();
    let r = app
        .push(
            &li,
            &uuid(),
            vec![new_inspection(&bare, &d, json!({}), T0)],
            vec![],
        )
        .ok(200);
    assert_eq!(
        (&r["results"][0]["status"], &r["results"][0]["version"]),
        (&json!("applied"), &json!(1))
    );
    assert_eq!(inspection(&app, &bare, &li)["version"], 1);
}
