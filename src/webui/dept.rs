//! The departments' page, `/dept`: phone-sized, script-free, for bureau
//! staff who open a link from a group chat. Their department's open
//! follow-ups by due date (with the due lights), each with the record's
//! photos, position and the relay so far, and one form to answer: a note,
//! where the work stands, photos straight from the phone's camera. The
//! answer goes through `review::responses`, the API's own rule.

use super::layout::page;
use super::session::{self, DeptUser, Refused};
use super::{Page, back, words};
use crate::error::{AppError, ErrorCode};
use crate::photos::upload::{self, Part, Parts};
use crate::photos::{Accept, Want, is_video_type};
use crate::review::followups::{self, Followup, FollowupFilter, Status};
use crate::review::responses::{self, MediaIn, NewResponse};
use crate::state::AppState;
use actix_multipart::Multipart;
use actix_web::{get, post, web};
use futures_util::StreamExt;
use maud::{Markup, html};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// A department's page refuses a visitor who is not signed in by sending
/// them to the login form and back here afterwards.
fn login_first(r: Refused) -> Refused {
    match r {
        Refused::Login => Refused::LoginThen("/dept"),
        other => other,
    }
}

fn light_and_due(f: &Followup) -> Markup {
    html! {
        (words::due_light(f))
        @if let Some(d) = f.due_at { span.muted { " 期限 " (words::date(d)) } }
    }
}

#[get("/dept")]
pub async fn home(st: web::Data<AppState>, user: Result<DeptUser, Refused>) -> Page {
    let DeptUser(user) = user.map_err(login_first)?;
    let (caller, signer) = (user.caller.clone(), st.signer.clone());
    let dept = caller.department_id.clone().map(|d| d.to_string());
    let (name, mut list) = st
        .db
        .read(move |c| {
            let name = match &dept {
                Some(d) => crate::reference::departments::get(c, &caller, d)?.name,
                None => String::new(),
            };
            let filter = FollowupFilter {
                status: None,
                overdue: None,
                site_id: None,
                department: None,
                department_id: dept,
                inspection_id: None,
            };
            let page = crate::paging::PageRequest {
                after: None,
                limit: 200,
            };
            let items = followups::list(c, &caller, &filter, &page, &signer)?.items;
            Ok((name, items))
        })
        .await?;
    // Open work first, by due date (none last); then what waits for the
    // coordinator's check; verified work is done and not listed.
    list.retain(|f| f.status != Status::Verified);
    list.sort_by_key(|f| {
        (
            f.status == Status::Resolved,
            f.due_at.is_none(),
            f.due_at,
            f.id.clone(),
        )
    });
    let body = html! {
        section.card.phone {
            h1 { (name) " · 待办" }
            @if list.is_empty() { p.muted { "目前没有交办给本部门的事项。" } }
            ul.tasks {
                @for f in &list {
                    li {
                        a href=(format!("/dept/followups/{}", f.id)) {
                            strong { (f.title) }
                            br;
                            span { (words::followup_status(f.status)) }
                            (light_and_due(f))
                            @if let Some(r) = &f.record {
                                br;
                                span.muted { (r.title) " · " (words::time(r.reported_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("部门待办", Some(&user), body))
}

#[derive(serde::Deserialize)]
pub struct Shown {
    #[serde(default)]
    sent: Option<u8>,
}

#[get("/dept/followups/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    user: Result<DeptUser, Refused>,
    id: web::Path<uuid::Uuid>,
    q: web::Query<Shown>,
) -> Page {
    let DeptUser(user) = user.map_err(login_first)?;
    let (caller, signer, fid) = (user.caller.clone(), st.signer.clone(), id.to_string());
    let f = st
        .db
        .read(move |c| followups::get(c, &caller, &fid, &signer))
        .await?;
    Ok(page(
        &f.title,
        Some(&user),
        detail(&user, &f, q.sent.is_some(), None),
    ))
}

fn detail(user: &session::WebUser, f: &Followup, sent: bool, error: Option<&str>) -> Markup {
    let response_id = uuid::Uuid::new_v4();
    html! {
        section.card.phone {
            @if sent { p.notice { "已提交，协调员会收到您的回复。" } }
            @if let Some(e) = error { p.error { (e) } }
            p { a href="/dept" { "← 返回待办" } }
            h1 { (f.title) }
            p { (words::followup_status(f.status)) " · " (f.department) (light_and_due(f)) }
            @if let Some(r) = &f.record {
                h2 { "群众/委员反映" }
                p { strong { (r.title) } }
                @if !r.notes.is_empty() { p { (r.notes) } }
                p.muted {
                    (words::time(r.reported_at))
                    @if let Some(s) = &r.site_name { " · " (s) }
                    @if let Some((lat, lon)) = crate::inspection::position(r.location.as_ref()) {
                        " · 位置 " (format!("{lat:.5}, {lon:.5}"))
                    }
                }
                div.grid {
                    @for p in &r.photos {
                        @if let Some(u) = &p.urls {
                            a href=(u["display"].as_str().unwrap_or_default()) {
                                img src=(u["thumb"].as_str().unwrap_or_default()) alt=(p.caption) loading="lazy";
                            }
                        }
                    }
                }
            }
            @if !f.responses.is_empty() {
                h2 { "处理经过" }
                ul.relay {
                    @for r in &f.responses {
                        li {
                            span.muted { (words::time(r.at)) }
                            @if let Some(s) = r.status { " " strong { (words::followup_status(s)) } }
                            " " (r.note)
                            div.grid {
                                @for p in &r.media {
                                    @if let Some(u) = &p.urls {
                                        a href=(u["display"].as_str().unwrap_or_default()) {
                                            img src=(u["thumb"].as_str().unwrap_or_default()) alt=(p.caption) loading="lazy";
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if f.status != Status::Verified {
                h2 { "回复处理情况" }
                form method="post" action=(format!("/dept/followups/{}", f.id)) enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(user.csrf);
                    input type="hidden" name="response_id" value=(response_id);
                    label { "情况说明" textarea name="note" rows="4" {} }
                    fieldset {
                        legend { "进展" }
                        label.inline { input type="radio" name="status" value="in_progress" checked; " 正在处理" }
                        label.inline { input type="radio" name="status" value="resolved"; " 已处理完毕" }
                    }
                    label { "现场照片" input type="file" name="photos" accept="image/*" capture="environment" multiple; }
                    button type="submit" id="answer" { "提交回复" }
                }
            } @else {
                p.notice { "此事项已核实办结。" }
            }
        }
    }
}

/// Text fields of the form, and its photos spooled to disk with their
/// sha256 and content type.
struct Sent {
    text: HashMap<String, String>,
    files: Vec<(String, u64, String)>,
    parts: Parts,
}

async fn read_form(st: &AppState, mut form: Multipart) -> Result<Sent, AppError> {
    let store = st.jobs.store_arc();
    let mut sent = Sent {
        text: HashMap::new(),
        files: Vec::new(),
        parts: Parts::default(),
    };
    let (accept, max_total) = (Accept::of(&st.config), st.config.max_multipart_bytes);
    let mut total = 0u64;
    while let Some(field) = form.next().await {
        let mut field = field
            .map_err(|e| AppError::bad_request(ErrorCode::MalformedMultipart, e.to_string()))?;
        let name = field.name().unwrap_or_default().to_string();
        if name == "photos" {
            let ct = field
                .content_type()
                .map(|m| m.essence_str().to_ascii_lowercase())
                .unwrap_or_default();
            let max_photo = accept.max_bytes(&ct);
            let s = Arc::clone(&store);
            let (path, file) = web::block(move || s.temp())
                .await?
                .map_err(AppError::internal)?;
            let mut spool = upload::Spool::new(file);
            let (mut len, mut hash) = (0u64, Sha256::new());
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| {
                    AppError::bad_request(ErrorCode::MalformedMultipart, e.to_string())
                })?;
                len += chunk.len() as u64;
                total += chunk.len() as u64;
                if len > max_photo || total > max_total {
                    let _ = std::fs::remove_file(&path);
                    return Err(AppError::too_large("照片太大，请少选几张或压缩后再传"));
                }
                hash.update(&chunk);
                spool.write(&chunk).await?;
            }
            spool.finish().await?;
            if len == 0 {
                // An empty file input still sends its part.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if sent.files.len() >= responses::MAX_MEDIA {
                let _ = std::fs::remove_file(&path);
                return Err(AppError::invalid("media", "一次最多上传 20 张照片"));
            }
            let sha = hex::encode(hash.finalize());
            sent.parts.0.push(Part {
                photo_id: String::new(),
                path,
            });
            sent.files.push((sha, len, ct));
        } else {
            let mut buf = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| {
                    AppError::bad_request(ErrorCode::MalformedMultipart, e.to_string())
                })?;
                if buf.len() + chunk.len() > 16 * 1024 {
                    return Err(AppError::too_large("说明文字太长"));
                }
                buf.extend_from_slice(&chunk);
            }
            sent.text
                .insert(name, String::from_utf8_lossy(&buf).into_owned());
        }
    }
    Ok(sent)
}

#[post("/dept/followups/{id}")]
pub async fn answer(
    st: web::Data<AppState>,
    user: Result<DeptUser, Refused>,
    id: web::Path<uuid::Uuid>,
    form: Multipart,
) -> Page {
    let DeptUser(user) = user.map_err(login_first)?;
    let mut sent = read_form(&st, form).await?;
    session::check_csrf(&user, sent.text.get("csrf").map_or("", String::as_str))?;
    // The form's own id: pressing the button twice stores one response,
    // and each photo's id follows from it, so the replay is the same.
    let response_id = sent
        .text
        .get("response_id")
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .unwrap_or_else(uuid::Uuid::new_v4);
    let status = match sent.text.get("status").map(String::as_str) {
        Some("resolved") => Some(Status::Resolved),
        Some("in_progress") => Some(Status::InProgress),
        _ => None,
    };
    let mut media = Vec::new();
    let mut expected = HashMap::new();
    for (i, ((sha, len, ct), part)) in sent.files.iter().zip(sent.parts.0.iter_mut()).enumerate() {
        let seed = Sha256::digest(format!("{response_id}/photo-{i}"));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&seed[..16]);
        let mid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        part.photo_id = mid.to_string();
        let want = Want {
            sha: sha.clone(),
            video: is_video_type(ct),
        };
        expected.insert(mid.to_string(), want);
        media.push(MediaIn {
            id: mid,
            sha256: sha.clone(),
            bytes: i64::try_from(*len).unwrap_or(i64::MAX),
            content_type: if ct.is_empty() {
                "image/jpeg".into()
            } else {
                ct.clone()
            },
            caption: String::new(),
            taken_at: None,
            location: None,
        });
    }
    let input = NewResponse {
        id: Some(response_id),
        note: sent.text.remove("note").unwrap_or_default(),
        status,
        media,
    };
    let (store, accept) = (st.jobs.store_arc(), Accept::of(&st.config));
    let parts = sent.parts;
    let uploads =
        web::block(move || upload::check_and_store(&parts, &expected, store.as_ref(), &accept))
            .await
            .map_err(AppError::from)??;
    let (caller, signer, fid) = (user.caller.clone(), st.signer.clone(), id.to_string());
    let done = st
        .db
        .write(move |c| {
            let r = responses::respond(c, &caller, &fid, input, &uploads, &accept, &signer);
            let f = followups::get(c, &caller, &fid, &signer)?;
            Ok((r.map(drop), f))
        })
        .await?;
    st.jobs.notify();
    match done {
        (Ok(()), _) => Ok(back(&format!("/dept/followups/{}?sent=1", id.into_inner()))),
        (Err(e), f) => {
            let mut resp = page(
                &f.title,
                Some(&user),
                detail(&user, &f, false, Some(&words::error(&e))),
            );
            *resp.status_mut() = e.status;
            Ok(resp)
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home).service(one).service(answer);
}
