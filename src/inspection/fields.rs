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
        ItemKind::Number | ItemKind::Score => {
            let n = number(v)?;
            match (item.min, item.max) {
                (Some(lo), _) if n < lo => Err(format!("must be at least {lo}")),
                (_, Some(hi)) if n > hi => Err(format!("must be at most {hi}")),
                _ => Ok(()),
            }
        }
    }
}

/// Checks one pushed field against the checklist the inspection follows.
/// `null` clears a field (except `status`).
pub fn check(path: &str, value: &Value, items: &[Item]) -> Result<(), Reason> {
    if let Some(key) = path.strip_prefix(ANSWER_PREFIX) {
        let item = items
            .iter()
            .find(|i| i.key == key)
            .ok_or_else(|| format!("`{key}` is not an item of this checklist version"))?;
        return if value.is_null() {
            Ok(())
        } else {
            answer(item, value)
        };
    }
    if value.is_null() {
        return match path {
            "status" => Err("must be draft or submitted".into()),
            "title" | "notes" | "severity" | "started_at" | "finished_at" | "location"
            | "rectified" => Ok(()),
            _ => Err("unknown field".into()),
        };
    }
    match path {
        "title" => text(value, 200),
        "notes" => text(value, 20_000),
        "severity" => one_of(value, &SEVERITIES),
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
