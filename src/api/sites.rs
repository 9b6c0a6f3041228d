//! `/api/v1/sites`

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::http::sheet::Format as SheetFormat;
use crate::paging::{Page, PageQuery};
use crate::reference::site_files::{self, ImportQuery, ImportReport};
use crate::reference::sites::{self, NewSite, Site, SiteFilter, SitePatch};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

#[utoipa::path(tag = "sites", params(PageQuery, SiteFilter), responses((status = 200, body = Page<Site>)))]
#[get("/api/v1/sites")]
pub async fn list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    f: web::Query<SiteFilter>,
) -> AppResult<web::Json<Page<Site>>> {
    let page = q.parse()?;
    let f = f.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| sites::list(c, &caller, &f, &page))
            .await?,
    ))
}

#[utoipa::path(tag = "sites", responses((status = 200, body = Site), (status = 404)))]
#[get("/api/v1/sites/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Site>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db.read(move |c| sites::get(c, &caller, &id)).await?,
    ))
}

/// A site's file (一点一档): every inspection at it and every quick report
/// of its group within its radius, each with its reviews, hand-offs,
/// responses and verification, oldest first, with photos (signed URLs).
/// Within the caller's scope, as every read.
#[utoipa::path(tag = "sites", responses((status = 200, body = crate::review::timeline::Timeline), (status = 404)))]
#[get("/api/v1/sites/{id}/history")]
pub async fn history(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<crate::review::timeline::Timeline>> {
    let id = id.to_string();
    let signer = st.signer.clone();
    Ok(web::Json(
        st.db
            .read(move |c| crate::review::site_file::of(c, &caller, &id, &signer))
            .await?,
    ))
}

#[utoipa::path(tag = "sites", request_body = NewSite, responses((status = 201, body = Site), (status = 403), (status = 422)))]
#[post("/api/v1/sites")]
pub async fn create(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewSite>,
) -> AppResult<HttpResponse> {
    let s = st
        .db
        .write(move |c| sites::create(c, &caller, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

#[utoipa::path(tag = "sites", request_body = SitePatch, responses((status = 200, body = Site), (status = 403), (status = 404), (status = 422)))]
#[patch("/api/v1/sites/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<SitePatch>,
) -> AppResult<web::Json<Site>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| sites::update(c, &caller, &id, body.into_inner()))
            .await?,
    ))
}

#[utoipa::path(tag = "sites", responses((status = 204), (status = 403), (status = 404)))]
#[delete("/api/v1/sites/{id}")]
pub async fn remove(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    st.db.write(move |c| sites::delete(c, &caller, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Imports sites from a CSV file (UTF-8 with or without BOM, or GBK;
/// Chinese or English column names) or a GeoJSON FeatureCollection of
/// points. With `dry_run=true` it only checks and reports every row (the
/// preview); otherwise it writes all rows or, when any row has an error,
/// none (422, the report in `details.report`). A row names the site it
/// updates by its `id` column or by its site code, so importing the same
/// file twice changes nothing the second time.
#[utoipa::path(
    tag = "sites",
    params(ImportQuery),
    request_body(content((String = "text/csv"), (String = "application/geo+json"))),
    responses((status = 200, body = ImportReport), (status = 403), (status = 413), (status = 422))
)]
#[post("/api/v1/sites/import")]
pub async fn import(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    q: web::Query<ImportQuery>,
    body: web::Payload,
) -> AppResult<web::Json<ImportReport>> {
    let bytes = crate::http::body::read_all(body, st.config.max_json_bytes).await?;
    let q = q.into_inner();
    Ok(web::Json(
        st.db
            .write(move |c| site_files::import(c, &caller, &bytes, &q))
            .await?,
    ))
}

/// The sites as CSV in the import's format (UTF-8 with BOM, Chinese
/// headers): edit it in a spreadsheet and import it again.
#[utoipa::path(tag = "reports", params(SiteFilter), responses((status = 200, content_type = "text/csv")))]
#[get("/api/v1/reports/sites.csv")]
pub async fn export_csv(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<SiteFilter>,
) -> AppResult<HttpResponse> {
    export_sheet(st, caller, f.into_inner(), SheetFormat::Csv).await
}

/// The sites as an Excel workbook, in the same columns.
#[utoipa::path(tag = "reports", params(SiteFilter), responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
#[get("/api/v1/reports/sites.xlsx")]
pub async fn export_xlsx(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<SiteFilter>,
) -> AppResult<HttpResponse> {
    export_sheet(st, caller, f.into_inner(), SheetFormat::Xlsx).await
}

/// The sites as GeoJSON points, in the import's format.
#[utoipa::path(tag = "reports", params(SiteFilter), responses((status = 200, content_type = "application/geo+json")))]
#[get("/api/v1/reports/sites.geojson")]
pub async fn export_geojson(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<SiteFilter>,
) -> AppResult<HttpResponse> {
    let f = f.into_inner();
    crate::http::streaming::pages(
        st.db.clone(),
        "application/geo+json",
        Some("sites.geojson".into()),
        move |c, cursor| site_files::geojson_page(c, &caller, &f, cursor),
    )
    .await
}

/// The sites as a table, CSV or XLSX.
pub async fn export_sheet(
    st: web::Data<AppState>,
    caller: Caller,
    f: SiteFilter,
    format: SheetFormat,
) -> AppResult<HttpResponse> {
    crate::http::sheet::answer(st.db.clone(), format, "sites", move |c, cursor| {
        site_files::sheet_page(c, &caller, &f, cursor)
    })
    .await
}
