//! Departments: the district bureaus a follow-up is handed to (the
//! environment bureau, the housing bureau, ...). Admins keep the list; a
//! department is deactivated, never deleted, so the follow-ups it had keep
//! its name. Anyone signed in may read the list (it names offices, not
//! people).

use super::validate;
use crate::auth::{Caller, Scope};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::departments;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::journal::{self, Audit};
use crate::paging::{Page, PageRequest};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = departments)]
pub struct Department {
    pub id: String,
    pub name: String,
    /// An inactive department is offered for no new follow-up; its old
    /// ones keep it.
    pub active: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    pub name: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
}

fn signed_in(caller: &Caller) -> AppResult<()> {
    // Every role reads the list (a responder too: the bureaus they hand
    // work on to); an account that sees nothing else, nothing.
    if caller.scope() == Scope::Nothing && caller.department_id.is_none() {
        return Err(AppError::not_found("department"));
    }
    Ok(())
}

pub fn list(c: &mut Conn, caller: &Caller, page: &PageRequest) -> AppResult<Page<Department>> {
    signed_in(caller)?;
    let mut q = departments::table
        .select(Department::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(departments::id.gt(after));
    }
    let rows = q.order(departments::id).limit(page.limit + 1).load(c)?;
    Ok(Page::from_rows(rows, page, |d| &d.id))
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Department> {
    signed_in(caller)?;
    find(c, id)?.ok_or_else(|| AppError::not_found("department"))
}

pub fn find(c: &mut Conn, id: &str) -> AppResult<Option<Department>> {
    Ok(departments::table
        .find(id)
        .select(Department::as_select())
        .first(c)
        .optional()?)
}

fn name_taken(c: &mut Conn, name: &str, other_than: Option<&str>) -> AppResult<bool> {
    let mut q = departments::table
        .filter(departments::name.eq(name))
        .into_boxed();
    if let Some(id) = other_than {
        q = q.filter(departments::id.ne(id));
    }
    Ok(q.count().get_result::<i64>(c)? > 0)
}

fn taken() -> AppError {
    AppError::conflict(ErrorCode::AlreadyExists, "another department has this name")
        .with_details(json!({ "field": "name", "reason": "another department has this name" }))
}

fn insert(c: &mut Conn, name: &str) -> AppResult<String> {
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(departments::table)
        .values((
            departments::id.eq(&id),
            departments::name.eq(name),
            departments::active.eq(true),
            departments::created_at.eq(now),
            departments::updated_at.eq(now),
        ))
        .execute(c)?;
    Ok(id)
}

pub fn create(c: &mut Conn, caller: &Caller, input: NewDepartment) -> AppResult<Department> {
    caller.require_admin()?;
    let name = validate::text("name", &input.name, 100)?;
    if name_taken(c, &name, None)? {
        return Err(taken());
    }
    let id = insert(c, &name)?;
    audit(c, caller, "department.create", &id, json!({ "name": name }))?;
    get(c, caller, &id)
}

pub fn update(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    patch: DepartmentPatch,
) -> AppResult<Department> {
    caller.require_admin()?;
    get(c, caller, id)?;
    let name = patch
        .name
        .as_deref()
        .map(|n| validate::text("name", n, 100))
        .transpose()?;
    if let Some(n) = &name
        && name_taken(c, n, Some(id))?
    {
        return Err(taken());
    }
    diesel::update(departments::table.find(id))
        .set((
            name.as_ref().map(|n| departments::name.eq(n)),
            patch.active.map(|a| departments::active.eq(a)),
            departments::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    audit(
        c,
        caller,
        "department.update",
        id,
        json!({ "name": name, "active": patch.active }),
    )?;
    get(c, caller, id)
}

fn audit(
    c: &mut Conn,
    caller: &Caller,
    action: &str,
    id: &str,
    details: serde_json::Value,
) -> AppResult<()> {
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action,
            object_type: "department",
            object_id: Some(id),
            details,
        },
    )
}

/// The department a follow-up names: by id (an active one), or, for a
/// client that sends only a name (as before departments were records), the
/// department of that name, made when there is none yet. Returns its id
/// and name; [`UNASSIGNED`] names none yet (no id).
pub fn for_followup(
    c: &mut Conn,
    id: Option<&str>,
    name: Option<&str>,
) -> AppResult<(Option<String>, String)> {
    if let Some(id) = id {
        return match find(c, id)? {
            Some(d) if d.active => Ok((Some(d.id), d.name)),
            _ => Err(AppError::invalid(
                "department_id",
                "must be an active department",
            )),
        };
    }
    let name = validate::text("department", name.unwrap_or_default(), 100)?;
    if name == UNASSIGNED {
        return Ok((None, name));
    }
    let found: Option<String> = departments::table
        .filter(departments::name.eq(&name))
        .select(departments::id)
        .first(c)
        .optional()?;
    let id = match found {
        Some(id) => id,
        None => insert(c, &name)?,
    };
    Ok((Some(id), name))
}

/// The department of a follow-up whose department is still to be chosen
/// (a failed item's proposal that names none).
pub const UNASSIGNED: &str = "待指定";

/// Every department as (id, name), by name, a stopped one marked: for a
/// select that must show a user's department even when stopped.
pub fn all_names(c: &mut Conn) -> AppResult<Vec<(String, String)>> {
    Ok(departments::table
        .order((departments::active.desc(), departments::name))
        .select((departments::id, departments::name, departments::active))
        .load::<(String, String, bool)>(c)?
        .into_iter()
        .map(|(id, name, active)| {
            (
                id,
                if active {
                    name
                } else {
                    format!("{name}(已停用)")
                },
            )
        })
        .collect())
}

/// Every active department as (id, name), by name: for the pages' selects.
pub fn names(c: &mut Conn) -> AppResult<Vec<(String, String)>> {
    Ok(departments::table
        .filter(departments::active.eq(true))
        .order(departments::name)
        .select((departments::id, departments::name))
        .load(c)?)
}
