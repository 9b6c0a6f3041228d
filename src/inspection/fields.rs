//! What an inspection's field map may hold: the known paths and the type
//! of each value. Pure functions over values.

use crate::reference::templates::{Item, ItemKind};
use chrono::DateTime;
use serde_json::{Map, Value};

pub const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];
pub const STATUSES: [&str; 2] = ["draft", "submitted"];
pub const ANSWER_PREFIX: &str = "answers.";

/// Why a field's value is refused.
pub type Reason = String;

fn text(v: &Value, max: usize) -> Result<(), Reason> {
    match v {
        Value::String(s) if s.chars().count() <= max => Ok(()),
        Value::String(_) => Err(format!("must be at most {max} characters")),
        _ => Err("must be a string".into()),
    }
}

fn one_of(v: &Value, allowed: &[&str]) -> Result<(), Reason> {
    match v.as_str() {
        Some(s) if allowed.contains(&s) => Ok(()),
        _ => Err(format!("must be one of {}", allowed.join(", "))),
    }
}

fn time(v: &Value) -> Result<(), Reason> {
    match v.as_str().map(DateTime::parse_from_rfc3339) {
        Some(Ok(_)) => Ok(()),
        _ => Err("must be an RFC 3339 time".into()),
    }
}

fn number(v: &Value) -> Result<f64, Reason> {
    v.as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| "must be a number".into())
}

/// `{lat, lon, accuracy_m, altitude_m?, captured_at}`.
pub fn location(v: &Value) -> Result<(), Reason> {
    let Some(obj) = v.as_object() else {
        return Err("must be an object {lat, lon, accuracy_m, altitude_m?, captured_at}".into());
    };
    check_location_object(obj, true)
}

/// A location as a photo carries it: `{lat, lon, accuracy_m?}` and
/// nothing required beyond the position.
pub fn check_location_object(obj: &Map<String, Value>, full: bool) -> Result<(), Reason> {
    for k in obj.keys() {
        if !["lat", "lon", "accuracy_m", "altitude_m", "captured_at"].contains(&k.as_str()) {
            return Err(format!("unknown key `{k}`"));
        }
    }
    let lat = obj
        .get("lat")
        .map(number)
        .transpose()?
        .ok_or("lat is required")?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err("lat must be between -90 and 90".into());
    }
    let lon = obj
        .get("lon")
        .map(number)
        .transpose()?
        .ok_or("lon is required")?;
    if !(-180.0..=180.0).contains(&lon) {
        return Err("lon must be between -180 and 180".into());
    }
    match obj.get("accuracy_m").map(number).transpose()? {
        Some(a) if a < 0.0 => return Err("accuracy_m must be at least 0".into()),
        None if full => return Err("accuracy_m is required".into()),
        _ => {}
    }
    if let Some(a) = obj.get("altitude_m")
        && !a.is_null()
    {
        number(a)?;
    }
    match obj.get("captured_at") {
        Some(t) => time(t).map_err(|e| format!("captured_at {e}"))?,
        None if full => return Err("captured_at is required".into()),
        None => {}
    }
    Ok(())
}

/// A photo id as an answer names it: a UUID in lower case.
fn photo_id(v: &Value) -> Result<(), Reason> {
    match v.as_str().map(uuid::Uuid::parse_str) {
        Some(Ok(u)) if v.as_str() == Some(u.to_string().as_str()) => Ok(()),
        _ => Err("must be a photo id (a UUID in lower case)".into()),
    }
}

fn answer(item: &Item, v: &Value) -> Result<(), Reason> {
    match item.kind {
        ItemKind::YesNo => v
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| "must be true or false".into()),
        ItemKind::Text => text(v, 10_000),
        ItemKind::Choice => {
            let opts: Vec<&str> = item.options.iter().flatten().map(String::as_str).collect();
            one_of(v, &opts)
        }
        ItemKind::MultiChoice => {
            let opts: Vec<&str> = item.options.iter().flatten().map(String::as_str).collect();
            let Some(list) = v.as_array() else {
                return Err("must be a list of options".into());
            };
            for (i, o) in list.iter().enumerate() {
                one_of(o, &opts)?;
                if list[..i].contains(o) {
                    return Err("names an option twice".into());
                }
            }
            Ok(())
        }
        ItemKind::Date => match v.as_str() {
            Some(s)
                if s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() =>
            {
                Ok(())
            }
            _ => Err("must be a date YYYY-MM-DD".into()),
        },
        ItemKind::Photo => {
            let Some(list) = v.as_array() else {
                return Err("must be a list of photo ids".into());
            };
            if list.len() > MAX_PHOTOS_PER_ITEM {
                return Err(format!("must be at most {MAX_PHOTOS_PER_ITEM} photos"));
            }
            list.iter().try_for_each(photo_id)
        }
        ItemKind::Signature => photo_id(v),
        ItemKind::Number | ItemKind::Score => {
            let n = number(v)?;
            match (item.min, item.max) {
                (Some(lo), _) if n < lo => Err(format!("must be at least {lo}")),
                (_, Some(hi)) if n > hi => Err(format!("must be at most {hi}")),
                _ => Ok(()),
            }
        }
        ItemKind::Section | ItemKind::Repeat => Err("takes no answer of its own".into()),
    }
}

/// The most photos one `photo` item's answer may list.
pub const MAX_PHOTOS_PER_ITEM: usize = 50;
/// The longest note of one item.
pub const MAX_ITEM_NOTE: usize = 2_000;
/// The prefix of an item's own note: `item_notes.<answer path>`.
pub const NOTE_PREFIX: &str = "item_notes.";

/// A row id as a phone makes it: 1-64 of lower-case letters, digits and
/// `-` (a UUID). Upper case is refused, not folded: two spellings of one
/// row would be two rows.
fn valid_row(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 64
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `p` can be an item's answer path (after `answers.`): `key` or
/// `repeat.row.key`. Which item it names is the checklist's business.
pub fn is_answer_path(p: &str) -> bool {
    let key = crate::reference::templates::valid_key;
    match p.split('.').collect::<Vec<_>>().as_slice() {
        [k] => key(k),
        [r, w, k] => key(r) && valid_row(w) && key(k),
        _ => false,
    }
}

/// What an answer path (after `answers.`) names.
pub enum AnswerPath<'a> {
    /// A top-level item.
    Item(&'a Item),
    /// An item of a repeat's row.
    RowItem(&'a Item),
    /// A row's `_seq` (its order) or `_deleted` (its removal).
    RowSeq,
    RowDeleted,
}

/// Finds what `path` names in a checklist version.
pub fn answer_path<'a>(path: &str, items: &'a [Item]) -> Result<AnswerPath<'a>, Reason> {
    let mut parts = path.splitn(3, '.');
    let key = parts.next().unwrap_or_default();
    let item = items
        .iter()
        .find(|i| i.key == key)
        .ok_or_else(|| format!("`{key}` is not an item of this checklist version"))?;
    match (item.kind, parts.next(), parts.next()) {
        (ItemKind::Repeat, Some(row), Some(field)) => {
            if !valid_row(row) {
                return Err("a row id must be 1-64 of a-z, 0-9 and - (lower case)".into());
            }
            match field {
                "_seq" => Ok(AnswerPath::RowSeq),
                "_deleted" => Ok(AnswerPath::RowDeleted),
                f => item
                    .children()
                    .iter()
                    .find(|c| c.key == f)
                    .map(AnswerPath::RowItem)
                    .ok_or_else(|| format!("`{f}` is not an item of the repeat `{key}`")),
            }
        }
        (ItemKind::Repeat, _, _) => Err(format!(
            "`{key}` is a repeat: answer its rows as answers.{key}.<row id>.<item>"
        )),
        (ItemKind::Section, _, _) => Err(format!("`{key}` is a section and takes no answer")),
        (_, None, _) => Ok(AnswerPath::Item(item)),
        (_, Some(_), _) => Err(format!("`{key}` is not a repeat")),
    }
}

fn answer_at(path: &str, value: &Value, items: &[Item]) -> Result<(), Reason> {
    let target = answer_path(path, items)?;
    if value.is_null() {
        return Ok(());
    }
    match target {
        AnswerPath::Item(item) | AnswerPath::RowItem(item) => answer(item, value),
        AnswerPath::RowSeq => number(value).map(|_| ()),
        AnswerPath::RowDeleted => value
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| "must be true or false".into()),
    }
}

/// Checks one pushed field against the checklist the inspection follows.
/// `null` clears a field (except `status`).
/// A quick report's urgency (`fields.urgency`).
pub const URGENCIES: [&str; 2] = ["normal", "urgent"];

/// Fields only a quick report has.
pub const REPORT_ONLY: [&str; 2] = ["category", "urgency"];

/// What a quick report must hold (after a merge, unless deleted): a title,
/// and once submitted a position (a draft saved before the phone's first
/// fix may wait for it). A refusal names the field.
pub fn check_report(fields: &super::merge::Fields) -> Result<(), (&'static str, String)> {
    let title = fields.get("title").and_then(Value::as_str).unwrap_or("");
    if title.trim().is_empty() {
        return Err(("title", "a quick report needs a title".into()));
    }
    let submitted = fields.get("status").and_then(Value::as_str) == Some("submitted");
    if submitted && super::position(fields.get("location")).is_none() {
        return Err((
            "location",
            "a quick report needs its position (fields.location)".into(),
        ));
    }
    Ok(())
}

pub fn check(path: &str, value: &Value, items: &[Item]) -> Result<(), Reason> {
    if let Some(rest) = path.strip_prefix(ANSWER_PREFIX) {
        return answer_at(rest, value, items);
    }
    if let Some(rest) = path.strip_prefix(NOTE_PREFIX) {
        return match answer_path(rest, items)? {
            AnswerPath::Item(_) | AnswerPath::RowItem(_) if value.is_null() => Ok(()),
            AnswerPath::Item(_) | AnswerPath::RowItem(_) => text(value, MAX_ITEM_NOTE),
            _ => Err("a note belongs to an item".into()),
        };
    }
    if value.is_null() {
        return match path {
            "status" => Err("must be draft or submitted".into()),
            "title" | "notes" | "severity" | "started_at" | "finished_at" | "location"
            | "rectified" | "category" | "urgency" => Ok(()),
            _ => Err("unknown field".into()),
        };
    }
    match path {
        "title" => text(value, 200),
        "notes" => text(value, 20_000),
        "severity" => one_of(value, &SEVERITIES),
        "category" => one_of(value, &super::CATEGORIES),
        "urgency" => one_of(value, &URGENCIES),
        "status" => one_of(value, &STATUSES),
        "started_at" | "finished_at" => time(value),
        "location" => location(value),
        // At a re-verification stop: was the finding fixed?
        "rectified" => value
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| "must be true or false".into()),
        _ => Err("unknown field".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items() -> Vec<Item> {
        serde_json::from_value(json!([
            {"key": "flowing", "label": "x", "kind": "yes_no"},
            {"key": "score", "label": "x", "kind": "score", "min": 0.0, "max": 10.0},
            {"key": "color", "label": "x", "kind": "choice", "options": ["清澈", "发黑"]},
            {"key": "count", "label": "x", "kind": "number"},
        ]))
        .unwrap()
    }

    #[test]
    fn known_fields_and_types() {
        let it = items();
        assert!(check("title", &json!("桃花河排口"), &it).is_ok());
        assert!(check("title", &json!(5), &it).is_err());
        assert!(check("severity", &json!("high"), &it).is_ok());
        assert!(check("severity", &json!("urgent"), &it).is_err());
        assert!(check("status", &json!(null), &it).is_err());
        assert!(check("notes", &json!(null), &it).is_ok());
        assert!(check("started_at", &json!("2026-11-20T02:13:00Z"), &it).is_ok());
        assert!(check("started_at", &json!("yesterday"), &it).is_err());
        assert!(check("colour", &json!("x"), &it).is_err());
    }

    #[test]
    fn answers_follow_the_checklist() {
        let it = items();
        assert!(check("answers.flowing", &json!(true), &it).is_ok());
        assert!(check("answers.flowing", &json!("yes"), &it).is_err());
        assert!(check("answers.score", &json!(7), &it).is_ok());
        assert!(check("answers.score", &json!(11), &it).is_err());
        assert!(check("answers.color", &json!("发黑"), &it).is_ok());
        assert!(check("answers.color", &json!("红"), &it).is_err());
        assert!(check("answers.count", &json!(-3.5), &it).is_ok());
        assert!(check("answers.nope", &json!(1), &it).is_err());
    }

    #[test]
    fn locations() {
        let it = items();
        let ok = json!({"lat": 29.857, "lon": 107.081, "accuracy_m": 6, "captured_at": "2026-11-20T02:14:09Z"});
        assert!(check("location", &ok, &it).is_ok());
        for bad in [
            json!({"lat": 91, "lon": 107.0, "accuracy_m": 6, "captured_at": "2026-11-20T02:14:09Z"}),
            json!({"lat": 29, "lon": 181, "accuracy_m": 6, "captured_at": "2026-11-20T02:14:09Z"}),
            json!({"lat": 29, "lon": 107, "accuracy_m": -1, "captured_at": "2026-11-20T02:14:09Z"}),
            json!({"lat": 29, "lon": 107, "accuracy_m": 1}),
            json!({"lat": 29, "lon": 107, "accuracy_m": 1, "captured_at": "2026-11-20T02:14:09Z", "x": 1}),
            json!([29, 107]),
        ] {
            assert!(check("location", &bad, &it).is_err(), "{bad}");
        }
    }
}
