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
use crate::photos::urls::Signer;
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
    pub(super) fn parse(s: &str) -> AppResult<Status> {
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
    /// Null for a quick report's follow-up.
    pub site_id: Option<String>,
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
    /// What its department answered, oldest first, with the evidence.
    pub responses: Vec<Response>,
    /// Of the record it comes from, what a department needs to act (for
    /// a responder, all they see of it). In `GET /followups` and
    /// `GET /followups/{id}`; not in pull, where the phone has the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordBrief>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Response {
    pub id: String,
    pub note: String,
    pub status: Option<Status>,
    /// Who answered (a user id).
    pub by: String,
    /// The department the follow-up was with when they answered.
    pub department_id: Option<String>,
    pub at: DateTime<Utc>,
    pub media: Vec<crate::inspection::Photo>,
}

/// The responses of follow-ups, by follow-up id, oldest first, each with
/// its evidence.
fn responses_of(
    c: &mut Conn,
    ids: &[&String],
    signer: &Signer,
) -> AppResult<HashMap<String, Vec<Response>>> {
    use crate::db::schema::{followup_responses as fr, photos};
    type Line = (
        String,
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        NaiveDateTime,
    );
    let rows: Vec<Line> = fr::table
        .filter(fr::followup_id.eq_any(ids))
        .order((fr::at, fr::id))
        .select((
            fr::id,
            fr::followup_id,
            fr::note,
            fr::status,
            fr::by_id,
            fr::department_id,
            fr::at,
        ))
        .load(c)?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let response_ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    let media_ids: Vec<String> = photos::table
        .filter(photos::response_id.eq_any(response_ids))
        .order(photos::id)
        .select(photos::id)
        .load(c)?;
    let mut media: HashMap<String, Vec<crate::inspection::Photo>> = HashMap::new();
    for p in crate::inspection::photo_views(c, &media_ids, signer)? {
        if let Some(r) = p.response_id.clone() {
            media.entry(r).or_default().push(p);
        }
    }
    let mut out: HashMap<String, Vec<Response>> = HashMap::new();
    for (id, followup_id, note, status, by, department_id, at) in rows {
        let status = status.as_deref().map(Status::parse).transpose()?;
        out.entry(followup_id).or_default().push(Response {
            media: media.remove(&id).unwrap_or_default(),
            id,
            note,
            status,
            by,
            department_id,
            at: clock::utc(at),
        });
    }
    Ok(out)
}

/// A record as its follow-up's department sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordBrief {
    pub id: String,
    pub title: String,
    pub notes: String,
    /// `{lat, lon, accuracy_m?, ...}` as the phone recorded it.
    #[schema(value_type = Option<Object>)]
    pub location: Option<Value>,
    pub category: Option<String>,
    pub urgency: Option<String>,
    /// `inspection` or `report`.
    pub kind: crate::inspection::RecordKind,
    pub site_id: Option<String>,
    pub site_name: Option<String>,
    /// When it was recorded (its `started_at`, else its arrival).
    pub reported_at: DateTime<Utc>,
    /// Its photos and videos, with signed URLs.
    pub photos: Vec<crate::inspection::Photo>,
}

/// Whether follow-up views carry their record's brief.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    WithRecord,
    Plain,
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
pub(super) struct Row {
    pub(super) id: String,
    pub(super) inspection_id: String,
    pub(super) site_id: Option<String>,
    pub(super) group_id: String,
    pub(super) owner_id: String,
    pub(super) title: String,
    pub(super) department: String,
    pub(super) assignee_id: Option<String>,
    pub(super) due_at: Option<NaiveDateTime>,
    pub(super) status: String,
    pub(super) verify_stop_id: Option<String>,
    pub(super) item_key: Option<String>,
    pub(super) department_id: Option<String>,
}

fn views(
    c: &mut Conn,
    rows: Vec<Row>,
    signer: &Signer,
    detail: Detail,
) -> AppResult<Vec<Followup>> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let mut responses = responses_of(c, &ids, signer)?;
    let briefs = match detail {
        Detail::WithRecord => briefs(
            c,
            rows.iter().map(|r| r.inspection_id.clone()).collect(),
            signer,
        )?,
        Detail::Plain => HashMap::new(),
    };
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
                responses: responses.remove(&r.id).unwrap_or_default(),
                record: briefs.get(&r.inspection_id).cloned(),
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

/// The briefs of records by id.
fn briefs(
    c: &mut Conn,
    ids: Vec<String>,
    signer: &Signer,
) -> AppResult<HashMap<String, RecordBrief>> {
    use crate::db::schema::sites;
    let mut ids = ids;
    ids.sort_unstable();
    ids.dedup();
    let rows = crate::inspection::by_ids(c, &ids)?;
    let site_ids: Vec<&String> = rows.iter().filter_map(|r| r.site_id.as_ref()).collect();
    let names: HashMap<String, String> = sites::table
        .filter(sites::id.eq_any(site_ids))
        .select((sites::id, sites::name))
        .load::<(String, String)>(c)?
        .into_iter()
        .collect();
    let text = |f: &crate::inspection::merge::Fields, k: &str| {
        f.get(k).and_then(Value::as_str).map(str::to_string)
    };
    Ok(crate::inspection::views(c, rows, signer)?
        .into_iter()
        .map(|i| {
            let reported_at =
                crate::inspection::time_field(&i.fields, "started_at").unwrap_or(i.created_at);
            let brief = RecordBrief {
                title: text(&i.fields, "title").unwrap_or_default(),
                notes: text(&i.fields, "notes").unwrap_or_default(),
                location: i.fields.get("location").filter(|v| !v.is_null()).cloned(),
                category: text(&i.fields, "category"),
                urgency: text(&i.fields, "urgency"),
                site_name: i.site_id.as_ref().and_then(|s| names.get(s)).cloned(),
                kind: i.kind,
                site_id: i.site_id,
                reported_at,
                photos: i.photos.into_iter().filter(|p| !p.deleted).collect(),
                id: i.id,
            };
            (brief.id.clone(), brief)
        })
        .collect())
}

/// Who sees a follow-up: whoever sees its record, and the members of the
/// department it is handed to (a responder, or a user of another role
/// who also works there).
fn visible(caller: &Caller, r: &Row) -> bool {
    caller.sees_record(&r.group_id, &r.owner_id) || caller.in_department(r.department_id.as_deref())
}

/// What a caller may do to a follow-up they see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// A coordinator or admin of its record: everything.
    Coordinator,
    /// A member of its department: respond, and move it to `in_progress`
    /// or `resolved`.
    Department,
    /// Its record's inspector: read only.
    Reader,
}

impl Acting {
    pub(super) fn of(caller: &Caller, r: &Row) -> Acting {
        if caller.role.reviews() && caller.sees_record(&r.group_id, &r.owner_id) {
            Acting::Coordinator
        } else if caller.in_department(r.department_id.as_deref()) {
            Acting::Department
        } else {
            Acting::Reader
        }
    }

    /// Whether this actor may move a follow-up from `from` to `to`: a
    /// department works it (in progress, resolved, or back in progress
    /// from a resolve it took too soon); only its coordinator verifies,
    /// reopens or hands it on.
    pub fn may_move(self, from: Status, to: Status) -> bool {
        match self {
            Acting::Coordinator => from.can_become(to),
            Acting::Department => {
                from != Status::Verified
                    && matches!(to, Status::InProgress | Status::Resolved)
                    && from.can_become(to)
            }
            Acting::Reader => false,
        }
    }
}

pub(super) fn find(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Row> {
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

/// What an entry of a follow-up's history records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Handed to a department (made, or handed on).
    Dispatched,
    /// A status change or a note.
    Status,
    /// A response's own status (the response tells it in the timeline).
    Response,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Dispatched => "dispatched",
            Event::Status => "status",
            Event::Response => "response",
        }
    }

    pub fn parse(s: &str) -> AppResult<Event> {
        match s {
            "dispatched" => Ok(Event::Dispatched),
            "status" => Ok(Event::Status),
            "response" => Ok(Event::Response),
            other => Err(AppError::internal(format!(
                "unknown stored follow-up event {other:?}"
            ))),
        }
    }
}

/// One entry of a follow-up's history; a dispatch names the department.
pub(crate) struct Entry<'a> {
    pub followup_id: &'a str,
    pub event: Event,
    pub status: Status,
    pub note: &'a str,
    pub by: &'a str,
    pub department: Option<(&'a Option<String>, &'a str)>,
}

pub(crate) fn history(c: &mut Conn, e: Entry<'_>) -> AppResult<()> {
    diesel::insert_into(fh::table)
        .values((
            fh::id.eq(clock::new_id()),
            fh::followup_id.eq(e.followup_id),
            fh::status.eq(e.status.as_str()),
            fh::note.eq(e.note),
            fh::by_id.eq(e.by),
            fh::at.eq(clock::now()),
            fh::event.eq(e.event.as_str()),
            fh::department_id.eq(e.department.and_then(|d| d.0.clone())),
            fh::department.eq(e.department.map(|d| d.1)),
        ))
        .execute(c)?;
    Ok(())
}

/// A status entry (no hand-off).
fn status_entry(c: &mut Conn, id: &str, status: Status, note: &str, by: &str) -> AppResult<()> {
    history(
        c,
        Entry {
            followup_id: id,
            event: Event::Status,
            status,
            note,
            by,
            department: None,
        },
    )
}

/// A follow-up's event for the relay: to its group, its record's
/// inspector and its department. The message names the follow-up, its
/// department and the record's place.
pub(super) fn announce(
    c: &mut Conn,
    id: &str,
    kind: crate::outbox::EventKind,
    detail: &str,
) -> AppResult<()> {
    let r: Row = fu::table.find(id).select(Row::as_select()).first(c)?;
    let record = crate::inspection::find(c, &r.inspection_id)?
        .ok_or_else(|| AppError::internal("a follow-up's record is missing"))?;
    let header = write::Header::of(&record)?;
    let rec = record.record()?;
    let of_record = write::message(c, &header, &rec)?;
    let msg = crate::outbox::Message {
        title: r.title.clone(),
        place: format!("{} · {}", r.department, of_record.place),
        urgent: of_record.urgent,
        detail: if detail.is_empty() {
            of_record.title
        } else {
            detail.to_string()
        },
    };
    crate::outbox::emit(
        c,
        kind,
        crate::outbox::Scope {
            group_id: Some(&r.group_id),
            owner_id: Some(&r.owner_id),
            department_id: r.department_id.as_deref(),
            inspection_id: Some(&r.inspection_id),
            followup_id: Some(&r.id),
        },
        &msg,
    )?;
    Ok(())
}

/// Raises `followup.overdue` for a follow-up (the relay's overdue job
/// marks it once first).
pub fn overdue(c: &mut Conn, id: &str) -> AppResult<()> {
    announce(c, id, crate::outbox::EventKind::FollowupOverdue, "")
}

pub(super) fn changed(c: &mut Conn, r: &Row) -> AppResult<()> {
    journal::changed(c, Entity::Followup, &r.id)
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str, signer: &Signer) -> AppResult<Followup> {
    let r = find(c, caller, id)?;
    views(c, vec![r], signer, Detail::WithRecord)?
        .pop()
        .ok_or_else(|| AppError::not_found("follow-up"))
}

pub fn by_ids(c: &mut Conn, ids: &[String], signer: &Signer) -> AppResult<Vec<Followup>> {
    let rows = fu::table
        .filter(fu::id.eq_any(ids))
        .select(Row::as_select())
        .load(c)?;
    views(c, rows, signer, Detail::Plain)
}

pub fn for_inspection(
    c: &mut Conn,
    inspection_id: &str,
    signer: &Signer,
) -> AppResult<Vec<Followup>> {
    let rows = fu::table
        .filter(fu::inspection_id.eq(inspection_id))
        .order(fu::id)
        .select(Row::as_select())
        .load(c)?;
    views(c, rows, signer, Detail::Plain)
}

/// The item keys of a record's follow-ups (what its proposals skip).
pub fn item_keys(c: &mut Conn, inspection_id: &str) -> AppResult<Vec<Option<String>>> {
    Ok(fu::table
        .filter(fu::inspection_id.eq(inspection_id))
        .select(fu::item_key)
        .load(c)?)
}

pub fn create(
    c: &mut Conn,
    caller: &Caller,
    inspection_id: &str,
    input: NewFollowup,
    signer: &Signer,
) -> AppResult<Followup> {
    let id = create_row(c, caller, inspection_id, input)?;
    get(c, caller, &id, signer)
}

/// Makes a follow-up; returns its id.
pub fn create_row(
    c: &mut Conn,
    caller: &Caller,
    inspection_id: &str,
    input: NewFollowup,
) -> AppResult<String> {
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
    history(
        c,
        Entry {
            followup_id: &id,
            event: Event::Dispatched,
            status: Status::Open,
            note: "",
            by: &caller.id,
            department: Some((&department_id, &department)),
        },
    )?;
    let row = find(c, caller, &id)?;
    changed(c, &row)?;
    announce(c, &id, crate::outbox::EventKind::FollowupAssigned, "")?;
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
    Ok(id)
}

pub fn update(
    c: &mut Conn,
    caller: &Caller,
    id: &str,
    patch: FollowupPatch,
    signer: &Signer,
) -> AppResult<Followup> {
    let row = find(c, caller, id)?;
    let acting = Acting::of(caller, &row);
    if acting == Acting::Reader {
        require_coordinator(caller)?;
        return Err(AppError::forbidden(
            "only its coordinator or its department may change a follow-up",
        ));
    }
    if acting == Acting::Department
        && (patch.title.is_some()
            || patch.department.is_some()
            || patch.department_id.is_some()
            || patch.assignee_id.is_some()
            || patch.due_at.is_some())
    {
        return Err(AppError::forbidden(
            "a department reports progress; only the coordinator renames, re-dispatches or sets the due date",
        ));
    }
    let from = Status::parse(&row.status)?;
    let to = patch.status.unwrap_or(from);
    if acting == Acting::Department && !acting.may_move(from, to) && from != to {
        return Err(AppError::forbidden(format!(
            "a department moves a follow-up to in_progress or resolved; a {} one becomes {} by its coordinator",
            from.as_str(),
            to.as_str()
        )));
    }
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
    // A hand-off to another department is a dispatch; anything else a
    // status entry (with its note).
    match &department {
        Some((dept_id, name)) if dept_id != &row.department_id || name != &row.department => {
            announce(c, id, crate::outbox::EventKind::FollowupAssigned, &note)?;
            history(
                c,
                Entry {
                    followup_id: id,
                    event: Event::Dispatched,
                    status: to,
                    note: &note,
                    by: &caller.id,
                    department: Some((dept_id, name)),
                },
            )?;
            if to != from {
                status_entry(c, id, to, "", &caller.id)?;
            }
        }
        _ => status_entry(c, id, to, &note, &caller.id)?,
    }
    if to == Status::Resolved && from != Status::Resolved {
        announce(c, id, crate::outbox::EventKind::FollowupResolved, &note)?;
    }
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
    get(c, caller, id, signer)
}

pub fn list(
    c: &mut Conn,
    caller: &Caller,
    f: &FollowupFilter,
    page: &PageRequest,
    signer: &Signer,
) -> AppResult<Page<Followup>> {
    let mut q = fu::table.select(Row::as_select()).into_boxed();
    // The rule of `visible`, in SQL: the record's scope, or the caller's
    // department.
    let dept = caller.department_id.as_ref().map(|d| d.to_string());
    match (RecordScope::of(caller), dept) {
        (RecordScope::All, _) => {}
        (RecordScope::Group(g), None) => q = q.filter(fu::group_id.eq(g)),
        (RecordScope::Group(g), Some(d)) => {
            q = q.filter(fu::group_id.eq(g).or(fu::department_id.eq(d)))
        }
        (RecordScope::Owner(o), None) => q = q.filter(fu::owner_id.eq(o)),
        (RecordScope::Owner(o), Some(d)) => {
            q = q.filter(fu::owner_id.eq(o).or(fu::department_id.eq(d)))
        }
        (RecordScope::Nothing, Some(d)) => q = q.filter(fu::department_id.eq(d)),
        // A primary key is never null: no row.
        (RecordScope::Nothing, None) => q = q.filter(fu::id.is_null()),
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
        items: views(c, page.items, signer, Detail::WithRecord)?,
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
    signer: &Signer,
) -> AppResult<Followup> {
    require_coordinator(caller)?;
    let row = find(c, caller, id)?;
    if Acting::of(caller, &row) != Acting::Coordinator {
        return Err(AppError::forbidden(
            "only the coordinator of its record adds a re-verification stop",
        ));
    }
    if Status::parse(&row.status)? != Status::Resolved {
        return Err(AppError::conflict(
            ErrorCode::InvalidTransition,
            "a re-verification stop is for a follow-up the department reports resolved",
        ));
    }
    let Some(site_id) = row.site_id.clone() else {
        return Err(AppError::invalid(
            "route_id",
            "a quick report has no site to look at again: verify it by its responses",
        ));
    };
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
            route_stops::site_id.eq(&site_id),
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
    status_entry(
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
    get(c, caller, id, signer)
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
        status_entry(c, &row.id, to, note, by)?;
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
