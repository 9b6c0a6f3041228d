//! The HTML of the review page's screens (maud: checked at compile time, escaped by
//! default). Everything it needs is served by this binary.

use crate::error::AppError;
use crate::inspection::{Inspection, Photo, checklist};
use crate::photos::{PhotoKind, PhotoStatus};
use crate::reference::templates::{self, Item, ItemKind, Template};
use crate::review::queue::Detail;
use crate::review::timeline::{StepKind, Timeline, elapsed};
use crate::webui::session::WebUser;
use crate::webui::words;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn status_label(s: &str) -> &'static str {
    words::review_status(s)
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "是".into(),
        Some(Value::Bool(false)) => "否".into(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

pub struct QueueRow {
    pub inspection: Inspection,
    pub site: String,
    pub inspector: String,
}

/// The queue's filters as the page shows them.
pub struct QueueFilters {
    pub status: String,
    pub site_id: String,
    pub from: String,
    pub to: String,
    pub conflicts: bool,
    pub kind: String,
    pub category: String,
    pub urgency: String,
    pub sites: Vec<(String, String)>,
    /// The reviewer just decided the last record waiting.
    pub all_done: bool,
}

fn queue_row(r: &QueueRow) -> Markup {
    html! {
        li class=(if r.inspection.kind == crate::inspection::RecordKind::Report { "report" } else { "inspection" }) {
            a.row href={ "/review/inspections/" (r.inspection.id) } {
                span.title { (text(r.inspection.fields.get("title"))) }
                span.meta { (r.site) " · " (r.inspector) " · " (words::time(r.inspection.created_at)) }
                span class={ "badge " (r.inspection.review_status.as_str()) } { (status_label(r.inspection.review_status.as_str())) }
                @if r.inspection.fields.get("urgency").and_then(Value::as_str) == Some("urgent") {
                    span.badge.urgent { "紧急" }
                }
                @if r.inspection.checks.within_site_radius == Some(false) || r.inspection.checks.photos_off_site > 0 {
                    span.badge.warn { "位置异常" }
                }
                @if plan_changed(&r.inspection) { span.badge.warn { "计划已变更" } }
            }
        }
    }
}

pub fn queue(
    urgent: &[QueueRow],
    rows: &[QueueRow],
    f: &QueueFilters,
    next: Option<&str>,
) -> Markup {
    let status = f.status.as_str();
    html! {
        @if f.all_done { p.notice id="all-done" { "待审核的记录已全部处理完毕。" } }
        p.notice id="live-notice" hidden { span {} " " a href="" { "刷新" } }
        section.card.urgent id="urgent" {
            h2 { "紧急随手拍" " " button.secondary type="button" id="notify-on" { "开启桌面通知" } }
            @if urgent.is_empty() { p.empty id="urgent-empty" { "暂无待审核的紧急随手拍" } }
            ul.queue id="urgent-list" {
                @for r in urgent { (queue_row(r)) }
            }
        }
        section.card {
            h1 { "巡查记录" }
            form.filters method="get" action="/review" {
                label { "状态"
                    select name="review_status" {
                        @for (v, l) in [("submitted", "待审核"), ("returned", "已退回"), ("approved", "已通过"), ("rejected", "已驳回"), ("pending", "未提交"), ("", "全部")] {
                            option value=(v) selected[v == status] { (l) }
                        }
                    }
                }
                label { "点位"
                    select name="site_id" {
                        option value="" { "全部" }
                        @for (id, name) in &f.sites { option value=(id) selected[*id == f.site_id] { (name) } }
                    }
                }
                label { "从" input type="date" name="from" value=(f.from); }
                label { "到" input type="date" name="to" value=(f.to); }
                label { "类型"
                    select name="kind" {
                        @for (v, l) in [("", "全部"), ("inspection", "计划巡查"), ("report", "随手拍")] {
                            option value=(v) selected[v == f.kind] { (l) }
                        }
                    }
                }
                label { "分类"
                    select name="category" {
                        option value="" { "全部" }
                        @for c in crate::inspection::CATEGORIES {
                            option value=(c) selected[c == f.category] { (words::category(c)) }
                        }
                    }
                }
                label { "紧急程度"
                    select name="urgency" {
                        @for (v, l) in [("", "全部"), ("urgent", "紧急"), ("normal", "一般")] {
                            option value=(v) selected[v == f.urgency] { (l) }
                        }
                    }
                }
                label.check { input type="checkbox" name="conflicts" value="1" checked[f.conflicts]; "有冲突" }
                button type="submit" { "筛选" }
            }
            @if !f.site_id.is_empty() {
                p { a href={ "/review/sites/" (f.site_id) } { "查看该点位的档案(一点一档)" } }
            }
            @if rows.is_empty() { p.empty { "没有记录" } }
            ul.queue id="queue" {
                @for r in rows { (queue_row(r)) }
            }
            @if let Some(n) = next {
                a.more href={ "/review?review_status=" (status) "&site_id=" (f.site_id) "&from=" (f.from) "&to=" (f.to)
                    "&kind=" (f.kind) "&category=" (f.category) "&urgency=" (f.urgency)
                    @if f.conflicts { "&conflicts=1" } "&cursor=" (n) } { "更多" }
            }
        }
        script type="module" src="/review/static/live.js" {}
    }
}

fn photo_grid(photos: &[Photo]) -> Markup {
    html! {
        div.photos {
            @for p in photos.iter().filter(|p| !p.deleted) {
                figure {
                    @match (&p.urls, p.kind) {
                        (Some(u), PhotoKind::Video) => { (video_player(p, u)) }
                        (Some(u), _) => {
                            a href=(text(u.get("display"))) target="_blank" {
                                img.thumb src=(text(u.get("thumb"))) alt=(p.caption) loading="lazy";
                            }
                        }
                        (None, PhotoKind::Video) => { div.pending { "视频尚未上传" } }
                        (None, _) => { div.pending { "照片尚未上传" } }
                    }
                    figcaption {
                        (p.caption)
                        (photo_facts(p))
                        @if p.checks.within_site_radius == Some(false) {
                            span.flag { " ⚠ 拍摄地点不在点位范围内" }
                        }
                        @if p.checks.within_time_window == Some(false) {
                            span.flag { " ⚠ 拍摄时间不在巡查时段内" }
                        }
                    }
                }
            }
        }
    }
}

/// Where the record and its photos were, around the site: a small plan,
/// drawn here (the server may have no internet for map tiles).
fn position(d: &Detail, site: Option<(f64, f64, f64)>) -> Markup {
    let Some((slat, slon, radius)) = site else {
        return html! {};
    };
    let mut points: Vec<(f64, f64, &str)> = Vec::new();
    if let Some((lat, lon)) = crate::inspection::position(d.inspection.fields.get("location")) {
        points.push((lat, lon, "记录"));
    }
    for p in &d.inspection.photos {
        if let Some((lat, lon)) = crate::inspection::position(p.exif.as_ref()) {
            points.push((lat, lon, "照片"));
        }
    }
    // Metres east and north of the site, scaled so everything fits.
    let m_per_deg = 111_320.0;
    let xy = |lat: f64, lon: f64| {
        (
            (lon - slon) * m_per_deg * slat.to_radians().cos(),
            (lat - slat) * m_per_deg,
        )
    };
    let extent = points
        .iter()
        .map(|(la, lo, _)| {
            let (x, y) = xy(*la, *lo);
            x.abs().max(y.abs())
        })
        .fold(radius * 1.5, f64::max);
    let scale = 90.0 / extent;
    html! {
        div.plan {
            svg viewBox="-100 -100 200 200" width="200" height="200" role="img" aria-label="位置示意" {
                circle cx="0" cy="0" r=(format!("{:.1}", radius * scale)) class="radius" {}
                circle cx="0" cy="0" r="3" class="site" {}
                @for (la, lo, kind) in &points {
                    @let (x, y) = xy(*la, *lo);
                    circle cx=(format!("{:.1}", x * scale)) cy=(format!("{:.1}", -y * scale)) r="4" class=(if *kind == "记录" { "record" } else { "photo" }) {}
                }
            }
            p.legend { "● 点位 ○ 范围 " span.record-dot { "●" } " 记录位置 " span.photo-dot { "●" } " 照片位置" }
        }
    }
}

/// Whether an admin's edit since the record was made changed its plan: the
/// reviewer is told (`checks` of DESIGN "Edits while phones hold them").
fn plan_changed(i: &Inspection) -> bool {
    i.checks.stop_removed || i.checks.route_cancelled || i.checks.template_outdated
}

/// When and where a photo says it was taken (its EXIF), in district time.
/// A video in the browser: `display` (H.264, plays everywhere) with its
/// poster once made, the original as the fallback source (a browser that
/// cannot play `display` yet, or cannot play the original's codec, says
/// so in the player).
fn video_player(p: &Photo, u: &Value) -> Markup {
    let ready = p.status == PhotoStatus::Ready;
    html! {
        video.thumb controls preload="metadata" playsinline
            poster=[ready.then(|| text(u.get("poster")))] {
            @if ready { source src=(text(u.get("display"))) type="video/mp4"; }
            source src=(text(u.get("original"))) type=(p.content_type);
            "此浏览器无法播放该视频"
        }
        @if let Some(why) = &p.variants_pending {
            div.meta { "压缩版尚未生成(" (video_pending(why)) "),正在播放原件" }
        }
    }
}

fn video_pending(why: &str) -> &str {
    if why == crate::photos::ffmpeg::MISSING {
        "服务器未安装 ffmpeg"
    } else {
        why
    }
}

fn photo_facts(p: &Photo) -> Markup {
    let exif = p.exif.as_ref();
    let taken = exif
        .and_then(|e| e.get("taken_at"))
        .and_then(Value::as_str)
        .map(words::time_text);
    let place = crate::inspection::position(exif);
    html! {
        @if p.kind == PhotoKind::Video {
            span.meta { " · 视频" @if let Some(ms) = p.duration_ms { " " (words::duration(ms)) } }
        }
        @if let Some(t) = taken { span.meta { " · 拍摄于 " (t) } }
        @else if let Some(t) = p.taken_at { span.meta { " · 手机记录 " (words::time(t)) } }
        @if let Some((lat, lon)) = place { span.meta { " · 北纬 " (format!("{lat:.5}")) ",东经 " (format!("{lon:.5}")) } }
    }
}

/// What a page says about a form that was refused: which form and why.
pub struct Problem {
    /// `review`, `followup`, `followup:<id>` or `conflict:<id>`.
    pub form: String,
    pub text: String,
}

impl Problem {
    pub fn of(form: impl Into<String>, e: &AppError) -> Problem {
        Problem {
            form: form.into(),
            text: words::error(e),
        }
    }

    fn at(p: Option<&Problem>, form: &str) -> Markup {
        html! {
            @if let Some(p) = p.filter(|p| p.form == form) {
                p.error role="alert" id={ "problem-" (form.split(':').next().unwrap_or(form)) } { (p.text) }
            }
        }
    }
}

pub struct DetailPage<'a> {
    pub detail: &'a Detail,
    pub timeline: &'a Timeline,
    pub site_name: &'a str,
    pub site: Option<(f64, f64, f64)>,
    pub inspector: &'a str,
    pub template: Option<&'a Template>,
    pub user: &'a WebUser,
    /// Display names of the people the page names (reviewers, follow-up
    /// history).
    pub names: &'a HashMap<String, String>,
    /// The departments a follow-up can be handed to: (id, name).
    pub departments: &'a [(String, String)],
    pub problem: Option<&'a Problem>,
    /// What the reviewer wrote in a refused form, shown again.
    pub comment: &'a str,
}

fn who<'a>(names: &'a HashMap<String, String>, id: &str) -> &'a str {
    names.get(id).map_or("(未知)", String::as_str)
}

/// The checks a reviewer needs, in words.
fn checks(i: &Inspection) -> Markup {
    html! {
        ul.checks {
            @match i.checks.distance_to_site_m {
                Some(dm) => li class=(if i.checks.within_site_radius == Some(true) { "ok" } else { "bad" }) {
                    "记录位置距点位 " (format!("{dm:.0}")) " 米,"
                    (if i.checks.within_site_radius == Some(true) { "在范围内" } else { "不在范围内" })
                },
                None => li { "记录没有位置" },
            }
            li class=(if i.checks.photos_off_site == 0 { "ok" } else { "bad" }) { "不在点位范围内拍摄的照片:" (i.checks.photos_off_site) }
            li class=(if i.checks.photos_outside_time_window == 0 { "ok" } else { "bad" }) { "不在巡查时段内拍摄的照片:" (i.checks.photos_outside_time_window) }
            @if i.checks.stop_removed { li.bad { "该站点在巡查后已从路线中移除" } }
            @if i.checks.route_cancelled { li.bad { "所属路线已取消" } }
            @if i.checks.template_outdated { li.bad { "按旧版检查清单(第 " (i.template_version.unwrap_or_default()) " 版)填写" } }
        }
    }
}

/// An answer as the page shows it: photos of a `photo` or `signature`
/// item as pictures, everything else in words.
fn answer_cell(item: &Item, path: &str, i: &Inspection) -> Markup {
    let v = i.fields.get(&format!("answers.{path}"));
    let note = i
        .fields
        .get(&format!("item_notes.{path}"))
        .and_then(Value::as_str);
    let mine: Vec<&Photo> = i
        .photos
        .iter()
        .filter(|p| !p.deleted && p.item_key.as_deref() == Some(path))
        .collect();
    html! {
        @if !matches!(item.kind, ItemKind::Photo | ItemKind::Signature) {
            (words::value(path, v))
        }
        @if let Some(n) = note.filter(|n| !n.trim().is_empty()) { div.note { "说明:" (n) } }
        @if !mine.is_empty() {
            div.photos.item-photos {
                @for p in mine {
                    @match &p.urls {
                        Some(u) => { a href=(text(u.get("display"))) target="_blank" { img.thumb src=(text(u.get("thumb"))) alt=(item.label) loading="lazy"; } }
                        None => { span.pending { "照片尚未上传" } }
                    }
                }
            }
        } @else if matches!(item.kind, ItemKind::Photo | ItemKind::Signature) && v.is_some_and(|v| !v.is_null()) {
            span.pending { "照片尚未上传" }
        }
    }
}

/// The checklist as the reviewer reads it: the score and what is missing,
/// the failed items first with their photos and notes, then every answer
/// by section (items hidden by their conditions left out), then the
/// standard fields.
fn answers(i: &Inspection, template: Option<&Template>) -> Markup {
    let items = template.map_or(&[][..], |t| t.items.as_slice());
    let compiled = checklist::Compiled::new(items);
    let linked: HashSet<String> = i
        .photos
        .iter()
        .filter(|p| !p.deleted)
        .filter_map(|p| p.item_key.clone())
        .collect();
    let (c, hidden) = compiled.judge(&i.fields, &linked);
    let rows = compiled.rows(&i.fields);
    let failed: HashSet<&str> = c.failed.iter().map(String::as_str).collect();
    let item_of = |path: &str| templates::item_at(items, path);
    let missing_words = |m: &str| match m.split_once('#') {
        Some((p, "photo")) => format!("{}(缺照片)", words::answer_label(p, template)),
        Some((p, _)) => format!("{}(缺说明)", words::answer_label(p, template)),
        None => words::answer_label(m, template),
    };
    html! {
        @if template.is_some() {
            ul.checks.summary {
                @if c.score.max > 0.0 { li { "得分 " (c.score.got) " / " (c.score.max) } }
                li class=(if c.failed.is_empty() { "ok" } else { "bad" }) { "不合格项:" (c.failed.len()) }
                @if c.missing_required.is_empty() {
                    li.ok { "必填项已全部完成" }
                } @else {
                    li.bad { "未完成的必填项:" (c.missing_required.iter().map(|m| missing_words(m)).collect::<Vec<_>>().join("、")) }
                }
            }
        }
        @if !c.failed.is_empty() {
            h3 { "不合格项" }
            table.answers.failed {
                @for path in &c.failed {
                    @if let Some(item) = item_of(path) {
                        tr.failed { th { (words::answer_label(path, template)) } td { (answer_cell(item, path, i)) } }
                    }
                }
            }
        }
        table.answers {
            @for item in items {
                @if !hidden.contains(&item.key) {
                    @match item.kind {
                        ItemKind::Section => { tr.section { th colspan="2" { (item.label) } } }
                        ItemKind::Repeat => {
                            @let list = rows.get(item.key.as_str()).cloned().unwrap_or_default();
                            tr.section { th colspan="2" { (item.label) "(" (list.len()) " 行)" } }
                            @for (n, row) in list.iter().enumerate() {
                                @for child in item.children() {
                                    @let path = format!("{}.{row}.{}", item.key, child.key);
                                    @if !hidden.contains(&path) && child.kind != ItemKind::Section {
                                        tr class=(if failed.contains(path.as_str()) { "failed" } else { "" }) {
                                            th { "第 " (n + 1) " 行 · " (child.label) }
                                            td { (answer_cell(child, &path, i)) }
                                        }
                                    }
                                }
                            }
                        }
                        _ => {
                            tr class=(if failed.contains(item.key.as_str()) { "failed" } else { "" }) {
                                th { (item.label) }
                                td { (answer_cell(item, &item.key, i)) }
                            }
                        }
                    }
                }
            }
            tr { th { "严重程度" } td { (words::value("severity", i.fields.get("severity"))) } }
            tr { th { "位置" } td { (words::value("location", i.fields.get("location"))) } }
            tr { th { "开始时间" } td { (words::value("started_at", i.fields.get("started_at"))) } }
            tr { th { "结束时间" } td { (words::value("finished_at", i.fields.get("finished_at"))) } }
            tr { th { "备注" } td { (words::value("notes", i.fields.get("notes"))) } }
        }
    }
}

/// The follow-ups the failed items propose, in the approval form: each
/// made on approval unless unticked, its title, department and due date
/// editable first.
fn proposals(d: &Detail) -> Markup {
    html! {
        @if !d.proposed_followups.is_empty() {
            fieldset.proposals {
                legend { "通过时将创建的整改跟踪" }
                @for (n, p) in d.proposed_followups.iter().enumerate() {
                    @let f = |k: &str| format!("fu[{n}].{k}");
                    div.proposal {
                        input type="hidden" name=(f("item_key")) value=(p.item_key);
                        label.check { input type="checkbox" name=(f("make")) value="1" checked; " 创建(不合格项:" (p.label) ")" }
                        label { "事项" input name=(f("title")) value=(p.title); }
                        label { "责任部门" input name=(f("department")) value=(p.department); }
                        label { "期限" input type="date" name=(f("due")) value=(words::date(p.due_at)); }
                    }
                }
            }
        }
    }
}

fn reviews(d: &Detail, names: &HashMap<String, String>) -> Markup {
    html! {
        ul.reviews {
            @for r in &d.reviews {
                li {
                    span.meta { (words::time(r.created_at)) " · " (who(names, &r.reviewer_id)) " · " }
                    strong { (words::decision(&r.decision)) }
                    @if !r.comment.is_empty() { ":" (r.comment) }
                }
            }
        }
    }
}

/// A step's kind in words (a record's relay, a site's file).
pub fn step_word(k: StepKind) -> &'static str {
    match k {
        StepKind::Inspection => "记录",
        StepKind::Captured => "现场发现",
        StepKind::Received => "上报",
        StepKind::Reviewed => "审核",
        StepKind::Dispatched => "交办",
        StepKind::Response => "部门回复",
        StepKind::Status => "进展",
        StepKind::Verified => "核实",
        StepKind::Notified => "通知",
    }
}

/// The relay as a list: each step's time, the time since the report, who
/// and for which department, what.
fn relay(t: &Timeline) -> Markup {
    let start = t.items.first().map(|s| s.at);
    html! {
        @if t.items.is_empty() { p.empty { "暂无" } }
        ol.relay {
            @for s in &t.items {
                li class={ "step " (serde_json::to_value(s.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) } {
                    span.when { (words::time(s.at)) }
                    @if let Some(t0) = start { " " span.elapsed { (elapsed(t0, s.at)) } }
                    " " strong { (step_word(s.kind)) }
                    @if let Some(b) = &s.by {
                        " · " (b.display_name)
                        @if let Some(dep) = &b.department { "（" (dep) "）" }
                    }
                    " · " (s.text)
                }
            }
        }
    }
}

pub fn detail(p: &DetailPage) -> Markup {
    let d = p.detail;
    let i = &d.inspection;
    let csrf = &p.user.csrf;
    html! {
        section.card {
            p { a href="/review" { "← 返回列表" } " · " a href={ "/review/inspections/" (i.id) "/print" } { "打印照片报告" } }
            h1 { (text(i.fields.get("title"))) }
            p.meta {
                @match &i.site_id {
                    Some(site) => { a href={ "/review/sites/" (site) } title="点位档案" { (p.site_name) } }
                    None => { (p.site_name) }
                }
                " · " (p.inspector) " · " (words::time(i.created_at))
                " · " span class={ "badge " (i.review_status.as_str()) } { (status_label(i.review_status.as_str())) }
            }
            h2 { "位置核验" }
            (checks(i))
            (position(d, p.site))
            h2 { "照片" }
            (photo_grid(&i.photos))
            h2 { "检查项" }
            (answers(i, p.template))
        }
        @if i.review_status.as_str() == "submitted" {
            section.card id="review" {
                h2 { "审核" }
                (Problem::at(p.problem, "review"))
                form method="post" action={ "/review/inspections/" (i.id) "/review" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="version" value=(d.inspection.version);
                    label { "意见(退回或驳回时必填)" textarea id="comment" name="comment" rows="3" { (p.comment) } }
                    (proposals(d))
                    div.buttons {
                        button id="approve" name="decision" value="approve" type="submit" { "通过" }
                        button.secondary id="return" name="decision" value="return" type="submit" { "退回补充" }
                        button.danger id="reject" name="decision" value="reject" type="submit" { "驳回" }
                    }
                }
            }
        }
        @if !d.reviews.is_empty() {
            section.card {
                h2 { "审核记录" }
                (reviews(d, p.names))
            }
        }
        @if d.conflicts.iter().any(|c| c.status == crate::inspection::conflicts::ConflictStatus::Open) {
            section.card {
                h2 { "冲突" }
                @for c in d.conflicts.iter().filter(|c| c.status == crate::inspection::conflicts::ConflictStatus::Open) {
                    div.conflict {
                        (Problem::at(p.problem, &format!("conflict:{}", c.id)))
                        p {
                            strong { (words::field(&c.field, p.template)) } ":保留 "
                            code { (words::value(&c.field, Some(&c.kept))) }
                            ",被覆盖 " code { (words::value(&c.field, Some(&c.discarded))) }
                        }
                        form.inline method="post" action={ "/review/conflicts/" (c.id) "/resolve" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button name="keep" value="kept" type="submit" { "保留当前值" }
                            button.secondary name="keep" value="discarded" type="submit" { "改用被覆盖的值" }
                        }
                    }
                }
            }
        }
        section.card id="relay" {
            h2 { "处置经过" }
            (relay(p.timeline))
        }
        section.card id="followups" {
            h2 { "整改跟踪" }
            @if d.followups.is_empty() { p.empty { "暂无" } }
            @for f in &d.followups {
                div.followup id={ "followup-" (f.id) } {
                    p {
                        strong { (f.title) } " · " (f.department) " · "
                        span.status { (words::followup_status(f.status)) }
                        @if let Some(due) = f.due_at { " · 期限 " (words::date(due)) }
                        (words::due_light(f))
                    }
                    ul.history {
                        @for h in &f.history {
                            li.meta { (words::time(h.at)) " · " (who(p.names, &h.by)) " · " (words::followup_status(h.status)) @if !h.note.is_empty() { ":" (h.note) } }
                        }
                    }
                    (Problem::at(p.problem, &format!("followup:{}", f.id)))
                    @if f.status != crate::review::followups::Status::Verified {
                        form.followup method="post" action={ "/review/followups/" (f.id) } {
                            input type="hidden" name="csrf" value=(csrf);
                            label { "状态"
                                select name="status" {
                                    @for st in words::FOLLOWUP_STATUSES {
                                        option value=(st.as_str()) selected[st == f.status] { (words::followup_status(st)) }
                                    }
                                }
                            }
                            label { "期限" input name="due" type="date" value=(f.due_at.map(words::date).unwrap_or_default()); }
                            label { "转交部门"
                                select name="department_id" {
                                    option value="" { "(不变)" }
                                    @for (id, name) in p.departments {
                                        @if f.department_id.as_deref() != Some(id.as_str()) { option value=(id) { (name) } }
                                    }
                                }
                            }
                            label { "说明" input name="note"; }
                            button type="submit" { "更新" }
                        }
                    }
                }
            }
            h3 { "新建整改事项" }
            (Problem::at(p.problem, "followup"))
            form method="post" action={ "/review/inspections/" (i.id) "/followups" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "事项" input name="title" required; }
                label { "责任部门"
                    select name="department_id" {
                        option value="" { "(选择部门,或在下面填写名称)" }
                        @for (id, name) in p.departments { option value=(id) { (name) } }
                    }
                }
                label { "其他部门名称" input name="department"; }
                label { "期限" input name="due" type="date"; }
                button type="submit" { "新建整改事项" }
            }
        }
    }
}

pub struct PrintPage<'a> {
    pub detail: &'a Detail,
    pub timeline: &'a Timeline,
    pub site_name: &'a str,
    pub inspector: &'a str,
    pub template: Option<&'a Template>,
    pub names: &'a HashMap<String, String>,
    /// When the report was printed.
    pub printed_at: chrono::DateTime<chrono::Utc>,
}

/// The printable report, complete enough to file: the record's facts, its
/// checklist with labels, the location check, its photos with when and
/// where each was taken, the reviews, the follow-ups and lines to sign;
/// every time in district time. A4 on paper, one column on a phone.
pub fn print(p: &PrintPage) -> Markup {
    let d = p.detail;
    let i = &d.inspection;
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "巡查照片报告 · " (text(i.fields.get("title"))) }
                link rel="stylesheet" href="/review/static/review.css";
            }
            body.print {
                h1 { "巡查照片报告" }
                table.answers {
                    tr { th { "事项" } td { (text(i.fields.get("title"))) } }
                    tr { th { "点位" } td { (p.site_name) } }
                    tr { th { "巡查人" } td { (p.inspector) } }
                    tr { th { "提交时间" } td { (words::time(i.created_at)) } }
                    tr { th { "审核状态" } td { (status_label(i.review_status.as_str())) } }
                }
                h2 { "位置核验" }
                (checks(i))
                h2 { "检查项" }
                (answers(i, p.template))
                h2 { "现场照片" }
                div.sheet {
                    @for ph in i.photos.iter().filter(|ph| !ph.deleted) {
                        figure.printed {
                            @if let Some(u) = &ph.urls {
                                @if ph.kind == PhotoKind::Video {
                                    @if ph.status == PhotoStatus::Ready {
                                        img src=(text(u.get("poster"))) alt=(ph.caption);
                                    } @else { div.pending { "视频(封面尚未生成)" } }
                                } @else {
                                    img src=(text(u.get("display"))) alt=(ph.caption);
                                }
                            }
                            figcaption { (ph.caption) (photo_facts(ph)) }
                        }
                    }
                }
                h2 { "审核意见" }
                @if d.reviews.is_empty() { p.empty { "暂无" } } @else { (reviews(d, p.names)) }
                h2 { "整改跟踪" }
                @if d.followups.is_empty() { p.empty { "暂无" } }
                @for f in &d.followups {
                    p {
                        strong { (f.title) } " · " (f.department) " · " (words::followup_status(f.status))
                        @if let Some(due) = f.due_at { " · 期限 " (words::date(due)) }
                        @if f.overdue { " · 已逾期" }
                    }
                }
                h2 { "处置经过" }
                (relay(p.timeline))
                div.signatures {
                    p { "巡查人签字:" span.line {} "日期:" span.line.short {} }
                    p { "审核人签字:" span.line {} "日期:" span.line.short {} }
                }
                p.meta { "打印时间 " (words::time(p.printed_at)) }
            }
        }
    }
}
