//! The signed-in caller, and the scope rules that follow from their role.

use crate::db::schema::users;
use crate::error::{AppError, AppResult};
use crate::ids::{DepartmentId, GroupId, UserId};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Inspector,
    Coordinator,
    Admin,
    /// A district bureau's member: their department's follow-ups only.
    Responder,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inspector => "inspector",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
            Role::Responder => "responder",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "inspector" => Some(Role::Inspector),
            "coordinator" => Some(Role::Coordinator),
            "admin" => Some(Role::Admin),
            "responder" => Some(Role::Responder),
            _ => None,
        }
    }

    /// Coordinators and admins: who review records and manage follow-ups.
    pub fn reviews(self) -> bool {
        matches!(self, Role::Coordinator | Role::Admin)
    }

    /// Inspectors and responders see themselves among the users and,
    /// of what is assigned, only what is assigned to them.
    pub fn sees_only_self(self) -> bool {
        !self.reviews()
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
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub group_id: Option<GroupId>,
    /// The department the caller works for: a responder always, any other
    /// role when they also belong to one. It adds the responder's rights
    /// over that department's follow-ups.
    pub department_id: Option<DepartmentId>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Coordinators and admins: who review, manage follow-ups and see the
    /// district's devices. `what` says what the caller tried (for the
    /// message of the 403).
    pub fn require_reviewer(&self, what: &str) -> AppResult<()> {
        if !self.role.reviews() {
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
            // A responder sees no group's sites, routes or records: only
            // their department's follow-ups (`review::followups`).
            (Role::Responder, _) => Scope::Nothing,
            (_, Some(g)) => Scope::Group(g.to_string()),
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

    /// A user as a caller, with whether they are active and their token
    /// stamp (a token of an older stamp is dead); `None`: no such user, or
    /// a role this server does not know.
    pub fn load(c: &mut crate::db::Conn, id: &str) -> AppResult<Option<(Caller, bool, i64)>> {
        type Loaded = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            bool,
            i64,
        );
        let row: Option<Loaded> = users::table
            .find(id)
            .select((
                users::id,
                users::username,
                users::role,
                users::group_id,
                users::department_id,
                users::active,
                users::token_stamp,
            ))
            .first(c)
            .optional()?;
        Ok(row.and_then(
            |(id, username, role, group_id, department_id, active, stamp)| {
                let role = Role::parse(&role)?;
                Some((
                    Caller {
                        id: UserId::new(id),
                        username,
                        role,
                        group_id: group_id.map(GroupId::new),
                        department_id: department_id.map(DepartmentId::new),
                    },
                    active,
                    stamp,
                ))
            },
        ))
    }

    /// Whether the caller sees a photo of record `inspection_id` through a
    /// follow-up handed to their department: a response's evidence when the
    /// response's follow-up is theirs, a record's own photo when any
    /// follow-up of the record is. (The follow-up's own rule, in
    /// `review::followups`, lets the department see the follow-up; this is
    /// the same rule for the media it shows.)
    pub fn department_sees_photo(
        &self,
        c: &mut crate::db::Conn,
        inspection_id: &str,
        response_id: Option<&str>,
    ) -> crate::error::AppResult<bool> {
        use crate::db::schema::{followup_responses as fr, followups as fu};
        use diesel::prelude::*;
        let Some(dept) = self.department_id.as_deref() else {
            return Ok(false);
        };
        let n: i64 = match response_id {
            Some(r) => fr::table
                .inner_join(fu::table)
                .filter(fr::id.eq(r))
                .filter(fu::department_id.eq(dept))
                .count()
                .get_result(c)?,
            None => fu::table
                .filter(fu::inspection_id.eq(inspection_id))
                .filter(fu::department_id.eq(dept))
                .count()
                .get_result(c)?,
        };
        Ok(n > 0)
    }

    /// Whether the caller acts for department `id` (a responder's rights).
    pub fn in_department(&self, id: Option<&str>) -> bool {
        id.is_some_and(|d| self.department_id.as_deref() == Some(d))
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
    role.reviews() || assignee.is_none_or(|a| a == user_id)
}

/// A caller who must be an admin: refused with 403 before the body is even
/// read, so a non-admin learns nothing from validation errors.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);
