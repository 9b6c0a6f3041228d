//! `POST /api/v1/sync/push`: a phone's batch of inspection edits and photo
//! metadata, applied in one transaction, answered per item, remembered per
//! `(device_id, batch_id)` so a replay gets the same answer.

use super::devices::{self, Activity};
use crate::auth::{Caller, Role};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{conflicts, inspections, photos, push_batches, route_stops, routes, sites};
use crate::error::{AppError, AppResult};
use crate::inspection::fields;
use crate::inspection::merge::{self, Discard, Edit, FieldEdit, Record, Status};
use crate::inspection::{self as insp, ReviewStatus};
use crate::journal::{self, Entity};
use crate::photos::blob::{self, BlobStore};
use crate::photos::inspect::Refusal;
use crate::photos::jobs;
use crate::reference::templates::{self, Item};
use crate::review::followups;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
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
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConflictNote {
    pub field: String,
    #[schema(value_type = Object)]
    pub kept: Value,
    #[schema(value_type = Object)]
    pub discarded: Value,
    pub conflict_id: String,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<merge::Fields>,
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

fn rejected(
    id: String,
    kind: &str,
    r: Reject,
    current: Option<(i64, merge::Fields)>,
) -> ItemResult {
    let (version, fields) = match current {
        Some((v, f)) => (Some(v), Some(f)),
        None => (None, None),
    };
    ItemResult {
        id,
        kind: kind.into(),
        status: "rejected".into(),
        version,
        fields,
        conflicts: vec![],
        clamped: vec![],
        error: Some(ItemError {
            code: r.code.into(),
            message: r.message,
            field: r.field,
        }),
    }
}

fn item_id(v: &Value) -> String {
    v.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
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

/// Applies a batch and returns the answer as JSON bytes (a
/// [`PushResponse`]), made once: the same bytes are stored, deflated, for a
/// replay. Runs inside the writer's transaction: the items that apply commit
/// together with the stored answer, or nothing does.
pub fn push(
    c: &mut Conn,
    caller: &Caller,
    req: PushRequest,
    uploads: &Uploads,
    store: &dyn BlobStore,
    max_photo_bytes: u64,
) -> AppResult<Vec<u8>> {
    check_batch(&req)?;
    let device = req.device_id.to_string();
    let batch = req.batch_id.to_string();
    devices::touch(c, &device, &caller.id, Activity::Push)?;
    let stored: Option<Vec<u8>> = push_batches::table
        .find((&device, &batch))
        .select(push_batches::response)
        .first(c)
        .optional()?;
    if let Some(answer) = stored {
        let mut json = Vec::with_capacity(answer.len() * 8);
        flate2::read::DeflateDecoder::new(&answer[..])
            .read_to_end(&mut json)
            .map_err(AppError::internal)?;
        return Ok(json);
    }

    let now = Utc::now();
    let mut ctx = Ctx {
        caller,
        uploads,
        store,
        max_photo_bytes,
        device: &device,
        now,
        checklists: HashMap::new(),
        sites: HashMap::new(),
        current: HashMap::new(),
        prefetched: HashMap::new(),
        written: HashSet::new(),
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
    store: &'a dyn BlobStore,
    /// The largest photo a batch may announce (`FIELDSYNC_MAX_PHOTO_BYTES`).
    max_photo_bytes: u64,
    device: &'a str,
    now: DateTime<Utc>,
    /// Checklist items by (template id, version), read once per batch.
    checklists: HashMap<(String, i32), Vec<Item>>,
    /// Sites' (group, deleted) and checklists' current version for a
    /// group, read once per batch: a day's records share a few of each.
    sites: HashMap<String, Option<(String, bool)>>,
    current: HashMap<(String, String), Option<i32>>,
    /// The batch's existing inspections, read in one query.
    prefetched: HashMap<String, insp::Row>,
    /// Inspections this batch has written (read again if named again).
    written: HashSet<String>,
}

/// What a new inspection hangs on, checked against the pusher's scope.
struct Header {
    group_id: String,
    site_id: String,
    route_id: Option<String>,
    stop_id: Option<String>,
    template_id: String,
    template_version: i32,
}

impl Ctx<'_> {
    fn items(
        &mut self,
        c: &mut Conn,
        template_id: &str,
        version: i32,
    ) -> AppResult<Option<Vec<Item>>> {
        let key = (template_id.to_string(), version);
        if let Some(items) = self.checklists.get(&key) {
            return Ok(Some(items.clone()));
        }
        let Some(items) = templates::version_items(c, template_id, version)? else {
            return Ok(None);
        };
        self.checklists.insert(key, items.clone());
        Ok(Some(items))
    }

    /// Whether the caller may write an existing inspection.
    fn may_write(&self, row: &insp::Row) -> bool {
        match self.caller.role {
            Role::Inspector => row.inspector_id == self.caller.id,
            _ => self.caller.sees_group(&row.group_id),
        }
    }

    fn new_header(&mut self, c: &mut Conn, item: &InspectionPush) -> Result<Header, ItemFail> {
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
        let group_id = match site {
            Some((g, false)) if self.caller.sees_group(&g) => g,
            _ => return Err(Reject::field("not_found", "site_id", "no such site").into()),
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
        let route_id = item.route_id.map(|r| r.to_string());
        let stop_id = item.stop_id.map(|s| s.to_string());
        if let Some(route) = &route_id {
            let row: Option<(String, Option<String>, bool)> = routes::table
                .find(route)
                .select((routes::group_id, routes::assignee_id, routes::deleted))
                .first(c)
                .optional()?;
            let visible = match &row {
                Some((g, assignee, false)) => {
                    *g == group_id
                        && (self.caller.role != Role::Inspector
                            || assignee.as_deref().is_none_or(|a| a == self.caller.id))
                }
                _ => false,
            };
            if !visible {
                return Err(
                    Reject::field("not_found", "route_id", "no such route for this site").into(),
                );
            }
        }
        if let Some(stop) = &stop_id {
            let Some(route) = &route_id else {
                return Err(
                    Reject::field("invalid_value", "stop_id", "a stop needs its route_id").into(),
                );
            };
            let on_route: Option<String> = route_stops::table
                .find(stop)
                .filter(route_stops::route_id.eq(route))
                .select(route_stops::site_id)
                .first(c)
                .optional()?;
            if on_route.as_deref() != Some(site_id.as_str()) {
                return Err(Reject::field(
                    "not_found",
                    "stop_id",
                    "no such stop at this site on this route",
                )
                .into());
            }
        }
        Ok(Header {
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
        match self.apply_inspection(c, &id, existing.as_ref(), item) {
            Ok(r) => Ok(r),
            Err(ItemFail::Reject(r)) => {
                let current = existing
                    .as_ref()
                    .filter(|r| self.may_write(r))
                    .map(|r| r.record().map(|rec| (rec.version, rec.fields)))
                    .transpose()?;
                Ok(rejected(id, "inspection", r, current))
            }
            Err(ItemFail::Db(e)) => Err(e),
        }
    }

    fn apply_inspection(
        &mut self,
        c: &mut Conn,
        id: &str,
        existing: Option<&insp::Row>,
        item: InspectionPush,
    ) -> Result<ItemResult, ItemFail> {
        if item.base_version < 0 {
            return Err(
                Reject::field("invalid_value", "base_version", "must be at least 0").into(),
            );
        }
        let (header, record, review) = match existing {
            Some(row) => {
                if !self.may_write(row) {
                    return Err(Reject::new("not_found", "no such inspection").into());
                }
                check_same(row, &item)?;
                let header = Header {
                    group_id: row.group_id.clone(),
                    site_id: row.site_id.clone(),
                    route_id: row.route_id.clone(),
                    stop_id: row.stop_id.clone(),
                    template_id: row.template_id.clone(),
                    template_version: row.template_version,
                };
                (header, row.record()?, row.review_status())
            }
            None => (
                self.new_header(c, &item)?,
                Record::default(),
                ReviewStatus::Pending,
            ),
        };

        let items = self
            .items(c, &header.template_id, header.template_version)?
            .unwrap_or_default();
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
        let merged = merge::merge(&record, &edit, self.now);
        let held_off = review.locked() && self.caller.role == Role::Inspector;
        let changes_values = merged.record.version != record.version || !merged.discards.is_empty();
        if held_off && changes_values {
            return Err(Reject::new(
                "locked",
                format!(
                    "the inspection is {} and no longer takes edits",
                    review.as_str()
                ),
            )
            .into());
        }

        let rec = &merged.record;
        let status = rec
            .fields
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("draft")
            .to_string();
        let new_review = review.after_field_status(&status);
        let inspector_id = existing
            .map(|r| r.inspector_id.clone())
            .unwrap_or_else(|| self.caller.id.clone());
        // Only the remembered (changed_at, device) of an equal value may
        // differ: worth keeping, except on a record closed to this caller.
        if merged.record != record && !held_off {
            self.write_row(
                c,
                id,
                &header,
                &inspector_id,
                rec,
                &status,
                new_review,
                review,
                existing.is_none(),
            )?;
        }
        let notes = self.log_discards(c, id, &header.group_id, &inspector_id, &merged.discards)?;
        if rec.version != record.version || !notes.is_empty() {
            let log = if existing.is_none() {
                journal::created_owned
            } else {
                journal::changed_owned
            };
            log(
                c,
                Entity::Inspection,
                id,
                Some(&header.group_id),
                Some(&inspector_id),
            )?;
        }
        // A submitted inspection marks its stop done; route lists show it.
        let was_submitted =
            record.fields.get("status") == Some(&json!("submitted")) && !record.deleted;
        let is_submitted = status == "submitted" && !rec.deleted;
        if was_submitted != is_submitted
            && let Some(route) = &header.route_id
        {
            journal::changed(c, Entity::Route, route, Some(&header.group_id))?;
        }
        // Submitted at a re-verification stop: it settles the follow-up.
        if is_submitted
            && rec.version != record.version
            && let Some(stop) = &header.stop_id
        {
            followups::verification_submitted(c, stop, &rec.fields, &self.caller.id)?;
        }
        Ok(ItemResult {
            id: id.to_string(),
            kind: "inspection".into(),
            status: match merged.status {
                Status::Applied => "applied",
                Status::Unchanged => "unchanged",
                Status::Merged => "merged",
            }
            .into(),
            version: Some(rec.version),
            fields: Some(rec.fields.clone()),
            conflicts: notes,
            clamped: merged.clamped,
            error: None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn write_row(
        &self,
        c: &mut Conn,
        id: &str,
        h: &Header,
        inspector_id: &str,
        rec: &Record,
        status: &str,
        review: ReviewStatus,
        old_review: ReviewStatus,
        new: bool,
    ) -> AppResult<()> {
        let now = clock::now();
        let fields_json = serde_json::to_string(&rec.fields)?;
        let meta_json = serde_json::to_string(&rec.meta)?;
        let (lat, lon) = match insp::position(rec.fields.get("location")) {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let submitted_now =
            review == ReviewStatus::Submitted && old_review != ReviewStatus::Submitted;
        if new {
            diesel::insert_into(inspections::table)
                .values((
                    inspections::id.eq(id),
                    inspections::version.eq(rec.version),
                    inspections::group_id.eq(&h.group_id),
                    inspections::inspector_id.eq(inspector_id),
                    inspections::site_id.eq(&h.site_id),
                    inspections::route_id.eq(&h.route_id),
                    inspections::stop_id.eq(&h.stop_id),
                    inspections::template_id.eq(&h.template_id),
                    inspections::template_version.eq(h.template_version),
                    inspections::deleted.eq(rec.deleted),
                    inspections::fields.eq(&fields_json),
                    inspections::field_meta.eq(&meta_json),
                    inspections::status.eq(status),
                    inspections::lat.eq(lat),
                    inspections::lon.eq(lon),
                    inspections::review_status.eq(review.as_str()),
                    inspections::submitted_at.eq(submitted_now.then_some(now)),
                    inspections::created_at.eq(now),
                    inspections::updated_at.eq(now),
                ))
                .execute(c)?;
        } else {
            diesel::update(inspections::table.find(id))
                .set((
                    inspections::version.eq(rec.version),
                    inspections::deleted.eq(rec.deleted),
                    inspections::fields.eq(&fields_json),
                    inspections::field_meta.eq(&meta_json),
                    inspections::status.eq(status),
                    inspections::lat.eq(lat),
                    inspections::lon.eq(lon),
                    inspections::review_status.eq(review.as_str()),
                    inspections::updated_at.eq(now),
                ))
                .execute(c)?;
            if submitted_now {
                diesel::update(inspections::table.find(id))
                    .set(inspections::submitted_at.eq(now))
                    .execute(c)?;
            }
        }
        Ok(())
    }

    /// Writes each discarded value to the conflict log.
    fn log_discards(
        &self,
        c: &mut Conn,
        inspection_id: &str,
        group: &str,
        owner: &str,
        discards: &[Discard],
    ) -> AppResult<Vec<ConflictNote>> {
        let mut notes = Vec::with_capacity(discards.len());
        let now = clock::now();
        for d in discards {
            let id = clock::new_id();
            diesel::insert_into(conflicts::table)
                .values((
                    conflicts::id.eq(&id),
                    conflicts::inspection_id.eq(inspection_id),
                    conflicts::field.eq(&d.field),
                    conflicts::kept.eq(d.kept.to_string()),
                    conflicts::discarded.eq(d.discarded.to_string()),
                    conflicts::kept_device_id.eq(&d.kept_device),
                    conflicts::discarded_device_id.eq(&d.discarded_device),
                    conflicts::kept_changed_at.eq(d.kept_changed_at.naive_utc()),
                    conflicts::discarded_changed_at.eq(d.discarded_changed_at.naive_utc()),
                    conflicts::status.eq(if d.open { "open" } else { "resolved" }),
                    conflicts::resolved_at.eq((!d.open).then_some(now)),
                    conflicts::created_at.eq(now),
                ))
                .execute(c)?;
            journal::created_owned(c, Entity::Conflict, &id, Some(group), Some(owner))?;
            notes.push(ConflictNote {
                field: d.field.clone(),
                kept: d.kept.clone(),
                discarded: d.discarded.clone(),
                conflict_id: id,
            });
        }
        Ok(notes)
    }

    fn photo(
        &mut self,
        c: &mut Conn,
        item: PhotoPush,
        missing: &mut Vec<String>,
    ) -> AppResult<ItemResult> {
        let id = item.id.to_string();
        match self.apply_photo(c, &id, item) {
            Ok((status, is_missing)) => {
                if is_missing {
                    missing.push(id.clone());
                }
                Ok(ItemResult {
                    id,
                    kind: "photo".into(),
                    status: status.into(),
                    version: None,
                    fields: None,
                    conflicts: vec![],
                    clamped: vec![],
                    error: None,
                })
            }
            Err(ItemFail::Reject(r)) => Ok(rejected(id, "photo", r, None)),
            Err(ItemFail::Db(e)) => Err(e),
        }
    }

    /// Returns the item status and whether the server still lacks the bytes.
    fn apply_photo(
        &mut self,
        c: &mut Conn,
        id: &str,
        item: PhotoPush,
    ) -> Result<(&'static str, bool), ItemFail> {
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
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => {
                fields::check_location_object(o, false)
                    .map_err(|r| Reject::field("invalid_value", "location", r))?;
                Some(Value::Object(o.clone()).to_string())
            }
            Some(_) => {
                return Err(Reject::field("invalid_value", "location", "must be an object").into());
            }
        };
        let inspection_id = item.inspection_id.to_string();
        let row = insp::find(c, &inspection_id)?
            .filter(|r| self.may_write(r))
            .ok_or_else(|| Reject::field("not_found", "inspection_id", "no such inspection"))?;
        let taken_at = item.taken_at.map(|t| t.naive_utc());

        let old: Option<insp::PhotoRow> = photos::table
            .find(id)
            .select(insp::PhotoRow::as_select())
            .first(c)
            .optional()?;
        let now = clock::now();
        let status = match old {
            Some(p) => {
                if p.inspection_id != inspection_id || p.sha256 != sha {
                    return Err(Reject::new(
                        "immutable",
                        "a photo's inspection and bytes never change; send a new photo id",
                    )
                    .into());
                }
                let same = p.caption == caption
                    && p.taken_at == taken_at
                    && p.location == location
                    && p.deleted == (p.deleted || item.deleted);
                if same {
                    "unchanged"
                } else {
                    self.check_unlocked(&row)?;
                    diesel::update(photos::table.find(id))
                        .set((
                            photos::caption.eq(&caption),
                            photos::taken_at.eq(taken_at),
                            photos::location.eq(&location),
                            // A deleted photo stays deleted (a tombstone).
                            photos::deleted.eq(p.deleted || item.deleted),
                            photos::updated_at.eq(now),
                        ))
                        .execute(c)?;
                    "applied"
                }
            }
            None => {
                self.check_unlocked(&row)?;
                diesel::insert_into(photos::table)
                    .values((
                        photos::id.eq(id),
                        photos::inspection_id.eq(&inspection_id),
                        photos::sha256.eq(&sha),
                        photos::bytes.eq(item.bytes),
                        photos::content_type.eq(&content_type),
                        photos::caption.eq(&caption),
                        photos::taken_at.eq(taken_at),
                        photos::location.eq(&location),
                        photos::deleted.eq(item.deleted),
                        photos::status.eq("missing"),
                        photos::created_at.eq(now),
                        photos::updated_at.eq(now),
                    ))
                    .execute(c)?;
                "applied"
            }
        };
        // The bytes came with this push, or the same bytes are already
        // stored for another photo: one copy serves both.
        let have_bytes = self.uploads.accepted.get(id) == Some(&sha)
            || self.store.exists(&blob::original_key(&sha));
        if have_bytes {
            jobs::bytes_arrived(c, &sha)?;
        }
        if status == "applied" {
            journal::changed_owned(
                c,
                Entity::Photo,
                id,
                Some(&row.group_id),
                Some(&row.inspector_id),
            )?;
            journal::changed_owned(
                c,
                Entity::Inspection,
                &row.id,
                Some(&row.group_id),
                Some(&row.inspector_id),
            )?;
        }
        let (now_status, deleted): (String, bool) = photos::table
            .find(id)
            .select((photos::status, photos::deleted))
            .first(c)?;
        Ok((status, now_status == "missing" && !deleted))
    }

    fn check_unlocked(&self, row: &insp::Row) -> Result<(), Reject> {
        if row.review_status().locked() && self.caller.role == Role::Inspector {
            Err(Reject::new(
                "locked",
                format!(
                    "the inspection is {} and no longer takes edits",
                    row.review_status
                ),
            ))
        } else {
            Ok(())
        }
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
/// their metadata).
pub fn photo_hashes(c: &mut Conn, ids: &[String]) -> AppResult<HashMap<String, String>> {
    Ok(photos::table
        .filter(photos::id.eq_any(ids))
        .select((photos::id, photos::sha256))
        .load::<(String, String)>(c)?
        .into_iter()
        .collect())
}
