//! Reviews and conflict overrides: the coordinator's decisions, each a
//! change the inspector's phone pulls and an entry in the audit log.

use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{conflicts as cf, reviews as rv};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection::merge::{self, DELETED, Edit, FieldEdit, Meta, Record};
use crate::inspection::reviews::{self, Review};
use crate::inspection::visible_row;
use crate::inspection::write::{Before, Header};
use crate::inspection::{ReviewStatus, conflicts, photo_meta};
use crate::journal::{self, Audit, Entity};
use crate::reference::validate;
use crate::review::followups;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Return,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Return => "return",
            Decision::Reject => "reject",
        }
    }

    /// The review status a decision leads to, from the one the record is
    /// in: only a submitted record can be decided.
    pub fn apply(self, from: ReviewStatus) -> Option<ReviewStatus> {
        (from == ReviewStatus::Submitted).then_some(match self {
            Decision::Approve => ReviewStatus::Approved,
            Decision::Return => ReviewStatus::Returned,
            Decision::Reject => ReviewStatus::Rejected,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub decision: Decision,
    #[serde(default)]
    pub comment: String,
    /// The record's version the reviewer saw: if it moved since, the
    /// review is refused (409 `stale`) instead of deciding on data the
    /// reviewer never saw.
    #[serde(default)]
    pub version: Option<i64>,
    /// With `approve`: the follow-ups to make from the record's failed
    /// items, as the reviewer edited them (one left out is not made).
    /// Absent: every proposed follow-up as proposed.
    #[serde(default)]
    pub followups: Option<Vec<super::proposals::Chosen>>,
}

fn require_reviewer(caller: &Caller) -> AppResult<()> {
    caller.require_reviewer("review")
}

fn stale(message: impl Into<String>) -> AppError {
    AppError::conflict(ErrorCode::Stale, message)
}

/// The device name a coordinator's own edits are recorded under.
fn server_device(caller: &Caller) -> String {
    format!("review:{}", caller.id)
}

pub fn review(c: &mut Conn, caller: &Caller, id: &str, input: NewReview) -> AppResult<Review> {
    require_reviewer(caller)?;
    let row = visible_row(c, caller, id)?;
    if row.deleted {
        return Err(AppError::conflict(
            ErrorCode::InvalidTransition,
            "a deleted inspection cannot be reviewed",
        ));
    }
    if let Some(seen) = input.version
        && seen != row.version
    {
        return Err(stale(format!(
            "the inspection changed since you saw it (version {seen}, now {}): look again",
            row.version
        ))
        .with_details(json!({ "version": row.version })));
    }
    let comment = validate::optional_text("comment", &input.comment, 5000)?;
    if input.decision != Decision::Approve && comment.is_empty() {
        return Err(AppError::invalid(
            "comment",
            "say what the inspector should do",
        ));
    }
    if input.decision != Decision::Approve && input.followups.is_some() {
        return Err(AppError::invalid(
            "followups",
            "only an approval makes follow-ups",
        ));
    }
    let from = row.review_status()?;
    let to = input.decision.apply(from).ok_or_else(|| {
        AppError::conflict(
            ErrorCode::InvalidTransition,
            format!(
                "a {} inspection cannot be {}d",
                from.as_str(),
                input.decision.as_str()
            ),
        )
    })?;
    let before = Before::of(&row)?;
    // Returning writes `status: draft` as the server's own edit, a new
    // version the phone pulls: only an explicit new submit queues it again.
    let after = if input.decision == Decision::Return {
        let edit = Edit {
            device: server_device(caller),
            base_version: before.record.version,
            deleted: false,
            deleted_at: None,
            fields: vec![FieldEdit {
                path: "status".into(),
                value: json!("draft"),
                changed_at: clock::now_utc(),
            }],
        };
        merge::merge(&before.record, &edit, clock::now_utc())
            .map_err(|_| AppError::internal("a review's edit is based on the stored version"))?
            .record
    } else {
        before.record.clone()
    };
    let header = Header::of(&row)?;
    let written = followups::save_record(c, &header, Some(&before), &after, to, &caller.id)?;
    if input.decision == Decision::Return {
        // The inspector (and a channel that wants it) hears at once.
        let mut msg = crate::inspection::write::message(c, &header, &after)?;
        msg.detail = comment.clone();
        crate::outbox::emit(
            c,
            crate::outbox::EventKind::InspectionReturned,
            crate::outbox::Scope {
                group_id: Some(&row.group_id),
                owner_id: Some(&row.inspector_id),
                inspection_id: Some(id),
                ..Default::default()
            },
            &msg,
        )?;
    }
    let review_id = clock::new_id();
    diesel::insert_into(rv::table)
        .values((
            rv::id.eq(&review_id),
            rv::inspection_id.eq(id),
            rv::decision.eq(input.decision.as_str()),
            rv::comment.eq(&comment),
            rv::reviewer_id.eq(&caller.id),
            rv::created_at.eq(clock::now()),
        ))
        .execute(c)?;
    journal::record_changed(c, Entity::Review, &review_id, &row.tag(), true)?;
    if input.decision == Decision::Approve {
        super::proposals::make(c, caller, &row, input.followups)?;
    }
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: &format!("review.{}", input.decision.as_str()),
            object_type: "inspection",
            object_id: Some(id),
            details: json!({ "from": from, "to": written, "comment": comment, "review_id": review_id, "version": after.version }),
        },
    )?;
    reviews::by_ids(c, &[review_id])?
        .pop()
        .ok_or_else(|| AppError::not_found("review"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    Kept,
    Discarded,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    pub keep: Keep,
}

/// The record state an override writes: `rec` with `field` set to `value`
/// by the coordinator, and undeleted when the conflict was against its
/// deletion. Refuses (`stale`) when the field or the deletion moved since
/// the conflict was logged: a newer value is never overwritten unseen.
pub fn overridden(
    rec: &Record,
    field: &str,
    value: Value,
    logged: &conflicts::Logged,
    device: &str,
) -> AppResult<Record> {
    if rec.field_version(field) != logged.kept_version {
        return Err(stale(format!(
            "`{field}` changed after this conflict was logged; resolve it again from the current value"
        )));
    }
    let mut out = rec.clone();
    if rec.deleted {
        let same_deletion = rec.meta.get(DELETED).is_some_and(|m| {
            m.device == logged.kept_device_id
                && clock::same_instant(m.changed_at.naive_utc(), logged.kept_changed_at)
        });
        if !logged.against_deletion || !same_deletion {
            return Err(stale(
                "the record was deleted after this conflict was logged",
            ));
        }
        out.deleted = false;
        out.meta.remove(DELETED);
    }
    out.version += 1;
    out.fields.insert(field.to_string(), value);
    out.meta.insert(
        field.to_string(),
        Meta {
            version: out.version,
            device: device.to_string(),
            changed_at: clock::now_utc(),
        },
    );
    Ok(out)
}

/// Closes a conflict. Keeping the discarded value writes it as a new
/// version of the record (of the photo, for a photo's metadata), which
/// every device then pulls.
pub fn resolve(
    c: &mut Conn,
    caller: &Caller,
    conflict_id: &str,
    keep: Keep,
) -> AppResult<conflicts::Conflict> {
    require_reviewer(caller)?;
    let logged = conflicts::find(c, conflict_id)?.ok_or_else(|| AppError::not_found("conflict"))?;
    let row = visible_row(c, caller, &logged.inspection_id)
        .map_err(|_| AppError::not_found("conflict"))?;
    if conflicts::ConflictStatus::parse(&logged.status)? != conflicts::ConflictStatus::Open {
        return Err(AppError::conflict(
            ErrorCode::AlreadyResolved,
            "this conflict is already resolved",
        ));
    }
    if keep == Keep::Discarded {
        let value: Value = serde_json::from_str(&logged.discarded)?;
        let device = server_device(caller);
        match photo_conflict(&logged.field) {
            Some((photo_id, field)) => {
                let stored =
                    photo_meta::find(c, photo_id)?.ok_or_else(|| AppError::not_found("photo"))?;
                let rec = stored.record()?;
                let after = overridden(&rec, field, value, &logged, &device)?;
                photo_meta::save(c, photo_id, None, &after)?;
                journal::record_changed(c, Entity::Photo, photo_id, &row.tag(), false)?;
                journal::record_changed(c, Entity::Inspection, &row.id, &row.tag(), false)?;
            }
            None => {
                let before = Before::of(&row)?;
                let after = overridden(&before.record, &logged.field, value, &logged, &device)?;
                followups::save_record(
                    c,
                    &Header::of(&row)?,
                    Some(&before),
                    &after,
                    before.review,
                    &caller.id,
                )?;
            }
        }
    }
    diesel::update(cf::table.find(conflict_id))
        .set((
            cf::status.eq(conflicts::ConflictStatus::Resolved.as_str()),
            cf::resolved_by.eq(&caller.id),
            cf::resolved_at.eq(clock::now()),
        ))
        .execute(c)?;
    journal::record_changed(c, Entity::Conflict, conflict_id, &row.tag(), false)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "conflict.resolve",
            object_type: "conflict",
            object_id: Some(conflict_id),
            details: json!({ "keep": keep, "inspection_id": logged.inspection_id, "field": logged.field }),
        },
    )?;
    conflicts::by_ids(c, &[conflict_id.to_string()])?
        .pop()
        .ok_or_else(|| AppError::not_found("conflict"))
}

/// `(photo id, field)` of a conflict over a photo's metadata.
fn photo_conflict(field: &str) -> Option<(&str, &str)> {
    field.strip_prefix(conflicts::PHOTO_PREFIX)?.split_once('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_submitted_records_are_decided() {
        use ReviewStatus::*;
        assert_eq!(Decision::Approve.apply(Submitted), Some(Approved));
        assert_eq!(Decision::Return.apply(Submitted), Some(Returned));
        assert_eq!(Decision::Reject.apply(Submitted), Some(Rejected));
        for from in [Pending, Approved, Returned, Rejected] {
            assert_eq!(Decision::Approve.apply(from), None);
        }
    }
}
