//! The one check of a user name and password, for the API's login and the
//! pages' alike: the limiter (per name and per address), the password
//! hashed off the executor (a dummy hash for an unknown name, so the time
//! taken says nothing), an inactive user refused like a wrong password, a
//! failure audited.

use super::password;
use super::ratelimit::LoginLimiter;
use crate::db::Db;
use crate::db::schema::users;
use crate::error::AppResult;
use crate::journal::{self, Audit};
use diesel::prelude::*;
use serde_json::json;

pub struct Attempt {
    pub username: String,
    pub password: String,
    /// The peer address, not X-Forwarded-For: a header anybody can set must
    /// not decide whose attempts are counted.
    pub ip: String,
}

/// The user's id when the name and password are right and the user is
/// active; `None` otherwise (audited as `failed_action`). An attempt over
/// the limits is an error (429) before anything is read.
pub async fn check(
    db: &Db,
    limiter: &LoginLimiter,
    attempt: Attempt,
    failed_action: &'static str,
) -> AppResult<Option<String>> {
    limiter.check(&attempt.username, &attempt.ip)?;
    let name = attempt.username.clone();
    let user: Option<(String, String, bool)> = db
        .read(move |c| {
            Ok(users::table
                .filter(users::username.eq(&name))
                .select((users::id, users::password_hash, users::active))
                .first(c)
                .optional()?)
        })
        .await?;
    let pw = attempt.password;
    let stored = user.as_ref().map(|u| u.1.clone());
    let ok = actix_web::web::block(move || match stored {
        Some(hash) => password::verify(&pw, &hash),
        None => {
            password::verify_dummy(&pw);
            false
        }
    })
    .await?;
    match user {
        Some((id, _, active)) if ok && active => Ok(Some(id)),
        other => {
            let uid = other.map(|u| u.0);
            let (name, ip) = (attempt.username, attempt.ip);
            db.write(move |c| {
                journal::audit(
                    c,
                    Audit {
                        actor_id: uid.as_deref(),
                        action: failed_action,
                        object_type: "user",
                        object_id: uid.as_deref(),
                        details: json!({ "username": name, "ip": ip }),
                    },
                )
            })
            .await?;
            Ok(None)
        }
    }
}
