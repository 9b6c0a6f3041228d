//! `/api/v1/templates`

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
use crate::reference::templates::{
    self, ImportQuery, Imported, NewTemplate, Template, TemplatePatch, VersionQuery,
};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

#[utoipa::path(tag = "templates", params(PageQuery), responses((status = 200, body = Page<Template>)))]
#[get("/api/v1/templates")]
pub async fn list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<Page<Template>>> {
    let page = q.parse()?;
    Ok(web::Json(
        st.db
            .read(move |c| templates::list(c, &caller, &page))
            .await?,
    ))
}

#[utoipa::path(tag = "templates", params(VersionQuery), responses((status = 200, body = Template), (status = 404)))]
#[get("/api/v1/templates/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    q: web::Query<VersionQuery>,
) -> AppResult<web::Json<Template>> {
    let id = id.to_string();
    let v = q.version;
    Ok(web::Json(
        st.db
            .read(move |c| templates::get(c, &caller, &id, v))
            .await?,
    ))
}

#[utoipa::path(tag = "templates", request_body = NewTemplate, responses((status = 201, body = Template), (status = 403), (status = 422)))]
#[post("/api/v1/templates")]
pub async fn create(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewTemplate>,
) -> AppResult<HttpResponse> {
    let t = st
        .db
        .write(move |c| templates::create(c, &caller, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// Reads an XLSForm (`.xlsx`: the `survey`, `choices` and `settings`
/// sheets) into a checklist within the subset fieldsync takes, listing
/// what it could not take. `dry_run=true`: only the preview (200);
/// otherwise the checklist is saved (201). A file that is no readable
/// form: 422 (`details.field` `file`).
#[utoipa::path(
    tag = "templates",
    params(ImportQuery),
    // The file's bytes, whatever the type says: schemathesis cannot make
    // an .xlsx body, so octet-stream is documented too.
    request_body(content(
        (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (String = "application/octet-stream")
    )),
    responses((status = 200, body = Imported), (status = 201, body = Imported), (status = 403), (status = 413), (status = 422))
)]
#[post("/api/v1/templates/import")]
pub async fn import(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    q: web::Query<ImportQuery>,
    body: web::Payload,
) -> AppResult<HttpResponse> {
    let bytes = crate::http::body::read_all(body, templates::xlsform::MAX_FILE_BYTES).await?;
    let q = q.into_inner();
    let dry_run = q.dry_run;
    // Unzipping and reading the sheets is CPU work: off the executor.
    let (new, unsupported) = web::block(move || templates::read_xlsform(&bytes, &q))
        .await
        .map_err(crate::error::AppError::internal)??;
    let out = st
        .db
        .write(move |c| templates::import(c, &caller, new, unsupported, dry_run))
        .await?;
    Ok(if dry_run {
        HttpResponse::Ok().json(out)
    } else {
        HttpResponse::Created().json(out)
    })
}

/// Edits a checklist: a change of name or items makes the next version.
#[utoipa::path(tag = "templates", request_body = TemplatePatch, responses((status = 200, body = Template), (status = 403), (status = 404), (status = 422)))]
#[patch("/api/v1/templates/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<TemplatePatch>,
) -> AppResult<web::Json<Template>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| templates::update(c, &caller, &id, body.into_inner()))
            .await?,
    ))
}

/// Retires a checklist (it stays readable for old inspections).
#[utoipa::path(tag = "templates", responses((status = 204), (status = 403), (status = 404)))]
#[delete("/api/v1/templates/{id}")]
pub async fn remove(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    st.db
        .write(move |c| templates::retire(c, &caller, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
