//! Inspection routes: an ordered list of stops (a site and the checklist
//! to fill there), planned for a day and assigned to one inspector or to a
//! whole liaison group.

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

/// The order a list of stops gets: positions 1..n, or the given `seq`s
/// when every stop has one and they are exactly 1..n.
pub fn stop_order(stops: &[StopInput]) -> AppResult<Vec<i32>> {
    let given: Vec<Option<i32>> = stops.iter().map(|s| s.seq).collect();
    if given.iter().all(Option::is_none) {
        return Ok((1..=stops.len() as i32).collect());
    }
    let seqs: Vec<i32> = given
        .iter()
        .map(|s| s.ok_or_else(|| AppError::invalid("stops", "give seq for every stop or for none")))
        .collect::<AppResult<_>>()?;
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    if sorted.iter().enumerate().any(|(i, s)| *s != i as i32 + 1) {
        return Err(AppError::invalid(
            "stops",
            "seq must run 1..n without gaps or repeats",
        ));
    }
    Ok(seqs)
}

/// Checks that the assignee is an active inspector of the route's group.
pub fn check_assignee(c: &mut Conn, group_id: &str, assignee: Option<&str>) -> AppResult<()> {
    let Some(a) = assignee else { return Ok(()) };
    let row: Option<(String, Option<String>, bool)> = users::table
        .find(a)
        .select((users::role, users::group_id, users::active))
        .first(c)
        .optional()?;
    match row {
        Some((role, Some(g), true)) if role == Role::Inspector.as_str() && g == group_id => Ok(()),
        Some(_) => Err(AppError::invalid(
            "assignee_id",
            "must be an active inspector of the route's group",
        )),
        None => Err(AppError::invalid("assignee_id", "no such user")),
    }
}

/// Checks that every stop names a live site of the group and a checklist
/// the group may use (the rule for routes and the schedules that make them).
pub fn check_stops(c: &mut Conn, group_id: &str, stops: &[StopInput]) -> AppResult<()> {
    if stops.len() > MAX_STOPS {
        return Err(AppError::invalid(
            "stops",
            format!("at most {MAX_STOPS} stops"),
        ));
    }
    let site_ids: Vec<String> = stops.iter().map(|s| s.site_id.clone()).collect();
    let site_groups: HashMap<String, (String, bool)> = sites::table
        .filter(sites::id.eq_any(&site_ids))
        .select((sites::id, sites::group_id, sites::deleted))
        .load::<(String, String, bool)>(c)?
        .into_iter()
        .map(|(id, g, d)| (id, (g, d)))
        .collect();
    let template_ids: Vec<String> = stops.iter().map(|s| s.template_id.clone()).collect();
    let usable = templates::usable_by_group(c, &template_ids, group_id)?;
    for (i, s) in stops.iter().enumerate() {
        match site_groups.get(&s.site_id) {
            Some((g, false)) if g == group_id => {}
            _ => {
                return Err(AppError::invalid(
                    &format!("stops[{i}].site_id"),
                    "must be a site of the route's group",
                ));
            }
        }
        if s.template_id.trim().is_empty() {
            return Err(AppError::invalid(
                &format!("stops[{i}].template_id"),
                "choose a checklist",
            ));
        }
        if usable.get(&s.template_id) != Some(&true) {
            return Err(AppError::invalid(
                &format!("stops[{i}].template_id"),
                "must be a live checklist of the district or the route's group",
            ));
        }
        validate::optional_text(&format!("stops[{i}].notes"), &s.notes, 1000)?;
    }
    Ok(())
}

/// Most stops a route may have.
pub const MAX_STOPS: usize = 200;

/// The id each stop of a new list keeps: the one it names, or else the
/// first stop of the route at the same site (in the route's order) that no
/// other stop of the list keeps; `None` for a stop that is new. This is the
/// one rule by which a stop keeps its id through every edit that keeps the
/// stop (rename, reorder, a schedule's edit, a form saved unchanged), so
/// the work phones hold on it offline still names a stop of the route.
/// `old` is the route's stops as `(id, site_id)` in their order; ids given
/// in `new` are assumed to be among them (checked by the caller).
pub fn keep_stop_ids(old: &[(String, String)], new: &[StopInput]) -> Vec<Option<String>> {
    let named: HashSet<&str> = new.iter().filter_map(|s| s.id.as_deref()).collect();
    let mut free: Vec<&(String, String)> = old
        .iter()
        .filter(|(id, _)| !named.contains(id.as_str()))
        .collect();
    new.iter()
        .map(|s| match &s.id {
            Some(id) => Some(id.clone()),
            None => {
                let at = free.iter().position(|(_, site)| *site == s.site_id)?;
                Some(free.remove(at).0.clone())
            }
        })
        .collect()
}

/// Checks the stops against the route's group and writes them, keeping
/// the ids of stops that were already on this route ([`keep_stop_ids`]).
fn write_stops(
    c: &mut Conn,
    route_id: &str,
    group_id: &str,
    stops: &[StopInput],
    replace: bool,
) -> AppResult<()> {
    check_stops(c, group_id, stops)?;
    let seqs = stop_order(stops)?;
    let existing: Vec<(String, String)> = if replace {
        rs::table
            .filter(rs::route_id.eq(route_id))
            .order(rs::seq)
            .select((rs::id, rs::site_id))
            .load(c)?
    } else {
        Vec::new()
    };
    let mut named = HashSet::new();
    for (i, s) in stops.iter().enumerate() {
        if let Some(id) = &s.id {
            if !existing.iter().any(|(e, _)| e == id) {
                return Err(AppError::invalid(
                    &format!("stops[{i}].id"),
                    "is not a stop of this route",
                ));
            }
            if !named.insert(id.clone()) {
                return Err(AppError::invalid(
                    &format!("stops[{i}].id"),
                    "is listed twice",
                ));
            }
        }
    }
    let ids = keep_stop_ids(&existing, stops);
    let kept: HashSet<&String> = ids.iter().flatten().collect();
    // Stops left out go; the kept ones are rewritten in their new order.
    let gone: Vec<&String> = existing
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !kept.contains(id))
        .collect();
    diesel::delete(rs::table.filter(rs::id.eq_any(gone))).execute(c)?;
    for ((s, seq), id) in stops.iter().zip(seqs).zip(&ids) {
        let notes = validate::optional_text("notes", &s.notes, 1000)?;
        match id {
            Some(id) => {
                diesel::update(rs::table.find(id))
                    .set((
                        rs::seq.eq(seq),
                        rs::site_id.eq(&s.site_id),
                        rs::template_id.eq(&s.template_id),
                        rs::notes.eq(notes),
                    ))
                    .execute(c)?;
            }
            None => {
                diesel::insert_into(rs::table)
                    .values((
                        rs::id.eq(clock::new_id()),
                        rs::route_id.eq(route_id),
                        rs::seq.eq(seq),
                        rs::site_id.eq(&s.site_id),
                        rs::template_id.eq(&s.template_id),
                        rs::notes.eq(notes),
                    ))
                    .execute(c)?;
            }
        }
    }
    Ok(())
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

    fn stop(seq: Option<i32>) -> StopInput {
        StopInput {
            id: None,
            seq,
            site_id: "s".into(),
            template_id: "t".into(),
            notes: String::new(),
        }
    }

    #[test]
    fn stop_order_is_dense() {
        assert_eq!(stop_order(&[stop(None), stop(None)]).unwrap(), vec![1, 2]);
        assert_eq!(
            stop_order(&[stop(Some(2)), stop(Some(1))]).unwrap(),
            vec![2, 1]
        );
        assert!(stop_order(&[stop(Some(1)), stop(Some(3))]).is_err());
        assert!(stop_order(&[stop(Some(1)), stop(Some(1))]).is_err());
        assert!(stop_order(&[stop(Some(1)), stop(None)]).is_err());
        assert!(stop_order(&[stop(Some(0))]).is_err());
    }

    fn at(site: &str, id: Option<&str>) -> StopInput {
        StopInput {
            id: id.map(str::to_string),
            site_id: site.into(),
            ..stop(None)
        }
    }

    #[test]
    fn stops_keep_their_ids_by_site_visit() {
        let old = vec![
            ("s1".to_string(), "a".to_string()),
            ("s2".to_string(), "b".to_string()),
            ("s3".to_string(), "a".to_string()),
        ];
        // Saved unchanged without ids: every stop keeps its own.
        let same = [at("a", None), at("b", None), at("a", None)];
        let ids: Vec<_> = keep_stop_ids(&old, &same).into_iter().flatten().collect();
        assert_eq!(ids, ["s1", "s2", "s3"]);
        // Named ids win; the other visit to the same site keeps the rest.
        let named = [at("a", Some("s3")), at("a", None), at("c", None)];
        assert_eq!(
            keep_stop_ids(&old, &named),
            [Some("s3".to_string()), Some("s1".to_string()), None]
        );
    }

    proptest::proptest! {
        /// Any reorder of a route's stops, sent without ids, keeps every id,
        /// each on a stop at the same site.
        #[test]
        fn a_reorder_keeps_every_stop_id(
            sites in proptest::collection::vec(0u8..4, 0..12),
            seed in proptest::prelude::any::<u64>(),
        ) {
            use rand::{SeedableRng, seq::SliceRandom};
            let old: Vec<(String, String)> = sites
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("id{i}"), format!("site{s}")))
                .collect();
            let mut new: Vec<StopInput> = old.iter().map(|(_, s)| at(s, None)).collect();
            new.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let ids = keep_stop_ids(&old, &new);
            let mut kept: Vec<String> = ids.iter().flatten().cloned().collect();
            kept.sort();
            let mut all: Vec<String> = old.iter().map(|(i, _)| i.clone()).collect();
            all.sort();
            proptest::prop_assert_eq!(kept, all);
            for (s, id) in new.iter().zip(&ids) {
                let id = id.as_deref().unwrap_or_default();
                let site = &old.iter().find(|(i, _)| i == id).map(|(_, s)| s.clone());
                proptest::prop_assert_eq!(Some(&s.site_id), site.as_ref());
            }
        }
    }

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
