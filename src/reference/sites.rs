//! Places inspected: river sections and outfalls, enterprises, workshops,
//! forest patrol points, quarantine sites.

use super::{groups, validate};
use crate::auth::{Caller, Scope};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::sites;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::journal::{self, Entity};
use crate::paging::{Page, PageRequest};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// The largest radius a site may have: a river section can be long, but a
/// site is still one place.
pub const MAX_RADIUS_M: f64 = 50_000.0;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Site {
    pub id: String,
    pub group_id: String,
    pub name: String,
    /// Free text; the demo uses `river_section`, `outfall`, `enterprise`,
    /// `workshop`, `forest_patrol`, `quarantine_site`.
    pub kind: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    /// The district's own code for the site (from its spreadsheet): unique,
    /// what a re-import matches on. null: none given.
    pub code: Option<String>,
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = sites)]
pub struct Row {
    pub id: String,
    pub group_id: String,
    pub name: String,
    pub kind: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    pub deleted: bool,
    pub code: Option<String>,
}

impl Row {
    pub fn view(self) -> Site {
        Site {
            id: self.id,
            group_id: self.group_id,
            name: self.name,
            kind: self.kind,
            address: self.address,
            lat: self.lat,
            lon: self.lon,
            radius_m: self.radius_m,
            code: self.code,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub group_id: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    pub group_id: Option<String>,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub radius_m: Option<f64>,
    /// An empty string removes the code.
    pub code: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteFilter {
    pub group_id: Option<String>,
    pub kind: Option<String>,
    /// Part of the name, address or code.
    pub q: Option<String>,
}

/// A site code: trimmed, at most 64 characters; empty is none.
pub fn code(v: Option<&str>) -> AppResult<Option<String>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) => validate::text("code", c, 64).map(Some),
    }
}

/// A code another site already has is refused before the unique index
/// would answer with a 500.
fn check_code_free(c: &mut Conn, code: Option<&str>, except: Option<&str>) -> AppResult<()> {
    let Some(code) = code else { return Ok(()) };
    let holder: Option<String> = sites::table
        .filter(sites::code.eq(code))
        .select(sites::id)
        .first(c)
        .optional()?;
    match holder {
        Some(h) if Some(h.as_str()) != except => Err(AppError::conflict(
            ErrorCode::AlreadyExists,
            format!("another site has the code {code}"),
        )
        .with_details(json!({ "field": "code" }))),
        _ => Ok(()),
    }
}

/// The kinds of site the district uses, with their names on screen and in
/// spreadsheets. `kind` stays free text: other kinds are kept as given.
pub const KINDS: [(&str, &str); 7] = [
    ("river_section", "河段"),
    ("outfall", "排污口"),
    ("enterprise", "企业"),
    ("workshop", "作坊"),
    ("forest_patrol", "护林点"),
    ("quarantine_site", "隔离点"),
    ("other", "其他"),
];

/// A kind's Chinese name (an unknown kind is shown as it is).
pub fn kind_label(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(kind, |(_, l)| l)
}

/// A kind as a spreadsheet may give it: the code or its Chinese name.
pub fn kind_from_text(text: &str) -> String {
    let t = text.trim();
    KINDS
        .iter()
        .find(|(k, l)| t.eq_ignore_ascii_case(k) || t == *l)
        .map_or_else(|| t.to_string(), |(k, _)| (*k).to_string())
}

pub fn radius(v: f64) -> AppResult<f64> {
    if v.is_finite() && v > 0.0 && v <= MAX_RADIUS_M {
        Ok(v)
    } else {
        Err(AppError::invalid(
            "radius_m",
            format!("must be positive and at most {MAX_RADIUS_M}"),
        ))
    }
}

/// A live site the caller may see, or 404.
pub fn find_visible(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Row> {
    sites::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?
        .filter(|r| !r.deleted && caller.sees_group(&r.group_id))
        .ok_or_else(|| AppError::not_found("site"))
}

pub fn list(
    c: &mut Conn,
    caller: &Caller,
    filter: &SiteFilter,
    page: &PageRequest,
) -> AppResult<Page<Site>> {
    let mut q = sites::table
        .select(Row::as_select())
        .filter(sites::deleted.eq(false))
        .into_boxed();
    match caller.scope() {
        Scope::All => {}
        Scope::Group(g) => q = q.filter(sites::group_id.eq(g)),
        Scope::Nothing => {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    if let Some(g) = &filter.group_id {
        q = q.filter(sites::group_id.eq(g.clone()));
    }
    if let Some(k) = filter.kind.as_ref().filter(|k| !k.is_empty()) {
        q = q.filter(sites::kind.eq(k.clone()));
    }
    if let Some(text) = filter.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let like = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        q = q.filter(
            sites::name
                .like(like.clone())
                .escape('\\')
                .or(sites::address.like(like.clone()).escape('\\'))
                .or(sites::code.like(like).escape('\\')),
        );
    }
    if let Some(after) = &page.after {
        q = q.filter(sites::id.gt(after));
    }
    let rows = q.order(sites::id).limit(page.limit + 1).load(c)?;
    Ok(Page::from_rows(rows, page, |r| &r.id).map(Row::view))
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Site> {
    find_visible(c, caller, id).map(Row::view)
}

fn check_group(c: &mut Conn, group_id: &str) -> AppResult<()> {
    if groups::exists(c, group_id)? {
        Ok(())
    } else {
        Err(AppError::invalid("group_id", "no such group"))
    }
}

pub fn create(c: &mut Conn, caller: &Caller, input: NewSite) -> AppResult<Site> {
    caller.require_admin()?;
    let name = validate::text("name", &input.name, 200)?;
    let kind = validate::text("kind", &input.kind, 64)?;
    let address = validate::optional_text("address", &input.address, 500)?;
    let lat = validate::latitude("lat", input.lat)?;
    let lon = validate::longitude("lon", input.lon)?;
    let radius_m = radius(input.radius_m)?;
    let code = code(input.code.as_deref())?;
    check_group(c, &input.group_id)?;
    check_code_free(c, code.as_deref(), None)?;
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(sites::table)
        .values((
            sites::id.eq(&id),
            sites::group_id.eq(&input.group_id),
            sites::name.eq(&name),
            sites::kind.eq(&kind),
            sites::address.eq(&address),
            sites::lat.eq(lat),
            sites::lon.eq(lon),
            sites::radius_m.eq(radius_m),
            sites::code.eq(&code),
            sites::deleted.eq(false),
            sites::created_at.eq(now),
            sites::updated_at.eq(now),
        ))
        .execute(c)?;
    journal::admin_change(
        c,
        &caller.id,
        Entity::Site,
        &id,
        "site.create",
        json!({ "name": name, "group_id": input.group_id }),
    )?;
    get(c, caller, &id)
}

pub fn update(c: &mut Conn, caller: &Caller, id: &str, patch: SitePatch) -> AppResult<Site> {
    caller.require_admin()?;
    let old = find_visible(c, caller, id)?;
    if let Some(g) = &patch.group_id {
        check_group(c, g)?;
    }
    let name = patch
        .name
        .as_deref()
        .map(|v| validate::text("name", v, 200))
        .transpose()?;
    let kind = patch
        .kind
        .as_deref()
        .map(|v| validate::text("kind", v, 64))
        .transpose()?;
    let address = patch
        .address
        .as_deref()
        .map(|v| validate::optional_text("address", v, 500))
        .transpose()?;
    let lat = patch
        .lat
        .map(|v| validate::latitude("lat", v))
        .transpose()?;
    let lon = patch
        .lon
        .map(|v| validate::longitude("lon", v))
        .transpose()?;
    let radius_m = patch.radius_m.map(radius).transpose()?;
    let new_code = patch.code.as_deref().map(|v| code(Some(v))).transpose()?;
    if let Some(c2) = &new_code {
        check_code_free(c, c2.as_deref(), Some(id))?;
    }
    diesel::update(sites::table.find(id))
        .set((
            patch.group_id.as_ref().map(|g| sites::group_id.eq(g)),
            name.as_ref().map(|v| sites::name.eq(v)),
            kind.as_ref().map(|v| sites::kind.eq(v)),
            address.as_ref().map(|v| sites::address.eq(v)),
            lat.map(|v| sites::lat.eq(v)),
            lon.map(|v| sites::lon.eq(v)),
            radius_m.map(|v| sites::radius_m.eq(v)),
            new_code.as_ref().map(|v| sites::code.eq(v)),
            sites::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    if patch.group_id.as_ref().is_some_and(|g| *g != old.group_id) {
        super::users::bump_group(c, &old.group_id)?;
    }
    journal::admin_change(
        c,
        &caller.id,
        Entity::Site,
        id,
        "site.update",
        serde_json::to_value(&patch)?,
    )?;
    get(c, caller, id)
}

/// A site is never removed: old inspections point at it. It is hidden.
pub fn delete(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<()> {
    caller.require_admin()?;
    find_visible(c, caller, id)?;
    diesel::update(sites::table.find(id))
        .set((sites::deleted.eq(true), sites::updated_at.eq(clock::now())))
        .execute(c)?;
    journal::admin_change(c, &caller.id, Entity::Site, id, "site.delete", json!({}))?;
    Ok(())
}

/// Brings a hidden site back (an import names it again).
pub fn restore(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<()> {
    caller.require_admin()?;
    diesel::update(sites::table.find(id))
        .set((sites::deleted.eq(false), sites::updated_at.eq(clock::now())))
        .execute(c)?;
    journal::admin_change(c, &caller.id, Entity::Site, id, "site.restore", json!({}))
}

/// Rows by id, deleted ones included (pull hands those out as tombstones).
pub fn rows_by_ids(c: &mut Conn, ids: &[String]) -> AppResult<Vec<Row>> {
    Ok(sites::table
        .filter(sites::id.eq_any(ids))
        .select(Row::as_select())
        .load(c)?)
}

/// A site's group and whether it is deleted, whoever asks (a push files
/// offline work by it; the caller's scope is checked there).
pub fn group_of(c: &mut Conn, id: &str) -> AppResult<Option<(String, bool)>> {
    Ok(sites::table
        .find(id)
        .select((sites::group_id, sites::deleted))
        .first(c)
        .optional()?)
}

/// Sites' names by id, whoever asks (for rows the caller already sees).
pub fn names(c: &mut Conn, ids: &[&str]) -> AppResult<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        out.extend(
            sites::table
                .filter(sites::id.eq_any(chunk))
                .select((sites::id, sites::name))
                .load::<(String, String)>(c)?,
        );
    }
    Ok(out)
}

/// A site's name, position and radius, whoever asks (for a record the
/// caller already sees).
pub fn place(c: &mut Conn, id: &str) -> AppResult<Option<(String, f64, f64, f64)>> {
    Ok(sites::table
        .find(id)
        .select((sites::name, sites::lat, sites::lon, sites::radius_m))
        .first(c)
        .optional()?)
}
