//! Town liaison groups.

use super::validate;
use crate::auth::{Caller, Scope};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{groups, routes, sites, templates, users};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::journal::{self, Audit, Entity};
use crate::paging::{Page, PageRequest};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub towns: Vec<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = groups)]
struct Row {
    id: String,
    name: String,
    towns: String,
}

impl Row {
    fn view(self) -> Group {
        Group {
            id: self.id,
            name: self.name,
            towns: serde_json::from_str(&self.towns).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
    #[serde(default)]
    pub towns: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub towns: Option<Vec<String>>,
}

fn clean_towns(towns: &[String]) -> AppResult<String> {
    let mut out: Vec<String> = Vec::with_capacity(towns.len());
    for t in towns {
        let t = validate::text("towns", t, 100)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(serde_json::to_string(&out)?)
}

pub fn exists(c: &mut Conn, id: &str) -> AppResult<bool> {
    Ok(groups::table.find(id).count().get_result::<i64>(c)? > 0)
}

pub fn list(c: &mut Conn, caller: &Caller, page: &PageRequest) -> AppResult<Page<Group>> {
    let mut q = groups::table.select(Row::as_select()).into_boxed();
    match caller.scope() {
        Scope::All => {}
        Scope::Group(g) => q = q.filter(groups::id.eq(g)),
        Scope::Nothing => {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    if let Some(after) = &page.after {
        q = q.filter(groups::id.gt(after));
    }
    let rows = q.order(groups::id).limit(page.limit + 1).load(c)?;
    Ok(Page::from_rows(rows, page, |r| &r.id).map(Row::view))
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Group> {
    if !caller.sees_group(id) {
        return Err(AppError::not_found("group"));
    }
    groups::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?
        .map(Row::view)
        .ok_or_else(|| AppError::not_found("group"))
}

pub fn create(c: &mut Conn, caller: &Caller, input: NewGroup) -> AppResult<Group> {
    caller.require_admin()?;
    let name = validate::text("name", &input.name, 100)?;
    let towns = clean_towns(&input.towns)?;
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(groups::table)
        .values((
            groups::id.eq(&id),
            groups::name.eq(&name),
            groups::towns.eq(&towns),
            groups::created_at.eq(now),
            groups::updated_at.eq(now),
        ))
        .execute(c)?;
    journal::admin_change(
        c,
        &caller.id,
        Entity::Group,
        &id,
        "group.create",
        json!({ "name": name }),
    )?;
    get(c, caller, &id)
}

pub fn update(c: &mut Conn, caller: &Caller, id: &str, patch: GroupPatch) -> AppResult<Group> {
    caller.require_admin()?;
    get(c, caller, id)?;
    let name = patch
        .name
        .as_deref()
        .map(|n| validate::text("name", n, 100))
        .transpose()?;
    let towns = patch.towns.as_deref().map(clean_towns).transpose()?;
    diesel::update(groups::table.find(id))
        .set((
            name.as_ref().map(|n| groups::name.eq(n)),
            towns.as_ref().map(|t| groups::towns.eq(t)),
            groups::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    journal::admin_change(
        c,
        &caller.id,
        Entity::Group,
        id,
        "group.update",
        json!({ "name": name, "towns": patch.towns }),
    )?;
    get(c, caller, id)
}

/// Only an empty group can go: its people, sites, checklists and routes
/// would otherwise lose their home.
pub fn delete(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<()> {
    caller.require_admin()?;
    get(c, caller, id)?;
    let used = users::table
        .filter(users::group_id.eq(id))
        .count()
        .get_result::<i64>(c)?
        + sites::table
            .filter(sites::group_id.eq(id))
            .count()
            .get_result::<i64>(c)?
        + templates::table
            .filter(templates::group_id.eq(id))
            .count()
            .get_result::<i64>(c)?
        + routes::table
            .filter(routes::group_id.eq(id))
            .count()
            .get_result::<i64>(c)?;
    if used > 0 {
        return Err(AppError::conflict(
            ErrorCode::InUse,
            "the group still has users, sites, checklists or routes",
        ));
    }
    diesel::delete(groups::table.find(id)).execute(c)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "group.delete",
            object_type: "group",
            object_id: Some(id),
            details: json!({}),
        },
    )?;
    Ok(())
}

/// A group named by id or by name (for the command line).
pub fn resolve(c: &mut Conn, id_or_name: &str) -> AppResult<String> {
    groups::table
        .filter(groups::id.eq(id_or_name).or(groups::name.eq(id_or_name)))
        .select(groups::id)
        .first(c)
        .optional()?
        .ok_or_else(|| AppError::invalid("group", "no group with this id or name"))
}

pub fn by_ids(c: &mut Conn, ids: &[String]) -> AppResult<Vec<Group>> {
    Ok(groups::table
        .filter(groups::id.eq_any(ids))
        .select(Row::as_select())
        .load(c)?
        .into_iter()
        .map(Row::view)
        .collect())
}

/// Every group as (id, name), by name: for the console's selects.
pub fn names(c: &mut Conn) -> AppResult<Vec<(String, String)>> {
    Ok(groups::table
        .order(groups::name)
        .select((groups::id, groups::name))
        .load(c)?)
}
