//! `/review/sites/{id}`: a site's file (一点一档) as a page: the site, its
//! coverage, a before/after view of each follow-up's photos (the record
//! that raised it, the department's evidence), and every record and step
//! at the site in time order with photos. Reached from every place a site
//! is named: the queue, a record, the dashboard, the coverage page and
//! the map. Reads `review::site_file::of`, as the API does.

use super::super::session::WebUser;
use super::super::{Page, layout, words};
use super::pages::step_word;
use crate::review::coverage::{self, SiteCoverage};
use crate::review::timeline::{Step, StepKind, Timeline};
use crate::state::AppState;
use actix_web::{get, web};
use maud::{Markup, html};
use serde_json::Value;

struct Loaded {
    site: crate::reference::sites::Site,
    coverage: Option<SiteCoverage>,
    file: Timeline,
}

#[get("/review/sites/{id}")]
pub async fn page(st: web::Data<AppState>, user: WebUser, id: web::Path<uuid::Uuid>) -> Page {
    let caller = user.caller.clone();
    let signer = st.signer.clone();
    let id = id.to_string();
    let l = st
        .db
        .read(move |c| {
            let site = crate::reference::sites::get(c, &caller, &id)?;
            let file = crate::review::site_file::of(c, &caller, &id, &signer)?;
            let coverage = coverage::of_sites(c, vec![site.clone()])?
                .into_iter()
                .next();
            Ok(Loaded {
                site,
                coverage,
                file,
            })
        })
        .await?;
    Ok(layout::page(&l.site.name, Some(&user), body(&l)))
}

/// A photo of a step's refs, as a thumbnail that opens the display size.
fn thumb(p: &Value) -> Markup {
    let url = |v: &str| {
        p["urls"][v]
            .as_str()
            .map(str::to_string)
            .unwrap_or_default()
    };
    let video = p["kind"] == "video";
    html! {
        figure {
            @if p["urls"].is_object() {
                a href=(url("display")) target="_blank" {
                    img.thumb src=(if video { url("poster") } else { url("thumb") }) alt=(p["caption"].as_str().unwrap_or("照片")) loading="lazy";
                }
            } @else {
                div.pending { "尚未上传" }
            }
            @if video { figcaption { "视频" } }
        }
    }
}

fn photos_of(s: &Step) -> Vec<&Value> {
    s.refs["photos"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Each follow-up: the photos of the record that raised it (before) and
/// its departments' evidence (after).
/// A follow-up's photos: (its id, before, after, what was handed over).
type Pair<'a> = (String, Vec<&'a Value>, Vec<&'a Value>, String);

fn before_after(file: &Timeline) -> Vec<Pair<'_>> {
    let mut out: Vec<Pair<'_>> = Vec::new();
    for s in file.items.iter().filter(|s| s.kind == StepKind::Dispatched) {
        let Some(fid) = s.refs["followup_id"].as_str() else {
            continue;
        };
        if out.iter().any(|(f, ..)| f == fid) {
            continue;
        }
        let record = s.refs["inspection_id"].as_str().unwrap_or_default();
        let before: Vec<&Value> = file
            .items
            .iter()
            .filter(|x| x.kind == StepKind::Inspection && x.refs["inspection_id"] == record)
            .flat_map(photos_of)
            .collect();
        let after: Vec<&Value> = file
            .items
            .iter()
            .filter(|x| x.kind == StepKind::Response && x.refs["followup_id"] == fid)
            .flat_map(photos_of)
            .collect();
        out.push((fid.to_string(), before, after, s.text.clone()));
    }
    out
}

fn body(l: &Loaded) -> Markup {
    let s = &l.site;
    let pairs = before_after(&l.file);
    html! {
        section.card.site-file {
            h1 { (s.name) }
            p.meta {
                (crate::reference::sites::kind_label(&s.kind))
                @if let Some(code) = &s.code { " · 编码 " (code) }
                " · " (s.address)
                " · 范围 " (s.radius_m as i64) " 米"
            }
            @if let Some(c) = &l.coverage {
                p {
                    "最近巡查:" (c.last_inspected_at.map(words::time).unwrap_or_else(|| "从未巡查".into()))
                    " · 未办结问题 " strong { (c.open_followups) } " 件"
                    @if c.overdue_followups > 0 { ",其中逾期 " strong.flag { (c.overdue_followups) } " 件" }
                }
            }
            p.periods {
                a href={ "/review?site_id=" (s.id) "&review_status=all" } { "该点位的全部记录" } " · "
                a href="/review/dashboard" { "返回概览" }
            }
        }
        @if !pairs.is_empty() {
            section.card {
                h2 { "整改前后" }
                @for (_, before, after, what) in &pairs {
                    div.before-after {
                        p { strong { (what) } }
                        div.pair {
                            div { h3 { "整改前" } div.photos { @for p in before { (thumb(p)) } @if before.is_empty() { p.empty { "无照片" } } } }
                            div { h3 { "整改后" } div.photos { @for p in after { (thumb(p)) } @if after.is_empty() { p.empty { "部门尚未上传照片" } } } }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "一点一档" }
            @if l.file.items.is_empty() { p.empty { "该点位还没有记录" } }
            ol.relay.file {
                @for step in &l.file.items {
                    li class={ "step " (serde_json::to_value(step.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) } {
                        span.when { (words::time(step.at)) }
                        " " strong { (step_word(step.kind)) }
                        @if let Some(b) = &step.by {
                            " · " (b.display_name)
                            @if let Some(dep) = &b.department { "(" (dep) ")" }
                        }
                        " · "
                        @if let Some(id) = step.refs["inspection_id"].as_str().filter(|_| step.kind == StepKind::Inspection) {
                            a href={ "/review/inspections/" (id) } { (step.text) }
                            @if let Some(st) = step.refs["review_status"].as_str() {
                                " " span class={ "badge " (st) } { (words::review_status(st)) }
                            }
                            @if step.refs["failed"].as_array().is_some_and(|f| !f.is_empty()) {
                                " " span.flag { "发现问题" }
                            }
                        } @else {
                            (step.text)
                        }
                        @let photos = photos_of(step);
                        @if !photos.is_empty() {
                            div.photos { @for p in photos { (thumb(p)) } }
                        }
                    }
                }
            }
        }
    }
}
