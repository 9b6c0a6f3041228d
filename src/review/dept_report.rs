//! How the departments answer (`GET /api/v1/reports/departments`): per
//! department, the follow-ups handed to it in a period, how many it
//! answered, resolved and had verified, how many are overdue, and the
//! median times to the first response and to the resolve. An assignment
//! is one hand-off: a follow-up re-dispatched counts for each department
//! it went to, each timed from its own hand-off.

use super::followups::{Event, Status};
use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{
    departments, followup_history as fh, followup_responses as fr, followups as fu,
};
use crate::error::AppResult;
use crate::inspection::RecordScope;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DepartmentsQuery {
    /// Hand-offs from this date (the whole day in the district's time
    /// zone) or RFC 3339 time.
    #[param(value_type = Option<String>)]
    pub from: Option<clock::Bound>,
    /// Before this time, or up to the end of this date.
    #[param(value_type = Option<String>)]
    pub to: Option<clock::Bound>,
    /// Only this group's follow-ups (within the caller's scope).
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DepartmentRow {
    pub department_id: String,
    pub name: String,
    /// Follow-ups handed to it in the period.
    pub assigned: i64,
    /// Of those, answered by it at least once.
    pub responded: i64,
    /// Of those, reported resolved while with it.
    pub resolved: i64,
    /// Of those, verified by the coordinator and still with it.
    pub verified: i64,
    /// Of those, with it now and past due.
    pub overdue: i64,
    pub median_first_response_s: Option<i64>,
    pub median_resolve_s: Option<i64>,
    /// The 90th percentile (nearest rank): nine in ten were faster.
    pub p90_first_response_s: Option<i64>,
    pub p90_resolve_s: Option<i64>,
}

/// One hand-off, as the rule below reads it.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub followup_id: String,
    pub department_id: String,
    pub at: NaiveDateTime,
    /// When it was handed on to another department, if it was.
    pub until: Option<NaiveDateTime>,
}

/// What happened on a follow-up: `(at, department the answer was for,
/// status it moved to)`.
#[derive(Debug, Clone)]
pub struct Answer {
    pub at: NaiveDateTime,
    pub department_id: Option<String>,
    pub resolved: bool,
    pub is_response: bool,
}

/// The rule, on values: each assignment's first response and first
/// resolve in its own span.
pub fn tally(
    names: &[(String, String)],
    assignments: &[Assignment],
    answers: &HashMap<String, Vec<Answer>>,
    now_state: &HashMap<String, (Status, String, bool)>,
) -> Vec<DepartmentRow> {
    let mut rows: BTreeMap<&str, (DepartmentRow, Vec<i64>, Vec<i64>)> = names
        .iter()
        .map(|(id, name)| {
            (
                id.as_str(),
                (
                    DepartmentRow {
                        department_id: id.clone(),
                        name: name.clone(),
                        ..Default::default()
                    },
                    vec![],
                    vec![],
                ),
            )
        })
        .collect();
    for a in assignments {
        let Some((row, firsts, resolves)) = rows.get_mut(a.department_id.as_str()) else {
            continue;
        };
        row.assigned += 1;
        let within = |x: &&Answer| {
            x.at >= a.at
                && a.until.is_none_or(|u| x.at < u)
                && x.department_id
                    .as_deref()
                    .is_none_or(|d| d == a.department_id)
        };
        let list = answers
            .get(&a.followup_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if let Some(first) = list
            .iter()
            .filter(within)
            .filter(|x| x.is_response)
            .map(|x| x.at)
            .min()
        {
            row.responded += 1;
            firsts.push((first - a.at).num_seconds());
        }
        if let Some(done) = list
            .iter()
            .filter(within)
            .filter(|x| x.resolved)
            .map(|x| x.at)
            .min()
        {
            row.resolved += 1;
            resolves.push((done - a.at).num_seconds());
        }
        if a.until.is_none()
            && let Some((status, dept, overdue)) = now_state.get(&a.followup_id)
            && dept == &a.department_id
        {
            row.verified += i64::from(*status == Status::Verified);
            row.overdue += i64::from(*overdue);
        }
    }
    rows.into_values()
        .map(|(mut row, mut f, mut r)| {
            row.median_first_response_s = median(&mut f);
            row.median_resolve_s = median(&mut r);
            row.p90_first_response_s = p90(&mut f);
            row.p90_resolve_s = p90(&mut r);
            row
        })
        .collect()
}

/// The 90th percentile by nearest rank (the smallest value with at
/// least 90% of the values at or below it).
fn p90(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = (v.len() * 9).div_ceil(10);
    v.get(rank.saturating_sub(1)).copied()
}

fn median(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

pub fn report(
    c: &mut Conn,
    caller: &Caller,
    q: &DepartmentsQuery,
) -> AppResult<Vec<DepartmentRow>> {
    caller.require_reviewer("read the departments' report")?;
    let names: Vec<(String, String)> = departments::table
        .order(departments::name)
        .select((departments::id, departments::name))
        .load(c)?;
    // Every hand-off of the caller's follow-ups, in order; those in the
    // period are counted, the later ones end their span.
    let mut hand_offs = fh::table
        .inner_join(fu::table)
        .filter(fh::event.eq(Event::Dispatched.as_str()))
        .select((fh::followup_id, fh::department_id, fh::at))
        .order((fh::followup_id, fh::at, fh::id))
        .into_boxed();
    match RecordScope::of(caller) {
        RecordScope::All => {}
        RecordScope::Group(g) => hand_offs = hand_offs.filter(fu::group_id.eq(g)),
        RecordScope::Owner(o) => hand_offs = hand_offs.filter(fu::owner_id.eq(o)),
        RecordScope::Nothing => return Ok(vec![]),
    }
    if let Some(g) = &q.group_id {
        hand_offs = hand_offs.filter(fu::group_id.eq(g.clone()));
    }
    let hand_offs: Vec<(String, Option<String>, NaiveDateTime)> = hand_offs.load(c)?;
    let (from, to) = (
        q.from.map(|b| b.start().naive_utc()),
        q.to.map(|b| b.end().naive_utc()),
    );
    let mut assignments = Vec::new();
    for (i, (fid, dept, at)) in hand_offs.iter().enumerate() {
        let Some(dept) = dept else { continue };
        if from.is_some_and(|f| *at < f) || to.is_some_and(|t| *at >= t) {
            continue;
        }
        let until = hand_offs
            .get(i + 1)
            .filter(|(next, _, _)| next == fid)
            .map(|(_, _, at)| *at);
        assignments.push(Assignment {
            followup_id: fid.clone(),
            department_id: dept.clone(),
            at: *at,
            until,
        });
    }
    let ids: Vec<&String> = {
        let mut v: Vec<&String> = assignments.iter().map(|a| &a.followup_id).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut answers: HashMap<String, Vec<Answer>> = HashMap::new();
    let mut now_state = HashMap::new();
    let now = clock::now();
    for chunk in ids.chunks(500) {
        let rs: Vec<(String, NaiveDateTime, Option<String>, Option<String>)> = fr::table
            .filter(fr::followup_id.eq_any(chunk))
            .select((fr::followup_id, fr::at, fr::department_id, fr::status))
            .load(c)?;
        for (fid, at, dept, status) in rs {
            answers.entry(fid).or_default().push(Answer {
                at,
                department_id: dept,
                resolved: status.as_deref() == Some(Status::Resolved.as_str()),
                is_response: true,
            });
        }
        // A status set to resolved without a response (by the coordinator
        // for the department, or an older client's PATCH).
        let hs: Vec<(String, NaiveDateTime)> = fh::table
            .filter(fh::followup_id.eq_any(chunk))
            .filter(fh::event.eq(Event::Status.as_str()))
            .filter(fh::status.eq(Status::Resolved.as_str()))
            .select((fh::followup_id, fh::at))
            .load(c)?;
        for (fid, at) in hs {
            answers.entry(fid).or_default().push(Answer {
                at,
                department_id: None,
                resolved: true,
                is_response: false,
            });
        }
        let states: Vec<(String, String, Option<String>, Option<NaiveDateTime>)> = fu::table
            .filter(fu::id.eq_any(chunk))
            .select((fu::id, fu::status, fu::department_id, fu::due_at))
            .load(c)?;
        for (fid, status, dept, due) in states {
            let status = Status::parse(&status)?;
            let overdue =
                due.is_some_and(|d| d < now) && matches!(status, Status::Open | Status::InProgress);
            now_state.insert(fid, (status, dept.unwrap_or_default(), overdue));
        }
    }
    Ok(tally(&names, &assignments, &answers, &now_state))
}

/// The report as a table (CSV or XLSX).
pub fn sheet(rows: &[DepartmentRow]) -> crate::sheet::Page {
    use crate::sheet::{Cell, Column};
    crate::sheet::Page {
        head: Column::list(&[
            ("department_id", "部门编号"),
            ("name", "部门"),
            ("assigned", "交办数"),
            ("responded", "已答复"),
            ("resolved", "已办结"),
            ("verified", "已核实"),
            ("overdue", "逾期"),
            ("median_first_response_s", "首次答复中位用时(秒)"),
            ("median_resolve_s", "办结中位用时(秒)"),
            ("p90_first_response_s", "首次答复90%用时(秒)"),
            ("p90_resolve_s", "办结90%用时(秒)"),
        ]),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Code(r.department_id.clone()),
                    Cell::Text(r.name.clone()),
                    Cell::Int(r.assigned),
                    Cell::Int(r.responded),
                    Cell::Int(r.resolved),
                    Cell::Int(r.verified),
                    Cell::Int(r.overdue),
                    Cell::opt_int(r.median_first_response_s),
                    Cell::opt_int(r.median_resolve_s),
                    Cell::opt_int(r.p90_first_response_s),
                    Cell::opt_int(r.p90_resolve_s),
                ]
            })
            .collect(),
        next: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_700_000_000 + h * 3600, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn a_re_dispatch_times_each_department_from_its_own_hand_off() {
        let names = vec![
            ("env".to_string(), "环境".into()),
            ("hou".into(), "住建".into()),
        ];
        let a = vec![
            Assignment {
                followup_id: "f".into(),
                department_id: "env".into(),
                at: t(0),
                until: Some(t(6)),
            },
            Assignment {
                followup_id: "f".into(),
                department_id: "hou".into(),
                at: t(6),
                until: None,
            },
        ];
        let ans = |at, d: &str, resolved| Answer {
            at,
            department_id: Some(d.into()),
            resolved,
            is_response: true,
        };
        let answers = HashMap::from([(
            "f".to_string(),
            vec![
                ans(t(2), "env", false),
                ans(t(9), "hou", false),
                ans(t(17), "hou", true),
            ],
        )]);
        let now = HashMap::from([(
            "f".to_string(),
            (Status::Verified, "hou".to_string(), false),
        )]);
        let rows = tally(&names, &a, &answers, &now);
        let env = &rows[0];
        assert_eq!(
            (env.assigned, env.responded, env.resolved, env.verified),
            (1, 1, 0, 0)
        );
        assert_eq!(env.median_first_response_s, Some(2 * 3600));
        let hou = &rows[1];
        assert_eq!(
            (hou.assigned, hou.responded, hou.resolved, hou.verified),
            (1, 1, 1, 1)
        );
        assert_eq!(hou.median_first_response_s, Some(3 * 3600));
        assert_eq!(hou.median_resolve_s, Some(11 * 3600));
    }

    #[test]
    fn ninetieth_percentiles_by_nearest_rank() {
        assert_eq!(p90(&mut []), None);
        assert_eq!(p90(&mut [5]), Some(5));
        let mut v: Vec<i64> = (1..=10).rev().collect();
        assert_eq!(p90(&mut v), Some(9));
        let mut v: Vec<i64> = (1..=11).collect();
        assert_eq!(p90(&mut v), Some(10));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5, 1, 3]), Some(3));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
    }
}
