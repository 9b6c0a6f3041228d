//! Sites in and out of spreadsheets: a district keeps its sites in a
//! workbook, saved as CSV (UTF-8 with or without BOM, or GBK as Excel in
//! China saves it) or as GeoJSON from a GIS. An import is checked row by
//! row first (a preview with every row's errors), and written only whole:
//! one bad row writes nothing. A row names its site by `id` (as exported)
//! or by the district's site code, so importing the same file again
//! updates instead of duplicating.

mod read;

use read::{Col, Raw, read_file};
pub use read::{count_rows, decode};

use super::groups;
use super::sites::{self, NewSite, Site, SiteFilter, SitePatch};
use super::validate;
use crate::auth::Caller;
use crate::db::Conn;
use crate::db::schema::{groups as groups_t, sites as sites_t};
use crate::error::{AppError, AppResult};
use crate::paging::PageQuery;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use utoipa::{IntoParams, ToSchema};

/// Most rows one import may have.
pub const MAX_ROWS: usize = 20_000;
/// The radius a row without one gets.
pub const DEFAULT_RADIUS_M: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Error,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RowError {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportRow {
    /// The row's line in the CSV (the header is line 1), or the feature's
    /// position (from 1) in a GeoJSON file.
    pub line: usize,
    pub code: Option<String>,
    pub name: String,
    pub action: Action,
    /// The site it creates or updates (after an applied import).
    pub site_id: Option<String>,
    pub errors: Vec<RowError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// True when the import was written.
    pub applied: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Rows with errors: while there is one, nothing is written.
    pub errors: usize,
    pub rows: Vec<ImportRow>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check and report only (the preview). Default false.
    pub dry_run: Option<bool>,
    /// The group of rows that name none.
    pub group_id: Option<String>,
}

/// A row checked: what it would write.
struct Checked {
    row: ImportRow,
    site: Option<NewSite>,
    target: Option<(Site, bool)>,
}

fn number(raw: &Raw, col: Col, given: Option<f64>) -> Result<Option<f64>, String> {
    if given.is_some() {
        return Ok(given);
    }
    match raw
        .cells
        .get(&col)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("`{s}` is not a number")),
    }
}

/// What a row says of one column: the column is not in the sheet, its cell
/// is empty, or it holds text.
enum Given<'a> {
    Absent,
    Empty,
    Text(&'a str),
}

fn given(raw: &Raw, col: Col) -> Given<'_> {
    match raw.cells.get(&col).map(|s| s.trim()) {
        None => Given::Absent,
        Some("") => Given::Empty,
        Some(t) => Given::Text(t),
    }
}

/// Checks one row. A row that names an existing site (by `ID`, else by
/// code) changes only what the sheet has: a column the sheet lacks keeps
/// the site's value, an empty kind, radius or group cell keeps it too (an
/// empty address or code clears it), and the site moves to another group
/// only when its row names one. A new site takes the defaults (kind
/// `other`, radius 100 m, the import's group). No two rows may name one
/// site.
fn check_row(
    c: &mut Conn,
    raw: &Raw,
    default_group: Option<&str>,
    group_names: &HashMap<String, String>,
    seen_codes: &mut HashSet<String>,
    seen_sites: &mut HashSet<String>,
) -> AppResult<Checked> {
    let cell = |col: Col| raw.cells.get(&col).cloned().unwrap_or_default();
    let mut errors: Vec<RowError> = Vec::new();
    let mut fail = |e: AppError| {
        let d = e.details.clone().unwrap_or(Value::Null);
        errors.push(RowError {
            field: d["field"].as_str().unwrap_or("row").to_string(),
            reason: d["reason"]
                .as_str()
                .map_or(e.message.clone(), str::to_string),
        });
    };
    let code_given = given(raw, Col::Code);
    let code = sites::code(Some(&cell(Col::Code)))
        .map_err(&mut fail)
        .ok()
        .flatten();
    if let Some(k) = &code
        && !seen_codes.insert(k.clone())
    {
        fail(AppError::invalid("code", "appears twice in the file"));
    }
    // The site this row names: by id, else by code.
    let id_text = cell(Col::Id);
    let mut target: Option<sites::Row> = None;
    if !id_text.trim().is_empty() {
        target = sites_t::table
            .find(id_text.trim())
            .select(sites::Row::as_select())
            .first(c)
            .optional()?;
        if target.is_none() && code.is_none() {
            fail(AppError::invalid("id", "no site has this id"));
        }
    }
    if target.is_none()
        && let Some(k) = &code
    {
        target = sites_t::table
            .filter(sites_t::code.eq(k))
            .select(sites::Row::as_select())
            .first(c)
            .optional()?;
    }
    if let Some(t) = &target
        && !seen_sites.insert(t.id.clone())
    {
        fail(AppError::invalid(
            "id",
            "another row of the file names the same site",
        ));
    }
    if let (Some(t), Some(k)) = (&target, &code)
        && t.code.as_deref() != Some(k.as_str())
    {
        // Renaming a site's code to one another site holds.
        let holder: Option<String> = sites_t::table
            .filter(sites_t::code.eq(k))
            .filter(sites_t::id.ne(&t.id))
            .select(sites_t::id)
            .first(c)
            .optional()?;
        if holder.is_some() {
            fail(AppError::invalid("code", "another site has this code"));
        }
    }
    let t = target.as_ref();

    let name = match (given(raw, Col::Name), t) {
        (Given::Absent, Some(t)) => Some(t.name.clone()),
        _ => validate::text("name", &cell(Col::Name), 200)
            .map_err(&mut fail)
            .ok(),
    };
    let kind = match (given(raw, Col::Kind), t) {
        (Given::Absent | Given::Empty, Some(t)) => Some(t.kind.clone()),
        (Given::Absent | Given::Empty, None) => Some("other".to_string()),
        (Given::Text(k), _) => validate::text("kind", &sites::kind_from_text(k), 64)
            .map_err(&mut fail)
            .ok(),
    };
    let address = match (given(raw, Col::Address), t) {
        (Given::Absent, Some(t)) => Some(t.address.clone()),
        _ => validate::optional_text("address", &cell(Col::Address), 500)
            .map_err(&mut fail)
            .ok(),
    };
    let coord = |col: Col, given: Option<f64>, field: &str| -> AppResult<Option<f64>> {
        match number(raw, col, given) {
            Ok(Some(v)) if col == Col::Lat => validate::latitude(field, v).map(Some),
            Ok(Some(v)) => validate::longitude(field, v).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(AppError::invalid(field, e)),
        }
    };
    let mut position = |col: Col, given: Option<f64>, field: &str, old: Option<f64>| match coord(
        col, given, field,
    ) {
        Ok(Some(v)) => Some(v),
        Ok(None) if old.is_some() && !raw.cells.contains_key(&col) => old,
        Ok(None) => {
            fail(AppError::invalid(field, "is missing"));
            None
        }
        Err(e) => {
            fail(e);
            None
        }
    };
    let lat = position(Col::Lat, raw.lat, "lat", t.map(|t| t.lat));
    let lon = position(Col::Lon, raw.lon, "lon", t.map(|t| t.lon));
    let radius_m = match (number(raw, Col::Radius, None), t) {
        (Ok(None), Some(t)) => Some(t.radius_m),
        (Ok(None), None) => Some(DEFAULT_RADIUS_M),
        (Ok(Some(v)), _) => sites::radius(v).map_err(&mut fail).ok(),
        (Err(e), _) => {
            fail(AppError::invalid("radius_m", e));
            None
        }
    };
    let code = match (code_given, t) {
        (Given::Absent, Some(t)) => t.code.clone(),
        _ => code,
    };
    let group_id = match (given(raw, Col::Group), t) {
        (Given::Absent | Given::Empty, Some(t)) => Some(t.group_id.clone()),
        (Given::Absent | Given::Empty, None) => match default_group {
            Some(g) => Some(g.to_string()),
            None => {
                fail(AppError::invalid(
                    "group",
                    "is missing (choose a default group)",
                ));
                None
            }
        },
        (Given::Text(g), _) => match group_names.get(g) {
            Some(id) => Some(id.clone()),
            None => {
                fail(AppError::invalid("group", format!("no group `{g}`")));
                None
            }
        },
    };
    let new = match (name, kind, address, lat, lon, radius_m, group_id) {
        (
            Some(name),
            Some(kind),
            Some(address),
            Some(lat),
            Some(lon),
            Some(radius_m),
            Some(group_id),
        ) if errors.is_empty() => Some(NewSite {
            group_id,
            name,
            kind,
            address,
            lat,
            lon,
            radius_m,
            code: code.clone(),
        }),
        _ => None,
    };
    let action = match (&new, &target) {
        (None, _) => Action::Error,
        (Some(_), None) => Action::Create,
        (Some(n), Some(t)) if !t.deleted && same(n, t) => Action::Unchanged,
        (Some(_), Some(_)) => Action::Update,
    };
    Ok(Checked {
        row: ImportRow {
            line: raw.line,
            code,
            name: cell(Col::Name),
            action,
            site_id: target.as_ref().map(|t| t.id.clone()),
            errors,
        },
        target: target.map(|t| {
            let deleted = t.deleted;
            (t.view(), deleted)
        }),
        site: new,
    })
}

fn same(n: &NewSite, t: &sites::Row) -> bool {
    n.group_id == t.group_id
        && n.name == t.name
        && n.kind == t.kind
        && n.address == t.address
        && (n.lat - t.lat).abs() < 1e-9
        && (n.lon - t.lon).abs() < 1e-9
        && (n.radius_m - t.radius_m).abs() < 1e-9
        && n.code == t.code
}

/// Checks a file and, unless `dry_run` or a row has errors, writes it (in
/// the caller's transaction: all rows or none). With errors and no dry run
/// it answers 422 with the report in `details`.
pub fn import(
    c: &mut Conn,
    caller: &Caller,
    bytes: &[u8],
    q: &ImportQuery,
) -> AppResult<ImportReport> {
    caller.require_admin()?;
    let raws = read_file(bytes)?;
    let default_group = match q.group_id.as_deref().filter(|g| !g.is_empty()) {
        Some(g) if groups::exists(c, g)? => Some(g.to_string()),
        Some(_) => return Err(AppError::invalid("group_id", "no such group")),
        None => None,
    };
    // Groups by id and by name, read once.
    let mut group_names: HashMap<String, String> = HashMap::new();
    for (id, name) in groups_t::table
        .select((groups_t::id, groups_t::name))
        .load::<(String, String)>(c)?
    {
        group_names.insert(name, id.clone());
        group_names.insert(id.clone(), id);
    }
    let (mut seen_codes, mut seen_sites) = (HashSet::new(), HashSet::new());
    let mut checked = Vec::with_capacity(raws.len());
    for raw in &raws {
        checked.push(check_row(
            c,
            raw,
            default_group.as_deref(),
            &group_names,
            &mut seen_codes,
            &mut seen_sites,
        )?);
    }
    let count = |a: Action| checked.iter().filter(|x| x.row.action == a).count();
    let mut report = ImportReport {
        applied: false,
        created: count(Action::Create),
        updated: count(Action::Update),
        unchanged: count(Action::Unchanged),
        errors: count(Action::Error),
        rows: Vec::new(),
    };
    if report.errors > 0 || q.dry_run.unwrap_or(false) {
        report.rows = checked.into_iter().map(|x| x.row).collect();
        if report.errors > 0 && !q.dry_run.unwrap_or(false) {
            return Err(AppError::invalid(
                "file",
                format!("{} rows have errors; nothing was imported", report.errors),
            )
            .with_details(
                json!({ "field": "file", "reason": "rows have errors", "report": report }),
            ));
        }
        return Ok(report);
    }
    for x in checked {
        let mut row = x.row;
        match (x.site, x.target) {
            (Some(new), None) => {
                row.site_id = Some(sites::create(c, caller, new)?.id);
            }
            (Some(new), Some((old, deleted))) if row.action == Action::Update => {
                if deleted {
                    sites::restore(c, caller, &old.id)?;
                }
                sites::update(
                    c,
                    caller,
                    &old.id,
                    SitePatch {
                        group_id: (new.group_id != old.group_id).then_some(new.group_id),
                        name: (new.name != old.name).then_some(new.name),
                        kind: (new.kind != old.kind).then_some(new.kind),
                        address: (new.address != old.address).then_some(new.address),
                        lat: (new.lat != old.lat).then_some(new.lat),
                        lon: (new.lon != old.lon).then_some(new.lon),
                        radius_m: (new.radius_m != old.radius_m).then_some(new.radius_m),
                        code: (new.code != old.code).then(|| new.code.unwrap_or_default()),
                    },
                )?;
            }
            _ => {}
        }
        report.rows.push(row);
    }
    report.applied = true;
    Ok(report)
}

/// The export's columns, in the import's terms (Chinese headers: the
/// sheet is the district's).
const HEAD: [&str; 9] = [
    "ID",
    "编码",
    "名称",
    "类型",
    "地址",
    "纬度",
    "经度",
    "半径(米)",
    "联络组",
];

/// One page of the sites and their groups' names.
fn export_rows(
    c: &mut Conn,
    caller: &Caller,
    f: &SiteFilter,
    cursor: Option<String>,
) -> AppResult<(crate::paging::Page<Site>, HashMap<String, String>)> {
    let req = PageQuery {
        limit: Some(crate::paging::MAX_LIMIT),
        cursor,
    }
    .parse()?;
    let page = sites::list(c, caller, f, &req)?;
    let group_ids: Vec<String> = page.items.iter().map(|s| s.group_id.clone()).collect();
    let names: HashMap<String, String> = groups_t::table
        .filter(groups_t::id.eq_any(&group_ids))
        .select((groups_t::id, groups_t::name))
        .load::<(String, String)>(c)?
        .into_iter()
        .collect();
    Ok((page, names))
}

/// One page of the sites as a table in the import's columns (CSV or
/// XLSX: edit it and import it again).
pub fn sheet_page(
    c: &mut Conn,
    caller: &Caller,
    f: &SiteFilter,
    cursor: Option<String>,
) -> AppResult<crate::sheet::Page> {
    use crate::sheet::{Cell, Column};
    let (page, names) = export_rows(c, caller, f, cursor)?;
    Ok(crate::sheet::Page {
        head: HEAD.iter().map(|h| Column::new(*h, *h)).collect(),
        rows: page
            .items
            .iter()
            .map(|s| {
                vec![
                    Cell::Code(s.id.clone()),
                    Cell::Text(s.code.clone().unwrap_or_default()),
                    Cell::Text(s.name.clone()),
                    Cell::Text(sites::kind_label(&s.kind).to_string()),
                    Cell::Text(s.address.clone()),
                    Cell::Num(s.lat),
                    Cell::Num(s.lon),
                    Cell::Num(s.radius_m),
                    Cell::Text(names.get(&s.group_id).cloned().unwrap_or_default()),
                ]
            })
            .collect(),
        next: page.next_cursor,
    })
}

/// One page of the sites as GeoJSON points (the head on the first page,
/// the tail on the last).
pub fn geojson_page(
    c: &mut Conn,
    caller: &Caller,
    f: &SiteFilter,
    cursor: Option<String>,
) -> AppResult<(Vec<u8>, Option<String>)> {
    let first = cursor.is_none();
    let (page, names) = export_rows(c, caller, f, cursor)?;
    let group = |s: &Site| names.get(&s.group_id).cloned().unwrap_or_default();
    let mut out = Vec::new();
    if first {
        out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
    }
    for (i, s) in page.items.iter().enumerate() {
        if !(first && i == 0) {
            out.push(b',');
        }
        serde_json::to_writer(
            &mut out,
            &json!({
                "type": "Feature",
                "geometry": { "type": "Point", "coordinates": [s.lon, s.lat] },
                "properties": {
                    "id": s.id, "code": s.code, "name": s.name, "kind": s.kind,
                    "address": s.address, "radius_m": s.radius_m,
                    "group": group(s), "group_id": s.group_id,
                },
            }),
        )?;
    }
    if page.next_cursor.is_none() {
        out.extend_from_slice(b"]}");
    }
    Ok((out, page.next_cursor))
}
