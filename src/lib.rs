//! fieldsync: the server of an offline-first field inspection system.
//! The binary (`main.rs`) and the integration tests both build the server
//! through [`start`].

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod expr;
pub mod housekeeping;
pub mod http;
pub mod ids;
pub mod inspection;
pub mod journal;
pub mod metrics;
pub mod outbox;
pub mod paging;
pub mod photos;
pub mod reference;
pub mod relay;
pub mod review;
pub mod sheet;
pub mod slow;
pub mod state;
pub mod sync;
pub mod webui;

use crate::config::Config;
use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use std::net::SocketAddr;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;

/// A bound, not yet awaited, server.
pub struct Started {
    pub server: Server,
    pub addrs: Vec<SocketAddr>,
    /// The first admin's password when this start created it.
    pub admin_password: Option<String>,
    /// The photo workers: call `shutdown` once the server has stopped.
    pub jobs: Arc<photos::jobs::Jobs>,
}

/// Opens and migrates the database, makes sure the secret and the first
/// admin exist, and binds the server. Call inside an actix system.
pub fn start(config: Config) -> anyhow::Result<Started> {
    let boot = bootstrap::prepare(&config)?;
    clock::set_district_offset(config.exif_offset()?);
    let store = photos::store_for(&config)?;
    let workers = config
        .photo_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut metrics = metrics::Metrics::new();
    metrics.register_writer(boot.db.stats());
    let metrics = Arc::new(metrics);
    let jobs = photos::jobs::Jobs::start(
        boot.db.clone(),
        store,
        photos::jobs::Settings {
            limits: photos::variants::Limits {
                max_pixels: config.max_photo_pixels,
            },
            offset: config.exif_offset()?,
            workers,
            lease: chrono::Duration::seconds(config.job_lease_secs.max(1)),
            video: photos::video::Settings::of(&config),
        },
        metrics.decodes.clone(),
        metrics.photo_backlog.clone(),
    )
    .map_err(|e| anyhow::anyhow!("cannot start the photo workers: {e}"))?;
    // Resumable uploads that expired while the server was down.
    // A store that does not answer now is reported by /readyz; the sweep
    // runs again every ten minutes.
    // `start` runs on the executor: blocking store calls go to a thread.
    let swept = std::thread::scope(|t| {
        t.spawn(|| {
            photos::tus::sweep(&boot.db, jobs.store())
                .and_then(|_| photos::tus::sweep_orphans(&boot.db, jobs.store()))
        })
        .join()
    });
    match swept {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "sweeping uploads at start failed"),
        Err(_) => tracing::warn!("sweeping uploads at start panicked"),
    }
    // Upload bytes of versions before parts in the blob store (the
    // migration started those uploads again from 0).
    let _ = std::fs::remove_dir_all(config.data_dir.join("uploads"));
    // Scheduled routes are made ahead before the first request is served.
    // Another server (or `fieldsync` command) may hold the write lock for
    // longer than the busy timeout (a 20,000-row import does): the server
    // starts all the same, and the schedule job catches up a minute later.
    let today = clock::today();
    let ids = boot
        .db
        .read_blocking(reference::schedules::active_ids)
        .map_err(|e| anyhow::anyhow!("cannot read the schedules: {e}"))?;
    let mut behind = false;
    for id in ids {
        if let Err(e) = boot
            .db
            .write_blocking(move |c| reference::schedules::generate(c, &id, today))
        {
            tracing::warn!(error = %e, "cannot make scheduled routes at start; trying again in a minute");
            behind = true;
            break;
        }
    }
    let state = web::Data::new(state::AppState {
        signer: photos::urls::Signer::new(&boot.jwt_secret, config.photo_url_ttl_secs),
        jobs: Arc::clone(&jobs),
        feed: relay::feed::Feed::new(),
        keys: auth::jwt::Keys::new(&boot.jwt_secret, config.access_ttl_secs),
        login_limiter: auth::ratelimit::LoginLimiter::new(
            config.login_burst_per_user,
            config.login_burst_per_ip,
            config.login_refill_secs,
        ),
        db: boot.db,
        metrics: Arc::clone(&metrics),
        config: Arc::new(config.clone()),
    });
    // The request timer reads its registry on its own, not through the
    // handlers' state: the metrics sit below everything they measure.
    let request_metrics = web::Data::from(metrics);
    let max_json = config.max_json_bytes;
    let body_rules = web::Data::new(slow::Rules {
        idle: std::time::Duration::from_secs(config.body_idle_secs),
        grace: std::time::Duration::from_secs(config.body_grace_secs),
        min_rate: config.body_min_rate,
    });
    // Expired uploads, orphaned parts, stale staging, old batch answers and
    // (when a keeping is set) originals, while the server runs.
    housekeeping::start(
        state.db.clone(),
        Arc::clone(&state.jobs),
        Arc::clone(&state.metrics),
        housekeeping::Settings::of(&config),
    );
    // The relay: the sender (one server at a time holds its lease) and
    // this server's live feed, both reading what every server writes.
    {
        let settings = relay::sender::Settings::of(&config);
        actix_web::rt::spawn(relay::sender::run(
            state.db.clone(),
            Arc::clone(&state.metrics),
            settings,
        ));
        let feed = Arc::clone(&state.feed);
        actix_web::rt::spawn(feed.poll(state.db.clone(), std::time::Duration::from_millis(250)));
    }
    // And again while the server runs: days pass.
    {
        let db = state.db.clone();
        let every = std::time::Duration::from_secs(config.schedule_interval_secs.max(1));
        let first = if behind {
            std::time::Duration::from_secs(60).min(every)
        } else {
            every
        };
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval_at(
                actix_web::rt::time::Instant::now() + first,
                every,
            );
            loop {
                tick.tick().await;
                reference::schedules::run_all(&db).await;
            }
        });
    }
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(body_rules.clone())
            .app_data(request_metrics.clone())
            .wrap(ErrorHandlers::new().default_handler(api::json_fallback))
            .wrap(from_fn(slow::guard_bodies))
            .wrap(from_fn(http::compress::refuse_encoded_bodies))
            .wrap(from_fn(webui::admin::saved_notice))
            .wrap(from_fn(webui::security_headers))
            .wrap(from_fn(metrics::track))
            .wrap(from_fn(http::compress::answers))
            .wrap(TracingLogger::default())
            .configure(|cfg| api::configure(cfg, max_json))
            .configure(webui::configure)
            .default_service(web::to(api::no_route))
    })
    .shutdown_timeout(30)
    // Slow headers (slowloris): the request head must arrive in time.
    .client_request_timeout(std::time::Duration::from_secs(config.header_timeout_secs))
    .client_disconnect_timeout(std::time::Duration::from_secs(5));
    if let Some(w) = config.workers {
        server = server.workers(w.max(1));
    }
    let server = server.bind(&config.bind)?;
    let addrs = server.addrs();
    Ok(Started {
        server: server.run(),
        addrs,
        admin_password: boot.admin_password,
        jobs,
    })
}
