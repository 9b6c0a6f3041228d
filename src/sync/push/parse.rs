//! Each item of a batch becomes a checked value at the edge: ids in one
//! letter case, numbers in range, a photo's hash, size, type, caption and
//! position checked. What needs the database (the record, its checklist,
//! the caller's scope) is checked where the item is applied
//! (`apply`, `photos`).

use super::wire::{InspectionPush, PhotoPush, Reject};
use crate::clock;
use crate::error::ErrorCode;
use crate::ids::InspectionId;
use crate::inspection::fields;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub use crate::inspection::photo_meta::PHOTO_TYPES;

/// An inspection item, its ids in lower case.
pub(super) struct InspectionItem {
    pub id: InspectionId,
    pub base_version: i64,
    pub deleted: bool,
    pub kind: Option<crate::inspection::RecordKind>,
    pub site_id: Option<String>,
    pub route_id: Option<String>,
    pub stop_id: Option<String>,
    pub template_id: Option<String>,
    pub template_version: Option<i32>,
    pub fields: Map<String, Value>,
    pub changed_at: BTreeMap<String, DateTime<Utc>>,
}

pub(super) fn inspection(item: InspectionPush) -> Result<InspectionItem, Reject> {
    if item.base_version < 0 {
        return Err(Reject::field(
            ErrorCode::InvalidValue,
            "base_version",
            "must be at least 0",
        ));
    }
    let id = |u: Option<uuid::Uuid>| u.map(|u| u.to_string());
    Ok(InspectionItem {
        id: InspectionId::new(item.id.to_string()),
        base_version: item.base_version,
        deleted: item.deleted,
        kind: item.kind,
        site_id: id(item.site_id),
        route_id: id(item.route_id),
        stop_id: id(item.stop_id),
        template_id: id(item.template_id),
        template_version: item.template_version,
        fields: item.fields,
        changed_at: item.changed_at,
    })
}

/// A photo item: its hash in lower case, its size within the limit, a
/// type we keep, its caption trimmed, its position checked.
pub(super) struct PhotoItem {
    pub inspection_id: InspectionId,
    pub sha256: String,
    pub bytes: i64,
    pub content_type: String,
    pub caption: String,
    /// `null` or the time in UTC as every answer writes it.
    pub taken_at: Value,
    /// `null` or a checked position object.
    pub location: Value,
    pub deleted: bool,
    pub base_version: i64,
    pub changed_at: BTreeMap<String, DateTime<Utc>>,
    /// Absent: unchanged; `null` or the item's answer path.
    pub item_key: Option<Value>,
    pub kind: crate::photos::PhotoKind,
}

pub(super) fn photo(item: PhotoPush, accept: &crate::photos::Accept) -> Result<PhotoItem, Reject> {
    let checked = crate::inspection::photo_meta::check_description(
        &item.sha256,
        item.bytes,
        &item.content_type,
        &item.caption,
        item.location,
        accept,
    )
    .map_err(|(field, code, message)| Reject::field(code, field, message))?;
    let (sha, content_type, caption, location) = (
        checked.sha256,
        checked.content_type,
        checked.caption,
        checked.location,
    );
    if item.base_version < 0 {
        return Err(Reject::field(
            ErrorCode::InvalidValue,
            "base_version",
            "must be at least 0",
        ));
    }
    let item_key = match item.item_key {
        None => None,
        Some(None) => Some(Value::Null),
        Some(Some(k)) if fields::is_answer_path(&k) => Some(Value::String(k)),
        Some(Some(_)) => {
            return Err(Reject::field(
                ErrorCode::InvalidValue,
                "item_key",
                "must be an item's answer path: key, or repeat.row.key",
            ));
        }
    };
    if item.kind == crate::photos::PhotoKind::Signature && content_type != "image/png" {
        return Err(Reject::field(
            ErrorCode::UnsupportedMediaType,
            "content_type",
            "a signature is a PNG (image/png)",
        ));
    }
    let kind = crate::photos::PhotoKind::of(item.kind, &content_type)
        .map_err(|m| Reject::field(ErrorCode::UnsupportedMediaType, "content_type", m))?;
    Ok(PhotoItem {
        inspection_id: InspectionId::new(item.inspection_id.to_string()),
        sha256: sha,
        bytes: item.bytes,
        content_type,
        caption,
        taken_at: item
            .taken_at
            .map_or(Value::Null, |t| json!(clock::utc(t.naive_utc()))),
        location,
        deleted: item.deleted,
        base_version: item.base_version,
        changed_at: item.changed_at,
        item_key,
        kind,
    })
}
