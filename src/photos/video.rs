//! A video's job, step by step: its original as a local file (copied
//! down from an object store into scratch), what its container says (in
//! process, `container`), then its variants by ffmpeg (`ffmpeg`): a frame
//! near the start made into `poster` and `thumb` by the photo pipeline,
//! and `display`. Without ffmpeg the job stops after the metadata and
//! waits for one.

use super::blob::{self, BlobStore, Opened};
use super::container::{self, VideoInfo};
use super::ffmpeg::{self, RunError, Scratch};
use super::inspect::Refusal;
use super::variants;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// How videos are made into variants.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `FIELDSYNC_FFMPEG`, or none for `ffmpeg` on PATH.
    pub configured: Option<PathBuf>,
    pub limits: ffmpeg::Limits,
    /// Transcodes at once (`FIELDSYNC_VIDEO_WORKERS`).
    pub workers: usize,
    /// The data directory: scratch files live under it.
    pub data_dir: PathBuf,
    pub container: container::Limits,
    /// `FIELDSYNC_HEIF_CONVERT`: HEIC photos go through a child process
    /// under the same limits.
    pub heif_convert: Option<PathBuf>,
}

impl Settings {
    pub fn of(config: &crate::config::Config) -> Settings {
        Settings {
            configured: config.ffmpeg.clone(),
            limits: ffmpeg::Limits {
                timeout: std::time::Duration::from_secs(config.video_timeout_secs.max(1)),
                memory: config.video_memory_mib.saturating_mul(1 << 20),
                threads: 2,
            },
            workers: config.video_workers.max(1),
            data_dir: config.data_dir.clone(),
            container: crate::photos::Accept::of(config).video,
            heif_convert: config.heif_convert.clone(),
        }
    }

    pub fn ffmpeg(&self) -> Option<PathBuf> {
        ffmpeg::find(self.configured.as_deref())
    }

    pub fn heif_convert(&self) -> Option<PathBuf> {
        super::heif::find(self.heif_convert.as_deref())
    }
}

/// The blob key of a video's `display` (an MP4, not a JPEG).
pub fn display_key(sha: &str) -> String {
    format!("variants/{}/{sha}.display.mp4", &sha[..2.min(sha.len())])
}

/// The key of a video's variant by name: `poster`, `thumb`, `display`.
pub fn variant_key(sha: &str, variant: &str) -> String {
    match variant {
        "display" => display_key(sha),
        v => blob::variant_key(sha, v),
    }
}

pub const VARIANTS: [&str; 3] = ["poster", "thumb", "display"];

pub fn have_variants(store: &dyn BlobStore, sha: &str) -> std::io::Result<bool> {
    for v in VARIANTS {
        if !store.exists(&variant_key(sha, v))? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[derive(Debug)]
pub enum VideoError {
    /// The bytes are not a usable video: no retry helps.
    Refused(Refusal),
    /// ffmpeg timed out or failed, or the disk: tried again later.
    Retry(String),
    /// The server is stopping.
    Abandoned,
}

/// The original, as a file ffmpeg can open: the store's own file, or a
/// copy in scratch (an object store).
fn local_original(
    store: &dyn BlobStore,
    sha: &str,
    scratch: &Scratch,
) -> Result<(PathBuf, u64), VideoError> {
    let io = |e: std::io::Error| VideoError::Retry(format!("无法读取视频原件：{e}"));
    let key = blob::original_key(sha);
    match store.open(&key).map_err(io)? {
        Opened::File(f, path) => {
            let size = f.metadata().map_err(io)?.len();
            Ok((path, size))
        }
        Opened::Remote { .. } => {
            let path = scratch.path("original");
            let mut f = std::fs::File::create(&path).map_err(io)?;
            let size = store.copy_to(&key, &mut f).map_err(io)?;
            Ok((path, size))
        }
    }
}

/// Reads what the stored video is.
pub fn probe(
    store: &dyn BlobStore,
    sha: &str,
    settings: &Settings,
    scratch: &Scratch,
) -> Result<(PathBuf, VideoInfo), VideoError> {
    let (path, size) = local_original(store, sha, scratch)?;
    let mut f = std::fs::File::open(&path)
        .map_err(|e| VideoError::Retry(format!("无法读取视频原件：{e}")))?;
    let info = container::probe(&mut f, size, settings.container).map_err(VideoError::Refused)?;
    Ok((path, info))
}

/// Where the poster's frame is taken: half a second in (past a phone's
/// black first frame), or the start of a shorter clip.
pub fn poster_at_ms(duration_ms: u64) -> u64 {
    if duration_ms >= 1000 { 500 } else { 0 }
}

/// Makes the three variants with `ffmpeg_path` (blocking; minutes for a
/// long video).
pub fn make(
    store: &dyn BlobStore,
    sha: &str,
    (original, info): (&Path, &VideoInfo),
    ffmpeg_path: &Path,
    settings: &Settings,
    scratch: &Scratch,
    stop: &AtomicBool,
) -> Result<(), VideoError> {
    let ran = |e: RunError| match e {
        RunError::Abandoned => VideoError::Abandoned,
        e => VideoError::Retry(e.to_string()),
    };
    let io = |e: std::io::Error| VideoError::Retry(format!("无法保存视频的衍生文件：{e}"));
    let frame = scratch.path("frame.png");
    ffmpeg::frame(
        ffmpeg_path,
        original,
        info.container,
        poster_at_ms(info.duration_ms),
        &frame,
        &settings.limits,
        stop,
    )
    .map_err(ran)?;
    let png = std::fs::read(&frame).map_err(io)?;
    // The frame is ours (ffmpeg's PNG) and at most 1280 on its long edge.
    let v = variants::make(
        &png,
        variants::Limits {
            max_pixels: 1280 * 1280,
        },
        chrono::Offset::fix(&chrono::Utc),
    )
    .map_err(|r| VideoError::Retry(format!("视频封面无法生成：{}", r.message)))?;
    store
        .put_bytes(&variant_key(sha, "poster"), &v.display)
        .map_err(io)?;
    store
        .put_bytes(&variant_key(sha, "thumb"), &v.thumb)
        .map_err(io)?;
    let out = scratch.path("display.mp4");
    let max_secs = settings.container.max_duration_ms.div_ceil(1000).max(1);
    ffmpeg::display(
        ffmpeg_path,
        original,
        info.container,
        max_secs,
        &out,
        &settings.limits,
        stop,
    )
    .map_err(ran)?;
    store.put_file(&display_key(sha), &out).map_err(io)?;
    Ok(())
}
