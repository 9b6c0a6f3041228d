//! Settings: `FIELDSYNC_*` environment variables (or the same as flags),
//! each with a default that is safe to run with.

use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "FIELDSYNC_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Directory for the database, photos and the generated JWT secret.
    #[arg(long, env = "FIELDSYNC_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The database: a SQLite file (a path or `sqlite://path`; default
    /// `<data dir>/fieldsync.db`) or PostgreSQL (`postgres://...`).
    #[arg(long, env = "FIELDSYNC_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where photo bytes are kept: `file://<dir>` or `s3://<bucket>/<prefix>`
    /// (credentials and region from the usual `AWS_*` variables). Default
    /// `<data dir>/blobs`.
    #[arg(long, env = "FIELDSYNC_BLOB_URL")]
    pub blob_url: Option<String>,

    /// An S3-compatible server's endpoint (`http://127.0.0.1:9000`), for
    /// `s3://` blob URLs not on AWS.
    #[arg(long, env = "FIELDSYNC_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// HS256 key (its UTF-8 bytes, at least 32). Default: generated once and
    /// kept in `<data dir>/jwt-secret`.
    #[arg(long, env = "FIELDSYNC_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Password of the first admin (`admin`), used only when the database
    /// has no users. Default: generated and printed once.
    #[arg(long, env = "FIELDSYNC_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Access token lifetime in seconds.
    #[arg(long, env = "FIELDSYNC_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: i64,

    /// Refresh token lifetime in seconds (30 days: phones stay offline long).
    #[arg(long, env = "FIELDSYNC_REFRESH_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_ttl_secs: i64,

    /// Seconds during which a just-rotated refresh token may be presented
    /// again (the phone lost the answer) without counting as theft.
    #[arg(long, env = "FIELDSYNC_REFRESH_GRACE_SECS", default_value_t = 60)]
    pub refresh_grace_secs: i64,

    /// Largest JSON request body in bytes.
    #[arg(long, env = "FIELDSYNC_MAX_JSON_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_json_bytes: usize,

    /// Login attempts allowed in a burst per user name (then one more every
    /// `FIELDSYNC_LOGIN_REFILL_SECS`).
    #[arg(long, env = "FIELDSYNC_LOGIN_BURST_PER_USER", default_value_t = 10)]
    pub login_burst_per_user: u32,

    /// Login attempts allowed in a burst per client IP.
    #[arg(long, env = "FIELDSYNC_LOGIN_BURST_PER_IP", default_value_t = 50)]
    pub login_burst_per_ip: u32,

    /// Seconds to regain one login attempt.
    #[arg(long, env = "FIELDSYNC_LOGIN_REFILL_SECS", default_value_t = 6)]
    pub login_refill_secs: u64,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "FIELDSYNC_WORKERS")]
    pub workers: Option<usize>,

    /// Read connections in the pool.
    #[arg(long, env = "FIELDSYNC_READ_POOL", default_value_t = 8)]
    pub read_pool: u32,

    /// Milliseconds a statement waits on a locked database before the
    /// request answers 503.
    #[arg(long, env = "FIELDSYNC_BUSY_TIMEOUT_MS", default_value_t = 5000)]
    pub busy_timeout_ms: u32,

    /// Largest photo in bytes.
    #[arg(long, env = "FIELDSYNC_MAX_PHOTO_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_photo_bytes: u64,

    /// Most pixels a photo may have (width x height, read from its header
    /// before anything is decoded).
    #[arg(long, env = "FIELDSYNC_MAX_PHOTO_PIXELS", default_value_t = 64_000_000)]
    pub max_photo_pixels: u64,

    /// Largest video in bytes (DESIGN "Videos and faithful photos").
    #[arg(long, env = "FIELDSYNC_MAX_VIDEO_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub max_video_bytes: u64,

    /// Longest video in seconds (its container's declared duration).
    #[arg(long, env = "FIELDSYNC_MAX_VIDEO_SECS", default_value_t = 600)]
    pub max_video_secs: u64,

    /// The ffmpeg that makes video variants (default: `ffmpeg` on PATH).
    /// Without one, videos are kept and served as received.
    #[arg(long, env = "FIELDSYNC_FFMPEG")]
    pub ffmpeg: Option<PathBuf>,

    /// A CJK font (TTF, OTF or TTC) for the PDFs the server makes (the
    /// period brief); default: the first of Debian's CJK fonts found.
    /// Without one, a PDF is answered 406 and the brief is printed from
    /// the browser.
    #[arg(long, env = "FIELDSYNC_PDF_FONT")]
    pub pdf_font: Option<PathBuf>,

    /// The heif-convert that decodes HEIC photos (default: on PATH).
    #[arg(long, env = "FIELDSYNC_HEIF_CONVERT")]
    pub heif_convert: Option<PathBuf>,

    /// Videos transcoded at once (each an ffmpeg child process).
    #[arg(long, env = "FIELDSYNC_VIDEO_WORKERS", default_value_t = 1)]
    pub video_workers: usize,

    /// Seconds one ffmpeg run may take before it is killed (a wall clock:
    /// a CPU limit counts every thread and kills honest transcodes).
    #[arg(long, env = "FIELDSYNC_VIDEO_TIMEOUT_SECS", default_value_t = 900)]
    pub video_timeout_secs: u64,

    /// Address space one ffmpeg run may take, in MiB (RLIMIT_AS).
    #[arg(long, env = "FIELDSYNC_VIDEO_MEMORY_MIB", default_value_t = 2048)]
    pub video_memory_mib: u64,

    /// Days an approved record's originals are kept (default: forever);
    /// after that the original goes and `display` stays.
    #[arg(long, env = "FIELDSYNC_ORIGINALS_KEEP_DAYS")]
    pub originals_keep_days: Option<u32>,

    /// Days a push's stored answer is kept (the answer a phone that lost it
    /// gets again for the same batch). Past it a replay is applied anew,
    /// which changes nothing: its items come back `unchanged`.
    #[arg(long, env = "FIELDSYNC_BATCH_ANSWERS_KEEP_DAYS", default_value_t = 90)]
    pub batch_answers_keep_days: u32,

    /// Days of closed records phones keep (0: all). A record whose review
    /// is over, that has not changed for this long and whose follow-ups are
    /// all verified is no longer sent to phones and leaves those that hold
    /// it; the server keeps it (pages, reports, exports).
    #[arg(long, env = "FIELDSYNC_PHONE_HISTORY_DAYS", default_value_t = 0)]
    pub phone_history_days: u32,

    /// Seconds between housekeeping runs: expired uploads and their parts,
    /// orphaned parts, stale staging files, old batch answers.
    #[arg(long, env = "FIELDSYNC_SWEEP_INTERVAL_SECS", default_value_t = 600)]
    pub sweep_interval_secs: u64,

    /// Largest multipart push (the batch and its photos together).
    #[arg(long, env = "FIELDSYNC_MAX_MULTIPART_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_multipart_bytes: u64,

    /// Threads making photo variants (default: one per core; 0 runs none,
    /// and jobs wait in the database).
    #[arg(long, env = "FIELDSYNC_PHOTO_WORKERS")]
    pub photo_workers: Option<usize>,

    /// Seconds a server holds a photo job it took; a job whose server died
    /// is taken by another once this has passed.
    #[arg(long, env = "FIELDSYNC_JOB_LEASE_SECS", default_value_t = 120)]
    pub job_lease_secs: i64,

    /// Seconds a PATCH holds a resumable upload; one whose server died
    /// mid-PATCH can be resumed (on any server) once this has passed.
    #[arg(long, env = "FIELDSYNC_UPLOAD_LEASE_SECS", default_value_t = 300)]
    pub upload_lease_secs: i64,

    /// Lifetime of signed photo URLs in seconds.
    #[arg(long, env = "FIELDSYNC_PHOTO_URL_TTL_SECS", default_value_t = 86400)]
    pub photo_url_ttl_secs: i64,

    /// Seconds an unfinished resumable upload is kept before its bytes are
    /// removed.
    #[arg(long, env = "FIELDSYNC_UPLOAD_EXPIRY_SECS", default_value_t = 86400)]
    pub upload_expiry_secs: i64,

    /// Seconds between runs of the job that makes scheduled routes ahead
    /// (it also runs at start).
    #[arg(long, env = "FIELDSYNC_SCHEDULE_INTERVAL_SECS", default_value_t = 3600)]
    pub schedule_interval_secs: u64,

    /// Tile server URL template for the admin console's maps, e.g.
    /// `https://tile.example.org/{z}/{x}/{y}.png`. Unset: maps are drawn on
    /// a plain scaled plane with no tiles (no internet needed).
    #[arg(long, env = "FIELDSYNC_MAP_TILES")]
    pub map_tiles: Option<String>,

    /// Unfinished resumable uploads one user may have at once.
    #[arg(long, env = "FIELDSYNC_MAX_UPLOADS_PER_USER", default_value_t = 200)]
    pub max_uploads_per_user: i64,

    /// Bytes one user's unfinished resumable uploads may announce together
    /// (`Upload-Length`s; the disk they may take).
    #[arg(long, env = "FIELDSYNC_MAX_UPLOAD_BYTES_PER_USER", default_value_t = 2 * 1024 * 1024 * 1024)]
    pub max_upload_bytes_per_user: i64,

    /// Seconds a request's head (method, path, headers) may take to arrive.
    #[arg(long, env = "FIELDSYNC_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a request body may pause between two pieces.
    #[arg(long, env = "FIELDSYNC_BODY_IDLE_SECS", default_value_t = 30)]
    pub body_idle_secs: u64,

    /// Seconds after which a request body must keep `FIELDSYNC_BODY_MIN_RATE`.
    #[arg(long, env = "FIELDSYNC_BODY_GRACE_SECS", default_value_t = 60)]
    pub body_grace_secs: u64,

    /// Bytes a second a request body must average after its grace time.
    #[arg(long, env = "FIELDSYNC_BODY_MIN_RATE", default_value_t = 1024)]
    pub body_min_rate: u64,

    /// Mark the review page's cookies `Secure` (sent over HTTPS only; browsers
    /// also accept them on http://localhost). Turn off only behind a proxy
    /// that is not HTTPS, which you should not have.
    #[arg(long, env = "FIELDSYNC_SECURE_COOKIES", default_value_t = true, action = clap::ArgAction::Set)]
    pub secure_cookies: bool,

    /// The server's address as people reach it (`https://xc.example.gov.cn`):
    /// the links in notifications point under it. Unset: messages carry no
    /// link.
    #[arg(long, env = "FIELDSYNC_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Allow channel URLs over plain http (a receiver on the district's
    /// own network); https only otherwise.
    #[arg(long, env = "FIELDSYNC_CHANNELS_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub channels_allow_http: bool,

    /// Allow channel URLs on loopback, private, link-local and metadata
    /// addresses (refused otherwise: a channel must not reach inside).
    #[arg(long, env = "FIELDSYNC_CHANNELS_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub channels_allow_private: bool,

    /// Milliseconds a channel's receiver may take to answer.
    #[arg(long, env = "FIELDSYNC_CHANNEL_TIMEOUT_MS", default_value_t = 10_000)]
    pub channel_timeout_ms: u64,

    /// Milliseconds before the first retry of a failed delivery (then
    /// doubling, with jitter, up to an hour; webhooks follow the Standard
    /// Webhooks schedule, scaled by this over its 5 s).
    #[arg(long, env = "FIELDSYNC_CHANNEL_RETRY_BASE_MS", default_value_t = 5_000)]
    pub channel_retry_base_ms: u64,

    /// Seconds between checks for overdue follow-ups.
    #[arg(long, env = "FIELDSYNC_OVERDUE_INTERVAL_SECS", default_value_t = 300)]
    pub overdue_interval_secs: u64,

    /// UTC offset of cameras' EXIF times that carry none (China: +08:00).
    #[arg(long, env = "FIELDSYNC_EXIF_DEFAULT_OFFSET", default_value = "+08:00")]
    pub exif_default_offset: String,
}

impl Config {
    /// Defaults for a data directory, ignoring the environment (tests and
    /// tools that build a config in code).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            data_dir: data_dir.into(),
            database_url: None,
            blob_url: None,
            s3_endpoint: None,
            jwt_secret: None,
            admin_password: None,
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            refresh_grace_secs: 60,
            max_json_bytes: 16 * 1024 * 1024,
            login_burst_per_user: 10,
            login_burst_per_ip: 50,
            login_refill_secs: 6,
            workers: None,
            read_pool: 8,
            busy_timeout_ms: 5000,
            max_photo_bytes: 64 * 1024 * 1024,
            max_photo_pixels: 64_000_000,
            max_multipart_bytes: 256 * 1024 * 1024,
            max_video_bytes: 512 * 1024 * 1024,
            max_video_secs: 600,
            ffmpeg: None,
            heif_convert: None,
            pdf_font: None,
            video_workers: 1,
            video_timeout_secs: 900,
            video_memory_mib: 2048,
            originals_keep_days: None,
            batch_answers_keep_days: 90,
            sweep_interval_secs: 600,
            phone_history_days: 0,
            photo_workers: None,
            job_lease_secs: 120,
            upload_lease_secs: 300,
            photo_url_ttl_secs: 86400,
            upload_expiry_secs: 86400,
            schedule_interval_secs: 3600,
            map_tiles: None,
            max_uploads_per_user: 200,
            max_upload_bytes_per_user: 2 * 1024 * 1024 * 1024,
            header_timeout_secs: 10,
            body_idle_secs: 30,
            body_grace_secs: 60,
            body_min_rate: 1024,
            secure_cookies: true,
            public_url: None,
            channels_allow_http: false,
            channels_allow_private: false,
            channel_timeout_ms: 10_000,
            channel_retry_base_ms: 5_000,
            overdue_interval_secs: 300,
            exif_default_offset: "+08:00".into(),
        }
    }

    /// The database the settings name.
    pub fn database(&self) -> crate::db::Target {
        crate::db::Target::parse(self.database_url.as_deref(), &self.data_dir)
    }
}

impl Config {
    /// The offset for EXIF times without one.
    pub fn exif_offset(&self) -> anyhow::Result<chrono::FixedOffset> {
        chrono::DateTime::parse_from_str(
            &format!("2000-01-01T00:00:00{}", self.exif_default_offset),
            "%Y-%m-%dT%H:%M:%S%:z",
        )
        .map(|d| *d.offset())
        .map_err(|_| anyhow::anyhow!("FIELDSYNC_EXIF_DEFAULT_OFFSET must look like +08:00"))
    }
}
