//! Photos' bytes: the blob store (files or S3, chosen by `store_for`), the
//! tus exchange (`tus/`), serving bytes and variants (`serve.rs`), bytes
//! in a multipart push (`upload.rs`), what the bytes are, their EXIF, their
//! variants and the jobs that make them. Below the record: who may see a
//! photo is the record's rule (`inspection`), decided before.

pub mod blob;
pub mod container;
pub mod exif;
pub mod inspect;
pub mod jobs;
pub mod s3;
pub mod serve;
pub mod tus;
pub mod upload;
pub mod urls;
pub mod variants;

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
}

impl PhotoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::Photo => "photo",
            PhotoKind::Signature => "signature",
        }
    }

    pub fn parse(s: &str) -> crate::error::AppResult<PhotoKind> {
        match s {
            "photo" => Ok(PhotoKind::Photo),
            "signature" => Ok(PhotoKind::Signature),
            other => Err(crate::error::AppError::internal(format!(
                "unknown stored photo kind {other:?}"
            ))),
        }
    }
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
