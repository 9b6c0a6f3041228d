//! Routes and their recurring schedules: plan a day's route from the
//! group's sites (filtered by kind and by days since the last inspection,
//! shown on the map), order the stops, a checklist per stop, assign one
//! inspector or the whole group; copy, reassign, cancel. Schedules take the
//! same stops and a rule (weekly on weekdays, monthly on a day).

use super::{AdminUser, Fields, Page, Problem, csrf, group_options, group_select, page, saved};
use crate::auth::Role;
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::reference::routes::{
    self, NewRoute, Route, RouteFilter, RoutePatch, RouteStatus, StopInput,
};
use crate::reference::schedules::{
    self, Freq, NewSchedule, Recurrence, ScheduleFilter, SchedulePatch, ScheduleStop,
};
use crate::reference::templates::{self, Template};
use crate::review::coverage::{self, CoverageFilter, SiteCoverage};
use crate::state::AppState;
use crate::webui::map::{self, Backdrop, Pin, View};
use crate::webui::session::WebUser;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Duration, NaiveDate};
use maud::{Markup, html};
use serde::Deserialize;

/// What a plan is made from: the group's sites with their coverage, the
/// checklists it may use and its inspectors.
struct Ctx {
    groups: Vec<(String, String)>,
    sites: Vec<SiteCoverage>,
    templates: Vec<Template>,
    inspectors: Vec<(String, String)>,
    /// The checklist last planned for each kind of site in this group: a
    /// new stop's default (a water checklist is never offered for a
    /// forest-fire point because of its name or its place in a list).
    last_for_kind: std::collections::HashMap<String, String>,
}

async fn ctx(st: &AppState, user: &WebUser, group: &str) -> AppResult<Ctx> {
    let caller = user.caller.clone();
    let group = group.to_string();
    st.db
        .read(move |c| {
            let groups = group_options(c)?;
            if group.is_empty() {
                return Ok(Ctx {
                    groups,
                    sites: vec![],
                    templates: vec![],
                    inspectors: vec![],
                    last_for_kind: Default::default(),
                });
            }
            let f = CoverageFilter {
                group_id: Some(group.clone()),
                ..CoverageFilter::default()
            };
            let sites = coverage::all(c, &caller, &f)?;
            let mut all = crate::paging::collect(
                usize::MAX,
                |req| templates::list(c, &caller, req),
                |x| &x.id,
            )?;
            all.retain(|t| t.group_id.as_deref().is_none_or(|g| g == group));
            use crate::db::schema::users;
            use diesel::prelude::*;
            let inspectors = users::table
                .filter(users::group_id.eq(&group))
                .filter(users::role.eq(Role::Inspector.as_str()))
                .filter(users::active.eq(true))
                .order(users::display_name)
                .select((users::id, users::display_name))
                .load(c)?;
            let last_for_kind = last_checklist_per_kind(c, &group, &all)?;
            Ok(Ctx {
                groups,
                sites,
                templates: all,
                inspectors,
                last_for_kind,
            })
        })
        .await
}

/// The checklist most recently planned for each kind of site of the
/// group (among those it may still use), from its routes' stops, newest
/// route first.
fn last_checklist_per_kind(
    c: &mut crate::db::Conn,
    group: &str,
    usable: &[Template],
) -> AppResult<std::collections::HashMap<String, String>> {
    use crate::db::schema::{route_stops, routes as routes_t, sites as sites_t};
    use diesel::prelude::*;
    let rows: Vec<(String, String)> = route_stops::table
        .inner_join(routes_t::table.on(routes_t::id.eq(route_stops::route_id)))
        .inner_join(sites_t::table.on(sites_t::id.eq(route_stops::site_id)))
        .filter(routes_t::group_id.eq(group))
        .filter(routes_t::deleted.eq(false))
        .order((routes_t::created_at.desc(), route_stops::seq))
        .select((sites_t::kind, route_stops::template_id))
        .limit(2000)
        .load(c)?;
    let mut out = std::collections::HashMap::new();
    for (kind, tpl) in rows {
        if usable.iter().any(|t| t.id == tpl) {
            out.entry(kind).or_insert(tpl);
        }
    }
    Ok(out)
}

/// A plan form names each stop by a row key, never by its site: a route
/// may visit one site twice. An existing stop's row is its stop id; a
/// site picked anew is its site id (`<site>~2`, `~3`... for more visits).
/// Per row: `site.<row>`, `seq.<row>`, `tpl.<row>`, `notes.<row>`, and
/// `stop.<row>` for a stop that already exists; the checked rows are the
/// `row` values.
fn chosen_rows(f: &Fields) -> Vec<&str> {
    f.all("row")
}

/// The site of a row (a new row's key is its site, with a `~n` suffix).
fn row_site<'a>(f: &'a Fields, row: &'a str) -> &'a str {
    match f.get(&format!("site.{row}")) {
        "" => row.split('~').next().unwrap_or(row),
        s => s,
    }
}

/// The checked rows by their order number, then by their place in the
/// list: the stops' order, and the order in which an error about
/// `stops[i]` is shown at the i-th row.
fn ordered_rows(f: &Fields) -> Vec<&str> {
    let mut rows: Vec<(f64, usize, &str)> = chosen_rows(f)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let seq = f
                .get(&format!("seq.{row}"))
                .trim()
                .parse::<f64>()
                .unwrap_or(f64::MAX);
            (seq, i, row)
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    rows.into_iter().map(|(_, _, r)| r).collect()
}

/// The stops a plan form holds, in order, each with its checklist and notes.
fn stops_of(f: &Fields) -> Vec<StopInput> {
    ordered_rows(f)
        .into_iter()
        .map(|row| StopInput {
            id: f.opt(&format!("stop.{row}")),
            seq: None,
            site_id: row_site(f, row).to_string(),
            template_id: f.get(&format!("tpl.{row}")).to_string(),
            notes: f.get(&format!("notes.{row}")).to_string(),
        })
        .collect()
}

/// A row key for a new visit to `site`, not yet used in the form.
fn new_row(f: &Fields, site: &str) -> String {
    let rows = chosen_rows(f);
    (1..)
        .map(|n| {
            if n == 1 {
                site.to_string()
            } else {
                format!("{site}~{n}")
            }
        })
        .find(|k| !rows.contains(&k.as_str()))
        .unwrap_or_else(|| site.to_string())
}

/// Puts stops into a form (for an existing route, a schedule or a copy).
fn set_stops(f: &mut Fields, stops: &[(Option<String>, String, String, String)]) {
    for (i, (id, site, tpl, notes)) in stops.iter().enumerate() {
        let row = match id {
            Some(id) => id.clone(),
            None => new_row(f, site),
        };
        f.push("row", row.clone());
        f.set(&format!("site.{row}"), site.clone());
        f.set(&format!("seq.{row}"), (i + 1).to_string());
        f.set(&format!("tpl.{row}"), tpl.clone());
        f.set(&format!("notes.{row}"), notes.clone());
        if let Some(id) = id {
            f.set(&format!("stop.{row}"), id.clone());
        }
    }
}

/// The sites of the checked rows.
fn chosen_sites(f: &Fields) -> Vec<&str> {
    chosen_rows(f).into_iter().map(|r| row_site(f, r)).collect()
}

/// The group's sites a plan form offers: those its filters (kind, days
/// since the last inspection) keep, and not already chosen.
fn offered<'a>(ctx: &'a Ctx, f: &Fields) -> Vec<&'a SiteCoverage> {
    let chosen = chosen_sites(f);
    let kind = f.get("kind");
    let stale: Option<i64> = f.get("stale_days").trim().parse().ok();
    ctx.sites
        .iter()
        .filter(|s| {
            !chosen.contains(&s.site_id.as_str())
                && (kind.is_empty() || s.kind == kind)
                && stale.is_none_or(|d| s.stale(d))
        })
        .collect()
}

/// The sites on the map: the chosen ones and the offered ones.
fn shown<'a>(ctx: &'a Ctx, f: &Fields) -> Vec<&'a SiteCoverage> {
    let chosen = chosen_sites(f);
    let mut out: Vec<&SiteCoverage> = ctx
        .sites
        .iter()
        .filter(|s| chosen.contains(&s.site_id.as_str()))
        .collect();
    out.extend(offered(ctx, f));
    out
}

/// The map's view: kept across clicks on the map (so it does not jump),
/// else fitted to the sites shown.
fn plan_view(st: &AppState, f: &Fields, shown: &[&SiteCoverage]) -> View {
    View::decode(f.get("plan_view"))
        .filter(|_| f.has("mappick.x"))
        .unwrap_or_else(|| {
            View::fit(
                shown.iter().map(|s| (s.lat, s.lon)),
                st.config.map_tiles.is_some(),
            )
        })
}

/// A click on the plan's map adds a visit to the site under it (within 15
/// pixels), or takes out its last visit if it was chosen: sites are picked
/// from the map with no script.
fn toggle_at(ctx: &Ctx, f: &mut Fields) {
    let (Ok(x), Ok(y), Some(view)) = (
        f.number("mappick.x"),
        f.number("mappick.y"),
        View::decode(f.get("plan_view")),
    ) else {
        return;
    };
    let nearest = shown(ctx, f)
        .into_iter()
        .map(|s| {
            let (px, py) = view.to_px(s.lat, s.lon);
            (
                ((px - x).powi(2) + (py - y).powi(2)).sqrt(),
                s.site_id.clone(),
            )
        })
        .filter(|(d, _)| *d <= 15.0)
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let Some((_, site)) = nearest else { return };
    let visits: Vec<String> = chosen_rows(f)
        .into_iter()
        .filter(|r| row_site(f, r) == site)
        .map(str::to_string)
        .collect();
    if let Some(last) = visits.last() {
        f.0.retain(|(k, v)| !(k == "row" && v == last));
    } else {
        let next = chosen_rows(f).len() + 1;
        let row = new_row(f, &site);
        f.push("row", row.clone());
        f.set(&format!("site.{row}"), site.clone());
        f.set(&format!("seq.{row}"), next.to_string());
    }
}

/// The checklist a stop at `s` gets unless the admin chooses: the one last
/// planned for its kind here; none (the admin must choose) for a kind
/// never planned.
fn default_checklist(ctx: &Ctx, s: &SiteCoverage) -> String {
    match (ctx.last_for_kind.get(&s.kind), ctx.templates.as_slice()) {
        (Some(t), _) => t.clone(),
        // The group's only checklist is no guess.
        (None, [only]) => only.id.clone(),
        (None, _) => String::new(),
    }
}

fn stop_picker(st: &AppState, ctx: &Ctx, f: &Fields, p: Option<&Problem>) -> Markup {
    let chosen = chosen_sites(f);
    let kind = f.get("kind");
    let shown = shown(ctx, f);
    let offered = offered(ctx, f);
    let site_of = |id: &str| ctx.sites.iter().find(|s| s.site_id == id);
    let view = plan_view(st, f, &shown);
    let pins: Vec<Pin> = shown
        .iter()
        .map(|s| Pin {
            lat: s.lat,
            lon: s.lon,
            label: &s.name,
            class: if chosen.contains(&s.site_id.as_str()) {
                "chosen"
            } else {
                s.freshness()
            },
            href: None,
            named: shown.len() <= 40,
        })
        .collect();
    let checklist = |name: &str, chosen: &str| {
        html! {
            select name=(name) {
                @if chosen.is_empty() { option value="" selected { "请选择检查清单" } }
                @for t in &ctx.templates { option value=(t.id) selected[t.id == chosen] { (t.name) } }
            }
        }
    };
    html! {
        fieldset.picker-filters {
            legend { "选择点位" }
            label { "类型" (super::sites::kind_select("kind", kind, Some("全部"))) }
            label { "未巡查天数 ≥" input type="number" name="stale_days" id="stale_days" min="0" value=(f.get("stale_days")); }
            button.secondary type="submit" name="action" value="filter" id="filter" { "筛选点位" }
        }
        (Problem::at(p, "stops"))
        input type="hidden" name="plan_view" value=(view.encode());
        p.hint { "点击地图上的点位即可选中或取消;同一点位可以在路线中出现多次(在下表中再勾选一次)。" }
        div.mapbox {
            div.picker {
                (map::svg(&view, &pins, Backdrop::of(st.config.map_tiles.as_deref())))
                input type="image" name="mappick" id="mappick" src="/admin/clear.svg" alt="在地图上点选点位"
                    width=(map::WIDTH) height=(map::HEIGHT);
            }
        }
        p.legend {
            span.dot.chosen { "●" } " 已选 " span.dot.fresh { "●" } " 7 天内巡查 " span.dot.due { "●" } " 7–30 天 "
            span.dot.stale { "●" } " 30 天以上 " span.dot.never { "●" } " 从未巡查"
        }
        div.scroll {
        table.list.stops id="stops" {
            tr { th { "选" } th { "顺序" } th { "点位" } th { "类型" } th { "距上次巡查" } th { "检查清单" } th { "备注" } }
            // The stops chosen, one row each (a site visited twice has two).
            @for (i, row) in ordered_rows(f).into_iter().enumerate() {
                @let site = row_site(f, row);
                @let s = site_of(site);
                tr.on {
                    td {
                        input type="checkbox" name="row" value=(row) checked aria-label=(s.map_or(site, |s| s.name.as_str()));
                        input type="hidden" name={ "site." (row) } value=(site);
                        @if let Some(stop) = f.opt(&format!("stop.{row}")) { input type="hidden" name={ "stop." (row) } value=(stop); }
                    }
                    td { input type="number" name={ "seq." (row) } value=(f.get(&format!("seq.{row}"))) min="1" size="3"; }
                    td { (s.map_or("(点位已不在本组)", |s| s.name.as_str())) @if let Some(c) = s.and_then(|s| s.code.as_ref()) { " " small { (c) } } }
                    td { (s.map_or("", |s| crate::reference::sites::kind_label(&s.kind))) }
                    td class=(s.map_or("", |s| s.freshness())) { @match s.and_then(|s| s.days_since_inspected) { Some(d) => { (d) " 天" }, None => { "从未" } } }
                    td {
                        (checklist(&format!("tpl.{row}"), f.get(&format!("tpl.{row}"))))
                        (Problem::at(p, &format!("stops[{i}].template_id")))
                    }
                    td { input name={ "notes." (row) } value=(f.get(&format!("notes.{row}"))); }
                }
            }
            // The group's other sites (and each chosen one once more, for
            // a second visit), to add.
            @for s in offered.iter().copied().chain(ctx.sites.iter().filter(|s| chosen.contains(&s.site_id.as_str()))) {
                @let row = new_row(f, &s.site_id);
                tr {
                    td {
                        input type="checkbox" name="row" value=(row) aria-label=(s.name);
                        input type="hidden" name={ "site." (row) } value=(s.site_id);
                    }
                    td { input type="number" name={ "seq." (row) } value="" min="1" size="3"; }
                    td { (s.name) @if let Some(c) = &s.code { " " small { (c) } } @if chosen.contains(&s.site_id.as_str()) { " " small.tag { "再次巡查" } } }
                    td { (crate::reference::sites::kind_label(&s.kind)) }
                    td class=(s.freshness()) { @match s.days_since_inspected { Some(d) => { (d) " 天" }, None => { "从未" } } }
                    td { (checklist(&format!("tpl.{row}"), &default_checklist(ctx, s))) }
                    td { input name={ "notes." (row) } value=""; }
                }
            }
        }
        }
        @if shown.is_empty() { p.empty { "没有符合条件的点位" } }
    }
}

fn assignee_select(ctx: &Ctx, chosen: &str) -> Markup {
    html! {
        select name="assignee_id" id="assignee_id" {
            option value="" { "全组(任何组员)" }
            @for (id, name) in &ctx.inspectors { option value=(id) selected[id == chosen] { (name) } }
        }
    }
}

fn status_label(s: RouteStatus) -> &'static str {
    match s {
        RouteStatus::Planned => "待巡查",
        RouteStatus::Active => "进行中",
        RouteStatus::Done => "已完成",
        RouteStatus::Cancelled => "已取消",
    }
}

#[derive(Deserialize, Default)]
struct RoutesQuery {
    group_id: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

#[get("/admin/routes")]
async fn routes_list(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<RoutesQuery>,
) -> Page {
    let today = clock::today();
    let from = q.from.unwrap_or(today - Duration::days(7));
    let to = q.to.unwrap_or(today + Duration::days(14));
    let group = q.group_id.clone().unwrap_or_default();
    let caller = user.caller.clone();
    let f = RouteFilter {
        group_id: Some(group.clone()).filter(|g| !g.is_empty()),
        from: Some(from),
        to: Some(to),
        ..RouteFilter::default()
    };
    let (mut list, groups, names) = st
        .db
        .read(move |c| {
            let all =
                crate::paging::collect(2000, |req| routes::list(c, &caller, &f, req), |x| &x.id)?;
            use crate::db::schema::users;
            use diesel::prelude::*;
            let ids: Vec<String> = all.iter().filter_map(|r| r.assignee_id.clone()).collect();
            let names: std::collections::HashMap<String, String> = users::table
                .filter(users::id.eq_any(ids))
                .select((users::id, users::display_name))
                .load::<(String, String)>(c)?
                .into_iter()
                .collect();
            Ok((all, group_options(c)?, names))
        })
        .await?;
    list.sort_by(|a, b| {
        a.scheduled_for
            .cmp(&b.scheduled_for)
            .then(a.name.cmp(&b.name))
    });
    let gname = |id: &str| {
        groups
            .iter()
            .find(|(i, _)| i == id)
            .map_or("", |(_, n)| n.as_str())
    };
    Ok(page(
        "巡查路线",
        &user,
        "/admin/routes",
        None,
        html! {
            section.card {
                h1 { "巡查路线" }
                p.actions { a.button href={ "/admin/routes/new?group_id=" (group) } { "规划新路线" } a href="/admin/schedules" { "周期计划" } }
                form.filters method="get" action="/admin/routes" {
                    label { "联络组" (group_select("group_id", &groups, &group, Some("全部"))) }
                    label { "从" input type="date" name="from" value=(from); }
                    label { "到" input type="date" name="to" value=(to); }
                    button type="submit" { "筛选" }
                }
                table.list id="routes" {
                    tr { th { "日期" } th { "路线" } th { "联络组" } th { "负责人" } th { "站点" } th { "状态" } th {} }
                    @for r in &list {
                        tr class=(if r.scheduled_for < today && matches!(r.status, RouteStatus::Planned | RouteStatus::Active) { "late" } else { "" }) {
                            td { (r.scheduled_for) }
                            td { a href={ "/admin/routes/" (r.id) } { (r.name) } @if r.schedule_id.is_some() { " " small.tag { "周期" } } }
                            td { (gname(&r.group_id)) }
                            td { (r.assignee_id.as_ref().and_then(|a| names.get(a)).map_or("全组", String::as_str)) }
                            td { (r.stops.iter().filter(|s| s.done).count()) "/" (r.stops.len()) }
                            td { (status_label(r.status)) }
                            td { a href={ "/admin/routes/new?copy=" (r.id) } { "复制" } }
                        }
                    }
                }
                @if list.is_empty() { p.empty { "这段时间没有路线" } }
            }
        },
    ))
}

struct RoutePage<'a> {
    id: Option<&'a str>,
    route: Option<&'a Route>,
}

fn route_form(
    st: &AppState,
    user: &WebUser,
    ctx: &Ctx,
    r: &RoutePage,
    f: &Fields,
    p: Option<&Problem>,
) -> HttpResponse {
    let action = r.id.map_or("/admin/routes".to_string(), |id| {
        format!("/admin/routes/{id}")
    });
    let shown = [
        "group_id",
        "name",
        "scheduled_for",
        "due",
        "assignee_id",
        "stops",
        "status",
    ];
    page(
        if r.id.is_some() {
            "编辑路线"
        } else {
            "规划路线"
        },
        user,
        "/admin/routes",
        p,
        html! {
            section.card {
                p { a href="/admin/routes" { "← 路线" } }
                h1 { (if r.id.is_some() { "编辑路线" } else { "规划路线" }) }
                @if let Some(route) = r.route {
                    p.meta { "状态:" (status_label(route.status)) " · 已完成站点 " (route.stops.iter().filter(|s| s.done).count()) "/" (route.stops.len())
                        @if route.schedule_id.is_some() { " · 由周期计划生成" } }
                }
                form method="post" action=(action) {
                    (csrf(user))
                    (Problem::banner(p, &shown))
                    div.cols {
                        div {
                            label { "联络组" (group_select("group_id", &ctx.groups, f.get("group_id"), None)) (Problem::at(p, "group_id")) }
                            p.hint { "换组后点“筛选点位”刷新点位和人员。" }
                            (super::input("路线名称", "name", f.get("name"), p))
                        }
                        div {
                            label { "日期" input type="date" name="scheduled_for" id="scheduled_for" value=(f.get("scheduled_for")); (Problem::at(p, "scheduled_for")) }
                            label { "截止日期(可不填)" input type="date" name="due" id="due" value=(f.get("due")); (Problem::at(p, "due")) }
                            label { "负责人" (assignee_select(ctx, f.get("assignee_id"))) (Problem::at(p, "assignee_id")) }
                        }
                    }
                    (stop_picker(st, ctx, f, p))
                    div.buttons {
                        button type="submit" name="action" value="save" id="save" { "保存路线" }
                        @if let Some(route) = r.route {
                            @if matches!(route.status, RouteStatus::Planned | RouteStatus::Active) {
                                button.danger type="submit" name="action" value="cancel" id="cancel" { "取消路线" }
                            }
                            @if route.status == RouteStatus::Cancelled {
                                button.secondary type="submit" name="action" value="restore" id="restore" { "恢复为待巡查" }
                            }
                        }
                    }
                }
                @if let Some(id) = r.id { p { a href={ "/admin/routes/new?copy=" (id) } { "复制为新路线" } } }
            }
        },
    )
}

#[derive(Deserialize, Default)]
struct NewRouteQuery {
    group_id: Option<String>,
    copy: Option<String>,
    date: Option<NaiveDate>,
}

fn route_fields(r: &Route) -> Fields {
    let mut f = Fields::default();
    f.set("group_id", r.group_id.clone());
    f.set("name", r.name.clone());
    f.set("scheduled_for", r.scheduled_for.to_string());
    f.set("assignee_id", r.assignee_id.clone().unwrap_or_default());
    if let Some(d) = r.due_at {
        f.set(
            "due",
            d.with_timezone(&clock::district_offset())
                .date_naive()
                .to_string(),
        );
    }
    let stops: Vec<_> = r
        .stops
        .iter()
        .map(|s| {
            (
                Some(s.id.clone()),
                s.site_id.clone(),
                s.template_id.clone(),
                s.notes.clone(),
            )
        })
        .collect();
    set_stops(&mut f, &stops);
    f
}

#[get("/admin/routes/new")]
async fn route_new(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<NewRouteQuery>,
) -> Page {
    let q = q.into_inner();
    let mut f = match &q.copy {
        Some(id) => {
            let (caller, id) = (user.caller.clone(), id.clone());
            let r = st.db.read(move |c| routes::get(c, &caller, &id)).await?;
            let mut f = route_fields(&r);
            // A copy is a new route: new stops, a new day.
            f.0.retain(|(k, _)| !k.starts_with("stop.") && k != "due");
            f.set("name", r.name);
            f
        }
        None => Fields::default(),
    };
    f.set(
        "scheduled_for",
        q.date.unwrap_or_else(clock::today).to_string(),
    );
    if let Some(g) = q.group_id.filter(|g| !g.is_empty()) {
        f.set("group_id", g);
    }
    let mut c = ctx(&st, &user, f.get("group_id")).await?;
    if f.get("group_id").is_empty()
        && let Some((g, _)) = c.groups.first().cloned()
    {
        f.set("group_id", g.clone());
        c = ctx(&st, &user, &g).await?;
    }
    let r = RoutePage {
        id: None,
        route: None,
    };
    Ok(route_form(&st, &user, &c, &r, &f, None))
}

#[get("/admin/routes/{id}")]
async fn route_edit(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let (caller, id) = (user.caller.clone(), id.to_string());
    let rid = id.clone();
    let route = st.db.read(move |c| routes::get(c, &caller, &rid)).await?;
    let f = route_fields(&route);
    let c = ctx(&st, &user, &route.group_id).await?;
    let r = RoutePage {
        id: Some(&id),
        route: Some(&route),
    };
    Ok(route_form(&st, &user, &c, &r, &f, None))
}

fn date(f: &Fields, name: &str) -> AppResult<Option<NaiveDate>> {
    match f.get(name).trim() {
        "" => Ok(None),
        d => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::invalid(name, "must be a date")),
    }
}

async fn route_save(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    user: WebUser,
    id: Option<String>,
) -> Page {
    let mut f = super::fields(&req, body).await?;
    f.check_csrf(&user)?;
    let c = ctx(&st, &user, f.get("group_id")).await?;
    let picked = f.has("mappick.x");
    if picked {
        toggle_at(&c, &mut f);
    }
    let existing = match &id {
        Some(id) => {
            let (caller, id) = (user.caller.clone(), id.clone());
            Some(st.db.read(move |c| routes::get(c, &caller, &id)).await?)
        }
        None => None,
    };
    let show = |p: Option<&Problem>| {
        let r = RoutePage {
            id: id.as_deref(),
            route: existing.as_ref(),
        };
        route_form(&st, &user, &c, &r, &f, p)
    };
    if picked || f.get("action") == "filter" {
        return Ok(show(None));
    }
    let caller = user.caller.clone();
    let result: AppResult<String> = async {
        let scheduled_for = date(&f, "scheduled_for")?
            .ok_or_else(|| AppError::invalid("scheduled_for", "must be a date"))?;
        let due_at = date(&f, "due")?.map(clock::end_of_day);
        let stops = stops_of(&f);
        let assignee = f.opt("assignee_id");
        match (&id, f.get("action")) {
            (Some(id), a @ ("cancel" | "restore")) => {
                let status = if a == "cancel" {
                    RouteStatus::Cancelled
                } else {
                    RouteStatus::Planned
                };
                let id = id.clone();
                st.db
                    .write(move |c| {
                        routes::update(
                            c,
                            &caller,
                            &id,
                            RoutePatch {
                                status: Some(status),
                                ..RoutePatch::default()
                            },
                        )
                    })
                    .await
                    .map(|r| r.id)
            }
            (Some(id), _) => {
                let patch = RoutePatch {
                    group_id: Some(f.get("group_id").to_string()),
                    name: Some(f.get("name").to_string()),
                    assignee_id: Some(assignee),
                    scheduled_for: Some(scheduled_for),
                    due_at: Some(due_at),
                    status: None,
                    stops: Some(stops),
                };
                let id = id.clone();
                st.db
                    .write(move |c| routes::update(c, &caller, &id, patch))
                    .await
                    .map(|r| r.id)
            }
            (None, _) => {
                let new = NewRoute {
                    group_id: f.get("group_id").to_string(),
                    name: f.get("name").to_string(),
                    assignee_id: assignee,
                    scheduled_for,
                    due_at,
                    status: None,
                    stops: stops
                        .into_iter()
                        .map(|s| StopInput { id: None, ..s })
                        .collect(),
                };
                st.db
                    .write(move |c| routes::create(c, &caller, new))
                    .await
                    .map(|r| r.id)
            }
        }
    }
    .await;
    match result {
        Ok(rid) => Ok(saved(&format!("/admin/routes/{rid}"))),
        Err(e) if e.status == actix_web::http::StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => Ok(show(Some(&Problem::of(&e)))),
    }
}

#[post("/admin/routes")]
async fn route_create(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
) -> Page {
    route_save(st, req, body, user, None).await
}

#[post("/admin/routes/{id}")]
async fn route_update(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    route_save(st, req, body, user, Some(id.to_string())).await
}

const WEEKDAYS: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];

fn describe(r: &Recurrence) -> String {
    match r.freq {
        Freq::Weekly => format!(
            "每周{}",
            r.weekdays
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| WEEKDAYS.get(usize::from(*d).saturating_sub(1)))
                .copied()
                .collect::<Vec<_>>()
                .join("、")
        ),
        Freq::Monthly => format!("每月 {} 日", r.month_day.unwrap_or(1)),
    }
}

#[get("/admin/schedules")]
async fn schedules_list(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let caller = user.caller.clone();
    let (list, groups) = st
        .db
        .read(move |c| {
            let all = crate::paging::collect(
                usize::MAX,
                |req| schedules::list(c, &caller, &ScheduleFilter::default(), req),
                |x| &x.id,
            )?;
            Ok((all, group_options(c)?))
        })
        .await?;
    let gname = |id: &str| {
        groups
            .iter()
            .find(|(i, _)| i == id)
            .map_or("", |(_, n)| n.as_str())
    };
    Ok(page(
        "周期计划",
        &user,
        "/admin/schedules",
        None,
        html! {
            section.card {
                h1 { "周期计划" }
                p.hint { "周期计划按规则提前生成路线(默认提前 14 天),巡查员离开信号区前手机里就有下周的任务。" }
                p.actions { a.button href="/admin/schedules/new" { "新建周期计划" } }
                table.list id="schedules" {
                    tr { th { "名称" } th { "联络组" } th { "规则" } th { "站点" } th { "已生成到" } th { "状态" } }
                    @for s in &list {
                        tr {
                            td { a href={ "/admin/schedules/" (s.id) } { (s.name) } }
                            td { (gname(&s.group_id)) }
                            td { (describe(&s.recurrence)) }
                            td { (s.stops.len()) }
                            td { (s.generated_through.map(|d| d.to_string()).unwrap_or_default()) }
                            td { (if s.active { "启用" } else { "停用" }) }
                        }
                    }
                }
                @if list.is_empty() { p.empty { "还没有周期计划" } }
            }
        },
    ))
}

fn schedule_form(
    st: &AppState,
    user: &WebUser,
    ctx: &Ctx,
    id: Option<&str>,
    f: &Fields,
    p: Option<&Problem>,
) -> HttpResponse {
    let action = id.map_or("/admin/schedules".to_string(), |id| {
        format!("/admin/schedules/{id}")
    });
    let shown = [
        "group_id",
        "name",
        "assignee_id",
        "stops",
        "recurrence.weekdays",
        "recurrence.month_day",
        "horizon_days",
    ];
    let weekly = f.get("freq") != "monthly";
    let days = f.all("wd");
    page(
        "周期计划",
        user,
        "/admin/schedules",
        p,
        html! {
            section.card {
                p { a href="/admin/schedules" { "← 周期计划" } }
                h1 { (if id.is_some() { "编辑周期计划" } else { "新建周期计划" }) }
                form method="post" action=(action) {
                    (csrf(user))
                    (Problem::banner(p, &shown))
                    div.cols {
                        div {
                            @if id.is_some() {
                                input type="hidden" name="group_id" value=(f.get("group_id"));
                                p { "联络组:" (ctx.groups.iter().find(|g| g.0 == f.get("group_id")).map_or("", |g| g.1.as_str())) }
                            } @else {
                                label { "联络组" (group_select("group_id", &ctx.groups, f.get("group_id"), None)) (Problem::at(p, "group_id")) }
                            }
                            (super::input("名称", "name", f.get("name"), p))
                            label { "负责人" (assignee_select(ctx, f.get("assignee_id"))) (Problem::at(p, "assignee_id")) }
                            label.check { input type="checkbox" name="active" value="1" checked[f.has("active")]; "启用" }
                        }
                        div {
                            fieldset {
                                legend { "规则" }
                                label.check { input type="radio" name="freq" value="weekly" checked[weekly]; "每周" }
                                div.weekdays {
                                    @for (i, d) in WEEKDAYS.iter().enumerate() {
                                        @let v = (i + 1).to_string();
                                        label.check { input type="checkbox" name="wd" value=(v) checked[days.contains(&v.as_str())]; "周" (d) }
                                    }
                                }
                                (Problem::at(p, "recurrence.weekdays"))
                                label.check { input type="radio" name="freq" value="monthly" checked[!weekly]; "每月" }
                                label { "每月几日(没有该日的月份取月末)" input type="number" name="month_day" id="month_day" min="1" max="31" value=(f.get("month_day")); (Problem::at(p, "recurrence.month_day")) }
                            }
                            label { "提前生成天数" input type="number" name="horizon_days" id="horizon_days" min="0" max=(schedules::MAX_HORIZON_DAYS) value=(f.get("horizon_days")); (Problem::at(p, "horizon_days")) }
                        }
                    }
                    (stop_picker(st, ctx, f, p))
                    div.buttons {
                        button type="submit" name="action" value="save" id="save" { "保存" }
                        @if id.is_some() { button.danger type="submit" name="action" value="delete" id="delete" { "删除计划(及今后未开始的路线)" } }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize, Default)]
struct NewScheduleQuery {
    group_id: Option<String>,
}

#[get("/admin/schedules/new")]
async fn schedule_new(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<NewScheduleQuery>,
) -> Page {
    let mut f = Fields::default();
    f.set("freq", "weekly");
    f.set("horizon_days", schedules::DEFAULT_HORIZON_DAYS.to_string());
    f.set("active", "1");
    let mut c = ctx(&st, &user, q.group_id.as_deref().unwrap_or("")).await?;
    match q.group_id.clone().filter(|g| !g.is_empty()) {
        Some(g) => f.set("group_id", g),
        None => {
            if let Some((g, _)) = c.groups.first().cloned() {
                f.set("group_id", g.clone());
                c = ctx(&st, &user, &g).await?;
            }
        }
    }
    Ok(schedule_form(&st, &user, &c, None, &f, None))
}

#[get("/admin/schedules/{id}")]
async fn schedule_edit(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let (caller, id) = (user.caller.clone(), id.to_string());
    let sid = id.clone();
    let s = st
        .db
        .read(move |c| schedules::get(c, &caller, &sid))
        .await?;
    let mut f = Fields::default();
    f.set("group_id", s.group_id.clone());
    f.set("name", s.name.clone());
    f.set("assignee_id", s.assignee_id.clone().unwrap_or_default());
    f.set(
        "freq",
        if s.recurrence.freq == Freq::Monthly {
            "monthly"
        } else {
            "weekly"
        },
    );
    for d in s.recurrence.weekdays.as_deref().unwrap_or_default() {
        f.push("wd", d.to_string());
    }
    f.set(
        "month_day",
        s.recurrence
            .month_day
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    f.set("horizon_days", s.horizon_days.to_string());
    if s.active {
        f.set("active", "1");
    }
    let stops: Vec<_> = s
        .stops
        .iter()
        .map(|x| {
            (
                None,
                x.site_id.clone(),
                x.template_id.clone(),
                x.notes.clone(),
            )
        })
        .collect();
    set_stops(&mut f, &stops);
    let c = ctx(&st, &user, &s.group_id).await?;
    Ok(schedule_form(&st, &user, &c, Some(&id), &f, None))
}

fn recurrence(f: &Fields) -> AppResult<Recurrence> {
    Ok(if f.get("freq") == "monthly" {
        Recurrence {
            freq: Freq::Monthly,
            weekdays: None,
            month_day: Some(f.get("month_day").trim().parse().map_err(|_| {
                AppError::invalid(
                    "recurrence.month_day",
                    "a monthly schedule needs a month_day from 1 to 31",
                )
            })?),
        }
    } else {
        Recurrence {
            freq: Freq::Weekly,
            weekdays: Some(f.all("wd").iter().filter_map(|d| d.parse().ok()).collect()),
            month_day: None,
        }
    })
}

async fn schedule_save(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    user: WebUser,
    id: Option<String>,
) -> Page {
    let mut f = super::fields(&req, body).await?;
    f.check_csrf(&user)?;
    let c = ctx(&st, &user, f.get("group_id")).await?;
    if f.has("mappick.x") {
        toggle_at(&c, &mut f);
        return Ok(schedule_form(&st, &user, &c, id.as_deref(), &f, None));
    }
    if f.get("action") == "filter" {
        return Ok(schedule_form(&st, &user, &c, id.as_deref(), &f, None));
    }
    let caller = user.caller.clone();
    let result: AppResult<String> = async {
        if let (Some(id), "delete") = (&id, f.get("action")) {
            let id = id.clone();
            st.db
                .write(move |c| schedules::delete(c, &caller, &id))
                .await?;
            return Ok(String::new());
        }
        let rec = recurrence(&f)?;
        let horizon = Some(
            f.get("horizon_days")
                .trim()
                .parse::<i32>()
                .map_err(|_| AppError::invalid("horizon_days", "must be a number"))?,
        );
        let stops: Vec<ScheduleStop> = stops_of(&f)
            .into_iter()
            .map(|s| ScheduleStop {
                site_id: s.site_id,
                template_id: s.template_id,
                notes: s.notes,
            })
            .collect();
        match &id {
            Some(id) => {
                let patch = SchedulePatch {
                    name: Some(f.get("name").to_string()),
                    assignee_id: Some(f.opt("assignee_id")),
                    stops: Some(stops),
                    recurrence: Some(rec),
                    horizon_days: horizon,
                    active: Some(f.has("active")),
                };
                let id = id.clone();
                st.db
                    .write(move |c| schedules::update(c, &caller, &id, patch))
                    .await
                    .map(|s| s.id)
            }
            None => {
                let new = NewSchedule {
                    group_id: f.get("group_id").to_string(),
                    name: f.get("name").to_string(),
                    assignee_id: f.opt("assignee_id"),
                    stops,
                    recurrence: rec,
                    horizon_days: horizon,
                    active: Some(f.has("active")),
                };
                st.db
                    .write(move |c| schedules::create(c, &caller, new))
                    .await
                    .map(|s| s.id)
            }
        }
    }
    .await;
    match result {
        Ok(_) => Ok(saved("/admin/schedules")),
        Err(e) if e.status == actix_web::http::StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => Ok(schedule_form(
            &st,
            &user,
            &c,
            id.as_deref(),
            &f,
            Some(&Problem::of(&e)),
        )),
    }
}

#[post("/admin/schedules")]
async fn schedule_create(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
) -> Page {
    schedule_save(st, req, body, user, None).await
}

#[post("/admin/schedules/{id}")]
async fn schedule_update(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    schedule_save(st, req, body, user, Some(id.to_string())).await
}

/// The clear layer over a plan's map that takes the click.
#[get("/admin/clear.svg")]
async fn clear_layer() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}"/>"#,
            map::WIDTH,
            map::HEIGHT
        ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(clear_layer)
        .service(routes_list)
        .service(route_new)
        .service(route_create)
        .service(route_edit)
        .service(route_update)
        .service(schedules_list)
        .service(schedule_new)
        .service(schedule_create)
        .service(schedule_edit)
        .service(schedule_update);
}
