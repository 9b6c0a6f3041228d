//! The follow-ups a record's failed items propose (an item's
//! `on_fail.followup`): shown to the reviewer with the record, made when
//! the record is approved, as proposed or as the reviewer edited them;
//! one the reviewer leaves out is not made. An item that already has its
//! follow-up proposes none.

use super::followups::{self, NewFollowup};
use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::photos;
use crate::error::{AppError, AppResult};
use crate::inspection::{Row, checklist, merge::Fields};
use crate::reference::templates::{self, Item};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::ToSchema;

/// A follow-up a failed item proposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Proposal {
    /// The failed item's answer path.
    pub item_key: String,
    /// The item's label, for the reviewer.
    pub label: String,
    pub title: String,
    /// The department's name; "待指定" when the checklist names none.
    pub department: String,
    /// The department the checklist names, when it names one by id.
    pub department_id: Option<String>,
    /// `due_days` after now.
    pub due_at: DateTime<Utc>,
}

/// A follow-up as the reviewer chose it on approval.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Chosen {
    /// A failed item's answer path.
    pub item_key: String,
    pub title: String,
    /// The department by name (made when there is none); or by id.
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub department_id: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
}

/// The department of a proposal whose checklist names none.
pub use crate::reference::departments::UNASSIGNED;

/// The items of a record's checklist version and what its answers say.
pub fn record_checks(
    c: &mut Conn,
    row: &Row,
) -> AppResult<(Vec<Item>, checklist::ChecklistChecks)> {
    let items = match row.checklist() {
        Some((t, v)) => templates::version_items(c, t, v)?.unwrap_or_default(),
        None => Vec::new(),
    };
    let fields: Fields = serde_json::from_str(&row.fields)?;
    let linked: HashSet<String> = photos::table
        .filter(photos::inspection_id.eq(&row.id))
        .filter(photos::deleted.eq(false))
        .filter(photos::item_key.is_not_null())
        .select(photos::item_key)
        .load::<Option<String>>(c)?
        .into_iter()
        .flatten()
        .collect();
    let checks = checklist::checks(&items, &fields, &linked);
    Ok((items, checks))
}

/// What the failed items (`failed`: their paths, as the record's checks
/// say) of a checklist version propose, leaving out items that have a
/// follow-up already.
pub fn proposed(
    c: &mut Conn,
    items: &[Item],
    failed: &[String],
    existing: &[Option<String>],
) -> AppResult<Vec<Proposal>> {
    let now = clock::now_utc();
    let made: HashSet<&str> = existing.iter().filter_map(|k| k.as_deref()).collect();
    let mut out = Vec::new();
    for path in failed.iter().filter(|p| !made.contains(p.as_str())) {
        let Some(item) = templates::item_at(items, path) else {
            continue;
        };
        let Some(on_fail) = &item.on_fail else {
            continue;
        };
        let f = &on_fail.followup;
        // The checklist names a department by id, or (written before
        // departments were records, or imported) by its name.
        let (department_id, department) = match f.department_id.as_deref() {
            None => (None, UNASSIGNED.to_string()),
            Some(d) => match crate::reference::departments::find(c, d)? {
                Some(dep) => (Some(dep.id), dep.name),
                None => (None, d.to_string()),
            },
        };
        out.push(Proposal {
            item_key: path.clone(),
            label: item.label.clone(),
            title: f.title.clone(),
            department,
            department_id,
            due_at: now + Duration::days(i64::from(f.due_days)),
        });
    }
    Ok(out)
}

/// Makes the follow-ups of an approval: `chosen` as the reviewer edited
/// them (each naming a failed item), or, when the reviewer sent none, every
/// proposal as it stands.
pub fn make(
    c: &mut Conn,
    caller: &Caller,
    row: &Row,
    chosen: Option<Vec<Chosen>>,
) -> AppResult<Vec<String>> {
    let existing = followups::item_keys(c, &row.id)?;
    let (items, checks) = record_checks(c, row)?;
    let proposals = proposed(c, &items, &checks.failed, &existing)?;
    let list: Vec<Chosen> = match chosen {
        None => proposals
            .into_iter()
            .map(|p| Chosen {
                item_key: p.item_key,
                title: p.title,
                department: p.department,
                department_id: p.department_id,
                due_at: Some(p.due_at),
            })
            .collect(),
        Some(list) => {
            let failed: HashSet<&str> = checks.failed.iter().map(String::as_str).collect();
            let mut seen = HashSet::new();
            for (i, f) in list.iter().enumerate() {
                if !failed.contains(f.item_key.as_str()) {
                    return Err(AppError::invalid(
                        &format!("followups[{i}].item_key"),
                        "must be an item that failed",
                    ));
                }
                if !seen.insert(f.item_key.as_str())
                    || existing
                        .iter()
                        .any(|e| e.as_deref() == Some(f.item_key.as_str()))
                {
                    return Err(AppError::invalid(
                        &format!("followups[{i}].item_key"),
                        "has a follow-up already",
                    ));
                }
            }
            list
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, f) in list.into_iter().enumerate() {
        let made = followups::create_row(
            c,
            caller,
            &row.id,
            NewFollowup {
                title: f.title,
                department: f.department,
                department_id: f.department_id,
                assignee_id: None,
                due_at: f.due_at,
                item_key: Some(f.item_key),
            },
        )
        .map_err(|e| e.prefixed(&format!("followups[{i}]")))?;
        out.push(made);
    }
    Ok(out)
}
