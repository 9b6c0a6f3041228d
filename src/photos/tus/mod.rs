//! Resumable uploads speaking tus 1.0 (core, creation, termination,
//! checksum with sha256, expiration): the whole exchange, from a request's
//! headers to its answer. `api/uploads.rs` only routes to it; the upload's
//! rows and parts are `rows`.

mod rows;

pub use rows::{Limits, MAX_PARTS, Upload, sweep, sweep_orphans};

use super::jobs::{self, Jobs};
use super::upload;
use crate::auth::Caller;
use crate::db::Db;
use crate::error::{AppError, AppResult, ErrorCode};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str = "creation,termination,checksum,expiration";

/// What the exchange is run with: the settings come from the server's.
pub struct Ctx<'a> {
    pub db: &'a Db,
    pub jobs: &'a Arc<Jobs>,
    pub settings: Settings,
}

pub struct Settings {
    /// What bytes a photo item takes (a video's limit is its own).
    pub accept: crate::photos::Accept,
    /// How long one PATCH holds an upload (`FIELDSYNC_UPLOAD_LEASE_SECS`).
    pub lease_secs: i64,
    pub limits: rows::Limits,
}

fn tus(mut b: HttpResponseBuilder) -> HttpResponseBuilder {
    b.insert_header(("Tus-Resumable", VERSION));
    b
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Every request but OPTIONS names the protocol version it speaks.
/// tus: a version the server does not speak is 412 (with `Tus-Version`);
/// no version at all is a malformed request, 400.
fn check_version(req: &HttpRequest) -> AppResult<()> {
    match header(req, "Tus-Resumable").map(str::trim) {
        Some(VERSION) => Ok(()),
        None | Some("") => Err(AppError::bad_request(
            ErrorCode::TusVersion,
            format!("send Tus-Resumable: {VERSION}"),
        )),
        Some(_) => Err(AppError::new(
            StatusCode::PRECONDITION_FAILED,
            ErrorCode::TusVersion,
            format!("this server speaks tus {VERSION}; send Tus-Resumable: {VERSION}"),
        )
        .with_header("Tus-Version", VERSION)),
    }
}

/// What this server supports (tus discovery; no token needed).
pub fn options(ctx: &Ctx<'_>) -> HttpResponse {
    tus(HttpResponse::NoContent())
        .insert_header(("Tus-Version", VERSION))
        .insert_header(("Tus-Extension", EXTENSIONS))
        .insert_header(("Tus-Checksum-Algorithm", "sha256"))
        .insert_header(("Tus-Max-Size", ctx.settings.accept.largest().to_string()))
        .finish()
}

/// Creates an upload (`Upload-Length`, `Upload-Metadata` with `photo_id`).
pub async fn create(ctx: &Ctx<'_>, caller: Caller, req: &HttpRequest) -> AppResult<HttpResponse> {
    check_version(req)?;
    let length: i64 = header(req, "Upload-Length")
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            AppError::bad_request(
                ErrorCode::UploadLength,
                "send Upload-Length: the photo's size in bytes",
            )
        })?;
    if length as u64 > ctx.settings.accept.largest() {
        return Err(AppError::too_large(format!(
            "a photo or video may have at most {} bytes",
            ctx.settings.accept.largest()
        )));
    }
    let metadata = header(req, "Upload-Metadata")
        .unwrap_or_default()
        .to_string();
    let photo_id = rows::metadata_value(&metadata, "photo_id")
        .and_then(|p| uuid::Uuid::parse_str(&p).ok())
        .ok_or_else(|| {
            AppError::bad_request(
                ErrorCode::UploadMetadata,
                "Upload-Metadata must carry photo_id",
            )
        })?
        .to_string();
    let limits = ctx.settings.limits.clone();
    // Expired uploads go first: their bytes are freed as soon as they are
    // no use, whenever the periodic sweep comes.
    let (db, store) = (ctx.db.clone(), ctx.jobs.store_arc());
    web::block(move || rows::sweep(&db, store.as_ref())).await??;
    let up = ctx
        .db
        .write(move |c| rows::create(c, &caller, &photo_id, length, &metadata, &limits))
        .await?;
    Ok(tus(HttpResponse::Created())
        .insert_header(("Location", format!("/api/v1/uploads/{}", up.id)))
        .insert_header(("Upload-Expires", up.expires_at.and_utc().to_rfc2822()))
        .finish())
}

/// Where an upload stands (`Upload-Offset`).
pub async fn head(
    ctx: &Ctx<'_>,
    caller: Caller,
    req: &HttpRequest,
    id: uuid::Uuid,
) -> AppResult<HttpResponse> {
    check_version(req)?;
    let id = id.to_string();
    let up = ctx.db.read(move |c| rows::find(c, &caller, &id)).await?;
    Ok(tus(HttpResponse::Ok())
        .insert_header(("Upload-Offset", up.offset_.to_string()))
        .insert_header(("Upload-Length", up.length.to_string()))
        .insert_header(("Upload-Expires", up.expires_at.and_utc().to_rfc2822()))
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

/// What a PATCH brought: how many bytes, stored as which part.
struct Received {
    bytes: u64,
    part: Option<String>,
}

/// Stages the body in a local file, then stores it whole as a new part of
/// the upload; returns what was kept (None: the chunk failed its checksum
/// and was discarded). A dropped connection keeps what arrived.
async fn receive(
    ctx: &Ctx<'_>,
    id: &str,
    up: &rows::Upload,
    checksum: Option<Vec<u8>>,
    body: &mut web::Payload,
) -> AppResult<Option<Received>> {
    let store = ctx.jobs.store_arc();
    let s = Arc::clone(&store);
    let (path, file) = web::block(move || s.temp())
        .await?
        .map_err(|e| AppError::unavailable(format!("cannot stage the upload: {e}")))?;
    let staged = upload::Staged(path.clone());
    let room = (up.length - up.offset_) as u64;
    let mut received: u64 = 0;
    let mut hasher = Sha256::new();
    let mut spool = upload::Spool::new(file);
    while let Some(chunk) = body.next().await {
        // A dropped connection ends the stream here: what arrived is kept,
        // and the client resumes from the new offset.
        let Ok(chunk) = chunk else { break };
        received += chunk.len() as u64;
        if received > room {
            return Err(AppError::too_large("more bytes than Upload-Length"));
        }
        hasher.update(&chunk);
        spool.write(&chunk).await?;
    }
    spool.finish().await?;
    if checksum.is_some_and(|want| hasher.finalize()[..] != want[..]) {
        return Ok(None);
    }
    if received == 0 {
        return Ok(Some(Received {
            bytes: 0,
            part: None,
        }));
    }
    let key = rows::part_key(id, up.offset_);
    let k = key.clone();
    web::block(move || {
        let r = store.put_file(&k, &path);
        drop(staged);
        r
    })
    .await?
    .map_err(|e| AppError::unavailable(format!("cannot store the upload: {e}")))?;
    Ok(Some(Received {
        bytes: received,
        part: Some(key),
    }))
}

/// Appends bytes at `Upload-Offset` (the body, sent as
/// `application/offset+octet-stream`); the last byte binds them to the photo.
pub async fn append(
    ctx: &Ctx<'_>,
    caller: Caller,
    req: &HttpRequest,
    id: uuid::Uuid,
    mut body: web::Payload,
) -> AppResult<HttpResponse> {
    check_version(req)?;
    if header(req, "Content-Type") != Some("application/offset+octet-stream") {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send Content-Type: application/offset+octet-stream",
        ));
    }
    let offset: i64 = header(req, "Upload-Offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::bad_request(ErrorCode::UploadOffset, "send Upload-Offset"))?;
    let checksum = match header(req, "Upload-Checksum") {
        None => None,
        Some(v) => match v.split_once(' ') {
            Some(("sha256", b64)) => Some(STANDARD.decode(b64.trim()).map_err(|_| {
                AppError::bad_request(ErrorCode::UploadChecksum, "the checksum is not base64")
            })?),
            _ => {
                return Err(AppError::bad_request(
                    ErrorCode::UploadChecksum,
                    "only sha256 checksums are supported",
                ));
            }
        },
    };
    let id = id.to_string();
    let (uid, c2) = (id.clone(), caller.clone());
    let lease = chrono::Duration::seconds(ctx.settings.lease_secs.max(1));
    let up = ctx
        .db
        .write(move |c| rows::claim(c, &c2, &uid, offset, lease))
        .await?;
    let mut received = receive(ctx, &id, &up, checksum, &mut body).await;
    let (new_offset, part) = match &mut received {
        Ok(Some(kept)) => (up.offset_ + kept.bytes as i64, kept.part.take()),
        _ => (up.offset_, None),
    };
    let (uid, from) = (id.clone(), up.offset_);
    if new_offset < up.length && up.must_finish() && matches!(received, Ok(Some(_))) {
        // Too many parts already: these bytes are not kept (their part is
        // removed with the others when the upload ends).
        ctx.db
            .write(move |c| rows::release(c, &uid, from, from, None))
            .await?;
        return Err(AppError::conflict(
            ErrorCode::UploadParts,
            format!(
                "this upload is in {} parts already; send all that is left in one PATCH",
                rows::MAX_PARTS - 1
            ),
        )
        .with_details(serde_json::json!({ "offset": from })));
    }
    if new_offset < up.length || !matches!(received, Ok(Some(_))) {
        // Whatever happened, the lease ends at the offset reached.
        ctx.db
            .write(move |c| rows::release(c, &uid, from, new_offset, part))
            .await?;
        if received?.is_none() {
            return Ok(tus(HttpResponse::build(StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST)))
                .insert_header(("Upload-Offset", up.offset_.to_string()))
                .json(serde_json::json!({"error": {"code": ErrorCode::ChecksumMismatch.as_str(), "message": "the chunk does not match Upload-Checksum; it was discarded", "details": {}}})));
        }
        return Ok(tus(HttpResponse::NoContent())
            .insert_header(("Upload-Offset", new_offset.to_string()))
            .finish());
    }

    // The last bytes. The row's offset never says "complete" before the
    // photo is stored: the upload stays where it was (leased to this
    // PATCH) while its parts and these bytes are checked and kept, and goes
    // away with the photo's bytes marked arrived, in one write. A server
    // dying in between leaves an upload whose phone sends the last bytes
    // again (after the lease), on any server.
    let photo = up.photo_id.clone();
    let checked = async {
        let listed = ctx.db.read(move |c| rows::parts(c, &uid)).await?;
        let parts: Vec<String> = listed.into_iter().chain(part).collect();
        let want = ctx.db.read(move |c| rows::photo_want(c, &photo)).await?;
        let jobs_ = Arc::clone(ctx.jobs);
        let accept = ctx.settings.accept;
        web::block(move || rows::finish(&parts, &want, jobs_.store(), &accept)).await?
    }
    .await;
    let verdict = match checked {
        Ok(v) => v,
        Err(e) => {
            // Ours (the database, the store): the upload is free to be
            // finished again at once.
            let uid = id.clone();
            ctx.db
                .write(move |c| rows::release(c, &uid, from, from, None))
                .await?;
            return Err(e);
        }
    };
    let uid = id.clone();
    let stored = verdict.is_ok();
    let photo = up.photo_id.clone();
    ctx.db
        .write(move |c| {
            rows::remove(c, &uid)?;
            if stored {
                jobs::bytes_arrived(c, &photo)?;
            }
            Ok(())
        })
        .await?;
    ctx.jobs.notify();
    // Kept or refused, the parts are done with (a refused photo is sent
    // again from the start).
    let store = ctx.jobs.store_arc();
    web::block(move || {
        if let Err(e) = store.delete_dir(&rows::parts_dir(&id)) {
            tracing::warn!(error = %e, upload = %id, "could not remove an upload's parts");
        }
    })
    .await?;
    match verdict {
        Ok(()) => Ok(tus(HttpResponse::NoContent())
            .insert_header(("Upload-Offset", new_offset.to_string()))
            .finish()),
        Err(r) => Err(AppError::new(
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            r.code,
            r.message,
        )),
    }
}

/// Abandons an upload and removes its bytes.
pub async fn terminate(
    ctx: &Ctx<'_>,
    caller: Caller,
    req: &HttpRequest,
    id: uuid::Uuid,
) -> AppResult<HttpResponse> {
    check_version(req)?;
    let id = id.to_string();
    let uid = id.clone();
    ctx.db
        .write(move |c| {
            rows::find(c, &caller, &uid)?;
            rows::remove(c, &uid)
        })
        .await?;
    let store = ctx.jobs.store_arc();
    // The row is gone: its bytes are garbage whatever happens here (a
    // failure leaves them to no one; logged).
    web::block(move || {
        if let Err(e) = store.delete_dir(&rows::parts_dir(&id)) {
            tracing::warn!(error = %e, upload = %id, "could not remove an upload's parts");
        }
    })
    .await?;
    Ok(tus(HttpResponse::NoContent()).finish())
}
