//! A department's responses to a follow-up: a note, perhaps a status
//! (`in_progress`, `resolved`), and evidence as photos or videos that go
//! through the same machinery as any photo (bytes checked and stored,
//! variants made, signed URLs). Idempotent by the response's id: a
//! department's phone on a bad line may send the same answer twice.

use super::followups::{self, Acting, Entry, Event, Response, Status};
use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{followup_responses as fr, followups as fu, photos};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection::merge::{Fields, Record};
use crate::inspection::{self as insp, photo_meta};
use crate::journal::{self, Audit};
use crate::outbox::EventKind;
use crate::photos::jobs;
use crate::photos::upload::Uploads;
use crate::photos::urls::Signer;
use crate::reference::validate;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// At most this many photos and videos in one response.
pub const MAX_MEDIA: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResponse {
    /// Makes the response idempotent: sent again, it is stored once.
    /// Without one the server names it (and a resend makes another).
    pub id: Option<uuid::Uuid>,
    #[serde(default)]
    pub note: String,
    /// Where the work stands now: `in_progress` or `resolved`.
    pub status: Option<Status>,
    #[serde(default)]
    pub media: Vec<MediaIn>,
}

/// A photo or video of a response: its metadata here, its bytes in a
/// `photo:<id>` part of the same request or by the resumable upload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaIn {
    pub id: uuid::Uuid,
    pub sha256: String,
    pub bytes: i64,
    pub content_type: String,
    #[serde(default)]
    pub caption: String,
    pub taken_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<Object>)]
    pub location: Option<Value>,
}

/// The answer to a response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Answered {
    pub response: Response,
    /// The follow-up as it stands after it.
    pub followup: followups::Followup,
    /// Media whose bytes the server still lacks: upload them (tus, or
    /// this request again as multipart).
    pub media_missing: Vec<String>,
    /// True when this id was answered before: nothing changed.
    pub replayed: bool,
}

/// What identifies a response's content (canonical JSON, keys sorted).
fn content_hash(r: &NewResponse) -> AppResult<String> {
    let v = serde_json::to_value(r)?;
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(&v)?)))
}

/// Records a response: `uploads` are the bytes that came with it (a
/// multipart request), already checked and stored.
pub fn respond(
    c: &mut Conn,
    caller: &Caller,
    followup_id: &str,
    input: NewResponse,
    uploads: &Uploads,
    accept: &crate::photos::Accept,
    signer: &Signer,
) -> AppResult<Answered> {
    let row = followups::find(c, caller, followup_id)?;
    let acting = Acting::of(caller, &row);
    if acting == Acting::Reader {
        return Err(AppError::forbidden(
            "only the follow-up's department or its coordinator responds to it",
        ));
    }
    let hash = content_hash(&input)?;
    let id = input
        .id
        .map(|u| u.to_string())
        .unwrap_or_else(clock::new_id);
    // A replay: the stored answer, nothing changed.
    let old: Option<(String, String)> = fr::table
        .find(&id)
        .select((fr::followup_id, fr::content_hash))
        .first(c)
        .optional()?;
    if let Some((old_followup, old_hash)) = old {
        if old_followup != followup_id || old_hash != hash {
            return Err(AppError::conflict(
                ErrorCode::Immutable,
                "this response id was used for another response; send a new id",
            ));
        }
        return answer(c, caller, &old_followup, &id, signer, true);
    }
    let note = validate::optional_text("note", &input.note, 2000)?;
    if input.media.len() > MAX_MEDIA {
        return Err(AppError::invalid(
            "media",
            format!("at most {MAX_MEDIA} photos or videos in one response"),
        ));
    }
    if note.is_empty() && input.media.is_empty() && input.status.is_none() {
        return Err(AppError::invalid(
            "note",
            "a response says something: a note, a status or a photo",
        ));
    }
    let from = Status::parse(&row.status)?;
    if from == Status::Verified {
        return Err(AppError::conflict(
            ErrorCode::InvalidTransition,
            "this follow-up is verified and closed; ask its coordinator to open a new one",
        ));
    }
    if let Some(to) = input.status {
        let allowed = match acting {
            // The coordinator answering for the department moves it as the
            // department would; verifying is a PATCH of its own.
            Acting::Coordinator | Acting::Department => {
                Acting::Department.may_move(from, to) || from == to
            }
            Acting::Reader => false,
        };
        if !allowed {
            return Err(AppError::invalid(
                "status",
                format!(
                    "a response moves a follow-up to in_progress or resolved, not {} to {}",
                    from.as_str(),
                    to.as_str()
                ),
            ));
        }
    }
    // The media first checked, all of them, before anything is written.
    let media: Vec<(String, &MediaIn, photo_meta::Described)> = input
        .media
        .iter()
        .map(|m| {
            let d = photo_meta::check_description(
                &m.sha256,
                m.bytes,
                &m.content_type,
                &m.caption,
                m.location.clone(),
                accept,
            )
            .map_err(|(field, _, message)| AppError::invalid(&format!("media.{field}"), message))?;
            Ok((m.id.to_string(), m, d))
        })
        .collect::<AppResult<_>>()?;
    for (mid, _, _) in &media {
        if photo_meta::find(c, mid)?.is_some() {
            return Err(AppError::conflict(
                ErrorCode::Immutable,
                format!("media {mid} already exists; send a new id"),
            ));
        }
        if let Some(r) = uploads.refused.get(mid) {
            return Err(AppError::new(
                actix_web::http::StatusCode::from_u16(r.status)
                    .unwrap_or(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY),
                r.code,
                format!("media {mid}: {}", r.message),
            ));
        }
    }
    let now = clock::now();
    diesel::insert_into(fr::table)
        .values((
            fr::id.eq(&id),
            fr::followup_id.eq(followup_id),
            fr::note.eq(&note),
            fr::status.eq(input.status.map(Status::as_str)),
            fr::by_id.eq(&caller.id),
            fr::department_id.eq(&row.department_id),
            fr::content_hash.eq(&hash),
            fr::at.eq(now),
        ))
        .execute(c)?;
    for (mid, m, item) in &media {
        let mut fields = Fields::new();
        fields.insert("caption".into(), json!(item.caption));
        fields.insert(
            "taken_at".into(),
            m.taken_at
                .map_or(Value::Null, |t| json!(clock::utc(t.naive_utc()))),
        );
        fields.insert("location".into(), item.location.clone());
        let rec = Record {
            version: 1,
            deleted: false,
            fields,
            meta: Default::default(),
        };
        let new = photo_meta::New {
            inspection_id: &row.inspection_id,
            sha256: &item.sha256,
            bytes: m.bytes,
            content_type: &item.content_type,
            kind: crate::photos::PhotoKind::of(crate::photos::PhotoKind::Photo, &item.content_type)
                .unwrap_or_default(),
        };
        photo_meta::save(c, mid, Some(&new), &rec)?;
        diesel::update(photos::table.find(mid))
            .set(photos::response_id.eq(&id))
            .execute(c)?;
        if uploads.accepted.get(mid.as_str()) == Some(&item.sha256) {
            jobs::bytes_arrived(c, mid)?;
        }
    }
    if let Some(to) = input.status
        && to != from
    {
        diesel::update(fu::table.find(followup_id))
            .set((fu::status.eq(to.as_str()), fu::updated_at.eq(now)))
            .execute(c)?;
        followups::history(
            c,
            Entry {
                followup_id,
                event: Event::Response,
                status: to,
                note: &note,
                by: &caller.id,
                department: None,
            },
        )?;
    } else {
        diesel::update(fu::table.find(followup_id))
            .set(fu::updated_at.eq(now))
            .execute(c)?;
    }
    followups::changed(c, &row)?;
    followups::announce(c, followup_id, EventKind::FollowupResponse, &note)?;
    if input.status == Some(Status::Resolved) && from != Status::Resolved {
        followups::announce(c, followup_id, EventKind::FollowupResolved, &note)?;
    }
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "followup.response",
            object_type: "followup",
            object_id: Some(followup_id),
            details: json!({ "response_id": id, "status": input.status, "media": media.len() }),
        },
    )?;
    answer(c, caller, followup_id, &id, signer, false)
}

fn answer(
    c: &mut Conn,
    caller: &Caller,
    followup_id: &str,
    id: &str,
    signer: &Signer,
    replayed: bool,
) -> AppResult<Answered> {
    let followup = followups::get(c, caller, followup_id, signer)?;
    let response = followup
        .responses
        .iter()
        .find(|r| r.id == id)
        .cloned()
        .ok_or_else(|| AppError::internal("a stored response is missing"))?;
    let media_missing = response
        .media
        .iter()
        .filter(|m| m.status == insp::PhotoStatus::Missing)
        .map(|m| m.id.clone())
        .collect();
    Ok(Answered {
        response,
        followup,
        media_missing,
        replayed,
    })
}
