//! Reviews and conflict overrides: the coordinator's decisions, each a
//! change the inspector's phone pulls and an entry in the audit log.

use super::queue::visible_row;
use crate::auth::{Caller, Role};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{conflicts as cf, inspections, reviews as rv};
use crate::error::{AppError, AppResult};
use crate::inspection::merge::Meta;
use crate::inspection::reviews::{self, Review};
use crate::inspection::{self as insp, ReviewStatus};
use crate::journal::{self, Audit, Entity};
use crate::reference::validate;
use chrono::Utc;
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
}

fn require_reviewer(caller: &Caller) -> AppResult<()> {
    if caller.role == Role::Inspector {
        Err(AppError::forbidden("only coordinators and admins review"))
    } else {
        Ok(())
    }
}

pub fn review(c: &mut Conn, caller: &Caller, id: &str, input: NewReview) -> AppResult<Review> {
    require_reviewer(caller)?;
    let row = visible_row(c, caller, id)?;
    if row.deleted {
        return Err(AppError::conflict(
            "invalid_transition",
            "a deleted inspection cannot be reviewed",
        ));
    }
    let comment = validate::optional_text("comment", &input.comment, 5000)?;
    if input.decision != Decision::Approve && comment.is_empty() {
        return Err(AppError::invalid(
            "comment",
            "say what the inspector should do",
        ));
    }
    let from = row.review_status();
    let to = input.decision.apply(from).ok_or_else(|| {
        AppError::conflict(
            "invalid_transition",
            format!(
                "a {} inspection cannot be {}d",
                from.as_str(),
                input.decision.as_str()
            ),
        )
    })?;
    let review_id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(rv::table)
        .values((
            rv::id.eq(&review_id),
            rv::inspection_id.eq(id),
            rv::decision.eq(input.decision.as_str()),
            rv::comment.eq(&comment),
            rv::reviewer_id.eq(&caller.id),
            rv::created_at.eq(now),
        ))
        .execute(c)?;
    diesel::update(inspections::table.find(id))
        .set((
            inspections::review_status.eq(to.as_str()),
            inspections::updated_at.eq(now),
        ))
        .execute(c)?;
    let (g, o) = (Some(row.group_id.as_str()), Some(row.inspector_id.as_str()));
    journal::created_owned(c, Entity::Review, &review_id, g, o)?;
    journal::changed_owned(c, Entity::Inspection, id, g, o)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: &format!("review.{}", input.decision.as_str()),
            object_type: "inspection",
            object_id: Some(id),
            details: json!({ "from": from, "to": to, "comment": comment, "review_id": review_id }),
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

/// Closes a conflict. Keeping the discarded value writes it as a new
/// version of the record (restoring a record deleted under it), which
/// every device then pulls.
pub fn resolve(
    c: &mut Conn,
    caller: &Caller,
    conflict_id: &str,
    keep: Keep,
) -> AppResult<crate::inspection::conflicts::Conflict> {
    require_reviewer(caller)?;
    let found: Option<(String, String, String, String)> = cf::table
        .find(conflict_id)
        .select((cf::inspection_id, cf::field, cf::discarded, cf::status))
        .first(c)
        .optional()?;
    let Some((inspection_id, field, discarded, status)) = found else {
        return Err(AppError::not_found("conflict"));
    };
    let row =
        visible_row(c, caller, &inspection_id).map_err(|_| AppError::not_found("conflict"))?;
    if status != "open" {
        return Err(AppError::conflict(
            "already_resolved",
            "this conflict is already resolved",
        ));
    }
    let now = clock::now();
    if keep == Keep::Discarded {
        let mut rec = row.record()?;
        let value: Value = serde_json::from_str(&discarded)?;
        rec.version += 1;
        rec.deleted = false;
        rec.meta.remove(crate::inspection::merge::DELETED);
        rec.fields.insert(field.clone(), value);
        rec.meta.insert(
            field.clone(),
            Meta {
                version: rec.version,
                device: format!("coordinator:{}", caller.id),
                changed_at: Utc::now(),
            },
        );
        let (lat, lon) = match insp::position(rec.fields.get("location")) {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let status = rec
            .fields
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("draft")
            .to_string();
        diesel::update(inspections::table.find(&inspection_id))
            .set((
                inspections::version.eq(rec.version),
                inspections::deleted.eq(false),
                inspections::fields.eq(serde_json::to_string(&rec.fields)?),
                inspections::field_meta.eq(serde_json::to_string(&rec.meta)?),
                inspections::status.eq(status),
                inspections::lat.eq(lat),
                inspections::lon.eq(lon),
                inspections::updated_at.eq(now),
            ))
            .execute(c)?;
    }
    diesel::update(cf::table.find(conflict_id))
        .set((
            cf::status.eq("resolved"),
            cf::resolved_by.eq(&caller.id),
            cf::resolved_at.eq(now),
        ))
        .execute(c)?;
    let (g, o) = (Some(row.group_id.as_str()), Some(row.inspector_id.as_str()));
    journal::changed_owned(c, Entity::Conflict, conflict_id, g, o)?;
    journal::changed_owned(c, Entity::Inspection, &inspection_id, g, o)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "conflict.resolve",
            object_type: "conflict",
            object_id: Some(conflict_id),
            details: json!({ "keep": keep, "inspection_id": inspection_id, "field": field }),
        },
    )?;
    crate::inspection::conflicts::by_ids(c, &[conflict_id.to_string()])?
        .pop()
        .ok_or_else(|| AppError::not_found("conflict"))
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
