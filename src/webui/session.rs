//! The review page's session: a random token in a Secure, HttpOnly,
//! SameSite=Strict cookie, its hash in `web_sessions`, and a CSRF token
//! every form must carry back.

use crate::auth::{Caller, Role, refresh};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{users, web_sessions as ws};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use diesel::prelude::*;
use std::future::Future;
use std::pin::Pin;

pub const COOKIE: &str = "fieldsync_session";
pub const HOURS: i64 = 12;

/// A signed-in coordinator or admin on the review page.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub caller: Caller,
    pub display_name: String,
    pub csrf: String,
}

fn token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Starts a session; returns the cookie token.
pub fn start(c: &mut Conn, user_id: &str) -> AppResult<String> {
    let t = token();
    let now = clock::now();
    // The session holds while the user's token stamp (bumped by a password
    // change or a deactivation) and role stay what they are now.
    let (stamp, role): (i64, String) = users::table
        .find(user_id)
        .select((users::token_stamp, users::role))
        .first(c)?;
    diesel::insert_into(ws::table)
        .values((
            ws::token_hash.eq(refresh::hash(&t)),
            ws::user_id.eq(user_id),
            ws::token_stamp.eq(stamp),
            ws::role.eq(role),
            ws::csrf.eq(token()),
            ws::created_at.eq(now),
            ws::expires_at.eq(now + Duration::hours(HOURS)),
        ))
        .execute(c)?;
    Ok(t)
}

pub fn end(c: &mut Conn, token: &str) -> AppResult<()> {
    diesel::delete(ws::table.find(refresh::hash(token))).execute(c)?;
    Ok(())
}

pub fn cookie(value: String, secure: bool) -> Cookie<'static> {
    // One session for the review page and the admin console.
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::hours(HOURS))
        .finish()
}

/// Why a page could not be shown to this visitor.
pub enum Refused {
    /// Not signed in: go to the login page.
    Login,
    Error(AppError),
}

impl From<AppError> for Refused {
    fn from(e: AppError) -> Self {
        Refused::Error(e)
    }
}

impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Login => f.write_str("login required"),
            Refused::Error(e) => write!(f, "{e}"),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl FromRequest for WebUser {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<WebUser, Refused>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req.cookie(COOKIE).map(|c| c.value().to_string());
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("app state missing"))?;
            let token = token.ok_or(Refused::Login)?;
            let found = state
                .db
                .read(move |c| {
                    Ok(ws::table
                        .inner_join(users::table)
                        .filter(ws::token_hash.eq(refresh::hash(&token)))
                        .filter(ws::expires_at.gt(clock::now()))
                        .filter(ws::token_stamp.eq(users::token_stamp))
                        .filter(ws::role.eq(users::role))
                        .select((
                            users::id,
                            users::username,
                            users::display_name,
                            users::role,
                            users::group_id,
                            users::active,
                            ws::csrf,
                        ))
                        .first::<(String, String, String, String, Option<String>, bool, String)>(c)
                        .optional()?)
                })
                .await?;
            let (id, username, display_name, role, group_id, active, csrf) =
                found.ok_or(Refused::Login)?;
            let role = Role::parse(&role).ok_or(Refused::Login)?;
            if !active {
                return Err(Refused::Login);
            }
            if role == Role::Inspector {
                return Err(
                    AppError::forbidden("the review page is for coordinators and admins").into(),
                );
            }
            Ok(WebUser {
                caller: Caller {
                    id,
                    username,
                    role,
                    group_id,
                },
                display_name,
                csrf,
            })
        })
    }
}

/// A form's CSRF token must be the session's.
pub fn check_csrf(user: &WebUser, given: &str) -> Result<(), Refused> {
    use subtle::ConstantTimeEq;
    if bool::from(user.csrf.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(AppError::forbidden("the form is stale or forged; reload the page").into())
    }
}
