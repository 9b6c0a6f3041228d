//! `GET /api/v1/sync/pull`: what changed in the caller's scope since their
//! cursor, each object once at its latest state, in commit order.
//!
//! The change log holds one row per object (its latest change, under a
//! sequence number that only grows and is taken in the change's own write
//! transaction, so sequence order is commit order), and a page is read in
//! one read transaction: the caller's scope and every range of the page
//! come from one snapshot. A change committed while a device pulls is in
//! this page or a later one, never skipped; nothing is repeated unless it
//! changed again. `docs/DECISIONS.md` says how this carries over to
//! several servers on PostgreSQL.

use crate::auth::{Caller, Role, Scope};
use crate::db::Conn;
use crate::db::schema::{change_log as cl, users};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::inspection::RecordScope;
use crate::inspection::conflicts::{self, Conflict};
use crate::inspection::reviews::{self, Review};
use crate::inspection::{self as insp, Inspection, Photo};
use crate::journal::Entity;
use crate::photos::urls::Signer;
use crate::reference::groups::{self, Group};
use crate::reference::routes::{self, Route};
use crate::reference::sites::{self, Site};
use crate::reference::templates::{self, Template};
use crate::review::followups::{self, Followup};
use crate::sync::window;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: i64 = 500;
pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// The `cursor` of the previous answer; none means from the start.
    pub cursor: Option<String>,
    /// Objects per answer (default 500, max 1000).
    pub limit: Option<i64>,
    /// The pulling phone, recorded as its last pull (and refused, 409, when
    /// another user's).
    pub device_id: Option<uuid::Uuid>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Changes {
    pub groups: Vec<Group>,
    pub sites: Vec<Site>,
    pub templates: Vec<Template>,
    pub routes: Vec<Route>,
    pub inspections: Vec<Inspection>,
    pub photos: Vec<Photo>,
    pub reviews: Vec<Review>,
    pub followups: Vec<Followup>,
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub inspections: Vec<String>,
    pub routes: Vec<String>,
    pub photos: Vec<String>,
    /// Sites removed by an admin.
    pub sites: Vec<String>,
    /// Checklists retired by an admin (versions already held stay valid).
    pub templates: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PullResponse {
    pub cursor: String,
    pub has_more: bool,
    pub reset: bool,
    pub changes: Changes,
    pub deleted: Deleted,
}

/// Where a caller is in the log, and in which scope they got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub seq: i64,
    pub epoch: i64,
    pub user_id: String,
    /// The history window's start when the cursor was made (Unix seconds),
    /// or None when the district keeps no window (`sync::window`).
    pub window: Option<i64>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let window = self.window.map_or("-".to_string(), |w| w.to_string());
        crate::paging::seal(
            "p2.",
            &[
                &self.seq.to_string(),
                &self.epoch.to_string(),
                &window,
                &self.user_id,
            ],
        )
    }

    pub fn decode(s: &str) -> AppResult<Cursor> {
        let bad = || {
            AppError::bad_request(
                ErrorCode::InvalidCursor,
                "the cursor is not one this server made",
            )
        };
        // A cursor made before the window existed ("p1.") still reads: it
        // holds no window, which a district keeping one answers with a
        // reset.
        if let Ok(parts) = crate::paging::open(s, "p1.", 3) {
            return Ok(Cursor {
                seq: parts[0].parse().map_err(|_| bad())?,
                epoch: parts[1].parse().map_err(|_| bad())?,
                user_id: parts[2].clone(),
                window: None,
            });
        }
        let parts = crate::paging::open(s, "p2.", 4)?;
        Ok(Cursor {
            seq: parts[0].parse().map_err(|_| bad())?,
            epoch: parts[1].parse().map_err(|_| bad())?,
            window: match parts[2].as_str() {
                "-" => None,
                w => Some(w.parse().map_err(|_| bad())?),
            },
            user_id: parts[3].clone(),
        })
    }
}

/// Reference data: seen by group (None: district-wide).
const REFERENCE: [Entity; 4] = [Entity::Group, Entity::Site, Entity::Template, Entity::Route];
/// Inspection records and what hangs off them: seen by [`RecordScope`].
const RECORDS: [Entity; 5] = [
    Entity::Inspection,
    Entity::Photo,
    Entity::Conflict,
    Entity::Review,
    Entity::Followup,
];

/// One range of the change log: entries of one kind for one group (None:
/// district-wide), or of one owner.
enum Range<'a> {
    Group(Option<&'a str>, Entity),
    Owner(&'a str),
}

/// The next `n` log entries after `from` in the caller's scope, as
/// `(seq, entity, id)`. Each range of the scope is read on its own, in seq
/// order from an index, and the ranges are merged: a page costs the same
/// on a log of a thousand entries or of millions.
fn entries(
    c: &mut Conn,
    caller: &Caller,
    from: i64,
    n: i64,
) -> AppResult<Vec<(i64, String, String)>> {
    let reference = caller.scope();
    let records = RecordScope::of(caller);
    if reference == Scope::All && records == RecordScope::All {
        return Ok(cl::table
            .filter(cl::seq.gt(from))
            .order(cl::seq)
            .limit(n)
            .select((cl::seq, cl::entity, cl::entity_id))
            .load(c)?);
    }
    let mut ranges: Vec<Range> = Vec::new();
    if let Scope::Group(g) = &reference {
        for e in REFERENCE {
            ranges.push(Range::Group(Some(g.as_str()), e));
            ranges.push(Range::Group(None, e));
        }
    }
    match &records {
        RecordScope::Owner(o) => ranges.push(Range::Owner(o.as_str())),
        RecordScope::Group(g) => {
            for e in RECORDS {
                ranges.push(Range::Group(Some(g.as_str()), e));
            }
        }
        // Only with a district-wide reference scope, handled above.
        RecordScope::All => {}
        // A responder's phone pulls no records: their department's
        // follow-ups are read live (`/dept`, `GET /followups`).
        RecordScope::Nothing => {}
    }
    let mut out: Vec<(i64, String, String)> = Vec::new();
    for r in ranges {
        let q = cl::table
            .filter(cl::seq.gt(from))
            .select((cl::seq, cl::entity, cl::entity_id))
            .order(cl::seq)
            .limit(n)
            .into_boxed();
        let q = match r {
            Range::Group(Some(g), e) => q
                .filter(cl::group_id.eq(g))
                .filter(cl::entity.eq(e.as_str())),
            Range::Group(None, e) => q
                .filter(cl::group_id.is_null())
                .filter(cl::entity.eq(e.as_str())),
            Range::Owner(u) => q.filter(cl::owner_id.eq(u)),
        };
        out.extend(q.load::<(i64, String, String)>(c)?);
    }
    out.sort_unstable_by_key(|r| r.0);
    out.dedup_by_key(|r| r.0);
    out.truncate(n as usize);
    Ok(out)
}

pub fn pull(
    c: &mut Conn,
    caller: &Caller,
    q: &PullQuery,
    signer: &Signer,
    history_days: u32,
) -> AppResult<PullResponse> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    // The caller's role, group and scope epoch as of this page's snapshot,
    // not as of the request's start: a move to another group that commits
    // in between must not pair the new epoch with the old group's ranges.
    let (role, group_id, epoch, active): (String, Option<String>, i64, bool) = users::table
        .find(&caller.id)
        .select((
            users::role,
            users::group_id,
            users::scope_epoch,
            users::active,
        ))
        .first(c)?;
    let role = Role::parse(&role).filter(|_| active).ok_or_else(|| {
        AppError::unauthorized(
            ErrorCode::InvalidToken,
            "the access token is no longer valid",
        )
    })?;
    let caller = &Caller {
        role,
        group_id: group_id.map(crate::ids::GroupId::new),
        ..caller.clone()
    };
    let given = q
        .cursor
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(Cursor::decode)
        .transpose()?;
    let cutoff = window::cutoff(history_days, crate::clock::now());
    // A cursor made for another user, in a scope the user has since lost,
    // or with the history window switched on or off since, no longer
    // holds: start over.
    let (from, reset, held_from) = match &given {
        Some(cur)
            if cur.user_id == caller.id
                && cur.epoch == epoch
                && cur.window.is_some() == cutoff.is_some() =>
        {
            (cur.seq, false, cur.window)
        }
        Some(_) => (0, true, None),
        None => (0, false, None),
    };

    // Entries of records past the window are skipped; a page is filled
    // from further on (within a bound), so a phone of a group with years
    // of closed records does not pull a hundred empty pages.
    let mut rows: Vec<(i64, String, String)> = Vec::new();
    let mut last = from;
    let mut has_more = false;
    for _ in 0..WINDOW_SCAN_PAGES {
        let want = limit - rows.len() as i64;
        let mut got = entries(c, caller, last, want + 1)?;
        has_more = got.len() as i64 > want;
        got.truncate(want as usize);
        let Some(end) = got.last().map(|r| r.0) else {
            break;
        };
        last = end;
        if let Some(cut) = cutoff {
            skip_aged(c, &mut got, cut)?;
        }
        rows.extend(got);
        if !has_more || rows.len() as i64 >= limit || cutoff.is_none() {
            break;
        }
    }

    let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, entity, id) in &rows {
        ids.entry(entity.as_str()).or_default().push(id.clone());
    }
    if cutoff.is_some() {
        // A follow-up travels with its record: one opened on a record the
        // phone let go of (past the window) brings the record back.
        let with_records = window::records_of_open_followups(
            c,
            ids.get(Entity::Followup.as_str())
                .map_or(&[][..], Vec::as_slice),
        )?;
        let list = ids.entry(Entity::Inspection.as_str()).or_default();
        for id in with_records {
            if !list.contains(&id) {
                list.push(id);
            }
        }
    }
    let (changes, mut deleted) = load(c, caller, &ids, signer)?;
    // What this phone holds that has passed out of the window since its
    // last pull leaves it.
    if let (Some(cut), Some(held)) = (cutoff, held_from) {
        let since = chrono::DateTime::from_timestamp(held, 0)
            .map(|t| t.naive_utc())
            .unwrap_or(cut);
        let (records, photos) = window::passed_out(c, &RecordScope::of(caller), since, cut)?;
        deleted.inspections.extend(records);
        deleted.photos.extend(photos);
    }
    Ok(PullResponse {
        cursor: Cursor {
            seq: last,
            epoch,
            user_id: caller.id.to_string(),
            window: cutoff.map(|t| t.and_utc().timestamp()),
        }
        .encode(),
        has_more,
        reset,
        changes,
        deleted,
    })
}

/// Pages of the log a pull reads at most to fill one page when the history
/// window skips entries.
const WINDOW_SCAN_PAGES: usize = 20;

/// Drops the entries of records past the window (the record itself, its
/// photos, reviews and conflicts; follow-ups stay).
fn skip_aged(
    c: &mut Conn,
    rows: &mut Vec<(i64, String, String)>,
    cutoff: chrono::NaiveDateTime,
) -> AppResult<()> {
    use crate::db::schema::{conflicts as cf, photos as ph, reviews as rv};
    let of = |e: Entity| -> Vec<String> {
        rows.iter()
            .filter(|r| r.1 == e.as_str())
            .map(|r| r.2.clone())
            .collect()
    };
    // Each entry's record.
    let mut record_of: std::collections::HashMap<String, String> = of(Entity::Inspection)
        .into_iter()
        .map(|id| (id.clone(), id))
        .collect();
    for chunk in of(Entity::Photo).chunks(500) {
        let pairs: Vec<(String, String)> = ph::table
            .filter(ph::id.eq_any(chunk))
            .select((ph::id, ph::inspection_id))
            .load(c)?;
        record_of.extend(pairs);
    }
    for chunk in of(Entity::Review).chunks(500) {
        let pairs: Vec<(String, String)> = rv::table
            .filter(rv::id.eq_any(chunk))
            .select((rv::id, rv::inspection_id))
            .load(c)?;
        record_of.extend(pairs);
    }
    for chunk in of(Entity::Conflict).chunks(500) {
        let pairs: Vec<(String, String)> = cf::table
            .filter(cf::id.eq_any(chunk))
            .select((cf::id, cf::inspection_id))
            .load(c)?;
        record_of.extend(pairs);
    }
    let mut records: Vec<String> = record_of.values().cloned().collect();
    records.sort();
    records.dedup();
    let aged = window::aged(c, &records, cutoff)?;
    if aged.is_empty() {
        return Ok(());
    }
    rows.retain(|r| {
        let windowed = [
            Entity::Inspection,
            Entity::Photo,
            Entity::Review,
            Entity::Conflict,
        ]
        .iter()
        .any(|e| e.as_str() == r.1);
        !(windowed && record_of.get(&r.2).is_some_and(|rec| aged.contains(rec)))
    });
    Ok(())
}

/// Loads each kind of object with one query, keeping the log's order.
fn load(
    c: &mut Conn,
    caller: &Caller,
    ids: &BTreeMap<&str, Vec<String>>,
    signer: &Signer,
) -> AppResult<(Changes, Deleted)> {
    let mut ch = Changes::default();
    let mut del = Deleted::default();
    for (entity, list) in ids {
        let Some(kind) = Entity::parse(entity) else {
            continue;
        };
        match kind {
            Entity::Group => ch.groups = in_order(groups::by_ids(c, list)?, list, |g| &g.id),
            Entity::Site => {
                for s in in_order(sites::rows_by_ids(c, list)?, list, |s| &s.id) {
                    if s.deleted {
                        del.sites.push(s.id);
                    } else {
                        ch.sites.push(s.view());
                    }
                }
            }
            Entity::Template => {
                for (t, retired) in in_order(templates::current_by_ids(c, list)?, list, |t| &t.0.id)
                {
                    if retired {
                        del.templates.push(t.id);
                    } else {
                        ch.templates.push(t);
                    }
                }
            }
            Entity::Route => {
                let (live, gone) = routes::for_pull(c, caller, list)?;
                ch.routes = in_order(live, list, |r| &r.id);
                del.routes = gone;
            }
            Entity::Inspection => {
                let rows = insp::by_ids(c, list)?;
                let (gone, live): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.deleted);
                del.inspections = in_order(gone, list, |r| &r.id)
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                ch.inspections = in_order(insp::views(c, live, signer)?, list, |i| &i.id);
            }
            Entity::Photo => {
                for p in in_order(insp::photo_views(c, list, signer)?, list, |p| &p.id) {
                    if p.response_id.is_some() {
                        // A response's evidence travels in its follow-up.
                        continue;
                    }
                    if p.deleted {
                        del.photos.push(p.id);
                    } else {
                        ch.photos.push(p);
                    }
                }
            }
            Entity::Conflict => {
                ch.conflicts = in_order(conflicts::by_ids(c, list)?, list, |x| &x.id)
            }
            Entity::Review => ch.reviews = in_order(reviews::by_ids(c, list)?, list, |x| &x.id),
            Entity::Followup => {
                ch.followups = in_order(followups::by_ids(c, list, signer)?, list, |x| &x.id)
            }
        }
    }
    Ok((ch, del))
}

/// Sorts `items` into the order of `ids` (the log's commit order).
fn in_order<T>(mut items: Vec<T>, ids: &[String], id: impl Fn(&T) -> &String) -> Vec<T> {
    let pos: std::collections::HashMap<&String, usize> =
        ids.iter().enumerate().map(|(i, s)| (s, i)).collect();
    items.sort_by_key(|t| pos.get(id(t)).copied().unwrap_or(usize::MAX));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        for window in [None, Some(1_780_000_000)] {
            let c = Cursor {
                seq: 42,
                epoch: 3,
                user_id: "01a2-uuid".into(),
                window,
            };
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
        // A cursor from before the window still reads, as one without it.
        let old = Cursor::decode(&URL_SAFE_NO_PAD.encode("p1.42.3.u.v")).unwrap();
        assert_eq!(
            (old.seq, old.epoch, old.user_id.as_str(), old.window),
            (42, 3, "u.v", None)
        );
        assert!(Cursor::decode("!!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("p1.x.1.u")).is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("p2.1.1.u")).is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("p2.1.1.x.u")).is_err());
    }
}
