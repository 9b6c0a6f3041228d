//! `/api/v1/schedules` (recurring route schedules).

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
use crate::reference::schedules::{self, NewSchedule, Schedule, ScheduleFilter, SchedulePatch};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use uuid::Uuid;

#[utoipa::path(tag = "schedules", params(PageQuery, ScheduleFilter), responses((status = 200, body = Page<Schedule>)))]
#[get("/api/v1/schedules")]
pub async fn list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    f: web::Query<ScheduleFilter>,
) -> AppResult<web::Json<Page<Schedule>>> {
    let page = q.parse()?;
    let f = f.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| schedules::list(c, &caller, &f, &page))
            .await?,
    ))
}

#[utoipa::path(tag = "schedules", responses((status = 200, body = Schedule), (status = 404)))]
#[get("/api/v1/schedules/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Schedule>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db.read(move |c| schedules::get(c, &caller, &id)).await?,
    ))
}

/// Creates a schedule and at once the routes it makes from today to
/// `horizon_days` ahead.
#[utoipa::path(tag = "schedules", request_body = NewSchedule, responses((status = 201, body = Schedule), (status = 403), (status = 422)))]
#[post("/api/v1/schedules")]
pub async fn create(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewSchedule>,
) -> AppResult<HttpResponse> {
    let s = st
        .db
        .write(move |c| schedules::create(c, &caller, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

/// Edits a schedule; its planned routes after today follow the edit.
#[utoipa::path(tag = "schedules", request_body = SchedulePatch, responses((status = 200, body = Schedule), (status = 403), (status = 404), (status = 422)))]
#[patch("/api/v1/schedules/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<SchedulePatch>,
) -> AppResult<web::Json<Schedule>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| schedules::update(c, &caller, &id, body.into_inner()))
            .await?,
    ))
}

/// Deletes a schedule and its planned routes after today.
#[utoipa::path(tag = "schedules", responses((status = 204), (status = 403), (status = 404)))]
#[delete("/api/v1/schedules/{id}")]
pub async fn remove(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    st.db
        .write(move |c| schedules::delete(c, &caller, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
