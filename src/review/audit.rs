//! `GET /api/v1/audit`: the append-only log, newest first, for admins.

use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::audit_log as al;
use crate::error::AppResult;
use crate::paging::{Page, PageRequest};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    /// A date (that whole day in the district's time zone) or an RFC 3339
    /// time.
    #[param(value_type = Option<String>)]
    pub from: Option<crate::clock::Bound>,
    /// Before this time, or up to the end of this date.
    #[param(value_type = Option<String>)]
    pub to: Option<crate::clock::Bound>,
}

type Row = (
    String,
    NaiveDateTime,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
);

pub fn list(
    c: &mut Conn,
    caller: &Caller,
    f: &AuditFilter,
    page: &PageRequest,
) -> AppResult<Page<Entry>> {
    caller.require_admin()?;
    let mut q = al::table
        .select((
            al::id,
            al::at,
            al::actor_id,
            al::action,
            al::object_type,
            al::object_id,
            al::details,
        ))
        .into_boxed();
    if let Some(v) = &f.actor_id {
        q = q.filter(al::actor_id.eq(v.clone()));
    }
    if let Some(v) = &f.object_type {
        q = q.filter(al::object_type.eq(v.clone()));
    }
    if let Some(v) = &f.object_id {
        q = q.filter(al::object_id.eq(v.clone()));
    }
    if let Some(t) = f.from {
        q = q.filter(al::at.ge(t.start().naive_utc()));
    }
    if let Some(t) = f.to {
        q = q.filter(al::at.lt(t.end().naive_utc()));
    }
    // Newest first: ids are UUIDv7, so id order is time order.
    if let Some(before) = &page.after {
        q = q.filter(al::id.lt(before.clone()));
    }
    let rows: Vec<Row> = q.order(al::id.desc()).limit(page.limit + 1).load(c)?;
    Ok(Page::from_rows(rows, page, |r| &r.0).map(|r| Entry {
        id: r.0,
        at: clock::utc(r.1),
        actor_id: r.2,
        action: r.3,
        object_type: r.4,
        object_id: r.5,
        details: serde_json::from_str(&r.6).unwrap_or(Value::Null),
    }))
}
