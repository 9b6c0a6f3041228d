//! Serving a photo's bytes: the original as received or a variant (made
//! on the spot when its job has not run yet, in the same bounded decode
//! slots), with an ETag by content, long cache headers, and one `Range` on
//! both blob stores. Who may see the photo is decided before (by its
//! record: `inspection::photo_meta::servable`).

use super::blob::{self, BlobStore, Opened};
use super::inspect;
use super::jobs::{JobError, Jobs};
use super::{PhotoKind, PhotoStatus, video};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection::photo_meta::Servable;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use std::sync::Arc;

/// Answers a request for the `variant` (`thumb`, `display`, `original`,
/// a video's `poster`) of a photo item. A video's variants are made only
/// by its job (a transcode takes minutes): one not made yet is 404
/// `variant_pending`, and a player falls back to the original.
pub async fn bytes(
    jobs: Arc<Jobs>,
    req: &HttpRequest,
    found: Servable,
    variant: String,
) -> AppResult<HttpResponse> {
    let Servable {
        sha,
        status,
        kind,
        original_dropped,
    } = found;
    let is_video = kind == PhotoKind::Video;
    if variant == "poster" && !is_video {
        return Err(AppError::not_found("photo variant"));
    }
    if variant == "original" && original_dropped {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "the original was dropped after the district's retention period; display is kept",
        ));
    }
    if status == PhotoStatus::Missing {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::PhotoMissing,
            "the photo's bytes have not been uploaded yet",
        ));
    }
    let etag = format!("\"{sha}-{variant}\"");
    let cache = "private, max-age=31536000, immutable";
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    if status == PhotoStatus::Failed && variant != "original" {
        // Its job found the bytes unusable: answered from the stored
        // status, never decoded again.
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::PhotoFailed,
            "the photo's bytes could not be made into variants; the original is still served",
        ));
    }
    let store = jobs.store_arc();
    let v = variant.clone();
    let (opened, key) = web::block(move || -> AppResult<(Opened, String)> {
        let store = jobs.store();
        let key = if v == "original" {
            blob::original_key(&sha)
        } else if is_video {
            let key = video::variant_key(&sha, &v);
            let made = store_ok(jobs.store().exists(&key))?;
            if !made {
                return Err(AppError::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::VariantPending,
                    "the video's variants are not made yet; play the original",
                ));
            }
            key
        } else {
            // Not made yet: made now, in the same bounded decode slots as
            // the jobs, once per photo however many ask.
            jobs.variants_now(&sha, VARIANT_WAIT).map_err(|e| match e {
                JobError::Refused(r) => {
                    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code, r.message)
                }
                JobError::Io(e) => AppError::unavailable(format!("cannot read the photo: {e}")),
                JobError::Busy => {
                    AppError::unavailable("every photo worker is busy; try again shortly")
                }
                JobError::NeedsTool(t) => AppError::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::VariantPending,
                    format!("{}: the original is served", t.missing()),
                ),
            })?;
            blob::variant_key(&sha, &v)
        };
        let opened = store
            .open(&key)
            .map_err(|e| AppError::unavailable(format!("cannot read the photo: {e}")))?;
        Ok((opened, key))
    })
    .await??;
    let original = variant == "original";
    let mut res = match opened {
        Opened::File(f, path) => {
            let content_type = if original {
                let mut head = [0u8; 64];
                let n = std::io::Read::read(&mut &f, &mut head).map_err(AppError::internal)?;
                std::io::Seek::rewind(&mut &f).map_err(AppError::internal)?;
                sniffed(&head[..n])
            } else if is_video && variant == "display" {
                "video/mp4"
            } else {
                "image/jpeg"
            };
            // Streamed from the file in pieces, with `Range` (a resumed
            // download of a large original); the ETag is ours, by content.
            actix_files::NamedFile::from_file(f, path)
                .map_err(AppError::internal)?
                .use_etag(false)
                .use_last_modified(false)
                .disable_content_disposition()
                .set_content_type(content_type.parse().map_err(AppError::internal)?)
                .into_response(req)
        }
        Opened::Remote { size } => {
            let content_type = if original && size > 0 {
                let mut head = store
                    .stream(&key, 0..size.min(64))
                    .map_err(AppError::internal)?;
                let mut first = Vec::new();
                while let Some(piece) = head.next().await {
                    first.extend_from_slice(&piece.map_err(AppError::internal)?);
                }
                sniffed(&first)
            } else if original {
                "application/octet-stream"
            } else if is_video && variant == "display" {
                "video/mp4"
            } else {
                "image/jpeg"
            };
            remote(req, store.as_ref(), &key, size, content_type)?
        }
    };
    let h = res.headers_mut();
    h.insert(
        header::ETAG,
        header::HeaderValue::from_str(&etag).map_err(AppError::internal)?,
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(cache),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

fn sniffed(head: &[u8]) -> &'static str {
    if let Some(c) = super::container::sniff(head) {
        return c.content_type();
    }
    inspect::sniff(head).map_or("application/octet-stream", |f| f.content_type())
}

fn store_ok<T>(r: std::io::Result<T>) -> AppResult<T> {
    r.map_err(|e| AppError::unavailable(format!("cannot read the photo: {e}")))
}

/// A blob in the object store, streamed as it arrives, with one `Range`
/// as actix-files serves a local one (several ranges: the whole blob).
fn remote(
    req: &HttpRequest,
    store: &dyn BlobStore,
    key: &str,
    size: u64,
    content_type: &str,
) -> AppResult<HttpResponse> {
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| actix_files::HttpRange::parse(v, size));
    let (status, start, len) = match range {
        Some(Ok(r)) if r.len() == 1 => (StatusCode::PARTIAL_CONTENT, r[0].start, r[0].length),
        Some(Err(_)) => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                .finish());
        }
        _ => (StatusCode::OK, 0, size),
    };
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        res.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + len - 1),
        ));
    }
    if len == 0 {
        return Ok(res.finish());
    }
    let body = store
        .stream(key, start..start + len)
        .map_err(|e| AppError::unavailable(format!("cannot read the photo: {e}")))?;
    Ok(res.body(actix_web::body::SizedStream::new(len, body)))
}

/// How long a request waits for a decode slot before answering 503.
const VARIANT_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
