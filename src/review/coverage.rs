//! Coverage: which sites have not been inspected lately, which routes are
//! past due and which follow-ups overdue. What an admin plans the next
//! week from.

use crate::auth::{Caller, Scope};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{followups, inspections, routes, users};
use crate::error::AppResult;
use crate::paging::{Page, PageQuery, PageRequest};
use crate::reference::sites::{self, Site, SiteFilter};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::dsl::{count_star, max};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageFilter {
    pub group_id: Option<String>,
    /// A kind of site (`outfall`, `enterprise`, ...).
    pub kind: Option<String>,
    /// Part of the site's name, address or code.
    pub q: Option<String>,
    /// Only sites not inspected for at least this many days (never
    /// inspected ones included). A page may then hold fewer than `limit`
    /// items; follow `next_cursor` to the end.
    pub stale_days: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SiteCoverage {
    pub site_id: String,
    pub name: String,
    pub kind: String,
    pub group_id: String,
    pub code: Option<String>,
    /// The latest submitted (not draft) inspection of the site.
    pub last_inspected_at: Option<DateTime<Utc>>,
    /// The latest inspection of it that a coordinator approved.
    pub last_approved_at: Option<DateTime<Utc>>,
    /// Whole days since `last_inspected_at`; null: never inspected.
    pub days_since_inspected: Option<i64>,
    /// Follow-ups not yet resolved (open or in progress).
    pub open_followups: i64,
    /// Of those, the ones past their due time.
    pub overdue_followups: i64,
    #[serde(skip)]
    pub lat: f64,
    #[serde(skip)]
    pub lon: f64,
    #[serde(skip)]
    pub radius_m: f64,
}

impl CoverageFilter {
    fn sites(&self) -> SiteFilter {
        SiteFilter {
            group_id: self.group_id.clone(),
            kind: self.kind.clone(),
            q: self.q.clone(),
        }
    }
}

impl SiteCoverage {
    pub fn stale(&self, days: i64) -> bool {
        self.days_since_inspected.is_none_or(|d| d >= days)
    }

    /// How overdue the site is, as the console colours it: inspected in
    /// the last 7 days, 7 to 30 days ago, longer ago, or never.
    pub fn freshness(&self) -> &'static str {
        match self.days_since_inspected {
            None => "never",
            Some(d) if d >= 30 => "stale",
            Some(d) if d >= 7 => "due",
            _ => "fresh",
        }
    }
}

const UNRESOLVED: [&str; 2] = ["open", "in_progress"];

/// The coverage of these sites (any number: queried in chunks).
pub fn of_sites(c: &mut Conn, list: Vec<Site>) -> AppResult<Vec<SiteCoverage>> {
    let now = clock::now();
    let mut last: HashMap<String, NaiveDateTime> = HashMap::new();
    let mut approved: HashMap<String, NaiveDateTime> = HashMap::new();
    let mut open: HashMap<String, i64> = HashMap::new();
    let mut overdue: HashMap<String, i64> = HashMap::new();
    for chunk in list.chunks(500) {
        let ids: Vec<&String> = chunk.iter().map(|s| &s.id).collect();
        let base = || {
            inspections::table
                .filter(inspections::site_id.eq_any(ids.clone()))
                .filter(inspections::deleted.eq(false))
                .group_by(inspections::site_id)
                .select((inspections::site_id, max(inspections::created_at)))
        };
        for (s, t) in base()
            .filter(inspections::review_status.ne("pending"))
            .load::<(Option<String>, Option<NaiveDateTime>)>(c)?
        {
            if let (Some(s), Some(t)) = (s, t) {
                last.insert(s, t);
            }
        }
        for (s, t) in base()
            .filter(inspections::review_status.eq("approved"))
            .load::<(Option<String>, Option<NaiveDateTime>)>(c)?
        {
            if let (Some(s), Some(t)) = (s, t) {
                approved.insert(s, t);
            }
        }
        let unresolved = || {
            followups::table
                .filter(followups::site_id.eq_any(ids.clone()))
                .filter(followups::status.eq_any(UNRESOLVED))
                .group_by(followups::site_id)
                .select((followups::site_id, count_star()))
        };
        // (A quick report's follow-ups have no site and are not here.)
        let by_site =
            |rows: Vec<(Option<String>, i64)>| rows.into_iter().filter_map(|(s, n)| Some((s?, n)));
        open.extend(by_site(unresolved().load(c)?));
        overdue.extend(by_site(
            unresolved().filter(followups::due_at.lt(now)).load(c)?,
        ));
    }
    Ok(list
        .into_iter()
        .map(|s| {
            let l = last.get(&s.id).copied();
            SiteCoverage {
                last_inspected_at: l.map(clock::utc),
                last_approved_at: approved.get(&s.id).copied().map(clock::utc),
                days_since_inspected: l.map(|l| (now - l).num_days().max(0)),
                open_followups: open.get(&s.id).copied().unwrap_or(0),
                overdue_followups: overdue.get(&s.id).copied().unwrap_or(0),
                site_id: s.id,
                name: s.name,
                kind: s.kind,
                group_id: s.group_id,
                code: s.code,
                lat: s.lat,
                lon: s.lon,
                radius_m: s.radius_m,
            }
        })
        .collect())
}

/// One page of sites (in the caller's scope) with their coverage.
pub fn page(
    c: &mut Conn,
    caller: &Caller,
    f: &CoverageFilter,
    page: &PageRequest,
) -> AppResult<Page<SiteCoverage>> {
    let sites = sites::list(c, caller, &f.sites(), page)?;
    let items = of_sites(c, sites.items)?
        .into_iter()
        .filter(|s| f.stale_days.is_none_or(|d| s.stale(d)))
        .collect();
    Ok(Page {
        items,
        next_cursor: sites.next_cursor,
    })
}

/// Every site the filter names, with coverage (the console's table and
/// the route planner: a group has hundreds of sites, a district thousands).
pub fn all(c: &mut Conn, caller: &Caller, f: &CoverageFilter) -> AppResult<Vec<SiteCoverage>> {
    let mut out = Vec::new();
    let mut req = PageRequest {
        limit: crate::paging::MAX_LIMIT,
        after: None,
    };
    loop {
        let rows = sites::list(c, caller, &f.sites(), &req)?;
        let more = rows.next_cursor.is_some();
        req.after = rows.items.last().map(|s| s.id.clone());
        out.extend(
            of_sites(c, rows.items)?
                .into_iter()
                .filter(|s| f.stale_days.is_none_or(|d| s.stale(d))),
        );
        if !more {
            return Ok(out);
        }
    }
}

/// A route whose day has passed and that is neither done nor cancelled.
#[derive(Debug, Clone)]
pub struct LateRoute {
    pub id: String,
    pub name: String,
    pub group_id: String,
    pub scheduled_for: NaiveDate,
    pub assignee: Option<String>,
    pub status: String,
}

pub fn late_routes(
    c: &mut Conn,
    caller: &Caller,
    group_id: Option<&str>,
) -> AppResult<Vec<LateRoute>> {
    let mut q = routes::table
        .left_join(users::table.on(users::id.nullable().eq(routes::assignee_id)))
        .filter(routes::deleted.eq(false))
        .filter(routes::status.eq_any(["planned", "active"]))
        .filter(routes::scheduled_for.lt(clock::today()))
        .into_boxed();
    match caller.scope() {
        Scope::All => {}
        Scope::Group(g) => q = q.filter(routes::group_id.eq(g)),
        Scope::Nothing => return Ok(vec![]),
    }
    if let Some(g) = group_id {
        q = q.filter(routes::group_id.eq(g.to_string()));
    }
    Ok(q.order(routes::scheduled_for.desc())
        .limit(200)
        .select((
            routes::id,
            routes::name,
            routes::group_id,
            routes::scheduled_for,
            users::display_name.nullable(),
            routes::status,
        ))
        .load::<(String, String, String, NaiveDate, Option<String>, String)>(c)?
        .into_iter()
        .map(
            |(id, name, group_id, scheduled_for, assignee, status)| LateRoute {
                id,
                name,
                group_id,
                scheduled_for,
                assignee,
                status,
            },
        )
        .collect())
}

/// A follow-up past its due time and not resolved.
#[derive(Debug, Clone)]
pub struct LateFollowup {
    pub id: String,
    pub inspection_id: String,
    pub title: String,
    pub department: String,
    pub due_at: NaiveDateTime,
    pub status: String,
}

pub fn late_followups(
    c: &mut Conn,
    caller: &Caller,
    group_id: Option<&str>,
) -> AppResult<Vec<LateFollowup>> {
    let mut q = followups::table
        .filter(followups::status.eq_any(UNRESOLVED))
        .filter(followups::due_at.lt(clock::now()))
        .into_boxed();
    match caller.scope() {
        Scope::All => {}
        Scope::Group(g) => q = q.filter(followups::group_id.eq(g)),
        Scope::Nothing => return Ok(vec![]),
    }
    if let Some(g) = group_id {
        q = q.filter(followups::group_id.eq(g.to_string()));
    }
    Ok(q.order(followups::due_at)
        .limit(200)
        .select((
            followups::id,
            followups::inspection_id,
            followups::title,
            followups::department,
            followups::due_at.assume_not_null(),
            followups::status,
        ))
        .load::<(String, String, String, String, NaiveDateTime, String)>(c)?
        .into_iter()
        .map(
            |(id, inspection_id, title, department, due_at, status)| LateFollowup {
                id,
                inspection_id,
                title,
                department,
                due_at,
                status,
            },
        )
        .collect())
}

/// One page of the coverage as a table (CSV or XLSX).
pub fn sheet_page(
    c: &mut Conn,
    caller: &Caller,
    f: &CoverageFilter,
    cursor: Option<String>,
) -> AppResult<crate::sheet::Page> {
    use crate::sheet::{Cell, Column};
    let req = PageQuery {
        limit: Some(crate::paging::MAX_LIMIT),
        cursor,
    }
    .parse()?;
    let p = page(c, caller, f, &req)?;
    Ok(crate::sheet::Page {
        head: Column::list(&[
            ("site_id", "点位编号"),
            ("code", "点位编码"),
            ("name", "点位"),
            ("kind", "类型"),
            ("group_id", "联络组编号"),
            ("last_inspected_at", "最近巡查"),
            ("last_approved_at", "最近通过审核"),
            ("days_since_inspected", "距今天数"),
            ("open_followups", "未办结跟进"),
            ("overdue_followups", "逾期跟进"),
        ]),
        rows: p
            .items
            .iter()
            .map(|s| {
                vec![
                    Cell::Code(s.site_id.clone()),
                    Cell::Text(s.code.clone().unwrap_or_default()),
                    Cell::Text(s.name.clone()),
                    Cell::Text(s.kind.clone()),
                    Cell::Code(s.group_id.clone()),
                    Cell::opt_time(s.last_inspected_at),
                    Cell::opt_time(s.last_approved_at),
                    Cell::opt_int(s.days_since_inspected),
                    Cell::Int(s.open_followups),
                    Cell::Int(s.overdue_followups),
                ]
            })
            .collect(),
        next: p.next_cursor,
    })
}
