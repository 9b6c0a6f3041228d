//! Inspection routes: an ordered list of stops (a site and the checklist
//! to fill there), planned for a day and assigned to one inspector or to a
//! whole liaison group. The rules of a route's stops (their order, their
//! sites, their ids through an edit) are `stops.rs`.

mod stops;

use stops::write_stops;
pub use stops::{MAX_STOPS, check_assignee, check_stops, keep_stop_ids, stop_order};

use super::{groups, templates, users as user_ref, validate};
use crate::auth::{Caller, Role, Scope};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{inspections, route_stops as rs, routes, sites, users};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::journal::{self, Entity};
use crate::paging::{Page, PageRequest};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteStatus {
    Planned,
    Active,
    Done,
    Cancelled,
}

impl RouteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteStatus::Planned => "planned",
            RouteStatus::Active => "active",
            RouteStatus::Done => "done",
            RouteStatus::Cancelled => "cancelled",
        }
    }

    /// A stored value; an unknown one is an error, never quietly "planned".
    fn parse(s: &str) -> AppResult<RouteStatus> {
        match s {
            "planned" => Ok(RouteStatus::Planned),
            "active" => Ok(RouteStatus::Active),
            "done" => Ok(RouteStatus::Done),
            "cancelled" => Ok(RouteStatus::Cancelled),
            other => Err(AppError::internal(format!(
                "unknown stored route status {other:?}"
            ))),
        }
    }

    /// planned -> active -> done; planned or active -> cancelled; a
    /// cancelled route can be planned again; done is final.
    pub fn can_become(self, next: RouteStatus) -> bool {
        use RouteStatus::*;
        self == next
            || matches!(
                (self, next),
                (Planned, Active)
                    | (Active, Done)
                    | (Planned, Done)
                    | (Planned | Active, Cancelled)
                    | (Cancelled, Planned)
            )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Stop {
    pub id: String,
    pub seq: i32,
    pub site_id: String,
    pub template_id: String,
    pub notes: String,
    /// True once a submitted inspection names this stop.
    pub done: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Route {
    pub id: String,
    pub group_id: String,
    pub name: String,
    /// null: the whole group.
    pub assignee_id: Option<String>,
    pub scheduled_for: NaiveDate,
    pub due_at: Option<DateTime<Utc>>,
    pub status: RouteStatus,
    pub stops: Vec<Stop>,
    /// The recurring schedule that made this route (null: planned by hand).
    pub schedule_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopInput {
    /// Keep an existing stop (its id stays what inspections name).
    pub id: Option<String>,
    /// 1..n without gaps if given; default the position in the list.
    pub seq: Option<i32>,
    pub site_id: String,
    pub template_id: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoute {
    pub group_id: String,
    pub name: String,
    pub assignee_id: Option<String>,
    pub scheduled_for: NaiveDate,
    pub due_at: Option<DateTime<Utc>>,
    pub status: Option<RouteStatus>,
    #[serde(default)]
    pub stops: Vec<StopInput>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutePatch {
    pub group_id: Option<String>,
    pub name: Option<String>,
    /// null: reassign to the whole group.
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Option<String>>,
    pub scheduled_for: Option<NaiveDate>,
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub status: Option<RouteStatus>,
    /// The whole new list of stops.
    pub stops: Option<Vec<StopInput>>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteFilter {
    pub group_id: Option<String>,
    pub assignee_id: Option<String>,
    pub status: Option<RouteStatus>,
    /// Planned on or after this day.
    pub from: Option<NaiveDate>,
    /// Planned on or before this day.
    pub to: Option<NaiveDate>,
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = routes)]
struct Row {
    id: String,
    group_id: String,
    name: String,
    assignee_id: Option<String>,
    scheduled_for: NaiveDate,
    due_at: Option<NaiveDateTime>,
    status: String,
    deleted: bool,
    schedule_id: Option<String>,
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = rs)]
struct StopRow {
    id: String,
    route_id: String,
    seq: i32,
    site_id: String,
    template_id: String,
    notes: String,
}

/// Inspectors see their group's routes that are assigned to them or to
/// the whole group; coordinators and admins every route in their scope.
fn visible(caller: &Caller, r: &Row) -> bool {
    !r.deleted && caller.sees_assignment(&r.group_id, r.assignee_id.as_deref())
}

fn find_visible(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Row> {
    routes::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?
        .filter(|r| visible(caller, r))
        .ok_or_else(|| AppError::not_found("route"))
}

/// Attaches the stops of all `rows` with one query.
fn with_stops(c: &mut Conn, rows: Vec<Row>) -> AppResult<Vec<Route>> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let mut by_route: HashMap<String, Vec<Stop>> = HashMap::new();
    let stops: Vec<StopRow> = rs::table
        .filter(rs::route_id.eq_any(ids))
        .order((rs::route_id, rs::seq))
        .select(StopRow::as_select())
        .load(c)?;
    // A stop is done once a submitted inspection names it.
    let stop_ids: Vec<&String> = stops.iter().map(|s| &s.id).collect();
    let done: HashSet<String> = inspections::table
        .filter(inspections::stop_id.eq_any(stop_ids))
        .filter(inspections::status.eq("submitted"))
        .filter(inspections::deleted.eq(false))
        .select(inspections::stop_id.assume_not_null())
        .distinct()
        .load::<String>(c)?
        .into_iter()
        .collect();
    for s in stops {
        by_route.entry(s.route_id).or_default().push(Stop {
            done: done.contains(&s.id),
            id: s.id,
            seq: s.seq,
            site_id: s.site_id,
            template_id: s.template_id,
            notes: s.notes,
        });
    }
    rows.into_iter()
        .map(|r| {
            Ok(Route {
                stops: by_route.remove(&r.id).unwrap_or_default(),
                status: RouteStatus::parse(&r.status)?,
                due_at: r.due_at.map(clock::utc),
                id: r.id,
                group_id: r.group_id,
                name: r.name,
                assignee_id: r.assignee_id,
                scheduled_for: r.scheduled_for,
                schedule_id: r.schedule_id,
            })
        })
        .collect()
}

pub fn list(
    c: &mut Conn,
    caller: &Caller,
    f: &RouteFilter,
    page: &PageRequest,
) -> AppResult<Page<Route>> {
    let mut q = routes::table
        .select(Row::as_select())
        .filter(routes::deleted.eq(false))
        .into_boxed();
    match caller.scope() {
        Scope::All => {}
        Scope::Group(g) => q = q.filter(routes::group_id.eq(g)),
        Scope::Nothing => {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    if caller.role == Role::Inspector {
        q = q.filter(
            routes::assignee_id
                .is_null()
                .or(routes::assignee_id.eq(caller.id.clone())),
        );
    }
    if let Some(g) = &f.group_id {
        q = q.filter(routes::group_id.eq(g.clone()));
    }
    if let Some(a) = &f.assignee_id {
        q = q.filter(routes::assignee_id.eq(a.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(routes::status.eq(s.as_str()));
    }
    if let Some(d) = f.from {
        q = q.filter(routes::scheduled_for.ge(d));
    }
    if let Some(d) = f.to {
        q = q.filter(routes::scheduled_for.le(d));
    }
    if let Some(after) = &page.after {
        q = q.filter(routes::id.gt(after));
    }
    let rows = q.order(routes::id).limit(page.limit + 1).load(c)?;
    let page_rows = Page::from_rows(rows, page, |r| &r.id);
    let items = with_stops(c, page_rows.items)?;
    Ok(Page {
        items,
        next_cursor: page_rows.next_cursor,
    })
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Route> {
    let row = find_visible(c, caller, id)?;
    with_stops(c, vec![row])?
        .pop()
        .ok_or_else(|| AppError::not_found("route"))
}

pub fn create(c: &mut Conn, caller: &Caller, input: NewRoute) -> AppResult<Route> {
    caller.require_admin()?;
    let id = insert(c, Some(&caller.id), input, None)?;
    get(c, caller, &id)
}

/// Writes a new route: an admin's (`actor`), or one a schedule makes
/// (`schedule_id`; no actor: the schedule job).
pub fn insert(
    c: &mut Conn,
    actor: Option<&str>,
    input: NewRoute,
    schedule_id: Option<&str>,
) -> AppResult<String> {
    let name = validate::text("name", &input.name, 200)?;
    if !groups::exists(c, &input.group_id)? {
        return Err(AppError::invalid("group_id", "no such group"));
    }
    check_assignee(c, &input.group_id, input.assignee_id.as_deref())?;
    if input.stops.iter().any(|s| s.id.is_some()) {
        return Err(AppError::invalid(
            "stops",
            "a new route's stops have no ids yet",
        ));
    }
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(routes::table)
        .values((
            routes::id.eq(&id),
            routes::group_id.eq(&input.group_id),
            routes::name.eq(&name),
            routes::assignee_id.eq(&input.assignee_id),
            routes::scheduled_for.eq(input.scheduled_for),
            routes::due_at.eq(input.due_at.map(|d| d.naive_utc())),
            routes::status.eq(input.status.unwrap_or(RouteStatus::Planned).as_str()),
            routes::deleted.eq(false),
            routes::created_at.eq(now),
            routes::updated_at.eq(now),
            routes::schedule_id.eq(schedule_id),
        ))
        .execute(c)?;
    write_stops(c, &id, &input.group_id, &input.stops, false)?;
    journal::changed(c, Entity::Route, &id)?;
    journal::audit(
        c,
        journal::Audit {
            actor_id: actor,
            action: "route.create",
            object_type: Entity::Route.as_str(),
            object_id: Some(&id),
            details: json!({
                "name": name,
                "group_id": input.group_id,
                "assignee_id": input.assignee_id,
                "schedule_id": schedule_id,
            }),
        },
    )?;
    Ok(id)
}

pub fn update(c: &mut Conn, caller: &Caller, id: &str, patch: RoutePatch) -> AppResult<Route> {
    caller.require_admin()?;
    let old = find_visible(c, caller, id)?;
    let name = patch
        .name
        .as_deref()
        .map(|n| validate::text("name", n, 200))
        .transpose()?;
    let group_id = patch
        .group_id
        .clone()
        .unwrap_or_else(|| old.group_id.clone());
    if group_id != old.group_id && !groups::exists(c, &group_id)? {
        return Err(AppError::invalid("group_id", "no such group"));
    }
    let assignee = match &patch.assignee_id {
        Some(a) => a.clone(),
        None => old.assignee_id.clone(),
    };
    // Only a new assignee or a new group is checked: cancelling a route,
    // or any edit that keeps both, stays possible after its inspector was
    // deactivated or moved.
    if patch.assignee_id.is_some() || group_id != old.group_id {
        check_assignee(c, &group_id, assignee.as_deref())?;
    }
    let old_status = RouteStatus::parse(&old.status)?;
    if let Some(next) = patch.status
        && !old_status.can_become(next)
    {
        return Err(AppError::conflict(
            ErrorCode::InvalidTransition,
            format!(
                "a {} route cannot become {}",
                old_status.as_str(),
                next.as_str()
            ),
        ));
    }
    let due_at = match patch.due_at {
        Some(d) => d.map(|d| d.naive_utc()),
        None => old.due_at,
    };
    diesel::update(routes::table.find(id))
        .set((
            routes::group_id.eq(&group_id),
            name.as_ref().map(|n| routes::name.eq(n)),
            routes::assignee_id.eq(&assignee),
            patch.scheduled_for.map(|d| routes::scheduled_for.eq(d)),
            routes::due_at.eq(due_at),
            patch.status.map(|s| routes::status.eq(s.as_str())),
            routes::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    // Whoever could see the route and no longer can must start over.
    let sees = |uid: &str, role: Role, g: &str, a: Option<&str>| {
        g == old.group_id && crate::auth::caller::assignment_reaches(role, uid, a)
    };
    let losers: Vec<String> = user_ref::members(c, &old.group_id)?
        .into_iter()
        .filter(|(uid, role)| {
            sees(uid, *role, &old.group_id, old.assignee_id.as_deref())
                && !sees(uid, *role, &group_id, assignee.as_deref())
        })
        .map(|(uid, _)| uid)
        .collect();
    user_ref::bump_scope(c, &losers)?;
    match &patch.stops {
        Some(stops) => write_stops(c, id, &group_id, stops, true)?,
        None if group_id != old.group_id => {
            // The stops must still belong to the new group.
            let current = get(c, caller, id)?;
            let inputs: Vec<StopInput> = current
                .stops
                .into_iter()
                .map(|s| StopInput {
                    id: Some(s.id),
                    seq: Some(s.seq),
                    site_id: s.site_id,
                    template_id: s.template_id,
                    notes: s.notes,
                })
                .collect();
            write_stops(c, id, &group_id, &inputs, true)?;
        }
        None => {}
    }
    journal::admin_change(
        c,
        &caller.id,
        Entity::Route,
        id,
        "route.update",
        serde_json::to_value(&patch)?,
    )?;
    get(c, caller, id)
}

/// Deletes a route: it becomes a tombstone that pull hands out.
pub fn delete(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<()> {
    caller.require_admin()?;
    find_visible(c, caller, id)?;
    diesel::update(routes::table.find(id))
        .set((
            routes::deleted.eq(true),
            routes::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    journal::admin_change(c, &caller.id, Entity::Route, id, "route.delete", json!({}))?;
    Ok(())
}

/// The (site kind, checklist) of a group's planned stops, newest route
/// first, at most `limit`: what was last planned for each kind.
pub fn planned_kinds(c: &mut Conn, group_id: &str, limit: i64) -> AppResult<Vec<(String, String)>> {
    Ok(rs::table
        .inner_join(routes::table.on(routes::id.eq(rs::route_id)))
        .inner_join(sites::table.on(sites::id.eq(rs::site_id)))
        .filter(routes::group_id.eq(group_id))
        .filter(routes::deleted.eq(false))
        .order((routes::created_at.desc(), rs::seq))
        .select((sites::kind, rs::template_id))
        .limit(limit)
        .load(c)?)
}

/// A route's group and assignee, cancelled or deleted routes included
/// (a push hands in work a phone held on them), whoever asks.
pub fn group_and_assignee(c: &mut Conn, id: &str) -> AppResult<Option<(String, Option<String>)>> {
    Ok(routes::table
        .find(id)
        .select((routes::group_id, routes::assignee_id))
        .first(c)
        .optional()?)
}

/// The route a stop is on, if the stop still exists.
pub fn route_of_stop(c: &mut Conn, stop_id: &str) -> AppResult<Option<String>> {
    Ok(rs::table
        .find(stop_id)
        .select(rs::route_id)
        .first(c)
        .optional()?)
}

/// Routes by id for pull: the ones the caller may see, and the ids of
/// deleted ones (tombstones).
pub fn for_pull(
    c: &mut Conn,
    caller: &Caller,
    ids: &[String],
) -> AppResult<(Vec<Route>, Vec<String>)> {
    let rows: Vec<Row> = routes::table
        .filter(routes::id.eq_any(ids))
        .select(Row::as_select())
        .load(c)?;
    let mut deleted = Vec::new();
    let mut live = Vec::new();
    for r in rows {
        if r.deleted {
            deleted.push(r.id);
        } else if visible(caller, &r) {
            live.push(r);
        }
    }
    Ok((with_stops(c, live)?, deleted))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn stored_statuses_are_read_strictly() {
        use RouteStatus::*;
        for s in [Planned, Active, Done, Cancelled] {
            assert_eq!(RouteStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert!(RouteStatus::parse("canceled").is_err());
    }

    #[test]
    fn transitions() {
        use RouteStatus::*;
        assert!(Planned.can_become(Active));
        assert!(Active.can_become(Cancelled));
        assert!(Cancelled.can_become(Planned));
        assert!(!Done.can_become(Planned));
        assert!(!Cancelled.can_become(Done));
        assert!(!Done.can_become(Cancelled));
    }
}
