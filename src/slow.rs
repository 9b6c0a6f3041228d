//! Slow clients: a request body that trickles in (a byte now and then, to
//! hold a connection and a worker's buffers for as long as it likes) is cut
//! off. A body may pause at most `FIELDSYNC_BODY_IDLE_SECS` between two
//! pieces, and after `FIELDSYNC_BODY_GRACE_SECS` it must have averaged
//! `FIELDSYNC_BODY_MIN_RATE` bytes a second (a phone on a poor 2G link
//! manages several times that). Slow headers are the HTTP server's own
//! `client_request_timeout`.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::rt::time::{Instant, Sleep, sleep};
use actix_web::web::{Bytes, Data};
use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub idle: Duration,
    pub grace: Duration,
    pub min_rate: u64,
}

pub async fn guard_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(rules) = req.app_data::<Data<Rules>>().map(|r| *r.get_ref()) {
        let inner = req.take_payload();
        let guarded = Guarded {
            inner,
            rules,
            started: Instant::now(),
            bytes: 0,
            idle: Box::pin(sleep(rules.idle)),
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(guarded),
        });
    }
    next.call(req).await
}

struct Guarded {
    inner: Payload,
    rules: Rules,
    started: Instant,
    bytes: u64,
    idle: Pin<Box<Sleep>>,
}

fn too_slow(why: &str) -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the request body {why}"),
    ))
}

impl Stream for Guarded {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.bytes += chunk.len() as u64;
                let elapsed = this.started.elapsed();
                if elapsed > this.rules.grace
                    && this.bytes < this.rules.min_rate.saturating_mul(elapsed.as_secs())
                {
                    return Poll::Ready(Some(Err(too_slow("arrives too slowly"))));
                }
                let deadline = Instant::now() + this.rules.idle;
                this.idle.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                if this.idle.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Some(Err(too_slow("stalled"))))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}
