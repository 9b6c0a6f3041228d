//! The coordinators' review page at `/review`: the queue, a record, its
//! print report, the review and follow-up forms. The handlers are thin:
//! they call the same functions as the JSON API (`crate::review`) and draw
//! with `pages`.

pub mod brief;
pub mod dashboard;
pub mod pages;
pub mod site_file;

use super::layout;
use super::session::{self, Refused, WebUser};
use super::words;
use super::{Page, back};
use crate::error::AppError;
use crate::reference::templates;
use crate::review::actions::{self, Decision, Keep, NewReview};
use crate::review::followups::{self, NewFollowup};
use crate::review::queue::{self, QueueFilter};
use crate::state::AppState;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
pub struct QueueQuery {
    review_status: Option<String>,
    site_id: Option<String>,
    /// `yyyy-mm-dd`, inclusive.
    from: Option<String>,
    to: Option<String>,
    conflicts: Option<String>,
    /// `inspection` or `report`; empty: both.
    kind: Option<String>,
    category: Option<String>,
    urgency: Option<String>,
    cursor: Option<String>,
    /// Set after the last waiting record was decided.
    done: Option<String>,
}

/// The start of a `yyyy-mm-dd` day (or of the next one, for an end).

#[get("/review")]
pub async fn queue_page(st: web::Data<AppState>, user: WebUser, q: web::Query<QueueQuery>) -> Page {
    let q = q.into_inner();
    let status = q
        .review_status
        .clone()
        .unwrap_or_else(|| "submitted".into());
    let site = q.site_id.clone().filter(|s| !s.is_empty());
    let filter = QueueFilter {
        review_status: serde_json::from_value(serde_json::Value::String(status.clone())).ok(),
        site_id: site.clone(),
        from: q.from.as_deref().and_then(crate::clock::Bound::parse),
        to: q.to.as_deref().and_then(crate::clock::Bound::parse),
        has_conflicts: q.conflicts.as_deref().map(|_| true),
        kind: q
            .kind
            .as_deref()
            .and_then(|k| serde_json::from_value(serde_json::Value::String(k.into())).ok()),
        category: q.category.clone().filter(|s| !s.is_empty()),
        urgency: q.urgency.clone().filter(|s| !s.is_empty()),
        cursor: q.cursor.clone(),
        limit: Some(50),
        ..QueueFilter::default()
    };
    // Urgent quick reports waiting for review stand above the queue,
    // whatever it is filtered by.
    let urgent_filter = QueueFilter {
        review_status: Some(crate::inspection::ReviewStatus::Submitted),
        kind: Some(crate::inspection::RecordKind::Report),
        urgency: Some("urgent".into()),
        limit: Some(20),
        ..QueueFilter::default()
    };
    let caller = user.caller.clone();
    let signer = st.signer.clone();
    let (page, urgent, site_names, user_names, site_list) = st
        .db
        .read(move |c| {
            let page = queue::list(c, &caller, &filter, &signer)?;
            let urgent = queue::list(c, &caller, &urgent_filter, &signer)?.items;
            let mut all = page.items.clone();
            all.extend(urgent.iter().cloned());
            let (s, u) = names(c, &all)?;
            let all = crate::paging::PageRequest {
                limit: crate::paging::MAX_LIMIT,
                after: None,
            };
            let none = crate::reference::sites::SiteFilter::default();
            let sites: Vec<(String, String)> =
                crate::reference::sites::list(c, &caller, &none, &all)?
                    .items
                    .into_iter()
                    .map(|s| (s.id, s.name))
                    .collect();
            Ok((page, urgent, s, u, sites))
        })
        .await?;
    let row = |i: crate::inspection::Inspection| pages::QueueRow {
        site: match &i.site_id {
            Some(s) => site_names.get(s).cloned().unwrap_or_default(),
            None => words::report_place(&i),
        },
        inspector: user_names.get(&i.inspector_id).cloned().unwrap_or_default(),
        inspection: i,
    };
    let urgent: Vec<pages::QueueRow> = urgent.into_iter().map(row).collect();
    let rows: Vec<pages::QueueRow> = page.items.into_iter().map(row).collect();
    let shown = pages::QueueFilters {
        status,
        site_id: site.unwrap_or_default(),
        from: q.from.unwrap_or_default(),
        to: q.to.unwrap_or_default(),
        conflicts: q.conflicts.is_some(),
        kind: q.kind.unwrap_or_default(),
        category: q.category.unwrap_or_default(),
        urgency: q.urgency.unwrap_or_default(),
        sites: site_list,
        all_done: q.done.is_some(),
    };
    Ok(layout::page(
        "巡查记录",
        Some(&user),
        pages::queue(&urgent, &rows, &shown, page.next_cursor.as_deref()),
    ))
}

type Names = (HashMap<String, String>, HashMap<String, String>);

fn names(
    c: &mut crate::db::Conn,
    items: &[crate::inspection::Inspection],
) -> crate::error::AppResult<Names> {
    let s: Vec<&str> = items.iter().filter_map(|i| i.site_id.as_deref()).collect();
    let u: Vec<&str> = items.iter().map(|i| i.inspector_id.as_str()).collect();
    Ok((
        crate::reference::sites::names(c, &s)?,
        crate::reference::users::display_names(c, &u)?,
    ))
}

struct Loaded {
    detail: queue::Detail,
    /// The record's relay, step by step.
    timeline: crate::review::timeline::Timeline,
    site_name: String,
    site: Option<(f64, f64, f64)>,
    inspector: String,
    template: Option<templates::Template>,
    /// Display names of the reviewers and of who changed the follow-ups.
    names: HashMap<String, String>,
    /// The departments a follow-up can be handed to: (id, name).
    departments: Vec<(String, String)>,
}

async fn load(st: &AppState, user: &WebUser, id: uuid::Uuid) -> Result<Loaded, Refused> {
    let caller = user.caller.clone();
    let signer = st.signer.clone();
    let id = id.to_string();
    Ok(st
        .db
        .read(move |c| {
            let detail = queue::detail(c, &caller, &id, &signer)?;
            let i = &detail.inspection;
            let site = match &i.site_id {
                Some(s) => crate::reference::sites::place(c, s)?,
                None => None,
            };
            let inspector = crate::reference::users::display_names(c, &[i.inspector_id.as_str()])?
                .remove(&i.inspector_id)
                .unwrap_or_default();
            let template = match (&i.template_id, i.template_version) {
                (Some(t), v) => templates::get(c, &caller, t, v).ok(),
                _ => None,
            };
            let people: Vec<&str> = detail
                .reviews
                .iter()
                .map(|r| r.reviewer_id.as_str())
                .chain(
                    detail
                        .followups
                        .iter()
                        .flat_map(|f| f.history.iter().map(|h| h.by.as_str())),
                )
                .collect();
            let names = crate::reference::users::display_names(c, &people)?;
            let departments = crate::reference::departments::names(c)?;
            let timeline = crate::review::timeline::of(c, &caller, &id)?;
            Ok(Loaded {
                timeline,
                departments,
                site_name: site.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
                site: site.map(|s| (s.1, s.2, s.3)),
                inspector,
                template,
                names,
                detail,
            })
        })
        .await?)
}

/// The record's page; with a problem, the refused form is shown again
/// with what went wrong (status 4xx, as the API would answer).
fn detail_page(
    l: &Loaded,
    user: &WebUser,
    problem: Option<(&pages::Problem, actix_web::http::StatusCode)>,
    comment: &str,
) -> HttpResponse {
    let title = l
        .detail
        .inspection
        .fields
        .get("title")
        .and_then(|v| v.as_str())
        .unwrap_or("巡查记录")
        .to_string();
    let body = pages::detail(&pages::DetailPage {
        detail: &l.detail,
        site_name: &l.site_name,
        site: l.site,
        inspector: &l.inspector,
        template: l.template.as_ref(),
        user,
        names: &l.names,
        departments: &l.departments,
        timeline: &l.timeline,
        problem: problem.map(|(p, _)| p),
        comment,
    });
    let mut resp = layout::page(&title, Some(user), body);
    if let Some((_, status)) = problem {
        *resp.status_mut() = status;
    }
    resp
}

#[get("/review/inspections/{id}")]
pub async fn inspection_page(
    st: web::Data<AppState>,
    user: WebUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let l = load(&st, &user, id.into_inner()).await?;
    Ok(detail_page(&l, &user, None, ""))
}

#[get("/review/inspections/{id}/print")]
pub async fn print_page(st: web::Data<AppState>, user: WebUser, id: web::Path<uuid::Uuid>) -> Page {
    let l = load(&st, &user, id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            pages::print(&pages::PrintPage {
                detail: &l.detail,
                site_name: &l.site_name,
                inspector: &l.inspector,
                template: l.template.as_ref(),
                names: &l.names,
                timeline: &l.timeline,
                printed_at: chrono::Utc::now(),
            })
            .into_string(),
        ))
}

/// A form's action refused for a reason the person can fix (a missing
/// comment, a record changed meanwhile, a bad date): the record's page
/// again, with the problem at that form. Anything else is an error page.
async fn refused_form(
    st: &AppState,
    user: &WebUser,
    id: uuid::Uuid,
    form: String,
    e: AppError,
    comment: &str,
) -> Page {
    let fixable = e.status.is_client_error() && !matches!(e.status.as_u16(), 401 | 403 | 404 | 429);
    if !fixable {
        return Err(e.into());
    }
    let l = load(st, user, id).await?;
    let p = pages::Problem::of(form, &e);
    Ok(detail_page(&l, user, Some((&p, e.status)), comment))
}

#[derive(Deserialize)]
pub struct ReviewForm {
    csrf: String,
    decision: Decision,
    #[serde(default)]
    comment: String,
    /// The version the page showed: a record that changed since is not
    /// decided unseen. (Read from its text: beside a flattened map, a
    /// form's values reach serde as texts.)
    #[serde(deserialize_with = "number_text")]
    version: i64,
    /// The proposed follow-ups as the reviewer left them:
    /// `fu[i].item_key`, `.title`, `.department`, `.due` and `.make`
    /// (checked: make it).
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

fn number_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let s = String::deserialize(d)?;
    s.trim().parse().map_err(serde::de::Error::custom)
}

/// The follow-ups the review form's proposals ask for: `None` when the
/// page showed none.
fn chosen_followups(
    rest: &HashMap<String, String>,
) -> Result<Option<Vec<crate::review::proposals::Chosen>>, AppError> {
    let get = |i: usize, k: &str| {
        rest.get(&format!("fu[{i}].{k}"))
            .map(|v| v.trim().to_string())
    };
    if get(0, "item_key").is_none() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for i in 0..crate::reference::templates::MAX_ITEMS {
        let Some(item_key) = get(i, "item_key") else {
            break;
        };
        if get(i, "make").as_deref() != Some("1") {
            continue;
        }
        let due_at = due_date(&get(i, "due").unwrap_or_default())
            .map_err(|e| e.prefixed(&format!("followups[{i}]")))?;
        out.push(crate::review::proposals::Chosen {
            item_key,
            title: get(i, "title").unwrap_or_default(),
            department: get(i, "department").unwrap_or_default(),
            department_id: None,
            due_at,
        });
    }
    Ok(Some(out))
}

#[post("/review/inspections/{id}/review")]
pub async fn review_form(
    st: web::Data<AppState>,
    user: WebUser,
    id: web::Path<uuid::Uuid>,
    form: web::Form<ReviewForm>,
) -> Page {
    let form = form.into_inner();
    session::check_csrf(&user, &form.csrf)?;
    let uid = id.into_inner();
    let (caller, iid, comment) = (user.caller.clone(), uid.to_string(), form.comment.clone());
    let chosen = match chosen_followups(&form.rest) {
        // Only an approval makes follow-ups: the proposals a return or a
        // rejection carries along are not its business.
        Ok(c) if form.decision == Decision::Approve => c,
        Ok(_) => None,
        Err(e) => return refused_form(&st, &user, uid, "review".into(), e, &comment).await,
    };
    let done = st
        .db
        .write(move |c| {
            actions::review(
                c,
                &caller,
                &iid,
                NewReview {
                    decision: form.decision,
                    comment: form.comment,
                    version: Some(form.version),
                    followups: chosen,
                },
            )
        })
        .await;
    match done {
        // On to the next record waiting for review.
        Ok(_) => Ok(back(&format!("/review/next?after={uid}"))),
        Err(e) => refused_form(&st, &user, uid, "review".into(), e, &comment).await,
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    after: Option<uuid::Uuid>,
}

/// The next record waiting for review: the one after the record just
/// decided in the queue's order (newest first), else the first waiting one
/// other than it; the queue when none is left.
#[get("/review/next")]
pub async fn next_page(st: web::Data<AppState>, user: WebUser, q: web::Query<NextQuery>) -> Page {
    let caller = user.caller.clone();
    let signer = st.signer.clone();
    let after = q.after.map(|a| a.to_string());
    let next = st
        .db
        .read(move |c| {
            let waiting = |cursor: Option<String>, limit| QueueFilter {
                review_status: Some(crate::inspection::ReviewStatus::Submitted),
                limit: Some(limit),
                cursor,
                ..QueueFilter::default()
            };
            if let Some(a) = &after
                && let Ok(cursor) = queue::after(c, &caller, a)
                && let Some(i) = queue::list(c, &caller, &waiting(Some(cursor), 1), &signer)?
                    .items
                    .into_iter()
                    .next()
            {
                return Ok(Some(i.id));
            }
            let page = queue::list(c, &caller, &waiting(None, 2), &signer)?;
            Ok(page
                .items
                .into_iter()
                .map(|i| i.id)
                .find(|i| Some(i) != after.as_ref()))
        })
        .await?;
    Ok(match next {
        Some(id) => back(&format!("/review/inspections/{id}")),
        None => back("/review?review_status=submitted&done=1"),
    })
}

#[derive(Deserialize)]
pub struct ResolveForm {
    csrf: String,
    keep: Keep,
}

#[post("/review/conflicts/{id}/resolve")]
pub async fn resolve_form(
    st: web::Data<AppState>,
    user: WebUser,
    id: web::Path<uuid::Uuid>,
    form: web::Form<ResolveForm>,
) -> Page {
    session::check_csrf(&user, &form.csrf)?;
    let caller = user.caller.clone();
    let (cid, keep) = (id.to_string(), form.keep);
    let c = st
        .db
        .write(move |c| {
            let iid = crate::inspection::conflicts::inspection_of(c, &cid)?;
            Ok((
                iid.unwrap_or_default(),
                actions::resolve(c, &caller, &cid, keep),
            ))
        })
        .await?;
    match c {
        (iid, Ok(_)) => Ok(back(&format!("/review/inspections/{iid}"))),
        (iid, Err(e)) => {
            let iid = uuid::Uuid::parse_str(&iid).map_err(|_| AppError::not_found("inspection"))?;
            refused_form(
                &st,
                &user,
                iid,
                format!("conflict:{}", id.into_inner()),
                e,
                "",
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct FollowupForm {
    csrf: String,
    title: String,
    /// A department from the list; or, empty, the one named in `department`.
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    due: String,
}

/// A date typed in a form: the end of that day in the district.
fn due_date(d: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    match d.trim() {
        "" => Ok(None),
        d => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(|d| Some(crate::clock::end_of_day(d)))
            .map_err(|_| AppError::invalid("due", "must be a date")),
    }
}

#[post("/review/inspections/{id}/followups")]
pub async fn followup_form(
    st: web::Data<AppState>,
    user: WebUser,
    id: web::Path<uuid::Uuid>,
    form: web::Form<FollowupForm>,
) -> Page {
    let form = form.into_inner();
    session::check_csrf(&user, &form.csrf)?;
    let uid = id.into_inner();
    let due_at = match due_date(&form.due) {
        Ok(d) => d,
        Err(e) => return refused_form(&st, &user, uid, "followup".into(), e, "").await,
    };
    let (caller, iid) = (user.caller.clone(), uid.to_string());
    let done = st
        .db
        .write(move |c| {
            followups::create_row(
                c,
                &caller,
                &iid,
                NewFollowup {
                    title: form.title,
                    department: form.department,
                    department_id: Some(form.department_id).filter(|d| !d.is_empty()),
                    assignee_id: None,
                    due_at,
                    item_key: None,
                },
            )
        })
        .await;
    match done {
        Ok(_) => Ok(back(&format!("/review/inspections/{uid}#followups"))),
        Err(e) => refused_form(&st, &user, uid, "followup".into(), e, "").await,
    }
}

#[derive(Deserialize)]
pub struct FollowupUpdateForm {
    csrf: String,
    status: followups::Status,
    /// Handed on to another department (re-dispatch); empty: unchanged.
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    due: String,
}

/// A follow-up moved on from the record's page: its status (with a note
/// for the history) and its due date.
#[post("/review/followups/{id}")]
pub async fn followup_update_form(
    st: web::Data<AppState>,
    user: WebUser,
    id: web::Path<uuid::Uuid>,
    form: web::Form<FollowupUpdateForm>,
) -> Page {
    let form = form.into_inner();
    session::check_csrf(&user, &form.csrf)?;
    let (caller, fid) = (user.caller.clone(), id.to_string());
    let signer = st.signer.clone();
    let due = due_date(&form.due);
    let done = st
        .db
        .write(move |c| {
            let f = followups::get(c, &caller, &fid, &signer)?;
            let result = due.and_then(|due| {
                let patch = followups::FollowupPatch {
                    status: Some(form.status),
                    note: form.note,
                    // An unchanged date is not a change of the due date.
                    due_at: (due.map(words::date) != f.due_at.map(words::date)).then_some(due),
                    department_id: Some(form.department_id)
                        .filter(|d| !d.is_empty() && Some(d) != f.department_id.as_ref()),
                    ..followups::FollowupPatch::default()
                };
                followups::update(c, &caller, &fid, patch, &signer)
            });
            Ok((f.inspection_id, result))
        })
        .await?;
    let (iid, result) = done;
    let iid = uuid::Uuid::parse_str(&iid).map_err(|_| AppError::not_found("inspection"))?;
    match result {
        Ok(_) => Ok(back(&format!(
            "/review/inspections/{iid}#followup-{}",
            id.into_inner()
        ))),
        Err(e) => {
            refused_form(
                &st,
                &user,
                iid,
                format!("followup:{}", id.into_inner()),
                e,
                "",
            )
            .await
        }
    }
}

/// The queue's live updates (`live.js`).
#[get("/review/static/live.js")]
pub async fn live_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(include_str!("live.js"))
}

/// The live feed for the page's session (an EventSource sends no bearer
/// token): the same stream and scope as `GET /api/v1/events`.
#[get("/review/events")]
pub async fn events(st: web::Data<AppState>, user: WebUser, req: actix_web::HttpRequest) -> Page {
    Ok(crate::relay::feed::respond(
        &st.feed,
        &st.db,
        &st.metrics,
        user.caller,
        crate::relay::feed::last_event_id(&req),
    )
    .await?)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live_js)
        .service(dashboard::page)
        .service(dashboard::csv)
        .service(dashboard::xlsx)
        .service(site_file::page)
        .service(brief::pdf_page)
        .service(brief::page)
        .service(events)
        .service(queue_page)
        .service(print_page)
        .service(inspection_page)
        .service(review_form)
        .service(resolve_form)
        .service(followup_form)
        .service(followup_update_form)
        .service(next_page);
}
