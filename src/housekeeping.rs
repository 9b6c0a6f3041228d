//! Housekeeping: what the server removes on its own, on a timer. Every job
//! is safe with several servers running it at once (each removal is
//! conditional or idempotent) and reports to `/metrics`
//! (`fieldsync_housekeeping_*`, by job).

use crate::config::Config;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::metrics::Metrics;
use crate::photos::blob::BlobStore;
use crate::photos::jobs::Jobs;
use std::sync::Arc;
use std::time::Duration;

/// The jobs, by the name the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Unfinished uploads past `FIELDSYNC_UPLOAD_EXPIRY_SECS`: rows and parts.
    ExpiredUploads,
    /// Parts whose upload row is gone (a server died between the two).
    OrphanParts,
    /// Staged files older than [`STAGING_AGE`] (a request or a server that
    /// died while bytes were on their way in).
    Staging,
    /// Push answers older than `FIELDSYNC_BATCH_ANSWERS_KEEP_DAYS`.
    BatchAnswers,
    /// Originals past `FIELDSYNC_ORIGINALS_KEEP_DAYS` (`photos::retention`).
    Originals,
    /// Not a removal: records written before failed items were kept with
    /// them (`inspection::failures`) are judged once; its count is the
    /// records filled in. Nothing to do after the first run.
    Failures,
}

impl Job {
    pub fn as_str(self) -> &'static str {
        match self {
            Job::ExpiredUploads => "expired_uploads",
            Job::OrphanParts => "orphan_parts",
            Job::Staging => "staging",
            Job::BatchAnswers => "batch_answers",
            Job::Originals => "originals",
            Job::Failures => "failures",
        }
    }
}

/// What every sweep runs, in order.
pub const SWEEP: [Job; 5] = [
    Job::ExpiredUploads,
    Job::OrphanParts,
    Job::Staging,
    Job::BatchAnswers,
    Job::Failures,
];

/// A staged file this old is garbage: the slowest upload allowed writes
/// its part in minutes (the slow-body rules cut it off long before).
pub const STAGING_AGE: Duration = Duration::from_secs(6 * 3600);

/// Batch answers removed per statement: the writer is held for
/// milliseconds at a time, however many years are due.
const ANSWERS_PER_STATEMENT: i64 = 2000;

/// Records judged per write by the `failures` job.
const FAILURES_PER_WRITE: i64 = 500;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub every: Duration,
    pub batch_answers_keep_days: u32,
    pub originals_keep_days: Option<u32>,
    pub originals_every: Duration,
}

impl Settings {
    pub fn of(config: &Config) -> Settings {
        Settings {
            every: Duration::from_secs(config.sweep_interval_secs.max(1)),
            batch_answers_keep_days: config.batch_answers_keep_days,
            originals_keep_days: config.originals_keep_days,
            originals_every: Duration::from_secs(config.schedule_interval_secs.max(1)),
        }
    }
}

/// Runs one job now; returns how much it removed (uploads, files, rows).
pub fn run_once(db: &Db, store: &dyn BlobStore, job: Job, s: &Settings) -> AppResult<u64> {
    let n = match job {
        Job::ExpiredUploads => crate::photos::tus::sweep(db, store)?,
        Job::OrphanParts => crate::photos::tus::sweep_orphans(db, store)?,
        Job::Staging => {
            return store
                .sweep_temp(STAGING_AGE)
                .map_err(|e| AppError::internal(format!("sweeping staged files: {e}")));
        }
        Job::BatchAnswers => prune_answers(db, s.batch_answers_keep_days)?,
        Job::Originals => match s.originals_keep_days {
            Some(days) => crate::photos::retention::run(db, store, days)?,
            None => 0,
        },
        Job::Failures => {
            let mut total = 0;
            loop {
                let n = db.write_blocking(|c| {
                    crate::inspection::failures::backfill(c, FAILURES_PER_WRITE)
                })?;
                total += n;
                if n < FAILURES_PER_WRITE as u64 {
                    return Ok(total);
                }
            }
        }
    };
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

/// Batch answers older than `days` (and batches long forgotten), in pieces.
fn prune_answers(db: &Db, days: u32) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let n = db.write_blocking(move |c| {
            crate::sync::push::prune_answers(c, days, ANSWERS_PER_STATEMENT)
        })?;
        total += n;
        if n < usize::try_from(ANSWERS_PER_STATEMENT).unwrap_or(usize::MAX) {
            return Ok(total);
        }
    }
}

/// Runs `jobs` off the executor and records each outcome.
async fn run_all(db: &Db, store: &Arc<Jobs>, metrics: &Metrics, jobs: &[Job], s: Settings) {
    for &job in jobs {
        let (db, store) = (db.clone(), Arc::clone(store));
        let ran = actix_web::web::block(move || run_once(&db, store.store(), job, &s)).await;
        let outcome = match ran {
            Ok(Ok(n)) => {
                if n > 0 {
                    tracing::info!(job = job.as_str(), removed = n, "housekeeping");
                }
                Ok(n)
            }
            Ok(Err(e)) => {
                tracing::warn!(job = job.as_str(), error = %e, "housekeeping failed; tried again next time");
                Err(())
            }
            Err(e) => {
                tracing::warn!(job = job.as_str(), error = %e, "housekeeping failed; tried again next time");
                Err(())
            }
        };
        metrics.housekeeping(job.as_str(), outcome);
    }
}

/// Starts the timers: the sweep every `FIELDSYNC_SWEEP_INTERVAL_SECS` (the
/// first right away), originals with the schedules' interval when a
/// keeping is set.
pub fn start(db: Db, store: Arc<Jobs>, metrics: Arc<Metrics>, s: Settings) {
    {
        let (db, store, metrics) = (db.clone(), Arc::clone(&store), Arc::clone(&metrics));
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(s.every);
            loop {
                tick.tick().await;
                run_all(&db, &store, &metrics, &SWEEP, s).await;
            }
        });
    }
    if s.originals_keep_days.is_some() {
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(s.originals_every);
            loop {
                tick.tick().await;
                run_all(&db, &store, &metrics, &[Job::Originals], s).await;
            }
        });
    }
}
