//! People: inspectors, coordinators and admins.

use super::{groups, validate};
use crate::auth::{Caller, Role, Scope, password, refresh};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::users;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::journal::{self, Audit};
use crate::paging::{Page, PageRequest};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub group_id: Option<String>,
    /// The department the user also works for (any role may).
    pub department_id: Option<String>,
    pub active: bool,
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = users)]
pub struct Row {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub group_id: Option<String>,
    pub password_hash: String,
    pub active: bool,
    pub token_stamp: i64,
    pub department_id: Option<String>,
}

impl Row {
    pub fn view(self) -> User {
        User {
            role: Role::parse(&self.role).unwrap_or(Role::Inspector),
            id: self.id,
            username: self.username,
            display_name: self.display_name,
            group_id: self.group_id,
            department_id: self.department_id,
            active: self.active,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    /// Defaults to the user name.
    pub display_name: Option<String>,
    pub role: Role,
    pub group_id: Option<String>,
    /// The department the user also works for, if any.
    #[serde(default)]
    pub department_id: Option<String>,
    pub password: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    /// `null` takes the user out of any group.
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub group_id: Option<Option<String>>,
    /// `null` takes the user out of their department.
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub department_id: Option<Option<String>>,
    /// `false` deactivates: the user's tokens stop working at once.
    pub active: Option<bool>,
    /// A new password; the user's sessions end.
    pub password: Option<String>,
}

/// Which roles may (or must) belong to a group or a department.
pub fn check_role_group(
    role: Role,
    group_id: Option<&str>,
    department_id: Option<&str>,
) -> AppResult<()> {
    match (role, group_id, department_id) {
        (Role::Responder, Some(_), _) => Err(AppError::invalid(
            "group_id",
            "a responder works for a department, not a liaison group",
        )),
        (Role::Responder, None, None) => Err(AppError::invalid(
            "department_id",
            "a responder belongs to a department",
        )),
        (role, group_id, _) => check_group_of(role, group_id),
    }
}

fn check_group_of(role: Role, group_id: Option<&str>) -> AppResult<()> {
    match (role, group_id) {
        (Role::Inspector, None) => Err(AppError::invalid(
            "group_id",
            "an inspector belongs to a liaison group",
        )),
        (Role::Admin, Some(_)) => Err(AppError::invalid(
            "group_id",
            "an admin is district-wide and has no group",
        )),
        _ => Ok(()),
    }
}

pub fn username(value: &str) -> AppResult<String> {
    let v = validate::text("username", value, 64)?;
    if v.chars().any(char::is_whitespace) {
        return Err(AppError::invalid("username", "must not contain spaces"));
    }
    Ok(v)
}

pub fn find_by_username(c: &mut Conn, name: &str) -> AppResult<Option<Row>> {
    Ok(users::table
        .filter(users::username.eq(name))
        .select(Row::as_select())
        .first(c)
        .optional()?)
}

pub fn find(c: &mut Conn, id: &str) -> AppResult<Option<Row>> {
    Ok(users::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?)
}

/// Users a caller may see: admins all, coordinators their group's (or all
/// when district-wide), inspectors only themselves.
fn visible(caller: &Caller, row: &Row) -> bool {
    match caller.role {
        r if r.sees_only_self() => row.id == caller.id,
        _ => match (caller.scope(), &row.group_id) {
            (Scope::All, _) => true,
            (Scope::Group(g), Some(rg)) => &g == rg,
            _ => false,
        },
    }
}

pub fn list(c: &mut Conn, caller: &Caller, page: &PageRequest) -> AppResult<Page<User>> {
    let mut q = users::table.select(Row::as_select()).into_boxed();
    match (caller.role, caller.scope()) {
        (r, _) if r.sees_only_self() => q = q.filter(users::id.eq(caller.id.clone())),
        (_, Scope::All) => {}
        (_, Scope::Group(g)) => q = q.filter(users::group_id.eq(g)),
        (_, Scope::Nothing) => {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    if let Some(after) = &page.after {
        q = q.filter(users::id.gt(after));
    }
    let rows = q.order(users::id).limit(page.limit + 1).load(c)?;
    Ok(Page::from_rows(rows, page, |r| &r.id).map(Row::view))
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<User> {
    find(c, id)?
        .filter(|r| visible(caller, r))
        .map(Row::view)
        .ok_or_else(|| AppError::not_found("user"))
}

/// A department a user is put in must be one in use.
fn check_department(c: &mut Conn, id: Option<&str>) -> AppResult<()> {
    if let Some(d) = id
        && !super::departments::find(c, d)?.is_some_and(|d| d.active)
    {
        return Err(AppError::invalid(
            "department_id",
            "must be an active department",
        ));
    }
    Ok(())
}

fn check_group(c: &mut Conn, group_id: Option<&str>) -> AppResult<()> {
    if let Some(g) = group_id
        && !groups::exists(c, g)?
    {
        return Err(AppError::invalid("group_id", "no such group"));
    }
    Ok(())
}

/// Creates a user. `actor` is None for the command line and the first
/// admin made at start.
pub fn insert(
    c: &mut Conn,
    actor: Option<&Caller>,
    input: NewUser,
    password_hash: String,
) -> AppResult<User> {
    let name = username(&input.username)?;
    let display = match input.display_name.as_deref() {
        Some(d) => validate::text("display_name", d, 100)?,
        None => name.clone(),
    };
    check_role_group(
        input.role,
        input.group_id.as_deref(),
        input.department_id.as_deref(),
    )?;
    check_group(c, input.group_id.as_deref())?;
    check_department(c, input.department_id.as_deref())?;
    if find_by_username(c, &name)?.is_some() {
        return Err(
            AppError::conflict(ErrorCode::AlreadyExists, "the user name is taken")
                .with_details(json!({ "field": "username" })),
        );
    }
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::username.eq(&name),
            users::display_name.eq(&display),
            users::role.eq(input.role.as_str()),
            users::group_id.eq(&input.group_id),
            users::department_id.eq(&input.department_id),
            users::password_hash.eq(&password_hash),
            users::active.eq(true),
            users::token_stamp.eq(0),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(c)?;
    journal::audit(
        c,
        Audit {
            actor_id: actor.map(|a| a.id.as_str()),
            action: "user.create",
            object_type: "user",
            object_id: Some(&id),
            details: json!({ "username": name, "role": input.role, "group_id": input.group_id, "department_id": input.department_id }),
        },
    )?;
    find(c, &id)?
        .map(Row::view)
        .ok_or_else(|| AppError::not_found("user"))
}

fn active_admins(c: &mut Conn) -> AppResult<i64> {
    Ok(users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::active.eq(true))
        .count()
        .get_result(c)?)
}

/// Applies a patch. `new_hash` is the hash of `patch.password`, made by the
/// caller off this transaction (hashing is slow on purpose).
pub fn update(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    patch: UserPatch,
    new_hash: Option<String>,
) -> AppResult<User> {
    caller.require_admin()?;
    let row = find(c, id)?.ok_or_else(|| AppError::not_found("user"))?;
    let display = patch
        .display_name
        .as_deref()
        .map(|d| validate::text("display_name", d, 100))
        .transpose()?;
    let old_role = Role::parse(&row.role).unwrap_or(Role::Inspector);
    let role = patch.role.unwrap_or(old_role);
    let group_id = match &patch.group_id {
        Some(g) => g.clone(),
        None if matches!(role, Role::Admin | Role::Responder) => None,
        None => row.group_id.clone(),
    };
    let department_id = match &patch.department_id {
        Some(d) => {
            if d != &row.department_id {
                check_department(c, d.as_deref())?;
            }
            d.clone()
        }
        None => row.department_id.clone(),
    };
    check_role_group(role, group_id.as_deref(), department_id.as_deref())?;
    check_group(c, group_id.as_deref())?;
    let active = patch.active.unwrap_or(row.active);
    let revoke = !active && row.active || new_hash.is_some();

    diesel::update(users::table.find(id))
        .set((
            display.as_ref().map(|d| users::display_name.eq(d)),
            users::role.eq(role.as_str()),
            users::group_id.eq(&group_id),
            users::department_id.eq(&department_id),
            users::active.eq(active),
            new_hash.as_ref().map(|h| users::password_hash.eq(h)),
            // A new role ends every session and access token as well
            // (they name the role); refresh tokens still renew them.
            users::token_stamp.eq(if revoke || role != old_role {
                row.token_stamp + 1
            } else {
                row.token_stamp
            }),
            users::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    if row.role == Role::Admin.as_str() && active_admins(c)? == 0 {
        return Err(AppError::conflict(
            ErrorCode::LastAdmin,
            "the district must keep at least one active admin",
        ));
    }
    if revoke {
        refresh::revoke_user(c, id)?;
    }
    // What a user may see follows their group and (for the follow-ups
    // handed to it) their department: a phone pulls afresh after either.
    if role != old_role || group_id != row.group_id || department_id != row.department_id {
        bump_scope(c, &[id.to_string()])?;
    }
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "user.update",
            object_type: "user",
            object_id: Some(id),
            details: json!({
                "display_name": display,
                "role": patch.role,
                "group_id": patch.group_id,
                "department_id": patch.department_id,
                "active": patch.active,
                "password_changed": new_hash.is_some(),
            }),
        },
    )?;
    get(c, caller, id)
}

/// Validates a new password and hashes it (slow; run off the executor).
pub fn hash_new_password(p: &str) -> AppResult<String> {
    password::check_policy(p)?;
    password::hash(p)
}

/// Makes the sync cursors of these users answer `reset`: what they may
/// pull has shrunk, so their phones must drop what they hold and start over.
pub fn bump_scope(c: &mut Conn, ids: &[String]) -> AppResult<()> {
    if !ids.is_empty() {
        diesel::update(users::table.filter(users::id.eq_any(ids)))
            .set(users::scope_epoch.eq(users::scope_epoch + 1))
            .execute(c)?;
    }
    Ok(())
}

/// The members of a group, as `(id, role)`.
pub fn members(c: &mut Conn, group_id: &str) -> AppResult<Vec<(String, Role)>> {
    Ok(users::table
        .filter(users::group_id.eq(group_id))
        .select((users::id, users::role))
        .load::<(String, String)>(c)?
        .into_iter()
        .map(|(id, r)| (id, Role::parse(&r).unwrap_or(Role::Inspector)))
        .collect())
}

/// Whether the user belongs to `group_id` now or ever did (their creation
/// and every change of their group are in the audit log). A phone's
/// offline work on a route of the group its inspector has since left is
/// still theirs to hand in.
pub fn was_member(c: &mut Conn, user_id: &str, group_id: &str) -> AppResult<bool> {
    let now: Option<Option<String>> = users::table
        .find(user_id)
        .select(users::group_id)
        .first(c)
        .optional()?;
    if now.flatten().as_deref() == Some(group_id) {
        return Ok(true);
    }
    journal::was_in_group(c, "user", user_id, group_id)
}

/// Everybody who loses sight of an object that moves out of `group_id`.
pub fn bump_group(c: &mut Conn, group_id: &str) -> AppResult<()> {
    let ids: Vec<String> = members(c, group_id)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    bump_scope(c, &ids)
}

/// Users' display names by id, whoever asks (for the people named on what
/// the caller already sees).
pub fn display_names(
    c: &mut Conn,
    ids: &[&str],
) -> AppResult<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        out.extend(
            users::table
                .filter(users::id.eq_any(chunk))
                .select((users::id, users::display_name))
                .load::<(String, String)>(c)?,
        );
    }
    Ok(out)
}

/// A group's active inspectors, by display name: (id, display name).
pub fn active_inspectors(c: &mut Conn, group_id: &str) -> AppResult<Vec<(String, String)>> {
    Ok(users::table
        .filter(users::group_id.eq(group_id))
        .filter(users::role.eq(Role::Inspector.as_str()))
        .filter(users::active.eq(true))
        .order(users::display_name)
        .select((users::id, users::display_name))
        .load(c)?)
}
