//! Events of the relay, written in the same transaction as the change that
//! causes them: one row in `events` (what the live feed hands out, by
//! `seq`) and one `deliveries` row for each active channel that wants it
//! (what the sender in `relay::sender` works through). A change that rolls
//! back leaves neither; a server that dies after the commit leaves both
//! for whichever server sends next.

use crate::clock;
use crate::db::Conn;
use crate::db::schema::{channels, deliveries, events};
use crate::error::{AppError, AppResult};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventKind {
    #[serde(rename = "report.created")]
    ReportCreated,
    #[serde(rename = "report.urgent")]
    ReportUrgent,
    #[serde(rename = "inspection.submitted")]
    InspectionSubmitted,
    #[serde(rename = "inspection.returned")]
    InspectionReturned,
    #[serde(rename = "followup.assigned")]
    FollowupAssigned,
    #[serde(rename = "followup.response")]
    FollowupResponse,
    #[serde(rename = "followup.resolved")]
    FollowupResolved,
    #[serde(rename = "followup.overdue")]
    FollowupOverdue,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::ReportCreated,
        EventKind::ReportUrgent,
        EventKind::InspectionSubmitted,
        EventKind::InspectionReturned,
        EventKind::FollowupAssigned,
        EventKind::FollowupResponse,
        EventKind::FollowupResolved,
        EventKind::FollowupOverdue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ReportCreated => "report.created",
            EventKind::ReportUrgent => "report.urgent",
            EventKind::InspectionSubmitted => "inspection.submitted",
            EventKind::InspectionReturned => "inspection.returned",
            EventKind::FollowupAssigned => "followup.assigned",
            EventKind::FollowupResponse => "followup.response",
            EventKind::FollowupResolved => "followup.resolved",
            EventKind::FollowupOverdue => "followup.overdue",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What happened, in the words a message starts with.
    pub fn words(self) -> &'static str {
        match self {
            EventKind::ReportCreated => "新的随手拍",
            EventKind::ReportUrgent => "紧急随手拍",
            EventKind::InspectionSubmitted => "巡查记录待审核",
            EventKind::InspectionReturned => "巡查记录被退回",
            EventKind::FollowupAssigned => "交办整改",
            EventKind::FollowupResponse => "部门回复",
            EventKind::FollowupResolved => "部门报告已办结",
            EventKind::FollowupOverdue => "整改逾期",
        }
    }
}

/// What an event is about and who may see it.
#[derive(Debug, Clone, Default)]
pub struct Scope<'a> {
    pub group_id: Option<&'a str>,
    /// The record's inspector.
    pub owner_id: Option<&'a str>,
    pub department_id: Option<&'a str>,
    pub inspection_id: Option<&'a str>,
    pub followup_id: Option<&'a str>,
}

/// An event's message: its title line, and the facts a message shows
/// (never media, never a token).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// The record's or follow-up's title.
    pub title: String,
    /// Where: the group, the site, or the position.
    pub place: String,
    pub urgent: bool,
    /// One more line (a department, a note, a comment), if any.
    pub detail: String,
}

/// Writes an event and its deliveries, in the caller's transaction.
pub fn emit(c: &mut Conn, kind: EventKind, scope: Scope<'_>, msg: &Message) -> AppResult<i64> {
    let id = clock::new_id();
    let payload = json!({
        "title": msg.title, "place": msg.place, "urgent": msg.urgent, "detail": msg.detail,
    });
    let seq: i64 = diesel::insert_into(events::table)
        .values((
            events::id.eq(&id),
            events::kind.eq(kind.as_str()),
            events::group_id.eq(scope.group_id),
            events::owner_id.eq(scope.owner_id),
            events::department_id.eq(scope.department_id),
            events::inspection_id.eq(scope.inspection_id),
            events::followup_id.eq(scope.followup_id),
            events::payload.eq(payload.to_string()),
            events::created_at.eq(clock::now()),
        ))
        .returning(events::seq)
        .get_result(c)?;
    let wanting: Vec<(String, String, Option<String>, Option<String>)> = channels::table
        .filter(channels::active.eq(true))
        .select((
            channels::id,
            channels::events,
            channels::group_id,
            channels::department_id,
        ))
        .load(c)?;
    let now = clock::now();
    for (channel, kinds, group, department) in wanting {
        let kinds: Vec<String> = serde_json::from_str(&kinds)?;
        if !wants(
            &kinds,
            group.as_deref(),
            department.as_deref(),
            kind,
            &scope,
        ) {
            continue;
        }
        diesel::insert_into(deliveries::table)
            .values((
                deliveries::id.eq(clock::new_id()),
                deliveries::channel_id.eq(&channel),
                deliveries::event_seq.eq(seq),
                deliveries::status.eq("pending"),
                deliveries::attempts.eq(0),
                deliveries::next_at.eq(now),
                deliveries::created_at.eq(now),
            ))
            .execute(c)?;
    }
    Ok(seq)
}

/// Whether a channel (its events, its group, its department) wants an
/// event: a channel with a group only that group's, with a department
/// only that department's follow-ups.
pub fn wants(
    kinds: &[String],
    group: Option<&str>,
    department: Option<&str>,
    kind: EventKind,
    scope: &Scope<'_>,
) -> bool {
    kinds.iter().any(|k| k == kind.as_str())
        && group.is_none_or(|g| scope.group_id == Some(g))
        && department.is_none_or(|d| scope.department_id == Some(d))
}

/// A stored event.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = events)]
pub struct Stored {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub group_id: Option<String>,
    pub owner_id: Option<String>,
    pub department_id: Option<String>,
    pub inspection_id: Option<String>,
    pub followup_id: Option<String>,
    pub payload: String,
    pub created_at: chrono::NaiveDateTime,
}

/// An event as the live feed and the webhooks show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub at: chrono::DateTime<chrono::Utc>,
    pub group_id: Option<String>,
    pub department_id: Option<String>,
    pub inspection_id: Option<String>,
    pub followup_id: Option<String>,
    pub message: Message,
}

impl Stored {
    pub fn view(&self) -> AppResult<Event> {
        Ok(Event {
            id: self.id.clone(),
            seq: self.seq,
            kind: EventKind::parse(&self.kind).ok_or_else(|| {
                AppError::internal(format!("unknown stored event kind {:?}", self.kind))
            })?,
            at: clock::utc(self.created_at),
            group_id: self.group_id.clone(),
            department_id: self.department_id.clone(),
            inspection_id: self.inspection_id.clone(),
            followup_id: self.followup_id.clone(),
            message: serde_json::from_str::<Value>(&self.payload)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
        }
        assert_eq!(EventKind::parse("report.deleted"), None);
    }

    #[test]
    fn a_channel_wants_its_group_and_department_only() {
        let all = vec!["report.urgent".to_string(), "followup.assigned".to_string()];
        let s = Scope {
            group_id: Some("g1"),
            department_id: Some("d1"),
            ..Scope::default()
        };
        assert!(wants(&all, None, None, EventKind::ReportUrgent, &s));
        assert!(wants(&all, Some("g1"), None, EventKind::ReportUrgent, &s));
        assert!(!wants(&all, Some("g2"), None, EventKind::ReportUrgent, &s));
        assert!(wants(
            &all,
            None,
            Some("d1"),
            EventKind::FollowupAssigned,
            &s
        ));
        assert!(!wants(
            &all,
            None,
            Some("d2"),
            EventKind::FollowupAssigned,
            &s
        ));
        assert!(
            !wants(&all, None, None, EventKind::ReportCreated, &s),
            "not subscribed"
        );
        let no_dept = Scope {
            group_id: Some("g1"),
            ..Scope::default()
        };
        assert!(!wants(
            &all,
            None,
            Some("d1"),
            EventKind::ReportUrgent,
            &no_dept
        ));
    }
}
