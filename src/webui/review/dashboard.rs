//! `/review/dashboard`: the district at a glance for coordinators (their
//! group) and admins (the district, or one group): the summary's figures
//! as tiles, each chart drawn by the server (`webui::charts`) with its
//! numbers one click away (a table, and the table as CSV or Excel from
//! `/review/dashboard.csv|xlsx?table=`). The brief (`/review/brief`)
//! prints the same value.

use super::super::charts::{self, BLUE, GREEN, ORANGE, PURPLE, RED, YELLOW};
use super::super::session::WebUser;
use super::super::{Page, layout, words};
use crate::clock::Bound;
use crate::http::sheet::Format;
use crate::review::summary::{self, Figure, Summary, SummaryQuery, Table};
use crate::state::AppState;
use actix_web::{get, web};
use chrono::{Datelike, NaiveDate};
use maud::{Markup, html};
use serde::Deserialize;

/// The page's query: days as a date input gives them, a group.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Query {
    pub from: Option<String>,
    pub to: Option<String>,
    pub group_id: Option<String>,
    pub table: Option<String>,
}

impl Query {
    pub fn summary(&self) -> SummaryQuery {
        let day = |s: &Option<String>| {
            s.as_deref()
                .filter(|s| !s.is_empty())
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map(Bound::Day)
        };
        SummaryQuery {
            from: day(&self.from),
            to: day(&self.to),
            group_id: self.group_id.clone().filter(|g| !g.is_empty()),
        }
    }

    /// The query string of this period and group (for links).
    pub fn link(s: &Summary) -> String {
        let mut q = format!("from={}&to={}", s.period.from, s.period.to);
        if let Some(g) = &s.group_id {
            q.push_str("&group_id=");
            q.push_str(g);
        }
        q
    }
}

/// What the pages show of a summary: the summary, the groups a caller may
/// choose from (none: they see one group), and whose it is in words.
pub struct Loaded {
    pub summary: Summary,
    pub groups: Vec<(String, String)>,
    pub scope: String,
}

pub async fn load(
    st: &AppState,
    user: &WebUser,
    q: &Query,
) -> Result<Loaded, super::super::session::Refused> {
    let caller = user.caller.clone();
    let sq = q.summary();
    Ok(st
        .db
        .read(move |c| {
            let summary = summary::summary(c, &caller, &sq)?;
            let all =
                crate::inspection::RecordScope::of(&caller) == crate::inspection::RecordScope::All;
            Ok(Loaded {
                scope: summary::scope_name(c, &caller, &summary)?,
                groups: if all {
                    crate::reference::groups::names(c)?
                } else {
                    vec![]
                },
                summary,
            })
        })
        .await?)
}

#[get("/review/dashboard")]
pub async fn page(st: web::Data<AppState>, user: WebUser, q: web::Query<Query>) -> Page {
    let q = q.into_inner();
    let l = load(&st, &user, &q).await?;
    Ok(layout::page(
        &format!("{}概览", l.scope),
        Some(&user),
        dashboard(&l.summary, &l.groups, &l.scope),
    ))
}

async fn table(st: web::Data<AppState>, user: WebUser, q: Query, format: Format) -> Page {
    let table: Table = match q.table.as_deref().filter(|t| !t.is_empty()) {
        None => Table::default(),
        Some(t) => serde_json::from_value(serde_json::Value::String(t.into()))
            .map_err(|_| crate::error::AppError::invalid("table", "no such table"))?,
    };
    let (caller, sq) = (user.caller, q.summary());
    Ok(
        crate::http::sheet::answer(st.db.clone(), format, table.stem(), move |c, _| {
            Ok(summary::sheet(&summary::summary(c, &caller, &sq)?, table))
        })
        .await?,
    )
}

#[get("/review/dashboard.csv")]
pub async fn csv(st: web::Data<AppState>, user: WebUser, q: web::Query<Query>) -> Page {
    table(st, user, q.into_inner(), Format::Csv).await
}

#[get("/review/dashboard.xlsx")]
pub async fn xlsx(st: web::Data<AppState>, user: WebUser, q: web::Query<Query>) -> Page {
    table(st, user, q.into_inner(), Format::Xlsx).await
}

/// A figure as the tiles show it.
pub fn figure_text(f: Figure) -> String {
    match f {
        Figure::Count(n) => n.to_string(),
        Figure::Rate(Some(r)) => charts::percent(r),
        Figure::Rate(None) => "—".into(),
    }
}

/// The figures the tiles show (of `summary::figures`, the ones a chair
/// reads first).
pub const TILES: [&str; 10] = [
    "inspections",
    "reports",
    "members",
    "sites_inspected",
    "approval_rate",
    "return_rate",
    "followups_opened",
    "followups_resolved",
    "followups_verified",
    "followups_overdue_now",
];

pub fn tiles(s: &Summary) -> Markup {
    let figures = summary::figures(s);
    html! {
        div.tiles {
            @for key in TILES {
                @if let Some((_, zh, v)) = figures.iter().find(|f| f.0 == key) {
                    div.tile class=(key) {
                        span.value { (figure_text(*v)) }
                        span.name { (zh) }
                    }
                }
            }
        }
    }
}

/// The weeks as chart columns: a label at the first week of each month
/// (every week when there are few).
pub fn week_labels(s: &Summary) -> Vec<String> {
    let few = s.weeks.len() <= 8;
    let mut last_month = None;
    s.weeks
        .iter()
        .map(|w| {
            if few {
                return format!("{}/{}", w.week.month(), w.week.day());
            }
            let m = (w.week + chrono::Duration::days(6)).month();
            if last_month != Some(m) {
                last_month = Some(m);
                format!("{m}月")
            } else {
                String::new()
            }
        })
        .collect()
}

pub fn weekly_chart(s: &Summary) -> Markup {
    charts::stacked_bars(
        "每周巡查记录与随手拍",
        &week_labels(s),
        &[
            (
                "巡查",
                BLUE,
                s.weeks.iter().map(|w| w.inspections).collect(),
            ),
            (
                "随手拍",
                ORANGE,
                s.weeks.iter().map(|w| w.reports).collect(),
            ),
        ],
    )
}

pub fn reviews_chart(s: &Summary) -> Markup {
    charts::band(
        "审核结果",
        &[
            ("通过", s.reviews.approved, GREEN),
            ("退回补充", s.reviews.returned, YELLOW),
            ("不予采纳", s.reviews.rejected, RED),
        ],
    )
}

pub fn coverage_chart(s: &Summary) -> Markup {
    charts::band(
        "点位巡查覆盖(截至今天)",
        &[
            ("7 天内", s.coverage.fresh, GREEN),
            ("7–30 天", s.coverage.due, YELLOW),
            ("30 天以上", s.coverage.stale, RED),
            ("从未巡查", s.coverage.never, PURPLE),
        ],
    )
}

pub fn failed_chart(s: &Summary) -> Markup {
    let rows: Vec<(String, f64, &str)> = s
        .failed_items
        .iter()
        .take(10)
        .map(|f| {
            (
                format!("{}·{}", f.site_kind_name, f.label),
                f.count as f64,
                RED,
            )
        })
        .collect();
    charts::bars("不合格检查项(按点位类型)", &rows, " 次")
}

pub fn departments_chart(s: &Summary) -> Markup {
    let rows: Vec<(String, f64, &str)> = s
        .departments
        .iter()
        .filter_map(|d| {
            d.median_resolve_s.map(|r| {
                (
                    d.name.clone(),
                    (r as f64 / 3600.0 * 10.0).round() / 10.0,
                    BLUE,
                )
            })
        })
        .collect();
    charts::bars("各部门办结用时(中位数)", &rows, " 小时")
}

pub fn recurring_chart(s: &Summary) -> Markup {
    let rows: Vec<(String, f64, &str)> = s
        .recurring_sites
        .iter()
        .take(10)
        .map(|r| (r.name.clone(), r.total as f64, ORANGE))
        .collect();
    charts::bars("反复出现问题的点位", &rows, " 次")
}

/// The links to one table's files.
fn downloads(s: &Summary, table: &str) -> Markup {
    let q = Query::link(s);
    html! {
        p.downloads {
            a href={ "/review/dashboard.csv?table=" (table) "&" (q) } download { "下载 CSV" }
            " · "
            a href={ "/review/dashboard.xlsx?table=" (table) "&" (q) } download { "下载 Excel" }
        }
    }
}

/// Per group and kind (or category) over the period.
fn by_group(s: &Summary) -> Vec<(String, String, i64)> {
    let mut m: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for r in &s.weekly {
        let what = match &r.category {
            Some(c) => format!("随手拍·{}", words::category(c)),
            None => "巡查".into(),
        };
        *m.entry((r.group_name.clone(), what)).or_default() += r.count;
    }
    m.into_iter().map(|((g, w), n)| (g, w, n)).collect()
}

fn dashboard(s: &Summary, groups: &[(String, String)], scope: &str) -> Markup {
    let today = crate::clock::today();
    let year = today.year();
    let month_start = today.with_day(1).unwrap_or(today);
    let quarter_start =
        NaiveDate::from_ymd_opt(year, (today.month0() / 3) * 3 + 1, 1).unwrap_or(today);
    let group_q = s
        .group_id
        .as_ref()
        .map(|g| format!("&group_id={g}"))
        .unwrap_or_default();
    html! {
        section.card.dashboard {
            h1 { (scope) "概览" }
            p.meta { (s.period.from) " 至 " (s.period.to) "(" (words::zone()) ")" }
            form.filters method="get" action="/review/dashboard" {
                label { "从" input type="date" name="from" value=(s.period.from); }
                label { "到" input type="date" name="to" value=(s.period.to); }
                @if !groups.is_empty() {
                    label { "联络组"
                        select name="group_id" {
                            option value="" { "全区" }
                            @for (id, name) in groups {
                                option value=(id) selected[s.group_id.as_deref() == Some(id.as_str())] { (name) }
                            }
                        }
                    }
                }
                button type="submit" { "查看" }
            }
            p.periods {
                a href={ "?from=" (month_start) "&to=" (today) (group_q) } { "本月" } " · "
                a href={ "?from=" (quarter_start) "&to=" (today) (group_q) } { "本季度" } " · "
                a href={ "?from=" (year) "-01-01&to=" (today) (group_q) } { "今年" } " · "
                a href={ "?from=" (year - 1) "-01-01&to=" (year - 1) "-12-31" (group_q) } { "去年" } " · "
                a href={ "/review/brief?" (Query::link(s)) } { "打印年度(期间)简报" }
            }
            (tiles(s))
        }
        div.charts {
            section.card {
                h2 { "每周记录" }
                figure.chart { (weekly_chart(s)) }
                details {
                    summary { "数据" }
                    div.scroll { table.data {
                        thead { tr { th { "周(周一)" } th { "巡查" } th { "随手拍" } } }
                        tbody { @for w in &s.weeks { tr { td { (w.week) } td { (w.inspections) } td { (w.reports) } } } }
                    } }
                    h3 { "按联络组与类别" }
                    div.scroll { table.data {
                        thead { tr { th { "联络组" } th { "类别" } th { "数量" } } }
                        tbody { @for (g, w, n) in by_group(s) { tr { td { (g) } td { (w) } td { (n) } } } }
                    } }
                    (downloads(s, "weekly"))
                }
            }
            section.card {
                h2 { "审核" }
                figure.chart { (reviews_chart(s)) }
                details {
                    summary { "数据" }
                    table.data { tbody {
                        tr { th { "审核" } td { (s.reviews.decisions) } }
                        tr { th { "通过" } td { (s.reviews.approved) } }
                        tr { th { "退回补充" } td { (s.reviews.returned) } }
                        tr { th { "不予采纳" } td { (s.reviews.rejected) } }
                        tr { th { "采纳率" } td { (figure_text(Figure::Rate(s.reviews.approval_rate))) } }
                        tr { th { "退回率" } td { (figure_text(Figure::Rate(s.reviews.return_rate))) } }
                    } }
                    (downloads(s, "totals"))
                }
            }
            section.card {
                h2 { "发现的问题" }
                figure.chart { (failed_chart(s)) }
                details {
                    summary { "数据" }
                    div.scroll { table.data {
                        thead { tr { th { "点位类型" } th { "检查项" } th { "不合格次数" } } }
                        tbody { @for f in &s.failed_items { tr { td { (f.site_kind_name) } td { (f.label) } td { (f.count) } } } }
                    } }
                    h3 { "各类点位的巡查" }
                    table.data {
                        thead { tr { th { "点位类型" } th { "巡查记录" } } }
                        tbody { @for k in &s.inspections_by_site_kind { tr { td { (k.site_kind_name) } td { (k.inspections) } } } }
                    }
                    (downloads(s, "failed_items"))
                }
            }
            section.card {
                h2 { "交办与办理" }
                p { "本期交办 " strong { (s.followups.opened) } " 件,办结 " strong { (s.followups.resolved) }
                    " 件,核实销号 " strong { (s.followups.verified) } " 件;目前尚未办结 " (s.followups.open_now)
                    " 件,其中逾期 " strong.flag { (s.followups.overdue_now) } " 件。" }
                figure.chart { (departments_chart(s)) }
                details {
                    summary { "数据" }
                    div.scroll { table.data {
                        thead { tr { th { "部门" } th { "交办" } th { "已答复" } th { "已办结" } th { "已核实" } th { "逾期" }
                            th { "首次答复(中位)" } th { "首次答复(90%)" } th { "办结(中位)" } th { "办结(90%)" } } }
                        tbody { @for d in &s.departments { tr {
                            td { (d.name) } td { (d.assigned) } td { (d.responded) } td { (d.resolved) } td { (d.verified) } td { (d.overdue) }
                            td { (d.median_first_response_s.map(words::span).unwrap_or_default()) }
                            td { (d.p90_first_response_s.map(words::span).unwrap_or_default()) }
                            td { (d.median_resolve_s.map(words::span).unwrap_or_default()) }
                            td { (d.p90_resolve_s.map(words::span).unwrap_or_default()) }
                        } } }
                    } }
                    (downloads(s, "departments"))
                }
            }
            section.card {
                h2 { "巡查覆盖" }
                p { (s.totals.sites) " 个点位,本期巡查过 " strong { (s.totals.sites_inspected) } " 个。" }
                figure.chart { (coverage_chart(s)) }
                details {
                    summary { "数据" }
                    table.data { tbody {
                        tr { th { "7 天内巡查过" } td { (s.coverage.fresh) } }
                        tr { th { "7–30 天前" } td { (s.coverage.due) } }
                        tr { th { "30 天以上" } td { (s.coverage.stale) } }
                        tr { th { "从未巡查" } td { (s.coverage.never) } }
                    } }
                    (downloads(s, "coverage"))
                }
            }
            section.card {
                h2 { "反复出现问题的点位" }
                figure.chart { (recurring_chart(s)) }
                details open[!s.recurring_sites.is_empty()] {
                    summary { "数据" }
                    div.scroll { table.data {
                        thead { tr { th { "点位" } th { "发现问题的巡查" } th { "附近随手拍" } th { "合计" } } }
                        tbody { @for r in &s.recurring_sites { tr {
                            td { a href={ "/review/sites/" (r.site_id) } { (r.name) } }
                            td { (r.failed_inspections) } td { (r.reports) } td { (r.total) }
                        } } }
                    } }
                    (downloads(s, "recurring_sites"))
                }
            }
        }
    }
}
