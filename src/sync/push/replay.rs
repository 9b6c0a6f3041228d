//! A batch's answer kept per `(device_id, batch_id)` with the batch's hash,
//! deflated: a replay gets the same bytes; a reused batch id with other
//! content is refused.
//!
//! Answers are kept `FIELDSYNC_BATCH_ANSWERS_KEEP_DAYS` ([`prune`]); the
//! keys and hash stay [`KEYS_KEPT_FOR`] times as long, so a batch replayed
//! after its answer went is still known as applied: it is answered with
//! its items as they stand, `unchanged`, and nothing is applied again
//! ([`answer_pruned`]). Past that a replay is applied anew like any batch.

use super::wire::{ItemResult, PushItemKind, PushItemStatus, PushRequest, PushResponse, Reject};
use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::push_batches;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection as insp;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use std::io::Read;

/// How many times the answers' keeping a batch's keys are kept.
pub const KEYS_KEPT_FOR: i64 = 4;

/// What is kept of a batch sent before.
pub(super) enum Stored {
    /// The answer it got, to give again.
    Answer(Vec<u8>),
    /// Only that it was applied: the answer is past its keeping.
    Pruned,
}

/// What is kept of this batch, if it was sent before.
pub(super) fn stored(
    c: &mut Conn,
    device: &str,
    batch: &str,
    hash: &str,
) -> AppResult<Option<Stored>> {
    let stored: Option<(Vec<u8>, Option<String>)> = push_batches::table
        .find((device, batch))
        .select((push_batches::response, push_batches::request_hash))
        .first(c)
        .optional()?;
    let Some((answer, stored_hash)) = stored else {
        return Ok(None);
    };
    if stored_hash.is_some_and(|h| h != hash) {
        return Err(AppError::conflict(
            ErrorCode::BatchIdReused,
            "this device already sent another batch with this batch_id; \
             nothing was applied: give the new batch a new batch_id",
        ));
    }
    if answer.is_empty() {
        return Ok(Some(Stored::Pruned));
    }
    let mut json = Vec::with_capacity(answer.len() * 8);
    flate2::read::DeflateDecoder::new(&answer[..])
        .read_to_end(&mut json)
        .map_err(AppError::internal)?;
    Ok(Some(Stored::Answer(json)))
}

/// The answer to a batch applied long ago whose answer is gone: each item
/// as it stands now, `unchanged` (the phone takes the server's version and
/// fields; nothing is applied again, no conflict is logged), photos whose
/// bytes the server still lacks in `photos_missing`. An item that is not
/// on the server (or not the caller's to see) is `rejected`, so the phone
/// keeps its values in a notice rather than losing them silently. Not
/// stored: asking again gives the state of that moment.
pub(super) fn answer_pruned(
    c: &mut Conn,
    caller: &Caller,
    batch: &str,
    req: &PushRequest,
) -> AppResult<Vec<u8>> {
    let gone = || {
        Reject::new(
            ErrorCode::InvalidItem,
            "this batch was applied long ago and its answer is no longer kept; \
             the item is not on the server",
        )
    };
    let mut results = Vec::with_capacity(req.inspections.len() + req.photos.len());
    for raw in &req.inspections {
        let id = super::item_id(raw);
        let row = insp::find(c, &id)?.filter(|r| caller.sees_record(&r.group_id, &r.inspector_id));
        results.push(match row {
            Some(row) => {
                let rec = row.record()?;
                unchanged(
                    id,
                    PushItemKind::Inspection,
                    rec.version,
                    rec.fields,
                    rec.deleted,
                )
            }
            None => super::rejected(id, PushItemKind::Inspection, gone(), None),
        });
    }
    let mut photos_missing = Vec::new();
    for raw in &req.photos {
        let id = super::item_id(raw);
        let pid = crate::ids::PhotoId::new(id.clone());
        let found = match insp::photo_meta::find(c, &pid)? {
            Some(p) => match insp::find(c, &p.inspection_id)? {
                Some(row) if caller.sees_record(&row.group_id, &row.inspector_id) => {
                    let status = insp::photo_meta::status(c, &pid)?;
                    Some((p.record()?, row.deleted, status))
                }
                _ => None,
            },
            None => None,
        };
        results.push(match found {
            Some((rec, record_deleted, status)) => {
                // As a first answer would: bytes wanted unless the photo
                // itself is deleted.
                if status == insp::PhotoStatus::Missing && !rec.deleted {
                    photos_missing.push(id.clone());
                }
                unchanged(
                    id,
                    PushItemKind::Photo,
                    rec.version,
                    rec.fields,
                    rec.deleted || record_deleted,
                )
            }
            None => super::rejected(id, PushItemKind::Photo, gone(), None),
        });
    }
    Ok(serde_json::to_vec(&PushResponse {
        batch_id: batch.to_string(),
        results,
        photos_missing,
    })?)
}

fn unchanged(
    id: String,
    kind: PushItemKind,
    version: i64,
    fields: crate::inspection::merge::Fields,
    deleted: bool,
) -> ItemResult {
    ItemResult {
        id,
        kind,
        status: PushItemStatus::Unchanged,
        version: Some(version),
        fields: Some(fields),
        deleted: Some(deleted),
        conflicts: vec![],
        clamped: vec![],
        error: None,
    }
}

/// Keeps the answer, in the transaction that applied the batch.
pub(super) fn keep(
    c: &mut Conn,
    device: &str,
    batch: &str,
    user_id: &str,
    json: &[u8],
    hash: &str,
) -> AppResult<()> {
    diesel::insert_into(push_batches::table)
        .values((
            push_batches::device_id.eq(device),
            push_batches::batch_id.eq(batch),
            push_batches::user_id.eq(user_id),
            push_batches::response.eq(deflate(json)?),
            push_batches::created_at.eq(clock::now()),
            push_batches::request_hash.eq(hash),
        ))
        .execute(c)?;
    Ok(())
}

/// Drops up to `limit` answers kept since before `cutoff` (their keys and
/// hash stay) and forgets up to `limit` batches older than [`KEYS_KEPT_FOR`]
/// times that; returns how many rows it touched. In pieces, so the writer
/// is never held for long. Any server may run it at any time.
pub fn prune(c: &mut Conn, keep_days: u32, limit: i64) -> AppResult<usize> {
    let now = clock::now();
    let cutoff = now - chrono::Duration::days(i64::from(keep_days));
    let forget = now - chrono::Duration::days(i64::from(keep_days) * KEYS_KEPT_FOR);
    // The partial index `push_batches_answer_age` covers this predicate:
    // answers already dropped are not scanned again.
    let with_answer = || sql::<Bool>("length(response) > 0");
    let due: Vec<(String, String)> = push_batches::table
        .filter(push_batches::created_at.lt(cutoff))
        .filter(with_answer())
        .order(push_batches::created_at.asc())
        .select((push_batches::device_id, push_batches::batch_id))
        .limit(limit)
        .load(c)?;
    let mut n = 0;
    if !due.is_empty() {
        let batches: Vec<&str> = due.iter().map(|(_, b)| b.as_str()).collect();
        let devices: Vec<&str> = due.iter().map(|(d, _)| d.as_str()).collect();
        n += diesel::update(
            push_batches::table
                .filter(push_batches::created_at.lt(cutoff))
                .filter(push_batches::batch_id.eq_any(&batches))
                .filter(push_batches::device_id.eq_any(&devices)),
        )
        .set(push_batches::response.eq(Vec::<u8>::new()))
        .execute(c)?;
    }
    let old: Vec<(String, String)> = push_batches::table
        .filter(push_batches::created_at.lt(forget))
        .order(push_batches::created_at.asc())
        .select((push_batches::device_id, push_batches::batch_id))
        .limit(limit)
        .load(c)?;
    if !old.is_empty() {
        let batches: Vec<&str> = old.iter().map(|(_, b)| b.as_str()).collect();
        let devices: Vec<&str> = old.iter().map(|(d, _)| d.as_str()).collect();
        n += diesel::delete(
            push_batches::table
                .filter(push_batches::created_at.lt(forget))
                .filter(push_batches::batch_id.eq_any(&batches))
                .filter(push_batches::device_id.eq_any(&devices)),
        )
        .execute(c)?;
    }
    Ok(n)
}

fn deflate(json: &[u8]) -> AppResult<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 8),
        flate2::Compression::fast(),
    );
    enc.write_all(json).map_err(AppError::internal)?;
    enc.finish().map_err(AppError::internal)
}
