//! Prometheus metrics: request counts and latencies by route and status.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route pattern (`/api/v1/sites/{id}`), never the raw path, so
    /// the label set stays small.
    pub route: String,
    pub status: u16,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// Photos decoded to make variants (jobs and requests together).
    pub decodes: Counter,
    /// Photo jobs waiting.
    pub photo_backlog: prometheus_client::metrics::gauge::Gauge,
    /// The relay's deliveries by channel kind and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Seconds the oldest pending delivery has waited.
    pub outbox_age: prometheus_client::metrics::gauge::Gauge,
    /// Live feed connections open on this server.
    pub feed_connections: prometheus_client::metrics::gauge::Gauge,
    /// Sync pushes' bodies by how they came (gzip or identity) and their
    /// bytes on the wire and as JSON: how much phones save by compressing.
    pub push_bodies: Family<EncodingLabels, Counter>,
    pub push_bytes: Family<PushBytesLabels, Counter>,
    /// Housekeeping: runs by job and outcome, what each removed, and when
    /// each last finished (on this server).
    pub housekeeping_runs: Family<HousekeepingLabels, Counter>,
    pub housekeeping_removed: Family<JobLabels, Counter>,
    pub housekeeping_last: Family<JobLabels, prometheus_client::metrics::gauge::Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EncodingLabels {
    pub encoding: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushBytesLabels {
    pub encoding: &'static str,
    /// `wire` (as sent) or `json` (inflated).
    pub form: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HousekeepingLabels {
    pub job: &'static str,
    /// `ok` or `failed`.
    pub outcome: &'static str,
}

/// A delivery's labels: the channel's kind and what happened.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct DeliveryLabels {
    pub kind: String,
    pub outcome: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Adds the writer's figures: writes waiting, writes per commit, commits.
    pub fn register_writer(&mut self, w: &crate::db::WriterStats) {
        self.registry.register(
            "fieldsync_db_writes_queued",
            "Writes waiting for the database writer",
            w.queued.clone(),
        );
        self.registry.register(
            "fieldsync_db_commit_group_size",
            "Writes that shared one commit (group commit)",
            w.group_size.clone(),
        );
        self.registry.register(
            "fieldsync_db_commits",
            "Commits of the database writer",
            w.commits.clone(),
        );
        self.registry.register(
            "fieldsync_db_read_pool_wait_seconds",
            "Time a read waited for a connection of the read pool",
            w.pool_wait.clone(),
        );
    }

    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register(
            "fieldsync_http_requests",
            "HTTP requests answered",
            requests.clone(),
        );
        registry.register(
            "fieldsync_http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        let decodes = Counter::default();
        registry.register(
            "fieldsync_photo_decodes",
            "Photos decoded to make their variants",
            decodes.clone(),
        );
        let photo_backlog = prometheus_client::metrics::gauge::Gauge::default();
        registry.register(
            "fieldsync_photo_jobs_queued",
            "Photo variant jobs waiting",
            photo_backlog.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "fieldsync_relay_deliveries",
            "Channel deliveries by channel kind and outcome (sent, retry, given_up, gone)",
            deliveries.clone(),
        );
        let outbox_age = prometheus_client::metrics::gauge::Gauge::default();
        registry.register(
            "fieldsync_relay_outbox_age_seconds",
            "Seconds the oldest pending channel delivery has waited",
            outbox_age.clone(),
        );
        let feed_connections = prometheus_client::metrics::gauge::Gauge::default();
        registry.register(
            "fieldsync_feed_connections",
            "Live feed (SSE) connections open on this server",
            feed_connections.clone(),
        );
        let push_bodies = Family::<EncodingLabels, Counter>::default();
        registry.register(
            "fieldsync_push_bodies",
            "Sync push bodies by Content-Encoding (gzip or identity)",
            push_bodies.clone(),
        );
        let push_bytes = Family::<PushBytesLabels, Counter>::default();
        registry.register(
            "fieldsync_push_body_bytes",
            "Sync push body bytes by encoding, on the wire and as JSON",
            push_bytes.clone(),
        );
        let housekeeping_runs = Family::<HousekeepingLabels, Counter>::default();
        registry.register(
            "fieldsync_housekeeping_runs",
            "Housekeeping runs by job and outcome",
            housekeeping_runs.clone(),
        );
        let housekeeping_removed = Family::<JobLabels, Counter>::default();
        registry.register(
            "fieldsync_housekeeping_removed",
            "What housekeeping removed, by job (rows or files)",
            housekeeping_removed.clone(),
        );
        let housekeeping_last =
            Family::<JobLabels, prometheus_client::metrics::gauge::Gauge>::default();
        registry.register(
            "fieldsync_housekeeping_last_run_timestamp_seconds",
            "When each housekeeping job last finished on this server (Unix time)",
            housekeeping_last.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            decodes,
            photo_backlog,
            deliveries,
            outbox_age,
            feed_connections,
            push_bodies,
            push_bytes,
            housekeeping_runs,
            housekeeping_removed,
            housekeeping_last,
        }
    }

    /// Counts one push body: how it came and its size both ways.
    pub fn push_body(&self, encoding: &'static str, wire: usize, json: usize) {
        self.push_bodies
            .get_or_create(&EncodingLabels { encoding })
            .inc();
        for (form, n) in [("wire", wire), ("json", json)] {
            self.push_bytes
                .get_or_create(&PushBytesLabels { encoding, form })
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    /// Records one housekeeping run's outcome.
    pub fn housekeeping(&self, job: &'static str, removed: Result<u64, ()>) {
        let outcome = match removed {
            Ok(n) => {
                self.housekeeping_removed
                    .get_or_create(&JobLabels { job })
                    .inc_by(n);
                "ok"
            }
            Err(()) => "failed",
        };
        self.housekeeping_runs
            .get_or_create(&HousekeepingLabels { job, outcome })
            .inc();
        let now = chrono::Utc::now().timestamp();
        self.housekeeping_last
            .get_or_create(&JobLabels { job })
            .set(now);
    }

    pub fn observe(&self, labels: RequestLabels, seconds: f64) {
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Middleware: times every request and adds its `x-request-id` (the id
/// tracing-actix-web gave its log span) to the answer.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // Any method a client invents would be a new series: only the known
    // ones get their own label.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    let request_id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string());
    let mut res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    if let Some(id) = request_id
        && let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id)
    {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            value,
        );
    }
    if let Some(m) = metrics {
        m.observe(
            RequestLabels {
                method,
                route,
                status: res.status().as_u16(),
            },
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}
