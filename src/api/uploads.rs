//! `/api/v1/uploads`: resumable photo uploads speaking tus 1.0, run by
//! `photos::tus`.

use crate::auth::Caller;
use crate::error::AppResult;
use crate::photos::tus::{self, Ctx, Settings};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, patch, post, route, web};

fn ctx(st: &AppState) -> Ctx<'_> {
    let c = &st.config;
    Ctx {
        db: &st.db,
        jobs: &st.jobs,
        settings: Settings {
            accept: crate::photos::Accept::of(c),
            lease_secs: c.upload_lease_secs,
            limits: tus::Limits {
                expiry_secs: c.upload_expiry_secs,
                max_uploads: c.max_uploads_per_user,
                max_bytes: c.max_upload_bytes_per_user,
                accept: crate::photos::Accept::of(c),
            },
        },
    }
}

/// What this server supports (tus discovery; no token needed).
#[utoipa::path(options, path = "/api/v1/uploads", tag = "photos", responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Checksum-Algorithm, Tus-Max-Size")))]
#[route("/api/v1/uploads", method = "OPTIONS")]
pub async fn options(st: web::Data<AppState>) -> HttpResponse {
    tus::options(&ctx(&st))
}

/// Creates an upload (`Upload-Length`, `Upload-Metadata` with `photo_id`).
#[utoipa::path(tag = "photos", params(("Tus-Resumable" = String, Header, description = "1.0.0, the tus version"), ("Upload-Length" = u64, Header), ("Upload-Metadata" = String, Header, description = "photo_id <base64>")), responses((status = 201, description = "Location of the new upload"), (status = 404), (status = 413), (status = 412, description = "Tus-Resumable missing or not 1.0.0")))]
#[post("/api/v1/uploads")]
pub async fn create(
    st: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    tus::create(&ctx(&st), caller, &req).await
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
    tus::head(&ctx(&st), caller, &req, id.into_inner()).await
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
    body: web::Payload,
) -> AppResult<HttpResponse> {
    tus::append(&ctx(&st), caller, &req, id.into_inner(), body).await
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
    tus::terminate(&ctx(&st), caller, &req, id.into_inner()).await
}
