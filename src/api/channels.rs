//! `/api/v1/channels`: where the relay's messages go (admins only), and
//! `GET /api/v1/events`, the live feed.

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::relay::channels::{self, Channel, ChannelPatch, NewChannel, UrlRules};
use crate::relay::{feed, sender};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

fn rules(st: &AppState) -> UrlRules {
    sender::Settings::of(&st.config).rules
}

async fn checked(st: &AppState, url: String) -> AppResult<()> {
    channels::checked(url, rules(st)).await
}

#[utoipa::path(tag = "channels", responses((status = 200, body = Vec<Channel>), (status = 403)))]
#[get("/api/v1/channels")]
pub async fn list(
    st: web::Data<AppState>,
    Admin(caller): Admin,
) -> AppResult<web::Json<Vec<Channel>>> {
    Ok(web::Json(
        st.db.read(move |c| channels::list(c, &caller)).await?,
    ))
}

#[utoipa::path(tag = "channels", params(("id" = Uuid, Path)), responses((status = 200, body = Channel), (status = 403), (status = 404)))]
#[get("/api/v1/channels/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Channel>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db.read(move |c| channels::get(c, &caller, &id)).await?,
    ))
}

/// A channel: a WeCom, DingTalk or Feishu group robot's URL (with the
/// robot's signing secret for DingTalk and Feishu), or a Standard Webhooks
/// endpoint (`whsec_` secret); which events; for which group or
/// department. The URL must be https and reach no internal address.
#[utoipa::path(tag = "channels", request_body = NewChannel, responses((status = 201, body = Channel), (status = 403), (status = 422)))]
#[post("/api/v1/channels")]
pub async fn create(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewChannel>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    checked(&st, body.url.clone()).await?;
    let ch = st
        .db
        .write(move |c| channels::create(c, &caller, body))
        .await?;
    Ok(HttpResponse::Created().json(ch))
}

#[utoipa::path(tag = "channels", params(("id" = Uuid, Path)), request_body = ChannelPatch, responses((status = 200, body = Channel), (status = 403), (status = 404), (status = 422)))]
#[patch("/api/v1/channels/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<ChannelPatch>,
) -> AppResult<web::Json<Channel>> {
    let body = body.into_inner();
    if let Some(u) = &body.url {
        checked(&st, u.clone()).await?;
    }
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| channels::update(c, &caller, &id, body))
            .await?,
    ))
}

/// Sends the deliveries given up again.
#[utoipa::path(tag = "channels", params(("id" = Uuid, Path)), responses((status = 200, body = Channel), (status = 403), (status = 404)))]
#[post("/api/v1/channels/{id}/resend")]
pub async fn resend(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Channel>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| channels::resend(c, &caller, &id))
            .await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    pub sent: bool,
    /// What went wrong, when it did.
    pub error: Option<String>,
}

/// Sends a test message now and says whether the receiver took it.
#[utoipa::path(tag = "channels", params(("id" = Uuid, Path)), responses((status = 200, body = TestResult), (status = 403), (status = 404)))]
#[post("/api/v1/channels/{id}/test")]
pub async fn test(
    st: web::Data<AppState>,
    Admin(_caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<TestResult>> {
    let id = id.to_string();
    let row = st.db.read(move |c| channels::find(c, &id)).await?;
    let settings = sender::Settings::of(&st.config);
    let r = sender::test_message(&row, &settings).await;
    Ok(web::Json(TestResult {
        sent: r.is_ok(),
        error: r.err(),
    }))
}

/// The live feed: Server-Sent Events of the relay in the caller's scope
/// (`id:` is the event's sequence; send `Last-Event-ID` to resume; a
/// comment line every 15 s). Each `data:` is an event object.
#[utoipa::path(tag = "channels", responses((status = 200, content_type = "text/event-stream", description = "the stream")))]
#[get("/api/v1/events")]
pub async fn events(
    st: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    feed::respond(
        &st.feed,
        &st.db,
        &st.metrics,
        caller,
        feed::last_event_id(&req),
    )
    .await
}
