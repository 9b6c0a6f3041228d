//! The console's schedules: the list with each rule in words, a
//! schedule's form (the plan form's stops and a rule).

use super::{Ctx, assignee_select, ctx, set_stops, stop_picker, stops_of, toggle_at};
use crate::error::{AppError, AppResult};
use crate::reference::schedules::{
    self, Freq, NewSchedule, Recurrence, ScheduleFilter, SchedulePatch, ScheduleStop,
};
use crate::state::AppState;
use crate::webui::admin::{
    AdminUser, Fields, Page, Problem, csrf, group_options, group_select, page, saved,
};
use crate::webui::session::WebUser;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::html;
use serde::Deserialize;

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
                            (crate::webui::admin::input("名称", "name", f.get("name"), p))
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
    let mut f = crate::webui::admin::fields(&req, body).await?;
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(schedules_list)
        .service(schedule_new)
        .service(schedule_create)
        .service(schedule_edit)
        .service(schedule_update);
}
