//! Checklists: an editor for items of all five kinds, where saving makes a
//! new version (older ones stay, listed, for the inspections that used
//! them), and a preview of the form as a phone shows it.

use super::{
    AdminUser, Fields, Page, Problem, back, csrf, group_options, group_select, page, saved,
};
use crate::error::AppResult;
use crate::reference::templates::{self, Item, ItemKind, NewTemplate, Template, TemplatePatch};
use crate::state::AppState;
use crate::webui::session::WebUser;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use serde::Deserialize;

const KINDS: [(ItemKind, &str, &str); 11] = [
    (ItemKind::YesNo, "yes_no", "是/否"),
    (ItemKind::Number, "number", "数值"),
    (ItemKind::Score, "score", "评分"),
    (ItemKind::Text, "text", "文字"),
    (ItemKind::Choice, "choice", "单选"),
    (ItemKind::MultiChoice, "multi_choice", "多选"),
    (ItemKind::Date, "date", "日期"),
    (ItemKind::Photo, "photo", "照片"),
    (ItemKind::Signature, "signature", "签名"),
    (ItemKind::Section, "section", "分节标题"),
    (ItemKind::Repeat, "repeat", "重复组"),
];

/// What an item carries that the editor's row does not show (the other
/// conditions, the score weight, the follow-up): kept in
/// the row as it was, so saving in the editor never drops the logic a
/// template got through the API or an import.
#[derive(serde::Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct More {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    required_when: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    photo_required_when: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note_required_when: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_fail: Option<templates::OnFail>,
}

impl More {
    fn of(item: &Item) -> String {
        let m = More {
            required_when: item.required_when.clone(),
            photo_required_when: item.photo_required_when.clone(),
            note_required_when: item.note_required_when.clone(),
            score: item.score,
            on_fail: item.on_fail.clone(),
        };
        match serde_json::to_string(&m) {
            Ok(s) if s != "{}" => s,
            _ => String::new(),
        }
    }
}

/// A key for an item the admin named only by its label: from its place in
/// the list, never one the checklist already uses.
fn key_from_order(n: usize, taken: &dyn Fn(&str) -> bool) -> String {
    let mut i = n + 1;
    loop {
        let k = format!("q{i}");
        if !taken(&k) {
            return k;
        }
        i += 1;
    }
}

fn kind_name(k: ItemKind) -> &'static str {
    KINDS.iter().find(|x| x.0 == k).map_or("text", |x| x.1)
}

fn kind_label(k: ItemKind) -> &'static str {
    KINDS.iter().find(|x| x.0 == k).map_or("", |x| x.2)
}

/// Blank rows offered under the items, for new ones.
const BLANK_ROWS: usize = 3;

#[get("/admin/checklists")]
async fn list(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let caller = user.caller.clone();
    let (list, groups) = st
        .db
        .read(move |c| {
            let all = crate::paging::collect(
                usize::MAX,
                |req| templates::list(c, &caller, req),
                |x| &x.id,
            )?;
            Ok((all, group_options(c)?))
        })
        .await?;
    let gname = |g: &Option<String>| {
        g.as_ref()
            .and_then(|g| groups.iter().find(|(i, _)| i == g))
            .map_or("全区通用", |(_, n)| n.as_str())
    };
    Ok(page(
        "检查清单",
        &user,
        "/admin/checklists",
        None,
        html! {
            section.card {
                h1 { "检查清单" }
                p.actions { a.button href="/admin/checklists/new" { "新建检查清单" } " " a.button href="/admin/checklists/import" { "从 XLSForm 导入" } }
                table.list {
                    tr { th { "名称" } th { "适用" } th { "版本" } th { "检查项" } th {} }
                    @for t in &list {
                        tr {
                            td { a href={ "/admin/checklists/" (t.id) } { (t.name) } }
                            td { (gname(&t.group_id)) }
                            td { "第 " (t.version) " 版" }
                            td { (t.items.len()) }
                            td { a href={ "/admin/checklists/" (t.id) "/preview" } { "手机预览" } }
                        }
                    }
                }
            }
        },
    ))
}

/// The editor's fields from a template: one row per item, a repeat's
/// items after it with the repeat named in their `parent`.
fn fields_of(t: &Template) -> Fields {
    let mut f = Fields::default();
    f.set("name", t.name.clone());
    f.set("group_id", t.group_id.clone().unwrap_or_default());
    let rows: Vec<(&Item, Option<&str>)> = templates::walk(&t.items)
        .into_iter()
        .map(|(i, parent)| (i, parent.map(|p| p.key.as_str())))
        .collect();
    for (i, (item, parent)) in rows.into_iter().enumerate() {
        let set = |f: &mut Fields, k: &str, v: String| f.set(&format!("items[{i}].{k}"), v);
        set(&mut f, "seq", (i + 1).to_string());
        set(&mut f, "key", item.key.clone());
        set(&mut f, "label", item.label.clone());
        set(&mut f, "kind", kind_name(item.kind).to_string());
        set(&mut f, "parent", parent.unwrap_or_default().to_string());
        if item.required {
            set(&mut f, "required", "1".into());
        }
        set(
            &mut f,
            "options",
            item.options.clone().unwrap_or_default().join("、"),
        );
        set(
            &mut f,
            "min",
            item.min.map(|v| v.to_string()).unwrap_or_default(),
        );
        set(
            &mut f,
            "max",
            item.max.map(|v| v.to_string()).unwrap_or_default(),
        );
        set(
            &mut f,
            "relevant",
            item.relevant.clone().unwrap_or_default(),
        );
        set(
            &mut f,
            "fail_when",
            item.fail_when.clone().unwrap_or_default(),
        );
        set(&mut f, "more", More::of(item));
    }
    f
}

/// Rows the form holds: one past the highest `items[i]` it names (a row
/// may be missing in between).
fn row_count(f: &Fields) -> usize {
    f.0.iter()
        .filter_map(|(k, _)| {
            k.strip_prefix("items[")?
                .split(']')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
        .min(500)
}

/// A condition made from the picker (an item, a comparison, a value),
/// for an admin who does not write expressions: `${key} = 'value'`; a
/// yes/no item's 是/否 is `'yes'`/`'no'`, a number stays a number.
fn picked(key: &str, kind: Option<ItemKind>, op: &str, value: &str) -> Option<String> {
    if key.is_empty() || op.is_empty() {
        return None;
    }
    let v = value.trim().replace('\'', "");
    let literal = match (kind, v.as_str()) {
        (Some(ItemKind::YesNo), "是") => "'yes'".to_string(),
        (Some(ItemKind::YesNo), "否") => "'no'".to_string(),
        (_, n) if !n.is_empty() && n.parse::<f64>().is_ok() => n.to_string(),
        (_, t) => format!("'{t}'"),
    };
    Some(match op {
        "selected" => format!("selected(${{{key}}}, {literal})"),
        "answered" => format!("${{{key}}} != ''"),
        "=" | "!=" | ">" | "<" | ">=" | "<=" => format!("${{{key}}} {op} {literal}"),
        _ => return None,
    })
}

/// The items a submitted editor holds, blank rows dropped, in the order
/// of their `seq` (rows without one keep their place), a row naming a
/// repeat in `parent` among that repeat's items; the fields are renumbered
/// to match (so an error about `items[2]` is shown on the third row).
fn items_of(f: &Fields) -> AppResult<(Vec<Item>, Fields)> {
    let mut kept = Fields::default();
    kept.set("name", f.get("name"));
    kept.set("group_id", f.get("group_id"));
    // The filled rows, in the order the admin asked for.
    let mut order: Vec<(f64, usize)> = Vec::new();
    for i in 0..row_count(f) {
        let get = |k: &str| f.get(&format!("items[{i}].{k}")).trim().to_string();
        if get("key").is_empty() && get("label").is_empty() {
            continue;
        }
        let seq = get("seq").parse::<f64>().ok().filter(|s| s.is_finite());
        order.push((seq.unwrap_or(order.len() as f64 + 1.0), i));
    }
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    // (item, its repeat, its picked condition: item, comparison, value)
    type Row = (Item, String, (String, String, String));
    let mut rows: Vec<Row> = Vec::new();
    for (n, (_, i)) in order.iter().enumerate() {
        let get = |k: &str| f.get(&format!("items[{i}].{k}")).trim().to_string();
        for k in ROW_FIELDS {
            if f.has(&format!("items[{i}].{k}")) {
                kept.set(&format!("items[{n}].{k}"), get(k));
            }
        }
        kept.set(&format!("items[{n}].seq"), (n + 1).to_string());
        let kind = KINDS
            .iter()
            .find(|x| x.1 == get("kind"))
            .map_or(ItemKind::Text, |x| x.0);
        let num = |k: &str| -> AppResult<Option<f64>> {
            match get(k).as_str() {
                "" => Ok(None),
                v => v.parse::<f64>().map(Some).map_err(|_| {
                    crate::error::AppError::invalid(&format!("items[{n}].{k}"), "must be a number")
                }),
            }
        };
        let options: Vec<String> = get("options")
            .split(['、', ',', ',', '\n'])
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        let (min, max) = match kind {
            ItemKind::Number | ItemKind::Score => (num("min")?, num("max")?),
            _ => (None, None),
        };
        let more: More = match get("more").as_str() {
            "" => More::default(),
            m => serde_json::from_str(m).map_err(|_| {
                crate::error::AppError::invalid(
                    &format!("items[{n}].more"),
                    "is not what the editor wrote",
                )
            })?,
        };
        let opt = |k: &str| Some(get(k)).filter(|v| !v.is_empty());
        rows.push((
            Item {
                key: get("key"),
                label: get("label"),
                kind,
                required: !get("required").is_empty(),
                options: matches!(kind, ItemKind::Choice | ItemKind::MultiChoice)
                    .then_some(options),
                min,
                max,
                relevant: opt("relevant"),
                fail_when: opt("fail_when"),
                required_when: more.required_when,
                photo_required_when: more.photo_required_when,
                note_required_when: more.note_required_when,
                score: more.score,
                on_fail: more.on_fail,
                items: None,
            },
            get("parent"),
            (get("cond_item"), get("cond_op"), get("cond_value")),
        ));
    }
    // Keys the admin left empty come from the order; typed ones stay.
    let typed: Vec<String> = rows.iter().map(|(i, _, _)| i.key.clone()).collect();
    let mut made: Vec<String> = Vec::new();
    for (n, (item, _, _)) in rows.iter_mut().enumerate() {
        if item.key.is_empty() {
            let taken = |k: &str| typed.iter().any(|t| t == k) || made.iter().any(|t| t == k);
            item.key = key_from_order(n, &taken);
            made.push(item.key.clone());
            kept.set(&format!("items[{n}].key"), item.key.clone());
        }
    }
    // A condition picked (and none written) reads the picked item, by the
    // kind it has now (its key may have just been made).
    let kinds: std::collections::HashMap<String, ItemKind> = rows
        .iter()
        .map(|(i, _, _)| (i.key.clone(), i.kind))
        .collect();
    for (n, (item, _, (key, op, value))) in rows.iter_mut().enumerate() {
        if item.relevant.is_none() {
            item.relevant = picked(key, kinds.get(key.as_str()).copied(), op, value);
            if let Some(r) = &item.relevant {
                kept.set(&format!("items[{n}].relevant"), r.clone());
            }
        }
    }
    // Rows naming a repeat go into it, in their order.
    let mut items: Vec<Item> = Vec::new();
    for (n, (item, parent, _)) in rows.into_iter().enumerate() {
        if parent.is_empty() {
            items.push(item);
            continue;
        }
        match items
            .iter_mut()
            .find(|i| i.key == parent && i.kind == ItemKind::Repeat)
        {
            Some(r) => r.items.get_or_insert_with(Vec::new).push(item),
            None => {
                return Err(crate::error::AppError::invalid(
                    &format!("items[{n}].parent"),
                    "须是排在此项之前的重复组的编号",
                ));
            }
        }
    }
    Ok((items, kept))
}

/// The fields of one editor row.
const ROW_FIELDS: [&str; 15] = [
    "seq",
    "parent",
    "cond_item",
    "cond_op",
    "cond_value",
    "key",
    "label",
    "kind",
    "required",
    "options",
    "min",
    "max",
    "relevant",
    "fail_when",
    "more",
];

struct Editor<'a> {
    id: Option<&'a str>,
    groups: &'a [(String, String)],
    versions: &'a [(i32, String, chrono::NaiveDateTime)],
    extra: usize,
}

fn editor(user: &WebUser, e: &Editor, f: &Fields, p: Option<&Problem>) -> HttpResponse {
    let rows = row_count(f) + e.extra;
    let action = e.id.map_or("/admin/checklists".to_string(), |id| {
        format!("/admin/checklists/{id}")
    });
    let mut shown: Vec<String> = vec!["name".into(), "group_id".into(), "items".into()];
    for i in 0..rows {
        for k in ROW_FIELDS {
            shown.push(format!("items[{i}].{k}"));
        }
    }
    let shown_refs: Vec<&str> = shown.iter().map(String::as_str).collect();
    // The rows' items as the pickers offer them: repeats for "属于重复组",
    // items with an answer for a condition.
    let row_items: Vec<(String, String, String)> = (0..rows)
        .map(|i| {
            let g = |k: &str| f.get(&format!("items[{i}].{k}")).trim().to_string();
            (g("key"), g("label"), g("kind"))
        })
        .filter(|(k, _, _)| !k.is_empty())
        .collect();
    let repeats: Vec<(String, String)> = row_items
        .iter()
        .filter(|(_, _, kind)| kind == "repeat")
        .map(|(k, l, _)| (k.clone(), l.clone()))
        .collect();
    let answerable: Vec<(String, String)> = row_items
        .iter()
        .filter(|(_, _, kind)| kind != "repeat" && kind != "section")
        .map(|(k, l, _)| (k.clone(), l.clone()))
        .collect();
    page(
        "编辑检查清单",
        user,
        "/admin/checklists",
        p,
        html! {
            section.card {
                p { a href="/admin/checklists" { "← 检查清单" } }
                h1 { (if e.id.is_some() { "编辑检查清单" } else { "新建检查清单" }) }
                @if e.id.is_some() { p.hint { "保存会生成新版本;已经用旧版本填写的记录不受影响。" } }
                form method="post" action=(action) {
                    (csrf(user))
                    (Problem::banner(p, &shown_refs))
                    (super::input("名称", "name", f.get("name"), p))
                    label { "适用联络组" (group_select("group_id", e.groups, f.get("group_id"), Some("全区通用"))) (Problem::at(p, "group_id")) }
                    (Problem::at(p, "items"))
                    div.scroll {
                    table.items {
                        tr { th { "顺序" } th { "编号(可不填)" } th { "检查项" } th { "类型" } th { "属于重复组" } th { "必填" } th { "选项(单选、多选,用、分隔)" } th { "最小" } th { "最大" } th { "显示条件" } th { "不合格条件" } }
                        @for i in 0..rows {
                            @let n = |k: &str| format!("items[{i}].{k}");
                            tr {
                                td { input type="number" name=(n("seq")) value=(f.get(&n("seq"))) size="3" min="1" step="any" aria-label="顺序"; }
                                td { input name=(n("key")) value=(f.get(&n("key"))) size="12"; (Problem::at(p, &n("key"))) }
                                td { input name=(n("label")) value=(f.get(&n("label"))); (Problem::at(p, &n("label"))) }
                                td {
                                    select name=(n("kind")) {
                                        @for (_, v, l) in KINDS { option value=(v) selected[f.get(&n("kind")) == v] { (l) } }
                                    }
                                }
                                td {
                                    select name=(n("parent")) aria-label="属于重复组" {
                                        option value="" { "(无)" }
                                        @for (k, l) in &repeats { option value=(k) selected[f.get(&n("parent")) == k.as_str()] { (l) } }
                                    }
                                    (Problem::at(p, &n("parent")))
                                }
                                td { input type="checkbox" name=(n("required")) value="1" checked[!f.get(&n("required")).is_empty()]; }
                                td { input name=(n("options")) value=(f.get(&n("options"))); (Problem::at(p, &n("options"))) }
                                td { input name=(n("min")) value=(f.get(&n("min"))) size="4"; (Problem::at(p, &n("min"))) }
                                td { input name=(n("max")) value=(f.get(&n("max"))) size="4"; (Problem::at(p, &n("max"))) }
                                td.condition {
                                    // The common case by picking; anything else as an expression.
                                    div.pick {
                                        select name=(n("cond_item")) aria-label="当此项" {
                                            option value="" { "(不限)" }
                                            @for (k, l) in &answerable { option value=(k) selected[f.get(&n("cond_item")) == k.as_str()] { (l) } }
                                        }
                                        select name=(n("cond_op")) aria-label="比较" {
                                            @for (v, l) in [("=", "等于"), ("!=", "不等于"), (">", "大于"), ("<", "小于"), ("selected", "选中"), ("answered", "已填写")] {
                                                option value=(v) selected[f.get(&n("cond_op")) == v] { (l) }
                                            }
                                        }
                                        input name=(n("cond_value")) value=(f.get(&n("cond_value"))) size="6" aria-label="值" placeholder="值";
                                    }
                                    input name=(n("relevant")) value=(f.get(&n("relevant"))) placeholder="或写表达式,如 ${q1} > 0" aria-label="显示条件表达式";
                                    (Problem::at(p, &n("relevant")))
                                }
                                td {
                                    input name=(n("fail_when")) value=(f.get(&n("fail_when"))) placeholder="如 . < 60";
                                    input type="hidden" name=(n("more")) value=(f.get(&n("more")));
                                    (Problem::at(p, &n("fail_when"))) (Problem::at(p, &n("more")))
                                }
                            }
                        }
                    }
                    }
                    p.hint { "清空某行的编号和检查项即删除该项;改“顺序”可调整先后。编号不填时按顺序自动生成。分节标题之后的检查项属于该节,节的显示条件对它们都有效。重复组的检查项在“属于重复组”中选择该组。显示条件可用选择框设定,或按 XLSForm 写法填写:${编号} 读取某项的答案,“.”是本项的答案。保存时逐条检查,有误会标在该项旁。" }
                    div.buttons {
                        button type="submit" name="action" value="save" id="save" { (if e.id.is_some() { "保存为新版本" } else { "保存" }) }
                        button.secondary type="submit" name="action" value="more" { "再加 5 行" }
                        @if e.id.is_some() { button.danger type="submit" name="action" value="retire" { "停用此清单" } }
                    }
                }
            }
            @if let Some(id) = e.id {
                section.card {
                    h2 { "历史版本" }
                    ul {
                        @for (v, name, at) in e.versions {
                            li { "第 " (v) " 版 · " (name) " · " (crate::webui::words::time(crate::clock::utc(*at))) " · "
                                a href={ "/admin/checklists/" (id) "/preview?version=" (v) } { "预览" } }
                        }
                    }
                }
            }
        },
    )
}

#[get("/admin/checklists/new")]
async fn new_form(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let groups = st.db.read(group_options).await?;
    let e = Editor {
        id: None,
        groups: &groups,
        versions: &[],
        extra: 5,
    };
    Ok(editor(&user, &e, &Fields::default(), None))
}

#[get("/admin/checklists/{id}")]
async fn edit_form(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let (caller, id) = (user.caller.clone(), id.to_string());
    let tid = id.clone();
    let (t, versions, groups) = st
        .db
        .read(move |c| {
            Ok((
                templates::get(c, &caller, &tid, None)?,
                templates::versions(c, &caller, &tid)?,
                group_options(c)?,
            ))
        })
        .await?;
    let e = Editor {
        id: Some(&id),
        groups: &groups,
        versions: &versions,
        extra: BLANK_ROWS,
    };
    Ok(editor(&user, &e, &fields_of(&t), None))
}

async fn save(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    user: WebUser,
    id: Option<String>,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let caller = user.caller.clone();
    let tid = id.clone();
    let (groups, versions) = st
        .db
        .read(move |c| {
            let v = match &tid {
                Some(t) => templates::versions(c, &caller, t)?,
                None => vec![],
            };
            Ok((group_options(c)?, v))
        })
        .await?;
    let show = |f: &Fields, extra: usize, p: Option<&Problem>| {
        let e = Editor {
            id: id.as_deref(),
            groups: &groups,
            versions: &versions,
            extra,
        };
        editor(&user, &e, f, p)
    };
    if form.get("action") == "more" {
        return Ok(show(&form, 5, None));
    }
    let caller = user.caller.clone();
    if form.get("action") == "retire"
        && let Some(id) = id.clone()
    {
        st.db
            .write(move |c| templates::retire(c, &caller, &id))
            .await?;
        return Ok(back("/admin/checklists"));
    }
    let (items, kept) = match items_of(&form) {
        Ok(x) => x,
        Err(e) => return Ok(show(&form, 0, Some(&Problem::of(&e)))),
    };
    let name = form.get("name").to_string();
    let group_id = form.opt("group_id");
    let result = match id.clone() {
        None => {
            st.db
                .write(move |c| {
                    templates::create(
                        c,
                        &caller,
                        NewTemplate {
                            name,
                            group_id,
                            items,
                        },
                    )
                })
                .await
        }
        Some(id) => {
            st.db
                .write(move |c| {
                    templates::update(
                        c,
                        &caller,
                        &id,
                        TemplatePatch {
                            name: Some(name),
                            items: Some(items),
                            group_id: Some(group_id),
                        },
                    )
                })
                .await
        }
    };
    match result {
        Ok(t) => Ok(saved(&format!("/admin/checklists/{}", t.id))),
        Err(e) if e.status == actix_web::http::StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => Ok(show(&kept, BLANK_ROWS, Some(&Problem::of(&e)))),
    }
}

#[post("/admin/checklists")]
async fn create(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
) -> Page {
    save(st, req, body, user, None).await
}

#[post("/admin/checklists/{id}")]
async fn update(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    save(st, req, body, user, Some(id.to_string())).await
}

/// The form as the field app draws it from the template.
pub fn phone_form(t: &Template) -> Markup {
    html! {
        div.phone {
            div.phone-bar { (t.name) " · 第 " (t.version) " 版" }
            @for item in &t.items { (phone_item(item)) }
            div.q { div.q-label { "照片" } div.seg { span { "拍照" } } }
            div.phone-buttons { span { "存草稿" } span.primary { "提交" } }
        }
    }
}

fn phone_item(item: &Item) -> Markup {
    let options = item.options.as_deref().unwrap_or_default();
    html! {
        @if item.kind == ItemKind::Section {
            div.q-section { (item.label) }
        } @else {
            div.q {
                div.q-label { (item.label) @if item.required { span.req { " *" } } }
                @match item.kind {
                    ItemKind::YesNo => { div.seg { span { "是" } span { "否" } } }
                    ItemKind::Number => {
                        input type="number" disabled placeholder={
                            @if let Some(lo) = item.min { (lo) } @else { "" } " – " @if let Some(hi) = item.max { (hi) } @else { "" }
                        };
                    }
                    ItemKind::Score => {
                        div.seg.score {
                            @let (lo, hi) = (item.min.unwrap_or(0.0) as i64, item.max.unwrap_or(10.0) as i64);
                            @for v in lo..=hi.min(lo + 10) { span { (v) } }
                        }
                    }
                    ItemKind::Text => { textarea disabled rows="2" {} }
                    ItemKind::Choice | ItemKind::MultiChoice => {
                        div.seg.choice { @for o in options { span { (o) } } }
                    }
                    ItemKind::Date => { input type="date" disabled; }
                    ItemKind::Photo => { div.seg { span { "拍照" } } }
                    ItemKind::Signature => { div.seg { span { "签名" } } }
                    ItemKind::Repeat => {
                        div.q-repeat {
                            @for child in item.children() { (phone_item(child)) }
                            div.seg { span { "添加一行" } }
                        }
                    }
                    ItemKind::Section => {}
                }
                div.q-kind {
                    (kind_label(item.kind))
                    @if let Some(r) = &item.relevant { " · 显示条件:" code { (r) } }
                    @if let Some(f) = &item.fail_when { " · 不合格条件:" code { (f) } }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct PreviewQuery {
    version: Option<i32>,
}

/// A trial's answers (`a.<key>` in the query) as a record's field map, by
/// each item's kind: the preview runs the logic on them as the phone and
/// the server do.
fn trial_fields(items: &[Item], pairs: &[(String, String)]) -> crate::inspection::merge::Fields {
    // A stand-in photo id for "taken" (photo and signature items).
    const TAKEN: &str = "00000000-0000-4000-8000-000000000000";
    let mut out = crate::inspection::merge::Fields::new();
    for item in items.iter().filter(|i| i.kind.answers()) {
        let vals: Vec<&str> = pairs
            .iter()
            .filter(|(k, v)| {
                k.strip_prefix("a.") == Some(item.key.as_str()) && !v.trim().is_empty()
            })
            .map(|(_, v)| v.trim())
            .collect();
        let Some(first) = vals.first().copied() else {
            continue;
        };
        let v = match item.kind {
            ItemKind::YesNo => serde_json::json!(first == "yes"),
            ItemKind::Number | ItemKind::Score => match first.parse::<f64>() {
                Ok(n) => serde_json::json!(n),
                Err(_) => continue,
            },
            ItemKind::MultiChoice => serde_json::json!(vals),
            ItemKind::Photo => serde_json::json!([TAKEN]),
            ItemKind::Signature => serde_json::json!(TAKEN),
            _ => serde_json::json!(first),
        };
        out.insert(format!("answers.{}", item.key), v);
    }
    out
}

/// The trial: a form of the checklist's own items (repeats are filled row
/// by row on the phone and left out here), and what the logic makes of
/// the answers: which items show, which fail, what is missing, the score.
fn trial(t: &Template, pairs: &[(String, String)], action: &str, version: i32) -> Markup {
    let fields = trial_fields(&t.items, pairs);
    let compiled = crate::inspection::checklist::Compiled::new(&t.items);
    let (c, hidden) = compiled.judge(&fields, &std::collections::HashSet::new());
    let failed: std::collections::HashSet<&str> = c.failed.iter().map(String::as_str).collect();
    let missing: std::collections::HashSet<&str> = c
        .missing_required
        .iter()
        .map(|m| m.split('#').next().unwrap_or_default())
        .collect();
    let has = |key: &str, v: &str| {
        pairs
            .iter()
            .any(|(k, x)| k.strip_prefix("a.") == Some(key) && x == v)
    };
    let tried = pairs.iter().any(|(k, _)| k.starts_with("a."));
    html! {
        section.card id="trial" {
            h2 { "试填:检验逻辑" }
            p.hint { "按巡查员的答案试一试:隐藏的项、不合格的项和缺少的必填项会标出来。不会保存任何数据。" }
            form method="get" action=(action) {
                input type="hidden" name="version" value=(version);
                div.scroll {
                    table.list.trial {
                        tr { th { "检查项" } th { "答案" } th { "结果" } }
                        @for item in &t.items {
                            @let k = item.key.as_str();
                            @let name = format!("a.{k}");
                            tr class=(if hidden.contains(k) { "hidden" } else if failed.contains(k) { "bad" } else { "" }) {
                                td { (item.label) @if item.required { span.req { " *" } } }
                                td {
                                    @match item.kind {
                                        ItemKind::YesNo => {
                                            label.check { input type="radio" name=(name) value="yes" checked[has(k, "yes")]; " 是" }
                                            label.check { input type="radio" name=(name) value="no" checked[has(k, "no")]; " 否" }
                                        }
                                        ItemKind::Choice | ItemKind::MultiChoice => {
                                            @for o in item.options.as_deref().unwrap_or_default() {
                                                label.check {
                                                    input type=(if item.kind == ItemKind::Choice { "radio" } else { "checkbox" }) name=(name) value=(o) checked[has(k, o)];
                                                    " " (o)
                                                }
                                            }
                                        }
                                        ItemKind::Number | ItemKind::Score => {
                                            input type="number" step="any" name=(name) size="6" aria-label=(item.label)
                                                value=(pairs.iter().find(|(x, _)| x == &name).map_or("", |(_, v)| v.as_str()));
                                        }
                                        ItemKind::Text | ItemKind::Date => {
                                            input type=(if item.kind == ItemKind::Date { "date" } else { "text" }) name=(name) aria-label=(item.label)
                                                value=(pairs.iter().find(|(x, _)| x == &name).map_or("", |(_, v)| v.as_str()));
                                        }
                                        ItemKind::Photo | ItemKind::Signature => {
                                            label.check { input type="checkbox" name=(name) value="1" checked[has(k, "1")]; (if item.kind == ItemKind::Photo { " 已拍照" } else { " 已签名" }) }
                                        }
                                        ItemKind::Section => { "(分节标题)" }
                                        ItemKind::Repeat => { "(在手机上逐行填写)" }
                                    }
                                }
                                td {
                                    @if !tried { "" }
                                    @else if hidden.contains(k) { "隐藏" }
                                    @else if failed.contains(k) { "不合格" }
                                    @else if missing.contains(k) { "缺少" }
                                    @else if item.kind.answers() { "显示" }
                                }
                            }
                        }
                    }
                }
                button type="submit" id="try" { "试一试" }
            }
            @if tried {
                ul.checks.summary {
                    li { "得分 " (c.score.got) " / " (c.score.max) }
                    li class=(if c.failed.is_empty() { "ok" } else { "bad" }) { "不合格项:" (c.failed.len()) }
                    li class=(if c.missing_required.is_empty() { "ok" } else { "bad" }) { "缺少的必填项:" (c.missing_required.len()) }
                }
            }
        }
    }
}

#[get("/admin/checklists/{id}/preview")]
async fn preview(
    st: web::Data<AppState>,
    req: HttpRequest,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
    q: web::Query<PreviewQuery>,
) -> Page {
    // Every pair, a multi-choice's several values included.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let (caller, id, v) = (user.caller.clone(), id.to_string(), q.version);
    let tid = id.clone();
    let t = st
        .db
        .read(move |c| templates::get(c, &caller, &tid, v))
        .await?;
    Ok(page(
        "手机预览",
        &user,
        "/admin/checklists",
        None,
        html! {
            section.card {
                p { a href={ "/admin/checklists/" (id) } { "← 编辑" } }
                h1 { "手机上的样子" }
                p.hint { "巡查员在手机上看到的表单(宽 360 像素);带 * 的为必填,提交时检查。" }
                (phone_form(&t))
            }
            (trial(&t, &pairs, &format!("/admin/checklists/{id}/preview"), t.version))
        },
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Before `/admin/checklists/{id}`, which would take "import" for an id.
    super::checklist_import::configure(cfg);
    cfg.service(list)
        .service(new_form)
        .service(create)
        .service(preview)
        .service(edit_form)
        .service(update);
}
