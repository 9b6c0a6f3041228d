//! The error codes: one enum, each with its status and its words.

use actix_web::http::StatusCode;
use std::fmt;

/// Every error code the server answers with, in one place: the stable
/// snake_case string clients match on (a request's `error.code`, a push
/// item's `error.code`), the status a request answered with it gets, and
/// the words a person reads for it (the pages, the console and the field
/// app's `errors.js`, which is made from this list: see the test below).
/// A typo is a compile error, not a new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadRequest,
    MalformedJson,
    MalformedForm,
    MalformedMultipart,
    InvalidQuery,
    InvalidPath,
    InvalidCursor,
    BadBody,
    TusVersion,
    UploadLength,
    UploadMetadata,
    UploadChecksum,
    ChecksumMismatch,
    Unauthorized,
    InvalidToken,
    TokenExpired,
    InvalidCredentials,
    RefreshInvalid,
    RefreshExpired,
    RefreshReused,
    Forbidden,
    BadSignature,
    NotFound,
    PhotoMissing,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    Conflict,
    AlreadyExists,
    InUse,
    NotEmpty,
    Exists,
    Stale,
    InvalidTransition,
    AlreadyResolved,
    BatchIdReused,
    DeviceTaken,
    LastAdmin,
    UploadOffset,
    UploadBusy,
    UploadParts,
    UploadLimit,
    Locked,
    Immutable,
    LengthRequired,
    PayloadTooLarge,
    TooLarge,
    UriTooLong,
    UnsupportedMediaType,
    ValidationFailed,
    InvalidValue,
    InvalidItem,
    UnknownPhoto,
    CorruptImage,
    TooManyPixels,
    PhotoFailed,
    VariantPending,
    RateLimited,
    HeadersTooLarge,
    Internal,
    Unavailable,
    Error,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 62] = [
        ErrorCode::BadRequest,
        ErrorCode::MalformedJson,
        ErrorCode::MalformedForm,
        ErrorCode::MalformedMultipart,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidPath,
        ErrorCode::InvalidCursor,
        ErrorCode::BadBody,
        ErrorCode::TusVersion,
        ErrorCode::UploadLength,
        ErrorCode::UploadMetadata,
        ErrorCode::UploadChecksum,
        ErrorCode::ChecksumMismatch,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidToken,
        ErrorCode::TokenExpired,
        ErrorCode::InvalidCredentials,
        ErrorCode::RefreshInvalid,
        ErrorCode::RefreshExpired,
        ErrorCode::RefreshReused,
        ErrorCode::Forbidden,
        ErrorCode::BadSignature,
        ErrorCode::NotFound,
        ErrorCode::PhotoMissing,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotAcceptable,
        ErrorCode::RequestTimeout,
        ErrorCode::Conflict,
        ErrorCode::AlreadyExists,
        ErrorCode::InUse,
        ErrorCode::NotEmpty,
        ErrorCode::Exists,
        ErrorCode::Stale,
        ErrorCode::InvalidTransition,
        ErrorCode::AlreadyResolved,
        ErrorCode::BatchIdReused,
        ErrorCode::DeviceTaken,
        ErrorCode::LastAdmin,
        ErrorCode::UploadOffset,
        ErrorCode::UploadBusy,
        ErrorCode::UploadParts,
        ErrorCode::UploadLimit,
        ErrorCode::Locked,
        ErrorCode::Immutable,
        ErrorCode::LengthRequired,
        ErrorCode::PayloadTooLarge,
        ErrorCode::TooLarge,
        ErrorCode::UriTooLong,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::ValidationFailed,
        ErrorCode::InvalidValue,
        ErrorCode::InvalidItem,
        ErrorCode::UnknownPhoto,
        ErrorCode::CorruptImage,
        ErrorCode::TooManyPixels,
        ErrorCode::PhotoFailed,
        ErrorCode::VariantPending,
        ErrorCode::RateLimited,
        ErrorCode::HeadersTooLarge,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::MalformedForm => "malformed_form",
            ErrorCode::MalformedMultipart => "malformed_multipart",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::TusVersion => "tus_version",
            ErrorCode::UploadLength => "upload_length",
            ErrorCode::UploadMetadata => "upload_metadata",
            ErrorCode::UploadChecksum => "upload_checksum",
            ErrorCode::ChecksumMismatch => "checksum_mismatch",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::RefreshInvalid => "refresh_invalid",
            ErrorCode::RefreshExpired => "refresh_expired",
            ErrorCode::RefreshReused => "refresh_reused",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PhotoMissing => "photo_missing",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotAcceptable => "not_acceptable",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Conflict => "conflict",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::InUse => "in_use",
            ErrorCode::NotEmpty => "not_empty",
            ErrorCode::Exists => "exists",
            ErrorCode::Stale => "stale",
            ErrorCode::InvalidTransition => "invalid_transition",
            ErrorCode::AlreadyResolved => "already_resolved",
            ErrorCode::BatchIdReused => "batch_id_reused",
            ErrorCode::DeviceTaken => "device_taken",
            ErrorCode::LastAdmin => "last_admin",
            ErrorCode::UploadOffset => "upload_offset",
            ErrorCode::UploadBusy => "upload_busy",
            ErrorCode::UploadParts => "upload_parts",
            ErrorCode::UploadLimit => "upload_limit",
            ErrorCode::Locked => "locked",
            ErrorCode::Immutable => "immutable",
            ErrorCode::LengthRequired => "length_required",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::InvalidItem => "invalid_item",
            ErrorCode::UnknownPhoto => "unknown_photo",
            ErrorCode::CorruptImage => "corrupt_image",
            ErrorCode::TooManyPixels => "too_many_pixels",
            ErrorCode::PhotoFailed => "photo_failed",
            ErrorCode::VariantPending => "variant_pending",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Error => "error",
        }
    }

    /// The status of a request refused with this code. Every place that
    /// makes an `AppError` with a code answers with it (a test reads them
    /// all), except where a protocol says otherwise: tus answers a version
    /// it does not speak with 412 and a missing `Upload-Offset` with 400.
    pub fn status(self) -> StatusCode {
        let s: u16 = match self {
            ErrorCode::BadRequest
            | ErrorCode::MalformedJson
            | ErrorCode::MalformedForm
            | ErrorCode::MalformedMultipart
            | ErrorCode::InvalidQuery
            | ErrorCode::InvalidPath
            | ErrorCode::InvalidCursor
            | ErrorCode::BadBody
            | ErrorCode::TusVersion
            | ErrorCode::UploadLength
            | ErrorCode::UploadMetadata
            | ErrorCode::UploadChecksum
            | ErrorCode::Error => 400,
            ErrorCode::ChecksumMismatch
            | ErrorCode::ValidationFailed
            | ErrorCode::InvalidValue
            | ErrorCode::InvalidItem
            | ErrorCode::UnknownPhoto
            | ErrorCode::CorruptImage
            | ErrorCode::TooManyPixels
            | ErrorCode::PhotoFailed => 422,
            ErrorCode::Unauthorized
            | ErrorCode::InvalidToken
            | ErrorCode::TokenExpired
            | ErrorCode::InvalidCredentials
            | ErrorCode::RefreshInvalid
            | ErrorCode::RefreshExpired
            | ErrorCode::RefreshReused => 401,
            ErrorCode::Forbidden | ErrorCode::BadSignature => 403,
            ErrorCode::NotFound | ErrorCode::PhotoMissing | ErrorCode::VariantPending => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::NotAcceptable => 406,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::Conflict
            | ErrorCode::AlreadyExists
            | ErrorCode::InUse
            | ErrorCode::NotEmpty
            | ErrorCode::Exists
            | ErrorCode::Stale
            | ErrorCode::InvalidTransition
            | ErrorCode::AlreadyResolved
            | ErrorCode::BatchIdReused
            | ErrorCode::DeviceTaken
            | ErrorCode::LastAdmin
            | ErrorCode::UploadOffset
            | ErrorCode::UploadBusy
            | ErrorCode::UploadParts
            | ErrorCode::UploadLimit
            | ErrorCode::Locked
            | ErrorCode::Immutable => 409,
            ErrorCode::LengthRequired => 411,
            ErrorCode::PayloadTooLarge | ErrorCode::TooLarge => 413,
            ErrorCode::UriTooLong => 414,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        };
        StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// What a person reads for this code (Chinese; the message beside it
    /// is for developers).
    pub fn zh(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "请求格式不对",
            ErrorCode::MalformedJson => "提交的内容格式不对",
            ErrorCode::MalformedForm => "表单内容格式不对",
            ErrorCode::MalformedMultipart => "上传的内容格式不对",
            ErrorCode::InvalidQuery => "查询条件格式不对",
            ErrorCode::InvalidPath => "地址格式不对",
            ErrorCode::InvalidCursor => "翻页位置已失效,请从头查看",
            ErrorCode::BadBody => "提交的内容不完整",
            ErrorCode::TusVersion => "上传协议版本不对,请更新应用",
            ErrorCode::UploadLength => "缺少照片的大小",
            ErrorCode::UploadMetadata => "缺少照片的编号",
            ErrorCode::UploadChecksum => "校验码格式不对",
            ErrorCode::ChecksumMismatch => "照片在传输中损坏,将重新上传",
            ErrorCode::Unauthorized => "请先登录",
            ErrorCode::InvalidToken => "请重新登录",
            ErrorCode::TokenExpired => "登录已过期,请重新登录",
            ErrorCode::InvalidCredentials => "用户名或密码不对",
            ErrorCode::RefreshInvalid => "登录已失效,请重新登录",
            ErrorCode::RefreshExpired => "登录已过期,请重新登录",
            ErrorCode::RefreshReused => "登录已在别处使用,为安全起见请重新登录",
            ErrorCode::Forbidden => "没有权限进行此操作",
            ErrorCode::BadSignature => "照片链接已过期,请重新同步",
            ErrorCode::NotFound => "记录不存在,或不在你的范围内",
            ErrorCode::PhotoMissing => "照片还没有上传完",
            ErrorCode::MethodNotAllowed => "不支持这种操作",
            ErrorCode::NotAcceptable => "无法提供这种格式",
            ErrorCode::RequestTimeout => "请求超时,请重试",
            ErrorCode::Conflict => "与其他修改冲突",
            ErrorCode::AlreadyExists => "已存在同名的记录",
            ErrorCode::InUse => "仍在使用中,不能删除",
            ErrorCode::NotEmpty => "数据库中已有数据,不能导入演示数据",
            ErrorCode::Exists => "目标文件已存在",
            ErrorCode::Stale => "记录已被他人修改,请查看最新内容后再操作",
            ErrorCode::InvalidTransition => "当前状态下不能这样操作",
            ErrorCode::AlreadyResolved => "这个冲突已经处理过了",
            ErrorCode::BatchIdReused => "上传批次编号冲突,将重新打包上传",
            ErrorCode::DeviceTaken => "这台手机的编号已属于另一位成员,请重新登录",
            ErrorCode::LastAdmin => "系统至少需要保留一名在岗管理员",
            ErrorCode::UploadOffset => "上传位置不对,将从断点继续",
            ErrorCode::UploadBusy => "这张照片正在上传,请稍候",
            ErrorCode::UploadParts => "照片分段太多,请把剩余部分一次上传",
            ErrorCode::UploadLimit => "未完成的照片上传太多,请先完成已有的上传",
            ErrorCode::Locked => "这条记录已被审核通过或驳回,不能再修改",
            ErrorCode::Immutable => "记录的点位、路线或检查清单不能更改",
            ErrorCode::LengthRequired => "缺少内容长度",
            ErrorCode::PayloadTooLarge => "内容太大,超过服务器允许的上限",
            ErrorCode::TooLarge => "照片太大,无法上传",
            ErrorCode::UriTooLong => "地址太长",
            ErrorCode::UnsupportedMediaType => "不支持这种文件格式",
            ErrorCode::ValidationFailed => "有一项内容不符合要求",
            ErrorCode::InvalidValue => "有一项内容不符合要求",
            ErrorCode::InvalidItem => "这一项的格式不对",
            ErrorCode::UnknownPhoto => "照片不属于这次上传",
            ErrorCode::CorruptImage => "照片文件已损坏",
            ErrorCode::TooManyPixels => "照片像素太多,无法处理",
            ErrorCode::PhotoFailed => "照片无法处理,原图仍可查看",
            ErrorCode::VariantPending => "视频还在转码,可先播放原件",
            ErrorCode::RateLimited => "尝试次数过多,请稍后再试",
            ErrorCode::HeadersTooLarge => "请求头太大",
            ErrorCode::Internal => "服务器出错,请稍后重试",
            ErrorCode::Unavailable => "服务器正忙,请稍后重试",
            ErrorCode::Error => "操作未完成,请检查后重试",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// `errors.js` as it must be: the field app's words for each code.
    fn errors_js() -> String {
        let mut out = String::from(
            "// Made from `ErrorCode` in src/error/code.rs by its test (one home for the\n\
             // words of an error code); `FIELDSYNC_BLESS=1 cargo test --lib error`\n\
             // writes it again. Do not edit by hand.\n\
             export const WORDS = Object.freeze({\n",
        );
        for c in ErrorCode::ALL {
            out.push_str(&format!("  {}: '{}',\n", c.as_str(), c.zh()));
        }
        out.push_str("});\n");
        out
    }

    #[test]
    fn the_field_apps_words_are_made_from_the_codes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/webui/field/app/errors.js");
        let want = errors_js();
        if std::env::var_os("FIELDSYNC_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "errors.js is not what ErrorCode says: run FIELDSYNC_BLESS=1 cargo test --lib error"
        );
    }

    #[test]
    fn codes_are_unique_snake_case_and_their_words_chinese() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c}"
            );
            assert!(
                !c.zh().bytes().any(|b| b.is_ascii_alphabetic()),
                "{c}: {}",
                c.zh()
            );
            assert!(!c.zh().contains('\''), "{c}");
            assert!(c.status().as_u16() >= 400, "{c}");
        }
    }

    /// The status each place that makes an `AppError` gives its code is the
    /// code's own (read from the source: `AppError::new(StatusCode::X,
    /// ErrorCode::Y`, `bad_request(ErrorCode::Y`, `unauthorized(..`,
    /// `conflict(..`), so the enum's status column cannot drift.
    #[test]
    fn every_place_answers_a_code_with_its_status() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let by_name = |name: &str| {
            ErrorCode::ALL
                .into_iter()
                .find(|c| format!("{c:?}") == name)
        };
        let status_of = |name: &str| -> Option<u16> {
            Some(match name {
                "BAD_REQUEST" => 400,
                "UNAUTHORIZED" => 401,
                "FORBIDDEN" => 403,
                "NOT_FOUND" => 404,
                "REQUEST_TIMEOUT" => 408,
                "CONFLICT" => 409,
                "PRECONDITION_FAILED" => 412,
                "PAYLOAD_TOO_LARGE" => 413,
                "UNSUPPORTED_MEDIA_TYPE" => 415,
                "UNPROCESSABLE_ENTITY" => 422,
                "TOO_MANY_REQUESTS" => 429,
                "INTERNAL_SERVER_ERROR" => 500,
                "SERVICE_UNAVAILABLE" => 503,
                _ => return None,
            })
        };
        // The protocol's own answers (see `status`).
        let allowed = [(ErrorCode::TusVersion, 412), (ErrorCode::UploadOffset, 400)];
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut wrong = Vec::new();
        let mut seen = 0;
        for f in files {
            let text: String = std::fs::read_to_string(&f)
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            for (ctor, fixed) in [
                ("AppError::bad_request(", Some(400)),
                ("AppError::unauthorized(", Some(401)),
                ("AppError::conflict(", Some(409)),
                ("AppError::new(", None),
            ] {
                for part in text.split(ctor).skip(1) {
                    let mut args = part.splitn(3, ',');
                    let (first, second) = (args.next().unwrap_or(""), args.next().unwrap_or(""));
                    let (status, code) = match fixed {
                        Some(s) => (Some(s), first),
                        None => (
                            first.rsplit("StatusCode::").next().and_then(status_of),
                            second,
                        ),
                    };
                    let Some(name) = code.trim().strip_prefix("ErrorCode::") else {
                        continue;
                    };
                    let (Some(code), Some(status)) = (by_name(name.trim()), status) else {
                        continue;
                    };
                    seen += 1;
                    if status != code.status().as_u16() && !allowed.contains(&(code, status)) {
                        wrong.push(format!("{}: {code} with {status}", f.display()));
                    }
                }
            }
        }
        assert!(seen > 40, "read only {seen} places");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
