//! A batch's answer kept per `(device_id, batch_id)` with the batch's hash,
//! deflated: a replay gets the same bytes; a reused batch id with other
//! content is refused.

use crate::clock;
use crate::db::Conn;
use crate::db::schema::push_batches;
use crate::error::{AppError, AppResult, ErrorCode};
use diesel::prelude::*;
use std::io::Read;

/// The answer given before to this batch, if there was one.
pub(super) fn stored(
    c: &mut Conn,
    device: &str,
    batch: &str,
    hash: &str,
) -> AppResult<Option<Vec<u8>>> {
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
    let mut json = Vec::with_capacity(answer.len() * 8);
    flate2::read::DeflateDecoder::new(&answer[..])
        .read_to_end(&mut json)
        .map_err(AppError::internal)?;
    Ok(Some(json))
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

fn deflate(json: &[u8]) -> AppResult<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 8),
        flate2::Compression::fast(),
    );
    enc.write_all(json).map_err(AppError::internal)?;
    enc.finish().map_err(AppError::internal)
}
