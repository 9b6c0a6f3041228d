//! The one error type of the server and its rendering as the contract's
//! JSON error: `{"error": {"code", "message", "details"}}`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;

/// An error a request can end in. `code` is stable and snake_case so clients
/// can match on it; `message` is for people; `details` is optional context.
#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// A header a protocol asks of this answer (tus' `Tus-Version` on 412).
    pub header: Option<Box<(&'static str, &'static str)>>,
}

pub type AppResult<T> = Result<T, AppError>;

mod code;
pub use code::ErrorCode;

impl AppError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            header: None,
        }
    }

    /// The field a refusal names (`details.field`) and its reason
    /// (`details.reason`, else the message): how the pages put an error
    /// next to the field it concerns.
    pub fn field_and_reason(&self) -> (Option<&str>, &str) {
        let detail = |k: &str| {
            self.details
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(Value::as_str)
        };
        (detail("field"), detail("reason").unwrap_or(&self.message))
    }

    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.header = Some(Box::new((name, value)));
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422: a value that parsed but is not acceptable. `field` names it.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
            format!("{field}: {reason}"),
        )
        .with_details(json!({ "field": field, "reason": reason }))
    }

    /// The same refusal about a field inside `outer` (`title` becomes
    /// `followups[0].title`); other errors unchanged.
    pub fn prefixed(self, outer: &str) -> Self {
        match self.field_and_reason() {
            (Some(field), reason) if self.code == ErrorCode::ValidationFailed => {
                AppError::invalid(&format!("{outer}.{field}"), reason.to_string())
            }
            _ => self,
        }
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            message,
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many attempts, try again later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
        );
        e.retry_after = Some(2);
        e
    }

    /// Something that is our fault. The cause is logged, never sent.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal server error",
        )
    }

    /// For responses that actix produced on its own (unknown path, wrong
    /// method, ...): a JSON body that fits the status.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => (ErrorCode::BadRequest, "the request is malformed"),
            401 => (ErrorCode::Unauthorized, "authentication required"),
            403 => (ErrorCode::Forbidden, "not allowed"),
            404 => (ErrorCode::NotFound, "no such resource"),
            405 => (
                ErrorCode::MethodNotAllowed,
                "method not allowed on this resource",
            ),
            406 => (ErrorCode::NotAcceptable, "not acceptable"),
            408 => (ErrorCode::RequestTimeout, "request timed out"),
            409 => (ErrorCode::Conflict, "state conflict"),
            411 => (ErrorCode::LengthRequired, "length required"),
            413 => (ErrorCode::PayloadTooLarge, "request body too large"),
            414 => (ErrorCode::UriTooLong, "URI too long"),
            415 => (ErrorCode::UnsupportedMediaType, "unsupported media type"),
            422 => (ErrorCode::ValidationFailed, "invalid values"),
            429 => (ErrorCode::RateLimited, "too many requests"),
            431 => (ErrorCode::HeadersTooLarge, "request headers too large"),
            503 => (ErrorCode::Unavailable, "temporarily unavailable"),
            s if s >= 500 => (ErrorCode::Internal, "internal server error"),
            _ => (ErrorCode::Error, "request failed"),
        };
        Self::new(status, code, message)
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for AppError {}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

/// Every error the API answers, as the OpenAPI document describes it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInner,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorInner {
    /// Stable, snake_case (docs/DECISIONS.md lists them).
    pub code: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    details: &'a Value,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let empty = json!({});
        let body = Body {
            error: Inner {
                code: self.code.as_str(),
                message: &self.message,
                details: self.details.as_ref().unwrap_or(&empty),
            },
        };
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(h) = &self.header {
            resp.insert_header(**h);
        }
        resp.json(body)
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => AppError::not_found("object"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::debug!(message = info.message(), "unique violation");
                AppError::conflict(
                    ErrorCode::AlreadyExists,
                    "an object with these values already exists",
                )
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => AppError::conflict(
                ErrorCode::InUse,
                "the change would break a reference between objects",
            ),
            Error::DatabaseError(
                DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::ClosedConnection,
                _,
            ) => AppError::unavailable("the database is busy, retry shortly"),
            Error::DatabaseError(_, ref info) if is_busy(info.message()) => {
                AppError::unavailable("the database is busy, retry shortly")
            }
            other => AppError::internal(other),
        }
    }
}

/// SQLite's and PostgreSQL's ways of saying "not now": a lock held too
/// long (SQLite's busy timeout, PostgreSQL's `lock_timeout`), a full disk,
/// a server shutting down or refusing connections.
fn is_busy(message: &str) -> bool {
    message.contains("database is locked")
        || message.contains("due to lock timeout")
        || message.contains("terminating connection")
        || message.contains("the database system is")
        || message.contains("too many clients")
        || message.contains("No space left on device")
        || message.contains("database is busy")
        || message.contains("disk is full")
        || message.contains("database or disk is full")
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %e, "database pool exhausted");
        AppError::unavailable("the database is busy, retry shortly")
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::internal(e)
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::internal(e)
    }
}

/// Writing a CSV into memory fails only on a bug.
impl From<csv::Error> for AppError {
    fn from(e: csv::Error) -> Self {
        AppError::internal(e)
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::internal(e)
    }
}
