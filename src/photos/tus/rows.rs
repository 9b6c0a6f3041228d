//! An upload's state is its row (any server answers any request); its
//! bytes are parts in the blob store, one per PATCH, each stored whole
//! before the row's `offset` moves past it and listed in the row's
//! `parts`; the last byte assembles them and checks the photo.

use crate::auth::Caller;
use crate::clock;
use crate::db::schema::{inspections, photos, uploads};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::photos::blob::BlobStore;
use crate::photos::upload;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use std::io::Write;

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = uploads)]
pub struct Upload {
    pub id: String,
    pub user_id: String,
    pub photo_id: String,
    pub length: i64,
    pub offset_: i64,
    pub expires_at: NaiveDateTime,
    /// JSON list of the stored parts' keys.
    pub parts: String,
}

/// Most parts an upload may be stored in: each PATCH is one, and the last
/// byte reads them all back. A client sending tiny chunks must send the
/// rest of its upload in one PATCH once it has this many.
pub const MAX_PARTS: usize = 1000;

impl Upload {
    /// Whether the next PATCH must carry all that is left.
    pub fn must_finish(&self) -> bool {
        serde_json::from_str::<Vec<String>>(&self.parts).map_or(true, |p| p.len() + 1 >= MAX_PARTS)
    }
}

/// Where an upload's parts are: every key under it is one of its parts.
pub fn parts_dir(id: &str) -> String {
    format!("uploads/{id}")
}

/// A new part of `id` starting at `start`: named anew by every PATCH, so a
/// part stored by a PATCH whose answer was lost never stands in for a later
/// one; only the parts the row lists count.
pub fn part_key(id: &str, start: i64) -> String {
    format!("{}/{start:012}-{}", parts_dir(id), uuid::Uuid::new_v4())
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
#[derive(Clone)]
pub struct Limits {
    pub expiry_secs: i64,
    pub max_uploads: i64,
    pub max_bytes: i64,
    /// One photo's and one video's most bytes.
    pub accept: crate::photos::Accept,
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
    type Found = (String, String, String, String, Option<String>, String);
    let row: Option<Found> = photos::table
        .inner_join(inspections::table)
        .filter(photos::id.eq(photo_id))
        .select((
            photos::status,
            inspections::group_id,
            inspections::inspector_id,
            inspections::id,
            photos::response_id,
            photos::kind,
        ))
        .first(c)
        .optional()?;
    // The record's people upload its photos; a department uploads the
    // evidence of its own responses.
    let allowed = match &row {
        Some((_, g, o, _, None, _)) => caller.sees_record(g, o),
        Some((_, g, o, record, Some(r), _)) => {
            caller.sees_record(g, o) || caller.department_sees_photo(c, record, Some(r))?
        }
        None => false,
    };
    match allowed {
        true => {}
        false => {
            return Err(
                AppError::not_found("photo").with_details(serde_json::json!({
                    "hint": "push the photo's metadata first, then upload its bytes"
                })),
            );
        }
    }
    // A photo's bytes are held to a photo's limit, a video's to a video's.
    let video = row
        .as_ref()
        .is_some_and(|r| r.5 == crate::photos::PhotoKind::Video.as_str());
    let most = if video {
        limits.accept.video_bytes
    } else {
        limits.accept.photo_bytes
    };
    if u64::try_from(length).unwrap_or(u64::MAX) > most {
        return Err(AppError::too_large(format!(
            "{} may have at most {most} bytes",
            if video { "a video" } else { "a photo" }
        )));
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
            ErrorCode::UploadLimit,
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

/// Takes the caller's upload for one PATCH at `offset`: 409 when the
/// upload is elsewhere (`upload_offset`, with the offset) or another PATCH
/// is writing to it (`upload_busy`). The lease is a compare-and-set in the
/// database, so two PATCHes never write the same file at once, whichever
/// server they reach.
/// `lease`: how long a PATCH may hold the upload (`FIELDSYNC_UPLOAD_LEASE_SECS`);
/// a server that died mid-PATCH frees it after this.
pub fn claim(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    offset: i64,
    lease: Duration,
) -> AppResult<Upload> {
    let up = find(c, caller, id)?;
    if offset != up.offset_ {
        return Err(AppError::conflict(
            ErrorCode::UploadOffset,
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
    .set(uploads::busy_until.eq(now + lease))
    .execute(c)?;
    if taken == 0 {
        return Err(AppError::conflict(
            ErrorCode::UploadBusy,
            "another request is writing to this upload; ask for its offset (HEAD) and resume",
        ));
    }
    Ok(up)
}

/// Moves a PATCH's upload to the offset it reached (compare-and-set from
/// the offset it started at), lists its stored part and ends its lease.
/// Never for the last bytes: the offset reaches the length only by the row
/// going away with the photo stored (see `api/uploads.rs`).
pub fn release(c: &mut Conn, id: &str, from: i64, to: i64, part: Option<String>) -> AppResult<()> {
    let mut parts = parts(c, id)?;
    parts.extend(part);
    diesel::update(uploads::table.find(id).filter(uploads::offset_.eq(from)))
        .set((
            uploads::offset_.eq(to),
            uploads::parts.eq(serde_json::to_string(&parts)?),
            uploads::busy_until.eq(None::<NaiveDateTime>),
        ))
        .execute(c)?;
    Ok(())
}

/// The upload's stored parts, in order.
pub fn parts(c: &mut Conn, id: &str) -> AppResult<Vec<String>> {
    let listed: String = uploads::table.find(id).select(uploads::parts).first(c)?;
    Ok(serde_json::from_str(&listed)?)
}

pub fn remove(c: &mut Conn, id: &str) -> AppResult<()> {
    diesel::delete(uploads::table.find(id)).execute(c)?;
    Ok(())
}

fn unavailable(e: std::io::Error) -> AppError {
    AppError::unavailable(format!("cannot remove an upload's bytes: {e}"))
}

/// Removes expired uploads, their bytes first, then their rows (a sweep
/// cut short in between is finished by the next). Blocking; the store is
/// never called inside a transaction. Returns how many.
pub fn sweep(db: &Db, store: &dyn BlobStore) -> AppResult<usize> {
    let now = clock::now();
    let expired: Vec<String> = db.read_blocking(move |c| {
        Ok(uploads::table
            .filter(uploads::expires_at.le(now))
            .select(uploads::id)
            .load(c)?)
    })?;
    for id in &expired {
        store.delete_dir(&parts_dir(id)).map_err(unavailable)?;
    }
    let n = expired.len();
    if n == 0 {
        // The usual case, on every upload created: no write lock taken.
        return Ok(0);
    }
    db.write_blocking(move |c| {
        diesel::delete(
            uploads::table
                .filter(uploads::id.eq_any(&expired))
                .filter(uploads::expires_at.le(now)),
        )
        .execute(c)?;
        Ok(())
    })?;
    Ok(n)
}

/// Removes the bytes of uploads whose rows are gone (a server that died
/// between removing an upload's row and its parts). It lists the uploads
/// that have parts (one name each, not every part): for the periodic
/// sweep, not for requests. Returns how many uploads' bytes went.
pub fn sweep_orphans(db: &Db, store: &dyn BlobStore) -> AppResult<usize> {
    // Parts are stored only while their row exists, so a row missing now
    // never comes back for them.
    let mut stored: Vec<String> = store.list_children("uploads").map_err(unavailable)?;
    stored.sort();
    stored.dedup();
    let mut orphans = Vec::new();
    for chunk in stored.chunks(500) {
        let ids = chunk.to_vec();
        let live: std::collections::HashSet<String> = db
            .read_blocking(move |c| {
                Ok(uploads::table
                    .filter(uploads::id.eq_any(&ids))
                    .select(uploads::id)
                    .load::<String>(c)?)
            })?
            .into_iter()
            .collect();
        orphans.extend(chunk.iter().filter(|id| !live.contains(*id)).cloned());
    }
    for id in &orphans {
        store.delete_dir(&parts_dir(id)).map_err(unavailable)?;
    }
    Ok(orphans.len())
}

/// The photo's expected sha256.
pub fn photo_want(c: &mut Conn, photo_id: &str) -> AppResult<crate::photos::Want> {
    let (sha, kind): (String, String) = photos::table
        .find(photo_id)
        .select((photos::sha256, photos::kind))
        .first(c)?;
    let video = kind == crate::photos::PhotoKind::Video.as_str();
    Ok(crate::photos::Want { sha, video })
}

/// The last byte arrived: the parts assembled in order into one local
/// file, checked whole and kept as the photo's original (blocking). The
/// parts stay until the upload's row is gone: a server dying before that
/// leaves an upload its phone can finish again.
pub fn finish(
    parts: &[String],
    want: &crate::photos::Want,
    store: &dyn BlobStore,
    accept: &crate::photos::Accept,
) -> AppResult<Result<(), crate::photos::inspect::Refusal>> {
    let unavailable =
        |e: std::io::Error| AppError::unavailable(format!("cannot read the upload: {e}"));
    let (path, mut file) = store.temp().map_err(unavailable)?;
    let assembled = (|| {
        for key in parts {
            store.copy_to(key, &mut file)?;
        }
        file.flush()?;
        file.sync_all()
    })();
    let verdict = assembled
        .map_err(unavailable)
        .and_then(|()| upload::check_file(&path, want, store, accept));
    let _ = std::fs::remove_file(&path);
    verdict
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
