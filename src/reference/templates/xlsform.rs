//! Reading an XLSForm (`.xlsx`: the `survey`, `choices` and `settings`
//! sheets, as ODK and KoboToolbox users write them) into a checklist,
//! within the subset fieldsync takes. What the subset cannot express is
//! listed (`Unsupported`: row, column, reason), never dropped silently.
//!
//! The mapping (DECISIONS "XLSForm import"): `text`, `integer`/`decimal`,
//! `select_one`, `select_multiple`, `date`, `image` (a `signature`
//! appearance: a signature), `note` (a heading), groups (a heading whose
//! condition hides its items) and repeats (one level). Labels in Chinese
//! are taken when the form has them (`label::Chinese (zh)`, `label::中文`,
//! `label::zh`), else the default language's, else the first. Options
//! are the choices' labels; expressions comparing with a choice's name are
//! rewritten to compare with its label. Names become keys (lower case,
//! `_`), references following. Our own columns `fail_when`, `score`,
//! `photo_required_when` and `note_required_when` are read too.

use super::items::{Item, ItemKind, valid_key};
use crate::expr;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Seek};
use utoipa::ToSchema;

/// The largest file taken, and the most its parts may hold inflated (a
/// zip bomb is refused before it is read).
pub const MAX_FILE_BYTES: usize = 8 << 20;
pub const MAX_INFLATED_BYTES: u64 = 64 << 20;
/// The most survey rows read.
pub const MAX_ROWS: usize = 5_000;

/// Something the form says that the checklist cannot: where and why.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Unsupported {
    /// The row of the `survey` sheet (1 = its header), 0: the whole form.
    pub row: usize,
    pub column: String,
    pub reason: String,
}

/// A form read: its title (settings' `form_title`), its items, and what it
/// could not take.
#[derive(Debug)]
pub struct Form {
    pub title: Option<String>,
    pub items: Vec<Item>,
    pub unsupported: Vec<Unsupported>,
}

/// Why a file is not a form we can read (Chinese: shown as it is).
#[derive(Debug)]
pub struct Unreadable(pub String);

fn unreadable(s: impl Into<String>) -> Unreadable {
    Unreadable(s.into())
}

/// One sheet as rows of text cells, with its first row's number.
struct Sheet {
    first_row: usize,
    rows: Vec<Vec<String>>,
}

impl Sheet {
    fn header(&self) -> Vec<String> {
        self.rows
            .first()
            .map(|h| h.iter().map(|c| c.trim().to_lowercase()).collect())
            .unwrap_or_default()
    }
}

fn inflated_size<R: std::io::Read + Seek>(r: R) -> Result<u64, Unreadable> {
    let mut zip = zip::ZipArchive::new(r).map_err(|_| unreadable("不是 .xlsx 文件"))?;
    let mut total = 0u64;
    for i in 0..zip.len() {
        let f = zip.by_index(i).map_err(|_| unreadable("文件已损坏"))?;
        total = total.saturating_add(f.size());
    }
    Ok(total)
}

fn sheets(bytes: &[u8]) -> Result<HashMap<String, Sheet>, Unreadable> {
    use calamine::Reader;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(unreadable(format!("文件超过 {} MB", MAX_FILE_BYTES >> 20)));
    }
    if inflated_size(Cursor::new(bytes))? > MAX_INFLATED_BYTES {
        return Err(unreadable("文件解压后过大"));
    }
    let mut book: calamine::Xlsx<_> =
        calamine::Xlsx::new(Cursor::new(bytes)).map_err(|_| unreadable("不是可读的 .xlsx 文件"))?;
    let mut out = HashMap::new();
    for name in book.sheet_names().to_owned() {
        let lower = name.trim().to_lowercase();
        if !["survey", "choices", "settings"].contains(&lower.as_str()) {
            continue;
        }
        let range = book
            .worksheet_range(&name)
            .map_err(|_| unreadable(format!("工作表“{name}”无法读取")))?;
        let first_row = range.start().map_or(0, |(r, _)| r as usize) + 1;
        let first_col = range.start().map_or(0, |(_, c)| c as usize);
        let rows: Vec<Vec<String>> = range
            .rows()
            .take(MAX_ROWS + 1)
            .map(|r| {
                // Cells before the range's first column are empty.
                let mut v = vec![String::new(); first_col];
                v.extend(r.iter().map(|c| match c {
                    calamine::Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                        format!("{}", *f as i64)
                    }
                    other => other.to_string(),
                }));
                v
            })
            .collect();
        out.insert(lower, Sheet { first_row, rows });
    }
    Ok(out)
}

/// The column of a header to read for a labelled thing (`label`, `hint`):
/// Chinese if the form has it, else the default language, else the plain
/// one, else the first with a language.
fn language_column(header: &[String], base: &str, default_language: Option<&str>) -> Option<usize> {
    let of_base = |h: &str| -> Option<String> {
        let rest = h.strip_prefix(base)?;
        if rest.is_empty() {
            return Some(String::new());
        }
        let lang = rest.strip_prefix("::").or_else(|| rest.strip_prefix(':'))?;
        Some(lang.trim().to_string())
    };
    let langs: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Some((i, of_base(h)?)))
        .collect();
    let chinese = |l: &str| {
        l.contains("chinese")
            || l.contains("中文")
            || l.contains("汉")
            || l == "zh"
            || l.contains("(zh")
    };
    langs
        .iter()
        .find(|(_, l)| chinese(l))
        .or_else(|| {
            default_language.and_then(|d| langs.iter().find(|(_, l)| l == &d.trim().to_lowercase()))
        })
        .or_else(|| langs.iter().find(|(_, l)| l.is_empty()))
        .or_else(|| langs.first())
        .map(|(i, _)| *i)
}

fn column(header: &[String], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.contains(&h.as_str()))
}

/// A name made a key: lower case, `_` for anything else, not starting
/// with `_`, at most 64.
fn key_of(name: &str) -> String {
    let mut k: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    while k.starts_with('_') {
        k.remove(0);
    }
    k.truncate(64);
    if k.is_empty() { "q".into() } else { k }
}

/// An expression with its references renamed and the string literals that
/// name a choice of an item it reads replaced by that choice's label.
fn rewrite(
    src: &str,
    keys: &HashMap<String, String>,
    labels_of: &HashMap<String, HashMap<String, String>>,
    own: Option<&HashMap<String, String>>,
) -> String {
    let chars: Vec<char> = src.chars().collect();
    // The choices of the items the expression reads (`.`: its own).
    let mut read_choices: Vec<&HashMap<String, String>> = Vec::new();
    let digit = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut out = String::new();
    let mut i = 0;
    let mut pending_literals: Vec<(usize, usize, String)> = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '$'
            && chars.get(i + 1) == Some(&'{')
            && let Some(end) = chars[i + 2..].iter().position(|&d| d == '}')
        {
            {
                let name: String = chars[i + 2..i + 2 + end].iter().collect();
                let key = keys
                    .get(name.trim())
                    .cloned()
                    .unwrap_or_else(|| key_of(&name));
                if let Some(l) = labels_of.get(&key) {
                    read_choices.push(l);
                }
                out.push_str(&format!("${{{key}}}"));
                i += end + 3;
                continue;
            }
        }
        if c == '\'' || c == '"' || c == '‘' || c == '’' || c == '“' || c == '”' {
            // Curly quotes (word processors put them in) read as straight.
            let close: &[char] = match c {
                '‘' | '’' => &['’', '‘', '\''],
                '“' | '”' => &['”', '“', '"'],
                _ => &[c],
            };
            if let Some(end) = chars[i + 1..].iter().position(|d| close.contains(d)) {
                let text: String = chars[i + 1..i + 1 + end].iter().collect();
                let start = out.len();
                let q = if text.contains('\'') { '"' } else { '\'' };
                out.push(q);
                out.push_str(&text);
                out.push(q);
                pending_literals.push((start, out.len(), text));
                i += end + 2;
                continue;
            }
        }
        if c == '.' && !digit(i + 1) && !(i > 0 && digit(i - 1)) {
            read_choices.extend(own);
        }
        out.push(c);
        i += 1;
    }
    // Replace literals from the end so earlier positions stay right.
    for (start, end, text) in pending_literals.into_iter().rev() {
        let label = read_choices.iter().find_map(|m| m.get(&text));
        if let Some(label) = label
            && !label.contains('\'')
        {
            out.replace_range(start..end, &format!("'{label}'"));
        }
    }
    out
}

fn yes(v: &str) -> bool {
    matches!(
        v.trim().to_lowercase().as_str(),
        "yes" | "true" | "true()" | "1" | "是"
    )
}

fn no(v: &str) -> bool {
    matches!(
        v.trim().to_lowercase().as_str(),
        "" | "no" | "false" | "false()" | "0" | "否"
    )
}

/// A group or repeat being read.
struct Open {
    kind: ItemKind,
    label: String,
    relevant: Option<String>,
    /// A repeat's own items.
    items: Vec<Item>,
    /// A repeat's key.
    key: String,
}

/// Reads a form. Errors: a file that is no `.xlsx`, or has no `survey`.
pub fn read(bytes: &[u8]) -> Result<Form, Unreadable> {
    let sheets = sheets(bytes)?;
    let survey = sheets
        .get("survey")
        .ok_or_else(|| unreadable("没有 survey 工作表"))?;
    let mut unsupported = Vec::new();
    if survey.rows.len() > MAX_ROWS {
        unsupported.push(Unsupported {
            row: 0,
            column: "survey".into(),
            reason: format!("只读取前 {MAX_ROWS} 行"),
        });
    }
    // Settings: the title and the default language.
    let (mut title, mut default_language) = (None, None);
    if let Some(s) = sheets.get("settings") {
        let h = s.header();
        if let Some(row) = s.rows.get(1) {
            let cell = |names: &[&str]| {
                column(&h, names)
                    .and_then(|i| row.get(i))
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            title = cell(&["form_title", "title"]);
            default_language = cell(&["default_language"]);
        }
    }
    // Choices: list -> [(name, label)].
    let mut lists: HashMap<String, Vec<(String, String)>> = HashMap::new();
    if let Some(c) = sheets.get("choices") {
        let h = c.header();
        let (Some(list_col), Some(name_col)) = (
            column(&h, &["list_name", "list name"]),
            column(&h, &["name", "value"]),
        ) else {
            return Err(unreadable("choices 工作表缺少 list_name 或 name 列"));
        };
        let label_col = language_column(&h, "label", default_language.as_deref());
        for row in c.rows.iter().skip(1) {
            let get = |i: usize| row.get(i).map(|v| v.trim().to_string()).unwrap_or_default();
            let (list, name) = (get(list_col), get(name_col));
            if list.is_empty() || name.is_empty() {
                continue;
            }
            let label = label_col
                .map(get)
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| name.clone());
            lists.entry(list).or_default().push((name, label));
        }
    }
    let h = survey.header();
    let (Some(type_col), name_col) = (column(&h, &["type"]), column(&h, &["name"])) else {
        return Err(unreadable("survey 工作表缺少 type 列"));
    };
    let label_col = language_column(&h, "label", default_language.as_deref());
    let known: HashSet<&str> = [
        "type",
        "name",
        "required",
        "relevant",
        "appearance",
        "fail_when",
        "score",
        "photo_required_when",
        "note_required_when",
    ]
    .into();
    // Columns we do not take, reported once per cell that says something.
    let ignored: Vec<(usize, &String)> = h
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            !c.is_empty()
                && !known.contains(c.as_str())
                && !c.starts_with("label")
                && Some(*i) != label_col
        })
        .collect();

    // First pass: names -> keys (unique), so references can follow.
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut used: HashSet<String> = HashSet::new();
    if let Some(nc) = name_col {
        for row in survey.rows.iter().skip(1).take(MAX_ROWS) {
            let name = row
                .get(nc)
                .map(|v| v.trim().to_string())
                .unwrap_or_default();
            if name.is_empty() || keys.contains_key(&name) {
                continue;
            }
            let base = key_of(&name);
            let mut k = base.clone();
            let mut n = 2;
            while !used.insert(k.clone()) {
                k = format!("{}_{n}", &base[..base.len().min(60)]);
                n += 1;
            }
            keys.insert(name, k);
        }
    }
    // Choice labels by the key of the item that uses the list.
    let mut labels_of: HashMap<String, HashMap<String, String>> = HashMap::new();

    let mut top: Vec<Item> = Vec::new();
    // The survey row each item came from, for what is reported about it.
    let mut rows_of: HashMap<String, usize> = HashMap::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut generated = 0usize;
    let rows = survey.rows.iter().enumerate().skip(1).take(MAX_ROWS);
    let mut pending_heading = false;
    for (i, row) in rows {
        let line = survey.first_row + i;
        let get = |c: Option<usize>| {
            c.and_then(|c| row.get(c))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let ty_raw = get(Some(type_col));
        if ty_raw.is_empty() {
            continue;
        }
        let ty = ty_raw.to_lowercase();
        let words: Vec<&str> = ty.split_whitespace().collect();
        let name = get(name_col);
        let key = keys.get(&name).cloned().unwrap_or_else(|| {
            generated += 1;
            let mut k = format!("q{generated}");
            while used.contains(&k) {
                generated += 1;
                k = format!("q{generated}");
            }
            used.insert(k.clone());
            k
        });
        let label = Some(get(label_col))
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| {
                if name.is_empty() {
                    ty_raw.clone()
                } else {
                    name.clone()
                }
            });
        let note = |u: &mut Vec<Unsupported>, column: &str, reason: &str| {
            u.push(Unsupported {
                row: line,
                column: column.into(),
                reason: reason.into(),
            })
        };
        for (c, head) in &ignored {
            if !get(Some(*c)).is_empty() {
                note(&mut unsupported, head, "此列不在支持的范围内,未导入");
            }
        }
        // What kind of item, if any.
        let (list, kind) = match words.as_slice() {
            ["begin", "group"] | ["begin_group"] => {
                stack.push(Open {
                    kind: ItemKind::Section,
                    label: label.clone(),
                    relevant: Some(get(column(&h, &["relevant"]))).filter(|r| !r.is_empty()),
                    items: vec![],
                    key,
                });
                pending_heading = true;
                continue;
            }
            ["end", "group"] | ["end_group"] => {
                if stack.last().is_some_and(|o| o.kind == ItemKind::Section) {
                    stack.pop();
                }
                pending_heading = true;
                continue;
            }
            ["begin", "repeat"] | ["begin_repeat"] => {
                if stack.iter().any(|o| o.kind == ItemKind::Repeat) {
                    note(
                        &mut unsupported,
                        "type",
                        "重复组内的重复组不支持,其题目并入外层重复组",
                    );
                    continue;
                }
                stack.push(Open {
                    kind: ItemKind::Repeat,
                    label: label.clone(),
                    relevant: Some(get(column(&h, &["relevant"]))).filter(|r| !r.is_empty()),
                    items: vec![],
                    key,
                });
                pending_heading = false;
                continue;
            }
            ["end", "repeat"] | ["end_repeat"] => {
                if let Some(pos) = stack.iter().rposition(|o| o.kind == ItemKind::Repeat) {
                    let open = stack.remove(pos);
                    stack.truncate(pos);
                    let mut item = Item::plain(&open.key, &open.label, ItemKind::Repeat);
                    item.relevant = open.relevant;
                    if open.items.is_empty() {
                        note(&mut unsupported, "type", "重复组中没有可导入的题目,未导入");
                    } else {
                        item.items = Some(open.items);
                        top.push(item);
                    }
                }
                pending_heading = true;
                continue;
            }
            ["text"] | ["string"] => (None, ItemKind::Text),
            ["integer"] | ["int"] | ["decimal"] => (None, ItemKind::Number),
            ["date"] => (None, ItemKind::Date),
            ["note"] => (None, ItemKind::Section),
            ["image"] | ["photo"] => {
                let appearance = get(column(&h, &["appearance"]));
                if appearance.to_lowercase().contains("signature") {
                    (None, ItemKind::Signature)
                } else {
                    (None, ItemKind::Photo)
                }
            }
            ["select_one", l] | ["select_one", l, ..] | ["select", "one", "from", l] => {
                (Some(l.to_string()), ItemKind::Choice)
            }
            ["select_multiple", l]
            | ["select_multiple", l, ..]
            | ["select", "all", "that", "apply", "from", l, ..] => {
                (Some(l.to_string()), ItemKind::MultiChoice)
            }
            _ => {
                let reason = match words.first().copied().unwrap_or_default() {
                    _ if words.get(1) == Some(&"loop") => "循环组不支持,未导入",
                    "calculate" | "hidden" => "计算字段不支持,未导入",
                    "geopoint" | "geotrace" | "geoshape" => "位置由每条记录统一记录,此题未导入",
                    "start" | "end" if words.len() == 1 => "元数据由系统自动记录,未导入",
                    "today" | "deviceid" | "username" | "phonenumber" | "subscriberid"
                    | "simserial" | "audit" | "start-geopoint" => "元数据由系统自动记录,未导入",
                    "audio" | "video" | "file" | "barcode" => "此类附件暂不支持,未导入",
                    _ => "不支持的题型,未导入",
                };
                note(&mut unsupported, "type", &format!("{ty_raw}:{reason}"));
                continue;
            }
        };
        let mut item = Item::plain(&key, &label, kind);
        rows_of.insert(key.clone(), line);
        if let Some(list) = &list {
            let Some(choices) = lists.get(list) else {
                note(
                    &mut unsupported,
                    "type",
                    &format!("选项列表“{list}”不存在,此题未导入"),
                );
                continue;
            };
            let names: HashSet<&str> = choices.iter().map(|(n, _)| n.as_str()).collect();
            if kind == ItemKind::Choice && names == HashSet::from(["yes", "no"]) {
                // XLSForm's yes/no list is our yes_no: it reads 'yes'/'no' alike.
                item.kind = ItemKind::YesNo;
            } else {
                let mut opts: Vec<String> = Vec::new();
                let mut map = HashMap::new();
                for (n, l) in choices {
                    let mut o = l.clone();
                    if kind == ItemKind::MultiChoice && o.contains(char::is_whitespace) {
                        o = n.clone();
                        if o.contains(char::is_whitespace) {
                            o = o.split_whitespace().collect::<Vec<_>>().join("_");
                        }
                    }
                    if opts.contains(&o) {
                        note(
                            &mut unsupported,
                            "choices",
                            &format!("选项“{o}”重复,只保留一个"),
                        );
                        continue;
                    }
                    map.insert(n.clone(), o.clone());
                    opts.push(o);
                }
                item.options = Some(opts);
                labels_of.insert(key.clone(), map);
            }
        }
        // Conditions and our own columns.
        let required = get(column(&h, &["required"]));
        if yes(&required) {
            item.required = true;
        } else if !no(&required) {
            item.required_when = Some(required.clone());
        }
        let expr_col = |c: &str| Some(get(column(&h, &[c]))).filter(|v| !v.is_empty());
        item.relevant = expr_col("relevant");
        item.fail_when = expr_col("fail_when");
        item.photo_required_when = expr_col("photo_required_when");
        item.note_required_when = expr_col("note_required_when");
        if let Some(s) = expr_col("score") {
            match s.parse::<f64>() {
                Ok(w) => item.score = Some(w),
                Err(_) => note(&mut unsupported, "score", "不是数字,未导入"),
            }
        }
        if kind == ItemKind::Section {
            item.required = false;
            item.required_when = None;
            item.fail_when = None;
            item.score = None;
        }
        // A heading for the group the item is in, after a group began or
        // ended: its condition (with those of the groups around it) hides
        // what follows up to the next heading.
        if pending_heading {
            pending_heading = false;
            let groups: Vec<&Open> = stack
                .iter()
                .rev()
                .take_while(|o| o.kind == ItemKind::Section)
                .collect();
            let (label, relevant) = match groups.first() {
                Some(g) => {
                    let conds: Vec<String> = groups
                        .iter()
                        .rev()
                        .filter_map(|o| o.relevant.clone())
                        .map(|r| format!("({r})"))
                        .collect();
                    (
                        g.label.clone(),
                        (!conds.is_empty()).then(|| conds.join(" and ")),
                    )
                }
                None => ("其他".to_string(), None),
            };
            generated += 1;
            let mut hk = format!("section_{generated}");
            while used.contains(&hk) {
                generated += 1;
                hk = format!("section_{generated}");
            }
            used.insert(hk.clone());
            let no_group = groups.is_empty();
            let mut heading = Item::plain(&hk, &label, ItemKind::Section);
            heading.relevant = relevant;
            let level = match stack.iter().rposition(|o| o.kind == ItemKind::Repeat) {
                Some(r) => &mut stack[r].items,
                None => &mut top,
            };
            // A heading right before another (an empty group) is dropped.
            if level
                .last()
                .is_some_and(|l| l.kind == ItemKind::Section && l.key.starts_with("section_"))
            {
                level.pop();
            }
            // Out of every group: a heading only to end a condition the
            // last heading at this level set.
            let needed = !no_group
                || level
                    .iter()
                    .rev()
                    .find(|l| l.kind == ItemKind::Section)
                    .is_some_and(|l| l.relevant.is_some());
            if needed {
                level.push(heading);
            }
        }
        let level = match stack.iter().rposition(|o| o.kind == ItemKind::Repeat) {
            Some(r) => &mut stack[r].items,
            None => &mut top,
        };
        level.push(item);
    }
    // Expressions: renamed, choice names made labels, and each checked on
    // its own; one that does not parse or reads what is not there is
    // listed and left out, the item kept.
    fix_expressions(&mut top, &keys, &labels_of, &rows_of, &mut unsupported);
    // A heading with nothing after it heads nothing.
    while top
        .last()
        .is_some_and(|l| l.kind == ItemKind::Section && l.key.starts_with("section_"))
    {
        top.pop();
    }
    Ok(Form {
        title,
        items: top,
        unsupported,
    })
}

fn fix_expressions(
    items: &mut [Item],
    keys: &HashMap<String, String>,
    labels_of: &HashMap<String, HashMap<String, String>>,
    rows_of: &HashMap<String, usize>,
    unsupported: &mut Vec<Unsupported>,
) {
    let present: HashSet<String> = super::items::walk(items)
        .into_iter()
        .map(|(i, _)| i.key.clone())
        .collect();
    let fix = |item: &mut Item, unsupported: &mut Vec<Unsupported>| {
        let row = rows_of.get(&item.key).copied().unwrap_or(0);
        for (name, slot) in [
            ("relevant", &mut item.relevant),
            ("required", &mut item.required_when),
            ("photo_required_when", &mut item.photo_required_when),
            ("note_required_when", &mut item.note_required_when),
            ("fail_when", &mut item.fail_when),
        ] {
            let Some(src) = slot.take() else { continue };
            let text = rewrite(&src, keys, labels_of, labels_of.get(&item.key));
            match expr::parse(&text) {
                Ok(e) => {
                    let missing = e.reads().0.into_iter().find(|k| !present.contains(*k));
                    match missing {
                        Some(k) => unsupported.push(Unsupported {
                            row,
                            column: name.into(),
                            reason: format!("“{}”的条件读取了未导入的“{k}”,条件未导入", item.label),
                        }),
                        None => *slot = Some(text),
                    }
                }
                Err(e) => unsupported.push(Unsupported {
                    row,
                    column: name.into(),
                    reason: format!("“{}”的条件不在支持的写法内({e}),条件未导入", item.label),
                }),
            }
        }
        if !valid_key(&item.key) {
            item.key = key_of(&item.key);
        }
    };
    for item in items.iter_mut() {
        fix(item, unsupported);
        if let Some(children) = item.items.as_mut() {
            for c in children.iter_mut() {
                fix(c, unsupported);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!(
            "{}/tests/fixtures/xlsform/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn published_forms_read_within_the_subset() {
        for name in [
            "UCL_Biomass_Plot_Form.xlsx",
            "xlsform_spec_test.xlsx",
            "yes_or_no_question.xlsx",
            "group.xlsx",
            "loop.xlsx",
            "text_and_integer.xlsx",
            "case_insensitivity.xlsx",
        ] {
            let f = read(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let checked = super::super::check_items(f.items.clone());
            assert!(
                checked.is_ok(),
                "{name}: {:?}",
                checked.err().map(|e| e.message)
            );
        }
        // A real field form: groups become headings, repeats keep their
        // condition, a yes/no list is a yes_no item, a condition comparing
        // with a choice's name compares with its label (the default
        // language's: Swahili), constraints are listed, not dropped.
        let f = read(&fixture("UCL_Biomass_Plot_Form.xlsx")).unwrap();
        let by = |k: &str| f.items.iter().find(|i| i.key == k).unwrap();
        assert_eq!(by("monumented").kind, ItemKind::YesNo);
        assert_eq!(by("trees").kind, ItemKind::Repeat);
        assert_eq!(
            by("trees").relevant.as_deref(),
            Some("${any_trees} = 'yes'")
        );
        assert!(by("trees").children().len() > 5);
        assert_eq!(
            by("leader_name_other").relevant.as_deref(),
            Some("${leader_name} = 'Mwingine'")
        );
        assert_eq!(by("center_image").kind, ItemKind::Photo);
        assert_eq!(by("disturbance").kind, ItemKind::MultiChoice);
        assert!(
            f.unsupported
                .iter()
                .any(|u| u.column == "constraint" && u.row == 10)
        );
        assert!(f.unsupported.iter().all(|u| !u.reason.is_empty()));
        // Upper-case sheets and headers, the old `select one from`.
        let f = read(&fixture("case_insensitivity.xlsx")).unwrap();
        assert_eq!(f.title.as_deref(), Some("Yes or no"));
        assert_eq!(
            f.items[0].options.as_deref(),
            Some(&["l1-c".to_string(), "l2-c".to_string()][..])
        );
        let f = read(&fixture("yes_or_no_question.xlsx")).unwrap();
        assert_eq!(f.items[0].kind, ItemKind::YesNo);
        // Not a spreadsheet, and a zip bomb: refused before anything is read.
        assert!(read(b"PK\x03\x04 not really").is_err());
        assert!(read(&[0u8; 100]).is_err());
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_is_inflated() {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_INFLATED_BYTES >> 20) + 1 {
            w.write_all(&zeros).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        assert!(bytes.len() < MAX_FILE_BYTES, "{} bytes", bytes.len());
        let e = read(&bytes).unwrap_err();
        assert!(e.0.contains("过大"), "{}", e.0);
    }
}
