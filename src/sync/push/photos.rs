//! A photo item applied: its metadata merged by field like a record's,
//! its bytes bound to it only when they came for it.

use super::Ctx;
use super::parse;
use super::wire::{ItemFail, ItemResult, PhotoPush, PushItemKind, Reject, done, rejected};
use crate::auth::Caller;
use crate::db::Conn;
use crate::db::schema::photos;
use crate::error::{AppResult, ErrorCode};
use crate::ids::PhotoId;
use crate::inspection::conflicts;
use crate::inspection::merge::{self, Edit, FieldEdit, Record};
use crate::inspection::{self as insp};
use crate::journal::{self, Entity};
use crate::photos::jobs;
use diesel::prelude::*;
use serde_json::json;
use std::collections::HashMap;

impl Ctx<'_> {
    pub(super) fn photo(
        &mut self,
        c: &mut Conn,
        item: PhotoPush,
        missing: &mut Vec<String>,
    ) -> AppResult<ItemResult> {
        let id = PhotoId::new(item.id.to_string());
        match self.apply_photo(c, &id, item) {
            Ok((result, is_missing)) => {
                if is_missing {
                    missing.push(id.into_string());
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
                Ok(rejected(id.into_string(), PushItemKind::Photo, r, current))
            }
            Err(ItemFail::Db(e)) => Err(e),
        }
    }

    /// Returns the item's result and whether the server still lacks the
    /// photo's bytes.
    fn apply_photo(
        &mut self,
        c: &mut Conn,
        id: &PhotoId,
        item: PhotoPush,
    ) -> Result<(ItemResult, bool), ItemFail> {
        if let Some(r) = self.uploads.refused.get(id.as_str()) {
            return Err(Reject {
                code: r.code,
                message: r.message.clone(),
                field: None,
            }
            .into());
        }
        let item = parse::photo(item, &self.accept)?;
        let sha = item.sha256.clone();
        let inspection_id = item.inspection_id.clone();
        let row = insp::find(c, &inspection_id)?
            .filter(|r| self.may_write(r))
            .ok_or_else(|| {
                Reject::field(ErrorCode::NotFound, "inspection_id", "no such inspection")
            })?;

        let old = insp::photo_meta::find(c, id)?;
        if old.as_ref().is_some_and(|p| p.response_id.is_some()) {
            return Err(Reject::new(
                ErrorCode::Immutable,
                "this photo is a department's evidence on a follow-up, not the record's; send a new photo id",
            )
            .into());
        }
        if let Some(p) = &old
            && (p.inspection_id != inspection_id || p.sha256 != sha)
        {
            return Err(Reject::new(
                ErrorCode::Immutable,
                "a photo's inspection and bytes never change; send a new photo id",
            )
            .into());
        }
        let at = |f: &str| item.changed_at.get(f).copied().unwrap_or(self.now);
        let edit = Edit {
            device: self.device.to_string(),
            base_version: item.base_version,
            deleted: item.deleted,
            deleted_at: Some(at(merge::DELETED)),
            fields: [
                ("caption", Some(json!(item.caption))),
                ("taken_at", Some(item.taken_at)),
                ("location", Some(item.location)),
                // Only when the phone says: an older app never sends it,
                // and its pushes must not unlink a photo another phone
                // linked.
                ("item_key", item.item_key),
            ]
            .into_iter()
            .filter_map(|(path, value)| Some((path, value?)))
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
                content_type: &item.content_type,
                kind: item.kind,
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
        if self.uploads.accepted.get(id.as_str()) == Some(&sha) {
            jobs::bytes_arrived(c, id)?;
        }
        if old.is_none() || moved {
            // (Not `created`: the bytes' arrival above may have logged it.)
            journal::record_changed(c, Entity::Photo, id, &tag, false)?;
            // The record's view carries its photos.
            journal::record_changed(c, Entity::Inspection, &row.id, &tag, false)?;
        }
        // Bytes are wanted for every photo not itself deleted, even on a
        // deleted record: an override may bring it back.
        let is_missing = insp::photo_meta::status(c, id)? == insp::PhotoStatus::Missing
            && !merged.record.deleted;
        // A photo lives and dies with its record: the answer says so.
        merged.record.deleted |= row.deleted;
        Ok((
            done(id.to_string(), PushItemKind::Photo, merged, notes),
            is_missing,
        ))
    }
}

/// The sha256 of photos already known, by id (for bytes that come after
/// their metadata), of the photos the caller may write: the hash of a photo
/// out of scope is never shown, even in a refusal.
pub fn photo_hashes(
    c: &mut Conn,
    caller: &Caller,
    ids: &[String],
) -> AppResult<HashMap<String, crate::photos::Want>> {
    use crate::db::schema::inspections;
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, String, String, String)> = photos::table
            .inner_join(inspections::table)
            .filter(photos::id.eq_any(chunk))
            .select((
                photos::id,
                photos::sha256,
                photos::kind,
                inspections::group_id,
                inspections::inspector_id,
            ))
            .load(c)?;
        out.extend(
            rows.into_iter()
                .filter(|(_, _, _, g, o)| caller.sees_record(g, o))
                .map(|(id, sha, kind, _, _)| {
                    let video = kind == crate::photos::PhotoKind::Video.as_str();
                    (id, crate::photos::Want { sha, video })
                }),
        );
    }
    Ok(out)
}
