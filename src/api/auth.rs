//! `/api/v1/auth`: login, refresh, logout.

use super::SmallJson;
use crate::auth::login as check_login;
use crate::auth::refresh::{self, Rotation};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::journal::{self, Audit};
use crate::reference::users::{self, User};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The phone's id; kept with the refresh token.
    pub device_id: Option<uuid::Uuid>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub user: User,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

fn tokens(st: &AppState, user: users::Row, refresh_token: String) -> AppResult<TokenResponse> {
    let access_token = st.keys.issue(
        &user.id,
        &user.role,
        user.group_id.as_deref(),
        user.token_stamp,
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: st.keys.ttl_secs,
        refresh_token,
        user: user.view(),
    })
}

fn bad_credentials() -> AppError {
    AppError::unauthorized(ErrorCode::InvalidCredentials, "wrong user name or password")
}

/// Logs in with a user name and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "wrong user name or password"),
        (status = 429, description = "too many attempts"),
    )
)]
#[post("/api/v1/auth/login")]
pub async fn login(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: SmallJson<LoginRequest>,
) -> AppResult<web::Json<TokenResponse>> {
    let body = body.0;
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let attempt = check_login::Attempt {
        username: body.username,
        password: body.password,
        ip: ip.clone(),
    };
    let Some(uid) =
        check_login::check(&st.db, &st.login_limiter, attempt, "auth.login_failed").await?
    else {
        return Err(bad_credentials());
    };
    let device = body.device_id.map(|d| d.to_string());
    let ttl = st.config.refresh_ttl_secs;
    let (user, token) = st
        .db
        .write(move |c| {
            let user = users::find(c, &uid)?.ok_or_else(bad_credentials)?;
            let (_, token) = refresh::issue(c, &uid, None, device.as_deref(), ttl)?;
            journal::audit(
                c,
                Audit {
                    actor_id: Some(&uid),
                    action: "auth.login",
                    object_type: "user",
                    object_id: Some(&uid),
                    details: json!({ "ip": ip, "device_id": device }),
                },
            )?;
            Ok((user, token))
        })
        .await?;
    Ok(web::Json(tokens(&st, user, token)?))
}

/// Trades a refresh token for a new pair (the old one is spent).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "unknown, expired, revoked or reused token"),
    )
)]
#[post("/api/v1/auth/refresh")]
pub async fn refresh_session(
    st: web::Data<AppState>,
    body: SmallJson<RefreshRequest>,
) -> AppResult<web::Json<TokenResponse>> {
    let token = body.0.refresh_token;
    let ttl = st.config.refresh_ttl_secs;
    let grace = st.config.refresh_grace_secs;
    let (outcome, user) = st
        .db
        .write(move |c| {
            let outcome = refresh::rotate(c, &token, ttl, grace)?;
            let user = match &outcome {
                Rotation::Rotated { user_id, .. } => users::find(c, user_id)?,
                Rotation::Reused { user_id } => {
                    journal::audit(
                        c,
                        Audit {
                            actor_id: Some(user_id),
                            action: "auth.refresh_reused",
                            object_type: "user",
                            object_id: Some(user_id),
                            details: json!({}),
                        },
                    )?;
                    None
                }
                _ => None,
            };
            Ok((outcome, user))
        })
        .await?;
    match (outcome, user) {
        (Rotation::Rotated { token, .. }, Some(user)) if user.active => {
            Ok(web::Json(tokens(&st, user, token)?))
        }
        (Rotation::Reused { .. }, _) => Err(AppError::unauthorized(
            ErrorCode::RefreshReused,
            "this refresh token was already used; every session of its login is now revoked",
        )),
        (Rotation::Expired, _) => Err(AppError::unauthorized(
            ErrorCode::RefreshExpired,
            "the refresh token has expired; log in again",
        )),
        _ => Err(AppError::unauthorized(
            ErrorCode::RefreshInvalid,
            "the refresh token is not valid",
        )),
    }
}

/// Ends the session of a refresh token (and every token rotated from it).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "revoked (also when the token was unknown)"))
)]
#[post("/api/v1/auth/logout")]
pub async fn logout(
    st: web::Data<AppState>,
    body: SmallJson<RefreshRequest>,
) -> AppResult<HttpResponse> {
    let token = body.0.refresh_token;
    st.db
        .write(move |c| {
            if let Some(uid) = refresh::revoke_by_token(c, &token)? {
                journal::audit(
                    c,
                    Audit {
                        actor_id: Some(&uid),
                        action: "auth.logout",
                        object_type: "user",
                        object_id: Some(&uid),
                        details: json!({}),
                    },
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
