//! Reports: the queue as CSV (opens in a spreadsheet with Chinese intact)
//! and GeoJSON (loads in QGIS), and the per-inspector ledger.

use super::queue::{self, QueueFilter};
use crate::auth::{Caller, Role, Scope};
use crate::db::Conn;
use crate::db::schema::{followups, inspections, photos, route_stops, sites, users};
use crate::error::{AppError, AppResult};
use crate::inspection::Inspection;
use crate::photos::urls::Signer;
use crate::sheet::cell;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// Rows read and written at a time: a report of any size streams in
/// pages of this many, with bounded memory.
pub const PAGE: i64 = 500;

/// A report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    GeoJson,
}

/// One page of a report: its bytes and where the next page starts (None:
/// this was the last). `first` puts the report's head before the rows;
/// the last page carries its tail.
pub fn page(
    c: &mut Conn,
    caller: &Caller,
    f: &QueueFilter,
    cursor: Option<String>,
    signer: &Signer,
    format: Format,
) -> AppResult<(Vec<u8>, Option<String>)> {
    let first = cursor.is_none();
    let filter = QueueFilter {
        limit: Some(PAGE),
        cursor,
        ..f.clone()
    };
    let page = queue::list(c, caller, &filter, signer)?;
    let (sites, users) = names(c, &page.items)?;
    let mut out = Vec::new();
    match format {
        Format::Csv => csv_rows(&mut out, first, &page.items, &sites, &users)?,
        Format::GeoJson => {
            if first {
                out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
            }
            for (i, r) in page.items.iter().enumerate() {
                if !(first && i == 0) {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &feature(r, &sites, &users))?;
            }
            if page.next_cursor.is_none() {
                out.extend_from_slice(b"]}");
            }
        }
    }
    Ok((out, page.next_cursor))
}

fn names(
    c: &mut Conn,
    rows: &[Inspection],
) -> AppResult<(HashMap<String, String>, HashMap<String, String>)> {
    let site_ids: Vec<&String> = rows.iter().map(|r| &r.site_id).collect();
    let user_ids: Vec<&String> = rows.iter().map(|r| &r.inspector_id).collect();
    let sites: HashMap<String, String> = sites::table
        .filter(sites::id.eq_any(site_ids))
        .select((sites::id, sites::name))
        .load::<(String, String)>(c)?
        .into_iter()
        .collect();
    let users: HashMap<String, String> = users::table
        .filter(users::id.eq_any(user_ids))
        .select((users::id, users::display_name))
        .load::<(String, String)>(c)?
        .into_iter()
        .collect();
    Ok((sites, users))
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese
/// right.
fn csv_rows(
    out: &mut Vec<u8>,
    first: bool,
    rows: &[Inspection],
    site_names: &HashMap<String, String>,
    user_names: &HashMap<String, String>,
) -> AppResult<()> {
    if first {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut w = csv::Writer::from_writer(out);
    if first {
        w.write_record([
            "id",
            "created_at",
            "site",
            "inspector",
            "title",
            "severity",
            "status",
            "review_status",
            "lat",
            "lon",
            "distance_to_site_m",
            "within_site_radius",
            "photos",
            "photos_off_site",
            "notes",
        ])
        .map_err(AppError::internal)?;
    }
    for r in rows {
        let loc = r.fields.get("location");
        w.write_record([
            r.id.clone(),
            crate::clock::for_reading(r.created_at),
            cell(site_names.get(&r.site_id).cloned().unwrap_or_default()),
            cell(user_names.get(&r.inspector_id).cloned().unwrap_or_default()),
            cell(text(r.fields.get("title"))),
            cell(text(r.fields.get("severity"))),
            cell(text(r.fields.get("status"))),
            r.review_status.as_str().to_string(),
            text(loc.and_then(|l| l.get("lat"))),
            text(loc.and_then(|l| l.get("lon"))),
            r.checks
                .distance_to_site_m
                .map(|d| d.to_string())
                .unwrap_or_default(),
            r.checks
                .within_site_radius
                .map(|b| b.to_string())
                .unwrap_or_default(),
            r.photos.iter().filter(|p| !p.deleted).count().to_string(),
            r.checks.photos_off_site.to_string(),
            cell(text(r.fields.get("notes"))),
        ])
        .map_err(AppError::internal)?;
    }
    w.flush().map_err(AppError::internal)?;
    Ok(())
}

/// One inspection as a GeoJSON Feature, at its location (a null geometry
/// when it has none), with its review status and photo count.
fn feature(
    r: &Inspection,
    site_names: &HashMap<String, String>,
    user_names: &HashMap<String, String>,
) -> Value {
    let geometry = crate::inspection::position(r.fields.get("location"))
        .map(|(lat, lon)| json!({"type": "Point", "coordinates": [lon, lat]}))
        .unwrap_or(Value::Null);
    json!({
        "type": "Feature",
        "id": r.id,
        "geometry": geometry,
        "properties": {
            "id": r.id,
            "title": text(r.fields.get("title")),
            "site": site_names.get(&r.site_id),
            "inspector": user_names.get(&r.inspector_id),
            "severity": r.fields.get("severity"),
            "review_status": r.review_status,
            "photo_count": r.photos.iter().filter(|p| !p.deleted).count(),
            "within_site_radius": r.checks.within_site_radius,
            "created_at": r.created_at,
        }
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// A date (that whole day in the district's time zone) or an RFC 3339
    /// time.
    #[param(value_type = Option<String>)]
    pub from: Option<crate::clock::Bound>,
    /// Before this time, or up to the end of this date.
    #[param(value_type = Option<String>)]
    pub to: Option<crate::clock::Bound>,
    pub group_id: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct LedgerRow {
    pub inspector_id: String,
    pub username: String,
    pub display_name: String,
    pub group_id: Option<String>,
    pub inspections: i64,
    pub approved: i64,
    pub photos: i64,
    pub followups_raised: i64,
    pub followups_resolved: i64,
    pub stops_done: i64,
}

/// Per inspector, for inspections created in `[from, to)`: how many, how
/// many approved, their photos, the follow-ups they led to and how many of
/// those are resolved or verified, and the route stops they completed.
pub fn ledger(c: &mut Conn, caller: &Caller, q: &LedgerQuery) -> AppResult<Vec<LedgerRow>> {
    let mut people = users::table
        .filter(users::role.eq(Role::Inspector.as_str()))
        .select((
            users::id,
            users::username,
            users::display_name,
            users::group_id,
        ))
        .into_boxed();
    match (caller.role, caller.scope()) {
        (Role::Inspector, _) => people = people.filter(users::id.eq(caller.id.clone())),
        (_, Scope::All) => {}
        (_, Scope::Group(g)) => people = people.filter(users::group_id.eq(g)),
        (_, Scope::Nothing) => return Ok(vec![]),
    }
    if let Some(g) = &q.group_id {
        people = people.filter(users::group_id.eq(g.clone()));
    }
    let people: Vec<(String, String, String, Option<String>)> =
        people.order(users::username).load(c)?;
    let mut rows: Vec<LedgerRow> = Vec::with_capacity(people.len());
    for (id, username, display_name, group_id) in people {
        let mut base = inspections::table
            .filter(inspections::inspector_id.eq(id.clone()))
            .filter(inspections::deleted.eq(false))
            .into_boxed();
        if let Some(t) = q.from {
            base = base.filter(inspections::created_at.ge(t.start().naive_utc()));
        }
        if let Some(t) = q.to {
            base = base.filter(inspections::created_at.lt(t.end().naive_utc()));
        }
        let ids: Vec<(String, String, String, Option<String>)> = base
            .select((
                inspections::id,
                inspections::review_status,
                inspections::status,
                inspections::stop_id,
            ))
            .load(c)?;
        // Counted a chunk of ids at a time: an inspector's years of records
        // never make one query with more variables than SQLite takes.
        let (mut photos, mut raised, mut resolved, mut stops_done) = (0i64, 0i64, 0i64, 0i64);
        for chunk in ids.chunks(500) {
            let insp_ids: Vec<&String> = chunk.iter().map(|r| &r.0).collect();
            photos += photos::table
                .filter(photos::inspection_id.eq_any(&insp_ids))
                .filter(photos::deleted.eq(false))
                .count()
                .get_result::<i64>(c)?;
            raised += followups::table
                .filter(followups::inspection_id.eq_any(&insp_ids))
                .count()
                .get_result::<i64>(c)?;
            resolved += followups::table
                .filter(followups::inspection_id.eq_any(&insp_ids))
                .filter(followups::status.eq_any(["resolved", "verified"]))
                .count()
                .get_result::<i64>(c)?;
            let stop_ids: Vec<&String> = chunk
                .iter()
                .filter(|r| r.2 == "submitted")
                .filter_map(|r| r.3.as_ref())
                .collect();
            stops_done += route_stops::table
                .filter(route_stops::id.eq_any(stop_ids))
                .count()
                .get_result::<i64>(c)?;
        }
        rows.push(LedgerRow {
            inspections: ids.len() as i64,
            approved: ids.iter().filter(|r| r.1 == "approved").count() as i64,
            inspector_id: id,
            username,
            display_name,
            group_id,
            photos,
            followups_raised: raised,
            followups_resolved: resolved,
            stops_done,
        });
    }
    Ok(rows)
}
