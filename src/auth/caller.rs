//! The signed-in caller, and the scope rules that follow from their role.

use crate::db::schema::users;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Inspector,
    Coordinator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inspector => "inspector",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "inspector" => Some(Role::Inspector),
            "coordinator" => Some(Role::Coordinator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Which groups' objects a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Admins and district-wide coordinators.
    All,
    Group(String),
    /// An inspector without a group sees nothing.
    Nothing,
}

/// The authenticated caller, as the database says now (not as the token
/// said when it was made: a role or group change applies at once).
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub group_id: Option<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Coordinators and admins: who review, manage follow-ups and see the
    /// district's devices. `what` says what the caller tried (for the
    /// message of the 403).
    pub fn require_reviewer(&self, what: &str) -> AppResult<()> {
        if self.role == Role::Inspector {
            Err(AppError::forbidden(format!(
                "only coordinators and admins {what}"
            )))
        } else {
            Ok(())
        }
    }

    pub fn require_admin(&self) -> AppResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::forbidden("only an admin may do this"))
        }
    }

    pub fn scope(&self) -> Scope {
        match (self.role, &self.group_id) {
            (Role::Admin, _) | (Role::Coordinator, None) => Scope::All,
            (_, Some(g)) => Scope::Group(g.clone()),
            (Role::Inspector, None) => Scope::Nothing,
        }
    }

    pub fn sees_group(&self, group_id: &str) -> bool {
        match self.scope() {
            Scope::All => true,
            Scope::Group(g) => g == group_id,
            Scope::Nothing => false,
        }
    }

    /// Whether the caller sees a route or a schedule of `group_id` assigned
    /// to `assignee` (None: the whole group).
    pub fn sees_assignment(&self, group_id: &str, assignee: Option<&str>) -> bool {
        self.sees_group(group_id) && assignment_reaches(self.role, &self.id, assignee)
    }
}

/// The rule for routes and schedules: an inspector sees those assigned to
/// them or to the whole group; coordinators and admins all of their
/// group's. (The list queries say the same in SQL: `assignee_id IS NULL OR
/// assignee_id = caller`.)
pub fn assignment_reaches(role: Role, user_id: &str, assignee: Option<&str>) -> bool {
    role != Role::Inspector || assignee.is_none_or(|a| a == user_id)
}

fn bearer(req: &HttpRequest) -> AppResult<String> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AppError::unauthorized("unauthorized", "an access token is required"))?;
    let value = value
        .to_str()
        .map_err(|_| AppError::unauthorized("invalid_token", "malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| AppError::unauthorized("invalid_token", "expected `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AppError::unauthorized(
            "invalid_token",
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
            let row: Option<(String, String, String, Option<String>, bool, i64)> = state
                .db
                .read(move |c| {
                    Ok(users::table
                        .find(&sub)
                        .select((
                            users::id,
                            users::username,
                            users::role,
                            users::group_id,
                            users::active,
                            users::token_stamp,
                        ))
                        .first(c)
                        .optional()?)
                })
                .await?;
            let dead =
                || AppError::unauthorized("invalid_token", "the access token is no longer valid");
            let (id, username, role, group_id, active, stamp) = row.ok_or_else(dead)?;
            if !active || stamp != claims.stamp {
                return Err(dead());
            }
            let role = Role::parse(&role).ok_or_else(dead)?;
            Ok(Caller {
                id,
                username,
                role,
                group_id,
            })
        })
    }
}

/// A caller who must be an admin: refused with 403 before the body is even
/// read, so a non-admin learns nothing from validation errors.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

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
