//! `/api/v1/routes` (inspection routes).

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
use crate::reference::routes::{self, NewRoute, Route, RouteFilter, RoutePatch};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

#[utoipa::path(tag = "routes", params(PageQuery, RouteFilter), responses((status = 200, body = Page<Route>)))]
#[get("/api/v1/routes")]
pub async fn list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    f: web::Query<RouteFilter>,
) -> AppResult<web::Json<Page<Route>>> {
    let page = q.parse()?;
    let f = f.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| routes::list(c, &caller, &f, &page))
            .await?,
    ))
}

#[utoipa::path(tag = "routes", responses((status = 200, body = Route), (status = 404)))]
#[get("/api/v1/routes/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Route>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db.read(move |c| routes::get(c, &caller, &id)).await?,
    ))
}

#[utoipa::path(tag = "routes", request_body = NewRoute, responses((status = 201, body = Route), (status = 403), (status = 422)))]
#[post("/api/v1/routes")]
pub async fn create(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewRoute>,
) -> AppResult<HttpResponse> {
    let r = st
        .db
        .write(move |c| routes::create(c, &caller, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(r))
}

/// Edits, reassigns (`assignee_id`, null for the whole group), re-orders
/// stops or changes the status (`cancelled` cancels).
#[utoipa::path(tag = "routes", request_body = RoutePatch, responses((status = 200, body = Route), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[patch("/api/v1/routes/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<RoutePatch>,
) -> AppResult<web::Json<Route>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| routes::update(c, &caller, &id, body.into_inner()))
            .await?,
    ))
}

#[utoipa::path(tag = "routes", responses((status = 204), (status = 403), (status = 404)))]
#[delete("/api/v1/routes/{id}")]
pub async fn remove(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    st.db
        .write(move |c| routes::delete(c, &caller, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
