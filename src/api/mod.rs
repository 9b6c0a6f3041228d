//! The JSON API over HTTP: the URL table, request parsing limits, the
//! `Caller` extractor (`extract.rs`), the rule that every error leaves as
//! the contract's JSON error, and one thin handler file per resource. The
//! protocols run in their own modules (`photos::tus`, `photos::serve`,
//! `sync::push`); a handler parses, calls and answers.

pub mod auth;
pub mod channels;
pub mod departments;
mod extract;
pub mod groups;
pub mod ops;
pub mod photos;
pub mod responses;
pub mod review;
pub mod routes;
pub mod schedules;
pub mod sites;
pub mod sync;
pub mod templates;
pub mod uploads;
pub mod users;

use crate::error::{AppError, ErrorCode};
use actix_web::body::MessageBody;
use actix_web::dev::{ResourceDef, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, ResponseError, web};
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The one route table: every operation is mounted and documented from
/// this list, so the OpenAPI document cannot miss a route the server has,
/// nor describe one it does not.
macro_rules! route_table {
    (documented: [$($doc:path),* $(,)?], same_operation: [$($extra:path),* $(,)?] $(,)?) => {
        #[derive(OpenApi)]
        #[openapi(
            info(title = "fieldsync", description = "Offline-first field inspections: the server's API. See DESIGN.md for the contract."),
            paths($($doc),*),
            components(schemas(crate::error::ErrorBody)),
            modifiers(&BearerAuth, &Truth),
            security(("bearer" = [])),
        )]
        pub struct ApiDoc;

        /// Mounts every route of the table.
        fn mount(cfg: &mut web::ServiceConfig) {
            // Guarded variants of a documented operation first (the
            // multipart push is `POST /api/v1/sync/push` too).
            $(cfg.service($extra);)*
            $(cfg.service($doc);)*
        }
    };
}

route_table! {
    documented: [
        auth::login, auth::refresh_session, auth::logout,
        groups::list, groups::one, groups::create, groups::update, groups::remove,
        departments::list, departments::one, departments::create, departments::update,
        users::list, users::me, users::one, users::create, users::update,
        sites::list, sites::one, sites::history, sites::create, sites::update, sites::remove, sites::import,
        templates::list, templates::one, templates::import, templates::create, templates::update, templates::remove,
        routes::list, routes::one, routes::create, routes::update, routes::remove,
        schedules::list, schedules::one, schedules::create, schedules::update, schedules::remove,
        sync::push_batch, sync::pull_changes, sync::list_devices,
        photos::photo_bytes,
        review::list, review::one, review::review, review::conflicts_list, review::resolve, review::audit_log,
        review::followup_create, review::followup_list, review::followup_one, review::followup_update, review::followup_verification,
        channels::list, channels::one, channels::create, channels::update, channels::resend, channels::test, channels::events,
        responses::respond, review::timeline, review::report_departments, review::report_departments_csv, review::report_departments_xlsx,
        review::report_summary, review::report_summary_csv, review::report_summary_xlsx, review::report_brief,
        review::report_csv, review::report_xlsx, review::report_geojson, review::report_repeat_rows,
        review::report_repeat_rows_xlsx, review::report_ledger,
        review::report_coverage, review::report_coverage_csv, review::report_coverage_xlsx, sites::export_csv,
        sites::export_xlsx, sites::export_geojson,
        uploads::options, uploads::create, uploads::head, uploads::append, uploads::terminate,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ],
    same_operation: [sync::push_multipart, responses::respond_multipart],
}

/// Operations anyone may call without a bearer token.
pub const PUBLIC: [(&str, &str); 8] = [
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("options", "/api/v1/uploads"),
];

/// Makes the document say what the server does: public operations need no
/// token (a photo takes a token or a signed URL), and every operation lists
/// the errors any request may meet on its way (a malformed query or body,
/// a missing token, a role or scope that does not allow it, a body too
/// large or too slow, a busy database), each with the error schema.
struct Truth;

impl Modify for Truth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::Operation;
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{Content, Ref, ResponseBuilder};
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops: [(&str, &mut Option<Operation>); 6] = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
                ("options", &mut item.options),
            ];
            let head = item.head.as_mut().map(|o| ("head", o));
            let all = ops
                .into_iter()
                .filter_map(|(m, o)| o.as_mut().map(|o| (m, o)))
                .chain(head);
            for (method, op) in all {
                let public = PUBLIC.contains(&(method, path.as_str()));
                if public {
                    op.security = Some(vec![SecurityRequirement::default()]);
                } else if path.starts_with("/api/v1/photos/") {
                    // A bearer token, or a signed URL in the query.
                    op.security = Some(vec![
                        SecurityRequirement::new("bearer", Vec::<String>::new()),
                        SecurityRequirement::default(),
                    ]);
                }
                let mut errors: Vec<(&str, &str)> = vec![
                    ("400", "malformed request (query, path or body)"),
                    ("404", "no such object, or outside the caller's scope"),
                    ("408", "the request body stalled or came too slowly"),
                    ("409", "a state conflict"),
                    ("413", "too large"),
                    ("415", "unsupported media type"),
                    ("422", "invalid values"),
                    ("429", "rate limited"),
                    ("500", "the server's fault"),
                    ("503", "busy or unavailable: retry after Retry-After"),
                ];
                if !public {
                    errors.push(("401", "no, invalid or expired token"));
                    errors.push(("403", "the caller's role may not do this"));
                }
                for (status, what) in errors {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(what).into());
                }
                // Errors declared by the operation itself get the schema too.
                for (status, r) in op.responses.responses.iter_mut() {
                    if status.as_str() >= "400"
                        && let utoipa::openapi::RefOr::T(resp) = r
                        && resp.content.is_empty()
                    {
                        let what = if resp.description.is_empty() {
                            "an error".to_string()
                        } else {
                            resp.description.clone()
                        };
                        *r = error(&what).into();
                    }
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Registers every route and the extractor settings.
pub fn configure(cfg: &mut web::ServiceConfig, max_json_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_json_bytes)
            .error_handler(json_error),
    )
    .app_data(web::PathConfig::default().error_handler(path_error))
    .app_data(web::QueryConfig::default().error_handler(query_error));
    mount(cfg);
}

/// Most bytes an auth body may have: a user name, a password and a device
/// id fit many times over; a megabyte "password" is refused before it is
/// read, let alone hashed.
pub const AUTH_BODY_LIMIT: usize = 4096;

/// A JSON body of at most [`AUTH_BODY_LIMIT`] bytes, with the same errors
/// as every other JSON body.
pub struct SmallJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for SmallJson<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req2 = req.clone();
        let body =
            actix_web::dev::JsonBody::<T>::new(req, payload, None, true).limit(AUTH_BODY_LIMIT);
        Box::pin(async move { body.await.map(SmallJson).map_err(|e| json_error(e, &req2)) })
    }
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    crate::http::body::json_refusal(&err).into()
}

fn path_error(err: PathError, req: &HttpRequest) -> actix_web::Error {
    // A literal path the API has (`/api/v1/users/me`) that a template
    // (`/api/v1/users/{id}`) caught under a method the literal one does not
    // have: that is a wrong method, not a malformed id.
    if let Some(methods) = literal_methods(req.path()) {
        let mut e = AppError::from_status(StatusCode::METHOD_NOT_ALLOWED).error_response();
        if let Ok(v) = header::HeaderValue::from_str(&methods.join(", ")) {
            e.headers_mut().insert(header::ALLOW, v);
        }
        return actix_web::error::InternalError::from_response(err, e).into();
    }
    let PathError::Deserialize(e) = &err else {
        return AppError::bad_request(ErrorCode::InvalidPath, "malformed path").into();
    };
    AppError::bad_request(
        ErrorCode::InvalidPath,
        format!("a path segment is malformed: {e}"),
    )
    .into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    AppError::bad_request(ErrorCode::InvalidQuery, err.to_string()).into()
}

type RouteTable = Vec<(ResourceDef, bool, Vec<&'static str>)>;

/// Every documented path with its methods (and whether it is literal).
fn route_table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let doc = ApiDoc::openapi();
        doc.paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods = Vec::new();
                for (m, op) in [
                    ("GET", &item.get),
                    ("HEAD", &item.head),
                    ("POST", &item.post),
                    ("PUT", &item.put),
                    ("PATCH", &item.patch),
                    ("DELETE", &item.delete),
                    ("OPTIONS", &item.options),
                ] {
                    if op.is_some() {
                        methods.push(m);
                    }
                }
                (
                    ResourceDef::new(path.as_str()),
                    !path.contains('{'),
                    methods,
                )
            })
            .collect()
    })
}

fn literal_methods(path: &str) -> Option<Vec<&'static str>> {
    route_table()
        .iter()
        .find(|(def, literal, _)| *literal && def.is_match(path))
        .map(|(_, _, m)| m.clone())
}

/// For requests no route took: 405 (with `Allow`) when the path exists
/// under another method, else 404. The table comes from the OpenAPI
/// document, which lists every route the server has.
pub async fn no_route(req: HttpRequest) -> actix_web::HttpResponse {
    let table = route_table();
    let allowed: Vec<&str> = match literal_methods(req.path()) {
        Some(m) => m,
        None => table
            .iter()
            .filter(|(def, _, _)| def.is_match(req.path()))
            .flat_map(|(_, _, m)| m.iter().copied())
            .collect(),
    };
    if allowed.is_empty() {
        return AppError::from_status(StatusCode::NOT_FOUND).error_response();
    }
    let mut resp = AppError::from_status(StatusCode::METHOD_NOT_ALLOWED).error_response();
    if let Ok(v) = header::HeaderValue::from_str(&allowed.join(", ")) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// Middleware hook: any error answer that is not already JSON (actix's own
/// 404 for unknown paths, 405 for a wrong method, ...) becomes the
/// contract's JSON error with the same status.
pub fn json_fallback<B: MessageBody>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // The review page's own error pages are HTML on purpose.
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut resp = AppError::from_status(status).error_response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, resp).map_into_right_body::<B>(),
    ))
}
