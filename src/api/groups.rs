//! `/api/v1/groups`

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
use crate::reference::groups::{self, Group, GroupPatch, NewGroup};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

#[utoipa::path(tag = "groups", params(PageQuery), responses((status = 200, body = Page<Group>)))]
#[get("/api/v1/groups")]
pub async fn list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<Page<Group>>> {
    let page = q.parse()?;
    Ok(web::Json(
        st.db.read(move |c| groups::list(c, &caller, &page)).await?,
    ))
}

#[utoipa::path(tag = "groups", responses((status = 200, body = Group), (status = 404)))]
#[get("/api/v1/groups/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Group>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db.read(move |c| groups::get(c, &caller, &id)).await?,
    ))
}

#[utoipa::path(tag = "groups", request_body = NewGroup, responses((status = 201, body = Group), (status = 403), (status = 422)))]
#[post("/api/v1/groups")]
pub async fn create(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewGroup>,
) -> AppResult<HttpResponse> {
    let g = st
        .db
        .write(move |c| groups::create(c, &caller, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(g))
}

#[utoipa::path(tag = "groups", request_body = GroupPatch, responses((status = 200, body = Group), (status = 403), (status = 404)))]
#[patch("/api/v1/groups/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<GroupPatch>,
) -> AppResult<web::Json<Group>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| groups::update(c, &caller, &id, body.into_inner()))
            .await?,
    ))
}

#[utoipa::path(tag = "groups", responses((status = 204), (status = 409, description = "the group is not empty")))]
#[delete("/api/v1/groups/{id}")]
pub async fn remove(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    st.db
        .write(move |c| groups::delete(c, &caller, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
