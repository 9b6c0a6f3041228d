//! `GET /api/v1/photos/{id}/{thumb|display|original}`.

use crate::auth::Caller;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection::photo_meta;
use crate::photos::serve;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signed {
    /// Expiry (Unix seconds) of a signed URL.
    pub exp: Option<i64>,
    /// Its signature.
    pub sig: Option<String>,
}

/// A photo's bytes: the original as received, or a variant (JPEG, upright,
/// no metadata; made on the spot if its job has not run yet). Needs a
/// bearer token or a signed URL (`exp`, `sig`) from a photo object.
#[utoipa::path(
    tag = "photos",
    params(("id" = uuid::Uuid, Path), ("variant" = String, Path, description = "thumb | display | original | poster (videos)"), Signed),
    responses(
        (status = 200, description = "the bytes, with ETag, Accept-Ranges and long cache headers"),
        (status = 206, description = "one `Range` of the bytes (a video player seeking)"),
        (status = 304, description = "If-None-Match matched"),
        (status = 403, description = "a signed URL that expired or was altered"),
        (status = 404, description = "no such photo, out of scope, its bytes have not arrived, a video's variant not made yet (`variant_pending`), or an original dropped by retention"),
        (status = 416, description = "a `Range` outside the bytes"),
    )
)]
#[get("/api/v1/photos/{id}/{variant}")]
pub async fn photo_bytes(
    st: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(uuid::Uuid, String)>,
    q: web::Query<Signed>,
) -> AppResult<HttpResponse> {
    let (id, variant) = path.into_inner();
    let id = id.to_string();
    if !crate::photos::urls::VARIANTS.contains(&variant.as_str()) {
        return Err(AppError::not_found("photo variant"));
    }
    let caller = match (q.exp, q.sig.as_deref()) {
        (Some(exp), Some(sig)) => {
            if !st
                .signer
                .verify(&id, &variant, exp, sig, chrono::Utc::now().timestamp())
            {
                return Err(AppError::new(
                    actix_web::http::StatusCode::FORBIDDEN,
                    ErrorCode::BadSignature,
                    "the photo URL has expired or was altered; pull again for a fresh one",
                ));
            }
            None
        }
        _ => Some(Caller::from_request(&req, &mut Payload::None).await?),
    };
    let found = st
        .db
        .read(move |c| photo_meta::servable(c, caller.as_ref(), &id))
        .await?
        .ok_or_else(|| AppError::not_found("photo"))?;
    serve::bytes(Arc::clone(&st.jobs), &req, found, variant).await
}
