//! `GET /api/v1/inspections`: the queue, newest first, with every filter
//! of the contract; and one inspection with everything a reviewer needs.

use crate::auth::Caller;
use crate::clock::Bound;
use crate::db::Conn;
use crate::db::schema::{conflicts as cf, inspections, reviews as rv};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection::conflicts::{self, Conflict};
use crate::inspection::reviews::{self, Review};
use crate::inspection::{self as insp, Inspection, RecordScope, ReviewStatus, visible_row};
use crate::paging::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use crate::photos::urls::Signer;
use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueFilter {
    pub review_status: Option<ReviewStatus>,
    pub group_id: Option<String>,
    pub site_id: Option<String>,
    pub route_id: Option<String>,
    pub inspector_id: Option<String>,
    /// Records filled on this checklist (any version): the CSV report then
    /// has a column per item.
    pub template_id: Option<String>,
    /// Created at or after: a date (that whole day in the district's time
    /// zone) or an RFC 3339 time.
    #[param(value_type = Option<String>)]
    pub from: Option<Bound>,
    /// Created before (a date: up to the end of that day).
    #[param(value_type = Option<String>)]
    pub to: Option<Bound>,
    /// Only records with (true) or without (false) open conflicts.
    pub has_conflicts: Option<bool>,
    /// `inspection` or `report` (quick reports).
    pub kind: Option<crate::inspection::RecordKind>,
    /// A quick report's category: water, air, waste, fire, road, safety,
    /// livelihood, other.
    pub category: Option<String>,
    /// A quick report's urgency: normal or urgent.
    pub urgency: Option<String>,
    /// `min_lon,min_lat,max_lon,max_lat` around the record's location.
    pub bbox: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn bbox(s: &str) -> AppResult<(f64, f64, f64, f64)> {
    let v: Vec<f64> = s.split(',').filter_map(|p| p.trim().parse().ok()).collect();
    match v[..] {
        [a, b, c, d] if a <= c && b <= d && v.iter().all(|x| x.is_finite()) => Ok((a, b, c, d)),
        _ => Err(AppError::invalid(
            "bbox",
            "must be min_lon,min_lat,max_lon,max_lat",
        )),
    }
}

fn encode(t: NaiveDateTime, id: &str) -> String {
    crate::paging::seal("q1.", &[&t.and_utc().timestamp_micros().to_string(), id])
}

fn decode(s: &str) -> AppResult<(NaiveDateTime, String)> {
    let bad = || {
        AppError::bad_request(
            ErrorCode::InvalidCursor,
            "the cursor is not one this server made",
        )
    };
    let mut parts = crate::paging::open(s, "q1.", 2)?;
    let id = parts.pop().ok_or_else(bad)?;
    let micros: i64 = parts.pop().and_then(|m| m.parse().ok()).ok_or_else(bad)?;
    let t = DateTime::from_timestamp_micros(micros)
        .ok_or_else(bad)?
        .naive_utc();
    Ok((t, id))
}

pub fn list(
    c: &mut Conn,
    caller: &Caller,
    f: &QueueFilter,
    signer: &Signer,
) -> AppResult<Page<Inspection>> {
    let limit = f.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let mut q = inspections::table
        .filter(inspections::deleted.eq(false))
        .select((insp::Row::as_select(), inspections::created_at))
        .into_boxed();
    match RecordScope::of(caller) {
        RecordScope::All => {}
        RecordScope::Group(g) => q = q.filter(inspections::group_id.eq(g)),
        RecordScope::Owner(o) => q = q.filter(inspections::inspector_id.eq(o)),
        // A primary key is never null: no row.
        RecordScope::Nothing => q = q.filter(inspections::id.is_null()),
    }
    if let Some(s) = f.review_status {
        q = q.filter(inspections::review_status.eq(s.as_str()));
    }
    if let Some(v) = &f.group_id {
        q = q.filter(inspections::group_id.eq(v.clone()));
    }
    if let Some(v) = &f.site_id {
        q = q.filter(inspections::site_id.eq(v.clone()));
    }
    if let Some(v) = &f.route_id {
        q = q.filter(inspections::route_id.eq(v.clone()));
    }
    if let Some(v) = &f.template_id {
        q = q.filter(inspections::template_id.eq(v.clone()));
    }
    if let Some(v) = &f.inspector_id {
        q = q.filter(inspections::inspector_id.eq(v.clone()));
    }
    if let Some(k) = f.kind {
        q = q.filter(inspections::kind.eq(k.as_str()));
    }
    if let Some(v) = &f.category {
        if !insp::CATEGORIES.contains(&v.as_str()) {
            return Err(AppError::invalid(
                "category",
                format!("must be one of {}", insp::CATEGORIES.join(", ")),
            ));
        }
        q = q.filter(inspections::category.eq(v.clone()));
    }
    if let Some(v) = &f.urgency {
        let urgent = match v.as_str() {
            "urgent" => true,
            "normal" => false,
            _ => return Err(AppError::invalid("urgency", "must be normal or urgent")),
        };
        q = q
            .filter(inspections::kind.eq(insp::RecordKind::Report.as_str()))
            .filter(inspections::urgent.eq(urgent));
    }
    if let Some(t) = f.from {
        q = q.filter(inspections::created_at.ge(t.start().naive_utc()));
    }
    if let Some(t) = f.to {
        q = q.filter(inspections::created_at.lt(t.end().naive_utc()));
    }
    if let Some(want) = f.has_conflicts {
        let open = cf::table
            .filter(cf::status.eq(conflicts::ConflictStatus::Open.as_str()))
            .select(cf::inspection_id);
        q = if want {
            q.filter(inspections::id.eq_any(open))
        } else {
            q.filter(inspections::id.ne_all(open))
        };
    }
    if let Some(b) = &f.bbox {
        let (min_lon, min_lat, max_lon, max_lat) = bbox(b)?;
        q = q
            .filter(inspections::lat.between(min_lat, max_lat))
            .filter(inspections::lon.between(min_lon, max_lon));
    }
    if let Some(cur) = f.cursor.as_deref().filter(|s| !s.is_empty()) {
        let (t, id) = decode(cur)?;
        q = q.filter(
            inspections::created_at
                .lt(t)
                .or(inspections::created_at.eq(t).and(inspections::id.lt(id))),
        );
    }
    let mut rows: Vec<(insp::Row, NaiveDateTime)> = q
        .order((inspections::created_at.desc(), inspections::id.desc()))
        .limit(limit + 1)
        .load(c)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|(r, t)| encode(*t, &r.id))
    } else {
        None
    };
    let items = insp::views(c, rows.into_iter().map(|(r, _)| r).collect(), signer)?;
    Ok(Page { items, next_cursor })
}

/// The queue's position just after the record `id` (a cursor), for "the
/// next record" once it is decided; `not_found` outside the caller's scope.
pub fn after(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<String> {
    let row = visible_row(c, caller, id)?;
    Ok(encode(row.created_at, &row.id))
}

/// One inspection with its reviews, conflicts and follow-ups.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Detail {
    #[serde(flatten)]
    pub inspection: Inspection,
    pub reviews: Vec<Review>,
    pub conflicts: Vec<Conflict>,
    pub followups: Vec<super::followups::Followup>,
    /// While the record waits for review: the follow-ups its failed items
    /// propose, made on approval.
    pub proposed_followups: Vec<super::proposals::Proposal>,
}

pub fn detail(c: &mut Conn, caller: &Caller, id: &str, signer: &Signer) -> AppResult<Detail> {
    let row = visible_row(c, caller, id)?;
    let inspection = insp::views(c, vec![row.clone()], signer)?
        .pop()
        .ok_or_else(|| AppError::not_found("inspection"))?;
    let review_ids: Vec<String> = rv::table
        .filter(rv::inspection_id.eq(id))
        .order(rv::created_at)
        .select(rv::id)
        .load(c)?;
    let conflict_ids: Vec<String> = cf::table
        .filter(cf::inspection_id.eq(id))
        .order(cf::created_at)
        .select(cf::id)
        .load(c)?;
    let followups = super::followups::for_inspection(c, id, signer)?;
    // The view has judged the record already: only the items are read.
    let proposed_followups = if inspection.review_status == ReviewStatus::Submitted {
        let items = match row.checklist() {
            Some((t, v)) => {
                crate::reference::templates::version_items(c, t, v)?.unwrap_or_default()
            }
            None => Vec::new(),
        };
        let made: Vec<Option<String>> = followups.iter().map(|f| f.item_key.clone()).collect();
        super::proposals::proposed(c, &items, &inspection.checks.failed, &made)?
    } else {
        vec![]
    };
    Ok(Detail {
        inspection,
        reviews: reviews::by_ids(c, &review_ids)?,
        conflicts: conflicts::by_ids(c, &conflict_ids)?,
        followups,
        proposed_followups,
    })
}
