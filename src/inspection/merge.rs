//! The merge rule of the sync protocol, as a pure function over values.
//!
//! A record keeps, per field, the version at which it last changed, the
//! device that changed it and that device's `changed_at`. A pushed field:
//! - whose stored version is at most the push's `base_version` applies
//!   cleanly (its author had seen the value it replaces);
//! - last written by the same device: the later `changed_at` stands;
//! - changed by another device since `base_version`: a true conflict, won by
//!   the higher `(changed_at, device)`, so arrival order never matters;
//! - equal to the stored value: no conflict and no new version (the higher
//!   `(changed_at, device)` is remembered, so a later conflict is judged the
//!   same way whichever equal value arrived first).
//!
//! A `base_version` above the record's version is refused: it would make
//! every field look seen. Every value that loses is returned as a
//! [`Discard`] for the conflict log: nothing pushed is dropped silently.
//! A deleted record stays deleted; an edit and a delete that race resolve
//! to deleted in either arrival order, and the edit is logged as a conflict
//! against the deletion. The same rule merges a photo's metadata.
//!
//! (Over 600 lines because of its property tests, which sit beside the
//! rule they hold to; the rule itself is about 300 lines.)

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;

pub type Fields = BTreeMap<String, Value>;

/// How far ahead of the server's clock a `changed_at` may be before it is
/// clamped to the server's time.
pub const MAX_CLOCK_AHEAD: Duration = Duration::minutes(10);

/// The meta entry of a record's deletion.
pub const DELETED: &str = "deleted";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(rename = "v")]
    pub version: i64,
    #[serde(rename = "d")]
    pub device: String,
    #[serde(rename = "t")]
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    pub version: i64,
    pub deleted: bool,
    pub fields: Fields,
    pub meta: BTreeMap<String, Meta>,
}

impl Record {
    /// The version at which `field` last changed (0: never).
    pub fn field_version(&self, field: &str) -> i64 {
        self.meta.get(field).map_or(0, |m| m.version)
    }
}

#[derive(Debug, Clone)]
pub struct FieldEdit {
    pub path: String,
    pub value: Value,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Edit {
    pub device: String,
    pub base_version: i64,
    pub deleted: bool,
    /// When the phone deleted it (for the record's meta).
    pub deleted_at: Option<DateTime<Utc>>,
    pub fields: Vec<FieldEdit>,
}

/// A value that lost, with the one that was kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Discard {
    pub field: String,
    /// `null` when the value lost to the record's deletion.
    pub kept: Value,
    pub discarded: Value,
    pub kept_device: String,
    pub discarded_device: String,
    pub kept_changed_at: DateTime<Utc>,
    pub discarded_changed_at: DateTime<Utc>,
    /// The field's version after the merge: an override of this conflict
    /// is stale once the field has moved past it.
    pub kept_version: i64,
    /// The value lost to the record's deletion (kept: the deletion).
    pub against_deletion: bool,
    /// False when a device's own older edit lost to its newer one: logged
    /// so it is accounted for, but nothing for a coordinator to decide.
    pub open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Applied,
    Unchanged,
    Merged,
}

#[derive(Debug, Clone)]
pub struct Merged {
    pub record: Record,
    pub status: Status,
    pub discards: Vec<Discard>,
    /// Fields whose `changed_at` was in the future and was clamped.
    pub clamped: Vec<String>,
}

/// Why an edit cannot be merged at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `base_version` above the record's version.
    BaseAhead { base: i64, current: i64 },
}

/// The total order that decides a conflict: later time first, then the
/// device id, then (one device, one instant, two values) the value's text.
fn rank(t: DateTime<Utc>, device: &str, value: &Value) -> (DateTime<Utc>, String, String) {
    (t, device.to_string(), value.to_string())
}

/// Writes a pushed value into the record, at version `version`, by `device`.
fn set(rec: &mut Record, f: &FieldEdit, version: i64, device: &str, t: DateTime<Utc>) {
    rec.fields.insert(f.path.clone(), f.value.clone());
    rec.meta.insert(
        f.path.clone(),
        Meta {
            version,
            device: device.to_string(),
            changed_at: t,
        },
    );
}

pub fn merge(current: &Record, edit: &Edit, now: DateTime<Utc>) -> Result<Merged, Refused> {
    if edit.base_version > current.version {
        return Err(Refused::BaseAhead {
            base: edit.base_version,
            current: current.version,
        });
    }
    let mut rec = current.clone();
    let next = current.version + 1;
    let mut changed = false;
    let mut discards = Vec::new();
    let mut clamped = Vec::new();
    let limit = now + MAX_CLOCK_AHEAD;
    let mut clamp = |path: &str, t: DateTime<Utc>| {
        if t > limit {
            clamped.push(path.to_string());
            now
        } else {
            t
        }
    };

    for f in &edit.fields {
        let t = clamp(&f.path, f.changed_at);
        let stored = rec.fields.get(&f.path).cloned().unwrap_or(Value::Null);
        let meta = rec.meta.get(&f.path).cloned();

        if current.deleted {
            // Racing a delete: the record stays deleted, the edit is logged
            // against the deletion (unless the tombstone holds it already).
            if stored != f.value {
                let tomb = rec.meta.get(DELETED).cloned();
                let (kept_device, kept_changed_at) = tomb
                    .map(|m| (m.device, m.changed_at))
                    .unwrap_or_else(|| (String::new(), now));
                let own_older = kept_device == edit.device && t <= kept_changed_at;
                discards.push(Discard {
                    field: f.path.clone(),
                    kept: Value::Null,
                    discarded: f.value.clone(),
                    kept_device,
                    discarded_device: edit.device.clone(),
                    kept_changed_at,
                    discarded_changed_at: t,
                    kept_version: rec.field_version(&f.path),
                    against_deletion: true,
                    open: !own_older,
                });
            }
            continue;
        }

        let Some(meta) = meta else {
            // Never written: nothing to conflict with (and a value equal to
            // the absent one is no write at all).
            if stored != f.value {
                set(&mut rec, f, next, &edit.device, t);
                changed = true;
            }
            continue;
        };

        if stored == f.value {
            if (t, edit.device.as_str()) > (meta.changed_at, meta.device.as_str()) {
                let m = rec.meta.entry(f.path.clone()).or_insert(meta.clone());
                m.device = edit.device.clone();
                m.changed_at = t;
            }
            continue;
        }

        let seen = meta.version <= edit.base_version;
        let pushed_wins = seen
            || rank(t, &edit.device, &f.value).cmp(&rank(meta.changed_at, &meta.device, &stored))
                == Ordering::Greater;
        let same_device = meta.device == edit.device;
        if pushed_wins {
            if !seen && !same_device {
                discards.push(Discard {
                    field: f.path.clone(),
                    kept: f.value.clone(),
                    discarded: stored,
                    kept_device: edit.device.clone(),
                    discarded_device: meta.device.clone(),
                    kept_changed_at: t,
                    discarded_changed_at: meta.changed_at,
                    kept_version: next,
                    against_deletion: false,
                    open: true,
                });
            }
            set(&mut rec, f, next, &edit.device, t);
            changed = true;
        } else {
            discards.push(Discard {
                field: f.path.clone(),
                kept: stored,
                discarded: f.value.clone(),
                kept_device: meta.device.clone(),
                discarded_device: edit.device.clone(),
                kept_changed_at: meta.changed_at,
                discarded_changed_at: t,
                kept_version: meta.version,
                against_deletion: false,
                open: !same_device,
            });
        }
    }

    if edit.deleted && !current.deleted {
        let t = match edit.deleted_at {
            Some(t) => clamp(DELETED, t),
            None => now,
        };
        // Values another device wrote after the deleting device's base lose
        // to the deletion, as they would had they arrived after it.
        for (path, m) in &rec.meta {
            if path != DELETED && m.version > edit.base_version && m.device != edit.device {
                discards.push(Discard {
                    field: path.clone(),
                    kept: Value::Null,
                    discarded: rec.fields.get(path).cloned().unwrap_or(Value::Null),
                    kept_device: edit.device.clone(),
                    discarded_device: m.device.clone(),
                    kept_changed_at: t,
                    discarded_changed_at: m.changed_at,
                    kept_version: m.version,
                    against_deletion: true,
                    open: true,
                });
            }
        }
        rec.deleted = true;
        rec.meta.insert(
            DELETED.into(),
            Meta {
                version: next,
                device: edit.device.clone(),
                changed_at: t,
            },
        );
        changed = true;
    }

    if changed {
        rec.version = next;
    }
    let status = if !discards.is_empty() {
        Status::Merged
    } else if changed {
        Status::Applied
    } else {
        Status::Unchanged
    };
    Ok(Merged {
        record: rec,
        status,
        discards,
        clamped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + s, 0).single().unwrap()
    }

    fn edit(device: &str, base: i64, fields: &[(&str, Value, i64)]) -> Edit {
        Edit {
            device: device.into(),
            base_version: base,
            deleted: false,
            deleted_at: None,
            fields: fields
                .iter()
                .map(|(p, v, s)| FieldEdit {
                    path: (*p).into(),
                    value: v.clone(),
                    changed_at: t(*s),
                })
                .collect(),
        }
    }

    fn mrg(r: &Record, e: &Edit, now: DateTime<Utc>) -> Merged {
        merge(r, e, now).expect("base within the record")
    }

    fn now() -> DateTime<Utc> {
        t(100_000)
    }

    #[test]
    fn first_push_applies() {
        let m = mrg(
            &Record::default(),
            &edit("a", 0, &[("title", json!("排口"), 1)]),
            now(),
        );
        assert_eq!(m.status, Status::Applied);
        assert_eq!(m.record.version, 1);
        assert_eq!(m.record.fields["title"], json!("排口"));
    }

    #[test]
    fn replay_is_unchanged() {
        let e = edit("a", 0, &[("title", json!("x"), 1)]);
        let first = mrg(&Record::default(), &e, now()).record;
        let again = mrg(&first, &e, now());
        assert_eq!(again.status, Status::Unchanged);
        assert_eq!(again.record, first);
    }

    #[test]
    fn edit_on_seen_version_applies_cleanly_even_with_an_older_clock() {
        let r = mrg(
            &Record::default(),
            &edit("a", 0, &[("notes", json!("one"), 50)]),
            now(),
        )
        .record;
        let m = mrg(&r, &edit("b", 1, &[("notes", json!("two"), 10)]), now());
        assert_eq!(m.status, Status::Applied);
        assert_eq!(m.record.fields["notes"], json!("two"));
        assert!(m.discards.is_empty());
    }

    #[test]
    fn true_conflict_goes_to_the_later_edit_and_logs_the_loser() {
        let r = mrg(
            &Record::default(),
            &edit("a", 0, &[("notes", json!("a"), 20)]),
            now(),
        )
        .record;
        let m = mrg(&r, &edit("b", 0, &[("notes", json!("b"), 10)]), now());
        assert_eq!(m.status, Status::Merged);
        assert_eq!(m.record.fields["notes"], json!("a"));
        assert_eq!(m.discards.len(), 1);
        assert_eq!(m.discards[0].discarded, json!("b"));
        assert_eq!(m.discards[0].kept_device, "a");
        assert!(m.discards[0].open);
    }

    #[test]
    fn different_fields_never_conflict() {
        let r = mrg(
            &Record::default(),
            &edit("a", 0, &[("notes", json!("a"), 20)]),
            now(),
        )
        .record;
        let m = mrg(&r, &edit("b", 0, &[("title", json!("b"), 10)]), now());
        assert_eq!(m.status, Status::Applied);
        assert_eq!(m.record.fields.len(), 2);
    }

    #[test]
    fn same_device_later_edit_stands() {
        let r = mrg(
            &Record::default(),
            &edit("a", 0, &[("notes", json!("new"), 20)]),
            now(),
        )
        .record;
        let m = mrg(&r, &edit("a", 0, &[("notes", json!("old"), 10)]), now());
        assert_eq!(m.record.fields["notes"], json!("new"));
        assert_eq!(m.discards.len(), 1);
        assert!(
            !m.discards[0].open,
            "a device's own older edit is not a conflict"
        );
    }

    #[test]
    fn future_clock_is_clamped_and_flagged() {
        let m = mrg(
            &Record::default(),
            &edit("a", 0, &[("notes", json!("x"), 200_000)]),
            now(),
        );
        assert_eq!(m.clamped, vec!["notes".to_string()]);
        assert_eq!(m.record.meta["notes"].changed_at, now());
    }

    #[test]
    fn edit_racing_a_delete_resolves_to_deleted() {
        let r = mrg(
            &Record::default(),
            &edit("a", 0, &[("notes", json!("x"), 1)]),
            now(),
        )
        .record;
        let mut del = edit("a", 1, &[]);
        del.deleted = true;
        let deleted = mrg(&r, &del, now()).record;
        assert!(deleted.deleted);
        let m = mrg(&deleted, &edit("b", 1, &[("notes", json!("y"), 5)]), now());
        assert!(m.record.deleted);
        assert_eq!(m.status, Status::Merged);
        assert_eq!(m.discards[0].discarded, json!("y"));
    }

    // Property tests: concurrent edits from several devices, all made on
    // the same snapshot, arriving in any order and any batching.

    #[derive(Debug, Clone)]
    struct Pushed {
        device: usize,
        field: usize,
        value: u8,
        at: i64,
    }

    const FIELDS: [&str; 3] = ["title", "notes", "answers.flow"];

    fn pushed() -> impl Strategy<Value = Pushed> {
        (0usize..3, 0usize..3, 0u8..4, 0i64..6).prop_map(|(device, field, value, at)| Pushed {
            device,
            field,
            value,
            at,
        })
    }

    /// Splits edits into per-device batches. Like a phone's outbox, a
    /// batch carries one value per field: the device's latest edit of it.
    fn batches(edits: &[Pushed], cuts: &[bool]) -> Vec<Edit> {
        let mut out: Vec<Edit> = Vec::new();
        for (i, p) in edits.iter().enumerate() {
            let fe = FieldEdit {
                path: FIELDS[p.field].into(),
                value: json!(p.value),
                changed_at: t(p.at),
            };
            let device = format!("d{}", p.device);
            match out.last_mut() {
                Some(last) if last.device == device && !cuts.get(i).copied().unwrap_or(true) => {
                    let newer = |a: &FieldEdit, b: &FieldEdit| {
                        (a.changed_at, a.value.to_string()) > (b.changed_at, b.value.to_string())
                    };
                    match last.fields.iter_mut().find(|g| g.path == fe.path) {
                        Some(g) if newer(&fe, g) => *g = fe,
                        Some(_) => {}
                        None => last.fields.push(fe),
                    }
                }
                _ => out.push(Edit {
                    device,
                    base_version: 0,
                    deleted: false,
                    deleted_at: None,
                    fields: vec![fe],
                }),
            }
        }
        out
    }

    fn apply_all(edits: &[Edit]) -> (Record, Vec<Discard>) {
        let mut r = Record::default();
        let mut logged = Vec::new();
        for e in edits {
            let m = mrg(&r, e, now());
            logged.extend(m.discards);
            r = m.record;
        }
        (r, logged)
    }

    // Property tests over histories: three devices that edit (values,
    // nulls, clocks far ahead), delete and catch up (their base version
    // moves to the record's) in any order.

    #[derive(Debug, Clone)]
    enum Op {
        Edit(usize, Vec<(usize, Option<u8>, i64)>),
        Delete(usize, i64),
        CatchUp(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        // 200_000 s ahead of `now()`: past the clamp.
        let at = prop_oneof![4 => -5i64..5, 1 => Just(200_000i64)];
        let field = (0usize..3, prop::option::weighted(0.8, 0u8..3), at);
        prop_oneof![
            6 => (0usize..3, prop::collection::vec(field, 1..4)).prop_map(|(d, f)| Op::Edit(d, f)),
            1 => (0usize..3, -5i64..5).prop_map(|(d, t)| Op::Delete(d, t)),
            3 => (0usize..3).prop_map(Op::CatchUp),
        ]
    }

    fn as_edit(op: &Op, bases: &[i64; 3]) -> Option<Edit> {
        match op {
            Op::Edit(d, fs) => {
                let mut fields: Vec<FieldEdit> = Vec::new();
                for (f, v, at) in fs {
                    // One value per field, as a phone's outbox sends it.
                    fields.retain(|e| e.path != FIELDS[*f]);
                    fields.push(FieldEdit {
                        path: FIELDS[*f].into(),
                        value: v.map_or(Value::Null, |v| json!(v)),
                        changed_at: t(10_000 + at),
                    });
                }
                Some(Edit {
                    device: format!("d{d}"),
                    base_version: bases[*d],
                    deleted: false,
                    deleted_at: None,
                    fields,
                })
            }
            Op::Delete(d, at) => Some(Edit {
                device: format!("d{d}"),
                base_version: bases[*d],
                deleted: true,
                deleted_at: Some(t(10_000 + at)),
                fields: vec![],
            }),
            Op::CatchUp(_) => None,
        }
    }

    fn later() -> DateTime<Utc> {
        t(10_000)
    }

    proptest! {
        #[test]
        fn histories_keep_every_invariant(ops in prop::collection::vec(op(), 1..25)) {
            let mut r = Record::default();
            let mut bases = [0i64; 3];
            let now = later();
            for op in &ops {
                if let Op::CatchUp(d) = op {
                    bases[*d] = r.version;
                    continue;
                }
                let Some(e) = as_edit(op, &bases) else { continue };
                let m = merge(&r, &e, now).expect("bases never pass the record");
                let out = &m.record;
                // Every pushed value is in the record or logged.
                for f in &e.fields {
                    let kept = out.fields.get(&f.path).unwrap_or(&Value::Null) == &f.value;
                    let logged = m.discards.iter().any(|d| d.field == f.path && d.discarded == f.value);
                    prop_assert!(kept || logged, "{:?} lost", f);
                }
                // A deletion wins, and stays.
                prop_assert_eq!(out.deleted, r.deleted || e.deleted);
                // No phantom versions: a version is made only by a change
                // a device can see, and no field claims a version beyond it.
                let visible = out.fields != r.fields || out.deleted != r.deleted;
                prop_assert_eq!(out.version, r.version + i64::from(visible));
                prop_assert!(out.meta.values().all(|m| m.version <= out.version));
                prop_assert!(out.meta.values().all(|m| m.changed_at <= now + MAX_CLOCK_AHEAD));
                for f in &e.fields {
                    if f.changed_at > now + MAX_CLOCK_AHEAD {
                        prop_assert!(m.clamped.contains(&f.path));
                    }
                }
                // What an override checks against is the field's version.
                for d in &m.discards {
                    prop_assert_eq!(d.kept_version, out.field_version(&d.field));
                    prop_assert_eq!(d.against_deletion, out.deleted);
                }
                // An author who had seen everything applies every value.
                if e.base_version == r.version && !r.deleted {
                    for f in &e.fields {
                        prop_assert_eq!(out.fields.get(&f.path).unwrap_or(&Value::Null), &f.value);
                    }
                }
                // The same edit again changes nothing.
                let again = merge(out, &e, now).expect("same base");
                prop_assert_eq!(&again.record.fields, &out.fields);
                prop_assert_eq!(again.record.version, out.version);
                // A base beyond the record is refused.
                let mut ahead = e.clone();
                ahead.base_version = out.version + 1;
                prop_assert!(merge(out, &ahead, now).is_err());
                r = m.record;
            }
        }
    }

    proptest! {
        #[test]
        fn any_order_and_batching_converges(
            edits in prop::collection::vec(pushed(), 1..12),
            cuts in prop::collection::vec(any::<bool>(), 12),
            seed in any::<u64>(),
        ) {
            let a = apply_all(&batches(&edits, &cuts)).0;
            let mut shuffled = edits.clone();
            // A deterministic shuffle from the seed.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let b = apply_all(&batches(&shuffled, &[true; 12])).0;
            prop_assert_eq!(&a.fields, &b.fields);
        }

        #[test]
        fn every_pushed_value_is_kept_or_logged(
            edits in prop::collection::vec(pushed(), 1..12),
            cuts in prop::collection::vec(any::<bool>(), 12),
        ) {
            let mut r = Record::default();
            for e in batches(&edits, &cuts) {
                let m = mrg(&r, &e, now());
                for f in &e.fields {
                    let kept = m.record.fields.get(&f.path) == Some(&f.value);
                    let logged = m.discards.iter().any(|d| d.field == f.path && d.discarded == f.value);
                    prop_assert!(kept || logged, "{:?} lost", f);
                }
                r = m.record;
            }
        }

        #[test]
        fn replaying_any_batch_changes_nothing(
            edits in prop::collection::vec(pushed(), 1..12),
            cuts in prop::collection::vec(any::<bool>(), 12),
            pick in any::<prop::sample::Index>(),
        ) {
            let bs = batches(&edits, &cuts);
            let (r, _) = apply_all(&bs);
            let replay = &bs[pick.index(bs.len())];
            let m = mrg(&r, replay, now());
            prop_assert_eq!(&m.record.fields, &r.fields);
            prop_assert_eq!(m.record.version, r.version);
        }
    }

    // Rows of a repeat (DESIGN "Checklist logic"): answers are keyed by a
    // row id the phone makes (`answers.pipes.<row>.<item>`, `._seq`,
    // `._deleted`), so rows added on two devices are different fields.

    #[derive(Debug, Clone)]
    struct RowEdit {
        device: usize,
        /// Whose row: a device edits its own rows and, now and then, the
        /// other device's (after a pull).
        owner: usize,
        row: usize,
        item: usize,
        value: u8,
        at: i64,
    }

    const ITEMS: [&str; 3] = ["diameter", "leak", "_deleted"];

    fn row_edit() -> impl Strategy<Value = RowEdit> {
        (
            0usize..2,
            any::<bool>(),
            0usize..3,
            0usize..3,
            0u8..3,
            0i64..6,
        )
            .prop_map(|(device, own, row, item, value, at)| RowEdit {
                device,
                owner: if own { device } else { 1 - device },
                row,
                item,
                value,
                at,
            })
    }

    fn row_path(e: &RowEdit, item: &str) -> String {
        format!("answers.pipes.d{}r{}.{item}", e.owner, e.row)
    }

    /// A phone's batch for one row edit: a row it makes carries its `_seq`.
    fn row_batch(e: &RowEdit) -> Edit {
        // A removal is `_deleted: true`, as the phone writes it.
        let value = if ITEMS[e.item] == "_deleted" {
            json!(true)
        } else {
            json!(e.value)
        };
        let mut fields = vec![(row_path(e, ITEMS[e.item]), value)];
        if e.owner == e.device {
            fields.push((row_path(e, "_seq"), json!(e.row)));
        }
        Edit {
            device: format!("d{}", e.device),
            base_version: 0,
            deleted: false,
            deleted_at: None,
            fields: fields
                .into_iter()
                .map(|(path, value)| FieldEdit {
                    path,
                    value,
                    changed_at: t(e.at),
                })
                .collect(),
        }
    }

    proptest! {
        #[test]
        fn repeat_rows_added_edited_and_removed_on_two_devices_merge(
            edits in prop::collection::vec(row_edit(), 1..16),
            seed in any::<u64>(),
        ) {
            // Each phone's edits carry later times as it makes them; they
            // arrive in any order (the shuffle below).
            let edits: Vec<RowEdit> = edits
                .into_iter()
                .enumerate()
                .map(|(i, e)| RowEdit { at: i as i64, ..e })
                .collect();
            let batches: Vec<Edit> = edits.iter().map(row_batch).collect();
            let (r, logged) = apply_all(&batches);
            // Every row a device made is kept, whatever the other did.
            for e in edits.iter().filter(|e| e.owner == e.device) {
                prop_assert!(r.fields.contains_key(&row_path(e, "_seq")), "row of {:?} lost", e);
            }
            // A row removed on one phone stays removed whatever the other
            // edited in it meanwhile, and every cell written is still there
            // (an edit of a removed row is kept, not lost).
            for e in &edits {
                prop_assert!(r.fields.contains_key(&row_path(e, ITEMS[e.item])), "{:?} lost", e);
                if ITEMS[e.item] == "_deleted" {
                    prop_assert_eq!(r.fields.get(&row_path(e, "_deleted")), Some(&json!(true)));
                }
            }
            // A conflict only where both devices wrote the same cell.
            for d in &logged {
                let writers: std::collections::HashSet<usize> = batches
                    .iter()
                    .zip(&edits)
                    .filter(|(b, _)| b.fields.iter().any(|f| f.path == d.field))
                    .map(|(_, e)| e.device)
                    .collect();
                prop_assert!(writers.len() == 2, "{} logged with writers {:?}", d.field, writers);
            }
            // Any order ends the same.
            let mut shuffled = batches.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(&apply_all(&shuffled).0.fields, &r.fields);
        }
    }
}
