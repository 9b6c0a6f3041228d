//! The district at a glance (`GET /api/v1/reports/summary`, the
//! coordinators' `/review/dashboard`, the period brief): what a committee's
//! year is judged by, counted for a period in the district's days and
//! within the caller's scope (a group's coordinator never counts another
//! group's records; an admin may name one group).
//!
//! Everything is counted in the database from indexes (migration 20: a
//! covering index of inspections by time, reviews and follow-up history by
//! time, and each record's failed items kept as it is written), so a
//! district of years answers in a few queries whatever its size. What is
//! counted is defined here once; the pages, the brief and the tables all
//! read this value.

use super::coverage::{self, CoverageFilter};
use super::dept_report::{self, DepartmentRow, DepartmentsQuery};
use super::followups::{Event, Status};
use crate::auth::Caller;
use crate::clock::{self, Bound};
use crate::db::Conn;
use crate::db::schema::{followup_history as fh, followups as fu, groups, inspections, reviews};
use crate::error::{AppError, AppResult};
use crate::inspection::RecordScope;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// The first day (the district's) or an RFC 3339 time; default: the
    /// first of January of this year.
    #[param(value_type = Option<String>)]
    pub from: Option<Bound>,
    /// The last day (inclusive) or the RFC 3339 time the period ends
    /// before; default: today.
    #[param(value_type = Option<String>)]
    pub to: Option<Bound>,
    /// One group (within the caller's scope).
    pub group_id: Option<String>,
}

/// A period: the district days `from..=to`, and the instants it spans.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Period {
    pub from: NaiveDate,
    /// The last day, inclusive.
    pub to: NaiveDate,
    #[serde(skip)]
    pub start: NaiveDateTime,
    #[serde(skip)]
    pub end: NaiveDateTime,
}

/// The longest period one summary counts.
const MAX_YEARS: i64 = 20;

impl Period {
    pub fn of(q: &SummaryQuery) -> AppResult<Period> {
        let today = clock::today();
        let jan1 = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
        let start = q.from.unwrap_or(Bound::Day(jan1)).start();
        let end = q.to.unwrap_or(Bound::Day(today)).end();
        if end <= start {
            return Err(AppError::invalid("to", "must be after from"));
        }
        if end - start > Duration::days(366 * MAX_YEARS) {
            return Err(AppError::invalid("from", "a period is at most 20 years"));
        }
        let off = clock::district_offset();
        Ok(Period {
            from: start.with_timezone(&off).date_naive(),
            to: (end - Duration::microseconds(1))
                .with_timezone(&off)
                .date_naive(),
            start: start.naive_utc(),
            end: end.naive_utc(),
        })
    }

    /// The Mondays of the weeks the period touches, in order.
    pub fn weeks(&self) -> Vec<NaiveDate> {
        let mut w = monday(self.from);
        let mut out = Vec::new();
        while w <= self.to {
            out.push(w);
            w += Duration::days(7);
        }
        out
    }
}

/// Minutes in a week, and the shift that makes whole weeks start on a
/// Monday (1970-01-01 was a Thursday: three days on, a Monday's week).
const WEEK_MIN: i64 = 7 * 1440;
const MONDAY_SHIFT_MIN: i64 = 3 * 1440;

/// The Monday of week number `k` (as the summary's SQL numbers weeks:
/// `(local minute + MONDAY_SHIFT_MIN) / WEEK_MIN`).
fn week_monday(k: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + Duration::days(7 * k - 3)
}

/// The Monday of a day's week.
pub fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// Records in one week of one group, of one kind and category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WeekRow {
    /// The week's Monday (district time).
    pub week: NaiveDate,
    pub group_id: String,
    pub group_name: String,
    /// `inspection` or `report` (a quick report).
    pub kind: String,
    /// A quick report's category; null for inspections (their sites'
    /// kinds are in `inspections_by_site_kind`).
    pub category: Option<String>,
    pub count: i64,
}

/// One week's records, all groups together (the chart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Week {
    pub week: NaiveDate,
    pub inspections: i64,
    pub reports: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    /// Submitted inspections made in the period (drafts and deleted
    /// records are not counted).
    pub inspections: i64,
    /// Submitted quick reports made in the period.
    pub reports: i64,
    /// Of those, approved (adopted) now.
    pub reports_adopted: i64,
    /// Members who made at least one of them.
    pub members: i64,
    /// Sites in scope now, and those inspected in the period.
    pub sites: i64,
    pub sites_inspected: i64,
    /// Inspections with at least one failed checklist item.
    pub inspections_with_failures: i64,
}

/// Review decisions made in the period, and their rates (of all decisions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reviews {
    pub decisions: i64,
    pub approved: i64,
    pub returned: i64,
    pub rejected: i64,
    /// approved / decisions; null without decisions.
    pub approval_rate: Option<f64>,
    /// returned / decisions; null without decisions.
    pub return_rate: Option<f64>,
}

/// Follow-ups opened in the period, and those resolved or verified in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Followups {
    pub opened: i64,
    pub resolved: i64,
    pub verified: i64,
    /// Open or in progress now, and of those past due now.
    pub open_now: i64,
    pub overdue_now: i64,
}

/// A checklist item that failed, by the kind of site it failed at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailedItem {
    pub site_kind: String,
    pub site_kind_name: String,
    /// The item's path (a repeat's item without its row).
    pub item: String,
    /// Its label in the checklist version of the first record counted.
    pub label: String,
    /// Inspections in which it failed.
    pub count: i64,
}

/// Sites now by when they were last inspected (the coverage page's bands).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Coverage {
    /// Inspected within 7 days.
    pub fresh: i64,
    /// 7 to 30 days ago.
    pub due: i64,
    /// Over 30 days ago.
    pub stale: i64,
    pub never: i64,
}

/// Inspections of one kind of site in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SiteKindCount {
    pub site_kind: String,
    pub site_kind_name: String,
    pub inspections: i64,
}

/// A site that keeps coming back: inspections with failed items and quick
/// reports within its radius, in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecurringSite {
    pub site_id: String,
    pub name: String,
    pub kind: String,
    pub group_id: String,
    pub failed_inspections: i64,
    pub reports: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub period: Period,
    pub group_id: Option<String>,
    /// The district's UTC offset: what a day and a week mean here.
    pub utc_offset: String,
    pub totals: Totals,
    pub weeks: Vec<Week>,
    pub weekly: Vec<WeekRow>,
    pub inspections_by_site_kind: Vec<SiteKindCount>,
    pub reviews: Reviews,
    pub failed_items: Vec<FailedItem>,
    pub followups: Followups,
    pub departments: Vec<DepartmentRow>,
    pub coverage: Coverage,
    pub recurring_sites: Vec<RecurringSite>,
}

/// A site comes back when it has at least this many failed inspections
/// and nearby reports in the period.
pub const RECURRING_AT: i64 = 2;

/// A record with failed items: (site, checklist, version, paths).
type FailedRow = (Option<String>, Option<String>, Option<i32>, String);

/// Whose records are counted.
enum Within {
    All,
    Group(String),
    Owner(String),
}

/// The caller's scope narrowed to the group asked for; None: nothing.
fn within(caller: &Caller, group: Option<&str>) -> Option<Within> {
    match (RecordScope::of(caller), group) {
        (RecordScope::All, None) => Some(Within::All),
        (RecordScope::All, Some(g)) => Some(Within::Group(g.to_string())),
        (RecordScope::Group(g), None) => Some(Within::Group(g)),
        (RecordScope::Group(g), Some(asked)) => (g == asked).then_some(Within::Group(g)),
        (RecordScope::Owner(o), _) => Some(Within::Owner(o)),
        (RecordScope::Nothing, _) => None,
    }
}

/// Loads `$query` (over inspections, possibly joined) narrowed to `$w`.
macro_rules! load_within {
    ($w:expr, $c:expr, $query:expr) => {
        match $w {
            Within::All => $query.load($c)?,
            Within::Group(g) => $query
                .filter(inspections::group_id.eq(g.clone()))
                .load($c)?,
            Within::Owner(o) => $query
                .filter(inspections::inspector_id.eq(o.clone()))
                .load($c)?,
        }
    };
}

fn rate(n: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

pub fn summary(c: &mut Conn, caller: &Caller, q: &SummaryQuery) -> AppResult<Summary> {
    caller.require_reviewer("read the district's summary")?;
    let p = Period::of(q)?;
    let off = clock::district_offset();
    let mut out = Summary {
        period: p,
        group_id: q.group_id.clone(),
        utc_offset: off.to_string(),
        totals: Totals::default(),
        weeks: vec![],
        weekly: vec![],
        inspections_by_site_kind: vec![],
        reviews: Reviews::default(),
        failed_items: vec![],
        followups: Followups::default(),
        departments: vec![],
        coverage: Coverage::default(),
        recurring_sites: vec![],
    };
    let Some(w) = within(caller, q.group_id.as_deref()) else {
        out.weeks = p
            .weeks()
            .into_iter()
            .map(|week| Week {
                week,
                inspections: 0,
                reports: 0,
            })
            .collect();
        return Ok(out);
    };

    // Records by week, group, kind and category, with how many are
    // approved, from the summary index alone: the period and the weeks are
    // whole-number arithmetic on the minute each record arrived.
    let off_min = i64::from(off.local_minus_utc()) / 60;
    let (from_min, to_min) = (clock::minute(p.start), clock::minute(p.end));
    let period = || {
        sql::<diesel::sql_types::Bool>(&format!(
            "inspections.created_minute >= {from_min} AND inspections.created_minute < {to_min}"
        ))
    };
    let records = || {
        inspections::table
            .filter(period())
            .filter(inspections::deleted.eq(false))
            .filter(inspections::review_status.ne("pending"))
    };
    let rows: Vec<(i64, String, String, Option<String>, i64, i64)> = load_within!(
        &w,
        c,
        records()
            .select(sql::<(BigInt, Text, Text, Nullable<Text>, BigInt, BigInt)>(&format!(
                "(inspections.created_minute + {}) / {WEEK_MIN}, inspections.group_id, inspections.kind, \
                 inspections.category, COUNT(*), SUM(CASE WHEN inspections.review_status = 'approved' THEN 1 ELSE 0 END)",
                off_min + MONDAY_SHIFT_MIN
            )))
            .group_by(sql::<Text>("1, 2, 3, 4"))
    );
    let names: HashMap<String, String> = groups::table
        .select((groups::id, groups::name))
        .load::<(String, String)>(c)?
        .into_iter()
        .collect();
    let mut by_week: BTreeMap<NaiveDate, (i64, i64)> =
        p.weeks().into_iter().map(|w| (w, (0, 0))).collect();
    for (week, group_id, kind, category, count, approved) in rows {
        let week = week_monday(week);
        let report = kind == crate::inspection::RecordKind::Report.as_str();
        let slot = by_week.entry(week).or_default();
        if report {
            slot.1 += count;
            out.totals.reports += count;
            out.totals.reports_adopted += approved;
        } else {
            slot.0 += count;
            out.totals.inspections += count;
        }
        out.weekly.push(WeekRow {
            week,
            group_name: names.get(&group_id).cloned().unwrap_or_default(),
            group_id,
            kind,
            category: if report { category } else { None },
            count,
        });
    }
    out.weekly.sort_by(|a, b| {
        (a.week, &a.group_name, &a.kind, &a.category).cmp(&(
            b.week,
            &b.group_name,
            &b.kind,
            &b.category,
        ))
    });
    out.weeks = by_week
        .into_iter()
        .map(|(week, (inspections, reports))| Week {
            week,
            inspections,
            reports,
        })
        .collect();

    // Sites: now, by coverage band; in the period, by inspections.
    let sites = coverage::all(
        c,
        caller,
        &CoverageFilter {
            group_id: match &w {
                Within::Group(g) => Some(g.clone()),
                _ => q.group_id.clone(),
            },
            ..Default::default()
        },
    )?;
    out.totals.sites = sites.len() as i64;
    for s in &sites {
        match s.freshness() {
            "fresh" => out.coverage.fresh += 1,
            "due" => out.coverage.due += 1,
            "stale" => out.coverage.stale += 1,
            _ => out.coverage.never += 1,
        }
    }
    let site_of: HashMap<&str, &coverage::SiteCoverage> =
        sites.iter().map(|s| (s.site_id.as_str(), s)).collect();
    // Records by site and member, in one pass of the same index: the
    // members taking part, and each site's inspections (a quick report has
    // no site).
    let pairs: Vec<(Option<String>, String, i64)> = load_within!(
        &w,
        c,
        records()
            .group_by((inspections::site_id, inspections::inspector_id))
            .select((
                inspections::site_id,
                inspections::inspector_id,
                count_star()
            ))
    );
    let mut members = std::collections::HashSet::new();
    let mut per_site: HashMap<&str, i64> = HashMap::new();
    for (site, member, n) in &pairs {
        members.insert(member.as_str());
        if let Some(s) = site {
            *per_site.entry(s.as_str()).or_default() += n;
        }
    }
    out.totals.members = members.len() as i64;
    let mut kinds: BTreeMap<String, i64> = BTreeMap::new();
    for (site, n) in &per_site {
        if let Some(s) = site_of.get(site) {
            out.totals.sites_inspected += 1;
            *kinds.entry(s.kind.clone()).or_default() += n;
        }
    }
    out.inspections_by_site_kind = kinds
        .into_iter()
        .map(|(k, n)| SiteKindCount {
            site_kind_name: crate::reference::sites::kind_label(&k).to_string(),
            site_kind: k,
            inspections: n,
        })
        .collect();

    // Failed items, by site kind; and the sites that keep failing: the
    // failing records only, from their own index (its condition written
    // out, so both databases use it).
    let failed: Vec<FailedRow> = load_within!(
        &w,
        c,
        inspections::table
            .filter(period())
            .filter(sql::<diesel::sql_types::Bool>("inspections.failed <> ''"))
            .filter(inspections::deleted.eq(false))
            .filter(inspections::review_status.ne("pending"))
            .select((
                inspections::site_id,
                inspections::template_id,
                inspections::template_version,
                inspections::failed.assume_not_null(),
            ))
    );
    let mut items: BTreeMap<(String, String), (String, i64)> = BTreeMap::new();
    let mut failing: HashMap<String, i64> = HashMap::new();
    for (site, template, version, paths) in failed {
        out.totals.inspections_with_failures += 1;
        let Some(s) = site.as_deref().and_then(|s| site_of.get(s)) else {
            continue;
        };
        *failing.entry(s.site_id.clone()).or_default() += 1;
        let mut seen = std::collections::HashSet::new();
        for path in paths.split(' ').filter(|p| !p.is_empty()) {
            let item = crate::inspection::failures::item_of(path);
            if !seen.insert(item.clone()) {
                continue;
            }
            let slot = items
                .entry((s.kind.clone(), item.clone()))
                .or_insert_with(|| (String::new(), 0));
            if slot.0.is_empty()
                && let (Some(t), Some(v)) = (&template, version)
            {
                slot.0 = crate::inspection::failures::label_of(c, t, v, path)?.unwrap_or_default();
            }
            slot.1 += 1;
        }
    }
    let mut failed_items: Vec<FailedItem> = items
        .into_iter()
        .map(|((kind, item), (label, count))| FailedItem {
            site_kind_name: crate::reference::sites::kind_label(&kind).to_string(),
            site_kind: kind,
            label: if label.is_empty() {
                item.clone()
            } else {
                label
            },
            item,
            count,
        })
        .collect();
    failed_items.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.site_kind, &a.item).cmp(&(&b.site_kind, &b.item)))
    });
    out.failed_items = failed_items;

    // Quick reports within the radius of a site of the reporter's group
    // (as a report's nearest site is found).
    let reports: Vec<(String, Option<f64>, Option<f64>)> = load_within!(
        &w,
        c,
        records()
            .filter(inspections::kind.eq(crate::inspection::RecordKind::Report.as_str()))
            .filter(inspections::lat.is_not_null())
            .select((inspections::group_id, inspections::lat, inspections::lon))
    );
    let mut by_group: HashMap<&str, Vec<&coverage::SiteCoverage>> = HashMap::new();
    for s in &sites {
        by_group.entry(s.group_id.as_str()).or_default().push(s);
    }
    let mut nearby: HashMap<&str, i64> = HashMap::new();
    for (group, lat, lon) in reports {
        let (Some(lat), Some(lon)) = (lat, lon) else {
            continue;
        };
        for s in by_group
            .get(group.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            // A cheap look first: a degree of latitude is 111 km.
            if (s.lat - lat).abs() * 111_000.0 > s.radius_m {
                continue;
            }
            if crate::inspection::distance_m(lat, lon, s.lat, s.lon) <= s.radius_m {
                *nearby.entry(s.site_id.as_str()).or_default() += 1;
            }
        }
    }
    let mut recurring: Vec<RecurringSite> = sites
        .iter()
        .filter_map(|s| {
            let f = failing.get(&s.site_id).copied().unwrap_or(0);
            let r = nearby.get(s.site_id.as_str()).copied().unwrap_or(0);
            (f + r >= RECURRING_AT).then(|| RecurringSite {
                site_id: s.site_id.clone(),
                name: s.name.clone(),
                kind: s.kind.clone(),
                group_id: s.group_id.clone(),
                failed_inspections: f,
                reports: r,
                total: f + r,
            })
        })
        .collect();
    recurring.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
    recurring.truncate(50);
    out.recurring_sites = recurring;

    // Review decisions made in the period (the district's without a
    // join: a decision made is counted).
    let decisions: Vec<(String, i64)> = match &w {
        Within::All => reviews::table
            .filter(reviews::created_at.ge(p.start))
            .filter(reviews::created_at.lt(p.end))
            .group_by(reviews::decision)
            .select((reviews::decision, count_star()))
            .load(c)?,
        _ => load_within!(
            &w,
            c,
            reviews::table
                .inner_join(inspections::table)
                .filter(reviews::created_at.ge(p.start))
                .filter(reviews::created_at.lt(p.end))
                .group_by(reviews::decision)
                .select((reviews::decision, count_star()))
        ),
    };
    for (d, n) in decisions {
        out.reviews.decisions += n;
        match d.as_str() {
            "approve" => out.reviews.approved += n,
            "return" => out.reviews.returned += n,
            "reject" => out.reviews.rejected += n,
            _ => {}
        }
    }
    out.reviews.approval_rate = rate(out.reviews.approved, out.reviews.decisions);
    out.reviews.return_rate = rate(out.reviews.returned, out.reviews.decisions);

    out.followups = followups(c, &w, &p)?;
    out.departments = dept_report::report(
        c,
        caller,
        &DepartmentsQuery {
            from: q.from.or(Some(Bound::Day(p.from))),
            to: q.to.or(Some(Bound::Day(p.to))),
            group_id: match &w {
                Within::Group(g) => Some(g.clone()),
                _ => None,
            },
        },
    )?
    .into_iter()
    .filter(|d| d.assigned > 0 || d.overdue > 0)
    .collect();
    Ok(out)
}

/// Follow-ups opened, resolved and verified in the period (by their
/// history), and open and overdue now.
fn followups(c: &mut Conn, w: &Within, p: &Period) -> AppResult<Followups> {
    let mut f = Followups::default();
    let scope = |q: fu::BoxedQuery<'static, crate::db::MultiBackend>| match w {
        Within::All => q,
        Within::Group(g) => q.filter(fu::group_id.eq(g.clone())),
        Within::Owner(o) => q.filter(fu::owner_id.eq(o.clone())),
    };
    f.opened = scope(fu::table.into_boxed())
        .filter(fu::created_at.ge(p.start))
        .filter(fu::created_at.lt(p.end))
        .count()
        .get_result(c)?;
    let now = clock::now();
    let unresolved = [Status::Open.as_str(), Status::InProgress.as_str()];
    f.open_now = scope(fu::table.into_boxed())
        .filter(fu::status.eq_any(unresolved))
        .count()
        .get_result(c)?;
    f.overdue_now = scope(fu::table.into_boxed())
        .filter(fu::status.eq_any(unresolved))
        .filter(fu::due_at.lt(now))
        .count()
        .get_result(c)?;
    let moved = |c: &mut Conn, to: Status| -> AppResult<i64> {
        let ids = fh::table
            .inner_join(fu::table)
            .filter(fh::at.ge(p.start))
            .filter(fh::at.lt(p.end))
            .filter(fh::event.eq(Event::Status.as_str()))
            .filter(fh::status.eq(to.as_str()))
            .select(diesel::dsl::count(fh::followup_id).aggregate_distinct())
            .into_boxed();
        Ok(match w {
            Within::All => ids.first(c)?,
            Within::Group(g) => ids.filter(fu::group_id.eq(g.clone())).first(c)?,
            Within::Owner(o) => ids.filter(fu::owner_id.eq(o.clone())).first(c)?,
        })
    };
    f.resolved = moved(c, Status::Resolved)?;
    f.verified = moved(c, Status::Verified)?;
    Ok(f)
}

/// Whose summary it is, in words: the group it counts (named, or the
/// caller's own), else the district's.
pub fn scope_name(c: &mut Conn, caller: &Caller, s: &Summary) -> AppResult<String> {
    let shown = match (&s.group_id, caller.scope()) {
        (Some(g), _) => Some(g.clone()),
        (None, crate::auth::Scope::Group(g)) => Some(g),
        _ => None,
    };
    Ok(match shown {
        Some(g) => groups::table
            .find(&g)
            .select(groups::name)
            .first::<String>(c)
            .optional()?
            .unwrap_or_else(|| "本组".into()),
        None => "全区".into(),
    })
}

/// The tables behind the charts, each as CSV or XLSX.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// The headline figures.
    Totals,
    /// Records per week, group, kind and category.
    #[default]
    Weekly,
    SiteKinds,
    FailedItems,
    Departments,
    Coverage,
    RecurringSites,
}

impl Table {
    pub fn stem(self) -> &'static str {
        match self {
            Table::Totals => "summary_totals",
            Table::Weekly => "summary_weekly",
            Table::SiteKinds => "summary_site_kinds",
            Table::FailedItems => "summary_failed_items",
            Table::Departments => "summary_departments",
            Table::Coverage => "summary_coverage",
            Table::RecurringSites => "summary_recurring_sites",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TableQuery {
    #[param(value_type = Option<String>)]
    pub from: Option<Bound>,
    #[param(value_type = Option<String>)]
    pub to: Option<Bound>,
    pub group_id: Option<String>,
    /// Which table (default `weekly`): `totals`, `weekly`, `site_kinds`,
    /// `failed_items`, `departments`, `coverage`, `recurring_sites`.
    #[param(value_type = Option<String>)]
    pub table: Option<Table>,
}

impl TableQuery {
    pub fn summary(&self) -> SummaryQuery {
        SummaryQuery {
            from: self.from,
            to: self.to,
            group_id: self.group_id.clone(),
        }
    }
}

/// The headline figures as (key, words, value): the totals table, the
/// dashboard's tiles and the brief read this one list.
pub fn figures(s: &Summary) -> Vec<(&'static str, &'static str, Figure)> {
    use Figure::{Count, Rate};
    vec![
        ("inspections", "巡查记录", Count(s.totals.inspections)),
        ("reports", "随手拍", Count(s.totals.reports)),
        (
            "reports_adopted",
            "随手拍被采纳",
            Count(s.totals.reports_adopted),
        ),
        ("members", "参与委员", Count(s.totals.members)),
        (
            "sites_inspected",
            "巡查点位",
            Count(s.totals.sites_inspected),
        ),
        ("sites", "点位总数", Count(s.totals.sites)),
        (
            "inspections_with_failures",
            "发现问题的巡查",
            Count(s.totals.inspections_with_failures),
        ),
        ("decisions", "审核", Count(s.reviews.decisions)),
        ("approved", "审核通过(采纳)", Count(s.reviews.approved)),
        ("returned", "退回补充", Count(s.reviews.returned)),
        ("rejected", "不予采纳", Count(s.reviews.rejected)),
        ("approval_rate", "采纳率", Rate(s.reviews.approval_rate)),
        ("return_rate", "退回率", Rate(s.reviews.return_rate)),
        ("followups_opened", "交办问题", Count(s.followups.opened)),
        ("followups_resolved", "已办结", Count(s.followups.resolved)),
        (
            "followups_verified",
            "已核实销号",
            Count(s.followups.verified),
        ),
        (
            "followups_open_now",
            "尚未办结",
            Count(s.followups.open_now),
        ),
        (
            "followups_overdue_now",
            "已逾期",
            Count(s.followups.overdue_now),
        ),
    ]
}

/// A headline figure: a count, or a rate (null: nothing to divide).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    Count(i64),
    Rate(Option<f64>),
}

/// One table of a summary (it has no pages: a summary is small).
pub fn sheet(s: &Summary, table: Table) -> crate::sheet::Page {
    use crate::sheet::{Cell, Column, Page};
    let (head, rows): (Vec<Column>, Vec<Vec<Cell>>) = match table {
        Table::Totals => (
            Column::list(&[("figure", "指标"), ("name", "名称"), ("value", "数值")]),
            figures(s)
                .into_iter()
                .map(|(k, zh, v)| {
                    vec![
                        Cell::Code(k.into()),
                        Cell::Code(zh.into()),
                        match v {
                            Figure::Count(n) => Cell::Int(n),
                            Figure::Rate(r) => Cell::opt_num(r),
                        },
                    ]
                })
                .collect(),
        ),
        Table::Weekly => (
            Column::list(&[
                ("week", "周(周一)"),
                ("group_id", "联络组编号"),
                ("group", "联络组"),
                ("kind", "类型"),
                ("category", "类别"),
                ("count", "数量"),
            ]),
            s.weekly
                .iter()
                .map(|r| {
                    vec![
                        Cell::Date(r.week),
                        Cell::Code(r.group_id.clone()),
                        Cell::Text(r.group_name.clone()),
                        Cell::Code(r.kind.clone()),
                        r.category.clone().map_or(Cell::Empty, Cell::Code),
                        Cell::Int(r.count),
                    ]
                })
                .collect(),
        ),
        Table::SiteKinds => (
            Column::list(&[
                ("site_kind", "点位类型代码"),
                ("site_kind_name", "点位类型"),
                ("inspections", "巡查记录"),
            ]),
            s.inspections_by_site_kind
                .iter()
                .map(|r| {
                    vec![
                        Cell::Code(r.site_kind.clone()),
                        Cell::Code(r.site_kind_name.clone()),
                        Cell::Int(r.inspections),
                    ]
                })
                .collect(),
        ),
        Table::FailedItems => (
            Column::list(&[
                ("site_kind", "点位类型代码"),
                ("site_kind_name", "点位类型"),
                ("item", "检查项代码"),
                ("label", "检查项"),
                ("count", "不合格次数"),
            ]),
            s.failed_items
                .iter()
                .map(|r| {
                    vec![
                        Cell::Code(r.site_kind.clone()),
                        Cell::Code(r.site_kind_name.clone()),
                        Cell::Code(r.item.clone()),
                        Cell::Text(r.label.clone()),
                        Cell::Int(r.count),
                    ]
                })
                .collect(),
        ),
        Table::Departments => {
            let p = dept_report::sheet(&s.departments);
            (p.head, p.rows)
        }
        Table::Coverage => (
            Column::list(&[("band", "巡查情况"), ("name", "说明"), ("sites", "点位数")]),
            [
                ("fresh", "7 天内巡查过", s.coverage.fresh),
                ("due", "7–30 天前", s.coverage.due),
                ("stale", "30 天以上", s.coverage.stale),
                ("never", "从未巡查", s.coverage.never),
            ]
            .into_iter()
            .map(|(k, zh, n)| vec![Cell::Code(k.into()), Cell::Code(zh.into()), Cell::Int(n)])
            .collect(),
        ),
        Table::RecurringSites => (
            Column::list(&[
                ("site_id", "点位编号"),
                ("name", "点位"),
                ("kind", "类型"),
                ("group_id", "联络组编号"),
                ("failed_inspections", "发现问题的巡查"),
                ("reports", "附近随手拍"),
                ("total", "合计"),
            ]),
            s.recurring_sites
                .iter()
                .map(|r| {
                    vec![
                        Cell::Code(r.site_id.clone()),
                        Cell::Text(r.name.clone()),
                        Cell::Code(crate::reference::sites::kind_label(&r.kind).to_string()),
                        Cell::Code(r.group_id.clone()),
                        Cell::Int(r.failed_inspections),
                        Cell::Int(r.reports),
                        Cell::Int(r.total),
                    ]
                })
                .collect(),
        ),
    };
    Page {
        head,
        rows,
        next: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_and_cover_the_period() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let p = Period::of(&SummaryQuery {
            from: Some(Bound::Day(d("2026-03-04"))),
            to: Some(Bound::Day(d("2026-03-16"))),
            group_id: None,
        })
        .unwrap();
        assert_eq!(
            p.weeks(),
            vec![d("2026-03-02"), d("2026-03-09"), d("2026-03-16")]
        );
        assert_eq!(monday(d("2026-03-08")), d("2026-03-02"));
        // The SQL's week numbers: 23:30 on Sunday 03-01 (district) is in
        // the week of 02-23; 00:30 on Monday 03-02 in the week of 03-02.
        let local = |s: &str| {
            clock::minute(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()) + 8 * 60
        };
        let week = |m: i64| week_monday((m + MONDAY_SHIFT_MIN).div_euclid(WEEK_MIN));
        assert_eq!(week(local("2026-03-01 15:30")), d("2026-02-23"));
        assert_eq!(week(local("2026-03-01 16:30")), d("2026-03-02"));
        assert_eq!(week(local("1970-01-05 00:00") - 8 * 60), d("1970-01-05"));
        // A day is the district's: 2026-03-04 begins at 16:00 UTC the day before.
        assert_eq!(p.start.to_string(), "2026-03-03 16:00:00");
        assert!(
            Period::of(&SummaryQuery {
                from: Some(Bound::Day(d("2026-03-04"))),
                to: Some(Bound::Day(d("2026-03-01"))),
                group_id: None,
            })
            .is_err()
        );
    }
}
