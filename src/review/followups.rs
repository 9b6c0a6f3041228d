//! Follow-ups: a finding's rectification by a department, from open to
//! verified on the ground, with the history of every change.

use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{followup_history as fh, followups as fu, route_stops, routes, users};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection::RecordScope;
use crate::inspection::write;
use crate::journal::{self, Audit, Entity};
use crate::paging::{Page, PageRequest};
use crate::reference::{templates, validate};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    InProgress,
    Resolved,
    Verified,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Verified => "verified",
        }
    }

    /// A stored value; an unknown one is an error, never quietly "open".
    fn parse(s: &str) -> AppResult<Status> {
        match s {
            "open" => Ok(Status::Open),
            "in_progress" => Ok(Status::InProgress),
            "resolved" => Ok(Status::Resolved),
            "verified" => Ok(Status::Verified),
            other => Err(AppError::internal(format!(
                "unknown stored follow-up status {other:?}"
            ))),
        }
    }

    /// Work goes open -> in progress -> resolved -> verified; a resolved
    /// one that does not hold is reopened; verified is the end.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        self == next && self != Verified
            || matches!(
                (self, next),
                (Open, InProgress | Resolved)
                    | (InProgress, Open | Resolved)
                    | (Resolved, Verified | Open | InProgress)
            )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub status: Status,
    pub note: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Followup {
    pub id: String,
    pub inspection_id: String,
    pub site_id: String,
    pub title: String,
    /// The department's name as the follow-up was given it.
    pub department: String,
    /// The department it is handed to.
    pub department_id: Option<String>,
    pub assignee_id: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub status: Status,
    /// Past `due_at` and not yet resolved.
    pub overdue: bool,
    /// The route stop where the site is looked at again, if one was added.
    pub verify_stop_id: Option<String>,
    /// The failed checklist item it was made from (its answer path).
    pub item_key: Option<String>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFollowup {
    pub title: String,
    /// The department by name: the department of that name (made when
    /// there is none). Either this or `department_id`.
    #[serde(default)]
    pub department: String,
    /// The department it is handed to (an active one); wins over
    /// `department`.
    #[serde(default)]
    pub department_id: Option<String>,
    pub assignee_id: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// The failed checklist item it rectifies (its answer path), if any:
    /// that item then proposes no other.
    #[serde(default)]
    pub item_key: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowupPatch {
    pub status: Option<Status>,
    #[serde(default)]
    pub note: String,
    pub title: Option<String>,
    /// Hands it to the department of this name (made when there is none).
    pub department: Option<String>,
    /// Hands it to this department (an active one); wins over `department`.
    pub department_id: Option<String>,
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_at: Option<Option<DateTime<Utc>>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowupFilter {
    pub status: Option<Status>,
    /// Only those past due and not yet resolved.
    pub overdue: Option<bool>,
    pub site_id: Option<String>,
    pub department: Option<String>,
    pub department_id: Option<String>,
    pub inspection_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    pub route_id: String,
    pub template_id: String,
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = fu)]
struct Row {
    id: String,
    inspection_id: String,
    site_id: String,
    group_id: String,
    owner_id: String,
    title: String,
    department: String,
    assignee_id: Option<String>,
    due_at: Option<NaiveDateTime>,
    status: String,
    verify_stop_id: Option<String>,
    item_key: Option<String>,
    department_id: Option<String>,
}

fn views(c: &mut Conn, rows: Vec<Row>) -> AppResult<Vec<Followup>> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let mut hist: HashMap<String, Vec<HistoryEntry>> = HashMap::new();
    let all: Vec<(String, String, String, String, NaiveDateTime)> = fh::table
        .filter(fh::followup_id.eq_any(ids))
        .order((fh::followup_id, fh::at, fh::id))
        .select((fh::followup_id, fh::status, fh::note, fh::by_id, fh::at))
        .load(c)?;
    for (f, s, note, by, at) in all {
        hist.entry(f).or_default().push(HistoryEntry {
            status: Status::parse(&s)?,
            note,
            by,
            at: clock::utc(at),
        });
    }
    let now = clock::now();
    rows.into_iter()
        .map(|r| {
            let status = Status::parse(&r.status)?;
            Ok(Followup {
                overdue: r.due_at.is_some_and(|d| d < now)
                    && matches!(status, Status::Open | Status::InProgress),
                history: hist.remove(&r.id).unwrap_or_default(),
                id: r.id,
                inspection_id: r.inspection_id,
                site_id: r.site_id,
                title: r.title,
                department: r.department,
                department_id: r.department_id,
                assignee_id: r.assignee_id,
                due_at: r.due_at.map(clock::utc),
                status,
                verify_stop_id: r.verify_stop_id,
                item_key: r.item_key,
            })
        })
        .collect()
}

fn visible(caller: &Caller, r: &Row) -> bool {
    caller.sees_record(&r.group_id, &r.owner_id)
}

fn find(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Row> {
    fu::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?
        .filter(|r| visible(caller, r))
        .ok_or_else(|| AppError::not_found("follow-up"))
}

fn require_coordinator(caller: &Caller) -> AppResult<()> {
    caller.require_reviewer("manage follow-ups")
}

fn check_assignee(c: &mut Conn, assignee: Option<&str>) -> AppResult<()> {
    if let Some(a) = assignee {
        let active: Option<bool> = users::table
            .find(a)
            .select(users::active)
            .first(c)
            .optional()?;
        if active != Some(true) {
            return Err(AppError::invalid("assignee_id", "must be an active user"));
        }
    }
    Ok(())
}

fn history(c: &mut Conn, id: &str, status: Status, note: &str, by: &str) -> AppResult<()> {
    diesel::insert_into(fh::table)
        .values((
            fh::id.eq(clock::new_id()),
            fh::followup_id.eq(id),
            fh::status.eq(status.as_str()),
            fh::note.eq(note),
            fh::by_id.eq(by),
            fh::at.eq(clock::now()),
        ))
        .execute(c)?;
    Ok(())
}

fn changed(c: &mut Conn, r: &Row) -> AppResult<()> {
    journal::changed(c, Entity::Followup, &r.id)
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Followup> {
    let r = find(c, caller, id)?;
    views(c, vec![r])?
        .pop()
        .ok_or_else(|| AppError::not_found("follow-up"))
}

pub fn by_ids(c: &mut Conn, ids: &[String]) -> AppResult<Vec<Followup>> {
    let rows = fu::table
        .filter(fu::id.eq_any(ids))
        .select(Row::as_select())
        .load(c)?;
    views(c, rows)
}

pub fn for_inspection(c: &mut Conn, inspection_id: &str) -> AppResult<Vec<Followup>> {
    let rows = fu::table
        .filter(fu::inspection_id.eq(inspection_id))
        .order(fu::id)
        .select(Row::as_select())
        .load(c)?;
    views(c, rows)
}

pub fn create(
    c: &mut Conn,
    caller: &Caller,
    inspection_id: &str,
    input: NewFollowup,
) -> AppResult<Followup> {
    require_coordinator(caller)?;
    let insp = crate::inspection::visible_row(c, caller, inspection_id)?;
    let title = validate::text("title", &input.title, 200)?;
    let (department_id, department) = crate::reference::departments::for_followup(
        c,
        input.department_id.as_deref(),
        Some(input.department.as_str()),
    )?;
    check_assignee(c, input.assignee_id.as_deref())?;
    if let Some(k) = &input.item_key
        && !crate::inspection::fields::is_answer_path(k)
    {
        return Err(AppError::invalid(
            "item_key",
            "must be an item's answer path: key, or repeat.row.key",
        ));
    }
    let id = clock::new_id();
    let now = clock::now();
    diesel::insert_into(fu::table)
        .values((
            fu::id.eq(&id),
            fu::inspection_id.eq(inspection_id),
            fu::site_id.eq(&insp.site_id),
            fu::group_id.eq(&insp.group_id),
            fu::owner_id.eq(&insp.inspector_id),
            fu::title.eq(&title),
            fu::department.eq(&department),
            fu::department_id.eq(&department_id),
            fu::assignee_id.eq(&input.assignee_id),
            fu::due_at.eq(input.due_at.map(|d| d.naive_utc())),
            fu::status.eq(Status::Open.as_str()),
            fu::item_key.eq(&input.item_key),
            fu::created_by.eq(&caller.id),
            fu::created_at.eq(now),
            fu::updated_at.eq(now),
        ))
        .execute(c)?;
    history(c, &id, Status::Open, "", &caller.id)?;
    let row = find(c, caller, &id)?;
    changed(c, &row)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "followup.create",
            object_type: "followup",
            object_id: Some(&id),
            details: json!({ "inspection_id": inspection_id, "title": title, "department": department, "item_key": input.item_key }),
        },
    )?;
    get(c, caller, &id)
}

pub fn update(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    patch: FollowupPatch,
) -> AppResult<Followup> {
    require_coordinator(caller)?;
    let row = find(c, caller, id)?;
    let from = Status::parse(&row.status)?;
    let to = patch.status.unwrap_or(from);
    if !from.can_become(to) {
        return Err(AppError::conflict(
            ErrorCode::InvalidTransition,
            format!(
                "a {} follow-up cannot become {}",
                from.as_str(),
                to.as_str()
            ),
        ));
    }
    let note = validate::optional_text("note", &patch.note, 2000)?;
    let title = patch
        .title
        .as_deref()
        .map(|t| validate::text("title", t, 200))
        .transpose()?;
    let department = match (&patch.department_id, &patch.department) {
        (None, None) => None,
        (id, name) => Some(crate::reference::departments::for_followup(
            c,
            id.as_deref(),
            name.as_deref(),
        )?),
    };
    if let Some(a) = &patch.assignee_id {
        check_assignee(c, a.as_deref())?;
    }
    diesel::update(fu::table.find(id))
        .set((
            fu::status.eq(to.as_str()),
            title.as_ref().map(|t| fu::title.eq(t)),
            department.as_ref().map(|d| fu::department.eq(&d.1)),
            department.as_ref().map(|d| fu::department_id.eq(&d.0)),
            patch.assignee_id.clone().map(|a| fu::assignee_id.eq(a)),
            patch
                .due_at
                .map(|d| fu::due_at.eq(d.map(|d| d.naive_utc()))),
            fu::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    history(c, id, to, &note, &caller.id)?;
    changed(c, &row)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "followup.update",
            object_type: "followup",
            object_id: Some(id),
            details: serde_json::to_value(&patch)?,
        },
    )?;
    get(c, caller, id)
}

pub fn list(
    c: &mut Conn,
    caller: &Caller,
    f: &FollowupFilter,
    page: &PageRequest,
) -> AppResult<Page<Followup>> {
    let mut q = fu::table.select(Row::as_select()).into_boxed();
    match RecordScope::of(caller) {
        RecordScope::All => {}
        RecordScope::Group(g) => q = q.filter(fu::group_id.eq(g)),
        RecordScope::Owner(o) => q = q.filter(fu::owner_id.eq(o)),
    }
    if let Some(s) = f.status {
        q = q.filter(fu::status.eq(s.as_str()));
    }
    if f.overdue == Some(true) {
        q = q
            .filter(fu::due_at.lt(clock::now()))
            .filter(fu::status.eq_any([Status::Open.as_str(), Status::InProgress.as_str()]));
    }
    if let Some(v) = &f.site_id {
        q = q.filter(fu::site_id.eq(v.clone()));
    }
    if let Some(v) = &f.department {
        q = q.filter(fu::department.eq(v.clone()));
    }
    if let Some(v) = &f.department_id {
        q = q.filter(fu::department_id.eq(v.clone()));
    }
    if let Some(v) = &f.inspection_id {
        q = q.filter(fu::inspection_id.eq(v.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(fu::id.gt(after.clone()));
    }
    let rows: Vec<Row> = q.order(fu::id).limit(page.limit + 1).load(c)?;
    let page = Page::from_rows(rows, page, |r| &r.id);
    Ok(Page {
        items: views(c, page.items)?,
        next_cursor: page.next_cursor,
    })
}

/// Adds a stop at the follow-up's site to a route, to look again at a
/// rectification the department reports done.
pub fn add_verification(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    v: Verification,
) -> AppResult<Followup> {
    require_coordinator(caller)?;
    let row = find(c, caller, id)?;
    if Status::parse(&row.status)? != Status::Resolved {
        return Err(AppError::conflict(
            ErrorCode::InvalidTransition,
            "a re-verification stop is for a follow-up the department reports resolved",
        ));
    }
    let route: Option<(String, bool)> = routes::table
        .find(&v.route_id)
        .select((routes::group_id, routes::deleted))
        .first(c)
        .optional()?;
    match route {
        Some((g, false)) if g == row.group_id && caller.sees_group(&g) => {}
        _ => {
            return Err(AppError::invalid(
                "route_id",
                "must be a route of the follow-up's group",
            ));
        }
    }
    let usable =
        templates::usable_by_group(c, std::slice::from_ref(&v.template_id), &row.group_id)?;
    if usable.get(&v.template_id) != Some(&true) {
        return Err(AppError::invalid(
            "template_id",
            "must be a live checklist of the group or the district",
        ));
    }
    let next: Option<i32> = route_stops::table
        .filter(route_stops::route_id.eq(&v.route_id))
        .select(diesel::dsl::max(route_stops::seq))
        .first(c)?;
    let stop_id = clock::new_id();
    diesel::insert_into(route_stops::table)
        .values((
            route_stops::id.eq(&stop_id),
            route_stops::route_id.eq(&v.route_id),
            route_stops::seq.eq(next.unwrap_or(0) + 1),
            route_stops::site_id.eq(&row.site_id),
            route_stops::template_id.eq(&v.template_id),
            route_stops::notes.eq(format!("复查整改: {}", row.title)),
        ))
        .execute(c)?;
    diesel::update(fu::table.find(id))
        .set((
            fu::verify_stop_id.eq(&stop_id),
            fu::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    history(
        c,
        id,
        Status::Resolved,
        &format!("re-verification stop added to route {}", v.route_id),
        &caller.id,
    )?;
    journal::changed(c, Entity::Route, &v.route_id)?;
    changed(c, &row)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "followup.verification_stop",
            object_type: "followup",
            object_id: Some(id),
            details: json!({ "route_id": v.route_id, "stop_id": stop_id }),
        },
    )?;
    get(c, caller, id)
}

/// The one write path of a record for every caller (push, reviews,
/// overrides): [`write::save`], then what it reports settled here, a layer
/// above the record: a submission at a re-verification stop settles its
/// follow-up. `by` is the user whose action this is. Returns the review
/// status written.
pub fn save_record(
    c: &mut Conn,
    h: &write::Header,
    before: Option<&write::Before>,
    after: &crate::inspection::merge::Record,
    review: crate::inspection::ReviewStatus,
    by: &str,
) -> AppResult<crate::inspection::ReviewStatus> {
    let saved = write::save(c, h, before, after, review)?;
    if let Some(stop) = &saved.submitted_at_stop {
        verification_submitted(c, stop, &after.fields, by)?;
    }
    Ok(saved.review)
}

/// An inspection submitted at a re-verification stop settles its
/// follow-up: `rectified: true` verifies it, `false` reopens it.
fn verification_submitted(
    c: &mut Conn,
    stop_id: &str,
    fields: &crate::inspection::merge::Fields,
    by: &str,
) -> AppResult<()> {
    let Some(verdict) = fields.get("rectified").and_then(Value::as_bool) else {
        return Ok(());
    };
    let rows: Vec<Row> = fu::table
        .filter(fu::verify_stop_id.eq(stop_id))
        .filter(fu::status.eq(Status::Resolved.as_str()))
        .select(Row::as_select())
        .load(c)?;
    for row in rows {
        let to = if verdict {
            Status::Verified
        } else {
            Status::Open
        };
        diesel::update(fu::table.find(&row.id))
            .set((fu::status.eq(to.as_str()), fu::updated_at.eq(clock::now())))
            .execute(c)?;
        let note = if verdict {
            "re-inspection: rectified"
        } else {
            "re-inspection: not rectified, reopened"
        };
        history(c, &row.id, to, note, by)?;
        changed(c, &row)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_statuses_are_read_strictly() {
        use Status::*;
        for s in [Open, InProgress, Resolved, Verified] {
            assert_eq!(Status::parse(s.as_str()).ok(), Some(s));
        }
        assert!(Status::parse("done").is_err());
    }

    #[test]
    fn transitions() {
        use Status::*;
        assert!(
            Open.can_become(InProgress)
                && InProgress.can_become(Resolved)
                && Resolved.can_become(Verified)
        );
        assert!(Resolved.can_become(Open), "reopen");
        assert!(Open.can_become(Open), "a note alone");
        assert!(!Verified.can_become(Open) && !Verified.can_become(Verified));
        assert!(!Open.can_become(Verified));
    }
}
