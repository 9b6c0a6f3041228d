//! A site's file (issue 25, 一点一档): every record at the site and every
//! quick report of its group within its radius, with their relay and
//! photos, oldest first; the next person (the coordinator, a department's
//! answer, a re-inspection) seen in it; scope as every read; and the page
//! reached from the places a site is named.

use crate::helpers::*;
use crate::responses::{dispatched, relay};
use serde_json::{Value, json};

fn kinds(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A record of group A with a photo, submitted, handed to the environment
/// bureau, which answers "resolved" with a photo of the repair: `(record,
/// its photo, the follow-up, the evidence)`.
pub fn repaired(app: &TestApp, r: &crate::responses::Relay) -> (String, String, String, String) {
    let (rec, photo, fid) = dispatched(app, r, &r.env);
    app.push(
        &r.li,
        &uuid(),
        vec![edit(
            &rec,
            1,
            json!({"status": "submitted"}),
            "2026-11-20T03:00:00Z",
        )],
        vec![],
    )
    .ok(200);
    let jpg = fixture("xiaomi_IMG_20191224_234846.jpg");
    let media = uuid();
    let body = json!({"id": uuid(), "note": "管道已修复", "status": "resolved",
        "media": [{"id": media, "sha256": sha256_hex(&jpg), "bytes": jpg.len(),
                   "content_type": "image/jpeg", "caption": "修复后"}]});
    let (ct, bytes) = multipart_named("response", &body, &[(media.as_str(), &jpg)]);
    app.raw(
        "POST",
        &format!("/api/v1/followups/{fid}/responses"),
        &r.env_member,
        &ct,
        &bytes,
    )
    .ok(201);
    (rec, photo, fid, media)
}

#[test]
fn a_sites_file_tells_everything_at_it_in_order_with_photos_and_keeps_to_scope() {
    let app = TestApp::spawn();
    let r = relay(&app);
    let d = &r.d;
    let (rec, photo, fid, media) = repaired(&app, &r);
    // A quick report beside the site (within its 80 m), one far away, and
    // one of another group at the same place.
    let (near, far, other) = (uuid(), uuid(), uuid());
    app.push(
        &r.li,
        &uuid(),
        vec![
            crate::reports_quick::quick_report(&near, "排口旁黑水", "normal", T0),
            {
                let mut x = crate::reports_quick::quick_report(&far, "远处的垃圾", "normal", T0);
                x["fields"]["location"]["lat"] = json!(29.9);
                x
            },
        ],
        vec![],
    )
    .ok(200);
    let cheng = r.env_member.clone();
    app.push(
        &cheng,
        &uuid(),
        vec![crate::reports_quick::quick_report(
            &other,
            "云集组的随手拍",
            "normal",
            T0,
        )],
        vec![],
    )
    .ok(200);
    // A draft at the site is not in the file; group B's site is not either.
    let draft = uuid();
    app.push(
        &r.li,
        &uuid(),
        vec![new_inspection(&draft, d, json!({"title": "草稿"}), T0)],
        vec![],
    )
    .ok(200);

    let file = app
        .get(&format!("/api/v1/sites/{}/history", d.site_a), &r.coord)
        .ok(200);
    let items = file["items"].as_array().unwrap();
    // Oldest first.
    let times: Vec<&str> = items.iter().map(|s| s["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by_key(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap());
    assert_eq!(times, sorted);
    let records: Vec<&str> = items
        .iter()
        .filter(|s| s["kind"] == "inspection")
        .map(|s| s["refs"]["inspection_id"].as_str().unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{file}");
    assert!(records.contains(&rec.as_str()) && records.contains(&near.as_str()));
    let k = kinds(&file);
    assert!(
        k.contains(&"dispatched".to_string()) && k.contains(&"response".to_string()),
        "{k:?}"
    );
    // The record's own photo on its item, the evidence on the response.
    let rec_item = items
        .iter()
        .find(|s| s["kind"] == "inspection" && s["refs"]["inspection_id"] == rec.as_str())
        .unwrap();
    assert_eq!(rec_item["refs"]["photos"][0]["id"], photo.as_str());
    assert!(rec_item["refs"]["photos"][0]["urls"]["thumb"].is_string());
    assert!(rec_item["by"]["display_name"].is_string());
    let answer = items.iter().find(|s| s["kind"] == "response").unwrap();
    assert_eq!(answer["refs"]["photos"][0]["id"], media.as_str());
    assert_eq!(answer["refs"]["followup_id"], fid.as_str());
    assert!(answer["text"].as_str().unwrap().contains("管道已修复"));
    let thumb = answer["refs"]["photos"][0]["urls"]["thumb"]
        .as_str()
        .unwrap();
    assert_eq!(app.get_bytes(thumb, "", &[]).0, 200, "a signed URL opens");

    // Scope: group B's people do not see group A's site; the inspector
    // sees their own records at it.
    assert_eq!(
        app.get(&format!("/api/v1/sites/{}/history", d.site_a), &cheng)
            .status,
        404
    );
    let own = app
        .get(&format!("/api/v1/sites/{}/history", d.site_a), &r.li)
        .ok(200);
    assert_eq!(
        own["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == "inspection")
            .count(),
        2
    );
    let b_file = app
        .get(&format!("/api/v1/sites/{}/history", d.site_b), &app.admin)
        .ok(200);
    let b_records: Vec<&Value> = b_file["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "inspection")
        .collect();
    assert_eq!(b_records.len(), 1, "only group B's own report: {b_file}");
    assert_eq!(b_records[0]["refs"]["inspection_id"], other.as_str());
    assert_eq!(
        app.get(&format!("/api/v1/sites/{}/history", uuid()), &r.coord)
            .status,
        404
    );

    // The page: the before/after of the follow-up, the records, reached
    // from the record's page and the dashboard's queue filter.
    let web = crate::webui::Web::new(&app);
    let s = web.login("zhoumin").unwrap();
    let page = web.get(&format!("/review/sites/{}", d.site_a), &s);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("整改前") && page.body.contains("整改后"),
        "{}",
        page.body
    );
    assert!(page.body.contains("管道已修复"));
    assert!(page.body.contains("排口旁黑水"));
    assert!(!page.body.contains("远处的垃圾"));
    let record_page = web.get(&format!("/review/inspections/{rec}"), &s);
    assert!(
        record_page
            .body
            .contains(&format!("/review/sites/{}", d.site_a))
    );
    let queue = web.get(&format!("/review?site_id={}", d.site_a), &s);
    assert!(queue.body.contains(&format!("/review/sites/{}", d.site_a)));
    let other_site = web.get(&format!("/review/sites/{}", d.site_b), &s);
    assert_eq!(other_site.status, 404);
}
