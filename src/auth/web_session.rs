//! The pages' sessions as stored: the hash of the cookie's token, the
//! user's token stamp and role when it began (a password change, a
//! deactivation or a new role ends it), its CSRF token, its expiry.

use super::refresh;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{users, web_sessions as ws};
use crate::error::AppResult;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use diesel::prelude::*;

/// How long a session lasts.
pub const HOURS: i64 = 12;

fn token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Starts a session; returns the cookie token.
pub fn start(c: &mut Conn, user_id: &str) -> AppResult<String> {
    let t = token();
    let now = clock::now();
    // The session holds while the user's token stamp (bumped by a password
    // change or a deactivation) and role stay what they are now.
    let (stamp, role): (i64, String) = users::table
        .find(user_id)
        .select((users::token_stamp, users::role))
        .first(c)?;
    diesel::insert_into(ws::table)
        .values((
            ws::token_hash.eq(refresh::hash(&t)),
            ws::user_id.eq(user_id),
            ws::token_stamp.eq(stamp),
            ws::role.eq(role),
            ws::csrf.eq(token()),
            ws::created_at.eq(now),
            ws::expires_at.eq(now + Duration::hours(HOURS)),
        ))
        .execute(c)?;
    Ok(t)
}

pub fn end(c: &mut Conn, token: &str) -> AppResult<()> {
    diesel::delete(ws::table.find(refresh::hash(token))).execute(c)?;
    Ok(())
}

/// The session's user as stored now: (id, username, display name, role,
/// group, active, CSRF token); `None` when the token is unknown, expired,
/// or its user's stamp or role moved since it began.
#[allow(clippy::type_complexity)]
/// A live session's user: id, username, display name, role, group,
/// department, active, CSRF token.
pub type SessionRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    bool,
    String,
);

pub fn find(c: &mut Conn, token: &str) -> AppResult<Option<SessionRow>> {
    Ok(ws::table
        .inner_join(users::table)
        .filter(ws::token_hash.eq(refresh::hash(token)))
        .filter(ws::expires_at.gt(clock::now()))
        .filter(ws::token_stamp.eq(users::token_stamp))
        .filter(ws::role.eq(users::role))
        .select((
            users::id,
            users::username,
            users::display_name,
            users::role,
            users::group_id,
            users::department_id,
            users::active,
            ws::csrf,
        ))
        .first(c)
        .optional()?)
}
