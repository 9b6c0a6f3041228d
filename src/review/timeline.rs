//! A record's relay, step by step: captured, received, reviewed, handed to
//! a department, answered, moved on, verified. Read from what each step
//! already wrote (the record, its reviews, its follow-ups' history and
//! responses); nothing is kept twice.

use super::followups::{Event, Status};
use crate::auth::{Caller, Role};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{
    departments, followup_history as fh, followup_responses as fr, followups as fu, photos,
    reviews, users,
};
use crate::error::AppResult;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A record in a site's file (`review::site_file`); a record's own
    /// timeline has none.
    Inspection,
    Captured,
    Received,
    Reviewed,
    Dispatched,
    Response,
    Status,
    Verified,
    Notified,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub id: String,
    pub display_name: String,
    pub role: Role,
    /// The department they acted for (a response's), else their own.
    pub department: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub kind: StepKind,
    pub by: Option<Person>,
    /// What happened, in Chinese, as the pages show it.
    pub text: String,
    /// The objects the step is about (`followup_id`, `response_id`,
    /// `review_id`, `department_id`).
    #[schema(value_type = Object)]
    pub refs: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Timeline {
    pub items: Vec<Step>,
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Open => "待处理",
        Status::InProgress => "处理中",
        Status::Resolved => "已办结",
        Status::Verified => "已核实",
    }
}

fn decision_word(d: &str) -> &'static str {
    match d {
        "approve" => "审核通过",
        "return" => "退回补充",
        "reject" => "不予采纳",
        _ => "审核",
    }
}

/// The people named, with their role and department.
struct People(HashMap<String, (String, Role, Option<String>)>);

impl People {
    fn load(c: &mut Conn, ids: Vec<&String>) -> AppResult<People> {
        let rows: Vec<(String, String, String, Option<String>)> = users::table
            .left_join(departments::table.on(departments::id.nullable().eq(users::department_id)))
            .filter(users::id.eq_any(ids))
            .select((
                users::id,
                users::display_name,
                users::role,
                departments::name.nullable(),
            ))
            .load(c)?;
        Ok(People(
            rows.into_iter()
                .filter_map(|(id, name, role, dept)| Some((id, (name, Role::parse(&role)?, dept))))
                .collect(),
        ))
    }

    fn person(&self, id: &str, acting_for: Option<&str>) -> Option<Person> {
        self.0.get(id).map(|(name, role, dept)| Person {
            id: id.to_string(),
            display_name: name.clone(),
            role: *role,
            department: acting_for.map(str::to_string).or_else(|| dept.clone()),
        })
    }
}

/// The timeline of a record the caller sees, oldest first.
pub fn of(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Timeline> {
    let row = crate::inspection::visible_row(c, caller, id)?;
    let fields: crate::inspection::merge::Fields = serde_json::from_str(&row.fields)?;
    let first_photo: Option<NaiveDateTime> = photos::table
        .filter(photos::inspection_id.eq(id))
        .filter(photos::response_id.is_null())
        .select(diesel::dsl::min(photos::taken_at))
        .first(c)?;
    let revs: Vec<(String, String, String, String, NaiveDateTime)> = reviews::table
        .filter(reviews::inspection_id.eq(id))
        .select((
            reviews::id,
            reviews::decision,
            reviews::comment,
            reviews::reviewer_id,
            reviews::created_at,
        ))
        .load(c)?;
    let fus: Vec<(String, String)> = fu::table
        .filter(fu::inspection_id.eq(id))
        .select((fu::id, fu::title))
        .load(c)?;
    let fu_ids: Vec<&String> = fus.iter().map(|f| &f.0).collect();
    type Hist = (
        String,
        String,
        String,
        String,
        NaiveDateTime,
        String,
        Option<String>,
        Option<String>,
    );
    let hist: Vec<Hist> = fh::table
        .filter(fh::followup_id.eq_any(&fu_ids))
        .order((fh::at, fh::id))
        .select((
            fh::followup_id,
            fh::status,
            fh::note,
            fh::by_id,
            fh::at,
            fh::event,
            fh::department_id,
            fh::department,
        ))
        .load(c)?;
    type Resp = (
        String,
        String,
        String,
        Option<String>,
        String,
        NaiveDateTime,
        Option<String>,
    );
    let resps: Vec<Resp> = fr::table
        .left_join(departments::table.on(departments::id.nullable().eq(fr::department_id)))
        .filter(fr::followup_id.eq_any(&fu_ids))
        .order((fr::at, fr::id))
        .select((
            fr::id,
            fr::followup_id,
            fr::note,
            fr::status,
            fr::by_id,
            fr::at,
            departments::name.nullable(),
        ))
        .load(c)?;
    let mut who: Vec<&String> = vec![&row.inspector_id];
    who.extend(revs.iter().map(|r| &r.3));
    who.extend(hist.iter().map(|h| &h.3));
    who.extend(resps.iter().map(|r| &r.4));
    let people = People::load(c, who)?;
    let titles: HashMap<&str, &str> = fus.iter().map(|(i, t)| (i.as_str(), t.as_str())).collect();

    let mut items = Vec::new();
    let started =
        crate::inspection::time_field(&fields, "started_at").or(first_photo.map(clock::utc));
    let text = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or_default();
    if let Some(at) = started {
        items.push(Step {
            at,
            kind: StepKind::Captured,
            by: people.person(&row.inspector_id, None),
            text: format!("现场记录：{}", text("title")),
            refs: json!({}),
        });
    }
    items.push(Step {
        at: clock::utc(row.created_at),
        kind: StepKind::Received,
        by: people.person(&row.inspector_id, None),
        text: "同步到服务器".into(),
        refs: json!({}),
    });
    for (rid, decision, comment, by, at) in &revs {
        let mut t = decision_word(decision).to_string();
        if !comment.is_empty() {
            t.push('：');
            t.push_str(comment);
        }
        items.push(Step {
            at: clock::utc(*at),
            kind: StepKind::Reviewed,
            by: people.person(by, None),
            text: t,
            refs: json!({ "review_id": rid }),
        });
    }
    for (fid, status, note, by, at, event, dept_id, dept) in &hist {
        let status = Status::parse(status)?;
        let title = titles.get(fid.as_str()).copied().unwrap_or_default();
        let (kind, mut t) = match Event::parse(event)? {
            // A response's status is told by the response itself.
            Event::Response => continue,
            Event::Dispatched => (
                StepKind::Dispatched,
                format!(
                    "交办{}：{}",
                    dept.as_deref().unwrap_or("(未指定部门)"),
                    title
                ),
            ),
            Event::Status if status == Status::Verified => {
                (StepKind::Verified, format!("核实办结：{title}"))
            }
            Event::Status => (
                StepKind::Status,
                format!("{}：{}", status_word(status), title),
            ),
        };
        if !note.is_empty() {
            t.push('（');
            t.push_str(note);
            t.push('）');
        }
        items.push(Step {
            at: clock::utc(*at),
            kind,
            by: people.person(by, None),
            text: t,
            refs: json!({ "followup_id": fid, "department_id": dept_id }),
        });
    }
    for (rid, fid, note, status, by, at, dept) in &resps {
        let mut t = String::from("部门回复");
        if let Some(s) = status.as_deref().map(Status::parse).transpose()? {
            t.push_str(&format!("（{}）", status_word(s)));
        }
        if !note.is_empty() {
            t.push('：');
            t.push_str(note);
        }
        items.push(Step {
            at: clock::utc(*at),
            kind: StepKind::Response,
            by: people.person(by, dept.as_deref()),
            text: t,
            refs: json!({ "followup_id": fid, "response_id": rid }),
        });
    }
    // Time order; at the same instant, in the relay's own order.
    items.sort_by_key(|s| (s.at, s.kind));
    Ok(Timeline { items })
}

/// "+5 小时 56 分": the time from the report to a step, as the relay shows it.
pub fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let m = (to - from).num_minutes().max(0);
    let (d, h, m) = (m / 1440, m % 1440 / 60, m % 60);
    match (d, h) {
        (0, 0) => format!("+{m} 分"),
        (0, _) => format!("+{h} 小时 {m} 分"),
        _ => format!("+{d} 天 {h} 小时 {m} 分"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_reads_like_the_relay() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-20T08:54:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(elapsed(t0, at("2026-11-20T14:50:00Z")), "+5 小时 56 分");
        assert_eq!(elapsed(t0, at("2026-11-20T09:01:00Z")), "+7 分");
        assert_eq!(elapsed(t0, at("2026-11-22T09:01:00Z")), "+2 天 0 小时 7 分");
        assert_eq!(
            elapsed(t0, at("2026-11-20T08:00:00Z")),
            "+0 分",
            "never negative"
        );
    }
}
