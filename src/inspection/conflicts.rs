//! The conflict log: every value a merge discarded, with the value kept.
//! A photo's metadata logs under its inspection, with the field named
//! `photos.<photo id>.<field>`.

use crate::clock;
use crate::db::Conn;
use crate::db::schema::conflicts;
use crate::error::AppResult;
use crate::inspection::RecordTag;
use crate::inspection::merge::Discard;
use crate::journal::{self, Entity};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

/// Where a conflict stands: `open` until a reviewer keeps one of the
/// values (or a discard is logged already settled), then `resolved`.
/// Stored as text and read strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Open,
    Resolved,
}

impl ConflictStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStatus::Open => "open",
            ConflictStatus::Resolved => "resolved",
        }
    }

    /// A stored value; an unknown one is an error, never a default.
    pub fn parse(s: &str) -> AppResult<ConflictStatus> {
        match s {
            "open" => Ok(ConflictStatus::Open),
            "resolved" => Ok(ConflictStatus::Resolved),
            other => Err(crate::error::AppError::internal(format!(
                "unknown stored conflict status {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Conflict {
    pub id: String,
    pub inspection_id: String,
    pub field: String,
    #[schema(value_type = Object)]
    pub kept: Value,
    #[schema(value_type = Object)]
    pub discarded: Value,
    pub kept_device_id: String,
    pub discarded_device_id: String,
    pub kept_changed_at: DateTime<Utc>,
    pub discarded_changed_at: DateTime<Utc>,
    pub status: ConflictStatus,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The discarded value lost to the record's deletion (`kept` is then
    /// null): keeping it restores the record.
    pub against_deletion: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = conflicts)]
struct Row {
    id: String,
    inspection_id: String,
    field: String,
    kept: String,
    discarded: String,
    kept_device_id: String,
    discarded_device_id: String,
    kept_changed_at: NaiveDateTime,
    discarded_changed_at: NaiveDateTime,
    status: String,
    resolved_by: Option<String>,
    resolved_at: Option<NaiveDateTime>,
    against_deletion: bool,
}

impl Row {
    fn view(self) -> AppResult<Conflict> {
        Ok(Conflict {
            id: self.id,
            inspection_id: self.inspection_id,
            field: self.field,
            kept: serde_json::from_str(&self.kept).unwrap_or(Value::Null),
            discarded: serde_json::from_str(&self.discarded).unwrap_or(Value::Null),
            kept_device_id: self.kept_device_id,
            discarded_device_id: self.discarded_device_id,
            kept_changed_at: clock::utc(self.kept_changed_at),
            discarded_changed_at: clock::utc(self.discarded_changed_at),
            status: ConflictStatus::parse(&self.status)?,
            resolved_by: self.resolved_by,
            resolved_at: self.resolved_at.map(clock::utc),
            against_deletion: self.against_deletion,
        })
    }
}

/// What a push answer says of a value that lost.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConflictNote {
    pub field: String,
    #[schema(value_type = Object)]
    pub kept: Value,
    #[schema(value_type = Object)]
    pub discarded: Value,
    pub conflict_id: String,
}

/// The field name a photo's metadata field logs under.
pub fn photo_field(photo_id: &str, field: &str) -> String {
    format!("{PHOTO_PREFIX}{photo_id}.{field}")
}

pub const PHOTO_PREFIX: &str = "photos.";

/// The open conflicts of some records, by (record, field, discarding
/// device, discarded value as JSON): a batch's are read in one query, so
/// looking for a duplicate costs no query per value.
#[derive(Debug, Default)]
pub struct OpenIndex {
    loaded: HashSet<String>,
    open: HashMap<(String, String, String, String), String>,
}

impl OpenIndex {
    /// Reads the open conflicts of `records`.
    pub fn load(&mut self, c: &mut Conn, records: &[String]) -> AppResult<()> {
        for chunk in records.chunks(500) {
            let rows: Vec<(String, String, String, String, String)> = conflicts::table
                .filter(conflicts::inspection_id.eq_any(chunk))
                .filter(conflicts::status.eq(ConflictStatus::Open.as_str()))
                .select((
                    conflicts::inspection_id,
                    conflicts::field,
                    conflicts::discarded_device_id,
                    conflicts::discarded,
                    conflicts::id,
                ))
                .load(c)?;
            self.loaded.extend(chunk.iter().cloned());
            for (i, f, d, v, id) in rows {
                self.open.insert((i, f, d, v), id);
            }
        }
        Ok(())
    }
}

/// Writes each discarded value to the log, in the caller's transaction,
/// and returns what the push answer says of them. A value already waiting
/// in an open conflict (the same value from the same device, sent again in
/// a new batch) is not logged twice: the answer names the open conflict.
pub fn log(
    c: &mut Conn,
    inspection_id: &str,
    tag: &RecordTag,
    discards: &[Discard],
    index: &mut OpenIndex,
) -> AppResult<Vec<ConflictNote>> {
    let mut notes = Vec::with_capacity(discards.len());
    if discards.is_empty() {
        return Ok(notes);
    }
    if !index.loaded.contains(inspection_id) {
        index.load(c, &[inspection_id.to_string()])?;
    }
    let now = clock::now();
    for d in discards {
        let discarded = d.discarded.to_string();
        let key = (
            inspection_id.to_string(),
            d.field.clone(),
            d.discarded_device.clone(),
            discarded,
        );
        let id = match index.open.get(&key).filter(|_| d.open) {
            Some(id) => id.clone(),
            None => {
                let id = clock::new_id();
                diesel::insert_into(conflicts::table)
                    .values((
                        conflicts::id.eq(&id),
                        conflicts::inspection_id.eq(inspection_id),
                        conflicts::field.eq(&d.field),
                        conflicts::kept.eq(d.kept.to_string()),
                        conflicts::discarded.eq(&key.3),
                        conflicts::kept_device_id.eq(&d.kept_device),
                        conflicts::discarded_device_id.eq(&d.discarded_device),
                        conflicts::kept_changed_at.eq(d.kept_changed_at.naive_utc()),
                        conflicts::discarded_changed_at.eq(d.discarded_changed_at.naive_utc()),
                        conflicts::status.eq(if d.open {
                            ConflictStatus::Open
                        } else {
                            ConflictStatus::Resolved
                        }
                        .as_str()),
                        conflicts::resolved_at.eq((!d.open).then_some(now)),
                        conflicts::created_at.eq(now),
                        conflicts::kept_version.eq(d.kept_version),
                        conflicts::against_deletion.eq(d.against_deletion),
                    ))
                    .execute(c)?;
                journal::record_changed(c, Entity::Conflict, &id, tag, true)?;
                if d.open {
                    index.open.insert(key, id.clone());
                }
                id
            }
        };
        notes.push(ConflictNote {
            field: d.field.clone(),
            kept: d.kept.clone(),
            discarded: d.discarded.clone(),
            conflict_id: id,
        });
    }
    Ok(notes)
}

/// A conflict as an override needs it.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = conflicts)]
pub struct Logged {
    pub id: String,
    pub inspection_id: String,
    pub field: String,
    pub discarded: String,
    pub kept_device_id: String,
    pub kept_changed_at: NaiveDateTime,
    /// Read with [`ConflictStatus::parse`].
    pub status: String,
    pub kept_version: i64,
    pub against_deletion: bool,
}

pub fn find(c: &mut Conn, id: &str) -> AppResult<Option<Logged>> {
    Ok(conflicts::table
        .find(id)
        .select(Logged::as_select())
        .first(c)
        .optional()?)
}

pub fn by_ids(c: &mut Conn, ids: &[String]) -> AppResult<Vec<Conflict>> {
    conflicts::table
        .filter(conflicts::id.eq_any(ids))
        .order(conflicts::id)
        .select(Row::as_select())
        .load(c)?
        .into_iter()
        .map(Row::view)
        .collect()
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConflictFilter {
    /// open | resolved
    pub status: Option<String>,
    pub inspection_id: Option<String>,
}

/// Conflicts in the caller's scope (inspectors: on their own records).
pub fn list(
    c: &mut Conn,
    caller: &crate::auth::Caller,
    f: &ConflictFilter,
    page: &crate::paging::PageRequest,
) -> AppResult<crate::paging::Page<Conflict>> {
    use crate::db::schema::inspections;
    use crate::inspection::RecordScope;
    let mut q = conflicts::table
        .inner_join(inspections::table)
        .select(Row::as_select())
        .into_boxed();
    match RecordScope::of(caller) {
        RecordScope::All => {}
        RecordScope::Group(g) => q = q.filter(inspections::group_id.eq(g)),
        RecordScope::Owner(o) => q = q.filter(inspections::inspector_id.eq(o)),
        // A primary key is never null: no row.
        RecordScope::Nothing => q = q.filter(inspections::id.is_null()),
    }
    if let Some(s) = &f.status {
        // A wrong value is the caller's mistake (422), not a stored one.
        let s = ConflictStatus::parse(s)
            .map_err(|_| crate::error::AppError::invalid("status", "must be open or resolved"))?;
        q = q.filter(conflicts::status.eq(s.as_str()));
    }
    if let Some(i) = &f.inspection_id {
        q = q.filter(conflicts::inspection_id.eq(i.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(conflicts::id.gt(after.clone()));
    }
    let rows: Vec<Row> = q.order(conflicts::id).limit(page.limit + 1).load(c)?;
    let page = crate::paging::Page::from_rows(rows, page, |r| &r.id);
    Ok(crate::paging::Page {
        items: page
            .items
            .into_iter()
            .map(Row::view)
            .collect::<AppResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

/// The record a conflict belongs to, whoever asks (the caller's scope is
/// checked by what is done with it).
pub fn inspection_of(c: &mut Conn, conflict_id: &str) -> AppResult<Option<String>> {
    Ok(conflicts::table
        .find(conflict_id)
        .select(conflicts::inspection_id)
        .first(c)
        .optional()?)
}
