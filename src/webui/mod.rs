//! The web faces, by audience: the coordinators' review page at `/review`
//! (`review/`), the admins' console at `/admin` (`admin/`), the
//! departments' page at `/dept` (`dept.rs`), and the
//! inspectors' field app at `/app` (`field/`, its files in `field/app/`).
//! Shared by the pages: `layout.rs` (the frame, the stylesheet, the error
//! page), `login.rs`, `session.rs`, `words.rs` (words and district time),
//! `map.rs`, `charts.rs` (SVG charts). Server-rendered HTML (maud) with its CSS served by this binary,
//! a cookie session with CSRF tokens on every form; the pages call the same
//! functions as the JSON API.

pub mod admin;
pub mod charts;
pub mod dept;
pub mod field;
pub mod layout;
pub mod login;
pub mod map;
pub mod pdf;
pub mod review;
pub mod session;
pub mod words;

use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, get, web};
use session::Refused;

pub(crate) type Page = Result<HttpResponse, Refused>;

pub(crate) fn back(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to.to_string()))
        .finish()
}

/// What every web page is served with: never cached (a coordinator's
/// screen on a shared computer), never framed, no referrer leaving the
/// site, and a policy that allows only this server's own stylesheets,
/// images, videos and scripts (the review queue's live updates, `live.js`,
/// and the feed it reads): nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; \
    script-src 'self'; connect-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    let page =
        (path.starts_with("/review") || path.starts_with("/admin") || path.starts_with("/dept"))
            && !path.starts_with("/review/static/");
    let field_app = path == "/app" || path.starts_with("/app/");
    // Map tiles, when configured, are the one thing loaded from elsewhere.
    let csp = req
        .app_data::<web::Data<AppState>>()
        .and_then(|st| st.config.map_tiles.as_deref().and_then(map::tile_origin))
        .and_then(|origin| {
            HeaderValue::from_str(
                &CSP.replace("img-src 'self'", &format!("img-src 'self' {origin}")),
            )
            .ok()
        })
        .unwrap_or(HeaderValue::from_static(CSP));
    let mut res = next.call(req).await?;
    if field_app {
        field::headers(res.headers_mut());
    }
    if page {
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    Ok(res)
}

#[get("/review/static/review.css")]
pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(layout::CSS)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(css)
        .service(login::login_form)
        .service(login::login)
        .service(login::logout);
    review::configure(cfg);
    admin::configure(cfg);
    dept::configure(cfg);
    field::configure(cfg);
}
