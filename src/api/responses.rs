//! `POST /api/v1/followups/{id}/responses`: a department answers a
//! follow-up, as JSON or as multipart with the evidence's bytes.

use crate::auth::Caller;
use crate::error::AppResult;
use crate::photos::upload::{self, Uploads};
use crate::photos::{Accept, Want, is_video_type};
use crate::review::responses::{self, Answered, NewResponse};
use crate::state::AppState;
use actix_multipart::Multipart;
use actix_web::{HttpResponse, post, web};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// A department's response to a follow-up: a note, where the work stands
/// (`in_progress`, `resolved`) and photos or videos of it. Idempotent by
/// its `id`: the same response sent again is stored once (200, `replayed`).
/// Also as `multipart/form-data` with a part `response` (this JSON) and a
/// part `photo:<media id>` per photo (its bytes); or the bytes later by the
/// resumable upload. By a member of the follow-up's department, its
/// coordinator or an admin.
#[utoipa::path(
    tag = "review",
    request_body = NewResponse,
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, body = Answered, description = "recorded"),
        (status = 200, body = Answered, description = "this id was recorded before: the stored answer"),
        (status = 403, description = "the record's inspector, who sees the follow-up but does not act on it"),
        (status = 404, description = "no such follow-up, or not the caller's department or scope"),
        (status = 409, description = "verified already, or the id names another response"),
        (status = 422),
    )
)]
#[post("/api/v1/followups/{id}/responses")]
pub async fn respond(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<NewResponse>,
) -> AppResult<HttpResponse> {
    answer(
        &st,
        caller,
        id.to_string(),
        body.into_inner(),
        Uploads::default(),
    )
    .await
}

/// The same response as multipart: `response` and `photo:<id>` parts.
#[post(
    "/api/v1/followups/{id}/responses",
    guard = "super::sync::is_multipart"
)]
pub async fn respond_multipart(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    form: Multipart,
) -> AppResult<HttpResponse> {
    let limits = upload::Limits {
        max_parts: responses::MAX_MEDIA + 1,
        max_json: st.config.max_json_bytes,
        max_photo: st.config.max_photo_bytes,
        max_video: st.config.max_video_bytes,
        max_total: st.config.max_multipart_bytes,
        json_part: "response",
    };
    let store = st.jobs.store_arc();
    let (json, parts) = upload::read(form, Arc::clone(&store), &limits).await?;
    let input: NewResponse = upload::json_part(&json)?;
    // Bytes bind only to the media this response describes.
    let expected: HashMap<String, Want> = input
        .media
        .iter()
        .map(|m| {
            let want = Want {
                sha: m.sha256.to_ascii_lowercase(),
                video: is_video_type(&m.content_type),
            };
            (m.id.to_string(), want)
        })
        .collect();
    let accept = Accept::of(&st.config);
    let uploads =
        web::block(move || upload::check_and_store(&parts, &expected, store.as_ref(), &accept))
            .await??;
    answer(&st, caller, id.to_string(), input, uploads).await
}

async fn answer(
    st: &AppState,
    caller: Caller,
    id: String,
    input: NewResponse,
    uploads: Uploads,
) -> AppResult<HttpResponse> {
    let (signer, accept) = (st.signer.clone(), Accept::of(&st.config));
    let a = st
        .db
        .write(move |c| responses::respond(c, &caller, &id, input, &uploads, &accept, &signer))
        .await?;
    st.jobs.notify();
    Ok(if a.replayed {
        HttpResponse::Ok().json(a)
    } else {
        HttpResponse::Created().json(a)
    })
}
