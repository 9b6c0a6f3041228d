//! A checklist from an XLSForm in the console: the file is read and
//! previewed (every item as the phone will ask it, and every part of the
//! form the checklist cannot take, by row and column), and saved only when
//! the admin confirms. The same reading as the API's
//! `POST /api/v1/templates/import`.

use crate::error::AppError;
use crate::reference::templates::{self, ImportQuery, Imported, Item, ItemKind};
use crate::state::AppState;
use crate::webui::admin::{
    AdminUser, Page, Problem, csrf, group_options, group_select, page, saved,
};
use crate::webui::session::WebUser;
use actix_multipart::form::MultipartForm;
use actix_multipart::form::bytes::Bytes as FileField;
use actix_multipart::form::text::Text;
use actix_web::{HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use maud::{Markup, html};

#[derive(MultipartForm)]
struct ImportForm {
    csrf: Text<String>,
    group_id: Option<Text<String>>,
    name: Option<Text<String>>,
    action: Option<Text<String>>,
    /// The file, on the first step.
    #[multipart(limit = "8MB")]
    file: Option<FileField>,
    /// The same file carried back by the confirm step (base64).
    #[multipart(limit = "12MB")]
    content: Option<Text<String>>,
}

fn kind_word(k: ItemKind) -> &'static str {
    match k {
        ItemKind::YesNo => "是/否",
        ItemKind::Number => "数值",
        ItemKind::Score => "评分",
        ItemKind::Text => "文字",
        ItemKind::Choice => "单选",
        ItemKind::MultiChoice => "多选",
        ItemKind::Date => "日期",
        ItemKind::Photo => "照片",
        ItemKind::Signature => "签名",
        ItemKind::Section => "分节标题",
        ItemKind::Repeat => "重复组",
    }
}

fn item_rows(items: &[Item], inside: bool) -> Markup {
    html! {
        @for i in items {
            tr class=(if i.kind == ItemKind::Section { "section" } else { "" }) {
                td { @if inside { "└ " } (i.label) @if i.required { span.req { " *" } } }
                td { (kind_word(i.kind)) }
                td {
                    @if let Some(o) = &i.options { (o.join("、")) }
                }
                td {
                    @if i.relevant.is_some() { "有显示条件 " }
                    @if i.required_when.is_some() { "有必填条件 " }
                    @if i.fail_when.is_some() { "有不合格条件" }
                }
            }
            @if i.kind == ItemKind::Repeat { (item_rows(i.children(), true)) }
        }
    }
}

struct Shown<'a> {
    group: &'a str,
    name: &'a str,
    preview: Option<(&'a Imported, &'a str)>,
}

fn import_page(
    user: &WebUser,
    groups: &[(String, String)],
    s: &Shown<'_>,
    p: Option<&Problem>,
) -> HttpResponse {
    page(
        "导入检查清单",
        user,
        "/admin/checklists",
        p,
        html! {
            section.card {
                p { a href="/admin/checklists" { "← 检查清单" } }
                h1 { "从 XLSForm 导入检查清单" }
                p.hint {
                    "上传 ODK、KoboToolbox 使用的 XLSForm 表格(.xlsx,含 survey、choices 工作表)。"
                    "有中文标签时用中文;分组成为分节标题,重复组、显示条件、必填条件一并导入;"
                    "不能导入的部分会逐行列出。先预览,确认无误后才保存。"
                }
                form method="post" action="/admin/checklists/import" enctype="multipart/form-data" {
                    (csrf(user))
                    input type="hidden" name="action" value="preview";
                    (Problem::banner(p, &["file", "group_id", "name"]))
                    label { "文件" input type="file" name="file" id="file" accept=".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required; (Problem::at(p, "file")) }
                    label { "名称(不填则用表格中的标题)" input name="name" value=(s.name); (Problem::at(p, "name")) }
                    label { "适用联络组" (group_select("group_id", groups, s.group, Some("全区通用"))) (Problem::at(p, "group_id")) }
                    button type="submit" id="preview" { "预览" }
                }
            }
            @if let Some((r, content)) = s.preview {
                section.card id="report" {
                    h2 { "预览:" (r.template.name) }
                    p.summary { "共 " strong { (templates::walk(&r.template.items).len()) } " 项;不能导入的部分 " strong.errors { (r.unsupported.len()) } " 处" }
                    form method="post" action="/admin/checklists/import" enctype="multipart/form-data" {
                        (csrf(user))
                        input type="hidden" name="action" value="apply";
                        input type="hidden" name="group_id" value=(s.group);
                        input type="hidden" name="name" value=(s.name);
                        input type="hidden" name="content" value=(content);
                        button type="submit" id="apply" { "确认导入" }
                    }
                    div.scroll {
                        table.list {
                            tr { th { "检查项" } th { "类型" } th { "选项" } th { "逻辑" } }
                            (item_rows(&r.template.items, false))
                        }
                    }
                    @if !r.unsupported.is_empty() {
                        h3 { "未导入的部分" }
                        div.scroll {
                            table.list {
                                tr { th { "行" } th { "列" } th { "原因" } }
                                @for u in &r.unsupported {
                                    tr { td { @if u.row > 0 { (u.row) } @else { "—" } } td { code { (u.column) } } td { (u.reason) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[get("/admin/checklists/import")]
async fn import_form(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let groups = st.db.read(group_options).await?;
    let s = Shown {
        group: "",
        name: "",
        preview: None,
    };
    Ok(import_page(&user, &groups, &s, None))
}

#[post("/admin/checklists/import")]
async fn import(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    form: MultipartForm<ImportForm>,
) -> Page {
    let form = form.into_inner();
    crate::webui::session::check_csrf(&user, &form.csrf)?;
    let group = form.group_id.map(|g| g.into_inner()).unwrap_or_default();
    let name = form.name.map(|n| n.into_inner()).unwrap_or_default();
    let apply = form.action.is_some_and(|a| a.as_str() == "apply");
    let (file, carried) = (
        form.file.map(|f| f.data),
        form.content.map(|c| c.into_inner()),
    );
    let q = ImportQuery {
        dry_run: !apply,
        group_id: Some(group.clone()).filter(|g| !g.is_empty()),
        name: Some(name.clone()).filter(|n| !n.trim().is_empty()),
    };
    // Unzipping and reading the sheets is CPU work: off the executor.
    let read = web::block(move || {
        let bytes = super::uploaded_file(file, carried)?;
        let (new, unsupported) = templates::read_xlsform(&bytes, &q)?;
        Ok::<_, AppError>((new, unsupported, STANDARD.encode(&bytes)))
    })
    .await
    .map_err(AppError::from)?;
    let groups = st.db.read(group_options).await?;
    let (new, unsupported, content) = match read {
        Ok(r) => r,
        Err(e) => {
            let p = Problem::of(&e);
            let s = Shown {
                group: &group,
                name: &name,
                preview: None,
            };
            return Ok(import_page(&user, &groups, &s, Some(&p)));
        }
    };
    let caller = user.caller.clone();
    let result = st
        .db
        .write(move |c| templates::import(c, &caller, new, unsupported, !apply))
        .await;
    match result {
        Ok(r) if apply => Ok(saved(&format!(
            "/admin/checklists/{}",
            r.template.id.unwrap_or_default()
        ))),
        Ok(r) => {
            let s = Shown {
                group: &group,
                name: &name,
                preview: Some((&r, &content)),
            };
            Ok(import_page(&user, &groups, &s, None))
        }
        Err(e) => {
            let p = Problem::of(&e);
            let s = Shown {
                group: &group,
                name: &name,
                preview: None,
            };
            Ok(import_page(&user, &groups, &s, Some(&p)))
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(import_form).service(import);
}
