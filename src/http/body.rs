//! Request bodies read by hand, against a limit.

use crate::error::{AppError, AppResult, ErrorCode};
use actix_web::web;
use futures_util::StreamExt;

/// Reads a whole body of at most `limit` bytes (413 above).
pub async fn read_all(mut body: web::Payload, limit: usize) -> AppResult<web::BytesMut> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| AppError::bad_request(ErrorCode::BadBody, e.to_string()))?;
        if buf.len() + chunk.len() > limit {
            return Err(AppError::too_large(format!(
                "the file is larger than {limit} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}
