//! The live feed (`GET /api/v1/events`, Server-Sent Events): one poller per
//! server reads the `events` table (what every server writes, so an event
//! made on another server arrives too) and hands each new event to this
//! server's open streams; each stream keeps what its caller's scope
//! allows. A stream that resumes (`Last-Event-ID`) first reads what it
//! missed from the table.

use crate::auth::{Caller, Role, Scope};
use crate::db::schema::events;
use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::outbox::Stored;
use diesel::prelude::*;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events read at a time.
const PAGE: i64 = 500;

/// Events a stream may fall behind by before it is closed (the browser
/// reconnects with its `Last-Event-ID` and reads the rest from the table).
const BUFFER: usize = 4096;
/// A comment line at least this often keeps proxies from closing a quiet
/// stream.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

pub struct Feed {
    tx: broadcast::Sender<Arc<Live>>,
}

/// An event as the poller hands it to the streams: the row (for each
/// stream's scope) and its SSE frame, made once for all of them.
pub struct Live {
    pub event: Stored,
    pub frame: Option<String>,
}

impl Feed {
    pub fn new() -> Arc<Feed> {
        let (tx, _) = broadcast::channel(BUFFER);
        Arc::new(Feed { tx })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Live>> {
        self.tx.subscribe()
    }

    /// Reads new events every `every` and hands them out, until the
    /// process ends.
    pub async fn poll(self: Arc<Feed>, db: Db, every: std::time::Duration) {
        let mut last = match db.read(latest).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "the live feed cannot read the events; it starts from now");
                0
            }
        };
        loop {
            actix_web::rt::time::sleep(every).await;
            // Every page until caught up: a busy evening writes more than a
            // page between two polls.
            loop {
                let from = last;
                match db.read(move |c| after(c, from, PAGE)).await {
                    Ok(list) => {
                        let full = list.len() as i64 == PAGE;
                        for event in list {
                            last = last.max(event.seq);
                            let frame = frame(&event);
                            // No stream open: nobody to tell.
                            let _ = self.tx.send(Arc::new(Live { event, frame }));
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the live feed cannot read the events");
                        break;
                    }
                }
            }
        }
    }
}

/// The newest event's seq (0: none).
pub fn latest(c: &mut Conn) -> AppResult<i64> {
    let m: Option<i64> = events::table
        .select(diesel::dsl::max(events::seq))
        .first(c)?;
    Ok(m.unwrap_or(0))
}

/// Up to `n` events after `seq`, in order.
pub fn after(c: &mut Conn, seq: i64, n: i64) -> AppResult<Vec<Stored>> {
    Ok(events::table
        .filter(events::seq.gt(seq))
        .order(events::seq)
        .limit(n)
        .select(Stored::as_select())
        .load(c)?)
}

/// Whether the caller's scope covers an event: admins and district-wide
/// coordinators all; a group's coordinator their group's; an inspector
/// their own records'; a department's member (any role) their
/// department's follow-ups.
pub fn sees(caller: &Caller, e: &Stored) -> bool {
    let by_department = caller.in_department(e.department_id.as_deref());
    let by_role = match (caller.role, caller.scope()) {
        (Role::Inspector, _) => e.owner_id.as_deref() == Some(caller.id.as_str()),
        (Role::Responder, _) => false,
        (_, Scope::All) => true,
        (_, Scope::Group(g)) => e.group_id.as_deref() == Some(g.as_str()),
        (_, Scope::Nothing) => false,
    };
    by_role || by_department
}

/// One event as an SSE frame.
pub fn frame(e: &Stored) -> Option<String> {
    let view = e.view().ok()?;
    let data = serde_json::to_string(&view).ok()?;
    Some(format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        e.seq, e.kind
    ))
}

/// The resume point a browser sends (`Last-Event-ID`).
pub fn last_event_id(req: &actix_web::HttpRequest) -> Option<i64> {
    req.headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The live feed for `caller` from `resume` (else from now): the API's
/// bearer token (`GET /api/v1/events`) or the review page's session
/// (`/review/events`).
pub async fn respond(
    feed: &Feed,
    db: &Db,
    metrics: &Arc<crate::metrics::Metrics>,
    caller: Caller,
    resume: Option<i64>,
) -> AppResult<actix_web::HttpResponse> {
    // Subscribed before the backlog is read: nothing falls in between.
    let mut rx = feed.subscribe();
    let db = db.clone();
    let start = match resume {
        Some(s) => s,
        None => db.read(latest).await?,
    };
    let metrics = Arc::clone(metrics);
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
            let page = match db.read(move |c| after(c, from, 500)).await {
                Ok(p) => p,
                Err(_) => return,
            };
            if page.is_empty() {
                break;
            }
            for e in page {
                last = e.seq;
                if sees(&caller, &e)
                    && let Some(f) = frame(&e)
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
            let next = actix_web::rt::time::timeout(HEARTBEAT, rx.recv()).await;
            let out = match next {
                Err(_) => Some(": ping\n\n".to_string()),
                Ok(Ok(live)) if live.event.seq <= last => None,
                Ok(Ok(live)) => {
                    last = live.event.seq;
                    sees(&caller, &live.event)
                        .then(|| live.frame.clone())
                        .flatten()
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
    Ok(actix_web::HttpResponse::Ok()
        .insert_header(("Content-Type", "text/event-stream"))
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// A stream of text frames fed by a task through a small channel: the task
/// stops when the client goes (its sends fail).
fn async_stream<F, Fut>(
    f: F,
) -> impl futures_util::Stream<Item = Result<actix_web::web::Bytes, crate::error::AppError>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<String>) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    actix_web::rt::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|s| (Ok(actix_web::web::Bytes::from(s)), rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DepartmentId, GroupId, UserId};

    fn caller(role: Role, group: Option<&str>, dept: Option<&str>) -> Caller {
        Caller {
            id: UserId::new("u1"),
            username: "u".into(),
            role,
            group_id: group.map(GroupId::new),
            department_id: dept.map(DepartmentId::new),
        }
    }

    fn event(group: &str, owner: &str, dept: Option<&str>) -> Stored {
        Stored {
            seq: 1,
            id: "e".into(),
            kind: "report.urgent".into(),
            group_id: Some(group.into()),
            owner_id: Some(owner.into()),
            department_id: dept.map(str::to_string),
            inspection_id: None,
            followup_id: None,
            payload: "{}".into(),
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc(),
        }
    }

    #[test]
    fn a_stream_keeps_its_callers_scope() {
        let e = event("gA", "u9", Some("d1"));
        assert!(sees(&caller(Role::Admin, None, None), &e));
        assert!(
            sees(&caller(Role::Coordinator, None, None), &e),
            "district-wide"
        );
        assert!(sees(&caller(Role::Coordinator, Some("gA"), None), &e));
        assert!(
            !sees(&caller(Role::Coordinator, Some("gB"), None), &e),
            "another group"
        );
        assert!(
            !sees(&caller(Role::Inspector, Some("gA"), None), &e),
            "not theirs"
        );
        assert!(sees(
            &caller(Role::Inspector, Some("gA"), None),
            &event("gA", "u1", None)
        ));
        assert!(sees(&caller(Role::Responder, None, Some("d1")), &e));
        assert!(!sees(&caller(Role::Responder, None, Some("d2")), &e));
        assert!(
            sees(&caller(Role::Coordinator, Some("gB"), Some("d1")), &e),
            "by department"
        );
    }
}
