//! Request bodies read by hand, against a limit.

use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::compress::{BodyEncoding, body_encoding};
use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use std::io::Read;

/// Reads a whole body of at most `limit` bytes (413 above).
pub async fn read_all(mut body: web::Payload, limit: usize) -> AppResult<web::BytesMut> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| match e {
            // Cut by the slow-body rules (`slow.rs`): 408, which a phone
            // retries, as for every other body.
            actix_web::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                AppError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::RequestTimeout,
                    io.to_string(),
                )
            }
            e => AppError::bad_request(ErrorCode::BadBody, e.to_string()),
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(AppError::too_large(format!(
                "the file is larger than {limit} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Why a gzip body could not be had.
#[derive(Debug, PartialEq, Eq)]
pub enum Inflate {
    /// It would grow past the limit: refused once the limit is passed, so
    /// a bomb costs at most `limit` bytes of memory, however far it grows.
    TooLarge,
    /// Not gzip, or cut short.
    Corrupt(String),
}

/// Inflates a gzip body (one member or several), stopping one byte past
/// `limit`.
pub fn inflate_gzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Inflate> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit));
    flate2::read::MultiGzDecoder::new(compressed)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| Inflate::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(Inflate::TooLarge);
    }
    Ok(out)
}

/// How a JSON body came: its encoding and its sizes on the wire and
/// inflated (for the metrics).
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub encoding: BodyEncoding,
    pub wire: usize,
    pub json: usize,
}

/// A JSON body of at most `limit` bytes, plain or (where the route takes
/// it) gzip-compressed, its decompressed size held to the same limit. The
/// inflating and parsing run off the async executor. Errors are those of
/// every other JSON body ([`json_refusal`]).
pub async fn json<T>(
    req: &HttpRequest,
    body: web::Payload,
    limit: usize,
) -> AppResult<(T, Received)>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    let is_json = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
    if !is_json {
        return Err(json_refusal(&JsonPayloadError::ContentType));
    }
    let encoding = body_encoding(req.headers())?;
    // The compressed form is held to the limit too: JSON shrinks.
    let raw = match read_all(body, limit).await {
        Ok(raw) => raw,
        Err(e) if e.status == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(json_refusal(&JsonPayloadError::Overflow { limit }));
        }
        Err(e) => return Err(e),
    };
    let wire = raw.len();
    web::block(move || {
        let plain = match encoding {
            BodyEncoding::Identity => raw.freeze().to_vec(),
            BodyEncoding::Gzip => match inflate_gzip(&raw, limit) {
                Ok(plain) => plain,
                Err(Inflate::TooLarge) => {
                    return Err(AppError::too_large(format!(
                        "the body inflates past {limit} bytes: split the batch"
                    )));
                }
                Err(Inflate::Corrupt(why)) => {
                    return Err(AppError::bad_request(
                        ErrorCode::BadBody,
                        format!("the gzip body cannot be inflated: {why}"),
                    ));
                }
            },
        };
        let got = Received {
            encoding,
            wire,
            json: plain.len(),
        };
        serde_json::from_slice::<T>(&plain)
            .map(|v| (v, got))
            .map_err(|e| json_refusal(&JsonPayloadError::Deserialize(e)))
    })
    .await?
}

/// The one mapping of a JSON body's failure to the contract's error.
pub fn json_refusal(err: &JsonPayloadError) -> AppError {
    match err {
        JsonPayloadError::ContentType => AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send JSON with Content-Type: application/json",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            AppError::too_large(format!("the body is larger than {limit} bytes"))
        }
        // A body nested past serde's depth limit (a checklist with repeats
        // in repeats a hundred deep) is well-formed JSON that we refuse.
        JsonPayloadError::Deserialize(e)
            if e.is_data() || e.to_string().starts_with("recursion limit exceeded") =>
        {
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                e.to_string(),
            )
        }
        JsonPayloadError::Deserialize(e) => {
            AppError::bad_request(ErrorCode::MalformedJson, e.to_string())
        }
        JsonPayloadError::Payload(actix_web::error::PayloadError::Io(e))
            if e.kind() == std::io::ErrorKind::TimedOut =>
        {
            AppError::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                e.to_string(),
            )
        }
        other => AppError::bad_request(ErrorCode::BadRequest, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn inflates_within_the_limit() {
        let body = br#"{"device_id":"x","items":[]}"#;
        assert_eq!(inflate_gzip(&gzip(body), body.len()).unwrap(), body);
        assert_eq!(
            inflate_gzip(&gzip(body), body.len() - 1),
            Err(Inflate::TooLarge)
        );
        assert!(matches!(
            inflate_gzip(b"not gzip", 100),
            Err(Inflate::Corrupt(_))
        ));
        let cut = gzip(body);
        assert!(matches!(
            inflate_gzip(&cut[..cut.len() - 6], 100),
            Err(Inflate::Corrupt(_))
        ));
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 64 MiB of zeros is some hundred KiB of gzip; the limit is 1 MiB.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        let t = std::time::Instant::now();
        assert_eq!(inflate_gzip(&bomb, 1 << 20), Err(Inflate::TooLarge));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }
}
