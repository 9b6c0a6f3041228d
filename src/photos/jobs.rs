//! Variant jobs: one per photo whose bytes arrived, kept in the database,
//! run by a bounded pool of threads of our own (off the async executor),
//! retried with backoff, resumed after a restart.
//!
//! (Over 600 lines with its tests; the code is about 530: the queue, its
//! workers and their leases are one state machine, kept in one file.)

use super::PhotoStatus;
use super::blob::{self, BlobStore};
use super::inspect::{self, Refusal};
use super::{PhotoKind, exif, variants, video};
use crate::clock;
use crate::db::schema::{photo_jobs as pj, photos};
use crate::db::{Conn, Db};
use crate::error::{AppResult, ErrorCode};
use crate::journal::{self, Entity};
use chrono::{Duration, FixedOffset, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

pub const MAX_ATTEMPTS: i32 = 5;

/// How the photo workers run.
pub struct Settings {
    pub limits: variants::Limits,
    /// What an EXIF time without an offset means.
    pub offset: FixedOffset,
    /// Worker threads (0: none; jobs wait in the database).
    pub workers: usize,
    /// How long a claimed job is its server's (`FIELDSYNC_JOB_LEASE_SECS`,
    /// 120 s: far above a job's time, a 50-megapixel photo decodes in a few
    /// seconds). If a slow one outlives it and is taken again, the variants
    /// are made twice, identically (they are named by the photo's hash),
    /// and only the later claim's outcome counts.
    pub lease: Duration,
    /// Videos: ffmpeg and its limits.
    pub video: video::Settings,
}

/// A variant job's state, as stored: `queued` (waiting for its time),
/// `running` (claimed for a lease), `done`, `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
}

/// Queues a job for a photo (in the caller's transaction).
pub fn enqueue(c: &mut Conn, photo_id: &str) -> AppResult<()> {
    let now = clock::now();
    diesel::insert_into(pj::table)
        .values((
            pj::id.eq(clock::new_id()),
            pj::photo_id.eq(photo_id),
            pj::status.eq(JobStatus::Queued.as_str()),
            pj::attempts.eq(0),
            pj::next_attempt_at.eq(now),
            pj::created_at.eq(now),
            pj::updated_at.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// The bytes of photo `id` arrived for it (its own multipart part or tus
/// upload) and are in the store: a `missing` photo becomes `stored` and
/// gets its job. Only bytes sent for a photo bind to it: equal bytes stored
/// for another photo are kept once on disk, but knowing their hash never
/// makes this photo `stored`.
pub fn bytes_arrived(c: &mut Conn, id: &str) -> AppResult<()> {
    let n = diesel::update(
        photos::table
            .find(id)
            .filter(photos::status.eq(PhotoStatus::Missing.as_str())),
    )
    .set((
        photos::status.eq(PhotoStatus::Stored.as_str()),
        photos::updated_at.eq(clock::now()),
    ))
    .execute(c)?;
    if n > 0 {
        enqueue(c, id)?;
        journal::changed(c, Entity::Photo, id)?;
    }
    Ok(())
}

/// Makes sure both variants of `sha` exist, making them if needed; returns
/// the original's upright size and its EXIF.
pub fn ensure_variants(
    store: &dyn BlobStore,
    sha: &str,
    limits: variants::Limits,
    offset: FixedOffset,
    tools: (&video::Settings, &AtomicBool),
) -> Result<(u32, u32, exif::Info), JobError> {
    let bytes = store.read(&blob::original_key(sha)).map_err(JobError::Io)?;
    let (format, w, h) = inspect::check(&bytes, limits.max_pixels).map_err(JobError::Refused)?;
    let heic = format == inspect::Format::Heic;
    if blob::have_variants(store, sha).map_err(JobError::Io)? {
        let mut info = exif::read(&bytes, offset);
        if heic {
            info.orientation = 1;
        }
        let (w, h) = if info.orientation >= 5 {
            (h, w)
        } else {
            (w, h)
        };
        return Ok((w, h, info));
    }
    let v =
        if heic {
            let (settings, stop) = tools;
            let tool = settings
                .heif_convert()
                .ok_or(JobError::NeedsTool(Tool::HeifConvert))?;
            let scratch = super::ffmpeg::Scratch::new(&settings.data_dir).map_err(JobError::Io)?;
            let jpeg = super::heif::to_jpeg(&tool, &bytes, &scratch, &settings.limits, stop)
                .map_err(|e| match e {
                    super::ffmpeg::RunError::Failed(m) => JobError::Refused(Refusal::new(
                        422,
                        ErrorCode::CorruptImage,
                        format!("HEIC 照片无法解码：{m}"),
                    )),
                    e => JobError::Io(std::io::Error::other(e.to_string())),
                })?;
            let mut v = variants::make(&jpeg, limits, offset).map_err(JobError::Refused)?;
            // Upright already (libheif applies the file's transforms); its own
            // EXIF gives the position and time.
            v.exif = exif::Info {
                orientation: 1,
                ..exif::read(&bytes, offset)
            };
            v
        } else {
            variants::make(&bytes, limits, offset).map_err(JobError::Refused)?
        };
    drop(bytes);
    store
        .put_bytes(&blob::variant_key(sha, "thumb"), &v.thumb)
        .map_err(JobError::Io)?;
    store
        .put_bytes(&blob::variant_key(sha, "display"), &v.display)
        .map_err(JobError::Io)?;
    Ok((v.width, v.height, v.exif))
}

#[derive(Debug)]
pub enum JobError {
    /// The bytes are not a usable image: no retry will help.
    Refused(Refusal),
    /// The disk: worth retrying.
    Io(std::io::Error),
    /// Every decode slot stayed busy past the wait: try again later.
    Busy,
    /// A tool this server lacks: the job waits for it, uncounted.
    NeedsTool(Tool),
}

/// The optional tools a job may wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ffmpeg,
    HeifConvert,
}

impl Tool {
    pub const ALL: [Tool; 2] = [Tool::Ffmpeg, Tool::HeifConvert];

    /// `photo_jobs.needs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Ffmpeg => "ffmpeg",
            Tool::HeifConvert => "heif-convert",
        }
    }

    /// What the item's `variants_pending` says.
    pub fn missing(self) -> &'static str {
        match self {
            Tool::Ffmpeg => super::ffmpeg::MISSING,
            Tool::HeifConvert => super::heif::MISSING,
        }
    }

    /// What its absence costs, in the district's words.
    pub fn effect(self) -> &'static str {
        match self {
            Tool::Ffmpeg => super::ffmpeg::MISSING_EFFECT,
            Tool::HeifConvert => super::heif::MISSING_EFFECT,
        }
    }

    /// Which tools this server finds (`{"ffmpeg": true, ...}`) and what
    /// the missing ones cost: `/readyz` and `/admin` say it.
    pub fn report(config: &crate::config::Config) -> (serde_json::Value, Vec<&'static str>) {
        let settings = video::Settings::of(config);
        let mut found = serde_json::Map::new();
        let mut missing = Vec::new();
        for t in Tool::ALL {
            let here = t.found(&settings);
            found.insert(t.as_str().into(), here.into());
            if !here {
                missing.push(t.effect());
            }
        }
        (serde_json::Value::Object(found), missing)
    }

    pub fn found(self, settings: &video::Settings) -> bool {
        match self {
            Tool::Ffmpeg => settings.ffmpeg().is_some(),
            Tool::HeifConvert => settings.heif_convert().is_some(),
        }
    }
}

/// The memory one decode may take: what `inspect::MAX_OTHER_PIXELS` is
/// chosen for. Peak memory is `slots x DECODE_BUDGET` plus a fixed base.
pub const DECODE_BUDGET_MIB: u64 = 256;

/// Decoding, bounded and once per photo: at most `slots` decodes run at
/// once (the photo workers' and the requests' together), and a photo being
/// decoded is not decoded again by another thread, which waits for that
/// decode instead. A decoder that panics is a refused image, not a dead
/// worker.
struct Decoder {
    state: Mutex<DecodeState>,
    cond: Condvar,
    slots: usize,
    /// Counts the decodes (`fieldsync_photo_decodes_total`).
    decodes: prometheus_client::metrics::counter::Counter,
}

#[derive(Default)]
struct DecodeState {
    running: usize,
    photos: std::collections::HashSet<String>,
}

impl Decoder {
    fn run<T>(
        &self,
        sha: &str,
        wait: Option<std::time::Duration>,
        f: impl FnOnce() -> Result<T, JobError>,
    ) -> Result<T, JobError> {
        let deadline = wait.map(|w| std::time::Instant::now() + w);
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            while st.photos.contains(sha) || st.running >= self.slots {
                st = match deadline {
                    None => self.cond.wait(st).unwrap_or_else(|p| p.into_inner()),
                    Some(d) => {
                        let left = d.saturating_duration_since(std::time::Instant::now());
                        if left.is_zero() {
                            return Err(JobError::Busy);
                        }
                        self.cond
                            .wait_timeout(st, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                };
            }
            st.running += 1;
            st.photos.insert(sha.to_string());
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
            tracing::error!(sha, "a decoder panicked on a photo");
            Err(JobError::Refused(Refusal::new(
                422,
                ErrorCode::CorruptImage,
                "the image could not be decoded",
            )))
        });
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.running -= 1;
        st.photos.remove(sha);
        self.cond.notify_all();
        r
    }
}

pub struct Jobs {
    db: Db,
    decoder: Decoder,
    store: Arc<dyn BlobStore>,
    limits: variants::Limits,
    offset: FixedOffset,
    lease: Duration,
    video: video::Settings,
    /// Transcodes running now (at most `video.workers`).
    transcoding: std::sync::atomic::AtomicUsize,
    /// Jobs queued, as last seen by a worker.
    backlog: prometheus_client::metrics::gauge::Gauge,
    wake: Mutex<u64>,
    cond: Condvar,
    stop: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Jobs {
    /// Starts the workers. A job is claimed for a lease: one whose server
    /// died while running it is taken again by any server once its lease
    /// has run out (at once on a database of one server's own).
    pub fn start(
        db: Db,
        store: Arc<dyn BlobStore>,
        settings: Settings,
        decodes: prometheus_client::metrics::counter::Counter,
        backlog: prometheus_client::metrics::gauge::Gauge,
    ) -> AppResult<Arc<Jobs>> {
        let Settings {
            limits,
            offset,
            workers: n,
            lease,
            video,
        } = settings;
        // What a server killed mid-transcode left behind.
        super::ffmpeg::clear_scratch(&video.data_dir);
        if !db.shared() {
            // This server is the database's only one: what is left running
            // was cut short by its own last stop, and need not wait for
            // its lease to run out. Read first: a start takes the write
            // lock only when there is something to free (another process
            // may hold it for long), and one it cannot take leaves the
            // jobs to their leases.
            let running: i64 = db.read_blocking(|c| {
                Ok(pj::table
                    .filter(pj::status.eq(JobStatus::Running.as_str()))
                    .count()
                    .get_result(c)?)
            })?;
            if running > 0
                && let Err(e) = db.write_blocking(|c| {
                    diesel::update(pj::table.filter(pj::status.eq(JobStatus::Running.as_str())))
                        .set((
                            pj::status.eq(JobStatus::Queued.as_str()),
                            pj::lease_until.eq(None::<NaiveDateTime>),
                        ))
                        .execute(c)?;
                    Ok(())
                })
            {
                tracing::warn!(error = %e, "cannot free the photo jobs cut short by the last stop; their leases will");
            }
        }
        let jobs = Arc::new(Jobs {
            db,
            decoder: Decoder {
                state: Mutex::new(DecodeState::default()),
                cond: Condvar::new(),
                // Requests decode even when no worker runs jobs.
                slots: n.max(1),
                decodes,
            },
            store,
            limits,
            offset,
            lease,
            video,
            transcoding: std::sync::atomic::AtomicUsize::new(0),
            backlog,
            wake: Mutex::new(0),
            cond: Condvar::new(),
            stop: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::new();
        // None at all is allowed: jobs then wait in the database (tests use
        // it to leave jobs pending across a restart).
        for i in 0..n {
            let j = Arc::clone(&jobs);
            let t = std::thread::Builder::new()
                .name(format!("photo-worker-{i}"))
                .spawn(move || j.run())
                .map_err(crate::error::AppError::internal)?;
            threads.push(t);
        }
        *jobs.threads.lock().unwrap_or_else(|p| p.into_inner()) = threads;
        Ok(jobs)
    }

    pub fn store(&self) -> &dyn BlobStore {
        self.store.as_ref()
    }

    pub fn store_arc(&self) -> Arc<dyn BlobStore> {
        Arc::clone(&self.store)
    }

    pub fn limits(&self) -> variants::Limits {
        self.limits
    }

    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// Makes sure both variants of `sha` exist, for a request that asked
    /// for one before its job ran: through the same bounded decode slots
    /// as the jobs, waiting at most `wait` for one (blocking).
    pub fn variants_now(&self, sha: &str, wait: std::time::Duration) -> Result<(), JobError> {
        let have = |s: &dyn BlobStore| blob::have_variants(s, sha).map_err(JobError::Io);
        if have(self.store())? {
            return Ok(());
        }
        self.decoder.run(sha, Some(wait), || {
            // Another thread may have made them while this one waited.
            if have(self.store())? {
                return Ok(());
            }
            self.decoder.decodes.inc();
            ensure_variants(
                self.store(),
                sha,
                self.limits,
                self.offset,
                (&self.video, &self.stop),
            )
            .map(|_| ())
        })
    }

    /// Wakes the workers: there is new work.
    pub fn notify(&self) {
        let mut n = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        self.cond.notify_all();
    }

    /// Stops the workers after the job each is on.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }

    fn run(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            let seen = *self.wake.lock().unwrap_or_else(|p| p.into_inner());
            match self.claim() {
                Ok(Some(job)) => self.process(job),
                Ok(None) => {
                    let guard = self.wake.lock().unwrap_or_else(|p| p.into_inner());
                    if *guard == seen {
                        // Also wake now and then for retries that came due.
                        let _ = self
                            .cond
                            .wait_timeout(guard, std::time::Duration::from_secs(2));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "photo job queue unavailable");
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
        }
    }

    fn claim(&self) -> AppResult<Option<Claimed>> {
        let lease = self.lease;
        // Looked for on a reader first: an idle worker's poll never takes
        // the write lock (on PostgreSQL, every server's writes wait on it).
        let now = clock::now();
        // A video job is taken only while a transcode slot is free: a
        // worker never sits waiting for one while photos queue.
        let videos = self.transcoding.load(Ordering::SeqCst) < self.video.workers;
        let found: Vec<&'static str> = Tool::ALL
            .into_iter()
            .filter(|t| t.found(&self.video))
            .map(Tool::as_str)
            .collect();
        let (queued, due, parked) = self.db.read_blocking(move |c| {
            // Jobs waiting (due or not), for /metrics.
            let queued: i64 = pj::table
                .filter(pj::status.eq(JobStatus::Queued.as_str()))
                .count()
                .get_result(c)?;
            let parked: Vec<String> = pj::table
                .filter(pj::needs.eq_any(&found))
                .select(pj::needs.assume_not_null())
                .distinct()
                .load(c)?;
            Ok((queued, next_job(c, now, videos)?.is_some(), parked))
        })?;
        self.backlog.set(queued);
        if !parked.is_empty() {
            // A tool was installed since: the jobs waiting for it go.
            self.db.write_blocking(move |c| {
                diesel::update(pj::table.filter(pj::needs.eq_any(&parked)))
                    .set((
                        pj::needs.eq(None::<String>),
                        pj::next_attempt_at.eq(clock::now()),
                    ))
                    .execute(c)?;
                Ok(())
            })?;
            return self.claim();
        }
        if !due {
            return Ok(None);
        }
        self.db.write_blocking(move |c| {
            let now = clock::now();
            // Write transactions never overlap (`db::conn::begin`), so two
            // servers can never both see a job free and both take it.
            let Some((id, photo_id, attempts, sha, kind)) = next_job(c, now, videos)? else {
                return Ok(None);
            };
            diesel::update(pj::table.find(&id))
                .set((
                    pj::status.eq(JobStatus::Running.as_str()),
                    pj::attempts.eq(attempts + 1),
                    pj::lease_until.eq(now + lease),
                    pj::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok(Some(Claimed {
                id,
                photo_id,
                attempts: attempts + 1,
                sha,
                video: kind == PhotoKind::Video.as_str(),
            }))
        })
    }

    fn process(&self, job: Claimed) {
        if job.video {
            self.transcoding.fetch_add(1, Ordering::SeqCst);
            self.process_video(&job);
            self.transcoding.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let outcome = self.decoder.run(&job.sha, None, || {
            if !blob::have_variants(self.store.as_ref(), &job.sha).unwrap_or(false) {
                self.decoder.decodes.inc();
            }
            ensure_variants(
                self.store.as_ref(),
                &job.sha,
                self.limits,
                self.offset,
                (&self.video, &self.stop),
            )
        });
        let (job_id, photo_id, attempts) = (job.id.clone(), job.photo_id.clone(), job.attempts);
        let r = self.db.write_blocking(move |c| {
            let now = clock::now();
            let (photo_status, job_status, error, retry_at) = match &outcome {
                Ok((w, h, info)) => {
                    let exif = (info.lat.is_some() || info.taken_at.is_some()).then(|| {
                        json!({"lat": info.lat, "lon": info.lon, "taken_at": info.taken_at})
                            .to_string()
                    });
                    diesel::update(photos::table.find(&photo_id))
                        .set((
                            photos::width.eq(*w as i32),
                            photos::height.eq(*h as i32),
                            photos::exif.eq(exif),
                        ))
                        .execute(c)?;
                    (PhotoStatus::Ready, JobStatus::Done, None, now)
                }
                Err(JobError::Refused(r)) => (
                    PhotoStatus::Failed,
                    JobStatus::Failed,
                    Some(r.message.clone()),
                    now,
                ),
                Err(JobError::Io(e)) if attempts < MAX_ATTEMPTS => {
                    let backoff = Duration::seconds(2i64.pow(attempts as u32).min(300));
                    (
                        PhotoStatus::Stored,
                        JobStatus::Queued,
                        Some(e.to_string()),
                        now + backoff,
                    )
                }
                Err(JobError::Io(e)) => (
                    PhotoStatus::Failed,
                    JobStatus::Failed,
                    Some(e.to_string()),
                    now,
                ),
                // Not reachable for jobs, which wait for their slot.
                Err(JobError::Busy) => (PhotoStatus::Stored, JobStatus::Queued, None, now),
                Err(JobError::NeedsTool(t)) => (
                    PhotoStatus::Stored,
                    JobStatus::Queued,
                    Some(t.missing().to_string()),
                    now,
                ),
            };
            // Waiting for a tool is not an attempt, and the job is not
            // taken again until the tool is found.
            let needs = match &outcome {
                Err(JobError::NeedsTool(t)) => Some(*t),
                _ => None,
            };
            let ending = Ending {
                photo: photo_status,
                job: job_status,
                needs,
                uncounted: needs.is_some(),
                pending: needs.map(|t| t.missing().to_string()),
                error,
                retry_at,
            };
            record_ending(c, &job_id, &photo_id, attempts, &ending)?;
            Ok(())
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, job = %job.id, "could not record a photo job's outcome");
        }
    }
}

/// Where a video job ended.
enum VideoDone {
    Ready,
    NeedsFfmpeg,
}

impl Jobs {
    /// A video's job: what its container says, written at once (the
    /// record's checks and the reviewer need it before any transcode),
    /// then its variants if this server has ffmpeg.
    fn process_video(&self, job: &Claimed) {
        let outcome = (|| {
            let scratch = super::ffmpeg::Scratch::new(&self.video.data_dir)
                .map_err(|e| video::VideoError::Retry(format!("无法建立临时目录：{e}")))?;
            let (path, info) = video::probe(self.store(), &job.sha, &self.video, &scratch)?;
            self.record_video_info(&job.photo_id, &info)
                .map_err(|e| video::VideoError::Retry(e.to_string()))?;
            if video::have_variants(self.store(), &job.sha)
                .map_err(|e| video::VideoError::Retry(e.to_string()))?
            {
                return Ok(VideoDone::Ready);
            }
            let Some(ffmpeg) = self.video.ffmpeg() else {
                return Ok(VideoDone::NeedsFfmpeg);
            };
            self.decoder.decodes.inc();
            video::make(
                self.store(),
                &job.sha,
                (&path, &info),
                &ffmpeg,
                &self.video,
                &scratch,
                &self.stop,
            )?;
            Ok(VideoDone::Ready)
        })();
        if let Err(e) = self.record_video(job, outcome) {
            tracing::warn!(error = %e, job = %job.id, "could not record a video job's outcome");
        }
    }

    fn record_video_info(
        &self,
        photo_id: &str,
        info: &super::container::VideoInfo,
    ) -> AppResult<()> {
        let id = photo_id.to_string();
        let exif = (info.lat.is_some() || info.taken_at.is_some()).then(|| {
            json!({"lat": info.lat, "lon": info.lon, "taken_at": info.taken_at}).to_string()
        });
        let track = json!({
            "codec": info.codec,
            "width": info.width,
            "height": info.height,
            "rotation": info.rotation,
        })
        .to_string();
        let (w, h, ms) = (
            i32::try_from(info.width).unwrap_or(i32::MAX),
            i32::try_from(info.height).unwrap_or(i32::MAX),
            i64::try_from(info.duration_ms).unwrap_or(i64::MAX),
        );
        self.db.write_blocking(move |c| {
            let insp: Option<String> = photos::table
                .find(&id)
                .select(photos::inspection_id)
                .first(c)
                .optional()?;
            let Some(insp) = insp else {
                return Ok(());
            };
            diesel::update(photos::table.find(&id))
                .set((
                    photos::width.eq(w),
                    photos::height.eq(h),
                    photos::duration_ms.eq(ms),
                    photos::video.eq(&track),
                    photos::exif.eq(&exif),
                    photos::updated_at.eq(clock::now()),
                ))
                .execute(c)?;
            journal::changed(c, Entity::Photo, &id)?;
            journal::changed(c, Entity::Inspection, &insp)?;
            Ok(())
        })
    }

    fn record_video(
        &self,
        job: &Claimed,
        outcome: Result<VideoDone, video::VideoError>,
    ) -> AppResult<()> {
        use video::VideoError as E;
        let now = clock::now();
        let attempts = job.attempts;
        let missing = Some(super::ffmpeg::MISSING.to_string());
        // (photo, job, needs, attempts counted, the reason, retry at)
        let (photo_status, job_status, needs, counted, reason, retry_at) = match outcome {
            Ok(VideoDone::Ready) => (
                PhotoStatus::Ready,
                JobStatus::Done,
                None,
                attempts,
                None,
                now,
            ),
            // Waiting for a tool is not an attempt.
            Ok(VideoDone::NeedsFfmpeg) => (
                PhotoStatus::Stored,
                JobStatus::Queued,
                Some(Tool::Ffmpeg),
                attempts - 1,
                missing,
                now,
            ),
            Err(E::Abandoned) => (
                PhotoStatus::Stored,
                JobStatus::Queued,
                None,
                attempts - 1,
                None,
                now,
            ),
            Err(E::Refused(r)) => (
                PhotoStatus::Failed,
                JobStatus::Failed,
                None,
                attempts,
                Some(r.message),
                now,
            ),
            Err(E::Retry(m)) if attempts < MAX_ATTEMPTS => (
                PhotoStatus::Stored,
                JobStatus::Queued,
                None,
                attempts,
                Some(m),
                now + Duration::seconds(2i64.pow(attempts as u32 + 2).min(3600)),
            ),
            Err(E::Retry(m)) => (
                PhotoStatus::Failed,
                JobStatus::Failed,
                None,
                attempts,
                Some(m),
                now,
            ),
        };
        if let Some(r) = &reason {
            tracing::info!(photo = %job.photo_id, reason = %r, "video variants not made");
        }
        let ending = Ending {
            photo: photo_status,
            job: job_status,
            needs,
            uncounted: counted < attempts,
            pending: reason.clone(),
            error: reason,
            retry_at,
        };
        let (job_id, photo_id) = (job.id.clone(), job.photo_id.clone());
        self.db.write_blocking(move |c| {
            record_ending(c, &job_id, &photo_id, attempts, &ending)?;
            Ok(())
        })
    }
}

/// How a job ended, as it is stored.
struct Ending {
    photo: PhotoStatus,
    job: JobStatus,
    /// A tool it waits for: it is not taken again until a worker finds it.
    needs: Option<Tool>,
    /// Not an attempt (a tool missing, the server stopping): the count
    /// goes back to what it was before the claim.
    uncounted: bool,
    /// What the item says while its variants wait (`variants_pending`).
    pending: Option<String>,
    /// The job's `last_error`.
    error: Option<String>,
    retry_at: NaiveDateTime,
}

/// Writes a job's ending and its item's status in the caller's
/// transaction, only while the claim is still this worker's: a job whose
/// lease ran out may have been taken (and counted) by another. One home
/// for photos' and videos' jobs alike.
fn record_ending(
    c: &mut Conn,
    job_id: &str,
    photo_id: &str,
    claimed: i32,
    e: &Ending,
) -> AppResult<()> {
    let now = clock::now();
    let still_ours = diesel::update(
        pj::table
            .find(job_id)
            .filter(pj::status.eq(JobStatus::Running.as_str()))
            .filter(pj::attempts.eq(claimed)),
    )
    .set((
        pj::status.eq(e.job.as_str()),
        pj::attempts.eq(if e.uncounted { claimed - 1 } else { claimed }),
        pj::needs.eq(e.needs.map(Tool::as_str)),
        pj::last_error.eq(&e.error),
        pj::next_attempt_at.eq(e.retry_at),
        pj::lease_until.eq(None::<NaiveDateTime>),
        pj::updated_at.eq(now),
    ))
    .execute(c)?;
    if still_ours == 0 {
        return Ok(());
    }
    diesel::update(photos::table.find(photo_id))
        .set((
            photos::status.eq(e.photo.as_str()),
            photos::variants_pending.eq(&e.pending),
            photos::updated_at.eq(now),
        ))
        .execute(c)?;
    let insp: String = photos::table
        .find(photo_id)
        .select(photos::inspection_id)
        .first(c)?;
    journal::changed(c, Entity::Photo, photo_id)?;
    journal::changed(c, Entity::Inspection, &insp)?;
    Ok(())
}

/// The job to take next: due and waiting, or running on a server whose
/// lease ran out; a video's only when `videos`, and never one waiting for
/// a tool. (id, photo, attempts so far, the photo's hash, its kind)
type Next = (String, String, i32, String, String);

fn next_job(c: &mut Conn, now: NaiveDateTime, videos: bool) -> AppResult<Option<Next>> {
    let mut q = pj::table
        .inner_join(photos::table)
        .filter(pj::needs.is_null())
        .into_boxed();
    if !videos {
        q = q.filter(photos::kind.ne(PhotoKind::Video.as_str()));
    }
    Ok(q.filter(
        pj::status
            .eq(JobStatus::Queued.as_str())
            .and(pj::next_attempt_at.le(now))
            .or(pj::status
                .eq(JobStatus::Running.as_str())
                .and(pj::lease_until.lt(now))),
    )
    .order(pj::next_attempt_at)
    .select((
        pj::id,
        pj::photo_id,
        pj::attempts,
        photos::sha256,
        photos::kind,
    ))
    .first(c)
    .optional()?)
}

struct Claimed {
    id: String,
    photo_id: String,
    attempts: i32,
    sha: String,
    video: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn decoder(slots: usize) -> Arc<Decoder> {
        Arc::new(Decoder {
            state: Mutex::new(DecodeState::default()),
            cond: Condvar::new(),
            slots,
            decodes: Default::default(),
        })
    }

    #[test]
    fn one_decode_per_photo_and_no_more_than_the_slots() {
        let d = decoder(2);
        let made: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let (decodes, running, peak) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let threads: Vec<_> = (0..24)
            .map(|i| {
                let (d, made, decodes, running, peak) = (
                    Arc::clone(&d),
                    Arc::clone(&made),
                    Arc::clone(&decodes),
                    Arc::clone(&running),
                    Arc::clone(&peak),
                );
                std::thread::spawn(move || {
                    // Six photos, four requests each.
                    let sha = format!("photo{}", i % 6);
                    d.run(&sha, None, || {
                        if made.lock().unwrap().contains(&sha) {
                            return Ok(());
                        }
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        decodes.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                        made.lock().unwrap().insert(sha.clone());
                        Ok(())
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(decodes.load(Ordering::SeqCst), 6, "one decode per photo");
        assert!(
            peak.load(Ordering::SeqCst) <= 2,
            "never more than the slots"
        );
    }

    #[test]
    fn a_panicking_decoder_is_a_refusal_and_frees_its_slot() {
        let d = decoder(1);
        let r: Result<(), JobError> = d.run("x", None, || panic!("a decoder bug"));
        assert!(
            matches!(r, Err(JobError::Refused(ref f)) if f.code == crate::error::ErrorCode::CorruptImage)
        );
        // The slot is free again, and a busy one times out cleanly.
        assert!(d.run("x", None, || Ok(())).is_ok());
        let hold = Arc::clone(&d);
        let t = std::thread::spawn(move || {
            hold.run("y", None, || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                Ok(())
            })
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        let r = d.run("z", Some(std::time::Duration::from_millis(50)), || Ok(()));
        assert!(matches!(r, Err(JobError::Busy)));
        t.join().unwrap().unwrap();
    }
}
