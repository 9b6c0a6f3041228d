//! Photo bytes arriving with a push: streamed to temporary files (never
//! held whole in memory), hashed on the way, then checked and moved into
//! the blob store before the transaction that names them commits.

use super::blob::{self, BlobStore};
use super::inspect::{self, Refusal};
use super::{Accept, Want, container};
use crate::error::{AppError, AppResult, ErrorCode};
use actix_multipart::Multipart;
use actix_web::web;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// One `photo:<id>` part, on disk.
pub struct Part {
    pub photo_id: String,
    pub path: PathBuf,
}

/// A staged file that goes away with its owner, whatever happens.
pub struct Staged(pub PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Temporary files that go away with the request, whatever happens.
#[derive(Default)]
pub struct Parts(pub Vec<Part>);

impl Drop for Parts {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(&p.path);
        }
    }
}

/// Photo bytes that came with a multipart push, already checked: the ones
/// now in the blob store (photo id -> sha256) and the ones refused.
#[derive(Debug, Default)]
pub struct Uploads {
    pub accepted: HashMap<String, String>,
    pub refused: HashMap<String, Refusal>,
}

/// What a part's boundary and headers count for against the push's size.
const PART_OVERHEAD: u64 = 256;

pub struct Limits {
    /// The batch part and one part per item of the largest batch.
    pub max_parts: usize,
    pub max_json: usize,
    /// One photo's part; a video's may have `max_video` once the JSON
    /// part (sent first) says which items are videos.
    pub max_photo: u64,
    pub max_video: u64,
    pub max_total: u64,
    /// The name of the part with the JSON: `batch` for a push, `response`
    /// for a follow-up's response.
    pub json_part: &'static str,
}

fn too_large(what: &str, limit: u64) -> AppError {
    AppError::too_large(format!(
        "{what} is larger than {limit} bytes; split the push"
    ))
}

/// The JSON part of a multipart request as `T`: a body that is not JSON
/// is 400 `malformed_json`, JSON of the wrong shape 422.
pub fn json_part<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            AppError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                e.to_string(),
            )
        } else {
            AppError::bad_request(ErrorCode::MalformedJson, e.to_string())
        }
    })
}

/// Reads a multipart push: the `batch` part in memory (it is JSON), each
/// `photo:<id>` part to a temporary file.
pub async fn read(
    mut form: Multipart,
    store: Arc<dyn BlobStore>,
    limits: &Limits,
) -> AppResult<(Vec<u8>, Parts)> {
    let mut batch: Option<Vec<u8>> = None;
    let mut parts = Parts::default();
    let mut total: u64 = 0;
    let mut count = 0usize;
    let mut seen = std::collections::HashSet::new();
    // The items the JSON part declares as videos (None until it is read:
    // a part before it may have a video's size).
    let mut videos: Option<std::collections::HashSet<String>> = None;
    while let Some(field) = form.next().await {
        let mut field = field
            .map_err(|e| AppError::bad_request(ErrorCode::MalformedMultipart, e.to_string()))?;
        // Every part counts, empty or not, and so do its headers: forty
        // thousand empty parts are refused at the 1002nd, not spooled.
        count += 1;
        if count > limits.max_parts {
            return Err(AppError::too_large(format!(
                "a push has at most {} parts (the batch and a photo per item); split it",
                limits.max_parts
            )));
        }
        total += PART_OVERHEAD;
        if total > limits.max_total {
            return Err(too_large("the push", limits.max_total));
        }
        let name = field.name().unwrap_or_default().to_string();
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(AppError::bad_request(
                ErrorCode::MalformedMultipart,
                format!("the part `{name}` comes twice"),
            ));
        }
        if name == limits.json_part {
            let mut buf = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| {
                    AppError::bad_request(ErrorCode::MalformedMultipart, e.to_string())
                })?;
                total += chunk.len() as u64;
                if buf.len() + chunk.len() > limits.max_json {
                    return Err(too_large("the JSON part", limits.max_json as u64));
                }
                buf.extend_from_slice(&chunk);
            }
            videos = Some(video_ids(&buf));
            batch = Some(buf);
        } else if let Some(id) = name.strip_prefix("photo:") {
            let photo_id = uuid::Uuid::parse_str(id)
                .map_err(|_| {
                    AppError::bad_request(
                        ErrorCode::MalformedMultipart,
                        format!("`{name}`: not a photo id"),
                    )
                })?
                .to_string();
            let s = Arc::clone(&store);
            let (path, file) = web::block(move || s.temp())
                .await?
                .map_err(AppError::internal)?;
            let most = match &videos {
                Some(v) if !v.contains(&photo_id) => limits.max_photo,
                _ => limits.max_photo.max(limits.max_video),
            };
            parts.0.push(Part { photo_id, path });
            let mut spool = Spool::new(file);
            let mut len: u64 = 0;
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| {
                    AppError::bad_request(ErrorCode::MalformedMultipart, e.to_string())
                })?;
                len += chunk.len() as u64;
                total += chunk.len() as u64;
                if len > most {
                    return Err(too_large("a photo", most));
                }
                if total > limits.max_total {
                    return Err(too_large("the push", limits.max_total));
                }
                spool.write(&chunk).await?;
            }
            spool.finish().await?;
        } else {
            return Err(AppError::bad_request(
                ErrorCode::MalformedMultipart,
                format!(
                    "unknown part `{name}`: expected `{}` and `photo:<id>` parts",
                    limits.json_part
                ),
            ));
        }
    }
    let batch = batch.ok_or_else(|| {
        AppError::bad_request(
            ErrorCode::MalformedMultipart,
            format!("a multipart request needs a `{}` part", limits.json_part),
        )
    })?;
    Ok((batch, parts))
}

/// The ids of the items a push's or a response's JSON declares as videos
/// (`photos` or `media` with a video type), as `Uuid` prints them.
fn video_ids(json: &[u8]) -> std::collections::HashSet<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) else {
        return Default::default();
    };
    ["photos", "media"]
        .iter()
        .filter_map(|k| v.get(*k)?.as_array())
        .flatten()
        .filter(|p| {
            p.get("content_type")
                .and_then(|t| t.as_str())
                .is_some_and(super::is_video_type)
        })
        .filter_map(|p| uuid::Uuid::parse_str(p.get("id")?.as_str()?).ok())
        .map(|u| u.to_string())
        .collect()
}

/// Checks one file of bytes sent for a photo item against what its item
/// declared (its sha256, a video or not) and the limits, and moves it into
/// the blob store. The outer error is ours (the disk); the inner one is
/// the item's. The file is hashed in pieces, and a video is read from its
/// container's index only: a 500 MB video is never held in memory.
/// Blocking.
pub fn check_file(
    path: &std::path::Path,
    want: &Want,
    store: &dyn BlobStore,
    accept: &Accept,
) -> AppResult<Result<(), Refusal>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(AppError::internal)?;
    let size = file.metadata().map_err(AppError::internal)?.len();
    // A photo within its limit is read once, whole (it is decoded from
    // memory next); anything else is hashed in pieces.
    let whole = if !want.video && size <= accept.photo_bytes {
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(AppError::internal)?;
        Some(bytes)
    } else {
        None
    };
    let got = match &whole {
        Some(bytes) => hex::encode(Sha256::digest(bytes)),
        None => {
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).map_err(AppError::internal)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            hex::encode(hasher.finalize())
        }
    };
    if got != want.sha {
        return Ok(Err(Refusal::new(
            422,
            ErrorCode::ChecksumMismatch,
            format!("the bytes hash to {got}, not to the photo's sha256"),
        )));
    }
    if want.video {
        if size > accept.video_bytes {
            return Ok(Err(Refusal::new(
                413,
                ErrorCode::TooLarge,
                format!("视频超过 {} 字节的上限", accept.video_bytes),
            )));
        }
        if let Err(r) = container::probe(&mut file, size, accept.video) {
            return Ok(Err(r));
        }
    } else {
        if size > accept.photo_bytes {
            return Ok(Err(Refusal::new(
                413,
                ErrorCode::TooLarge,
                format!("照片超过 {} 字节的上限", accept.photo_bytes),
            )));
        }
        let Some(bytes) = whole else {
            return Err(AppError::internal("a photo within its limit was not read"));
        };
        if container::sniff(&bytes[..bytes.len().min(256)]).is_some() {
            return Ok(Err(Refusal::new(
                415,
                ErrorCode::UnsupportedMediaType,
                "这是视频，但条目声明的是图片：请以视频类型（如 video/mp4）推送",
            )));
        }
        if let Err(r) = inspect::check(&bytes, accept.max_pixels) {
            return Ok(Err(r));
        }
    }
    store
        .put_file(&blob::original_key(&want.sha), path)
        .map_err(|e| AppError::unavailable(format!("cannot store the photo: {e}")))?;
    Ok(Ok(()))
}

/// Checks each part against what its item declared and the limits, and
/// moves the good ones into the blob store. Blocking: run it off the
/// executor.
pub fn check_and_store(
    parts: &Parts,
    expected: &HashMap<String, Want>,
    store: &dyn BlobStore,
    accept: &Accept,
) -> AppResult<Uploads> {
    let mut out = Uploads::default();
    for p in &parts.0 {
        let Some(want) = expected.get(&p.photo_id) else {
            out.refused.insert(
                p.photo_id.clone(),
                Refusal::new(
                    422,
                    ErrorCode::UnknownPhoto,
                    "bytes for a photo the batch does not describe",
                ),
            );
            continue;
        };
        match check_file(&p.path, want, store, accept)? {
            Ok(()) => {
                out.accepted.insert(p.photo_id.clone(), want.sha.clone());
            }
            Err(r) => {
                out.refused.insert(p.photo_id.clone(), r);
            }
        }
    }
    Ok(out)
}

/// Writes a stream to a file in pieces of about a megabyte, each off the
/// async executor, so an upload is never held whole in memory.
pub struct Spool {
    file: Option<std::fs::File>,
    buf: Vec<u8>,
}

const PIECE: usize = 1 << 20;

impl Spool {
    pub fn new(file: std::fs::File) -> Spool {
        Spool {
            file: Some(file),
            buf: Vec::with_capacity(PIECE),
        }
    }

    pub async fn write(&mut self, chunk: &[u8]) -> AppResult<()> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= PIECE {
            self.flush(false).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, sync: bool) -> AppResult<()> {
        let mut f = self
            .file
            .take()
            .ok_or_else(|| AppError::internal("spool file gone"))?;
        let data = std::mem::take(&mut self.buf);
        let f = web::block(move || -> std::io::Result<std::fs::File> {
            f.write_all(&data)?;
            if sync {
                f.sync_all()?;
            }
            Ok(f)
        })
        .await?
        .map_err(|e| AppError::unavailable(format!("cannot store the upload: {e}")))?;
        self.file = Some(f);
        Ok(())
    }

    /// Writes what is left, fsyncs, and hands the file back.
    pub async fn finish(mut self) -> AppResult<std::fs::File> {
        self.flush(true).await?;
        self.file
            .take()
            .ok_or_else(|| AppError::internal("spool file gone"))
    }
}
