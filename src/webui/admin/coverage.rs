//! Coverage: per group, each site's last inspection and last approved
//! one, days since, sites never inspected; routes past due and not done;
//! follow-ups overdue. A table, a map and a CSV.

use super::{AdminUser, Page, group_options, group_select, page};
use crate::review::coverage::{self, CoverageFilter};
use crate::state::AppState;
use crate::webui::map::{self, Backdrop, Pin, View};
use actix_web::{get, web};
use maud::html;
use serde::Deserialize;

/// Rows of the table shown (the most overdue first); the CSV has all.
const TABLE_ROWS: usize = 300;

#[derive(Deserialize, Default)]
struct Query {
    group_id: Option<String>,
    kind: Option<String>,
    stale_days: Option<String>,
}

impl Query {
    fn filter(&self) -> CoverageFilter {
        CoverageFilter {
            group_id: self.group_id.clone().filter(|g| !g.is_empty()),
            kind: self.kind.clone().filter(|k| !k.is_empty()),
            q: None,
            stale_days: self
                .stale_days
                .as_deref()
                .and_then(|d| d.trim().parse().ok()),
        }
    }
}

#[get("/admin/coverage")]
async fn view(st: web::Data<AppState>, AdminUser(user): AdminUser, q: web::Query<Query>) -> Page {
    let q = q.into_inner();
    let f = q.filter();
    let caller = user.caller.clone();
    let group = f.group_id.clone();
    let (mut sites, late_routes, late_followups, groups) = st
        .db
        .read(move |c| {
            Ok((
                coverage::all(c, &caller, &f)?,
                coverage::late_routes(c, &caller, group.as_deref())?,
                coverage::late_followups(c, &caller, group.as_deref())?,
                group_options(c)?,
            ))
        })
        .await?;
    // Never inspected first, then the longest ago.
    sites.sort_by_key(|s| std::cmp::Reverse(s.days_since_inspected.unwrap_or(i64::MAX)));
    let never = sites
        .iter()
        .filter(|s| s.last_inspected_at.is_none())
        .count();
    let gname = |id: &str| {
        groups
            .iter()
            .find(|(i, _)| i == id)
            .map_or("", |(_, n)| n.as_str())
    };
    let view = View::fit(
        sites.iter().map(|s| (s.lat, s.lon)),
        st.config.map_tiles.is_some(),
    );
    let pins: Vec<Pin> = sites
        .iter()
        .map(|s| Pin {
            lat: s.lat,
            lon: s.lon,
            label: &s.name,
            class: s.freshness(),
            // A pin opens the site's file: what happened there.
            href: Some(format!("/review/sites/{}", s.site_id)),
            named: sites.len() <= 30,
        })
        .collect();
    let query = format!(
        "group_id={}&kind={}&stale_days={}",
        super::sites::urlencode(q.group_id.as_deref().unwrap_or("")),
        super::sites::urlencode(q.kind.as_deref().unwrap_or("")),
        super::sites::urlencode(q.stale_days.as_deref().unwrap_or(""))
    );
    let group = q.group_id.clone().unwrap_or_default();
    Ok(page(
        "巡查覆盖",
        &user,
        "/admin/coverage",
        None,
        html! {
            section.card {
                h1 { "巡查覆盖" }
                form.filters method="get" action="/admin/coverage" {
                    label { "联络组" (group_select("group_id", &groups, &group, Some("全部"))) }
                    label { "类型" (super::sites::kind_select("kind", q.kind.as_deref().unwrap_or(""), Some("全部"))) }
                    label { "未巡查天数 ≥" input type="number" min="0" name="stale_days" value=(q.stale_days.clone().unwrap_or_default()); }
                    button type="submit" { "筛选" }
                }
                p.summary {
                    (sites.len()) " 个点位,其中从未巡查 " strong { (never) } " 个 · "
                    a href={ "/admin/coverage.csv?" (query) } { "导出 CSV" } " · "
                    a href={ "/admin/coverage.xlsx?" (query) } { "导出 Excel" } " · "
                    a href={ "/admin/routes/new?group_id=" (group) } { "为未巡查的点位规划路线" }
                }
                div.mapbox { (map::svg(&view, &pins, Backdrop::of(st.config.map_tiles.as_deref()))) }
                p.legend {
                    span.dot.fresh { "●" } " 7 天内 " span.dot.due { "●" } " 7–30 天 "
                    span.dot.stale { "●" } " 30 天以上 " span.dot.never { "●" } " 从未巡查"
                }
                table.list id="coverage" {
                    tr { th { "点位" } th { "类型" } th { "联络组" } th { "最近巡查" } th { "最近通过" } th { "距今" } th { "未完成整改" } th { "逾期整改" } th { "档案" } }
                    @for s in sites.iter().take(TABLE_ROWS) {
                        tr {
                            td { a href={ "/admin/sites/" (s.site_id) } { (s.name) } }
                            td { (crate::reference::sites::kind_label(&s.kind)) }
                            td { (gname(&s.group_id)) }
                            td { (s.last_inspected_at.map(|t| t.with_timezone(&crate::clock::district_offset()).format("%Y-%m-%d").to_string()).unwrap_or_else(|| "从未".into())) }
                            td { (s.last_approved_at.map(|t| t.with_timezone(&crate::clock::district_offset()).format("%Y-%m-%d").to_string()).unwrap_or_default()) }
                            td class=(s.freshness()) { @match s.days_since_inspected { Some(d) => { (d) " 天" }, None => { "—" } } }
                            td { (s.open_followups) }
                            td class=(if s.overdue_followups > 0 { "stale" } else { "" }) { (s.overdue_followups) }
                            td { a href={ "/review/sites/" (s.site_id) } { "一点一档" } }
                        }
                    }
                }
                @if sites.len() > TABLE_ROWS { p.hint { "表中显示最久未巡查的 " (TABLE_ROWS) " 个;全部见 CSV。" } }
            }
            section.card {
                h2 { "过期未完成的路线" }
                @if late_routes.is_empty() { p.empty { "没有" } }
                table.list id="late-routes" {
                    @for r in &late_routes {
                        tr {
                            td { (r.scheduled_for) }
                            td { a href={ "/admin/routes/" (r.id) } { (r.name) } }
                            td { (gname(&r.group_id)) }
                            td { (r.assignee.clone().unwrap_or_else(|| "全组".into())) }
                            td { (if r.status == "active" { "进行中" } else { "待巡查" }) }
                        }
                    }
                }
            }
            section.card {
                h2 { "逾期的整改" }
                @if late_followups.is_empty() { p.empty { "没有" } }
                table.list id="late-followups" {
                    @for f in &late_followups {
                        tr {
                            td { a href={ "/review/inspections/" (f.inspection_id) } { (f.title) } }
                            td { (f.department) }
                            td { "期限 " (crate::clock::utc(f.due_at).with_timezone(&crate::clock::district_offset()).format("%Y-%m-%d")) }
                            td { (if f.status == "in_progress" { "整改中" } else { "未开始" }) }
                        }
                    }
                }
            }
        },
    ))
}

async fn table(
    st: web::Data<AppState>,
    user: crate::webui::session::WebUser,
    q: Query,
    format: crate::http::sheet::Format,
) -> Page {
    let f = q.filter();
    let caller = user.caller;
    Ok(
        crate::http::sheet::answer(st.db.clone(), format, "coverage", move |c, cursor| {
            coverage::sheet_page(c, &caller, &f, cursor)
        })
        .await?,
    )
}

#[get("/admin/coverage.csv")]
async fn csv(st: web::Data<AppState>, AdminUser(user): AdminUser, q: web::Query<Query>) -> Page {
    table(st, user, q.into_inner(), crate::http::sheet::Format::Csv).await
}

#[get("/admin/coverage.xlsx")]
async fn xlsx(st: web::Data<AppState>, AdminUser(user): AdminUser, q: web::Query<Query>) -> Page {
    table(st, user, q.into_inner(), crate::http::sheet::Format::Xlsx).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(csv).service(xlsx).service(view);
}
