//! `/api/v1/departments`: the district bureaus follow-ups go to (admins
//! write; everyone signed in reads).

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
use crate::reference::departments::{self, Department, DepartmentPatch, NewDepartment};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, post, web};
use uuid::Uuid;

#[utoipa::path(tag = "departments", params(PageQuery), responses((status = 200, body = Page<Department>)))]
#[get("/api/v1/departments")]
pub async fn list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<Page<Department>>> {
    let page = q.parse()?;
    Ok(web::Json(
        st.db
            .read(move |c| departments::list(c, &caller, &page))
            .await?,
    ))
}

#[utoipa::path(tag = "departments", responses((status = 200, body = Department), (status = 404)))]
#[get("/api/v1/departments/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Department>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .read(move |c| departments::get(c, &caller, &id))
            .await?,
    ))
}

#[utoipa::path(tag = "departments", request_body = NewDepartment, responses((status = 201, body = Department), (status = 403), (status = 409), (status = 422)))]
#[post("/api/v1/departments")]
pub async fn create(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewDepartment>,
) -> AppResult<HttpResponse> {
    let d = st
        .db
        .write(move |c| departments::create(c, &caller, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(d))
}

#[utoipa::path(tag = "departments", request_body = DepartmentPatch, responses((status = 200, body = Department), (status = 403), (status = 404), (status = 409)))]
#[patch("/api/v1/departments/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<DepartmentPatch>,
) -> AppResult<web::Json<Department>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| departments::update(c, &caller, &id, body.into_inner()))
            .await?,
    ))
}
