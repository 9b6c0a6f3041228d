//! The inspection record: one home for what it is (its row, its field
//! map and the merge rule), who may see it (`scope.rs`), the write of its
//! row (`write.rs`, which knows nothing of follow-ups: it reports what a
//! layer above settles), its conflicts, its photos' metadata, and how the
//! API shows it. `sync/` speaks the protocol and `review/` the
//! coordinator's actions, both through this module.

pub mod checklist;
pub mod conflicts;
pub mod failures;
pub mod fields;
pub mod merge;
pub mod photo_meta;
pub mod reviews;
pub mod scope;
mod view;
pub mod write;

pub use scope::{RecordScope, visible_row};
pub use view::*;

use crate::db::Conn;
use crate::db::schema::{inspections, photos};
use crate::error::AppResult;
pub use crate::journal::RecordTag;
pub use crate::photos::PhotoStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use merge::{Meta, Record};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Pending,
    Submitted,
    Approved,
    Returned,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Submitted => "submitted",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Returned => "returned",
            ReviewStatus::Rejected => "rejected",
        }
    }

    /// A stored value; one this server does not know is an error, never
    /// quietly "pending" (a record must not lose its review by a typo).
    pub fn parse(s: &str) -> crate::error::AppResult<ReviewStatus> {
        match s {
            "pending" => Ok(ReviewStatus::Pending),
            "submitted" => Ok(ReviewStatus::Submitted),
            "approved" => Ok(ReviewStatus::Approved),
            "returned" => Ok(ReviewStatus::Returned),
            "rejected" => Ok(ReviewStatus::Rejected),
            other => Err(crate::error::AppError::internal(format!(
                "unknown stored review status {other:?}"
            ))),
        }
    }

    /// Approved and rejected records are closed to inspectors' edits.
    pub fn locked(self) -> bool {
        matches!(self, ReviewStatus::Approved | ReviewStatus::Rejected)
    }

    /// What the review status becomes when the record's own `status` field
    /// is `status`: submitting puts a draft or a returned record in the
    /// queue; taking a queued one back to draft withdraws it.
    pub fn after_field_status(self, status: &str) -> ReviewStatus {
        match (self, status) {
            (ReviewStatus::Pending | ReviewStatus::Returned, "submitted") => {
                ReviewStatus::Submitted
            }
            (ReviewStatus::Submitted, "draft") => ReviewStatus::Pending,
            (s, _) => s,
        }
    }
}

/// What a record is: a planned inspection (at a site, with a checklist)
/// or a quick report of something seen on the way (a position, a title, a
/// category and an urgency). Set when the record is made, never changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    #[default]
    Inspection,
    Report,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Inspection => "inspection",
            RecordKind::Report => "report",
        }
    }

    pub fn parse(s: &str) -> AppResult<RecordKind> {
        match s {
            "inspection" => Ok(RecordKind::Inspection),
            "report" => Ok(RecordKind::Report),
            other => Err(crate::error::AppError::internal(format!(
                "unknown stored record kind {other:?}"
            ))),
        }
    }
}

/// A quick report's category (`fields.category`).
pub const CATEGORIES: [&str; 8] = [
    "water",
    "air",
    "waste",
    "fire",
    "road",
    "safety",
    "livelihood",
    "other",
];

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = inspections)]
pub struct Row {
    pub id: String,
    pub version: i64,
    pub group_id: String,
    pub inspector_id: String,
    /// None for a quick report.
    pub site_id: Option<String>,
    pub route_id: Option<String>,
    pub stop_id: Option<String>,
    /// None for a quick report.
    pub template_id: Option<String>,
    pub template_version: Option<i32>,
    pub deleted: bool,
    pub fields: String,
    pub field_meta: String,
    pub status: String,
    pub review_status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub kind: String,
}

impl Row {
    pub fn record(&self) -> AppResult<Record> {
        Ok(Record {
            version: self.version,
            deleted: self.deleted,
            fields: serde_json::from_str(&self.fields)?,
            meta: serde_json::from_str::<BTreeMap<String, Meta>>(&self.field_meta)?,
        })
    }

    /// The checklist version the record was filled against (none for a
    /// quick report).
    pub fn checklist(&self) -> Option<(&str, i32)> {
        Some((self.template_id.as_deref()?, self.template_version?))
    }

    pub fn kind(&self) -> AppResult<RecordKind> {
        RecordKind::parse(&self.kind)
    }

    pub fn review_status(&self) -> crate::error::AppResult<ReviewStatus> {
        ReviewStatus::parse(&self.review_status)
    }

    pub fn tag(&self) -> RecordTag {
        Row::tag_of(&self.group_id, &self.inspector_id)
    }

    /// For the record's own header (`write::Header::tag`).
    fn tag_of(group_id: &str, inspector_id: &str) -> RecordTag {
        RecordTag::of_record(group_id, inspector_id)
    }
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = photos)]
pub struct PhotoRow {
    pub id: String,
    pub inspection_id: String,
    pub sha256: String,
    pub bytes: i64,
    pub content_type: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub caption: String,
    pub taken_at: Option<NaiveDateTime>,
    pub location: Option<String>,
    pub deleted: bool,
    pub status: String,
    pub exif: Option<String>,
    pub version: i64,
    pub item_key: Option<String>,
    pub kind: String,
    pub response_id: Option<String>,
    pub duration_ms: Option<i64>,
    pub video: Option<String>,
    pub variants_pending: Option<String>,
    pub original_dropped_at: Option<NaiveDateTime>,
}

pub fn find(c: &mut Conn, id: &str) -> AppResult<Option<Row>> {
    Ok(inspections::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?)
}

pub fn by_ids(c: &mut Conn, ids: &[String]) -> AppResult<Vec<Row>> {
    Ok(inspections::table
        .filter(inspections::id.eq_any(ids))
        .select(Row::as_select())
        .load(c)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_photo_statuses_are_read_strictly() {
        use PhotoStatus::*;
        for s in [Missing, Stored, Ready, Failed] {
            assert_eq!(PhotoStatus::parse(s.as_str()).ok(), Some(s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.as_str()))
            );
        }
        assert!(PhotoStatus::parse("done").is_err());
    }

    #[test]
    fn stored_review_statuses_are_read_strictly() {
        use ReviewStatus::*;
        for s in [Pending, Submitted, Approved, Returned, Rejected] {
            assert_eq!(ReviewStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert!(ReviewStatus::parse("aproved").is_err());
        assert!(ReviewStatus::parse("").is_err());
    }

    #[test]
    fn review_status_follows_submission() {
        use ReviewStatus::*;
        assert_eq!(Pending.after_field_status("submitted"), Submitted);
        assert_eq!(Returned.after_field_status("submitted"), Submitted);
        assert_eq!(Submitted.after_field_status("draft"), Pending);
        assert_eq!(Approved.after_field_status("draft"), Approved);
        assert!(Approved.locked() && Rejected.locked() && !Returned.locked());
    }
}
