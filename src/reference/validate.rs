//! Small checks shared by the reference-data inputs.

use crate::error::{AppError, AppResult};
use serde::{Deserialize, Deserializer};

/// A trimmed, non-empty, single-line text of at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    optional_text(field, v, max)
}

/// Like `text`, but may be empty; may span lines.
pub fn optional_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|ch| ch.is_control() && ch != '\n' && ch != '\t')
    {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

pub fn latitude(field: &str, v: f64) -> AppResult<f64> {
    if v.is_finite() && (-90.0..=90.0).contains(&v) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            field,
            "must be a latitude between -90 and 90",
        ))
    }
}

pub fn longitude(field: &str, v: f64) -> AppResult<f64> {
    if v.is_finite() && (-180.0..=180.0).contains(&v) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            field,
            "must be a longitude between -180 and 180",
        ))
    }
}

/// Distinguishes a field left out (`None`) from one set to null
/// (`Some(None)`) in PATCH bodies. Use with `#[serde(default)]`.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_and_bounds() {
        assert_eq!(text("name", "  桃花河  ", 10).unwrap(), "桃花河");
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "一二三四五六七八九十一", 10).is_err());
        assert!(text("name", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn coordinates_in_range() {
        assert!(latitude("lat", 29.85).is_ok());
        assert!(latitude("lat", 90.5).is_err());
        assert!(latitude("lat", f64::NAN).is_err());
        assert!(longitude("lon", -180.0).is_ok());
        assert!(longitude("lon", 180.1).is_err());
    }
}
