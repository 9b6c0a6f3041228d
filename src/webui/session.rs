//! The pages' session: a random token in a Secure, HttpOnly,
//! SameSite=Strict cookie, its hash in `web_sessions`
//! (`auth::web_session`), and a CSRF token every form must carry back.

use crate::auth::{Caller, Role, web_session};
use crate::error::AppError;
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;

pub const COOKIE: &str = "fieldsync_session";
pub use web_session::{HOURS, end, start};

/// A signed-in coordinator or admin on the review page.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub caller: Caller,
    pub display_name: String,
    pub csrf: String,
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
            let found = state.db.read(move |c| web_session::find(c, &token)).await?;
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
                    id: crate::ids::UserId::new(id),
                    username,
                    role,
                    group_id: group_id.map(crate::ids::GroupId::new),
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
