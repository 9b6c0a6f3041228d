//! The push's wire: the batch as a phone sends it, the answer as it gets
//! it (one result per item), and an item's refusal. What is checked here
//! is the batch as a whole; each item is checked on its own in
//! `parse` and `apply`.

use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection::ReviewStatus;
use crate::inspection::conflicts::ConflictNote;
use crate::inspection::merge::{self, Merged, Refused, Status};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Items (inspections and photos together) in one batch; more is 413.
pub const MAX_ITEMS: usize = 1000;

/// A batch. Items are kept as raw JSON until each is parsed on its own, so
/// one malformed item is rejected alone instead of failing the batch.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushRequest {
    pub device_id: uuid::Uuid,
    pub batch_id: uuid::Uuid,
    #[serde(default)]
    #[schema(value_type = Vec<InspectionPush>)]
    pub inspections: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<PhotoPush>)]
    pub photos: Vec<Value>,
}

impl PushRequest {
    /// What identifies a batch's content: the sha256 of its items as
    /// canonical JSON (object keys sorted, no whitespace), so the same
    /// batch re-serialised by a phone hashes the same.
    pub fn content_hash(&self) -> String {
        // Serialised straight into the hash: no copy of the batch. Object
        // keys come out sorted (serde_json's map is ordered).
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.update(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut h = Hashing(Sha256::new());
        // Writing into a hash cannot fail.
        let _ = serde_json::to_writer(&mut h, &(&self.inspections, &self.photos));
        hex::encode(h.0.finalize())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InspectionPush {
    pub id: uuid::Uuid,
    #[serde(default)]
    pub base_version: i64,
    #[serde(default)]
    pub deleted: bool,
    /// `report` for a quick report (no site, route or checklist: a
    /// position, a title, a category, an urgency); default `inspection`.
    /// Set when the record is made; a different kind later is refused.
    pub kind: Option<crate::inspection::RecordKind>,
    pub site_id: Option<uuid::Uuid>,
    pub route_id: Option<uuid::Uuid>,
    pub stop_id: Option<uuid::Uuid>,
    pub template_id: Option<uuid::Uuid>,
    /// Default: the checklist's current version (new records only).
    pub template_version: Option<i32>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// When the phone changed each field (and `deleted`).
    #[serde(default)]
    pub changed_at: BTreeMap<String, DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PhotoPush {
    pub id: uuid::Uuid,
    pub inspection_id: uuid::Uuid,
    pub sha256: String,
    pub bytes: i64,
    pub content_type: String,
    #[serde(default)]
    pub caption: String,
    pub taken_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<Object>)]
    pub location: Option<Value>,
    #[serde(default)]
    pub deleted: bool,
    /// The photo's metadata version the phone last saw (its `version` in a
    /// push answer); 0: none.
    #[serde(default)]
    pub base_version: i64,
    /// When the phone changed `caption`, `taken_at`, `location`,
    /// `item_key` and `deleted`; a field without an entry counts as changed
    /// on arrival.
    #[serde(default)]
    pub changed_at: BTreeMap<String, DateTime<Utc>>,
    /// The checklist item the photo proves: its answer path after
    /// `answers.` (`pipes.<row>.outlet` in a repeat); null: none. Absent:
    /// unchanged.
    #[serde(
        default,
        deserialize_with = "crate::reference::validate::double_option"
    )]
    #[schema(value_type = Option<String>, pattern = "^[a-z0-9][a-z0-9_]{0,63}(\\.[a-z0-9-]{1,64}\\.[a-z0-9][a-z0-9_]{0,63})?$")]
    pub item_key: Option<Option<String>>,
    /// `signature`: drawn on the phone for a `signature` item (a PNG).
    /// Set when the photo is first pushed; never changes.
    #[serde(default)]
    pub kind: crate::photos::PhotoKind,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemResult {
    pub id: String,
    pub kind: PushItemKind,
    pub status: PushItemStatus,
    /// The record's version after this item (a photo's: of its metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The record's whole merged field map (a photo's: `caption`,
    /// `taken_at`, `location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<merge::Fields>,
    /// Whether the record is deleted: a phone replaying an old answer never
    /// brings back a record that a later pull removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConflictNote>,
    /// Fields whose `changed_at` lay more than 10 minutes ahead of the
    /// server's clock and were clamped to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clamped: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PushResponse {
    pub batch_id: String,
    pub results: Vec<ItemResult>,
    pub photos_missing: Vec<String>,
}

/// What an item of a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushItemKind {
    Inspection,
    Photo,
}

/// What became of an item: `applied` (the record took it as sent),
/// `unchanged` (it held nothing new), `merged` (some of it lost to newer
/// edits: see `conflicts`), `rejected` (see `error`; nothing of it kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushItemStatus {
    Applied,
    Unchanged,
    Merged,
    Rejected,
}

/// Rejection of one item: its `error` in the answer.
pub(super) struct Reject {
    pub(super) code: ErrorCode,
    pub(super) message: String,
    pub(super) field: Option<String>,
}

impl Reject {
    pub(super) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Reject {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub(super) fn field(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        Reject {
            code,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }

    pub(super) fn locked(review: ReviewStatus) -> Self {
        Reject::new(
            ErrorCode::Locked,
            format!(
                "the inspection is {} and no longer takes edits",
                review.as_str()
            ),
        )
    }
}

impl From<Refused> for Reject {
    fn from(r: Refused) -> Self {
        match r {
            Refused::BaseAhead { base, current } => Reject::field(
                ErrorCode::InvalidValue,
                "base_version",
                format!(
                    "base_version {base} is above the record's version {current}: \
                     pull and edit the current version"
                ),
            ),
        }
    }
}

/// Database errors abort the whole batch; a `Reject` only its item.
pub(super) enum ItemFail {
    Reject(Reject),
    Db(AppError),
}

impl From<AppError> for ItemFail {
    fn from(e: AppError) -> Self {
        ItemFail::Db(e)
    }
}

impl From<diesel::result::Error> for ItemFail {
    fn from(e: diesel::result::Error) -> Self {
        ItemFail::Db(e.into())
    }
}

impl From<Reject> for ItemFail {
    fn from(r: Reject) -> Self {
        ItemFail::Reject(r)
    }
}

/// A record's state as an answer carries it.
pub(super) type Current = (i64, merge::Fields, bool);

pub(super) fn rejected(
    id: String,
    kind: PushItemKind,
    r: Reject,
    current: Option<Current>,
) -> ItemResult {
    let (version, fields, deleted) = match current {
        Some((v, f, d)) => (Some(v), Some(f), Some(d)),
        None => (None, None, None),
    };
    ItemResult {
        id,
        kind,
        status: PushItemStatus::Rejected,
        version,
        fields,
        deleted,
        conflicts: vec![],
        clamped: vec![],
        error: Some(ItemError {
            code: r.code.as_str().into(),
            message: r.message,
            field: r.field,
        }),
    }
}

pub(super) fn done(
    id: String,
    kind: PushItemKind,
    m: Merged,
    conflicts: Vec<ConflictNote>,
) -> ItemResult {
    ItemResult {
        id,
        kind,
        status: match m.status {
            Status::Applied => PushItemStatus::Applied,
            Status::Unchanged => PushItemStatus::Unchanged,
            Status::Merged => PushItemStatus::Merged,
        },
        version: Some(m.record.version),
        fields: Some(m.record.fields),
        deleted: Some(m.record.deleted),
        conflicts,
        clamped: m.clamped,
        error: None,
    }
}

/// The lower-case id of a raw item (phones differ in letter case).
pub(super) fn item_id(v: &Value) -> String {
    let raw = v.get("id").and_then(Value::as_str).unwrap_or_default();
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| raw.to_string())
}

/// Checks the batch as a whole: what fails here fails everything.
pub fn check_batch(req: &PushRequest) -> AppResult<()> {
    let n = req.inspections.len() + req.photos.len();
    if n > MAX_ITEMS {
        return Err(AppError::too_large(format!(
            "a batch holds at most {MAX_ITEMS} items, this one {n}; split it"
        ))
        .with_details(json!({ "max_items": MAX_ITEMS })));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_hashes_the_same_whatever_its_key_order() {
        let a: PushRequest = serde_json::from_str(
            r#"{"device_id":"6f1c2a9e-0d7b-4c55-9a43-2a1f0c1b7e01","batch_id":"0b9e4f7a-3c2d-4e1f-8a6b-5d4c3b2a1908",
               "inspections":[{"id":"x","fields":{"title":"a","notes":"b"}}]}"#,
        )
        .unwrap();
        let b: PushRequest = serde_json::from_str(
            r#"{"inspections":[{"fields":{"notes":"b","title":"a"},"id":"x"}],"photos":[],
               "batch_id":"0b9e4f7a-3c2d-4e1f-8a6b-5d4c3b2a1908","device_id":"6f1c2a9e-0d7b-4c55-9a43-2a1f0c1b7e01"}"#,
        )
        .unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        let c: PushRequest = serde_json::from_str(
            r#"{"device_id":"6f1c2a9e-0d7b-4c55-9a43-2a1f0c1b7e01","batch_id":"0b9e4f7a-3c2d-4e1f-8a6b-5d4c3b2a1908",
               "inspections":[{"id":"x","fields":{"title":"a","notes":"c"}}]}"#,
        )
        .unwrap();
        assert_ne!(a.content_hash(), c.content_hash());
    }
}
