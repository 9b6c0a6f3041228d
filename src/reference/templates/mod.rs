//! Checklist templates. A version is immutable: an edit makes the next
//! version, and an inspection names the version it was filled against.

mod items;
pub mod xlsform;

pub use items::{
    DEFAULT_SCORE_RANGE, FollowupProposal, Item, ItemKind, MAX_ITEMS, OnFail, check_items, item_at,
    relevance_order, valid_key, walk,
};

use super::{groups, validate};
use crate::auth::{Caller, Scope};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{template_versions as tv, templates};
use crate::error::{AppError, AppResult};
use crate::journal::{self, Entity};
use crate::paging::{Page, PageRequest};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub version: i32,
    /// null: used district-wide.
    pub group_id: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    pub name: String,
    pub group_id: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    pub name: Option<String>,
    /// The whole new list of items (makes a new version).
    pub items: Option<Vec<Item>>,
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub group_id: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A past version; default the current one.
    pub version: Option<i32>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = templates)]
struct Head {
    id: String,
    group_id: Option<String>,
    current_version: i32,
    retired: bool,
}

fn visible(caller: &Caller, group_id: Option<&str>) -> bool {
    match group_id {
        None => caller.scope() != Scope::Nothing,
        Some(g) => caller.sees_group(g),
    }
}

fn head(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Head> {
    templates::table
        .find(id)
        .select(Head::as_select())
        .first(c)
        .optional()?
        .filter(|h| visible(caller, h.group_id.as_deref()))
        .ok_or_else(|| AppError::not_found("template"))
}

fn version(c: &mut Conn, id: &str, v: i32) -> AppResult<Option<(String, String)>> {
    Ok(tv::table
        .find((id, v))
        .select((tv::name, tv::items))
        .first(c)
        .optional()?)
}

fn view(h: &Head, v: i32, name: String, items: &str) -> Template {
    Template {
        id: h.id.clone(),
        name,
        version: v,
        group_id: h.group_id.clone(),
        items: serde_json::from_str(items).unwrap_or_default(),
    }
}

/// A template (retired or not) at a version, for anybody who may see it.
pub fn get(c: &mut Conn, caller: &Caller, id: &str, at: Option<i32>) -> AppResult<Template> {
    let h = head(c, caller, id)?;
    let v = at.unwrap_or(h.current_version);
    let (name, items) =
        version(c, id, v)?.ok_or_else(|| AppError::not_found("template version"))?;
    Ok(view(&h, v, name, &items))
}

/// Every version of a template: (version, name, made at), newest first.
pub fn versions(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
) -> AppResult<Vec<(i32, String, chrono::NaiveDateTime)>> {
    head(c, caller, id)?;
    Ok(tv::table
        .filter(tv::template_id.eq(id))
        .order(tv::version.desc())
        .select((tv::version, tv::name, tv::created_at))
        .load(c)?)
}

/// Current versions of the live templates in scope.
pub fn list(c: &mut Conn, caller: &Caller, page: &PageRequest) -> AppResult<Page<Template>> {
    let mut q = templates::table
        .inner_join(
            tv::table.on(tv::template_id
                .eq(templates::id)
                .and(tv::version.eq(templates::current_version))),
        )
        .filter(templates::retired.eq(false))
        .select((Head::as_select(), tv::name, tv::items))
        .into_boxed();
    match caller.scope() {
        Scope::All => {}
        Scope::Group(g) => {
            q = q.filter(templates::group_id.is_null().or(templates::group_id.eq(g)))
        }
        Scope::Nothing => {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    if let Some(after) = &page.after {
        q = q.filter(templates::id.gt(after));
    }
    let rows: Vec<(Head, String, String)> = q.order(templates::id).limit(page.limit + 1).load(c)?;
    Ok(
        Page::from_rows(rows, page, |r| &r.0.id).map(|(h, name, items)| {
            let v = h.current_version;
            view(&h, v, name, &items)
        }),
    )
}

/// Which template ids, among `ids`, are live and usable by `group_id`
/// (district-wide or that group's).
pub fn usable_by_group(
    c: &mut Conn,
    ids: &[String],
    group_id: &str,
) -> AppResult<HashMap<String, bool>> {
    let rows: Vec<(String, Option<String>, bool)> = templates::table
        .filter(templates::id.eq_any(ids))
        .select((templates::id, templates::group_id, templates::retired))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|(id, g, retired)| {
            let ok = !retired && g.as_deref().is_none_or(|g| g == group_id);
            (id, ok)
        })
        .collect())
}

fn check_group(c: &mut Conn, group_id: Option<&str>) -> AppResult<()> {
    match group_id {
        Some(g) if !groups::exists(c, g)? => Err(AppError::invalid("group_id", "no such group")),
        _ => Ok(()),
    }
}

pub fn create(c: &mut Conn, caller: &Caller, input: NewTemplate) -> AppResult<Template> {
    caller.require_admin()?;
    let name = validate::text("name", &input.name, 200)?;
    let items = check_items(input.items)?;
    check_group(c, input.group_id.as_deref())?;
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(templates::table)
        .values((
            templates::id.eq(&id),
            templates::group_id.eq(&input.group_id),
            templates::current_version.eq(1),
            templates::retired.eq(false),
            templates::created_at.eq(now),
            templates::updated_at.eq(now),
        ))
        .execute(c)?;
    insert_version(c, &id, 1, &name, &items, &caller.id)?;
    journal::admin_change(
        c,
        &caller.id,
        Entity::Template,
        &id,
        "template.create",
        json!({ "name": name, "version": 1 }),
    )?;
    get(c, caller, &id, None)
}

fn insert_version(
    c: &mut Conn,
    id: &str,
    v: i32,
    name: &str,
    items: &[Item],
    by: &str,
) -> AppResult<()> {
    diesel::insert_into(tv::table)
        .values((
            tv::template_id.eq(id),
            tv::version.eq(v),
            tv::name.eq(name),
            tv::items.eq(serde_json::to_string(items)?),
            tv::created_by.eq(by),
            tv::created_at.eq(clock::now()),
        ))
        .execute(c)?;
    Ok(())
}

pub fn update(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    patch: TemplatePatch,
) -> AppResult<Template> {
    caller.require_admin()?;
    let h = head(c, caller, id)?;
    let (old_name, old_items) = version(c, id, h.current_version)?
        .ok_or_else(|| AppError::not_found("template version"))?;
    let old_items: Vec<Item> = serde_json::from_str(&old_items)?;
    let name = match &patch.name {
        Some(n) => validate::text("name", n, 200)?,
        None => old_name.clone(),
    };
    let items = match patch.items.clone() {
        Some(items) => check_items(items)?,
        None => old_items.clone(),
    };
    let group_id = match &patch.group_id {
        Some(g) => {
            check_group(c, g.as_deref())?;
            g.clone()
        }
        None => h.group_id.clone(),
    };
    if group_id != h.group_id {
        match &h.group_id {
            Some(old) => super::users::bump_group(c, old)?,
            // A district-wide checklist narrowed to one group: everybody
            // else loses it.
            None => {
                let others: Vec<String> = crate::db::schema::users::table
                    .filter(crate::db::schema::users::group_id.is_null().or(
                        crate::db::schema::users::group_id.ne(group_id.clone().unwrap_or_default()),
                    ))
                    .select(crate::db::schema::users::id)
                    .load(c)?;
                super::users::bump_scope(c, &others)?;
            }
        }
    }
    let mut v = h.current_version;
    if name != old_name || items != old_items {
        v += 1;
        insert_version(c, id, v, &name, &items, &caller.id)?;
    }
    diesel::update(templates::table.find(id))
        .set((
            templates::current_version.eq(v),
            templates::group_id.eq(&group_id),
            templates::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    journal::admin_change(
        c,
        &caller.id,
        Entity::Template,
        id,
        "template.update",
        json!({ "version": v, "name": patch.name, "items_changed": patch.items.is_some(), "group_id": patch.group_id }),
    )?;
    get(c, caller, id, None)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// true: only read the form and answer what would be saved.
    #[serde(default)]
    pub dry_run: bool,
    /// The group the checklist is for; none: district-wide.
    pub group_id: Option<String>,
    /// The checklist's name; default the form's title.
    pub name: Option<String>,
}

/// A checklist as an import would save it (a dry run: no id or version
/// yet).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedTemplate {
    pub id: Option<String>,
    pub version: Option<i32>,
    pub name: String,
    pub group_id: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Imported {
    pub template: ImportedTemplate,
    /// What the form says that the checklist cannot: never dropped
    /// silently.
    pub unsupported: Vec<xlsform::Unsupported>,
}

/// Reads an XLSForm into a checklist (a pure function of the bytes: run it
/// off the database).
pub fn read_xlsform(
    bytes: &[u8],
    q: &ImportQuery,
) -> AppResult<(NewTemplate, Vec<xlsform::Unsupported>)> {
    let form = xlsform::read(bytes).map_err(|e| AppError::invalid("file", e.0))?;
    let name = q
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or(form.title)
        .unwrap_or_else(|| "导入的检查清单".to_string());
    let items = check_items(form.items)?;
    Ok((
        NewTemplate {
            name: validate::text("name", &name, 200)?,
            group_id: q.group_id.clone(),
            items,
        },
        form.unsupported,
    ))
}

/// An import: checked and answered (a dry run), or saved as a new
/// checklist.
pub fn import(
    c: &mut Conn,
    caller: &Caller,
    new: NewTemplate,
    unsupported: Vec<xlsform::Unsupported>,
    dry_run: bool,
) -> AppResult<Imported> {
    caller.require_admin()?;
    check_group(c, new.group_id.as_deref())?;
    let template = if dry_run {
        ImportedTemplate {
            id: None,
            version: None,
            name: new.name,
            group_id: new.group_id,
            items: new.items,
        }
    } else {
        let t = create(c, caller, new)?;
        ImportedTemplate {
            id: Some(t.id),
            version: Some(t.version),
            name: t.name,
            group_id: t.group_id,
            items: t.items,
        }
    };
    Ok(Imported {
        template,
        unsupported,
    })
}

/// Retires a template: gone from lists and new routes, still readable for
/// the inspections that used it.
pub fn retire(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<()> {
    caller.require_admin()?;
    let h = head(c, caller, id)?;
    if h.retired {
        return Ok(());
    }
    diesel::update(templates::table.find(id))
        .set((
            templates::retired.eq(true),
            templates::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    journal::admin_change(
        c,
        &caller.id,
        Entity::Template,
        id,
        "template.retire",
        json!({}),
    )?;
    Ok(())
}

/// The items of one version, if it exists.
pub fn version_items(c: &mut Conn, id: &str, v: i32) -> AppResult<Option<Vec<Item>>> {
    match version(c, id, v)? {
        Some((_, items)) => Ok(Some(serde_json::from_str(&items)?)),
        None => Ok(None),
    }
}

/// The current version of a checklist that `group_id` may fill (a
/// district-wide one or the group's own; retired ones too, for the
/// inspections started before they were retired).
pub fn current_version_for_group(c: &mut Conn, id: &str, group_id: &str) -> AppResult<Option<i32>> {
    let row: Option<(Option<String>, i32)> = templates::table
        .find(id)
        .select((templates::group_id, templates::current_version))
        .first(c)
        .optional()?;
    Ok(row.and_then(|(g, v)| g.as_deref().is_none_or(|g| g == group_id).then_some(v)))
}

/// Current versions by id, with whether each is retired.
pub fn current_by_ids(c: &mut Conn, ids: &[String]) -> AppResult<Vec<(Template, bool)>> {
    let rows: Vec<(Head, String, String)> = templates::table
        .inner_join(
            tv::table.on(tv::template_id
                .eq(templates::id)
                .and(tv::version.eq(templates::current_version))),
        )
        .filter(templates::id.eq_any(ids))
        .select((Head::as_select(), tv::name, tv::items))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|(h, name, items)| {
            let retired = h.retired;
            let v = h.current_version;
            (view(&h, v, name, &items), retired)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, kind: ItemKind) -> Item {
        Item::plain(key, "标签", kind)
    }

    #[test]
    fn score_gets_an_explicit_range() {
        let out = check_items(vec![item("s", ItemKind::Score)]).unwrap();
        assert_eq!((out[0].min, out[0].max), (Some(0.0), Some(10.0)));
    }

    #[test]
    fn bad_items_are_refused() {
        assert!(check_items(vec![]).is_err());
        assert!(check_items(vec![item("Bad.Key", ItemKind::Text)]).is_err());
        assert!(check_items(vec![item("a", ItemKind::Text), item("a", ItemKind::Number)]).is_err());
        assert!(check_items(vec![item("c", ItemKind::Choice)]).is_err());
        let mut t = item("t", ItemKind::Text);
        t.options = Some(vec!["x".into()]);
        assert!(check_items(vec![t]).is_err());
        let mut n = item("n", ItemKind::Number);
        n.min = Some(5.0);
        n.max = Some(1.0);
        assert!(check_items(vec![n]).is_err());
    }
}
