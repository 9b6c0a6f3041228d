//! The one path that writes an inspection record. A push, a coordinator's
//! review and a conflict override all end here, so what follows from the
//! fields follows the same way whoever wrote them: the copies of fields
//! the queries use, `review_status`, the stop the record completes, the
//! follow-up a re-verification settles, the visibility of its photos, and
//! the change pull hands out.

use super::merge::Record;
use super::{RecordTag, ReviewStatus, Row, position};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{inspections, photos};
use crate::error::AppResult;
use crate::journal::{self, Entity};
use diesel::prelude::*;
use serde_json::Value;

/// What a record hangs on and who made it: fixed when it is created.
#[derive(Debug, Clone)]
pub struct Header {
    pub id: String,
    pub group_id: String,
    pub inspector_id: String,
    pub kind: super::RecordKind,
    pub site_id: Option<String>,
    pub route_id: Option<String>,
    pub stop_id: Option<String>,
    pub template_id: Option<String>,
    pub template_version: Option<i32>,
}

impl Header {
    pub fn tag(&self) -> RecordTag {
        Row::tag_of(&self.group_id, &self.inspector_id)
    }

    pub fn of(row: &Row) -> AppResult<Header> {
        Ok(Header {
            id: row.id.clone(),
            group_id: row.group_id.clone(),
            inspector_id: row.inspector_id.clone(),
            kind: row.kind()?,
            site_id: row.site_id.clone(),
            route_id: row.route_id.clone(),
            stop_id: row.stop_id.clone(),
            template_id: row.template_id.clone(),
            template_version: row.template_version,
        })
    }
}

/// The relay's events of a write: a quick report arrived (and is urgent,
/// or just became so), a record was submitted for review.
fn announce(
    c: &mut Conn,
    h: &Header,
    before: Option<&Record>,
    after: &Record,
    submitted_now: bool,
) -> AppResult<()> {
    use crate::outbox::{self, EventKind};
    if after.deleted {
        return Ok(());
    }
    let report = h.kind == super::RecordKind::Report;
    let urgent = |r: &Record| r.fields.get("urgency").and_then(Value::as_str) == Some("urgent");
    let mut kinds = Vec::new();
    if report && before.is_none() {
        kinds.push(EventKind::ReportCreated);
    }
    if report && urgent(after) && !before.is_some_and(urgent) {
        kinds.push(EventKind::ReportUrgent);
    }
    if submitted_now {
        kinds.push(EventKind::InspectionSubmitted);
    }
    if kinds.is_empty() {
        return Ok(());
    }
    let msg = message(c, h, after)?;
    for kind in kinds {
        outbox::emit(
            c,
            kind,
            outbox::Scope {
                group_id: Some(&h.group_id),
                owner_id: Some(&h.inspector_id),
                inspection_id: Some(&h.id),
                ..Default::default()
            },
            &msg,
        )?;
    }
    Ok(())
}

/// A record's message for the relay: its title, where it is (its site,
/// else its position, with its group), whether it is urgent.
pub fn message(c: &mut Conn, h: &Header, rec: &Record) -> AppResult<crate::outbox::Message> {
    use crate::db::schema::{groups, sites};
    let group: Option<String> = groups::table
        .find(&h.group_id)
        .select(groups::name)
        .first(c)
        .optional()?;
    let site: Option<String> = match &h.site_id {
        Some(s) => sites::table
            .find(s)
            .select(sites::name)
            .first(c)
            .optional()?,
        None => None,
    };
    let at = site.or_else(|| {
        position(rec.fields.get("location")).map(|(lat, lon)| format!("位置 {lat:.5}, {lon:.5}"))
    });
    let place = [group, at]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    let text = |k: &str| {
        rec.fields
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(crate::outbox::Message {
        title: text("title"),
        place,
        urgent: rec.fields.get("urgency").and_then(Value::as_str) == Some("urgent"),
        detail: text("notes").chars().take(200).collect(),
    })
}

/// The copies of a quick report's fields the queue filters and sorts by:
/// whether it is urgent, its category.
fn report_copies(h: &Header, rec: &Record) -> (bool, Option<String>) {
    if h.kind != super::RecordKind::Report {
        return (false, None);
    }
    let urgent = rec.fields.get("urgency").and_then(Value::as_str) == Some("urgent");
    let category = rec
        .fields
        .get("category")
        .and_then(Value::as_str)
        .map(str::to_string);
    (urgent, category)
}

/// The record as stored before a write.
#[derive(Debug, Clone)]
pub struct Before {
    pub record: Record,
    pub review: ReviewStatus,
}

impl Before {
    pub fn of(row: &Row) -> AppResult<Before> {
        Ok(Before {
            record: row.record()?,
            review: row.review_status()?,
        })
    }
}

/// The record's own `status` field (`draft` until it says otherwise).
pub fn field_status(rec: &Record) -> &str {
    rec.fields
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("draft")
}

fn submitted(rec: &Record) -> bool {
    !rec.deleted && field_status(rec) == "submitted"
}

/// What a write did that a layer above acts on.
#[must_use = "a submission at a stop may settle a follow-up: see review::followups::save_record"]
pub struct Saved {
    /// The review status written.
    pub review: ReviewStatus,
    /// The stop the record was just submitted at (a new version of a
    /// submitted record on a route stop): a re-verification stop's
    /// follow-up is settled by it.
    pub submitted_at_stop: Option<String>,
}

/// Writes `after` as the record's state. `review` is the review status to
/// start from (the stored one, or a reviewer's decision); the record's
/// `status` field then moves it (a submit queues it, a withdrawal takes it
/// back). Callers write through `review::followups::save_record`, which
/// settles what the returned [`Saved`] says; this layer knows nothing of
/// follow-ups.
pub fn save(
    c: &mut Conn,
    h: &Header,
    before: Option<&Before>,
    after: &Record,
    review: ReviewStatus,
) -> AppResult<Saved> {
    let status = field_status(after);
    let new_review = review.after_field_status(status);
    let unchanged = Saved {
        review: new_review,
        submitted_at_stop: None,
    };
    if let Some(b) = before
        && b.record == *after
        && b.review == new_review
    {
        return Ok(unchanged);
    }
    let meta_json = serde_json::to_string(&after.meta)?;
    if let Some(b) = before
        && b.record.version == after.version
        && b.record.deleted == after.deleted
        && b.review == new_review
    {
        // Only the remembered (changed_at, device) of an equal value moved:
        // nothing a device sees changed, so nothing to hand out.
        diesel::update(inspections::table.find(&h.id))
            .set(inspections::field_meta.eq(&meta_json))
            .execute(c)?;
        return Ok(unchanged);
    }
    let now = clock::now();
    let fields_json = serde_json::to_string(&after.fields)?;
    let (lat, lon) = match position(after.fields.get("location")) {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    let (urgent, category) = report_copies(h, after);
    // What the checklist says failed, kept with the record for the
    // dashboard's counts (null without a checklist).
    let failed = match (&h.template_id, h.template_version) {
        (Some(t), Some(v)) => Some(super::failures::column(&super::failures::failed_of(
            c,
            t,
            v,
            &after.fields,
        )?)),
        _ => None,
    };
    let old_review = before.map(|b| b.review).unwrap_or(ReviewStatus::Pending);
    let submitted_now =
        new_review == ReviewStatus::Submitted && old_review != ReviewStatus::Submitted;
    match before {
        None => {
            crate::db::execute(
                c,
                diesel::insert_into(inspections::table).values((
                    inspections::id.eq(&h.id),
                    inspections::version.eq(after.version),
                    inspections::group_id.eq(&h.group_id),
                    inspections::inspector_id.eq(&h.inspector_id),
                    inspections::site_id.eq(&h.site_id),
                    inspections::route_id.eq(&h.route_id),
                    inspections::stop_id.eq(&h.stop_id),
                    inspections::template_id.eq(&h.template_id),
                    inspections::template_version.eq(h.template_version),
                    inspections::deleted.eq(after.deleted),
                    inspections::fields.eq(&fields_json),
                    inspections::field_meta.eq(&meta_json),
                    inspections::status.eq(status),
                    inspections::lat.eq(lat),
                    inspections::lon.eq(lon),
                    inspections::review_status.eq(new_review.as_str()),
                    inspections::submitted_at.eq(submitted_now.then_some(now)),
                    inspections::created_at.eq(now),
                    inspections::created_minute.eq(crate::clock::minute(now)),
                    inspections::updated_at.eq(now),
                    inspections::kind.eq(h.kind.as_str()),
                    inspections::urgent.eq(urgent),
                    inspections::category.eq(&category),
                    inspections::failed.eq(&failed),
                )),
            )?;
        }
        Some(_) => {
            crate::db::execute(
                c,
                diesel::update(inspections::table.find(&h.id)).set((
                    inspections::version.eq(after.version),
                    inspections::deleted.eq(after.deleted),
                    inspections::fields.eq(&fields_json),
                    inspections::field_meta.eq(&meta_json),
                    inspections::status.eq(status),
                    inspections::lat.eq(lat),
                    inspections::lon.eq(lon),
                    inspections::review_status.eq(new_review.as_str()),
                    inspections::updated_at.eq(now),
                    inspections::urgent.eq(urgent),
                    inspections::category.eq(&category),
                    inspections::failed.eq(&failed),
                )),
            )?;
            if submitted_now {
                diesel::update(inspections::table.find(&h.id))
                    .set(inspections::submitted_at.eq(now))
                    .execute(c)?;
            }
        }
    }

    let before_rec = before.map(|b| &b.record);
    announce(c, h, before_rec, after, submitted_now)?;
    let version_moved = before_rec.is_none_or(|b| b.version != after.version);
    let tag = h.tag();
    journal::record_changed(c, Entity::Inspection, &h.id, &tag, before.is_none())?;
    // A submitted record marks its stop done; route lists show it.
    let was_submitted = before_rec.is_some_and(submitted);
    let is_submitted = submitted(after);
    if was_submitted != is_submitted
        && let Some(route) = &h.route_id
    {
        journal::changed(c, Entity::Route, route)?;
    }
    let submitted_at_stop = h.stop_id.clone().filter(|_| is_submitted && version_moved);
    // A record's photos live and die with it: pull hands them out again.
    if before_rec.is_some_and(|b| b.deleted != after.deleted) {
        let ids: Vec<String> = photos::table
            .filter(photos::inspection_id.eq(&h.id))
            .select(photos::id)
            .load(c)?;
        for p in ids {
            journal::record_changed(c, Entity::Photo, &p, &tag, false)?;
        }
    }
    Ok(Saved {
        review: new_review,
        submitted_at_stop,
    })
}
