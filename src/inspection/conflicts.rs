//! The conflict log: every value a merge discarded, with the value kept.

use crate::clock;
use crate::db::Conn;
use crate::db::schema::conflicts;
use crate::error::AppResult;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

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
    /// open | resolved
    pub status: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
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
}

impl Row {
    fn view(self) -> Conflict {
        Conflict {
            id: self.id,
            inspection_id: self.inspection_id,
            field: self.field,
            kept: serde_json::from_str(&self.kept).unwrap_or(Value::Null),
            discarded: serde_json::from_str(&self.discarded).unwrap_or(Value::Null),
            kept_device_id: self.kept_device_id,
            discarded_device_id: self.discarded_device_id,
            kept_changed_at: clock::utc(self.kept_changed_at),
            discarded_changed_at: clock::utc(self.discarded_changed_at),
            status: self.status,
            resolved_by: self.resolved_by,
            resolved_at: self.resolved_at.map(clock::utc),
        }
    }
}

pub fn by_ids(c: &mut Conn, ids: &[String]) -> AppResult<Vec<Conflict>> {
    Ok(conflicts::table
        .filter(conflicts::id.eq_any(ids))
        .order(conflicts::id)
        .select(Row::as_select())
        .load(c)?
        .into_iter()
        .map(Row::view)
        .collect())
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
    use crate::auth::{Role, Scope};
    use crate::db::schema::inspections;
    let mut q = conflicts::table
        .inner_join(inspections::table)
        .select(Row::as_select())
        .into_boxed();
    match (caller.role, caller.scope()) {
        (Role::Inspector, _) => q = q.filter(inspections::inspector_id.eq(caller.id.clone())),
        (_, Scope::All) => {}
        (_, Scope::Group(g)) => q = q.filter(inspections::group_id.eq(g)),
        (_, Scope::Nothing) => {
            return Ok(crate::paging::Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    if let Some(s) = &f.status {
        if s != "open" && s != "resolved" {
            return Err(crate::error::AppError::invalid(
                "status",
                "must be open or resolved",
            ));
        }
        q = q.filter(conflicts::status.eq(s.clone()));
    }
    if let Some(i) = &f.inspection_id {
        q = q.filter(conflicts::inspection_id.eq(i.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(conflicts::id.gt(after.clone()));
    }
    let rows: Vec<Row> = q.order(conflicts::id).limit(page.limit + 1).load(c)?;
    Ok(crate::paging::Page::from_rows(rows, page, |r| &r.id).map(Row::view))
}
