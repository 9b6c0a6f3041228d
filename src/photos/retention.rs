//! Dropping originals a district no longer wants to keep
//! (`FIELDSYNC_ORIGINALS_KEEP_DAYS`): the originals of photos and videos
//! whose record was approved more than that many days ago go, their
//! `display` (and thumb, poster) stay, and the item says when
//! (`original_dropped_at`). Only items whose variants are made qualify: a
//! record is never left with nothing to show.
//!
//! Safe with several servers without a lease: marking is a conditional
//! update (an item is marked once, by whichever server gets there), and a
//! blob is deleted only when no item naming its bytes still keeps its
//! original (equal bytes are stored once), which any server may find and
//! do twice harmlessly.

use super::PhotoStatus;
use super::blob::{self, BlobStore};
use crate::clock;
use crate::db::Db;
use crate::db::schema::{inspections, photos, reviews};
use crate::error::AppResult;
use crate::journal::{self, Audit, Entity};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;

/// Items marked a run at most; a run repeats until none are left.
const BATCH: i64 = 500;

/// Drops what is due; returns how many items' originals went.
pub fn run(db: &Db, store: &dyn BlobStore, keep_days: u32) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let cutoff = clock::now() - Duration::days(i64::from(keep_days));
        let due = db.read_blocking(move |c| due(c, cutoff))?;
        if due.is_empty() {
            return Ok(total);
        }
        let n = due.len();
        let marked = db.write_blocking(move |c| {
            let now = clock::now();
            let mut marked = Vec::new();
            for (id, sha, record) in &due {
                let done = diesel::update(
                    photos::table
                        .find(id)
                        .filter(photos::original_dropped_at.is_null()),
                )
                .set((
                    photos::original_dropped_at.eq(now),
                    photos::updated_at.eq(now),
                ))
                .execute(c)?;
                if done > 0 {
                    journal::changed(c, Entity::Photo, id)?;
                    journal::changed(c, Entity::Inspection, record)?;
                    marked.push((id.clone(), sha.clone()));
                }
            }
            if !marked.is_empty() {
                journal::audit(
                    c,
                    Audit {
                        actor_id: None,
                        action: "originals.dropped",
                        object_type: "photo",
                        object_id: None,
                        details: json!({
                            "keep_days": keep_days,
                            "count": marked.len(),
                            "photos": marked.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                        }),
                    },
                )?;
            }
            Ok(marked)
        })?;
        let mut shas: Vec<String> = marked.into_iter().map(|(_, sha)| sha).collect();
        shas.sort();
        shas.dedup();
        for sha in shas {
            let s = sha.clone();
            let kept = db.read_blocking(move |c| {
                Ok(photos::table
                    .filter(photos::sha256.eq(&s))
                    .filter(photos::original_dropped_at.is_null())
                    .select(photos::id)
                    .first::<String>(c)
                    .optional()?
                    .is_some())
            })?;
            if !kept && let Err(e) = store.delete(&blob::original_key(&sha)) {
                // Marked already: the next run finds nothing to mark and
                // the blob stays until a later sweep; logged, not fatal.
                tracing::warn!(error = %e, sha, "could not delete a dropped original");
            }
        }
        total += n;
        if (n as i64) < BATCH {
            return Ok(total);
        }
    }
}

/// Items whose record's last approval is older than `cutoff`, with their
/// variants made and their original still kept: (id, sha256, record).
fn due(c: &mut crate::db::Conn, cutoff: NaiveDateTime) -> AppResult<Vec<(String, String, String)>> {
    let records: Vec<String> = reviews::table
        .inner_join(inspections::table)
        .filter(inspections::review_status.eq("approved"))
        .filter(reviews::decision.eq("approve"))
        .group_by(reviews::inspection_id)
        .having(diesel::dsl::max(reviews::created_at).lt(cutoff))
        .select(reviews::inspection_id)
        .load(c)?;
    let mut out = Vec::new();
    for chunk in records.chunks(500) {
        let rows: Vec<(String, String, String)> = photos::table
            .filter(photos::inspection_id.eq_any(chunk))
            .filter(photos::original_dropped_at.is_null())
            .filter(photos::status.eq(PhotoStatus::Ready.as_str()))
            .select((photos::id, photos::sha256, photos::inspection_id))
            .limit(BATCH - out.len() as i64)
            .load(c)?;
        out.extend(rows);
        if out.len() as i64 >= BATCH {
            break;
        }
    }
    Ok(out)
}
