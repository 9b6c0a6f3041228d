//! Reports: the queue as a table (CSV or XLSX, `crate::sheet`) and as
//! GeoJSON (loads in QGIS), and the per-inspector ledger.

use super::queue::{self, QueueFilter};
use crate::auth::{Caller, Role, Scope};
use crate::db::Conn;
use crate::db::schema::{followups, inspections, photos, route_stops, sites, users};
use crate::error::AppResult;
use crate::inspection::Inspection;
use crate::photos::urls::Signer;
use crate::reference::templates::Item;
use crate::sheet::{Cell, Column, Page};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// Rows read and written at a time: a report of any size streams in
/// pages of this many, with bounded memory.
pub const PAGE: i64 = 500;

/// A report's table (CSV or XLSX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// One line per record, with a column per item of the named checklist.
    Inspections,
    /// The rows of every repeat, one line per answer (long form), keyed
    /// by record and row.
    RepeatRows,
}

/// One page of the queue with the names its rows show, and the
/// checklist's items when one is named (read for every page: the columns
/// stay the same unless an admin saves a new version mid-download).
struct Loaded {
    page: crate::paging::Page<Inspection>,
    sites: HashMap<String, String>,
    users: HashMap<String, String>,
    items: Option<Vec<Item>>,
}

fn load(
    c: &mut Conn,
    caller: &Caller,
    f: &QueueFilter,
    cursor: Option<String>,
    signer: &Signer,
) -> AppResult<Loaded> {
    let filter = QueueFilter {
        limit: Some(PAGE),
        cursor,
        ..f.clone()
    };
    let items = match &f.template_id {
        Some(t) => Some(crate::reference::templates::get(c, caller, t, None)?.items),
        None => None,
    };
    let page = queue::list(c, caller, &filter, signer)?;
    let (sites, users) = names(c, &page.items)?;
    Ok(Loaded {
        page,
        sites,
        users,
        items,
    })
}

/// One page of a report's table.
pub fn table_page(
    c: &mut Conn,
    caller: &Caller,
    f: &QueueFilter,
    cursor: Option<String>,
    signer: &Signer,
    table: Table,
) -> AppResult<Page> {
    let l = load(c, caller, f, cursor, signer)?;
    let (head, rows) = match table {
        Table::Inspections => inspection_rows(&l),
        Table::RepeatRows => repeat_rows(&l.page.items, &l.sites),
    };
    Ok(Page {
        head,
        rows,
        next: l.page.next_cursor,
    })
}

/// One page of the queue as GeoJSON (the head on the first page, the tail
/// on the last).
pub fn geojson_page(
    c: &mut Conn,
    caller: &Caller,
    f: &QueueFilter,
    cursor: Option<String>,
    signer: &Signer,
) -> AppResult<(Vec<u8>, Option<String>)> {
    let first = cursor.is_none();
    let l = load(c, caller, f, cursor, signer)?;
    let mut out = Vec::new();
    if first {
        out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
    }
    for (i, r) in l.page.items.iter().enumerate() {
        if !(first && i == 0) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &feature(r, &l.sites, &l.users))?;
    }
    if l.page.next_cursor.is_none() {
        out.extend_from_slice(b"]}");
    }
    Ok((out, l.page.next_cursor))
}

/// A record's site by name; a quick report has none.
fn site_name(names: &HashMap<String, String>, r: &Inspection) -> String {
    r.site_id
        .as_ref()
        .and_then(|s| names.get(s))
        .cloned()
        .unwrap_or_default()
}

fn names(
    c: &mut Conn,
    rows: &[Inspection],
) -> AppResult<(HashMap<String, String>, HashMap<String, String>)> {
    let site_ids: Vec<&String> = rows.iter().filter_map(|r| r.site_id.as_ref()).collect();
    let user_ids: Vec<&String> = rows.iter().map(|r| &r.inspector_id).collect();
    let sites: HashMap<String, String> = sites::table
        .filter(sites::id.eq_any(site_ids))
        .select((sites::id, sites::name))
        .load::<(String, String)>(c)?
        .into_iter()
        .collect();
    let users: HashMap<String, String> = users::table
        .filter(users::id.eq_any(user_ids))
        .select((users::id, users::display_name))
        .load::<(String, String)>(c)?
        .into_iter()
        .collect();
    Ok((sites, users))
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        // A multi_choice answer or a list of photo ids, as XLSForm joins them.
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| text(Some(x)))
            .collect::<Vec<_>>()
            .join(" "),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// An answer as a typed cell: numbers and yes/no as themselves, a
/// multi_choice answer or a list of photo ids joined as XLSForm joins them.
fn typed(v: Option<&Value>) -> Cell {
    match v {
        None | Some(Value::Null) => Cell::Empty,
        Some(Value::Bool(b)) => Cell::Bool(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::opt_num(n.as_f64()),
        },
        Some(other) => Cell::Text(text(Some(other))),
    }
}

const INSPECTION_COLUMNS: [(&str, &str); 20] = [
    ("id", "记录编号"),
    ("created_at", "记录时间"),
    ("site", "点位"),
    ("inspector", "巡查人"),
    ("title", "标题"),
    ("severity", "严重程度"),
    ("status", "填报状态"),
    ("review_status", "审核状态"),
    ("lat", "纬度"),
    ("lon", "经度"),
    ("distance_to_site_m", "距点位(米)"),
    ("within_site_radius", "在点位范围内"),
    ("photos", "照片数"),
    ("videos", "视频数"),
    ("photos_off_site", "点位外照片数"),
    ("notes", "备注"),
    ("score", "得分"),
    ("score_max", "满分"),
    ("failed", "不合格项"),
    ("missing_required", "缺少的必填项"),
];

fn inspection_rows(l: &Loaded) -> (Vec<Column>, Vec<Vec<Cell>>) {
    let columns: Vec<&Item> = l
        .items
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|i| i.kind.answers())
        .collect();
    let mut head = Column::list(&INSPECTION_COLUMNS);
    head.extend(
        columns
            .iter()
            .map(|i| Column::new(format!("answers.{}", i.key), i.label.clone())),
    );
    let rows = l
        .page
        .items
        .iter()
        .map(|r| {
            let loc = r.fields.get("location");
            let mut line = vec![
                Cell::Code(r.id.clone()),
                Cell::Time(r.created_at),
                Cell::Text(site_name(&l.sites, r)),
                Cell::Text(l.users.get(&r.inspector_id).cloned().unwrap_or_default()),
                Cell::Text(text(r.fields.get("title"))),
                Cell::Text(text(r.fields.get("severity"))),
                Cell::Text(text(r.fields.get("status"))),
                Cell::Code(r.review_status.as_str().to_string()),
                typed(loc.and_then(|l| l.get("lat"))),
                typed(loc.and_then(|l| l.get("lon"))),
                Cell::opt_num(r.checks.distance_to_site_m),
                Cell::opt_bool(r.checks.within_site_radius),
                Cell::Int(media_count(r, false) as i64),
                Cell::Int(media_count(r, true) as i64),
                Cell::Int(r.checks.photos_off_site),
                Cell::Text(text(r.fields.get("notes"))),
                Cell::Num(r.checks.score.got),
                Cell::Num(r.checks.score.max),
                Cell::Code(r.checks.failed.join(" ")),
                Cell::Code(r.checks.missing_required.join(" ")),
            ];
            line.extend(
                columns
                    .iter()
                    .map(|i| typed(r.fields.get(&format!("answers.{}", i.key)))),
            );
            line
        })
        .collect();
    (head, rows)
}

/// A live row of a repeat: (repeat, row id, `_seq`, its cells).
type LiveRow<'a> = (&'a str, &'a str, f64, Vec<(&'a str, &'a Value)>);

/// The repeats' rows in long form: one line per answer of a live row,
/// keyed by record, repeat and row, with the row's place (1, 2, ...) and
/// whether that answer failed.
fn repeat_rows(
    rows: &[Inspection],
    site_names: &HashMap<String, String>,
) -> (Vec<Column>, Vec<Vec<Cell>>) {
    let head = Column::list(&[
        ("inspection_id", "记录编号"),
        ("site", "点位"),
        ("repeat", "重复组"),
        ("row_id", "行编号"),
        ("row_number", "第几行"),
        ("item", "检查项"),
        ("value", "答案"),
        ("failed", "不合格"),
    ]);
    let mut out = Vec::new();
    for r in rows {
        // answers.<repeat>.<row>.<item>, gathered by repeat and row.
        let mut by_row: std::collections::BTreeMap<(&str, &str), Vec<(&str, &Value)>> =
            std::collections::BTreeMap::new();
        for (path, v) in &r.fields {
            let Some(rest) = path.strip_prefix(crate::inspection::fields::ANSWER_PREFIX) else {
                continue;
            };
            if let [rep, row, item] = rest.splitn(3, '.').collect::<Vec<_>>()[..] {
                by_row.entry((rep, row)).or_default().push((item, v));
            }
        }
        let mut live: Vec<LiveRow<'_>> = by_row
            .into_iter()
            .filter(|(_, cells)| {
                !cells
                    .iter()
                    .any(|(k, v)| *k == "_deleted" && **v == Value::Bool(true))
            })
            .map(|((rep, row), cells)| {
                let seq = cells
                    .iter()
                    .find(|(k, _)| *k == "_seq")
                    .and_then(|(_, v)| v.as_f64())
                    .unwrap_or(0.0);
                (rep, row, seq, cells)
            })
            .collect();
        live.sort_by(|a, b| a.0.cmp(b.0).then(a.2.total_cmp(&b.2)).then(a.1.cmp(b.1)));
        let mut n = 0;
        let mut last = "";
        for (rep, row, _, cells) in live {
            n = if rep == last { n + 1 } else { 1 };
            last = rep;
            for (item, v) in cells.into_iter().filter(|(k, _)| !k.starts_with('_')) {
                let path = format!("{rep}.{row}.{item}");
                out.push(vec![
                    Cell::Code(r.id.clone()),
                    Cell::Text(site_name(site_names, r)),
                    Cell::Code(rep.to_string()),
                    Cell::Code(row.to_string()),
                    Cell::Int(n),
                    Cell::Code(item.to_string()),
                    typed(Some(v)),
                    Cell::Bool(r.checks.failed.contains(&path)),
                ]);
            }
        }
    }
    (head, out)
}

/// One inspection as a GeoJSON Feature, at its location (a null geometry
/// when it has none), with its review status and photo count.
fn feature(
    r: &Inspection,
    site_names: &HashMap<String, String>,
    user_names: &HashMap<String, String>,
) -> Value {
    let geometry = crate::inspection::position(r.fields.get("location"))
        .map(|(lat, lon)| json!({"type": "Point", "coordinates": [lon, lat]}))
        .unwrap_or(Value::Null);
    json!({
        "type": "Feature",
        "id": r.id,
        "geometry": geometry,
        "properties": {
            "id": r.id,
            "title": text(r.fields.get("title")),
            "site": r.site_id.as_ref().and_then(|s| site_names.get(s)),
            "kind": r.kind,
            "category": r.fields.get("category"),
            "urgency": r.fields.get("urgency"),
            "inspector": user_names.get(&r.inspector_id),
            "severity": r.fields.get("severity"),
            "review_status": r.review_status,
            "photo_count": media_count(r, false),
            "video_count": media_count(r, true),
            "within_site_radius": r.checks.within_site_radius,
            "created_at": r.created_at,
            "score": r.checks.score,
            "failed": r.checks.failed,
            "missing_required": r.checks.missing_required,
            // The checklist's answers by answer path (a repeat's with row).
            "answers": r.fields.iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("answers.")?.to_string(), v.clone())))
                .collect::<serde_json::Map<String, Value>>(),
        }
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// A date (that whole day in the district's time zone) or an RFC 3339
    /// time.
    #[param(value_type = Option<String>)]
    pub from: Option<crate::clock::Bound>,
    /// Before this time, or up to the end of this date.
    #[param(value_type = Option<String>)]
    pub to: Option<crate::clock::Bound>,
    pub group_id: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct LedgerRow {
    pub inspector_id: String,
    pub username: String,
    pub display_name: String,
    pub group_id: Option<String>,
    pub inspections: i64,
    pub approved: i64,
    pub photos: i64,
    pub followups_raised: i64,
    pub followups_resolved: i64,
    pub stops_done: i64,
    /// Checklist items that failed in these inspections.
    pub failed_items: i64,
}

/// Per inspector, for inspections created in `[from, to)`: how many, how
/// many approved, their photos, the follow-ups they led to and how many of
/// those are resolved or verified, and the route stops they completed.
pub fn ledger(c: &mut Conn, caller: &Caller, q: &LedgerQuery) -> AppResult<Vec<LedgerRow>> {
    let mut people = users::table
        .filter(users::role.eq(Role::Inspector.as_str()))
        .select((
            users::id,
            users::username,
            users::display_name,
            users::group_id,
        ))
        .into_boxed();
    match (caller.role, caller.scope()) {
        (r, _) if r.sees_only_self() => people = people.filter(users::id.eq(caller.id.clone())),
        (_, Scope::All) => {}
        (_, Scope::Group(g)) => people = people.filter(users::group_id.eq(g)),
        (_, Scope::Nothing) => return Ok(vec![]),
    }
    if let Some(g) = &q.group_id {
        people = people.filter(users::group_id.eq(g.clone()));
    }
    let people: Vec<(String, String, String, Option<String>)> =
        people.order(users::username).load(c)?;
    let mut rows: Vec<LedgerRow> = Vec::with_capacity(people.len());
    // Checklist versions read once for the whole ledger.
    let mut versions: HashMap<(String, i32), Vec<Item>> = HashMap::new();
    for (id, username, display_name, group_id) in people {
        let mut base = inspections::table
            .filter(inspections::inspector_id.eq(id.clone()))
            .filter(inspections::deleted.eq(false))
            .into_boxed();
        if let Some(t) = q.from {
            base = base.filter(inspections::created_at.ge(t.start().naive_utc()));
        }
        if let Some(t) = q.to {
            base = base.filter(inspections::created_at.lt(t.end().naive_utc()));
        }
        let ids: Vec<(String, String, String, Option<String>)> = base
            .select((
                inspections::id,
                inspections::review_status,
                inspections::status,
                inspections::stop_id,
            ))
            .load(c)?;
        // Counted a chunk of ids at a time: an inspector's years of records
        // never make one query with more variables than SQLite takes.
        let (mut photos, mut raised, mut resolved, mut stops_done) = (0i64, 0i64, 0i64, 0i64);
        let mut failed_items = 0i64;
        for chunk in ids.chunks(500) {
            let insp_ids: Vec<&String> = chunk.iter().map(|r| &r.0).collect();
            photos += photos::table
                .filter(photos::inspection_id.eq_any(&insp_ids))
                .filter(photos::deleted.eq(false))
                .count()
                .get_result::<i64>(c)?;
            raised += followups::table
                .filter(followups::inspection_id.eq_any(&insp_ids))
                .count()
                .get_result::<i64>(c)?;
            resolved += followups::table
                .filter(followups::inspection_id.eq_any(&insp_ids))
                .filter(followups::status.eq_any(["resolved", "verified"]))
                .count()
                .get_result::<i64>(c)?;
            let stop_ids: Vec<&String> = chunk
                .iter()
                .filter(|r| r.2 == "submitted")
                .filter_map(|r| r.3.as_ref())
                .collect();
            stops_done += route_stops::table
                .filter(route_stops::id.eq_any(stop_ids))
                .count()
                .get_result::<i64>(c)?;
            failed_items += failed_in(c, &insp_ids, &mut versions)?;
        }
        rows.push(LedgerRow {
            inspections: ids.len() as i64,
            approved: ids.iter().filter(|r| r.1 == "approved").count() as i64,
            inspector_id: id,
            username,
            display_name,
            group_id,
            photos,
            followups_raised: raised,
            followups_resolved: resolved,
            stops_done,
            failed_items,
        });
    }
    Ok(rows)
}

/// How many checklist items failed in these inspections.
fn failed_in(
    c: &mut Conn,
    ids: &[&String],
    versions: &mut HashMap<(String, i32), Vec<Item>>,
) -> AppResult<i64> {
    let recs: Vec<(String, Option<String>, Option<i32>, String)> = inspections::table
        .filter(inspections::id.eq_any(ids))
        .select((
            inspections::id,
            inspections::template_id,
            inspections::template_version,
            inspections::fields,
        ))
        .load(c)?;
    let mut linked: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for (i, k) in photos::table
        .filter(photos::inspection_id.eq_any(ids))
        .filter(photos::deleted.eq(false))
        .filter(photos::item_key.is_not_null())
        .select((photos::inspection_id, photos::item_key))
        .load::<(String, Option<String>)>(c)?
    {
        linked.entry(i).or_default().extend(k);
    }
    let mut n = 0i64;
    for (id, t, v, fields) in recs {
        // A quick report has no checklist to fail.
        let (Some(t), Some(v)) = (t, v) else {
            continue;
        };
        let key = (t, v);
        if !versions.contains_key(&key) {
            let items =
                crate::reference::templates::version_items(c, &key.0, key.1)?.unwrap_or_default();
            versions.insert(key.clone(), items);
        }
        let items = versions.get(&key).map_or(&[][..], Vec::as_slice);
        // Most checklists fail nothing: no need to read their answers.
        if !crate::reference::templates::walk(items)
            .iter()
            .any(|(x, _)| x.fail_when.is_some())
        {
            continue;
        }
        let fields: crate::inspection::merge::Fields = serde_json::from_str(&fields)?;
        let none = std::collections::HashSet::new();
        let checks =
            crate::inspection::checklist::checks(items, &fields, linked.get(&id).unwrap_or(&none));
        n += checks.failed.len() as i64;
    }
    Ok(n)
}

/// A record's live photos, or its live videos: counted apart in exports
/// (a video is evidence of another kind, and far larger).
fn media_count(r: &crate::inspection::Inspection, videos: bool) -> usize {
    r.photos
        .iter()
        .filter(|p| !p.deleted && (p.kind == crate::photos::PhotoKind::Video) == videos)
        .count()
}
