//! A checklist's items and the rules a version must meet before it is
//! saved: keys, kinds and their settings, and the logic (DESIGN "Checklist
//! logic"). Every expression is parsed here, every `${key}` must name an
//! item the expression can see, and `relevant` conditions must not go in
//! a circle: a version a phone could not fill is never saved.

use crate::error::{AppError, AppResult};
use crate::expr;
use crate::reference::validate;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    YesNo,
    Number,
    Score,
    Text,
    Choice,
    /// Any number of the options; answered as a list of them.
    MultiChoice,
    /// A calendar day, `YYYY-MM-DD`.
    Date,
    /// Photos taken for this item; answered as the list of their ids.
    Photo,
    /// A signature drawn on the phone; answered as its photo's id.
    Signature,
    /// A heading; the items after it (up to the next section, at the same
    /// level) belong to it and are hidden with it.
    Section,
    /// A group of items answered as any number of rows.
    Repeat,
}

impl ItemKind {
    /// Whether the item takes an answer of its own (a section and a
    /// repeat do not: a repeat's rows hold its items' answers).
    pub fn answers(self) -> bool {
        !matches!(self, ItemKind::Section | ItemKind::Repeat)
    }

    fn has_options(self) -> bool {
        matches!(self, ItemKind::Choice | ItemKind::MultiChoice)
    }

    fn has_bounds(self) -> bool {
        matches!(self, ItemKind::Number | ItemKind::Score)
    }
}

/// Default range of a `score` item that names none.
pub const DEFAULT_SCORE_RANGE: (f64, f64) = (0.0, 10.0);
/// The most items a version may hold, counting those inside repeats.
pub const MAX_ITEMS: usize = 500;
/// The longest a follow-up may be given to be done, in days.
pub const MAX_DUE_DAYS: u32 = 366;

/// The follow-up a failed item proposes to the reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowupProposal {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<String>,
    /// Days from the approval to the follow-up's due date.
    #[schema(minimum = 1, maximum = 366)]
    pub due_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnFail {
    pub followup: FollowupProposal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Used in inspection field paths as `answers.<key>`: lower-case
    /// letters, digits and `_`, not starting with `_`; unique in the whole
    /// checklist, repeats' items included.
    #[schema(pattern = "^[a-z0-9][a-z0-9_]{0,63}$")]
    pub key: String,
    pub label: String,
    pub kind: ItemKind,
    #[serde(default)]
    pub required: bool,
    /// The allowed values of a `choice` or `multi_choice` item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// Bounds of a `number` or `score` item (a score always has them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// When false the item (a section: with its items) is hidden and not
    /// required; its answer, if any, is kept and marked irrelevant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_when: Option<String>,
    /// When true the item needs at least one photo of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_required_when: Option<String>,
    /// When true the item needs a note of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_required_when: Option<String>,
    /// When true of an answered item, the item failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_when: Option<String>,
    /// The item's weight in the checklist's score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1000)]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_fail: Option<OnFail>,
    /// A repeat's own items (no sections of repeats inside a repeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub items: Option<Vec<Item>>,
}

impl Item {
    /// An item of `kind` with nothing but its key and label.
    pub fn plain(key: &str, label: &str, kind: ItemKind) -> Item {
        Item {
            key: key.into(),
            label: label.into(),
            kind,
            required: false,
            options: None,
            min: None,
            max: None,
            relevant: None,
            required_when: None,
            photo_required_when: None,
            note_required_when: None,
            fail_when: None,
            score: None,
            on_fail: None,
            items: None,
        }
    }

    /// The item's expressions by field name, those it has.
    pub fn expressions(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("relevant", &self.relevant),
            ("required_when", &self.required_when),
            ("photo_required_when", &self.photo_required_when),
            ("note_required_when", &self.note_required_when),
            ("fail_when", &self.fail_when),
        ]
        .into_iter()
        .filter_map(|(name, e)| e.as_deref().map(|e| (name, e)))
    }

    /// A repeat's items (none for any other kind).
    pub fn children(&self) -> &[Item] {
        self.items.as_deref().unwrap_or_default()
    }
}

/// Whether a key may name an item: it becomes a segment of a field path,
/// and `_` begins the row fields `_seq` and `_deleted`.
pub fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && !k.starts_with('_')
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::invalid(field, reason)
}

/// Where an item sits: at the top of the checklist or in a repeat.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Level<'a> {
    Top,
    In(&'a str),
}

/// Checks a list of items and fills in what a stored version must say
/// explicitly (a score's range).
pub fn check_items(items: Vec<Item>) -> AppResult<Vec<Item>> {
    if items.is_empty() {
        return Err(bad("items", "a checklist needs at least one item"));
    }
    let total: usize = items.iter().map(|i| 1 + i.children().len()).sum();
    if total > MAX_ITEMS {
        return Err(bad("items", format!("at most {MAX_ITEMS} items")));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        out.push(check_item(item, &format!("items[{i}]"), false, &mut seen)?);
    }
    check_logic(&out)?;
    Ok(out)
}

fn check_item(
    mut item: Item,
    field: &str,
    in_repeat: bool,
    seen: &mut HashSet<String>,
) -> AppResult<Item> {
    if !valid_key(&item.key) {
        return Err(bad(
            &format!("{field}.key"),
            "must be 1-64 of a-z, 0-9 and _, not starting with _",
        ));
    }
    if !seen.insert(item.key.clone()) {
        return Err(bad(&format!("{field}.key"), "is used twice"));
    }
    item.label = validate::text(&format!("{field}.label"), &item.label, 300)?;
    let kind = item.kind;
    if kind.has_options() {
        let opts = item.options.take().unwrap_or_default();
        let mut clean: Vec<String> = Vec::with_capacity(opts.len());
        for o in &opts {
            let o = validate::text(&format!("{field}.options"), o, 200)?;
            if clean.contains(&o) {
                return Err(bad(&format!("{field}.options"), "repeat a value"));
            }
            // A multi_choice answer reads as its options joined by spaces
            // (as XLSForm's): an option with a space would read as two.
            if kind == ItemKind::MultiChoice && o.contains(char::is_whitespace) {
                return Err(bad(
                    &format!("{field}.options"),
                    "an option of a multi_choice item must not contain spaces",
                ));
            }
            clean.push(o);
        }
        if clean.is_empty() {
            return Err(bad(
                &format!("{field}.options"),
                "a choice needs at least one option",
            ));
        }
        if clean.len() > 200 {
            return Err(bad(&format!("{field}.options"), "at most 200 options"));
        }
        item.options = Some(clean);
    } else if item.options.is_some() {
        return Err(bad(
            &format!("{field}.options"),
            "only a choice item has options",
        ));
    }
    match kind {
        ItemKind::Score => {
            item.min = Some(item.min.unwrap_or(DEFAULT_SCORE_RANGE.0));
            item.max = Some(item.max.unwrap_or(DEFAULT_SCORE_RANGE.1));
        }
        _ if kind.has_bounds() => {}
        _ if item.min.is_some() || item.max.is_some() => {
            return Err(bad(
                &format!("{field}.min"),
                "only number and score items have bounds",
            ));
        }
        _ => {}
    }
    if let (Some(lo), Some(hi)) = (item.min, item.max)
        && !(lo.is_finite() && hi.is_finite() && lo <= hi)
    {
        return Err(bad(&format!("{field}.max"), "must be at least min"));
    }
    // What each kind may carry besides its label.
    let answers = kind.answers();
    let not_here = |name: &str| {
        bad(
            &format!("{field}.{name}"),
            format!("a {} item has no {name}", kind_name(kind)),
        )
    };
    if kind == ItemKind::Section {
        if item.required {
            return Err(not_here("required"));
        }
        if item.required_when.is_some() {
            return Err(not_here("required_when"));
        }
    }
    if !answers {
        for (name, present) in [
            ("photo_required_when", item.photo_required_when.is_some()),
            ("note_required_when", item.note_required_when.is_some()),
            ("fail_when", item.fail_when.is_some()),
            ("score", item.score.is_some()),
        ] {
            if present {
                return Err(not_here(name));
            }
        }
    }
    if let Some(w) = item.score
        && !(w.is_finite() && (0.0..=1000.0).contains(&w))
    {
        return Err(bad(&format!("{field}.score"), "must be between 0 and 1000"));
    }
    if let Some(on_fail) = &mut item.on_fail {
        if item.fail_when.is_none() {
            return Err(bad(
                &format!("{field}.on_fail"),
                "needs fail_when: only a failed item proposes a follow-up",
            ));
        }
        let f = &mut on_fail.followup;
        f.title = validate::text(&format!("{field}.on_fail.followup.title"), &f.title, 200)?;
        if let Some(d) = &f.department_id {
            f.department_id = Some(validate::text(
                &format!("{field}.on_fail.followup.department_id"),
                d,
                64,
            )?);
        }
        if !(1..=MAX_DUE_DAYS).contains(&f.due_days) {
            return Err(bad(
                &format!("{field}.on_fail.followup.due_days"),
                format!("must be between 1 and {MAX_DUE_DAYS}"),
            ));
        }
    }
    match (kind, item.items.take()) {
        (ItemKind::Repeat, Some(children)) => {
            if in_repeat {
                return Err(bad(
                    &format!("{field}.kind"),
                    "a repeat cannot hold a repeat",
                ));
            }
            if children.is_empty() {
                return Err(bad(
                    &format!("{field}.items"),
                    "a repeat needs at least one item",
                ));
            }
            let mut kept = Vec::with_capacity(children.len());
            for (j, child) in children.into_iter().enumerate() {
                let f = format!("{field}.items[{j}]");
                if child.kind == ItemKind::Repeat {
                    return Err(bad(&format!("{f}.kind"), "a repeat cannot hold a repeat"));
                }
                kept.push(check_item(child, &f, true, seen)?);
            }
            item.items = Some(kept);
        }
        (ItemKind::Repeat, None) => {
            return Err(bad(
                &format!("{field}.items"),
                "a repeat needs at least one item",
            ));
        }
        (_, Some(_)) => {
            return Err(bad(&format!("{field}.items"), "only a repeat has items"));
        }
        (_, None) => {}
    }
    Ok(item)
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Section => "section",
        ItemKind::Repeat => "repeat",
        _ => "answer",
    }
}

/// What the logic check knows of an item.
struct Known<'a> {
    field: String,
    level: Level<'a>,
    kind: ItemKind,
}

/// Every expression parses, reads only items it can see, and `relevant`
/// conditions form no circle (an item hidden reads as unanswered, so an
/// item's relevance depends on the relevance of what it reads).
fn check_logic(items: &[Item]) -> AppResult<()> {
    let mut known: HashMap<&str, Known<'_>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        known.insert(
            &item.key,
            Known {
                field: format!("items[{i}]"),
                level: Level::Top,
                kind: item.kind,
            },
        );
        for (j, child) in item.children().iter().enumerate() {
            known.insert(
                &child.key,
                Known {
                    field: format!("items[{i}].items[{j}]"),
                    level: Level::In(&item.key),
                    kind: child.kind,
                },
            );
        }
    }
    for (item, _) in walk(items) {
        let k = &known[item.key.as_str()];
        for (name, src) in item.expressions() {
            let field = format!("{}.{name}", k.field);
            let e = expr::parse(src).map_err(|e| bad(&field, format!("expression: {e}")))?;
            let (reads, current) = e.reads();
            if current && (name == "relevant" || !item.kind.answers()) {
                return Err(bad(&field, "expression: 条件不能用“.”读取本项自己的答案"));
            }
            for key in reads {
                let Some(target) = known.get(key) else {
                    return Err(bad(
                        &field,
                        format!("expression: 没有编号为“{key}”的检查项"),
                    ));
                };
                let visible = match target.level {
                    Level::Top => true,
                    Level::In(r) => k.level == Level::In(r),
                };
                if !visible {
                    return Err(bad(
                        &field,
                        format!("expression: “{key}”在重复组内,只能在同一重复组的检查项中引用"),
                    ));
                }
                if target.kind == ItemKind::Section {
                    return Err(bad(
                        &field,
                        format!("expression: “{key}”是分节标题,没有答案"),
                    ));
                }
                if key == item.key && name == "relevant" {
                    return Err(bad(&field, "expression: 条件不能引用本项自己"));
                }
            }
        }
    }
    if let Some(key) = relevance_order(items).err() {
        let k = &known[key];
        return Err(bad(
            &format!("{}.relevant", k.field),
            format!("expression: “{key}”的显示条件互相引用,形成循环"),
        ));
    }
    Ok(())
}

/// Every item with the section or repeat it belongs to: the repeat's own
/// items follow it.
pub fn walk(items: &[Item]) -> Vec<(&Item, Option<&Item>)> {
    let mut out = Vec::new();
    for item in items {
        out.push((item, None));
        for child in item.children() {
            out.push((child, Some(item)));
        }
    }
    out
}

/// The item an answer path names (`key`, or `repeat.row.key`: its last
/// segment is the item's key, unique in a checklist, repeats included).
pub fn item_at<'a>(items: &'a [Item], path: &str) -> Option<&'a Item> {
    let key = path.rsplit('.').next()?;
    walk(items)
        .into_iter()
        .map(|(i, _)| i)
        .find(|i| i.key == key)
}

/// What an item's relevance depends on: the items its `relevant` reads,
/// the section it is under and the repeat it is in.
fn depends_on(items: &[Item]) -> Vec<(&str, Vec<String>)> {
    fn level<'a>(
        items: &'a [Item],
        repeat: Option<&'a str>,
        out: &mut Vec<(&'a str, Vec<String>)>,
    ) {
        let mut section: Option<&str> = None;
        for item in items {
            let mut deps: Vec<String> = item
                .relevant
                .as_deref()
                .and_then(|src| expr::parse(src).ok())
                .map(|e| e.reads().0.into_iter().map(str::to_owned).collect())
                .unwrap_or_default();
            if item.kind == ItemKind::Section {
                section = Some(&item.key);
            } else if let Some(s) = section {
                deps.push(s.to_owned());
            }
            if let Some(r) = repeat {
                deps.push(r.to_owned());
            }
            out.push((&item.key, deps));
            if item.kind == ItemKind::Repeat {
                level(item.children(), Some(&item.key), out);
            }
        }
    }
    let mut out = Vec::new();
    level(items, None, &mut out);
    out
}

/// The item keys in an order where each comes after every item its
/// relevance depends on (Kahn's algorithm); `Err(key)` names an item in a
/// circle.
pub fn relevance_order(items: &[Item]) -> Result<Vec<&str>, &str> {
    let deps = depends_on(items);
    let index: HashMap<&str, usize> = deps.iter().enumerate().map(|(i, (k, _))| (*k, i)).collect();
    let mut waiting = vec![0usize; deps.len()];
    let mut then: Vec<Vec<usize>> = vec![Vec::new(); deps.len()];
    for (i, (_, ds)) in deps.iter().enumerate() {
        for d in ds {
            if let Some(&j) = index.get(d.as_str()) {
                waiting[i] += 1;
                then[j].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..deps.len()).filter(|&i| waiting[i] == 0).rev().collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(i) = ready.pop() {
        order.push(deps[i].0);
        for &n in &then[i] {
            waiting[n] -= 1;
            if waiting[n] == 0 {
                ready.push(n);
            }
        }
    }
    match waiting.iter().position(|&w| w > 0) {
        Some(i) => Err(deps[i].0),
        None => Ok(order),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(v: serde_json::Value) -> AppResult<Vec<Item>> {
        check_items(serde_json::from_value(v).unwrap())
    }

    fn refused(v: serde_json::Value) -> (String, String) {
        let e = items(v).unwrap_err();
        let (f, r) = e.field_and_reason();
        (f.unwrap_or_default().to_string(), r.to_string())
    }

    #[test]
    fn logic_is_checked_where_it_is_written() {
        let (f, r) = refused(json!([
            {"key": "a", "label": "甲", "kind": "yes_no"},
            {"key": "b", "label": "乙", "kind": "text", "relevant": "${a} = = 'yes'"}
        ]));
        assert_eq!(f, "items[1].relevant");
        assert!(r.contains("第 8 个字符处"), "{r}");
        let (f, r) = refused(
            json!([{"key": "a", "label": "甲", "kind": "yes_no", "fail_when": "${zz} = 1"}]),
        );
        assert_eq!(f, "items[0].fail_when");
        assert!(r.contains("zz"), "{r}");
        let (f, _) = refused(json!([
            {"key": "a", "label": "甲", "kind": "yes_no", "relevant": "${b} = 'yes'"},
            {"key": "b", "label": "乙", "kind": "yes_no", "relevant": "${c} = 'yes'"},
            {"key": "c", "label": "丙", "kind": "yes_no", "relevant": "${a} = 'yes'"}
        ]));
        assert!(f.ends_with(".relevant"), "{f}");
        // A section's items depend on it: one that hides the section it is
        // in is a circle too.
        let (f, _) = refused(json!([
            {"key": "s", "label": "节", "kind": "section", "relevant": "${a} = 'yes'"},
            {"key": "a", "label": "甲", "kind": "yes_no"}
        ]));
        assert!(f.ends_with(".relevant"), "{f}");
        // A repeat's items are read only inside it.
        let (f, _) = refused(json!([
            {"key": "r", "label": "管", "kind": "repeat", "items": [{"key": "d", "label": "径", "kind": "number"}]},
            {"key": "x", "label": "甲", "kind": "yes_no", "relevant": "${d} > 1"}
        ]));
        assert_eq!(f, "items[1].relevant");
        let (f, _) = refused(
            json!([{"key": "a", "label": "甲", "kind": "yes_no", "relevant": ". = 'yes'"}]),
        );
        assert_eq!(f, "items[0].relevant");
        let (f, _) =
            refused(json!([{"key": "s", "label": "节", "kind": "section", "fail_when": "1"}]));
        assert_eq!(f, "items[0].fail_when");
        let (f, _) = refused(json!([{"key": "a", "label": "甲", "kind": "yes_no",
            "on_fail": {"followup": {"title": "整改", "due_days": 3}}}]));
        assert_eq!(f, "items[0].on_fail");
        let (f, _) = refused(json!([{"key": "_seq", "label": "甲", "kind": "yes_no"}]));
        assert_eq!(f, "items[0].key");
        let (f, _) = refused(
            json!([{"key": "m", "label": "甲", "kind": "multi_choice", "options": ["有 水"]}]),
        );
        assert_eq!(f, "items[0].options");
        // Keys are unique across repeats too.
        let (f, _) = refused(json!([
            {"key": "d", "label": "甲", "kind": "number"},
            {"key": "r", "label": "管", "kind": "repeat", "items": [{"key": "d", "label": "径", "kind": "number"}]}
        ]));
        assert_eq!(f, "items[1].items[0].key");
    }

    #[test]
    fn hostile_templates_are_refused_quickly() {
        let started = std::time::Instant::now();
        let long = format!("${{a}} = '{}'", "长".repeat(1 << 20));
        let (f, _) =
            refused(json!([{"key": "a", "label": "甲", "kind": "text", "fail_when": long}]));
        assert_eq!(f, "items[0].fail_when");
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let (f, _) =
            refused(json!([{"key": "a", "label": "甲", "kind": "text", "fail_when": deep}]));
        assert_eq!(f, "items[0].fail_when");
        let many: Vec<serde_json::Value> = (0..10_000)
            .map(|i| json!({"key": format!("k{i}"), "label": "项", "kind": "yes_no"}))
            .collect();
        let (f, _) = refused(json!(many));
        assert_eq!(f, "items");
        // A repeat in a repeat is refused at the first level down.
        let mut nested = json!({"key": "leaf", "label": "叶", "kind": "text"});
        for i in 0..100 {
            nested =
                json!({"key": format!("r{i}"), "label": "组", "kind": "repeat", "items": [nested]});
        }
        let e = serde_json::from_value::<Vec<Item>>(json!([nested]));
        // serde's own depth limit or ours: either way refused, not a crash.
        if let Ok(v) = e {
            assert!(check_items(v).is_err());
        }
        let mut chain: Vec<serde_json::Value> =
            vec![json!({"key": "k0", "label": "项", "kind": "yes_no"})];
        for i in 1..400 {
            chain.push(
                json!({"key": format!("k{i}"), "label": "项", "kind": "yes_no",
                "relevant": format!("${{k{}}} = 'yes'", i - 1)}),
            );
        }
        assert!(
            items(json!(chain.clone())).is_ok(),
            "a long chain is no circle"
        );
        chain[0]["relevant"] = json!("${k399} = 'yes'");
        assert!(items(json!(chain)).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
    }
}
