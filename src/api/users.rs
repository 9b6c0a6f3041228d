//! `/api/v1/users`

use crate::auth::{Admin, Caller};
use crate::error::AppResult;
use crate::paging::{Page, PageQuery};
use crate::reference::users::{self, NewUser, User, UserPatch};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, post, web};
use uuid::Uuid;

#[utoipa::path(tag = "users", params(PageQuery), responses((status = 200, body = Page<User>)))]
#[get("/api/v1/users")]
pub async fn list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<Page<User>>> {
    let page = q.parse()?;
    Ok(web::Json(
        st.db.read(move |c| users::list(c, &caller, &page)).await?,
    ))
}

/// The caller's own account.
#[utoipa::path(tag = "users", responses((status = 200, body = User)))]
#[get("/api/v1/users/me")]
pub async fn me(st: web::Data<AppState>, caller: Caller) -> AppResult<web::Json<User>> {
    let id = caller.id.clone();
    Ok(web::Json(
        st.db.read(move |c| users::get(c, &caller, &id)).await?,
    ))
}

#[utoipa::path(tag = "users", responses((status = 200, body = User), (status = 404)))]
#[get("/api/v1/users/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<User>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db.read(move |c| users::get(c, &caller, &id)).await?,
    ))
}

#[utoipa::path(tag = "users", request_body = NewUser, responses((status = 201, body = User), (status = 403), (status = 409), (status = 422)))]
#[post("/api/v1/users")]
pub async fn create(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    body: web::Json<NewUser>,
) -> AppResult<HttpResponse> {
    let input = body.into_inner();
    let pw = input.password.clone();
    let hash = web::block(move || users::hash_new_password(&pw)).await??;
    let u = st
        .db
        .write(move |c| users::insert(c, Some(&caller), input, hash))
        .await?;
    Ok(HttpResponse::Created().json(u))
}

#[utoipa::path(tag = "users", request_body = UserPatch, responses((status = 200, body = User), (status = 403), (status = 404), (status = 409)))]
#[patch("/api/v1/users/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    Admin(caller): Admin,
    id: web::Path<Uuid>,
    body: web::Json<UserPatch>,
) -> AppResult<web::Json<User>> {
    let id = id.to_string();
    let patch = body.into_inner();
    let hash = match patch.password.clone() {
        Some(pw) => Some(web::block(move || users::hash_new_password(&pw)).await??),
        None => None,
    };
    Ok(web::Json(
        st.db
            .write(move |c| users::update(c, &caller, &id, patch, hash))
            .await?,
    ))
}
