//! `/api/v1/sync` and `/api/v1/devices`.

use crate::auth::Caller;
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
use crate::photos::upload::{self, Uploads};
use crate::photos::{Accept, Want, is_video_type};
use crate::state::AppState;
use crate::sync::devices::{self, Activity, Device, DeviceFilter};
use crate::sync::pull::{self, PullQuery, PullResponse};
use crate::sync::push::{self, PushRequest, PushResponse};
use actix_multipart::Multipart;
use actix_web::guard::GuardContext;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use std::collections::HashMap;
use std::sync::Arc;

/// Pushes a batch of inspection edits and photo metadata.
#[utoipa::path(
    tag = "sync",
    request_body(content = PushRequest, description = "JSON, or JSON gzip-compressed with `Content-Encoding: gzip` (its inflated size held to the same limit)"),
    responses(
        (status = 200, body = PushResponse, description = "per-item results; the same answer for a replayed batch"),
        (status = 409, description = "the device id belongs to another user"),
        (status = 413, description = "more than 1000 items or too large a body (or one that inflates past the limit): split the batch"),
        (status = 415, description = "not JSON, or compressed other than by gzip"),
        (status = 503, description = "database busy: nothing applied, retry after Retry-After"),
    )
)]
#[post("/api/v1/sync/push")]
pub async fn push_batch(
    st: web::Data<AppState>,
    caller: Caller,
    http: HttpRequest,
    body: web::Payload,
) -> AppResult<HttpResponse> {
    // Read by hand: the body may come gzip-compressed from a phone on a
    // weak link, and is inflated against the same limit as a plain one.
    let (req, got): (PushRequest, _) =
        crate::http::body::json(&http, body, st.config.max_json_bytes).await?;
    st.metrics
        .push_body(got.encoding.as_str(), got.wire, got.json);
    push::check_batch(&req)?;
    apply(&st, caller, req, Uploads::default()).await
}

async fn apply(
    st: &AppState,
    caller: Caller,
    req: PushRequest,
    uploads: Uploads,
) -> AppResult<HttpResponse> {
    let accept = Accept::of(&st.config);
    // The batch's hash is made before it queues for the writer: the one
    // writer thread does only what must happen inside the transaction.
    let (req, hash) = web::block(move || {
        let hash = req.content_hash();
        (req, hash)
    })
    .await?;
    let json = st
        .db
        .write(move |c| push::push(c, &caller, req, &hash, &uploads, accept))
        .await?;
    st.jobs.notify();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
}

pub(crate) fn is_multipart(ctx: &GuardContext) -> bool {
    ctx.header::<header::ContentType>()
        .is_some_and(|ct| ct.0.type_() == mime::MULTIPART && ct.0.subtype() == mime::FORM_DATA)
}

/// The same push as `multipart/form-data`: a `batch` part with the JSON and
/// a `photo:<photo id>` part per photo with its bytes. Bytes are streamed to
/// disk, checked against the photo's sha256 and format, and stored before
/// the batch commits; a photo whose bytes are refused is `rejected` with the
/// reason (`checksum_mismatch`, `unsupported_media_type`, `too_many_pixels`,
/// `corrupt_image`).
#[post("/api/v1/sync/push", guard = "is_multipart")]
pub async fn push_multipart(
    st: web::Data<AppState>,
    caller: Caller,
    form: Multipart,
) -> AppResult<HttpResponse> {
    let limits = upload::Limits {
        max_parts: push::MAX_ITEMS + 1,
        max_json: st.config.max_json_bytes,
        max_photo: st.config.max_photo_bytes,
        max_video: st.config.max_video_bytes,
        max_total: st.config.max_multipart_bytes,
        json_part: "batch",
    };
    let store = st.jobs.store_arc();
    let (batch, parts) = upload::read(form, Arc::clone(&store), &limits).await?;
    let req: PushRequest = upload::json_part(&batch)?;
    push::check_batch(&req)?;
    // What each part must hash to: its photo's sha256, from this batch or
    // from an earlier one. Ids in any letter case (phones differ).
    let mut expected: HashMap<String, Want> = req
        .photos
        .iter()
        .filter_map(|p| {
            let want = Want {
                sha: p.get("sha256")?.as_str()?.to_ascii_lowercase(),
                video: p
                    .get("content_type")
                    .and_then(|t| t.as_str())
                    .is_some_and(is_video_type),
            };
            Some((
                uuid::Uuid::parse_str(p.get("id")?.as_str()?)
                    .ok()?
                    .to_string(),
                want,
            ))
        })
        .collect();
    let unknown: Vec<String> = parts
        .0
        .iter()
        .map(|p| p.photo_id.clone())
        .filter(|id| !expected.contains_key(id))
        .collect();
    if !unknown.is_empty() {
        let who = caller.clone();
        let known = st
            .db
            .read(move |c| push::photo_hashes(c, &who, &unknown))
            .await?;
        expected.extend(known);
    }
    let accept = Accept::of(&st.config);
    let uploads =
        web::block(move || upload::check_and_store(&parts, &expected, store.as_ref(), &accept))
            .await??;
    apply(&st, caller, req, uploads).await
}

/// Pulls what changed in the caller's scope since the cursor.
#[utoipa::path(tag = "sync", params(PullQuery), responses((status = 200, body = PullResponse), (status = 409)))]
#[get("/api/v1/sync/pull")]
pub async fn pull_changes(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PullQuery>,
) -> AppResult<web::Json<PullResponse>> {
    let q = q.into_inner();
    let signer = st.signer.clone();
    let history = st.config.phone_history_days;
    if let Some(d) = q.device_id {
        let (device, user) = (d.to_string(), caller.id.clone());
        st.db
            .write(move |c| devices::touch(c, &device, &user, Activity::Pull))
            .await?;
    }
    Ok(web::Json(
        st.db
            .read(move |c| pull::pull(c, &caller, &q, &signer, history))
            .await?,
    ))
}

/// Devices that synced, with when they last pushed and pulled.
#[utoipa::path(tag = "sync", params(PageQuery, DeviceFilter), responses((status = 200, body = Page<Device>), (status = 403)))]
#[get("/api/v1/devices")]
pub async fn list_devices(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    f: web::Query<DeviceFilter>,
) -> AppResult<web::Json<Page<Device>>> {
    let page = q.parse()?;
    let f = f.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| devices::list(c, &caller, &f, &page))
            .await?,
    ))
}
