//! Resumable uploads (tus 1.0: core, creation, termination, checksum with
//! sha256, expiration). The bytes received so far are a file under the
//! data directory; the row's `offset` says how many of them are durable.

use super::blob::BlobStore;
use super::upload;
use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{inspections, photos, uploads};
use crate::error::{AppError, AppResult};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use std::path::{Path, PathBuf};

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str = "creation,termination,checksum,expiration";

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = uploads)]
pub struct Upload {
    pub id: String,
    pub user_id: String,
    pub photo_id: String,
    pub length: i64,
    pub offset_: i64,
    pub expires_at: NaiveDateTime,
}

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}

pub fn part_path(data_dir: &Path, id: &str) -> PathBuf {
    dir(data_dir).join(format!("{id}.part"))
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs.
pub fn metadata_value(header: &str, key: &str) -> Option<String> {
    header.split(',').find_map(|pair| {
        let mut it = pair.trim().splitn(2, ' ');
        (it.next()? == key)
            .then(|| it.next().and_then(|v| STANDARD.decode(v.trim()).ok()))
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
    })
}

/// What one user's unfinished uploads may take.
pub struct Limits {
    pub expiry_secs: i64,
    pub max_uploads: i64,
    pub max_bytes: i64,
}

/// Creates an upload for a photo whose metadata the caller has pushed.
pub fn create(
    c: &mut Conn,
    caller: &Caller,
    photo_id: &str,
    length: i64,
    metadata: &str,
    limits: &Limits,
) -> AppResult<Upload> {
    let row: Option<(String, String, String)> = photos::table
        .inner_join(inspections::table)
        .filter(photos::id.eq(photo_id))
        .select((
            photos::status,
            inspections::group_id,
            inspections::inspector_id,
        ))
        .first(c)
        .optional()?;
    let visible = |g: &str, owner: &str| caller.sees_record(g, owner);
    match row {
        Some((_, g, o)) if visible(&g, &o) => {}
        _ => {
            return Err(
                AppError::not_found("photo").with_details(serde_json::json!({
                    "hint": "push the photo's metadata first, then upload its bytes"
                })),
            );
        }
    }
    let now = clock::now();
    let lengths: Vec<i64> = uploads::table
        .filter(uploads::user_id.eq(&caller.id))
        .filter(uploads::expires_at.gt(now))
        .select(uploads::length)
        .limit(limits.max_uploads + 1)
        .load(c)?;
    let (count, bytes) = (lengths.len() as i64, lengths.iter().sum::<i64>());
    if count >= limits.max_uploads || bytes + length > limits.max_bytes {
        return Err(AppError::conflict(
            "upload_limit",
            format!(
                "you have {count} unfinished uploads of {} bytes; finish or cancel some first \
                 (at most {} uploads, {} bytes)",
                bytes, limits.max_uploads, limits.max_bytes
            ),
        ));
    }
    let id = clock::new_id();
    diesel::insert_into(uploads::table)
        .values((
            uploads::id.eq(&id),
            uploads::user_id.eq(&caller.id),
            uploads::photo_id.eq(photo_id),
            uploads::length.eq(length),
            uploads::offset_.eq(0),
            uploads::metadata.eq(metadata),
            uploads::expires_at.eq(now + Duration::seconds(limits.expiry_secs)),
            uploads::created_at.eq(now),
        ))
        .execute(c)?;
    find(c, caller, &id)
}

/// The caller's live upload, or 404.
pub fn find(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Upload> {
    uploads::table
        .find(id)
        .select(Upload::as_select())
        .first(c)
        .optional()?
        .filter(|u| u.user_id == caller.id && u.expires_at > clock::now())
        .ok_or_else(|| AppError::not_found("upload"))
}

/// How long a PATCH may hold an upload; a server that died mid-PATCH
/// frees it after this.
pub const LEASE_SECS: i64 = 300;

/// Takes the caller's upload for one PATCH at `offset`: 409 when the
/// upload is elsewhere (`upload_offset`, with the offset) or another PATCH
/// is writing to it (`upload_busy`). The lease is a compare-and-set in the
/// database, so two PATCHes never write the same file at once, whichever
/// server they reach.
pub fn claim(c: &mut Conn, caller: &Caller, id: &str, offset: i64) -> AppResult<Upload> {
    let up = find(c, caller, id)?;
    if offset != up.offset_ {
        return Err(AppError::conflict(
            "upload_offset",
            format!("the upload is at {}, not {offset}", up.offset_),
        )
        .with_details(serde_json::json!({ "offset": up.offset_ })));
    }
    let now = clock::now();
    let taken = diesel::update(
        uploads::table
            .find(id)
            .filter(uploads::offset_.eq(offset))
            .filter(
                uploads::busy_until
                    .is_null()
                    .or(uploads::busy_until.le(now)),
            ),
    )
    .set(uploads::busy_until.eq(now + Duration::seconds(LEASE_SECS)))
    .execute(c)?;
    if taken == 0 {
        return Err(AppError::conflict(
            "upload_busy",
            "another request is writing to this upload; ask for its offset (HEAD) and resume",
        ));
    }
    Ok(up)
}

/// Moves a PATCH's upload to the offset it reached (compare-and-set from
/// the offset it started at) and ends its lease, unless `keep` (the last
/// byte arrived: the lease lasts while the file is checked and bound).
pub fn release(c: &mut Conn, id: &str, from: i64, to: i64, keep: bool) -> AppResult<()> {
    let q = diesel::update(uploads::table.find(id).filter(uploads::offset_.eq(from)));
    if keep {
        q.set(uploads::offset_.eq(to)).execute(c)?;
    } else {
        q.set((
            uploads::offset_.eq(to),
            uploads::busy_until.eq(None::<NaiveDateTime>),
        ))
        .execute(c)?;
    }
    Ok(())
}

pub fn remove(c: &mut Conn, id: &str) -> AppResult<()> {
    diesel::delete(uploads::table.find(id)).execute(c)?;
    Ok(())
}

/// Removes expired uploads and their bytes. Returns how many.
pub fn expire(c: &mut Conn, data_dir: &Path) -> AppResult<usize> {
    let gone: Vec<String> = uploads::table
        .filter(uploads::expires_at.le(clock::now()))
        .select(uploads::id)
        .load(c)?;
    for id in &gone {
        let _ = std::fs::remove_file(part_path(data_dir, id));
    }
    diesel::delete(uploads::table.filter(uploads::id.eq_any(&gone))).execute(c)?;
    Ok(gone.len())
}

/// The photo's expected sha256.
pub fn photo_sha(c: &mut Conn, photo_id: &str) -> AppResult<String> {
    Ok(photos::table
        .find(photo_id)
        .select(photos::sha256)
        .first(c)?)
}

/// The last byte arrived: check the whole file and keep it (blocking).
pub fn finish(
    path: &Path,
    sha: &str,
    store: &dyn BlobStore,
    max_pixels: u64,
) -> AppResult<Result<(), super::inspect::Refusal>> {
    upload::check_file(path, sha, store, max_pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_decoded() {
        let h = format!(
            "filename {},photo_id {}",
            STANDARD.encode("a.jpg"),
            STANDARD.encode("abc-123")
        );
        assert_eq!(metadata_value(&h, "photo_id").as_deref(), Some("abc-123"));
        assert_eq!(metadata_value(&h, "filename").as_deref(), Some("a.jpg"));
        assert_eq!(metadata_value(&h, "nope"), None);
        assert_eq!(metadata_value("photo_id !!!", "photo_id"), None);
    }
}
