//! `POST /api/v1/sync/push`: a phone's batch of inspection edits and photo
//! metadata, applied in one transaction, answered per item, remembered per
//! `(device_id, batch_id)` with a hash of the batch, so a replay gets the
//! same answer and a reused batch id with other content is refused.
//!
//! [`wire`]: the batch and its answer; [`parse`]: each item checked into a
//! value at the edge; [`apply`]: an inspection item; [`photos`]: a photo
//! item; [`replay`]: the stored answers. The merge rule, the conflict log
//! and the one write path of a record live in [`crate::inspection`].

mod apply;
mod parse;
mod photos;
mod replay;
mod wire;

pub use parse::PHOTO_TYPES;
pub use photos::photo_hashes;
pub use replay::prune as prune_answers;
pub use wire::{
    InspectionPush, ItemError, ItemResult, MAX_ITEMS, PhotoPush, PushItemKind, PushItemStatus,
    PushRequest, PushResponse, check_batch,
};

use super::devices::{self, Activity};
use crate::auth::{Caller, Role};
use crate::clock;
use crate::db::Conn;
use crate::error::{AppResult, ErrorCode};
use crate::inspection::conflicts;
use crate::inspection::{self as insp, ReviewStatus};
use crate::journal;
use crate::photos::upload::Uploads;
use crate::reference::templates::Item;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use wire::{Reject, item_id, rejected};

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
/// together with the stored answer, or nothing does. `hash` is the batch's
/// [`PushRequest::content_hash`], made by the caller outside the write
/// transaction.
pub fn push(
    c: &mut Conn,
    caller: &Caller,
    req: PushRequest,
    hash: &str,
    uploads: &Uploads,
    accept: crate::photos::Accept,
) -> AppResult<Vec<u8>> {
    check_batch(&req)?;
    let device = req.device_id.to_string();
    let batch = req.batch_id.to_string();
    // An error below rolls back the whole transaction, this included.
    devices::touch(c, &device, &caller.id, Activity::Push)?;
    match replay::stored(c, &device, &batch, hash)? {
        Some(replay::Stored::Answer(json)) => return Ok(json),
        Some(replay::Stored::Pruned) => return replay::answer_pruned(c, caller, &batch, &req),
        None => {}
    }

    let now = clock::now_utc();
    let mut ctx = Ctx {
        caller,
        uploads,
        accept,
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
                PushItemKind::Inspection,
                Reject::new(ErrorCode::InvalidItem, e.to_string()),
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
                PushItemKind::Photo,
                Reject::new(ErrorCode::InvalidItem, e.to_string()),
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
                    "inspections": results.iter().filter(|r| r.kind == PushItemKind::Inspection).map(|r| (&r.id, &r.status)).collect::<Vec<_>>(),
                    "photos": results.iter().filter(|r| r.kind == PushItemKind::Photo).map(|r| (&r.id, &r.status)).collect::<Vec<_>>(),
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
    replay::keep(c, &device, &batch, &caller.id, &json, hash)?;
    Ok(json)
}

struct Ctx<'a> {
    caller: &'a Caller,
    uploads: &'a Uploads,
    /// The largest photo and video a batch may announce.
    accept: crate::photos::Accept,
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
    /// Whether the caller may write an existing inspection.
    fn may_write(&self, row: &insp::Row) -> bool {
        self.caller.sees_record(&row.group_id, &row.inspector_id)
    }

    fn held_off(&self, review: ReviewStatus) -> bool {
        review.locked() && self.caller.role == Role::Inspector
    }
}
