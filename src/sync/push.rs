//! `POST /api/v1/sync/push`: a phone's batch of inspection edits and photo
//! metadata, applied in one transaction, answered per item, remembered per
//! `(device_id, batch_id)` with a hash of the batch, so a replay gets the
//! same answer and a reused batch id with other content is refused.
//!
//! This module speaks the protocol: it parses and checks items and shapes
//! answers. The merge rule, the conflict log and the one write path of a
//! record live in [`crate::inspection`].

use super::devices::{self, Activity};
use crate::auth::{Caller, Role};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{photos, push_batches, route_stops, routes, sites};
use crate::error::{AppError, AppResult};
use crate::inspection::conflicts::{self, ConflictNote};
use crate::inspection::merge::{self, Edit, FieldEdit, Merged, Record, Refused, Status};
use crate::inspection::write::{self, Before, Header};
use crate::inspection::{self as insp, ReviewStatus, fields};
use crate::journal::{self, Entity};
use crate::photos::inspect::Refusal;
use crate::photos::jobs;
use crate::reference::templates::{self, Item};
use crate::reference::users;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;
use utoipa::ToSchema;

/// Items (inspections and photos together) in one batch; more is 413.
pub const MAX_ITEMS: usize = 1000;
pub const PHOTO_TYPES: [&str; 6] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
];

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
    /// When the phone changed `caption`, `taken_at`, `location` and
    /// `deleted`; a field without an entry counts as changed on arrival.
    #[serde(default)]
    pub changed_at: BTreeMap<String, DateTime<Utc>>,
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
    /// inspection | photo
    pub kind: String,
    /// applied | unchanged | merged | rejected
    pub status: String,
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

/// Photo bytes that came with a multipart push, already checked: the ones
/// now in the blob store (photo id -> sha256) and the ones refused.
#[derive(Debug, Default)]
pub struct Uploads {
    pub accepted: HashMap<String, String>,
    pub refused: HashMap<String, Refusal>,
}

/// Rejection of one item.
struct Reject {
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl Reject {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Reject {
            code,
            message: message.into(),
            field: None,
        }
    }

    fn field(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        Reject {
            code,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }

    fn locked(review: ReviewStatus) -> Self {
        Reject::new(
            "locked",
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
                "invalid_value",
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
enum ItemFail {
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
type Current = (i64, merge::Fields, bool);

fn rejected(id: String, kind: &str, r: Reject, current: Option<Current>) -> ItemResult {
    let (version, fields, deleted) = match current {
        Some((v, f, d)) => (Some(v), Some(f), Some(d)),
        None => (None, None, None),
    };
    ItemResult {
        id,
        kind: kind.into(),
        status: "rejected".into(),
        version,
        fields,
        deleted,
        conflicts: vec![],
        clamped: vec![],
        error: Some(ItemError {
            code: r.code.into(),
            message: r.message,
            field: r.field,
        }),
    }
}

fn done(id: String, kind: &str, m: Merged, conflicts: Vec<ConflictNote>) -> ItemResult {
    ItemResult {
        id,
        kind: kind.into(),
        status: match m.status {
            Status::Applied => "applied",
            Status::Unchanged => "unchanged",
            Status::Merged => "merged",
        }
        .into(),
        version: Some(m.record.version),
        fields: Some(m.record.fields),
        deleted: Some(m.record.deleted),
        conflicts,
        clamped: m.clamped,
        error: None,
    }
}

/// The lower-case id of a raw item (phones differ in letter case).
fn item_id(v: &Value) -> String {
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

/// A test build may hold a push inside its write transaction for this
/// long (`FIELDSYNC_TEST_PUSH_DELAY_MS`), so the crash test can kill the
/// server there for certain. Release builds ignore it.
fn test_delay() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("FIELDSYNC_TEST_PUSH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        eprintln!("fieldsync-test: push inside its write transaction");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Applies a batch and returns the answer as JSON bytes (a
/// [`PushResponse`]), made once: the same bytes are stored, deflated, for a
/// replay. Runs inside the writer's transaction: the items that apply commit
/// together with the stored answer, or nothing does.
/// Applies a batch; `hash` is its [`PushRequest::content_hash`], made by the
/// caller outside the write transaction.
pub fn push(
    c: &mut Conn,
    caller: &Caller,
    req: PushRequest,
    hash: &str,
    uploads: &Uploads,
    max_photo_bytes: u64,
) -> AppResult<Vec<u8>> {
    check_batch(&req)?;
    let device = req.device_id.to_string();
    let batch = req.batch_id.to_string();
    // An error below rolls back the whole transaction, this included.
    devices::touch(c, &device, &caller.id, Activity::Push)?;
    let stored: Option<(Vec<u8>, Option<String>)> = push_batches::table
        .find((&device, &batch))
        .select((push_batches::response, push_batches::request_hash))
        .first(c)
        .optional()?;
    if let Some((answer, stored_hash)) = stored {
        if stored_hash.is_some_and(|h| h != hash) {
            return Err(AppError::conflict(
                "batch_id_reused",
                "this device already sent another batch with this batch_id; \
                 nothing was applied: give the new batch a new batch_id",
            ));
        }
        let mut json = Vec::with_capacity(answer.len() * 8);
        flate2::read::DeflateDecoder::new(&answer[..])
            .read_to_end(&mut json)
            .map_err(AppError::internal)?;
        return Ok(json);
    }

    let now = clock::now_utc();
    let mut ctx = Ctx {
        caller,
        uploads,
        max_photo_bytes,
        device: &device,
        now,
        checklists: HashMap::new(),
        sites: HashMap::new(),
        current: HashMap::new(),
        prefetched: HashMap::new(),
        written: HashSet::new(),
        open: conflicts::OpenIndex::default(),
    };
    let ids: Vec<String> = req
        .inspections
        .iter()
        .map(item_id)
        .filter(|id| !id.is_empty())
        .collect();
    for chunk in ids.chunks(500) {
        for row in insp::by_ids(c, chunk)? {
            ctx.prefetched.insert(row.id.clone(), row);
        }
    }
    ctx.open.load(c, &ids)?;
    let mut results = Vec::with_capacity(req.inspections.len() + req.photos.len());
    for raw in req.inspections {
        let id = item_id(&raw);
        let r = match serde_json::from_value::<InspectionPush>(raw) {
            Ok(item) => ctx.inspection(c, item)?,
            Err(e) => rejected(
                id,
                "inspection",
                Reject::new("invalid_item", e.to_string()),
                None,
            ),
        };
        results.push(r);
    }
    let mut photos_missing = Vec::new();
    for raw in req.photos {
        let id = item_id(&raw);
        let r = match serde_json::from_value::<PhotoPush>(raw) {
            Ok(item) => ctx.photo(c, item, &mut photos_missing)?,
            Err(e) => rejected(
                id,
                "photo",
                Reject::new("invalid_item", e.to_string()),
                None,
            ),
        };
        results.push(r);
    }
    test_delay();
    if caller.role != Role::Inspector {
        // Coordinators and admins may edit any record in their scope
        // through push: that is a change of someone else's record.
        journal::audit(
            c,
            journal::Audit {
                actor_id: Some(&caller.id),
                action: "sync.push",
                object_type: "batch",
                object_id: Some(&batch),
                details: json!({
                    "device_id": device,
                    "inspections": results.iter().filter(|r| r.kind == "inspection").map(|r| (&r.id, &r.status)).collect::<Vec<_>>(),
                    "photos": results.iter().filter(|r| r.kind == "photo").map(|r| (&r.id, &r.status)).collect::<Vec<_>>(),
                }),
            },
        )?;
    }
    let answer = PushResponse {
        batch_id: batch.clone(),
        results,
        photos_missing,
    };
    let json = serde_json::to_vec(&answer)?;
    diesel::insert_into(push_batches::table)
        .values((
            push_batches::device_id.eq(&device),
            push_batches::batch_id.eq(&batch),
            push_batches::user_id.eq(&caller.id),
            push_batches::response.eq(deflate(&json)?),
            push_batches::created_at.eq(clock::now()),
            push_batches::request_hash.eq(hash),
        ))
        .execute(c)?;
    Ok(json)
}

fn deflate(json: &[u8]) -> AppResult<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 8),
        flate2::Compression::fast(),
    );
    enc.write_all(json).map_err(AppError::internal)?;
    enc.finish().map_err(AppError::internal)
}

struct Ctx<'a> {
    caller: &'a Caller,
    uploads: &'a Uploads,
    /// The largest photo a batch may announce (`FIELDSYNC_MAX_PHOTO_BYTES`).
    max_photo_bytes: u64,
    device: &'a str,
    now: DateTime<Utc>,
    /// Checklist items by (template id, version), read once per batch.
    checklists: HashMap<(String, i32), Arc<[Item]>>,
    /// Sites' (group, deleted) and checklists' current version for a
    /// group, read once per batch: a day's records share a few of each.
    sites: HashMap<String, Option<(String, bool)>>,
    current: HashMap<(String, String), Option<i32>>,
    /// The batch's existing inspections, read in one query.
    prefetched: HashMap<String, insp::Row>,
    /// Inspections this batch has written (read again if named again).
    written: HashSet<String>,
    /// Open conflicts of the batch's records.
    open: conflicts::OpenIndex,
}

impl Ctx<'_> {
    fn items(
        &mut self,
        c: &mut Conn,
        template_id: &str,
        version: i32,
    ) -> AppResult<Option<Arc<[Item]>>> {
        let key = (template_id.to_string(), version);
        if let Some(items) = self.checklists.get(&key) {
            return Ok(Some(Arc::clone(items)));
        }
        let Some(items) = templates::version_items(c, template_id, version)? else {
            return Ok(None);
        };
        let items: Arc<[Item]> = items.into();
        self.checklists.insert(key, Arc::clone(&items));
        Ok(Some(items))
    }

    /// Whether the caller may write an existing inspection.
    fn may_write(&self, row: &insp::Row) -> bool {
        self.caller.sees_record(&row.group_id, &row.inspector_id)
    }

    fn held_off(&self, review: ReviewStatus) -> bool {
        review.locked() && self.caller.role == Role::Inspector
    }

    /// The group of a route the caller may hand work in on: one they see
    /// now, one assigned to them, or a whole-group route of a group they
    /// have belonged to. Cancelled and deleted routes count (the phone
    /// held them); `None` for any other.
    fn route_group(&mut self, c: &mut Conn, route: &str) -> AppResult<Option<String>> {
        let row: Option<(String, Option<String>)> = routes::table
            .find(route)
            .select((routes::group_id, routes::assignee_id))
            .first(c)
            .optional()?;
        let Some((group, assignee)) = row else {
            return Ok(None);
        };
        let ok = self.caller.sees_assignment(&group, assignee.as_deref())
            || assignee.as_deref() == Some(self.caller.id.as_str())
            || (assignee.is_none() && users::was_member(c, &self.caller.id, &group)?);
        Ok(ok.then_some(group))
    }

    fn new_header(&mut self, c: &mut Conn, item: &InspectionPush) -> Result<Header, ItemFail> {
        let id = item.id.to_string();
        let site_id = item
            .site_id
            .ok_or_else(|| {
                Reject::field(
                    "invalid_value",
                    "site_id",
                    "a new inspection needs its site",
                )
            })?
            .to_string();
        let template_id = item
            .template_id
            .ok_or_else(|| {
                Reject::field(
                    "invalid_value",
                    "template_id",
                    "a new inspection needs its checklist",
                )
            })?
            .to_string();
        let site = match self.sites.get(&site_id) {
            Some(s) => s.clone(),
            None => {
                let s: Option<(String, bool)> = sites::table
                    .find(&site_id)
                    .select((sites::group_id, sites::deleted))
                    .first(c)
                    .optional()?;
                self.sites.insert(site_id.clone(), s.clone());
                s
            }
        };
        // Work a phone made offline is handed in whatever an admin changed
        // since it pulled (DESIGN "Edits while phones hold them"): a site
        // that moved or was removed, a route cancelled or deleted, a stop
        // removed, a checklist's newer version, the inspector's own move
        // to another group. The record keeps the group it was made under:
        // its route's; else its site's, when the caller sees it; else the
        // caller's own, when the site was in it before it moved; else the
        // site's, when the caller was in it before they moved.
        let Some((site_group, _)) = site else {
            return Err(Reject::field("not_found", "site_id", "no such site").into());
        };
        let route_id = item.route_id.map(|r| r.to_string());
        let stop_id = item.stop_id.map(|s| s.to_string());
        let site_left_callers_group = match (&route_id, &self.caller.group_id) {
            (None, Some(own)) if !self.caller.sees_group(&site_group) => {
                journal::was_in_group(c, "site", &site_id, own)?
            }
            _ => false,
        };
        let group_id = match &route_id {
            Some(route) => {
                let group = self
                    .route_group(c, route)?
                    .ok_or_else(|| Reject::field("not_found", "route_id", "no such route"))?;
                // The site is the route's group's, now or before it moved:
                // a route is no pass to another group's sites.
                if site_group != group && !journal::was_in_group(c, "site", &site_id, &group)? {
                    return Err(Reject::field(
                        "not_found",
                        "site_id",
                        "no such site for this route",
                    )
                    .into());
                }
                group
            }
            None if self.caller.sees_group(&site_group) => site_group,
            // The site moved away from the caller's group since.
            None if site_left_callers_group => self.caller.group_id.clone().unwrap_or_default(),
            // The caller moved away from the site's group since.
            None if users::was_member(c, &self.caller.id, &site_group)? => site_group,
            None => return Err(Reject::field("not_found", "site_id", "no such site").into()),
        };
        let key = (template_id.clone(), group_id.clone());
        let current = match self.current.get(&key) {
            Some(v) => *v,
            None => {
                let v = templates::current_version_for_group(c, &template_id, &group_id)?;
                self.current.insert(key, v);
                v
            }
        };
        // The checklist as the phone had it: the version it names (an
        // older one stays valid: `checks.template_outdated`), else the
        // current one.
        let template_version = match current {
            Some(cur) => item.template_version.unwrap_or(cur),
            None => {
                return Err(Reject::field(
                    "not_found",
                    "template_id",
                    "no such checklist for this site",
                )
                .into());
            }
        };
        if self.items(c, &template_id, template_version)?.is_none() {
            return Err(Reject::field(
                "not_found",
                "template_version",
                "no such checklist version",
            )
            .into());
        }
        if let Some(stop) = &stop_id {
            let Some(route) = &route_id else {
                return Err(
                    Reject::field("invalid_value", "stop_id", "a stop needs its route_id").into(),
                );
            };
            // A stop since removed (or moved to another site) is applied
            // and flagged (`checks.stop_removed`); a stop of another route
            // is a client's mistake.
            let on_route: Option<String> = route_stops::table
                .find(stop)
                .select(route_stops::route_id)
                .first(c)
                .optional()?;
            if on_route.is_some_and(|r| r != *route) {
                return Err(Reject::field(
                    "invalid_value",
                    "stop_id",
                    "the stop belongs to another route",
                )
                .into());
            }
        }
        Ok(Header {
            id,
            inspector_id: self.caller.id.clone(),
            group_id,
            site_id,
            route_id,
            stop_id,
            template_id,
            template_version,
        })
    }

    fn inspection(&mut self, c: &mut Conn, item: InspectionPush) -> AppResult<ItemResult> {
        let id = item.id.to_string();
        // Read with the rest of the batch up front; a record this batch
        // already wrote is read again.
        let existing = match self.prefetched.remove(&id) {
            Some(row) if !self.written.contains(&id) => Some(row),
            _ if self.written.contains(&id) => insp::find(c, &id)?,
            _ => None,
        };
        self.written.insert(id.clone());
        match self.apply_inspection(c, existing.as_ref(), item) {
            Ok(r) => Ok(r),
            Err(ItemFail::Reject(r)) => {
                let current = existing
                    .as_ref()
                    .filter(|r| self.may_write(r))
                    .map(|r| r.record().map(|rec| (rec.version, rec.fields, rec.deleted)))
                    .transpose()?;
                Ok(rejected(id, "inspection", r, current))
            }
            Err(ItemFail::Db(e)) => Err(e),
        }
    }

    fn apply_inspection(
        &mut self,
        c: &mut Conn,
        existing: Option<&insp::Row>,
        item: InspectionPush,
    ) -> Result<ItemResult, ItemFail> {
        if item.base_version < 0 {
            return Err(
                Reject::field("invalid_value", "base_version", "must be at least 0").into(),
            );
        }
        let (header, before) = match existing {
            Some(row) => {
                if !self.may_write(row) {
                    return Err(Reject::new("not_found", "no such inspection").into());
                }
                check_same(row, &item)?;
                (Header::of(row), Some(Before::of(row)?))
            }
            None => (self.new_header(c, &item)?, None),
        };

        let items = self
            .items(c, &header.template_id, header.template_version)?
            .unwrap_or_else(|| Arc::from(Vec::new()));
        let mut edits = Vec::with_capacity(item.fields.len());
        for (path, value) in item.fields {
            fields::check(&path, &value, &items).map_err(|reason| {
                Reject::field("invalid_value", &path, format!("{path}: {reason}"))
            })?;
            let changed_at = *item.changed_at.get(&path).ok_or_else(|| {
                Reject::field(
                    "invalid_value",
                    &path,
                    format!("changed_at is missing for {path}"),
                )
            })?;
            edits.push(FieldEdit {
                path,
                value,
                changed_at,
            });
        }
        let edit = Edit {
            device: self.device.to_string(),
            base_version: item.base_version,
            deleted: item.deleted,
            deleted_at: item.changed_at.get(merge::DELETED).copied(),
            fields: edits,
        };
        let empty = Record::default();
        let record = before.as_ref().map_or(&empty, |b| &b.record);
        let review = before.as_ref().map_or(ReviewStatus::Pending, |b| b.review);
        let mut merged = merge::merge(record, &edit, self.now).map_err(Reject::from)?;
        if before.is_none() && merged.record.version == 0 {
            // A record pushed with no field yet still comes to be.
            merged.record.version = 1;
            merged.status = Status::Applied;
        }
        let held_off = self.held_off(review);
        if held_off && (merged.record.version != record.version || !merged.discards.is_empty()) {
            return Err(Reject::locked(review).into());
        }
        // Only the remembered (changed_at, device) of an equal value may
        // differ: worth keeping, except on a record closed to this caller.
        if !held_off {
            write::save(
                c,
                &header,
                before.as_ref(),
                &merged.record,
                review,
                &self.caller.id,
            )?;
        }
        let notes = conflicts::log(
            c,
            &header.id,
            &header.tag(),
            &merged.discards,
            &mut self.open,
        )?;
        Ok(done(header.id, "inspection", merged, notes))
    }

    fn photo(
        &mut self,
        c: &mut Conn,
        item: PhotoPush,
        missing: &mut Vec<String>,
    ) -> AppResult<ItemResult> {
        let id = item.id.to_string();
        match self.apply_photo(c, &id, item) {
            Ok((result, is_missing)) => {
                if is_missing {
                    missing.push(id);
                }
                Ok(result)
            }
            Err(ItemFail::Reject(r)) => {
                // The photo as it stands, when it exists and is the caller's.
                let current = match insp::photo_meta::find(c, &id)? {
                    Some(p) => match insp::find(c, &p.inspection_id)? {
                        Some(row) if self.may_write(&row) => {
                            let rec = p.record()?;
                            Some((rec.version, rec.fields, rec.deleted || row.deleted))
                        }
                        _ => None,
                    },
                    None => None,
                };
                Ok(rejected(id, "photo", r, current))
            }
            Err(ItemFail::Db(e)) => Err(e),
        }
    }

    /// Returns the item's result and whether the server still lacks the
    /// photo's bytes.
    fn apply_photo(
        &mut self,
        c: &mut Conn,
        id: &str,
        item: PhotoPush,
    ) -> Result<(ItemResult, bool), ItemFail> {
        if let Some(r) = self.uploads.refused.get(id) {
            return Err(Reject {
                code: r.code,
                message: r.message.clone(),
                field: None,
            }
            .into());
        }
        let sha = item.sha256.to_ascii_lowercase();
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Reject::field("invalid_value", "sha256", "must be 64 hex digits").into());
        }
        let max = i64::try_from(self.max_photo_bytes).unwrap_or(i64::MAX);
        if !(1..=max).contains(&item.bytes) {
            return Err(Reject::field("too_large", "bytes", format!("must be 1 to {max}")).into());
        }
        let content_type = item.content_type.to_ascii_lowercase();
        if !PHOTO_TYPES.contains(&content_type.as_str()) {
            return Err(Reject::field(
                "unsupported_media_type",
                "content_type",
                format!("must be one of {}", PHOTO_TYPES.join(", ")),
            )
            .into());
        }
        let caption = item.caption.trim().to_string();
        if caption.chars().count() > 500 {
            return Err(Reject::field(
                "invalid_value",
                "caption",
                "must be at most 500 characters",
            )
            .into());
        }
        let location = match &item.location {
            None | Some(Value::Null) => Value::Null,
            Some(Value::Object(o)) => {
                fields::check_location_object(o, false)
                    .map_err(|r| Reject::field("invalid_value", "location", r))?;
                Value::Object(o.clone())
            }
            Some(_) => {
                return Err(Reject::field("invalid_value", "location", "must be an object").into());
            }
        };
        if item.base_version < 0 {
            return Err(
                Reject::field("invalid_value", "base_version", "must be at least 0").into(),
            );
        }
        let inspection_id = item.inspection_id.to_string();
        let row = insp::find(c, &inspection_id)?
            .filter(|r| self.may_write(r))
            .ok_or_else(|| Reject::field("not_found", "inspection_id", "no such inspection"))?;

        let old = insp::photo_meta::find(c, id)?;
        if let Some(p) = &old
            && (p.inspection_id != inspection_id || p.sha256 != sha)
        {
            return Err(Reject::new(
                "immutable",
                "a photo's inspection and bytes never change; send a new photo id",
            )
            .into());
        }
        let at = |f: &str| item.changed_at.get(f).copied().unwrap_or(self.now);
        let taken_at = item
            .taken_at
            .map_or(Value::Null, |t| json!(clock::utc(t.naive_utc())));
        let edit = Edit {
            device: self.device.to_string(),
            base_version: item.base_version,
            deleted: item.deleted,
            deleted_at: Some(at(merge::DELETED)),
            fields: [
                ("caption", json!(caption)),
                ("taken_at", taken_at),
                ("location", location),
            ]
            .into_iter()
            .map(|(path, value)| FieldEdit {
                path: path.to_string(),
                value,
                changed_at: at(path),
            })
            .collect(),
        };
        let record = match &old {
            Some(p) => p.record()?,
            None => Record::default(),
        };
        let mut merged = merge::merge(&record, &edit, self.now).map_err(Reject::from)?;
        let moved = merged.record.version != record.version;
        let review = row.review_status()?;
        if self.held_off(review) && (moved || !merged.discards.is_empty()) {
            return Err(Reject::locked(review).into());
        }
        if old.is_none() || merged.record != record {
            let new = insp::photo_meta::New {
                inspection_id: &inspection_id,
                sha256: &sha,
                bytes: item.bytes,
                content_type: &content_type,
            };
            let new = old.is_none().then_some(&new);
            insp::photo_meta::save(c, id, new, &merged.record)?;
        }
        for d in &mut merged.discards {
            d.field = conflicts::photo_field(id, &d.field);
        }
        let tag = row.tag();
        let notes = conflicts::log(c, &inspection_id, &tag, &merged.discards, &mut self.open)?;
        // Bytes bind to a photo only when they came for it (contract push
        // rule 5): equal bytes stored for another photo, perhaps another
        // group's, grant nothing.
        if self.uploads.accepted.get(id) == Some(&sha) {
            jobs::bytes_arrived(c, id)?;
        }
        if old.is_none() || moved {
            // (Not `created`: the bytes' arrival above may have logged it.)
            journal::record_changed(c, Entity::Photo, id, &tag, false)?;
            // The record's view carries its photos.
            journal::record_changed(c, Entity::Inspection, &row.id, &tag, false)?;
        }
        let status: String = photos::table.find(id).select(photos::status).first(c)?;
        // Bytes are wanted for every photo not itself deleted, even on a
        // deleted record: an override may bring it back.
        let is_missing = insp::PhotoStatus::parse(&status)? == insp::PhotoStatus::Missing
            && !merged.record.deleted;
        // A photo lives and dies with its record: the answer says so.
        merged.record.deleted |= row.deleted;
        Ok((done(id.to_string(), "photo", merged, notes), is_missing))
    }
}

/// An existing inspection's site, route, stop and checklist never change;
/// a push that names others is refused rather than silently ignored.
fn check_same(row: &insp::Row, item: &InspectionPush) -> Result<(), Reject> {
    let differs = |given: Option<uuid::Uuid>, stored: Option<&str>| {
        given.is_some_and(|g| Some(g.to_string().as_str()) != stored)
    };
    for (name, given, stored) in [
        ("site_id", item.site_id, Some(row.site_id.as_str())),
        ("route_id", item.route_id, row.route_id.as_deref()),
        ("stop_id", item.stop_id, row.stop_id.as_deref()),
        (
            "template_id",
            item.template_id,
            Some(row.template_id.as_str()),
        ),
    ] {
        if differs(given, stored) {
            return Err(Reject::field(
                "immutable",
                name,
                format!("{name} of an existing inspection cannot change"),
            ));
        }
    }
    if item
        .template_version
        .is_some_and(|v| v != row.template_version)
    {
        return Err(Reject::field(
            "immutable",
            "template_version",
            "the checklist version cannot change",
        ));
    }
    Ok(())
}

/// The sha256 of photos already known, by id (for bytes that come after
/// their metadata), of the photos the caller may write: the hash of a photo
/// out of scope is never shown, even in a refusal.
pub fn photo_hashes(
    c: &mut Conn,
    caller: &Caller,
    ids: &[String],
) -> AppResult<HashMap<String, String>> {
    use crate::db::schema::inspections;
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, String, String)> = photos::table
            .inner_join(inspections::table)
            .filter(photos::id.eq_any(chunk))
            .select((
                photos::id,
                photos::sha256,
                inspections::group_id,
                inspections::inspector_id,
            ))
            .load(c)?;
        out.extend(
            rows.into_iter()
                .filter(|(_, _, g, o)| caller.sees_record(g, o))
                .map(|(id, sha, _, _)| (id, sha)),
        );
    }
    Ok(out)
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
