//! What the web pages say to a person: every state, kind and error in
//! Chinese, every time in the district's time zone. The one home of these
//! words for `/review` and `/admin` (the field app has its own, in
//! JavaScript); the API keeps its stable codes and English messages.

use crate::clock;
use crate::error::{AppError, ErrorCode};
use crate::reference::templates::Template;
use crate::review::followups::Status;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A time as a person in the district reads it: `2026-11-20 10:14`.
pub fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&clock::district_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A video's length as a player shows it: `0:07`, `12:30`, `1:02:03`.
pub fn duration(ms: i64) -> String {
    let s = (ms.max(0) + 500) / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A day in the district: `2026-11-20`.
pub fn date(t: DateTime<Utc>) -> String {
    t.with_timezone(&clock::district_offset())
        .format("%Y-%m-%d")
        .to_string()
}

/// The district's time zone in words: 北京时间 at +08:00, else its offset.
pub fn zone() -> String {
    let off = clock::district_offset();
    if off.local_minus_utc() == 8 * 3600 {
        "北京时间".into()
    } else {
        format!("UTC{off}")
    }
}

/// How long something took, as a person says it: `45 分钟`, `3.5 小时`,
/// `2.1 天`.
pub fn span(secs: i64) -> String {
    let s = secs.max(0) as f64;
    if s < 3600.0 {
        format!("{} 分钟", (s / 60.0).round() as i64)
    } else if s < 48.0 * 3600.0 {
        format!("{:.1} 小时", s / 3600.0)
    } else {
        format!("{:.1} 天", s / 86400.0)
    }
}

/// An RFC 3339 time as the API or a phone wrote it, in district time; any
/// other text as it is.
pub fn time_text(s: &str) -> String {
    DateTime::parse_from_rfc3339(s).map_or_else(|_| s.to_string(), |t| time(t.to_utc()))
}

pub fn review_status(s: &str) -> &'static str {
    match s {
        "pending" => "未提交",
        "submitted" => "待审核",
        "approved" => "已通过",
        "returned" => "已退回",
        "rejected" => "已驳回",
        _ => "未知状态",
    }
}

pub fn decision(s: &str) -> &'static str {
    match s {
        "approve" => "通过",
        "return" => "退回补充",
        "reject" => "驳回",
        _ => "审核",
    }
}

pub fn followup_status(s: Status) -> &'static str {
    match s {
        Status::Open => "待整改",
        Status::InProgress => "整改中",
        Status::Resolved => "已整改",
        Status::Verified => "已核实",
    }
}

pub const FOLLOWUP_STATUSES: [Status; 4] = [
    Status::Open,
    Status::InProgress,
    Status::Resolved,
    Status::Verified,
];

pub fn severity(s: &str) -> &'static str {
    match s {
        "low" => "低",
        "medium" => "中",
        "high" => "高",
        "critical" => "严重",
        _ => "",
    }
}

/// A field path of a record as a person knows it: a checklist item's
/// label, or the name of a standard field.
pub fn field(path: &str, template: Option<&Template>) -> String {
    if let Some(rest) = path.strip_prefix("item_notes.") {
        return format!("{}的说明", answer_label(rest, template));
    }
    if let Some(rest) = path.strip_prefix("answers.") {
        return answer_label(rest, template);
    }
    match path {
        "title" => "事项",
        "notes" => "备注",
        "severity" => "严重程度",
        "status" => "状态",
        "location" => "位置",
        "started_at" => "开始时间",
        "finished_at" => "结束时间",
        "deleted" => "删除",
        _ => "字段",
    }
    .to_string()
}

/// An answer path's item as a person names it: its label, after its
/// repeat's (`排水管 · 管径`); a row's order field is the row.
pub fn answer_label(path: &str, template: Option<&Template>) -> String {
    let items = template.map_or(&[][..], |t| t.items.as_slice());
    let label =
        |key: &str| crate::reference::templates::item_at(items, key).map(|i| i.label.clone());
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        [key] => label(key).unwrap_or_else(|| "检查项".into()),
        [repeat, _, key] => {
            let r = label(repeat).unwrap_or_else(|| "重复组".into());
            match *key {
                "_seq" => format!("{r} · 行的顺序"),
                "_deleted" => format!("{r} · 删除行"),
                k => format!("{r} · {}", label(k).unwrap_or_else(|| "检查项".into())),
            }
        }
        _ => "检查项".into(),
    }
}

/// A value of a record as the page shows it: yes/no, severities and times
/// in words, a position as coordinates.
pub fn value(path: &str, v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) if path == "severity" => severity(s).to_string(),
        Some(Value::String(s)) if path == "status" => match s.as_str() {
            "submitted" => "已提交".into(),
            "draft" => "草稿".into(),
            other => other.to_string(),
        },
        Some(Value::String(s)) if path.ends_with("_at") => time_text(s),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "是".into(),
        Some(Value::Bool(false)) => "否".into(),
        Some(Value::Null) | None => String::new(),
        Some(Value::Object(o)) if o.contains_key("lat") => {
            let n = |k: &str| o.get(k).and_then(Value::as_f64);
            match (n("lat"), n("lon")) {
                (Some(lat), Some(lon)) => match n("accuracy_m") {
                    Some(a) => format!("北纬 {lat:.5},东经 {lon:.5}(精度 {a:.0} 米)"),
                    None => format!("北纬 {lat:.5},东经 {lon:.5}"),
                },
                _ => String::new(),
            }
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| value("", Some(x)))
            .collect::<Vec<_>>()
            .join("、"),
        Some(v) => v.to_string(),
    }
}

/// A form field's name as the page labels it.
pub fn form_field(f: &str) -> &'static str {
    match f {
        "comment" => "意见",
        "decision" => "审核结论",
        "version" => "记录版本",
        "title" => "事项",
        "department" => "责任部门",
        "due" | "due_at" => "期限",
        "note" => "说明",
        "status" => "状态",
        "keep" => "保留哪一个",
        _ => "内容",
    }
}

/// An error as a person reads it: by its code, with the field it is about.
/// The API's English message never reaches the page.
pub fn error(e: &AppError) -> String {
    let (field, reason) = e.field_and_reason();
    match e.code {
        ErrorCode::ValidationFailed => {
            let what = field.map_or("内容", form_field);
            if reason.contains("say what") || reason.contains("must not be empty") {
                format!("请填写{what}")
            } else if reason.contains("must be a date") {
                format!("{what}须是日期")
            } else if reason.contains("at most") {
                format!("{what}太长")
            } else {
                format!("{what}不符合要求")
            }
        }
        // A form whose token is stale (the session was renewed, the page
        // was open for long) is refused as forbidden too.
        ErrorCode::Forbidden if e.message.contains("stale or forged") => {
            "页面已过期,请刷新页面后重试".into()
        }
        code => code.zh().into(),
    }
}

/// A follow-up's due light, as every list shows it: red past due, yellow
/// due within a day, nothing otherwise (or once resolved).
pub fn due_light(f: &crate::review::followups::Followup) -> maud::Markup {
    use crate::review::followups::Status;
    let open = matches!(f.status, Status::Open | Status::InProgress);
    let soon = f
        .due_at
        .is_some_and(|d| d - chrono::Utc::now() < chrono::Duration::hours(24));
    maud::html! {
        @if open && f.overdue {
            span.light.red title="已逾期" { " ● 已逾期" }
        } @else if open && soon {
            span.light.yellow title="一天内到期" { " ● 一天内到期" }
        }
    }
}

/// A quick report's category in words.
pub fn category(s: &str) -> &'static str {
    match s {
        "water" => "水环境",
        "air" => "大气",
        "waste" => "垃圾固废",
        "fire" => "森林防火",
        "road" => "道路交通",
        "safety" => "安全隐患",
        "livelihood" => "民生",
        _ => "其他",
    }
}

/// Where a quick report stands in a list in place of a site: "随手拍",
/// its category, and whether it is urgent.
pub fn report_place(i: &crate::inspection::Inspection) -> String {
    let cat = i
        .fields
        .get("category")
        .and_then(Value::as_str)
        .map(category);
    let urgent = i.fields.get("urgency").and_then(Value::as_str) == Some("urgent");
    let mut out = String::from("随手拍");
    if let Some(c) = cat {
        out.push_str(" · ");
        out.push_str(c);
    }
    if urgent {
        out.push_str(" · 紧急");
    }
    out
}
