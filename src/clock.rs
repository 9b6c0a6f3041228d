//! Time and ids, in one place so every table agrees on them.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// Now, in UTC, at microsecond precision (what the database keeps).
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// [`now`] as a UTC time: every time the server makes is at the precision
/// both databases keep, so what it compares after a round trip is equal.
pub fn now_utc() -> DateTime<Utc> {
    now().and_utc()
}

/// Whether two times are the same instant as a database column keeps it
/// (PostgreSQL: microseconds): a phone's time may carry nanoseconds that
/// its copy in a column lost.
pub fn same_instant(a: NaiveDateTime, b: NaiveDateTime) -> bool {
    a.trunc_subsecs(6) == b.trunc_subsecs(6)
}

/// A UTC time as whole minutes since 1970 (what `inspections.created_minute`
/// keeps: the dashboard's days and weeks are arithmetic on it).
pub fn minute(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp().div_euclid(60)
}

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A new server-made id: UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The district's UTC offset (China: +08:00), set once at start from
/// `FIELDSYNC_EXIF_DEFAULT_OFFSET`: what a date without a time means.
static DISTRICT_OFFSET: std::sync::OnceLock<chrono::FixedOffset> = std::sync::OnceLock::new();

pub fn set_district_offset(offset: chrono::FixedOffset) {
    let _ = DISTRICT_OFFSET.set(offset);
}

pub fn district_offset() -> chrono::FixedOffset {
    *DISTRICT_OFFSET.get_or_init(|| chrono::FixedOffset::east_opt(8 * 3600).unwrap_or(Utc.fix()))
}

use chrono::{NaiveDate, Offset, TimeZone};

/// Today's date in the district. Debug builds read
/// `FIELDSYNC_TEST_TODAY` (`yyyy-mm-dd`) instead, so a test can restart the
/// server on a later day (schedules reach across a month boundary).
pub fn today() -> NaiveDate {
    #[cfg(debug_assertions)]
    if let Some(d) = std::env::var("FIELDSYNC_TEST_TODAY")
        .ok()
        .and_then(|v| NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok())
    {
        return d;
    }
    Utc::now().with_timezone(&district_offset()).date_naive()
}

/// A time for a sheet people read (a CSV export): RFC 3339 with the
/// district's offset (`2026-11-20T10:13:00+08:00`), the same instant a
/// program reads and the wall-clock time a person expects.
pub fn for_reading(t: DateTime<Utc>) -> String {
    t.with_timezone(&district_offset()).to_rfc3339()
}

/// The last instant of a district day, in UTC (a route's default due time).
pub fn end_of_day(d: NaiveDate) -> DateTime<Utc> {
    Bound::Day(d).end() - chrono::Duration::seconds(1)
}

/// A `from` or `to` of a query: an RFC 3339 time, or a date
/// (`2026-11-20`), which means that whole day in the district's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

impl Bound {
    pub fn parse(s: &str) -> Option<Bound> {
        let s = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(Bound::At(t.with_timezone(&Utc)));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(Bound::Day)
    }

    fn midnight(d: NaiveDate) -> DateTime<Utc> {
        let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        district_offset()
            .from_local_datetime(&local)
            .single()
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// As a lower bound (`from`, inclusive): the day's first instant.
    pub fn start(self) -> DateTime<Utc> {
        match self {
            Bound::At(t) => t,
            Bound::Day(d) => Self::midnight(d),
        }
    }

    /// As an upper bound (`to`, exclusive): the instant after the day.
    pub fn end(self) -> DateTime<Utc> {
        match self {
            Bound::At(t) => t,
            Bound::Day(d) => Self::midnight(d.succ_opt().unwrap_or(d)),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Bound {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bound, D::Error> {
        let s = String::deserialize(d)?;
        Bound::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is neither a date (2026-11-20) nor an RFC 3339 time (2026-11-20T08:00:00Z)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_a_whole_day_in_the_district() {
        let d = Bound::parse("2026-11-20").unwrap();
        assert_eq!(d.start().to_rfc3339(), "2026-11-19T16:00:00+00:00");
        assert_eq!(d.end().to_rfc3339(), "2026-11-20T16:00:00+00:00");
        let t = Bound::parse("2026-11-20T02:00:00Z").unwrap();
        assert_eq!(t.start(), t.end());
        assert!(Bound::parse("yesterday").is_none());
        assert!(Bound::parse("2026-13-01").is_none());
    }
}
