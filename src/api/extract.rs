//! Who is calling: the bearer token of an API request read into a
//! [`Caller`] (the user as stored now: a deactivated user or a token of an
//! older stamp is refused), and [`Admin`] refused before the body is read.

use crate::auth::{Admin, Caller};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;

fn bearer(req: &HttpRequest) -> AppResult<String> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        AppError::unauthorized(ErrorCode::Unauthorized, "an access token is required")
    })?;
    let value = value.to_str().map_err(|_| {
        AppError::unauthorized(ErrorCode::InvalidToken, "malformed Authorization header")
    })?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        AppError::unauthorized(ErrorCode::InvalidToken, "expected `Bearer <token>`")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AppError::unauthorized(
            ErrorCode::InvalidToken,
            "expected `Bearer <token>`",
        ));
    }
    Ok(token.trim().to_string())
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Caller>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("app state missing"))?;
            let claims = state.keys.verify(&token?)?;
            let sub = claims.sub.clone();
            let row = state.db.read(move |c| Caller::load(c, &sub)).await?;
            let dead = || {
                AppError::unauthorized(
                    ErrorCode::InvalidToken,
                    "the access token is no longer valid",
                )
            };
            let (caller, active, stamp) = row.ok_or_else(dead)?;
            if !active || stamp != claims.stamp {
                return Err(dead());
            }
            Ok(caller)
        })
    }
}

impl FromRequest for Admin {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Admin>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            caller.require_admin()?;
            Ok(Admin(caller))
        })
    }
}
