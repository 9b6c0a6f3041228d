//! What a photo's EXIF says: orientation, GPS position, capture time.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use exif::{Field, In, Reader, Tag, Value};
use std::io::Cursor;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    /// 1..=8; 1 when absent or unreadable.
    pub orientation: u8,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub taken_at: Option<DateTime<Utc>>,
}

/// Reads what it can; a photo without EXIF (or with broken EXIF) is simply
/// upright, nowhere and undated. `default_offset` dates a capture time that
/// carries no offset of its own (cameras record local time).
pub fn read(bytes: &[u8], default_offset: FixedOffset) -> Info {
    let Ok(exif) = Reader::new().read_from_container(&mut Cursor::new(bytes)) else {
        return Info {
            orientation: 1,
            ..Info::default()
        };
    };
    let field = |t: Tag| exif.get_field(t, In::PRIMARY);
    let orientation = field(Tag::Orientation)
        .and_then(orientation_of)
        .unwrap_or(1);
    let lat = coordinate(field(Tag::GPSLatitude), field(Tag::GPSLatitudeRef), b'S');
    let lon = coordinate(field(Tag::GPSLongitude), field(Tag::GPSLongitudeRef), b'W');
    let offset = field(Tag::OffsetTimeOriginal)
        .and_then(ascii)
        .and_then(|s| {
            DateTime::parse_from_str(&format!("2000-01-01T00:00:00{s}"), "%Y-%m-%dT%H:%M:%S%:z")
                .ok()
                .map(|d| *d.offset())
        });
    let taken_at = field(Tag::DateTimeOriginal)
        .or_else(|| field(Tag::DateTime))
        .and_then(ascii)
        .and_then(|s| NaiveDateTime::parse_from_str(s.trim(), "%Y:%m:%d %H:%M:%S").ok())
        .and_then(|naive| {
            offset
                .unwrap_or(default_offset)
                .from_local_datetime(&naive)
                .single()
        })
        .map(|t| t.with_timezone(&Utc));
    Info {
        orientation,
        lat: lat.filter(|v| (-90.0..=90.0).contains(v)),
        lon: lon.filter(|v| (-180.0..=180.0).contains(v)),
        taken_at,
    }
}

/// The orientation, whatever type the camera stored it in: the standard
/// says SHORT, but LONG, BYTE, signed types and even ASCII digits occur.
fn orientation_of(f: &Field) -> Option<u8> {
    let n: i64 = match &f.value {
        Value::Short(v) => i64::from(*v.first()?),
        Value::Long(v) => i64::from(*v.first()?),
        Value::Byte(v) => i64::from(*v.first()?),
        Value::SShort(v) => i64::from(*v.first()?),
        Value::SLong(v) => i64::from(*v.first()?),
        Value::SByte(v) => i64::from(*v.first()?),
        Value::Undefined(v, _) => i64::from(*v.first()?),
        Value::Ascii(v) => std::str::from_utf8(v.first()?).ok()?.trim().parse().ok()?,
        _ => return None,
    };
    (1..=8).contains(&n).then_some(n as u8)
}

fn ascii(f: &Field) -> Option<&str> {
    match &f.value {
        Value::Ascii(v) => std::str::from_utf8(v.first()?).ok(),
        _ => None,
    }
}

fn coordinate(value: Option<&Field>, reference: Option<&Field>, negative: u8) -> Option<f64> {
    let parts: Vec<f64> = match &value?.value {
        Value::Rational(v) => v.iter().map(|r| r.to_f64()).collect(),
        Value::SRational(v) => v.iter().map(|r| r.to_f64()).collect(),
        _ => return None,
    };
    let deg = parts.first()?
        + parts.get(1).unwrap_or(&0.0) / 60.0
        + parts.get(2).unwrap_or(&0.0) / 3600.0;
    if !deg.is_finite() {
        return None;
    }
    let sign = match reference.and_then(ascii).and_then(|s| s.bytes().next()) {
        Some(b) if b.eq_ignore_ascii_case(&negative) => -1.0,
        _ => 1.0,
    };
    Some(sign * deg)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::photos::fixture;

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    #[test]
    fn phone_photo_has_gps_and_time() {
        let info = read(&fixture("xiaomi_IMG_20191224_234846.jpg"), cst());
        assert_eq!(info.orientation, 1);
        assert!((info.lat.unwrap() - -15.8356).abs() < 0.001, "{info:?}");
        assert!((info.lon.unwrap() - -48.0155).abs() < 0.001, "{info:?}");
        assert!(info.taken_at.is_some());
    }

    #[test]
    fn orientations_are_read() {
        for (name, o) in [
            ("synthetic_orientation_3.jpg", 3),
            ("synthetic_orientation_6.jpg", 6),
            ("synthetic_orientation_8.jpg", 8),
        ] {
            assert_eq!(read(&fixture(name), cst()).orientation, o, "{name}");
        }
    }

    #[test]
    fn no_exif_is_upright_and_nowhere() {
        let info = read(&fixture("d-debian.png"), cst());
        assert_eq!(
            info,
            Info {
                orientation: 1,
                ..Info::default()
            }
        );
        assert_eq!(read(b"garbage", cst()).orientation, 1);
    }
}
