//! A site's file (一点一档, `GET /api/v1/sites/{id}/history` and its page):
//! every inspection at the site and every quick report of its group within
//! its radius, each followed by its relay (reviews, hand-offs, responses,
//! verification), in time order, with photos. Read from what each step
//! already wrote, through the records' own timelines (`timeline::of`):
//! nothing is kept twice, and who sees what is the records' scope.

use super::timeline::{self, Step, StepKind, Timeline};
use crate::auth::Caller;
use crate::db::Conn;
use crate::db::schema::inspections;
use crate::error::AppResult;
use crate::inspection::{self, Photo, RecordKind, RecordScope, Row};
use crate::photos::urls::Signer;
use diesel::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The most records one file shows (the newest): a site visited weekly
/// for ten years.
pub const MAX_RECORDS: i64 = 600;

/// A photo as a file's step carries it: enough to show and open it.
fn photo_ref(p: &Photo) -> Value {
    json!({
        "id": p.id,
        "kind": p.kind,
        "caption": p.caption,
        "item_key": p.item_key,
        "taken_at": p.taken_at,
        "status": p.status,
        "urls": p.urls,
    })
}

/// The site's file, oldest first.
pub fn of(c: &mut Conn, caller: &Caller, site_id: &str, signer: &Signer) -> AppResult<Timeline> {
    let site = crate::reference::sites::get(c, caller, site_id)?;
    let scoped = |q: inspections::BoxedQuery<'static, crate::db::MultiBackend>| {
        match RecordScope::of(caller) {
            RecordScope::All => Some(q),
            RecordScope::Group(g) => Some(q.filter(inspections::group_id.eq(g))),
            RecordScope::Owner(o) => Some(q.filter(inspections::inspector_id.eq(o))),
            RecordScope::Nothing => None,
        }
    };
    let live = || {
        inspections::table
            .filter(inspections::deleted.eq(false))
            .filter(inspections::review_status.ne("pending"))
            .into_boxed()
    };
    let mut rows: Vec<Row> =
        match scoped(live().filter(inspections::site_id.eq(site_id.to_string()))) {
            Some(q) => q
                .order(inspections::created_at.desc())
                .limit(MAX_RECORDS)
                .select(Row::as_select())
                .load(c)?,
            None => vec![],
        };
    // Quick reports of the site's group within its radius: a box first
    // (the position index), then the distance.
    let dlat = site.radius_m / 111_000.0;
    let dlon = dlat / site.lat.to_radians().cos().abs().max(0.01);
    if let Some(q) = scoped(
        live()
            .filter(inspections::kind.eq(RecordKind::Report.as_str()))
            .filter(inspections::group_id.eq(site.group_id.clone()))
            .filter(inspections::lat.between(site.lat - dlat, site.lat + dlat))
            .filter(inspections::lon.between(site.lon - dlon, site.lon + dlon)),
    ) {
        let near: Vec<Row> = q
            .order(inspections::created_at.desc())
            .limit(MAX_RECORDS)
            .select(Row::as_select())
            .load(c)?;
        rows.extend(near);
    }
    let records: Vec<inspection::Inspection> = inspection::views(c, rows, signer)?
        .into_iter()
        .filter(|r| {
            r.site_id.as_deref() == Some(site_id)
                || inspection::position(r.fields.get("location")).is_some_and(|(a, b)| {
                    inspection::distance_m(a, b, site.lat, site.lon) <= site.radius_m
                })
        })
        .collect();
    let mut items = Vec::new();
    for r in &records {
        let title = r
            .fields
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let text = match r.kind {
            RecordKind::Inspection => format!("巡查：{title}"),
            RecordKind::Report => format!("随手拍：{title}"),
        };
        let photos: Vec<Value> = r
            .photos
            .iter()
            .filter(|p| !p.deleted && p.response_id.is_none())
            .map(photo_ref)
            .collect();
        let steps = timeline::of(c, caller, &r.id)?;
        let by = steps
            .items
            .iter()
            .find(|s| s.kind == StepKind::Received)
            .and_then(|s| s.by.clone());
        items.push(Step {
            at: r.created_at,
            kind: StepKind::Inspection,
            by,
            text,
            refs: json!({
                "inspection_id": r.id,
                "record_kind": r.kind,
                "review_status": r.review_status,
                "failed": r.checks.failed,
                "photos": photos,
            }),
        });
        // The record's relay after it arrived; a response with its evidence.
        let evidence = response_media(c, &steps, signer)?;
        for mut s in steps.items {
            if matches!(s.kind, StepKind::Captured | StepKind::Received) {
                continue;
            }
            if let Some(obj) = s.refs.as_object_mut() {
                obj.insert("inspection_id".into(), json!(r.id));
                if let Some(media) = obj
                    .get("response_id")
                    .and_then(Value::as_str)
                    .and_then(|id| evidence.get(id))
                {
                    obj.insert("photos".into(), json!(media));
                }
            }
            items.push(s);
        }
    }
    items.sort_by_key(|s| (s.at, s.kind));
    Ok(Timeline { items })
}

/// The evidence of each response in a record's timeline, by response id.
fn response_media(
    c: &mut Conn,
    steps: &Timeline,
    signer: &Signer,
) -> AppResult<HashMap<String, Vec<Value>>> {
    use crate::db::schema::photos;
    let ids: Vec<&str> = steps
        .items
        .iter()
        .filter_map(|s| s.refs.get("response_id").and_then(Value::as_str))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let media: Vec<String> = photos::table
        .filter(photos::response_id.eq_any(&ids))
        .filter(photos::deleted.eq(false))
        .order(photos::id)
        .select(photos::id)
        .load(c)?;
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    for p in inspection::photo_views(c, &media, signer)? {
        if let Some(r) = &p.response_id {
            out.entry(r.clone()).or_default().push(photo_ref(&p));
        }
    }
    Ok(out)
}
