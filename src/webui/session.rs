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

/// A signed-in user of the pages: a coordinator or admin on `/review`
/// and `/admin` (as the extractor), a department's member on `/dept`
/// (inside [`DeptUser`]).
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
        // Lax, not Strict: a department's member opens `/dept` from a link
        // in a group chat (a cross-site navigation) and must arrive signed
        // in. Every form still carries the CSRF token, and Lax withholds
        // the cookie from cross-site POSTs.
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::hours(HOURS))
        .finish()
}

/// Why a page could not be shown to this visitor.
pub enum Refused {
    /// Not signed in: go to the login page.
    Login,
    /// Not signed in: go to the login page, and to this page after it.
    LoginThen(&'static str),
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
            Refused::Login | Refused::LoginThen(_) => f.write_str("login required"),
            Refused::Error(e) => write!(f, "{e}"),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// The signed-in user of a session cookie, whatever their role.
fn signed_in(req: &HttpRequest) -> Pin<Box<dyn Future<Output = Result<WebUser, Refused>>>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = req.cookie(COOKIE).map(|c| c.value().to_string());
    Box::pin(async move {
        let state = state.ok_or_else(|| AppError::internal("app state missing"))?;
        let token = token.ok_or(Refused::Login)?;
        let found = state.db.read(move |c| web_session::find(c, &token)).await?;
        let (id, username, display_name, role, group_id, department_id, active, csrf) =
            found.ok_or(Refused::Login)?;
        let role = Role::parse(&role).ok_or(Refused::Login)?;
        if !active {
            return Err(Refused::Login);
        }
        Ok(WebUser {
            caller: Caller {
                id: crate::ids::UserId::new(id),
                username,
                role,
                group_id: group_id.map(crate::ids::GroupId::new),
                department_id: department_id.map(crate::ids::DepartmentId::new),
            },
            display_name,
            csrf,
        })
    })
}

impl FromRequest for WebUser {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<WebUser, Refused>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = signed_in(req);
        Box::pin(async move {
            let user = user.await?;
            if !user.caller.role.reviews() {
                return Err(AppError::forbidden("审核页面供协调员和管理员使用").into());
            }
            Ok(user)
        })
    }
}

/// Anyone signed in to the pages (signing out).
#[derive(Debug, Clone)]
pub struct AnyUser(pub WebUser);

impl FromRequest for AnyUser {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<AnyUser, Refused>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = signed_in(req);
        Box::pin(async move { Ok(AnyUser(user.await?)) })
    }
}

/// A signed-in member of a department on its page (`/dept`): a responder,
/// or a user of another role who also works for a department.
#[derive(Debug, Clone)]
pub struct DeptUser(pub WebUser);

impl FromRequest for DeptUser {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<DeptUser, Refused>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = signed_in(req);
        Box::pin(async move {
            let user = user.await?;
            if user.caller.department_id.is_none() {
                return Err(
                    AppError::forbidden("本页面供部门人员使用：您的账号未加入任何部门").into(),
                );
            }
            Ok(DeptUser(user))
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
