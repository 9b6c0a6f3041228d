//! Health, readiness, metrics and the OpenAPI document.

use crate::error::AppResult;
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;
use utoipa::OpenApi;

/// The process is up.
#[utoipa::path(tag = "ops", responses((status = 200)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers and the data directory is writable.
#[utoipa::path(tag = "ops", responses((status = 200), (status = 503)))]
#[get("/readyz")]
pub async fn readyz(st: web::Data<AppState>) -> AppResult<HttpResponse> {
    let db = st.db.clone();
    let dir = st.config.data_dir.clone();
    let store = st.jobs.store_arc();
    web::block(move || {
        db.check()?;
        let unavailable = |what: &str, e: std::io::Error| {
            crate::error::AppError::unavailable(format!("{what}: {e}"))
        };
        let probe = dir.join(".readyz");
        std::fs::write(&probe, b"ok")
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| unavailable("data directory not writable", e))?;
        store
            .check()
            .map_err(|e| unavailable("photo store not usable", e))
    })
    .await??;
    // Ready without the optional tools, saying what their absence costs.
    let (tools, missing) = crate::photos::jobs::Tool::report(&st.config);
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "tools": tools,
        "missing": missing,
    })))
}

/// Prometheus text format.
#[utoipa::path(tag = "ops", responses((status = 200, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
#[get("/metrics")]
pub async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(st.metrics.render())
}

/// This document.
#[utoipa::path(tag = "ops", responses((status = 200, content_type = "application/json")))]
#[get("/api/v1/openapi.json")]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(super::ApiDoc::openapi())
}
