//! Recurring route schedules: "every Tuesday and Friday, these stops", or
//! "on the 1st of each month". A job makes the routes `horizon_days` ahead,
//! so a phone holds next week's patrols before it leaves coverage. Each
//! route it makes carries `schedule_id` and exists once per date (a unique
//! index, and `generated_through` that the job resumes after), however
//! often the job runs or the server restarts.

mod recurrence;

pub use recurrence::{Freq, Recurrence};

use super::routes::{self, NewRoute, RoutePatch, RouteStatus, StopInput};
use super::{groups, validate};
use crate::auth::{Caller, Role, Scope};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{routes as routes_t, schedules};
use crate::error::{AppError, AppResult};
use crate::journal::{self, Audit};
use crate::paging::{Page, PageRequest};
use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// How far ahead a schedule may make routes.
pub const MAX_HORIZON_DAYS: i32 = 92;
pub const DEFAULT_HORIZON_DAYS: i32 = 14;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleStop {
    pub site_id: String,
    pub template_id: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    pub id: String,
    pub group_id: String,
    pub name: String,
    /// null: the whole group.
    pub assignee_id: Option<String>,
    pub stops: Vec<ScheduleStop>,
    pub recurrence: Recurrence,
    /// Routes are made for today and this many days ahead.
    pub horizon_days: i32,
    pub active: bool,
    /// The last date routes have been made for.
    pub generated_through: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub group_id: String,
    pub name: String,
    pub assignee_id: Option<String>,
    pub stops: Vec<ScheduleStop>,
    pub recurrence: Recurrence,
    /// Default 14, at most 92.
    pub horizon_days: Option<i32>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    pub name: Option<String>,
    /// null: the whole group.
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Option<String>>,
    pub stops: Option<Vec<ScheduleStop>>,
    pub recurrence: Option<Recurrence>,
    pub horizon_days: Option<i32>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleFilter {
    pub group_id: Option<String>,
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = schedules)]
struct Row {
    id: String,
    group_id: String,
    name: String,
    assignee_id: Option<String>,
    stops: String,
    freq: String,
    weekdays: String,
    month_day: Option<i32>,
    horizon_days: i32,
    active: bool,
    deleted: bool,
    generated_through: Option<NaiveDate>,
}

impl Row {
    fn view(&self) -> AppResult<Schedule> {
        let freq = if self.freq == "monthly" {
            Freq::Monthly
        } else {
            Freq::Weekly
        };
        let weekdays: Vec<u8> = serde_json::from_str(&self.weekdays)?;
        Ok(Schedule {
            id: self.id.clone(),
            group_id: self.group_id.clone(),
            name: self.name.clone(),
            assignee_id: self.assignee_id.clone(),
            stops: serde_json::from_str(&self.stops)?,
            recurrence: Recurrence {
                freq,
                weekdays: (freq == Freq::Weekly).then_some(weekdays),
                month_day: self.month_day.and_then(|d| u8::try_from(d).ok()),
            },
            horizon_days: self.horizon_days,
            active: self.active,
            generated_through: self.generated_through,
        })
    }
}

/// Inspectors see their group's schedules that are theirs or the whole
/// group's (as with routes); coordinators and admins every one in scope.
fn visible(caller: &Caller, r: &Row) -> bool {
    !r.deleted && caller.sees_assignment(&r.group_id, r.assignee_id.as_deref())
}

fn find_visible(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Row> {
    schedules::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?
        .filter(|r| visible(caller, r))
        .ok_or_else(|| AppError::not_found("schedule"))
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Schedule> {
    find_visible(c, caller, id)?.view()
}

pub fn list(
    c: &mut Conn,
    caller: &Caller,
    f: &ScheduleFilter,
    page: &PageRequest,
) -> AppResult<Page<Schedule>> {
    let mut q = schedules::table
        .select(Row::as_select())
        .filter(schedules::deleted.eq(false))
        .into_boxed();
    match caller.scope() {
        Scope::All => {}
        Scope::Group(g) => q = q.filter(schedules::group_id.eq(g)),
        Scope::Nothing => {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    if caller.role == Role::Inspector {
        q = q.filter(
            schedules::assignee_id
                .is_null()
                .or(schedules::assignee_id.eq(caller.id.clone())),
        );
    }
    if let Some(g) = &f.group_id {
        q = q.filter(schedules::group_id.eq(g.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(schedules::id.gt(after));
    }
    let rows = q.order(schedules::id).limit(page.limit + 1).load(c)?;
    let page = Page::from_rows(rows, page, |r| &r.id);
    Ok(Page {
        items: page.items.iter().map(Row::view).collect::<AppResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

fn stop_inputs(stops: &[ScheduleStop]) -> Vec<StopInput> {
    stops
        .iter()
        .map(|s| StopInput {
            id: None,
            seq: None,
            site_id: s.site_id.clone(),
            template_id: s.template_id.clone(),
            notes: s.notes.clone(),
        })
        .collect()
}

fn horizon(v: Option<i32>) -> AppResult<i32> {
    let h = v.unwrap_or(DEFAULT_HORIZON_DAYS);
    if (0..=MAX_HORIZON_DAYS).contains(&h) {
        Ok(h)
    } else {
        Err(AppError::invalid(
            "horizon_days",
            format!("must be between 0 and {MAX_HORIZON_DAYS}"),
        ))
    }
}

/// What a schedule's routes need, checked against the group as it is now.
fn check(
    c: &mut Conn,
    group_id: &str,
    assignee: Option<&str>,
    stops: &[ScheduleStop],
) -> AppResult<()> {
    routes::check_assignee(c, group_id, assignee)?;
    check_stops(c, group_id, stops)
}

fn check_stops(c: &mut Conn, group_id: &str, stops: &[ScheduleStop]) -> AppResult<()> {
    if stops.is_empty() {
        return Err(AppError::invalid(
            "stops",
            "a schedule needs at least one stop",
        ));
    }
    routes::check_stops(c, group_id, &stop_inputs(stops))
}

pub fn create(c: &mut Conn, caller: &Caller, input: NewSchedule) -> AppResult<Schedule> {
    caller.require_admin()?;
    let name = validate::text("name", &input.name, 200)?;
    if !groups::exists(c, &input.group_id)? {
        return Err(AppError::invalid("group_id", "no such group"));
    }
    let recurrence = input.recurrence.checked()?;
    let horizon_days = horizon(input.horizon_days)?;
    check(
        c,
        &input.group_id,
        input.assignee_id.as_deref(),
        &input.stops,
    )?;
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(schedules::table)
        .values((
            schedules::id.eq(&id),
            schedules::group_id.eq(&input.group_id),
            schedules::name.eq(&name),
            schedules::assignee_id.eq(&input.assignee_id),
            schedules::stops.eq(serde_json::to_string(&input.stops)?),
            schedules::freq.eq(freq_str(recurrence.freq)),
            schedules::weekdays.eq(weekdays_json(&recurrence)?),
            schedules::month_day.eq(recurrence.month_day.map(i32::from)),
            schedules::horizon_days.eq(horizon_days),
            schedules::active.eq(input.active.unwrap_or(true)),
            schedules::deleted.eq(false),
            schedules::created_at.eq(now),
            schedules::updated_at.eq(now),
        ))
        .execute(c)?;
    audit(c, caller, &id, "schedule.create", json!({ "name": name }))?;
    generate(c, &id, clock::today())?;
    get(c, caller, &id)
}

fn freq_str(f: Freq) -> &'static str {
    match f {
        Freq::Weekly => "weekly",
        Freq::Monthly => "monthly",
    }
}

fn weekdays_json(r: &Recurrence) -> AppResult<String> {
    Ok(serde_json::to_string(
        r.weekdays.as_deref().unwrap_or_default(),
    )?)
}

fn audit(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    action: &str,
    details: serde_json::Value,
) -> AppResult<()> {
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action,
            object_type: "schedule",
            object_id: Some(id),
            details,
        },
    )
}

/// Applies a patch. The routes it already made for dates after today that
/// are still `planned` follow it (name, assignee, stops; a date that no
/// longer recurs loses its route); today's and earlier routes, and routes
/// under way, stay as they are.
pub fn update(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    patch: SchedulePatch,
) -> AppResult<Schedule> {
    caller.require_admin()?;
    let old = find_visible(c, caller, id)?.view()?;
    let name = match patch.name.as_deref() {
        Some(n) => validate::text("name", n, 200)?,
        None => old.name.clone(),
    };
    let assignee = match &patch.assignee_id {
        Some(a) => a.clone(),
        None => old.assignee_id.clone(),
    };
    let stops = patch.stops.clone().unwrap_or_else(|| old.stops.clone());
    let recurrence = match patch.recurrence.clone() {
        Some(r) => r.checked()?,
        None => old.recurrence.clone(),
    };
    let horizon_days = horizon(patch.horizon_days.or(Some(old.horizon_days)))?;
    let active = patch.active.unwrap_or(old.active);
    // Only what changes is checked (and passed on to the routes): pausing
    // or renaming a schedule stays possible whoever its assignee was, and
    // a route's stops are rewritten only when the schedule's stops change.
    let stops_changed = stops != old.stops;
    let assignee_changed = assignee != old.assignee_id;
    if stops_changed {
        check_stops(c, &old.group_id, &stops)?;
    }
    if assignee_changed {
        routes::check_assignee(c, &old.group_id, assignee.as_deref())?;
    }
    let today = clock::today();
    diesel::update(schedules::table.find(id))
        .set((
            schedules::name.eq(&name),
            schedules::assignee_id.eq(&assignee),
            schedules::stops.eq(serde_json::to_string(&stops)?),
            schedules::freq.eq(freq_str(recurrence.freq)),
            schedules::weekdays.eq(weekdays_json(&recurrence)?),
            schedules::month_day.eq(recurrence.month_day.map(i32::from)),
            schedules::horizon_days.eq(horizon_days),
            schedules::active.eq(active),
            // Dates after today are made again from the new rule.
            schedules::generated_through.eq(old.generated_through.map(|g| g.min(today))),
            schedules::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    for (route_id, date) in future_planned(c, id, today)? {
        if active && recurrence.occurs(date) && date <= today + Duration::days(horizon_days.into())
        {
            routes::update(
                c,
                caller,
                &route_id,
                RoutePatch {
                    name: (name != old.name).then(|| name.clone()),
                    assignee_id: assignee_changed.then(|| assignee.clone()),
                    // Without ids: each stop keeps the id of the route's
                    // stop at the same site (routes::keep_stop_ids).
                    stops: stops_changed.then(|| stop_inputs(&stops)),
                    ..RoutePatch::default()
                },
            )?;
        } else {
            release(c, caller, &route_id)?;
        }
    }
    audit(
        c,
        caller,
        id,
        "schedule.update",
        serde_json::to_value(&patch)?,
    )?;
    generate(c, id, today)?;
    get(c, caller, id)
}

/// Deletes a schedule and the planned routes it made for dates after today.
pub fn delete(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<()> {
    caller.require_admin()?;
    find_visible(c, caller, id)?;
    for (route_id, _) in future_planned(c, id, clock::today())? {
        release(c, caller, &route_id)?;
    }
    diesel::update(schedules::table.find(id))
        .set((
            schedules::deleted.eq(true),
            schedules::active.eq(false),
            schedules::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    audit(c, caller, id, "schedule.delete", json!({}))
}

/// The schedule's live routes after `today` that nobody has started.
fn future_planned(c: &mut Conn, id: &str, today: NaiveDate) -> AppResult<Vec<(String, NaiveDate)>> {
    Ok(routes_t::table
        .filter(routes_t::schedule_id.eq(id))
        .filter(routes_t::scheduled_for.gt(today))
        .filter(routes_t::status.eq(RouteStatus::Planned.as_str()))
        .filter(routes_t::deleted.eq(false))
        .select((routes_t::id, routes_t::scheduled_for))
        .load(c)?)
}

/// Removes a route the schedule no longer wants, and frees its date so the
/// schedule may make it again later. (A route an admin deleted by hand
/// keeps its `schedule_id`: the job never brings it back.)
fn release(c: &mut Conn, caller: &Caller, route_id: &str) -> AppResult<()> {
    diesel::update(routes_t::table.find(route_id))
        .set(routes_t::schedule_id.eq(None::<String>))
        .execute(c)?;
    routes::delete(c, caller, route_id)
}

/// Makes the schedule's routes from the day after `generated_through` (or
/// today) to `today + horizon_days`. Returns how many it made. A schedule
/// whose stops or assignee no longer hold (a site moved away, an inspector
/// left) makes nothing and says so in the audit log; it resumes once an
/// admin fixes it.
pub fn generate(c: &mut Conn, id: &str, today: NaiveDate) -> AppResult<usize> {
    let Some(row) = schedules::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?
    else {
        return Ok(0);
    };
    if row.deleted || !row.active {
        return Ok(0);
    }
    let s = row.view()?;
    let end = today + Duration::days(s.horizon_days.into());
    let start = match s.generated_through {
        Some(g) if g >= today => g + Duration::days(1),
        _ => today,
    };
    if start > end {
        return Ok(0);
    }
    if let Err(e) = check(c, &s.group_id, s.assignee_id.as_deref(), &s.stops) {
        tracing::warn!(schedule = %id, error = %e, "schedule cannot make routes");
        journal::audit(
            c,
            Audit {
                actor_id: None,
                action: "schedule.skipped",
                object_type: "schedule",
                object_id: Some(id),
                details: json!({ "reason": e.message, "details": e.details }),
            },
        )?;
        return Ok(0);
    }
    let taken: Vec<NaiveDate> = routes_t::table
        .filter(routes_t::schedule_id.eq(id))
        .filter(routes_t::scheduled_for.between(start, end))
        .select(routes_t::scheduled_for)
        .load(c)?;
    let mut made = 0;
    for date in s.recurrence.dates(start, end) {
        if taken.contains(&date) {
            continue;
        }
        routes::insert(
            c,
            None,
            NewRoute {
                group_id: s.group_id.clone(),
                name: s.name.clone(),
                assignee_id: s.assignee_id.clone(),
                scheduled_for: date,
                due_at: Some(clock::end_of_day(date)),
                status: Some(RouteStatus::Planned),
                stops: stop_inputs(&s.stops),
            },
            Some(id),
        )?;
        made += 1;
    }
    diesel::update(schedules::table.find(id))
        .set(schedules::generated_through.eq(end))
        .execute(c)?;
    Ok(made)
}

/// The ids of the schedules the job looks at.
pub fn active_ids(c: &mut Conn) -> AppResult<Vec<String>> {
    Ok(schedules::table
        .filter(schedules::active.eq(true))
        .filter(schedules::deleted.eq(false))
        .select(schedules::id)
        .order(schedules::id)
        .load(c)?)
}

/// One run of the job: each active schedule in its own transaction, so
/// one that fails does not hold back the others.
pub async fn run_all(db: &crate::db::Db) {
    let today = clock::today();
    let ids = match db.read(active_ids).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the schedules");
            return;
        }
    };
    for id in ids {
        let sid = id.clone();
        match db.write(move |c| generate(c, &sid, today)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(schedule = %id, routes = n, "scheduled routes made"),
            Err(e) => tracing::warn!(schedule = %id, error = %e, "scheduled routes failed"),
        }
    }
}
