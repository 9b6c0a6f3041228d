//! A photo's metadata as a mergeable record: `caption`, `taken_at` and
//! `location` are its fields and `deleted` its tombstone, merged by the
//! same rule as an inspection's fields. Its inspection, bytes and type
//! never change.

use super::merge::{Fields, Meta, Record};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::photos;
use crate::error::AppResult;
use diesel::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = photos)]
pub struct Stored {
    pub id: String,
    pub inspection_id: String,
    pub sha256: String,
    pub caption: String,
    pub taken_at: Option<chrono::NaiveDateTime>,
    pub location: Option<String>,
    pub deleted: bool,
    pub version: i64,
    pub field_meta: String,
    pub item_key: Option<String>,
    /// Evidence of a department's response: not the record's to edit.
    pub response_id: Option<String>,
}

impl Stored {
    pub fn record(&self) -> AppResult<Record> {
        let mut fields = Fields::new();
        fields.insert("caption".into(), json!(self.caption));
        fields.insert(
            "taken_at".into(),
            self.taken_at.map_or(Value::Null, |t| json!(clock::utc(t))),
        );
        let location = match &self.location {
            Some(s) => serde_json::from_str(s)?,
            None => Value::Null,
        };
        fields.insert("location".into(), location);
        fields.insert("item_key".into(), json!(self.item_key));
        Ok(Record {
            version: self.version,
            deleted: self.deleted,
            fields,
            meta: serde_json::from_str::<BTreeMap<String, Meta>>(&self.field_meta)?,
        })
    }
}

pub fn find(c: &mut Conn, id: &str) -> AppResult<Option<Stored>> {
    Ok(photos::table
        .find(id)
        .select(Stored::as_select())
        .first(c)
        .optional()?)
}

/// What serving a photo's bytes needs to know of it.
pub struct Servable {
    pub sha: String,
    pub status: crate::photos::PhotoStatus,
    pub kind: crate::photos::PhotoKind,
    /// Retention dropped the original (`display` stays).
    pub original_dropped: bool,
}

/// A photo's sha256 and where its bytes stand, for serving them: `None`
/// when there is no such photo, it or its record is deleted, or `who`
/// does not see its record (`None`: a signed URL, checked already).
pub fn servable(
    c: &mut Conn,
    who: Option<&crate::auth::Caller>,
    id: &str,
) -> AppResult<Option<Servable>> {
    use crate::db::schema::inspections;
    type Found = (
        String,
        String,
        bool,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<chrono::NaiveDateTime>,
    );
    let row: Option<Found> = photos::table
        .inner_join(inspections::table)
        .filter(photos::id.eq(id))
        .select((
            photos::sha256,
            photos::status,
            photos::deleted.or(inspections::deleted),
            inspections::group_id,
            inspections::inspector_id,
            inspections::id,
            photos::response_id,
            photos::kind,
            photos::original_dropped_at,
        ))
        .first(c)
        .optional()?;
    let Some((sha, status, deleted, group, owner, record, response, kind, dropped)) = row else {
        return Ok(None);
    };
    if deleted {
        return Ok(None);
    }
    if let Some(w) = who
        && !w.sees_record(&group, &owner)
        && !w.department_sees_photo(c, &record, response.as_deref())?
    {
        return Ok(None);
    }
    Ok(Some(Servable {
        sha,
        status: crate::photos::PhotoStatus::parse(&status)?,
        kind: crate::photos::PhotoKind::parse(&kind)?,
        original_dropped: dropped.is_some(),
    }))
}

/// Where a photo's bytes stand.
pub fn status(c: &mut Conn, id: &str) -> AppResult<crate::photos::PhotoStatus> {
    let s: String = photos::table.find(id).select(photos::status).first(c)?;
    crate::photos::PhotoStatus::parse(&s)
}

/// What a new photo is, besides its metadata.
pub struct New<'a> {
    pub inspection_id: &'a str,
    pub sha256: &'a str,
    pub bytes: i64,
    pub content_type: &'a str,
    pub kind: crate::photos::PhotoKind,
}

/// Writes a photo's metadata record: inserts the photo when `new` says
/// what it is, else updates the stored one.
pub fn save(c: &mut Conn, id: &str, new: Option<&New<'_>>, rec: &Record) -> AppResult<()> {
    let now = clock::now();
    let caption = rec
        .fields
        .get("caption")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let taken_at = rec
        .fields
        .get("taken_at")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.naive_utc());
    let location = match rec.fields.get("location") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.to_string()),
    };
    let item_key = rec.fields.get("item_key").and_then(Value::as_str);
    let meta = serde_json::to_string(&rec.meta)?;
    match new {
        None => {
            diesel::update(photos::table.find(id))
                .set((
                    photos::caption.eq(caption),
                    photos::taken_at.eq(taken_at),
                    photos::location.eq(location),
                    photos::item_key.eq(item_key),
                    photos::deleted.eq(rec.deleted),
                    photos::version.eq(rec.version),
                    photos::field_meta.eq(meta),
                    photos::updated_at.eq(now),
                ))
                .execute(c)?;
        }
        Some(new) => {
            diesel::insert_into(photos::table)
                .values((
                    photos::id.eq(id),
                    photos::inspection_id.eq(new.inspection_id),
                    photos::sha256.eq(new.sha256),
                    photos::bytes.eq(new.bytes),
                    photos::content_type.eq(new.content_type),
                    photos::caption.eq(caption),
                    photos::taken_at.eq(taken_at),
                    photos::location.eq(location),
                    photos::item_key.eq(item_key),
                    photos::kind.eq(new.kind.as_str()),
                    photos::deleted.eq(rec.deleted),
                    photos::status.eq(super::PhotoStatus::Missing.as_str()),
                    photos::version.eq(rec.version),
                    photos::field_meta.eq(meta),
                    photos::created_at.eq(now),
                    photos::updated_at.eq(now),
                ))
                .execute(c)?;
        }
    }
    Ok(())
}

/// The image types a photo may be.
pub const PHOTO_TYPES: [&str; 6] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
];

/// A new photo's description, checked.
pub struct Described {
    pub sha256: String,
    pub content_type: String,
    pub caption: String,
    /// `null` or a checked position object.
    pub location: Value,
}

/// The rule for what a phone says a photo is (a pushed photo's and a
/// response's evidence alike): a sha256, a size within its kind's limit,
/// an image or video type, a caption of at most 500 characters, a position object. A
/// refusal names its field.
pub fn check_description(
    sha256: &str,
    bytes: i64,
    content_type: &str,
    caption: &str,
    location: Option<Value>,
    accept: &crate::photos::Accept,
) -> Result<Described, (&'static str, crate::error::ErrorCode, String)> {
    use crate::error::ErrorCode;
    let sha = sha256.to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((
            "sha256",
            ErrorCode::InvalidValue,
            "must be 64 hex digits".into(),
        ));
    }
    let content_type = content_type.to_ascii_lowercase();
    let video = crate::photos::container::VIDEO_TYPES.contains(&content_type.as_str());
    if !PHOTO_TYPES.contains(&content_type.as_str()) && !video {
        return Err((
            "content_type",
            ErrorCode::UnsupportedMediaType,
            format!(
                "must be one of {}, {}",
                PHOTO_TYPES.join(", "),
                crate::photos::container::VIDEO_TYPES.join(", ")
            ),
        ));
    }
    let max = i64::try_from(accept.max_bytes(&content_type)).unwrap_or(i64::MAX);
    if !(1..=max).contains(&bytes) {
        return Err(("bytes", ErrorCode::TooLarge, format!("must be 1 to {max}")));
    }
    let caption = caption.trim().to_string();
    if caption.chars().count() > 500 {
        return Err((
            "caption",
            ErrorCode::InvalidValue,
            "must be at most 500 characters".into(),
        ));
    }
    let location = match location {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(o)) => {
            super::fields::check_location_object(&o, false)
                .map_err(|r| ("location", ErrorCode::InvalidValue, r.to_string()))?;
            Value::Object(o)
        }
        Some(_) => {
            return Err((
                "location",
                ErrorCode::InvalidValue,
                "must be an object".into(),
            ));
        }
    };
    Ok(Described {
        sha256: sha,
        content_type,
        caption,
        location,
    })
}
