//! Bytes on weak links: answers compressed where the client accepts it,
//! request bodies refused where they come compressed but are not wanted.
//!
//! Only text is compressed (JSON, CSV, GeoJSON, pages, scripts, SVG): media
//! are compressed already and served by ranges, and the live stream
//! (`text/event-stream`) must reach the page event by event, not when a
//! compressor's buffer fills. Streaming answers stay streaming: actix-http's
//! encoder compresses each piece as it comes and flushes when the producer
//! pauses.

use crate::error::{AppError, ErrorCode};
use actix_http::encoding::Encoder;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    self, AcceptEncoding, ContentEncoding, Encoding, Header, HeaderValue,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;

/// Below this an answer goes as it is: the gzip header and trailer alone
/// are 18 bytes, and a short error or an empty page gains nothing.
const SMALLEST: u64 = 512;

/// What we compress answers with, best first.
fn supported() -> [Encoding; 2] {
    [Encoding::brotli(), Encoding::gzip()]
}

/// The encoding an answer to this request may use (identity when the
/// client names nothing we have, or nothing at all).
pub fn negotiate(req: &actix_web::HttpRequest) -> ContentEncoding {
    let Ok(accept) = AcceptEncoding::parse(req) else {
        return ContentEncoding::Identity;
    };
    let offered = supported();
    match accept.negotiate(offered.iter()) {
        Some(e) if e == Encoding::brotli() => ContentEncoding::Brotli,
        Some(e) if e == Encoding::gzip() => ContentEncoding::Gzip,
        _ => ContentEncoding::Identity,
    }
}

/// Whether an answer of this type is worth compressing: text only.
pub fn compressible(content_type: Option<&HeaderValue>) -> bool {
    let Some(mime) = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
    else {
        return false;
    };
    match (mime.type_(), mime.subtype()) {
        (mime::TEXT, sub) => sub != mime::EVENT_STREAM,
        (mime::APPLICATION, sub) => {
            sub == mime::JSON
                || sub == mime::JAVASCRIPT
                || mime.suffix() == Some(mime::JSON)
                || sub.as_str() == "manifest+json"
                || sub.as_str() == "openmetrics-text"
        }
        (mime::IMAGE, sub) => sub == mime::SVG,
        _ => false,
    }
}

/// The middleware: negotiates, then wraps a compressible answer's body in
/// actix-http's encoder.
pub async fn answers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let encoding = negotiate(req.request());
    let res = next.call(req).await?;
    Ok(res.map_body(move |head, body| {
        let text = compressible(head.headers().get(header::CONTENT_TYPE));
        let small = matches!(body.size(), BodySize::Sized(n) if n < SMALLEST);
        let partial = head.status == StatusCode::PARTIAL_CONTENT;
        let encoding = if text && !small && !partial {
            encoding
        } else {
            ContentEncoding::Identity
        };
        if text && encoding == ContentEncoding::Identity {
            // Caches keep the forms apart (the encoder says so itself when
            // it compresses).
            head.headers_mut()
                .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        Encoder::response(encoding, head, body)
    }))
}

/// Requests whose body may come gzip-compressed: the sync push, the one
/// body a phone sends often and large (DESIGN "Field networks"). It inflates
/// the body itself, against the push limit ([`crate::http::body`]).
fn takes_gzip(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/api/v1/sync/push"
}

/// How a request body is encoded, as far as we accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Identity,
    Gzip,
}

impl BodyEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyEncoding::Identity => "identity",
            BodyEncoding::Gzip => "gzip",
        }
    }
}

/// The request's `Content-Encoding`, parsed strictly: one of identity or
/// gzip, else 415.
pub fn body_encoding(headers: &header::HeaderMap) -> Result<BodyEncoding, AppError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(BodyEncoding::Identity);
    };
    match value.to_str().map(|v| v.trim().to_ascii_lowercase()) {
        Ok(v) if v.is_empty() || v == "identity" => Ok(BodyEncoding::Identity),
        Ok(v) if v == "gzip" || v == "x-gzip" => Ok(BodyEncoding::Gzip),
        _ => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "a request body may be sent as it is or, to the sync push, gzip-compressed (Content-Encoding: gzip)",
        )),
    }
}

/// The middleware: a compressed body anywhere but where a handler inflates
/// it itself is refused (415) before anything reads it, so no extractor
/// parses compressed bytes or stores them as a photo.
pub async fn refuse_encoded_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = match body_encoding(req.headers()) {
        Ok(BodyEncoding::Identity) => None,
        Ok(BodyEncoding::Gzip) if takes_gzip(req.method(), req.path()) => None,
        Ok(BodyEncoding::Gzip) => Some(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "only the sync push takes a gzip-compressed body; send this one as it is",
        )),
        Err(e) => Some(e),
    };
    match refused {
        Some(e) => Ok(req.error_response(e).map_into_right_body()),
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_is_compressed() {
        let yes = [
            "application/json",
            "application/json; charset=utf-8",
            "application/geo+json",
            "application/problem+json",
            "application/manifest+json",
            "text/csv; charset=utf-8",
            "text/html; charset=utf-8",
            "text/css",
            "text/javascript",
            "application/javascript",
            "image/svg+xml",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ];
        let no = [
            "text/event-stream",
            "image/jpeg",
            "image/webp",
            "video/mp4",
            "application/octet-stream",
            "application/offset+octet-stream",
            "application/zip",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "not a type",
        ];
        for t in yes {
            assert!(compressible(Some(&HeaderValue::from_static(t))), "{t}");
        }
        for t in no {
            assert!(!compressible(Some(&HeaderValue::from_static(t))), "{t}");
        }
        assert!(!compressible(None));
    }

    #[test]
    fn body_encodings_are_parsed_strictly() {
        let of = |v: &'static str| {
            let mut h = header::HeaderMap::new();
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(v));
            body_encoding(&h).ok()
        };
        assert_eq!(of("gzip"), Some(BodyEncoding::Gzip));
        assert_eq!(of(" GZIP "), Some(BodyEncoding::Gzip));
        assert_eq!(of("identity"), Some(BodyEncoding::Identity));
        assert_eq!(of("br"), None);
        assert_eq!(of("deflate"), None);
        assert_eq!(of("gzip, gzip"), None);
        assert_eq!(
            body_encoding(&header::HeaderMap::new()).ok(),
            Some(BodyEncoding::Identity)
        );
    }
}
