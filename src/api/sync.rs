//! `/api/v1/sync` and `/api/v1/devices`.

use crate::auth::Caller;
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
use crate::state::AppState;
use crate::sync::devices::{self, Activity, Device, DeviceFilter};
use crate::sync::pull::{self, PullQuery, PullResponse};
use crate::sync::push::{self, PushRequest, PushResponse};
use actix_web::{HttpResponse, get, post, web};

/// Pushes a batch of inspection edits and photo metadata.
#[utoipa::path(
    tag = "sync",
    request_body = PushRequest,
    responses(
        (status = 200, body = PushResponse, description = "per-item results; the same answer for a replayed batch"),
        (status = 409, description = "the device id belongs to another user"),
        (status = 413, description = "more than 1000 items or too large a body: split the batch"),
        (status = 503, description = "database busy: nothing applied, retry after Retry-After"),
    )
)]
#[post("/api/v1/sync/push")]
pub async fn push_batch(
    st: web::Data<AppState>,
    caller: Caller,
    body: web::Json<PushRequest>,
) -> AppResult<HttpResponse> {
    let req = body.into_inner();
    push::check_batch(&req)?;
    let json = st.db.write(move |c| push::push(c, &caller, req)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
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
    if let Some(d) = q.device_id {
        let (device, user) = (d.to_string(), caller.id.clone());
        st.db
            .write(move |c| devices::touch(c, &device, &user, Activity::Pull))
            .await?;
    }
    Ok(web::Json(
        st.db
            .read(move |c| pull::pull(c, &caller, &q, &signer))
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
