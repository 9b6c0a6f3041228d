//! The console's routes: the list (by day, late ones marked), a route's
//! form (new, copy, edit, reassign, cancel) on the shared plan form.

use super::{Ctx, assignee_select, ctx, set_stops, stop_picker, stops_of, toggle_at};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::reference::routes::{
    self, NewRoute, Route, RouteFilter, RoutePatch, RouteStatus, StopInput,
};
use crate::state::AppState;
use crate::webui::admin::{
    AdminUser, Fields, Page, Problem, csrf, group_options, group_select, page, saved,
};
use crate::webui::session::WebUser;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Duration, NaiveDate};
use maud::html;
use serde::Deserialize;

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
            let ids: Vec<&str> = all
                .iter()
                .filter_map(|r| r.assignee_id.as_deref())
                .collect();
            let names = crate::reference::users::display_names(c, &ids)?;
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
                            (crate::webui::admin::input("路线名称", "name", f.get("name"), p))
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
    let mut f = crate::webui::admin::fields(&req, body).await?;
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(routes_list)
        .service(route_new)
        .service(route_create)
        .service(route_edit)
        .service(route_update);
}
