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

/// Creates an upload for a photo whose metadata the caller has pushed.
pub fn create(
    c: &mut Conn,
    caller: &Caller,
    photo_id: &str,
    length: i64,
    metadata: &str,
    expiry_secs: i64,
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
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(uploads::table)
        .values((
            uploads::id.eq(&id),
            uploads::user_id.eq(&caller.id),
            uploads::photo_id.eq(photo_id),
            uploads::length.eq(length),
            uploads::offset_.eq(0),
            uploads::metadata.eq(metadata),
            uploads::expires_at.eq(now + Duration::seconds(expiry_secs)),
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

pub fn set_offset(c: &mut Conn, id: &str, offset: i64) -> AppResult<()> {
    diesel::update(uploads::table.find(id))
        .set(uploads::offset_.eq(offset))
        .execute(c)?;
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
