//! `/api/v1/sites`

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
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
