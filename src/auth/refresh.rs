//! Refresh tokens: opaque random strings, stored only as SHA-256 hashes,
//! rotated on every use, grouped in families so a stolen token that is
//! reused revokes every token descended from the same login.

use crate::clock;
use crate::db::Conn;
use crate::db::schema::refresh_tokens as rt;
use crate::error::AppResult;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn generate() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = rt)]
struct Row {
    id: String,
    user_id: String,
    family_id: String,
    device_id: Option<String>,
    expires_at: NaiveDateTime,
    used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
    replaced_by: Option<String>,
}

/// Stores a new token and returns `(id, token)`.
pub fn issue(
    c: &mut Conn,
    user_id: &str,
    family_id: Option<&str>,
    device_id: Option<&str>,
    ttl_secs: i64,
) -> AppResult<(String, String)> {
    let id = clock::new_id();
    let token = generate();
    let now = clock::now();
    diesel::insert_into(rt::table)
        .values((
            rt::id.eq(&id),
            rt::user_id.eq(user_id),
            rt::family_id.eq(family_id.unwrap_or(&id)),
            rt::token_hash.eq(hash(&token)),
            rt::device_id.eq(device_id),
            rt::created_at.eq(now),
            rt::expires_at.eq(now + Duration::seconds(ttl_secs)),
        ))
        .execute(c)?;
    Ok((id, token))
}

#[derive(Debug)]
pub enum Rotation {
    /// A fresh token for `user_id`.
    Rotated {
        user_id: String,
        token: String,
    },
    Invalid,
    Expired,
    /// A rotated token came back after its grace: the family is revoked.
    Reused {
        user_id: String,
    },
}

/// Trades `token` for a new one. Must run in the writer's transaction; the
/// caller commits even for `Reused`, so the revocation sticks.
pub fn rotate(c: &mut Conn, token: &str, ttl_secs: i64, grace_secs: i64) -> AppResult<Rotation> {
    let now = clock::now();
    let Some(row) = rt::table
        .filter(rt::token_hash.eq(hash(token)))
        .select(Row::as_select())
        .first(c)
        .optional()?
    else {
        return Ok(Rotation::Invalid);
    };
    if row.revoked_at.is_some() {
        // A token revoked while its family lives on was retired by a grace
        // answer to its predecessor: two holders of one family, one of
        // them a thief. Revoke the family (logout and deactivation revoke
        // it whole, so they stay a plain `Invalid`).
        let live: i64 = rt::table
            .filter(rt::family_id.eq(&row.family_id))
            .filter(rt::revoked_at.is_null())
            .filter(rt::expires_at.gt(now))
            .count()
            .get_result(c)?;
        if live > 0 {
            revoke_family(c, &row.family_id)?;
            return Ok(Rotation::Reused {
                user_id: row.user_id,
            });
        }
        return Ok(Rotation::Invalid);
    }
    if row.expires_at <= now {
        return Ok(Rotation::Expired);
    }
    if let Some(used_at) = row.used_at {
        // Presented again. Within the grace window, and while the successor
        // was never used, the phone just lost our answer: retire the unused
        // successor and answer again. Anything else is theft.
        let successor_unused = match &row.replaced_by {
            Some(next) => rt::table
                .find(next)
                .select((rt::used_at, rt::revoked_at))
                .first::<(Option<NaiveDateTime>, Option<NaiveDateTime>)>(c)
                .optional()?
                .is_some_and(|(u, r)| u.is_none() && r.is_none()),
            None => false,
        };
        if successor_unused && now - used_at <= Duration::seconds(grace_secs) {
            if let Some(next) = &row.replaced_by {
                diesel::update(rt::table.find(next))
                    .set(rt::revoked_at.eq(now))
                    .execute(c)?;
            }
        } else {
            revoke_family(c, &row.family_id)?;
            return Ok(Rotation::Reused {
                user_id: row.user_id,
            });
        }
    }
    let (next_id, next) = issue(
        c,
        &row.user_id,
        Some(&row.family_id),
        row.device_id.as_deref(),
        ttl_secs,
    )?;
    diesel::update(rt::table.find(&row.id))
        .set((
            rt::used_at.eq(row.used_at.unwrap_or(now)),
            rt::replaced_by.eq(next_id),
        ))
        .execute(c)?;
    Ok(Rotation::Rotated {
        user_id: row.user_id,
        token: next,
    })
}

pub fn revoke_family(c: &mut Conn, family_id: &str) -> AppResult<usize> {
    Ok(diesel::update(
        rt::table
            .filter(rt::family_id.eq(family_id))
            .filter(rt::revoked_at.is_null()),
    )
    .set(rt::revoked_at.eq(clock::now()))
    .execute(c)?)
}

/// Logout: the family of this token, if it is one of ours.
pub fn revoke_by_token(c: &mut Conn, token: &str) -> AppResult<Option<String>> {
    let found: Option<(String, String)> = rt::table
        .filter(rt::token_hash.eq(hash(token)))
        .select((rt::family_id, rt::user_id))
        .first(c)
        .optional()?;
    match found {
        Some((family, user)) => {
            revoke_family(c, &family)?;
            Ok(Some(user))
        }
        None => Ok(None),
    }
}

pub fn revoke_user(c: &mut Conn, user_id: &str) -> AppResult<usize> {
    Ok(diesel::update(
        rt::table
            .filter(rt::user_id.eq(user_id))
            .filter(rt::revoked_at.is_null()),
    )
    .set(rt::revoked_at.eq(clock::now()))
    .execute(c)?)
}
