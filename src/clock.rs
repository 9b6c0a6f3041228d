//! Time and ids, in one place so every table agrees on them.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// Now, in UTC, at microsecond precision (what the database keeps).
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A new server-made id: UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
