//! `/api/v1/uploads`: resumable photo uploads speaking tus 1.0.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::photos::tus::{self, EXTENSIONS, VERSION};
use crate::photos::{jobs, upload};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, delete, patch, post, route, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::Arc;

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
            "tus_version",
            format!("send Tus-Resumable: {VERSION}"),
        )),
        Some(_) => Err(AppError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            format!("this server speaks tus {VERSION}; send Tus-Resumable: {VERSION}"),
        )
        .with_header("Tus-Version", VERSION)),
    }
}

/// What this server supports (tus discovery; no token needed).
#[utoipa::path(options, path = "/api/v1/uploads", tag = "photos", responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Checksum-Algorithm, Tus-Max-Size")))]
#[route("/api/v1/uploads", method = "OPTIONS")]
pub async fn options(st: web::Data<AppState>) -> HttpResponse {
    tus(HttpResponse::NoContent())
        .insert_header(("Tus-Version", VERSION))
        .insert_header(("Tus-Extension", EXTENSIONS))
        .insert_header(("Tus-Checksum-Algorithm", "sha256"))
        .insert_header(("Tus-Max-Size", st.config.max_photo_bytes.to_string()))
        .finish()
}

/// Creates an upload (`Upload-Length`, `Upload-Metadata` with `photo_id`).
#[utoipa::path(tag = "photos", params(("Tus-Resumable" = String, Header, description = "1.0.0, the tus version"), ("Upload-Length" = u64, Header), ("Upload-Metadata" = String, Header, description = "photo_id <base64>")), responses((status = 201, description = "Location of the new upload"), (status = 404), (status = 413), (status = 412, description = "Tus-Resumable missing or not 1.0.0")))]
#[post("/api/v1/uploads")]
pub async fn create(
    st: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    check_version(&req)?;
    let length: i64 = header(&req, "Upload-Length")
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            AppError::bad_request(
                "upload_length",
                "send Upload-Length: the photo's size in bytes",
            )
        })?;
    if length as u64 > st.config.max_photo_bytes {
        return Err(AppError::too_large(format!(
            "a photo may have at most {} bytes",
            st.config.max_photo_bytes
        )));
    }
    let metadata = header(&req, "Upload-Metadata")
        .unwrap_or_default()
        .to_string();
    let photo_id = tus::metadata_value(&metadata, "photo_id")
        .and_then(|p| uuid::Uuid::parse_str(&p).ok())
        .ok_or_else(|| {
            AppError::bad_request("upload_metadata", "Upload-Metadata must carry photo_id")
        })?
        .to_string();
    let limits = tus::Limits {
        expiry_secs: st.config.upload_expiry_secs,
        max_uploads: st.config.max_uploads_per_user,
        max_bytes: st.config.max_upload_bytes_per_user,
    };
    // Expired uploads go first: their bytes are freed as soon as they are
    // no use, whenever the periodic sweep comes.
    let (db, store) = (st.db.clone(), st.jobs.store_arc());
    web::block(move || tus::sweep(&db, store.as_ref())).await??;
    let up = st
        .db
        .write(move |c| tus::create(c, &caller, &photo_id, length, &metadata, &limits))
        .await?;
    Ok(tus(HttpResponse::Created())
        .insert_header(("Location", format!("/api/v1/uploads/{}", up.id)))
        .insert_header(("Upload-Expires", up.expires_at.and_utc().to_rfc2822()))
        .finish())
}

/// Where an upload stands (`Upload-Offset`).
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "photos", params(("id" = uuid::Uuid, Path), ("Tus-Resumable" = String, Header, description = "1.0.0, the tus version")), responses((status = 200, description = "Upload-Offset and Upload-Length"), (status = 412, description = "Tus-Resumable missing or not 1.0.0")))]
#[route("/api/v1/uploads/{id}", method = "HEAD")]
pub async fn head(
    st: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<uuid::Uuid>,
) -> AppResult<HttpResponse> {
    check_version(&req)?;
    let id = id.to_string();
    let up = st.db.read(move |c| tus::find(c, &caller, &id)).await?;
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
    st: &AppState,
    id: &str,
    up: &tus::Upload,
    checksum: Option<Vec<u8>>,
    body: &mut web::Payload,
) -> AppResult<Option<Received>> {
    let store = st.jobs.store_arc();
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
    let key = tus::part_key(id, up.offset_);
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
#[utoipa::path(tag = "photos", params(("Tus-Resumable" = String, Header, description = "1.0.0, the tus version"), ("Upload-Offset" = u64, Header)), responses((status = 204), (status = 409, description = "wrong Upload-Offset, another PATCH is writing, or the upload has 999 parts and this PATCH does not carry all that is left"), (status = 460, description = "checksum mismatch"), (status = 412, description = "Tus-Resumable missing or not 1.0.0")))]
#[patch("/api/v1/uploads/{id}")]
pub async fn append(
    st: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<uuid::Uuid>,
    mut body: web::Payload,
) -> AppResult<HttpResponse> {
    check_version(&req)?;
    if header(&req, "Content-Type") != Some("application/offset+octet-stream") {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/offset+octet-stream",
        ));
    }
    let offset: i64 = header(&req, "Upload-Offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::bad_request("upload_offset", "send Upload-Offset"))?;
    let checksum = match header(&req, "Upload-Checksum") {
        None => None,
        Some(v) => match v.split_once(' ') {
            Some(("sha256", b64)) => Some(STANDARD.decode(b64.trim()).map_err(|_| {
                AppError::bad_request("upload_checksum", "the checksum is not base64")
            })?),
            _ => {
                return Err(AppError::bad_request(
                    "upload_checksum",
                    "only sha256 checksums are supported",
                ));
            }
        },
    };
    let id = id.to_string();
    let (uid, c2) = (id.clone(), caller.clone());
    let lease = chrono::Duration::seconds(st.config.upload_lease_secs.max(1));
    let up = st
        .db
        .write(move |c| tus::claim(c, &c2, &uid, offset, lease))
        .await?;
    let mut received = receive(&st, &id, &up, checksum, &mut body).await;
    let (new_offset, part) = match &mut received {
        Ok(Some(kept)) => (up.offset_ + kept.bytes as i64, kept.part.take()),
        _ => (up.offset_, None),
    };
    let (uid, from) = (id.clone(), up.offset_);
    if new_offset < up.length && up.must_finish() && matches!(received, Ok(Some(_))) {
        // Too many parts already: these bytes are not kept (their part is
        // removed with the others when the upload ends).
        st.db
            .write(move |c| tus::release(c, &uid, from, from, None))
            .await?;
        return Err(AppError::conflict(
            "upload_parts",
            format!(
                "this upload is in {} parts already; send all that is left in one PATCH",
                tus::MAX_PARTS - 1
            ),
        )
        .with_details(serde_json::json!({ "offset": from })));
    }
    if new_offset < up.length || !matches!(received, Ok(Some(_))) {
        // Whatever happened, the lease ends at the offset reached.
        st.db
            .write(move |c| tus::release(c, &uid, from, new_offset, part))
            .await?;
        if received?.is_none() {
            return Ok(tus(HttpResponse::build(StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST)))
                .insert_header(("Upload-Offset", up.offset_.to_string()))
                .json(serde_json::json!({"error": {"code": "checksum_mismatch", "message": "the chunk does not match Upload-Checksum; it was discarded", "details": {}}})));
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
        let listed = st.db.read(move |c| tus::parts(c, &uid)).await?;
        let parts: Vec<String> = listed.into_iter().chain(part).collect();
        let sha = st.db.read(move |c| tus::photo_sha(c, &photo)).await?;
        let jobs_ = Arc::clone(&st.jobs);
        let max_pixels = st.config.max_photo_pixels;
        web::block(move || tus::finish(&parts, &sha, jobs_.store(), max_pixels)).await?
    }
    .await;
    let verdict = match checked {
        Ok(v) => v,
        Err(e) => {
            // Ours (the database, the store): the upload is free to be
            // finished again at once.
            let uid = id.clone();
            st.db
                .write(move |c| tus::release(c, &uid, from, from, None))
                .await?;
            return Err(e);
        }
    };
    let uid = id.clone();
    let stored = verdict.is_ok();
    let photo = up.photo_id.clone();
    st.db
        .write(move |c| {
            tus::remove(c, &uid)?;
            if stored {
                jobs::bytes_arrived(c, &photo)?;
            }
            Ok(())
        })
        .await?;
    st.jobs.notify();
    // Kept or refused, the parts are done with (a refused photo is sent
    // again from the start).
    let store = st.jobs.store_arc();
    web::block(move || {
        if let Err(e) = store.delete_dir(&tus::parts_dir(&id)) {
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
#[utoipa::path(tag = "photos", params(("Tus-Resumable" = String, Header, description = "1.0.0, the tus version")), responses((status = 204), (status = 404), (status = 412, description = "Tus-Resumable missing or not 1.0.0")))]
#[delete("/api/v1/uploads/{id}")]
pub async fn terminate(
    st: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<uuid::Uuid>,
) -> AppResult<HttpResponse> {
    check_version(&req)?;
    let id = id.to_string();
    let uid = id.clone();
    st.db
        .write(move |c| {
            tus::find(c, &caller, &uid)?;
            tus::remove(c, &uid)
        })
        .await?;
    let store = st.jobs.store_arc();
    // The row is gone: its bytes are garbage whatever happens here (a
    // failure leaves them to no one; logged).
    web::block(move || {
        if let Err(e) = store.delete_dir(&tus::parts_dir(&id)) {
            tracing::warn!(error = %e, upload = %id, "could not remove an upload's parts");
        }
    })
    .await?;
    Ok(tus(HttpResponse::NoContent()).finish())
}
