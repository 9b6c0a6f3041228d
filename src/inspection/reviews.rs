//! Coordinators' reviews of inspections (written by the review API; pull
//! hands them to the inspector's phone).

use crate::clock;
use crate::db::Conn;
use crate::db::schema::{reviews, users};
use crate::error::AppResult;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Review {
    pub id: String,
    pub inspection_id: String,
    /// approve | return | reject
    pub decision: String,
    pub comment: String,
    pub reviewer_id: String,
    /// The reviewer's display name: an inspector's phone cannot read the
    /// coordinators' accounts, and a returned record says who sent it back.
    pub reviewer_name: String,
    pub created_at: DateTime<Utc>,
}

pub fn by_ids(c: &mut Conn, ids: &[String]) -> AppResult<Vec<Review>> {
    type Line = (
        String,
        String,
        String,
        String,
        String,
        NaiveDateTime,
        Option<String>,
    );
    let rows: Vec<Line> = reviews::table
        .left_join(users::table.on(users::id.eq(reviews::reviewer_id)))
        .filter(reviews::id.eq_any(ids))
        .order(reviews::id)
        .select((
            reviews::id,
            reviews::inspection_id,
            reviews::decision,
            reviews::comment,
            reviews::reviewer_id,
            reviews::created_at,
            users::display_name.nullable(),
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|r| Review {
            id: r.0,
            inspection_id: r.1,
            decision: r.2,
            comment: r.3,
            reviewer_id: r.4,
            created_at: clock::utc(r.5),
            reviewer_name: r.6.unwrap_or_default(),
        })
        .collect())
}
