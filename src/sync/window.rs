//! The phones' history window (`FIELDSYNC_PHONE_HISTORY_DAYS`): a record
//! that is closed and has been quiet for longer than the window is not sent
//! to phones, and leaves the phones that hold it (as a `deleted` entry of
//! their next pull). The server keeps everything; the web pages, reports
//! and exports are not windowed. One rule, here: what "past the window"
//! means.
//!
//! A record is past the window when all of these hold:
//! - its review is over (approved or rejected: no edit is taken any more);
//! - it has not changed since the window's start (`updated_at`; a review,
//!   an override or an edit moves it);
//! - none of its follow-ups is still to be verified (the relay is live).
//!
//! Its photos, reviews and conflicts go with it; follow-ups are never
//! windowed (they are few, and a department's answer may come late).

use crate::db::Conn;
use crate::db::schema::{followups, inspections, photos};
use crate::error::AppResult;
use crate::inspection::RecordScope;
use crate::inspection::ReviewStatus;
use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use std::collections::HashSet;

/// Review states that end a record's work.
fn closed() -> [&'static str; 2] {
    [
        ReviewStatus::Approved.as_str(),
        ReviewStatus::Rejected.as_str(),
    ]
}

/// A follow-up's last state: any other keeps its record on the phones.
const FOLLOWUP_DONE: &str = "verified";

/// The window's start for a pull now, if the district keeps one.
pub fn cutoff(days: u32, now: NaiveDateTime) -> Option<NaiveDateTime> {
    (days > 0).then(|| now - chrono::Duration::days(i64::from(days)))
}

/// Of these inspections, those past the window that starts at `cutoff`.
pub fn aged(c: &mut Conn, ids: &[String], cutoff: NaiveDateTime) -> AppResult<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(500) {
        let found: Vec<String> = inspections::table
            .filter(inspections::id.eq_any(chunk))
            .filter(inspections::review_status.eq_any(closed()))
            .filter(inspections::updated_at.lt(cutoff))
            .filter(not(exists(
                followups::table
                    .filter(followups::inspection_id.eq(inspections::id))
                    .filter(followups::status.ne(FOLLOWUP_DONE)),
            )))
            .select(inspections::id)
            .load(c)?;
        out.extend(found);
    }
    Ok(out)
}

/// The records of `scope` that passed out of the window between two pulls
/// (the window started at `from` then and starts at `to` now), with their
/// photos: what a phone that holds them drops.
pub fn passed_out(
    c: &mut Conn,
    scope: &RecordScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> AppResult<(Vec<String>, Vec<String>)> {
    if from >= to {
        return Ok((Vec::new(), Vec::new()));
    }
    let q = inspections::table
        .filter(inspections::review_status.eq_any(closed()))
        .filter(inspections::updated_at.ge(from))
        .filter(inspections::updated_at.lt(to))
        .filter(not(exists(
            followups::table
                .filter(followups::inspection_id.eq(inspections::id))
                .filter(followups::status.ne(FOLLOWUP_DONE)),
        )))
        .select(inspections::id)
        .into_boxed();
    let q = match scope {
        RecordScope::All => q,
        RecordScope::Group(g) => q.filter(inspections::group_id.eq(g.clone())),
        RecordScope::Owner(o) => q.filter(inspections::inspector_id.eq(o.clone())),
        RecordScope::Nothing => return Ok((Vec::new(), Vec::new())),
    };
    let records: Vec<String> = q.load(c)?;
    let mut photo_ids = Vec::new();
    for chunk in records.chunks(500) {
        let found: Vec<String> = photos::table
            .filter(photos::inspection_id.eq_any(chunk))
            .select(photos::id)
            .load(c)?;
        photo_ids.extend(found);
    }
    Ok((records, photo_ids))
}

/// The records of these follow-ups that are still to be verified.
pub fn records_of_open_followups(c: &mut Conn, ids: &[String]) -> AppResult<Vec<String>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let found: Vec<String> = followups::table
            .filter(followups::id.eq_any(chunk))
            .filter(followups::status.ne(FOLLOWUP_DONE))
            .select(followups::inspection_id)
            .load(c)?;
        out.extend(found);
    }
    out.sort();
    out.dedup();
    Ok(out)
}
