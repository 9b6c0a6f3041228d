//! Sites in and out of spreadsheets: a district keeps its sites in a
//! workbook, saved as CSV (UTF-8 with or without BOM, or GBK as Excel in
//! China saves it) or as GeoJSON from a GIS. An import is checked row by
//! row first (a preview with every row's errors), and written only whole:
//! one bad row writes nothing. A row names its site by `id` (as exported)
//! or by the district's site code, so importing the same file again
//! updates instead of duplicating.

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

/// The columns a file may have, and the names they go by (compared
/// without case, spaces or brackets' contents style differences).
const COLUMNS: [(Col, &[&str]); 9] = [
    (Col::Id, &["id", "点位id", "系统编号"]),
    (
        Col::Code,
        &["code", "site_code", "编码", "点位编码", "编号", "点位编号"],
    ),
    (Col::Name, &["name", "名称", "点位名称", "点位"]),
    (Col::Kind, &["kind", "type", "类型", "类别", "点位类型"]),
    (Col::Address, &["address", "地址", "位置", "详细地址"]),
    (Col::Lat, &["lat", "latitude", "纬度"]),
    (Col::Lon, &["lon", "lng", "long", "longitude", "经度"]),
    (
        Col::Radius,
        &[
            "radius_m",
            "radius",
            "半径",
            "半径米",
            "半径(米)",
            "半径（米）",
            "半径m",
        ],
    ),
    (
        Col::Group,
        &[
            "group",
            "group_id",
            "group_name",
            "联络组",
            "所属联络组",
            "组",
            "片区",
        ],
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Col {
    Id,
    Code,
    Name,
    Kind,
    Address,
    Lat,
    Lon,
    Radius,
    Group,
}

fn column(header: &str) -> Option<Col> {
    let h: String = header
        .trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    COLUMNS
        .iter()
        .find(|(_, names)| names.contains(&h.as_str()))
        .map(|(c, _)| *c)
}

/// Turns a file's bytes into text: UTF-8 (a BOM is dropped), else GBK
/// (read as GB18030, its superset).
pub fn decode(bytes: &[u8]) -> AppResult<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_string());
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(AppError::invalid(
            "file",
            "is neither UTF-8 nor GBK text; save the sheet as CSV (UTF-8) and try again",
        ));
    }
    Ok(text.into_owned())
}

/// A file's rows, as read: GeoJSON when it starts with `{`, else CSV.
fn read_file(bytes: &[u8]) -> AppResult<Vec<Raw>> {
    let text = decode(bytes)?;
    let raws = if text.trim_start().starts_with('{') {
        read_geojson(&text)?
    } else {
        read_csv(&text)?
    };
    if raws.is_empty() {
        return Err(AppError::invalid("file", "has no rows"));
    }
    Ok(raws)
}

/// How many rows a file has, or why it cannot be read (for the fuzzer:
/// any bytes at all must give one or the other).
pub fn count_rows(bytes: &[u8]) -> AppResult<usize> {
    read_file(bytes).map(|r| r.len())
}

/// One row of a file, as read (before it is checked).
#[derive(Debug, Clone, Default)]
struct Raw {
    line: usize,
    cells: HashMap<Col, String>,
    /// GeoJSON gives numbers as numbers.
    lat: Option<f64>,
    lon: Option<f64>,
}

fn read_csv(text: &str) -> AppResult<Vec<Raw>> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = r
        .headers()
        .map_err(|e| AppError::invalid("file", format!("cannot read the header row: {e}")))?
        .clone();
    let cols: Vec<Option<Col>> = headers.iter().map(column).collect();
    for need in [Col::Name, Col::Lat, Col::Lon] {
        if !cols.contains(&Some(need)) {
            return Err(AppError::invalid(
                "file",
                format!(
                    "the header row needs a {} column (名称, 纬度, 经度 or name, lat, lon)",
                    match need {
                        Col::Name => "name",
                        Col::Lat => "latitude",
                        _ => "longitude",
                    }
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for rec in r.records() {
        let rec =
            rec.map_err(|e| AppError::invalid("file", format!("cannot read the CSV: {e}")))?;
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let mut raw = Raw {
            line,
            ..Raw::default()
        };
        // Every column of the header is in every row (a short row's
        // missing cells are empty): a column the sheet lacks is absent.
        for (i, c) in cols.iter().enumerate() {
            if let Some(c) = c {
                let v = rec.get(i).unwrap_or_default();
                raw.cells.insert(*c, crate::sheet::uncell(v).to_string());
            }
        }
        out.push(raw);
        if out.len() > MAX_ROWS {
            return Err(AppError::invalid(
                "file",
                format!("at most {MAX_ROWS} rows"),
            ));
        }
    }
    Ok(out)
}

fn read_geojson(text: &str) -> AppResult<Vec<Raw>> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| AppError::invalid("file", format!("not valid GeoJSON: {e}")))?;
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| AppError::invalid("file", "a GeoJSON FeatureCollection is expected"))?;
    if features.len() > MAX_ROWS {
        return Err(AppError::invalid(
            "file",
            format!("at most {MAX_ROWS} features"),
        ));
    }
    Ok(features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut raw = Raw {
                line: i + 1,
                ..Raw::default()
            };
            if let Some(props) = f.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    let Some(c) = column(k) else { continue };
                    let text = match v {
                        Value::String(s) => crate::sheet::uncell(s.trim()).to_string(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    raw.cells.insert(c, text);
                }
            }
            let point = f
                .get("geometry")
                .filter(|g| g.get("type").and_then(Value::as_str) == Some("Point"))
                .and_then(|g| g.get("coordinates"))
                .and_then(Value::as_array);
            if let Some(p) = point {
                raw.lon = p.first().and_then(Value::as_f64);
                raw.lat = p.get(1).and_then(Value::as_f64);
            }
            raw
        })
        .collect())
}

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

/// A file format of sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    GeoJson,
}

/// One page of an export (the head on the first page, the tail on the
/// last), for streaming any number of sites.
pub fn export_page(
    c: &mut Conn,
    caller: &Caller,
    f: &SiteFilter,
    cursor: Option<String>,
    format: Format,
) -> AppResult<(Vec<u8>, Option<String>)> {
    let first = cursor.is_none();
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
    let group = |s: &Site| names.get(&s.group_id).cloned().unwrap_or_default();
    let mut out = Vec::new();
    match format {
        Format::Csv => {
            if first {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            let mut w = csv::Writer::from_writer(&mut out);
            if first {
                w.write_record(HEAD)?;
            }
            let cell = crate::sheet::cell;
            for s in &page.items {
                w.write_record([
                    s.id.clone(),
                    cell(s.code.clone().unwrap_or_default()),
                    cell(s.name.clone()),
                    cell(sites::kind_label(&s.kind).to_string()),
                    cell(s.address.clone()),
                    s.lat.to_string(),
                    s.lon.to_string(),
                    s.radius_m.to_string(),
                    cell(group(s)),
                ])?;
            }
            w.flush()?;
        }
        Format::GeoJson => {
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
        }
    }
    Ok((out, page.next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_either_language() {
        assert_eq!(column("名称"), Some(Col::Name));
        assert_eq!(column(" Latitude "), Some(Col::Lat));
        assert_eq!(column("\u{feff}编码"), Some(Col::Code));
        assert_eq!(column("半径（米）"), Some(Col::Radius));
        assert_eq!(column("所属联络组"), Some(Col::Group));
        assert_eq!(column("备注"), None);
    }

    #[test]
    fn gbk_and_bom_are_read() {
        let (gbk, _, _) = encoding_rs::GBK.encode("名称,纬度,经度\n桃花河排污口,29.8,107.0\n");
        assert_eq!(
            decode(&gbk).unwrap(),
            "名称,纬度,经度\n桃花河排污口,29.8,107.0\n"
        );
        assert_eq!(decode("\u{feff}名称".as_bytes()).unwrap(), "名称");
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn a_csv_without_coordinates_is_refused_whole() {
        assert!(read_csv("名称,地址\n甲,乙\n").is_err());
        let rows = read_csv("名称,纬度,经度,备注\n甲,29.8,107.0,x\n乙,1,2,\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[1].line), (2, 3));
        assert_eq!(rows[0].cells[&Col::Name], "甲");
        // Rows with every cell empty (a blank line, or `,,,`) are skipped.
        let rows = read_csv("名称,纬度,经度\n甲,29.8,107.0\n\n,,\n乙,1,2\n").unwrap();
        assert_eq!(rows.len(), 2);
    }
}
