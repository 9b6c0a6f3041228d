//! The inspectors' field app at `/app/`: static files compiled into the
//! binary (no build step), a service worker that caches them all so the app
//! opens with no signal, a manifest so it installs to a phone's home
//! screen, and icons drawn here at start. Everything else it does, it does
//! through the JSON API with the reference client (`fieldsync-client.js`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, get, web};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The app's files: path under `/app/`, content type, contents.
const FILES: [(&str, &str, &str); 14] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("app/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("app/app.js"),
    ),
    (
        "fieldsync-client.js",
        "text/javascript; charset=utf-8",
        include_str!("app/fieldsync-client.js"),
    ),
    (
        "errors.js",
        "text/javascript; charset=utf-8",
        include_str!("app/errors.js"),
    ),
    (
        "expr.js",
        "text/javascript; charset=utf-8",
        include_str!("app/expr.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("app/dom.js"),
    ),
    (
        "form.js",
        "text/javascript; charset=utf-8",
        include_str!("app/form.js"),
    ),
    (
        "checklist.js",
        "text/javascript; charset=utf-8",
        include_str!("app/checklist.js"),
    ),
    (
        "exif.js",
        "text/javascript; charset=utf-8",
        include_str!("app/exif.js"),
    ),
    (
        "media.js",
        "text/javascript; charset=utf-8",
        include_str!("app/media.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("app/app.css"),
    ),
    (
        "sw.js",
        "text/javascript; charset=utf-8",
        include_str!("app/sw.js"),
    ),
    (
        "manifest.webmanifest",
        "application/manifest+json",
        include_str!("app/manifest.webmanifest"),
    ),
    ("icon.svg", "image/svg+xml", include_str!("app/icon.svg")),
];

/// What the app's pages may load: its own scripts, styles and API, photos
/// and videos from this server or taken on the phone (blob:), nothing else.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A hash of all the app's files: the service worker's cache is named by
/// it, so a new binary with changed files replaces the cached app.
fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, _, body) in FILES {
            h.update(name.as_bytes());
            h.update(body.as_bytes());
        }
        hex::encode(&h.finalize()[..6])
    })
}

fn answer(content_type: &str, body: impl actix_web::body::MessageBody + 'static) -> HttpResponse {
    let mut r = HttpResponse::Ok();
    r.content_type(content_type.to_string())
        // Always revalidated: the service worker is what keeps the app
        // offline, and a new version must reach it.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    r.body(body)
}

#[get("/app")]
async fn app_root() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/app/"))
        .finish()
}

#[get("/app/{file}")]
async fn app_file(file: web::Path<String>) -> HttpResponse {
    let name = file.into_inner();
    match name.as_str() {
        "icon-192.png" => return answer("image/png", icon(192).to_vec()),
        "icon-512.png" => return answer("image/png", icon(512).to_vec()),
        _ => {}
    }
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some(("sw.js", ct, body)) => answer(ct, body.replace("__VERSION__", version())),
        Some((_, ct, body)) => answer(ct, *body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found"),
    }
}

#[get("/app/")]
async fn app_index() -> HttpResponse {
    answer("text/html; charset=utf-8", FILES[0].2)
}

/// The home-screen icon: a checkmark on the app's blue, drawn once.
fn icon(size: u32) -> &'static [u8] {
    static SMALL: OnceLock<Vec<u8>> = OnceLock::new();
    static LARGE: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if size <= 192 { &SMALL } else { &LARGE };
    cell.get_or_init(|| draw_icon(size))
}

fn draw_icon(size: u32) -> Vec<u8> {
    let s = size as f32;
    // The check: two strokes, as segments in units of the icon's size.
    let segs = [((0.27, 0.53), (0.43, 0.68)), ((0.43, 0.68), (0.74, 0.35))];
    let width = 0.085 * s;
    let img = image::RgbaImage::from_fn(size, size, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        let on_check = segs.iter().any(|((ax, ay), (bx, by))| {
            let (ax, ay, bx, by) = (ax * s, ay * s, bx * s, by * s);
            let (dx, dy) = (bx - ax, by - ay);
            let t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
            let (cx, cy) = (ax + t * dx, ay + t * dy);
            ((px - cx).powi(2) + (py - cy).powi(2)).sqrt() <= width / 2.0
        });
        if on_check {
            image::Rgba([255, 255, 255, 255])
        } else {
            image::Rgba([31, 78, 121, 255])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    match img.write_to(&mut out, image::ImageFormat::Png) {
        Ok(()) => out.into_inner(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot draw the app icon");
            Vec::new()
        }
    }
}

/// Headers of every `/app/` answer.
pub fn headers(h: &mut actix_web::http::header::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(app_root).service(app_index).service(app_file);
}

#[cfg(test)]
mod tests {
    #[test]
    fn icons_are_png_of_their_size() {
        for size in [192, 512] {
            let png = super::draw_icon(size);
            let img = image::load_from_memory(&png).unwrap();
            assert_eq!((img.width(), img.height()), (size, size));
        }
    }
}
