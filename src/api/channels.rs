//! `/api/v1/channels`: where the relay's messages go (admins only), and
//! `GET /api/v1/events`, the live feed.

use crate::auth::{Admin, Caller};
use crate::error::{AppError, AppResult};
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
    let resume: Option<i64> = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    // Subscribed before the backlog is read: nothing falls in between.
    let mut rx = st.feed.subscribe();
    let db = st.db.clone();
    let start = match resume {
        Some(s) => s,
        None => db.read(feed::latest).await?,
    };
    let metrics = std::sync::Arc::clone(&st.metrics);
    metrics.feed_connections.inc();
    struct Open(std::sync::Arc<crate::metrics::Metrics>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.feed_connections.dec();
        }
    }
    let open = Open(metrics);
    let stream = async_stream(move |tx| async move {
        let _open = open;
        let mut last = start;
        // What was missed, from the table.
        loop {
            let from = last;
            let page = match db.read(move |c| feed::after(c, from, 500)).await {
                Ok(p) => p,
                Err(_) => return,
            };
            if page.is_empty() {
                break;
            }
            for e in page {
                last = e.seq;
                if feed::sees(&caller, &e)
                    && let Some(f) = feed::frame(&e)
                    && tx.send(f).await.is_err()
                {
                    return;
                }
            }
        }
        if tx.send(": fieldsync live feed\n\n".into()).await.is_err() {
            return;
        }
        loop {
            let next = actix_web::rt::time::timeout(feed::HEARTBEAT, rx.recv()).await;
            let out = match next {
                Err(_) => Some(": ping\n\n".to_string()),
                Ok(Ok(e)) if e.seq <= last => None,
                Ok(Ok(e)) => {
                    last = e.seq;
                    feed::sees(&caller, &e).then(|| feed::frame(&e)).flatten()
                }
                // Fallen too far behind, or the server is stopping: the
                // client reconnects with its Last-Event-ID.
                Ok(Err(_)) => return,
            };
            if let Some(f) = out
                && tx.send(f).await.is_err()
            {
                return;
            }
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Type", "text/event-stream"))
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// A stream of text frames fed by a task through a small channel: the task
/// stops when the client goes (its sends fail).
fn async_stream<F, Fut>(f: F) -> impl futures_util::Stream<Item = Result<web::Bytes, AppError>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<String>) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    actix_web::rt::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|s| (Ok(web::Bytes::from(s)), rx))
    })
}
