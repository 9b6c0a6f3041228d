//! What a record's answers say against its checklist: which items are
//! hidden by their conditions, which required answers, photos and notes
//! are missing, which items failed, and the score (DESIGN "Checklist
//! logic"). A pure function of the checklist version, the field map and
//! the items the record's photos name; the field app runs the same rules
//! (`webui/field/app/checklist.js`) on one shared corpus of cases.
//!
//! The server never refuses a record for being incomplete or failing: it
//! says so here, and the reviewer sees it.

use super::fields::{ANSWER_PREFIX, NOTE_PREFIX};
use super::merge::Fields;
use crate::expr::{self, Answers, Expr};
use crate::reference::templates::{Item, ItemKind, relevance_order};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use utoipa::ToSchema;

/// The score: `max` sums the weights of relevant, answered items that
/// have one; `got` those of them that did not fail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Score {
    pub got: f64,
    pub max: f64,
}

/// A path is the answer's path after `answers.` (a repeat's item with its
/// row: `pipes.<row>.diameter`); a missing photo or note of an item is
/// `<path>#photo` / `<path>#note`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChecklistChecks {
    pub missing_required: Vec<String>,
    pub failed: Vec<String>,
    pub score: Score,
    /// Answers kept although their item is hidden by its conditions.
    pub irrelevant: Vec<String>,
}

/// An item's expressions, parsed once per checklist version.
#[derive(Default)]
struct Logic {
    relevant: Option<Expr>,
    required_when: Option<Expr>,
    photo_required_when: Option<Expr>,
    note_required_when: Option<Expr>,
    fail_when: Option<Expr>,
}

/// A checklist version made ready to judge many records.
pub struct Compiled<'a> {
    items: &'a [Item],
    logic: HashMap<&'a str, Logic>,
    /// The section each item is under, at its own level.
    section: HashMap<&'a str, &'a str>,
    /// Keys in an order where each item's relevance comes after what it
    /// depends on.
    order: Vec<&'a str>,
}

fn parsed(src: &Option<String>) -> Option<Expr> {
    // A stored version was checked when saved; an expression that no
    // longer parses (never expected) is as if absent.
    src.as_deref().and_then(|s| expr::parse(s).ok())
}

fn sections<'a>(items: &'a [Item], out: &mut HashMap<&'a str, &'a str>) {
    let mut current: Option<&str> = None;
    for item in items {
        if item.kind == ItemKind::Section {
            current = Some(&item.key);
        } else if let Some(s) = current {
            out.insert(&item.key, s);
        }
        sections(item.children(), out);
    }
}

/// Whether a value counts as an answer: not absent, `null`, an empty text
/// or an empty list.
pub fn answered(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

fn truth(e: &Option<Expr>, a: Answers<'_>) -> bool {
    // An evaluation past its step limit is false: never expected within
    // the parse limits, and never a reason to lose a record.
    e.as_ref()
        .is_some_and(|e| expr::eval(e, a).is_ok_and(|v| v.truth()))
}

/// One repeat's live rows: (row id, its answers), ordered by `_seq` then
/// row id; rows marked `_deleted` are gone.
type Rows = Vec<(String, Map<String, Value>)>;

impl<'a> Compiled<'a> {
    pub fn new(items: &'a [Item]) -> Compiled<'a> {
        let mut logic = HashMap::new();
        for (item, _) in crate::reference::templates::walk(items) {
            logic.insert(
                item.key.as_str(),
                Logic {
                    relevant: parsed(&item.relevant),
                    required_when: parsed(&item.required_when),
                    photo_required_when: parsed(&item.photo_required_when),
                    note_required_when: parsed(&item.note_required_when),
                    fail_when: parsed(&item.fail_when),
                },
            );
        }
        let mut section = HashMap::new();
        sections(items, &mut section);
        // A circle was refused when the version was saved; were one there,
        // the template order stands in.
        let order = relevance_order(items).unwrap_or_else(|_| {
            crate::reference::templates::walk(items)
                .into_iter()
                .map(|(i, _)| i.key.as_str())
                .collect()
        });
        Compiled {
            items,
            logic,
            section,
            order,
        }
    }

    /// The answers of the top level and the rows of each repeat, read from
    /// the flat field map.
    fn tree(&self, fields: &Fields) -> (Map<String, Value>, HashMap<&'a str, Rows>) {
        let mut top = Map::new();
        let mut rows: HashMap<&str, BTreeMap<String, Map<String, Value>>> = HashMap::new();
        let repeats: HashMap<&str, &Item> = self
            .items
            .iter()
            .filter(|i| i.kind == ItemKind::Repeat)
            .map(|i| (i.key.as_str(), i))
            .collect();
        for (path, v) in fields.range(ANSWER_PREFIX.to_string()..) {
            let Some(rest) = path.strip_prefix(ANSWER_PREFIX) else {
                break;
            };
            if v.is_null() {
                continue;
            }
            match rest.split_once('.') {
                None => {
                    top.insert(rest.to_string(), v.clone());
                }
                Some((key, tail)) => {
                    let (Some(r), Some((row, item))) = (repeats.get(key), tail.split_once('.'))
                    else {
                        continue;
                    };
                    rows.entry(r.key.as_str())
                        .or_default()
                        .entry(row.to_string())
                        .or_default()
                        .insert(item.to_string(), v.clone());
                }
            }
        }
        let mut out: HashMap<&str, Rows> = HashMap::new();
        for (key, by_row) in rows {
            let mut live: Rows = by_row
                .into_iter()
                .filter(|(_, r)| r.get("_deleted") != Some(&Value::Bool(true)))
                .collect();
            let seq = |r: &Map<String, Value>| r.get("_seq").and_then(Value::as_f64).unwrap_or(0.0);
            live.sort_by(|a, b| seq(&a.1).total_cmp(&seq(&b.1)).then_with(|| a.0.cmp(&b.0)));
            top.insert(
                key.to_string(),
                Value::Array(live.iter().map(|(_, r)| Value::Object(r.clone())).collect()),
            );
            out.insert(key, live);
        }
        (top, out)
    }

    /// The live rows of each repeat, by row id in order.
    pub fn rows(&self, fields: &Fields) -> HashMap<&'a str, Vec<String>> {
        self.tree(fields)
            .1
            .into_iter()
            .map(|(k, rows)| (k, rows.into_iter().map(|(id, _)| id).collect()))
            .collect()
    }

    /// Which of `keys` (one level: the top or one row) are hidden, in
    /// relevance order; a hidden item's answer is taken out of `map` so
    /// that what reads it sees it unanswered.
    fn hide(
        &self,
        keys: &HashSet<&str>,
        map: &mut Map<String, Value>,
        top: Option<&Map<String, Value>>,
    ) -> (HashSet<&'a str>, Map<String, Value>) {
        let mut hidden: HashSet<&str> = HashSet::new();
        let mut taken = Map::new();
        for &key in self.order.iter().filter(|k| keys.contains(*k)) {
            let under_hidden = self.section.get(key).is_some_and(|s| hidden.contains(s));
            let shown = !under_hidden
                && self.logic.get(key).is_none_or(|l| {
                    l.relevant.is_none()
                        || truth(
                            &l.relevant,
                            match top {
                                None => Answers {
                                    top: map,
                                    row: None,
                                    current: None,
                                },
                                Some(t) => Answers {
                                    top: t,
                                    row: Some(map),
                                    current: None,
                                },
                            },
                        )
                });
            if !shown {
                hidden.insert(key);
                if let Some(v) = map.remove(key) {
                    taken.insert(key.to_string(), v);
                }
            }
        }
        (hidden, taken)
    }

    /// The checks of one record. `photo_paths`: the answer paths the
    /// record's live photos name in `item_key`.
    pub fn checks(&self, fields: &Fields, photo_paths: &HashSet<String>) -> ChecklistChecks {
        self.judge(fields, photo_paths).0
    }

    /// The checks, and every path hidden by its conditions (items,
    /// sections and repeats, answered or not; a row's items with their
    /// row): what a page leaves out.
    pub fn judge(
        &self,
        fields: &Fields,
        photo_paths: &HashSet<String>,
    ) -> (ChecklistChecks, HashSet<String>) {
        let mut hidden_paths: HashSet<String> = HashSet::new();
        let (mut top, rows) = self.tree(fields);
        let top_keys: HashSet<&str> = self.items.iter().map(|i| i.key.as_str()).collect();
        let (hidden, taken) = self.hide(&top_keys, &mut top, None);
        let mut out = ChecklistChecks::default();
        let judge = |item: &Item, path: String, answers: Answers<'_>, out: &mut ChecklistChecks| {
            let l = &self.logic[item.key.as_str()];
            let value = answers.current;
            let mut has = answered(value);
            let photo = photo_paths.contains(&path);
            if item.kind == ItemKind::Photo {
                has |= photo;
            }
            if (item.required || truth(&l.required_when, answers)) && !has {
                out.missing_required.push(path.clone());
            }
            if truth(&l.photo_required_when, answers) && !photo {
                out.missing_required.push(format!("{path}#photo"));
            }
            let note = fields.get(&format!("{NOTE_PREFIX}{path}"));
            if truth(&l.note_required_when, answers) && !answered(note) {
                out.missing_required.push(format!("{path}#note"));
            }
            let failed = has && truth(&l.fail_when, answers);
            if failed {
                out.failed.push(path);
            }
            if let (Some(w), true) = (item.score, has) {
                out.score.max += w;
                if !failed {
                    out.score.got += w;
                }
            }
        };
        for item in self.items {
            if hidden.contains(item.key.as_str()) {
                hidden_paths.insert(item.key.clone());
                if item.kind == ItemKind::Repeat {
                    for (row, r) in rows.get(item.key.as_str()).into_iter().flatten() {
                        for k in r.keys().filter(|k| !k.starts_with('_')) {
                            out.irrelevant.push(format!("{}.{row}.{k}", item.key));
                        }
                    }
                } else if taken.contains_key(&item.key) {
                    out.irrelevant.push(item.key.clone());
                }
                continue;
            }
            match item.kind {
                ItemKind::Section => {}
                ItemKind::Repeat => {
                    let live = rows.get(item.key.as_str()).map_or(&[][..], Vec::as_slice);
                    let l = &self.logic[item.key.as_str()];
                    let a = Answers {
                        top: &top,
                        row: None,
                        current: None,
                    };
                    if (item.required || truth(&l.required_when, a)) && live.is_empty() {
                        out.missing_required.push(item.key.clone());
                    }
                    let keys: HashSet<&str> =
                        item.children().iter().map(|c| c.key.as_str()).collect();
                    for (row, r) in live {
                        let mut r = r.clone();
                        let (row_hidden, row_taken) = self.hide(&keys, &mut r, Some(&top));
                        for child in item.children() {
                            let path = format!("{}.{row}.{}", item.key, child.key);
                            if row_hidden.contains(child.key.as_str()) {
                                hidden_paths.insert(path.clone());
                                if row_taken.contains_key(&child.key) {
                                    out.irrelevant.push(path);
                                }
                                continue;
                            }
                            if child.kind.answers() {
                                let a = Answers {
                                    top: &top,
                                    row: Some(&r),
                                    current: r.get(&child.key),
                                };
                                judge(child, path, a, &mut out);
                            }
                        }
                    }
                }
                _ => {
                    let a = Answers {
                        top: &top,
                        row: None,
                        current: top.get(&item.key),
                    };
                    judge(item, item.key.clone(), a, &mut out);
                }
            }
        }
        (out, hidden_paths)
    }
}

/// The checks of one record against its checklist version.
pub fn checks(items: &[Item], fields: &Fields, photo_paths: &HashSet<String>) -> ChecklistChecks {
    Compiled::new(items).checks(fields, photo_paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::templates::check_items;
    use serde_json::json;

    /// The outfall form: "no flow" hides the flow section; a smell asks
    /// which; an overflow fails and needs a photo and a note; pipes repeat.
    fn outfall() -> Vec<Item> {
        check_items(
            serde_json::from_value(json!([
                {"key": "flowing", "label": "排口是否有水流出", "kind": "yes_no", "required": true},
                {"key": "flow", "label": "水流情况", "kind": "section", "relevant": "${flowing} = 'yes'"},
                {"key": "color", "label": "水体颜色", "kind": "choice", "options": ["清澈", "发黑"], "required": true,
                 "fail_when": ". = '发黑'", "score": 2},
                {"key": "odor", "label": "有无异味", "kind": "yes_no", "required": true, "score": 1, "fail_when": ". = 'yes'"},
                {"key": "odor_kind", "label": "异味类型", "kind": "multi_choice", "options": ["腐臭", "刺鼻"],
                 "relevant": "${odor} = 'yes'", "required": true},
                {"key": "end", "label": "其他", "kind": "section"},
                {"key": "overflow", "label": "是否有污水溢流", "kind": "yes_no", "fail_when": ". = 'yes'",
                 "photo_required_when": ". = 'yes'", "note_required_when": ". = 'yes'", "score": 3,
                 "on_fail": {"followup": {"title": "污水溢流整改", "due_days": 3}}},
                {"key": "pipes", "label": "排水管", "kind": "repeat", "required_when": "${flowing} = 'yes'", "items": [
                    {"key": "diameter", "label": "管径(毫米)", "kind": "number", "required": true, "fail_when": ". > 800"},
                    {"key": "broken", "label": "是否破损", "kind": "yes_no"},
                    {"key": "broken_photo", "label": "破损照片", "kind": "photo", "relevant": "${broken} = 'yes'", "required": true}
                ]},
                {"key": "pipe_count", "label": "管道数", "kind": "number", "relevant": "count(${pipes}) > 0"},
                {"key": "sign", "label": "签名", "kind": "signature", "required": true}
            ]))
            .unwrap(),
        )
        .unwrap()
    }

    fn fields(v: serde_json::Value) -> Fields {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The cases the field app's rules run too (`tests/expr/checklists.json`;
    /// the app's through `node --test tests/js/checklist.test.mjs`).
    #[test]
    fn the_shared_cases() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/expr/checklists.json");
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(cases.len() >= 10);
        for c in cases {
            let items = check_items(serde_json::from_value(c["items"].clone()).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e:?}", c["name"]));
            let photos: HashSet<String> =
                serde_json::from_value(c.get("photos").cloned().unwrap_or(json!([]))).unwrap();
            let got = checks(&items, &fields(c["fields"].clone()), &photos);
            let want: ChecklistChecks = serde_json::from_value(c["want"].clone()).unwrap();
            assert_eq!(got, want, "{}", c["name"]);
        }
    }

    #[test]
    fn no_flow_hides_the_flow_questions_and_keeps_their_answers() {
        let items = outfall();
        let f = fields(
            json!({"answers.flowing": false, "answers.color": "发黑", "answers.overflow": false}),
        );
        let c = checks(&items, &f, &HashSet::new());
        assert_eq!(c.missing_required, vec!["sign"]);
        assert!(c.failed.is_empty(), "{c:?}");
        assert_eq!(c.irrelevant, vec!["color"]);
        assert_eq!(c.score, Score { got: 3.0, max: 3.0 });
    }

    #[test]
    fn a_failed_item_asks_for_its_photo_and_note_and_scores_nothing() {
        let items = outfall();
        let f = fields(json!({
            "answers.flowing": true, "answers.color": "发黑", "answers.odor": true,
            "answers.odor_kind": ["腐臭"], "answers.overflow": true,
            "item_notes.overflow": "  ",
        }));
        let c = checks(&items, &f, &HashSet::new());
        assert_eq!(c.failed, vec!["color", "odor", "overflow"]);
        assert_eq!(
            c.missing_required,
            vec!["overflow#photo", "overflow#note", "pipes", "sign"]
        );
        assert_eq!(c.score, Score { got: 0.0, max: 6.0 });
        let mut f2 = f.clone();
        f2.insert("item_notes.overflow".into(), json!("井盖破裂,污水外溢"));
        f2.insert(
            "answers.sign".into(),
            json!("0190a0c4-0000-7000-8000-000000000001"),
        );
        let photos: HashSet<String> = ["overflow".to_string()].into();
        let c = checks(&items, &f2, &photos);
        assert_eq!(c.missing_required, vec!["pipes"]);
    }

    #[test]
    fn an_unanswered_item_never_fails_and_a_hidden_one_reads_as_unanswered() {
        let items = outfall();
        // odor is hidden with its section: odor_kind, which reads it, is
        // hidden too although the stored answer says yes.
        let f = fields(
            json!({"answers.flowing": false, "answers.odor": true, "answers.odor_kind": []}),
        );
        let c = checks(&items, &f, &HashSet::new());
        assert!(c.failed.is_empty());
        assert_eq!(c.irrelevant, vec!["odor", "odor_kind"]);
        assert_eq!(c.missing_required, vec!["sign"]);
    }

    #[test]
    fn rows_in_order_deleted_rows_gone_each_judged_alone() {
        let items = outfall();
        let f = fields(json!({
            "answers.flowing": true, "answers.color": "清澈", "answers.odor": false,
            "answers.sign": "0190a0c4-0000-7000-8000-000000000001",
            "answers.pipes.bbb._seq": 1, "answers.pipes.bbb.diameter": 900, "answers.pipes.bbb.broken": true,
            "answers.pipes.aaa._seq": 2, "answers.pipes.aaa.diameter": 300,
            "answers.pipes.ccc._seq": 0, "answers.pipes.ccc.diameter": 2000, "answers.pipes.ccc._deleted": true,
            "answers.pipes.ddd._seq": 3, "answers.pipes.ddd.broken": false,
            "answers.pipe_count": 2,
        }));
        let c = checks(&items, &f, &HashSet::new());
        assert_eq!(c.failed, vec!["pipes.bbb.diameter"]);
        assert_eq!(
            c.missing_required,
            vec!["pipes.bbb.broken_photo", "pipes.ddd.diameter"]
        );
        assert!(c.irrelevant.is_empty(), "{c:?}");
        let linked: HashSet<String> = ["pipes.bbb.broken_photo".to_string()].into();
        let c = checks(&items, &f, &linked);
        assert_eq!(c.missing_required, vec!["pipes.ddd.diameter"]);
        // With every row deleted, count() is 0 and pipe_count is hidden.
        let mut gone = f.clone();
        for r in ["aaa", "bbb", "ddd"] {
            gone.insert(format!("answers.pipes.{r}._deleted"), json!(true));
        }
        let c = checks(&items, &gone, &HashSet::new());
        assert_eq!(c.missing_required, vec!["pipes"]);
        assert_eq!(c.irrelevant, vec!["pipe_count"]);
    }
}
