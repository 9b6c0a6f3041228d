//! Photos' bytes: the blob store (files or S3, chosen by `store_for`), the
//! tus exchange (`tus/`), serving bytes and variants (`serve.rs`), bytes
//! in a multipart push (`upload.rs`), what the bytes are, their EXIF, their
//! variants and the jobs that make them. Below the record: who may see a
//! photo is the record's rule (`inspection`), decided before.

pub mod blob;
pub mod colour;
pub mod container;
pub mod exif;
pub mod ffmpeg;
pub mod heif;
pub mod inspect;
pub mod jobs;
pub mod retention;
pub mod s3;
pub mod serve;
pub mod tus;
pub mod upload;
pub mod urls;
pub mod variants;
pub mod video;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Opens the blob store the settings name.
pub fn store_for(
    config: &crate::config::Config,
) -> anyhow::Result<std::sync::Arc<dyn blob::BlobStore>> {
    let target = blob::BlobTarget::parse(config.blob_url.as_deref(), &config.data_dir)
        .map_err(anyhow::Error::msg)?;
    Ok(match target {
        blob::BlobTarget::Dir(dir) => std::sync::Arc::new(blob::FsStore::new(dir)?),
        blob::BlobTarget::S3 { bucket, prefix } => std::sync::Arc::new(s3::S3Store::new(
            &bucket,
            &prefix,
            config.s3_endpoint.as_deref(),
            config.data_dir.join("staging"),
        )?),
    })
}

/// Where a photo's bytes stand: `missing` until they arrive, `stored`
/// until the variants are made, then `ready`, or `failed` when its job
/// found them unusable. Stored as text and read strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhotoStatus {
    Missing,
    Stored,
    Ready,
    Failed,
}

impl PhotoStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoStatus::Missing => "missing",
            PhotoStatus::Stored => "stored",
            PhotoStatus::Ready => "ready",
            PhotoStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> crate::error::AppResult<PhotoStatus> {
        match s {
            "missing" => Ok(PhotoStatus::Missing),
            "stored" => Ok(PhotoStatus::Stored),
            "ready" => Ok(PhotoStatus::Ready),
            "failed" => Ok(PhotoStatus::Failed),
            other => Err(crate::error::AppError::internal(format!(
                "unknown stored photo status {other:?}"
            ))),
        }
    }
}

/// What a photo is: one taken with the camera, or a signature drawn on
/// the phone (a PNG, the answer of a `signature` item). Set when the photo
/// is first pushed and never changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    #[default]
    Photo,
    Signature,
    /// A video (`video/mp4`, `video/quicktime`, `video/3gpp`,
    /// `video/webm`): poster, thumb and an H.264 `display` for variants.
    Video,
}

impl PhotoKind {
    /// The kind of a new item from what it declares: a video type makes it
    /// a video (an old phone that says nothing of kinds sends videos as
    /// `photo`), and a video kind needs a video type.
    pub fn of(declared: PhotoKind, content_type: &str) -> Result<PhotoKind, &'static str> {
        match (declared, is_video_type(content_type)) {
            (PhotoKind::Photo | PhotoKind::Video, true) => Ok(PhotoKind::Video),
            (PhotoKind::Signature, true) => Err("a signature is a PNG (image/png)"),
            (PhotoKind::Video, false) => {
                Err("a video is video/mp4, video/quicktime, video/3gpp or video/webm")
            }
            (k, false) => Ok(k),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::Photo => "photo",
            PhotoKind::Signature => "signature",
            PhotoKind::Video => "video",
        }
    }

    pub fn parse(s: &str) -> crate::error::AppResult<PhotoKind> {
        match s {
            "photo" => Ok(PhotoKind::Photo),
            "signature" => Ok(PhotoKind::Signature),
            "video" => Ok(PhotoKind::Video),
            other => Err(crate::error::AppError::internal(format!(
                "unknown stored photo kind {other:?}"
            ))),
        }
    }
}

/// What bytes this server takes for a photo item, from the settings: one
/// home for the limits every way in (push parts, tus, responses, /dept).
#[derive(Debug, Clone, Copy)]
pub struct Accept {
    pub max_pixels: u64,
    pub photo_bytes: u64,
    pub video_bytes: u64,
    pub video: container::Limits,
}

impl Accept {
    pub fn of(config: &crate::config::Config) -> Accept {
        Accept {
            max_pixels: config.max_photo_pixels,
            photo_bytes: config.max_photo_bytes,
            video_bytes: config.max_video_bytes,
            video: container::Limits {
                max_duration_ms: config.max_video_secs.saturating_mul(1000),
            },
        }
    }

    /// The most bytes an item of this content type may have.
    pub fn max_bytes(&self, content_type: &str) -> u64 {
        if is_video_type(content_type) {
            self.video_bytes
        } else {
            self.photo_bytes
        }
    }

    /// The most any item may have (a tus upload before its photo is known).
    pub fn largest(&self) -> u64 {
        self.photo_bytes.max(self.video_bytes)
    }
}

/// Whether a declared content type is a video's: the one rule that makes
/// a photo item a video (`kind: "video"`).
pub fn is_video_type(content_type: &str) -> bool {
    container::VIDEO_TYPES.contains(&content_type.to_ascii_lowercase().as_str())
}

/// What bytes sent for a photo must be: its sha256, and a video or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub sha: String,
    pub video: bool,
}

/// The real photos in `../shared/fixtures/photos`, for unit tests.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../shared/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
