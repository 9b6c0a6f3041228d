//! What a record's checklist says failed, kept with the record as it is
//! written (`inspections.failed`: space-separated answer paths, empty for
//! none, null for not judged yet): the dashboard counts failed items by
//! site kind over years of records without judging each checklist on
//! every read. Records written before the column existed are judged by
//! the housekeeping job `failures` ([`backfill`]).
//!
//! The rule is the checklist's own (`checklist::checks`); this module only
//! keeps its answer. A checklist version never changes once saved, so its
//! items are read once per process.

use super::checklist;
use super::merge::Fields;
use crate::db::Conn;
use crate::db::schema::inspections;
use crate::error::AppResult;
use crate::reference::templates::{self, Item};
use diesel::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

type Versions = Mutex<HashMap<(String, i32), Arc<Vec<Item>>>>;

/// Checklist versions read so far (immutable once saved).
fn versions() -> &'static Versions {
    static V: OnceLock<Versions> = OnceLock::new();
    V.get_or_init(Default::default)
}

fn items(c: &mut Conn, template: &str, version: i32) -> AppResult<Arc<Vec<Item>>> {
    let key = (template.to_string(), version);
    if let Some(i) = versions().lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(i);
    }
    let items = Arc::new(templates::version_items(c, template, version)?.unwrap_or_default());
    if let Ok(mut m) = versions().lock() {
        // A bound on what a process keeps: versions are few, but a
        // district that saves hundreds is not held forever.
        if m.len() > 1000 {
            m.clear();
        }
        m.insert(key, items.clone());
    }
    Ok(items)
}

/// The failed answer paths of `fields` against a checklist version.
pub fn failed_of(
    c: &mut Conn,
    template: &str,
    version: i32,
    fields: &Fields,
) -> AppResult<Vec<String>> {
    let items = items(c, template, version)?;
    if items.is_empty() {
        return Ok(vec![]);
    }
    // Photos do not make an answer fail (they make it incomplete).
    Ok(checklist::checks(&items, fields, &HashSet::new()).failed)
}

/// The label of the item at an answer path in a checklist version.
pub fn label_of(
    c: &mut Conn,
    template: &str,
    version: i32,
    path: &str,
) -> AppResult<Option<String>> {
    let items = items(c, template, version)?;
    Ok(templates::item_at(&items, path).map(|i| i.label.clone()))
}

/// What a record's column keeps: the paths, space-separated.
pub fn column(failed: &[String]) -> String {
    failed.join(" ")
}

/// Judges up to `limit` records with a checklist that were never judged
/// (written before the column existed); answers how many. Idempotent, and
/// safe with several servers (a record judged twice is written the same;
/// a record written meanwhile was judged by its write).
pub fn backfill(c: &mut Conn, limit: i64) -> AppResult<u64> {
    let rows: Vec<(String, String, i32, String)> = inspections::table
        .filter(inspections::failed.is_null())
        .filter(inspections::template_id.is_not_null())
        .filter(inspections::template_version.is_not_null())
        .select((
            inspections::id,
            inspections::template_id.assume_not_null(),
            inspections::template_version.assume_not_null(),
            inspections::fields,
        ))
        .limit(limit)
        .load(c)?;
    let n = rows.len() as u64;
    for (id, template, version, fields) in rows {
        let fields: Fields = serde_json::from_str(&fields)?;
        let failed = failed_of(c, &template, version, &fields)?;
        crate::db::execute(
            c,
            diesel::update(inspections::table.find(&id))
                .filter(inspections::failed.is_null())
                .set(inspections::failed.eq(column(&failed))),
        )?;
    }
    Ok(n)
}

/// An answer path as a dashboard counts it: a repeat's item without its
/// row (`pipes.r1.leak` is `pipes.leak`), so every row's failure of one
/// item counts as that item.
pub fn item_of(path: &str) -> String {
    match path.splitn(3, '.').collect::<Vec<_>>()[..] {
        [rep, _row, item] => format!("{rep}.{item}"),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeats_rows_count_as_their_item() {
        assert_eq!(item_of("odor"), "odor");
        assert_eq!(item_of("pipes.r1.leak"), "pipes.leak");
        assert_eq!(item_of("pipes.0193abcd.leak"), "pipes.leak");
    }
}
