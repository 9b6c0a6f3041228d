//! Sites from and to spreadsheets in the console: an import previewed row
//! by row (every row's errors in Chinese) and written only whole, and the
//! exports in the import's own format.

use crate::error::AppError;
use crate::reference::site_files::{self, Action, ImportQuery, ImportReport};
use crate::reference::sites::SiteFilter;
use crate::state::AppState;
use crate::webui::admin::{AdminUser, Page, Problem, csrf, group_options, group_select, page};
use crate::webui::session::WebUser;
use actix_multipart::form::MultipartForm;
use actix_multipart::form::bytes::Bytes as FileField;
use actix_multipart::form::text::Text;
use actix_web::{HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use maud::html;
use serde::Deserialize;

#[derive(MultipartForm)]
struct ImportForm {
    csrf: Text<String>,
    group_id: Option<Text<String>>,
    action: Option<Text<String>>,
    /// The file, on the first step.
    #[multipart(limit = "32MB")]
    file: Option<FileField>,
    /// The same file carried back by the confirm step (base64).
    #[multipart(limit = "48MB")]
    content: Option<Text<String>>,
}

fn import_page(
    user: &WebUser,
    groups: &[(String, String)],
    group: &str,
    report: Option<(&ImportReport, &str)>,
    p: Option<&Problem>,
) -> HttpResponse {
    page(
        "导入点位",
        user,
        "/admin/sites",
        p,
        html! {
            section.card {
                p { a href="/admin/sites" { "← 点位" } }
                h1 { "从表格导入点位" }
                p.hint {
                    "支持 CSV(UTF-8 或 Excel 保存的 GBK 编码)和 GeoJSON。表头可以是中文或英文:"
                    code { "编码, 名称, 类型, 地址, 纬度, 经度, 半径(米), 联络组" }
                    "(名称、纬度、经度必填)。同一编码再次导入会更新原点位,不会重复。先预览,确认无误后才写入。"
                }
                form method="post" action="/admin/sites/import" enctype="multipart/form-data" {
                    (csrf(user))
                    input type="hidden" name="action" value="preview";
                    (Problem::banner(p, &["file", "group_id"]))
                    label { "文件" input type="file" name="file" id="file" accept=".csv,.geojson,.json,text/csv,application/geo+json" required; (Problem::at(p, "file")) }
                    label { "未注明联络组的行归入" (group_select("group_id", groups, group, Some("(表格中已注明)"))) (Problem::at(p, "group_id")) }
                    button type="submit" id="preview" { "预览" }
                }
            }
            @if let Some((r, content)) = report {
                section.card id="report" {
                    h2 { @if r.applied { "已导入" } @else { "预览" } }
                    p.summary {
                        "新建 " strong { (r.created) } ",更新 " strong { (r.updated) } ",不变 " strong { (r.unchanged) } ",错误 " strong.errors { (r.errors) }
                    }
                    @if !r.applied && r.errors == 0 && r.created + r.updated > 0 {
                        form method="post" action="/admin/sites/import" enctype="multipart/form-data" {
                            (csrf(user))
                            input type="hidden" name="action" value="apply";
                            input type="hidden" name="group_id" value=(group);
                            input type="hidden" name="content" value=(content);
                            button type="submit" id="apply" { "确认导入" }
                        }
                    }
                    @if r.errors > 0 { p.error { "有错误的行,改正表格后重新上传;在此之前不会写入任何数据。" } }
                    table.list {
                        tr { th { "行" } th { "编码" } th { "名称" } th { "操作" } th { "问题" } }
                        @for row in &r.rows {
                            tr class=(if row.action == Action::Error { "bad" } else { "" }) {
                                td { (row.line) } td { (row.code.clone().unwrap_or_default()) } td { (row.name) }
                                td { (match row.action { Action::Create => "新建", Action::Update => "更新", Action::Unchanged => "不变", Action::Error => "错误" }) }
                                td { @for e in &row.errors { span.field-error { (crate::webui::admin::field_label(&e.field)) ":" (crate::webui::admin::zh(crate::error::ErrorCode::ValidationFailed, &e.reason)) } " " } }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[get("/admin/sites/import")]
pub(super) async fn import_form(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let groups = st.db.read(group_options).await?;
    Ok(import_page(&user, &groups, "", None, None))
}

#[post("/admin/sites/import")]
pub(super) async fn import(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    form: MultipartForm<ImportForm>,
) -> Page {
    let form = form.into_inner();
    crate::webui::session::check_csrf(&user, &form.csrf)?;
    let group = form.group_id.map(|g| g.into_inner()).unwrap_or_default();
    let apply = form.action.is_some_and(|a| a.as_str() == "apply");
    // A sheet may be tens of megabytes: its base64 is made off the executor.
    let (file, carried) = (
        form.file.map(|f| f.data),
        form.content.map(|c| c.into_inner()),
    );
    // The API's limit on a sheet holds here too (FIELDSYNC_MAX_JSON_BYTES).
    let max = st.config.max_json_bytes;
    let read = web::block(move || -> Result<(Vec<u8>, String), AppError> {
        let bytes = crate::webui::admin::uploaded_file(file, carried)?;
        if bytes.len() > max {
            return Err(AppError::too_large(format!(
                "the file is larger than {} MB",
                max.div_ceil(1024 * 1024)
            ))
            .with_details(serde_json::json!({"field": "file", "reason": "too large"})));
        }
        let content = STANDARD.encode(&bytes);
        Ok((bytes, content))
    })
    .await
    .map_err(AppError::from)?;
    let (bytes, content) = match read {
        Ok(read) => read,
        Err(e) => {
            let groups = st.db.read(group_options).await?;
            let p = Problem::of(&e);
            return Ok(import_page(&user, &groups, &group, None, Some(&p)));
        }
    };
    let q = ImportQuery {
        dry_run: Some(!apply),
        group_id: Some(group.clone()).filter(|g| !g.is_empty()),
    };
    let caller = user.caller.clone();
    let result = if apply {
        st.db
            .write(move |c| site_files::import(c, &caller, &bytes, &q))
            .await
    } else {
        st.db
            .read(move |c| site_files::import(c, &caller, &bytes, &q))
            .await
    };
    let groups = st.db.read(group_options).await?;
    match result {
        Ok(r) => Ok(import_page(
            &user,
            &groups,
            &group,
            Some((&r, &content)),
            None,
        )),
        Err(e) => {
            // Rows with errors come back as a report, anything else as a
            // problem with the file.
            let report: Option<ImportReport> = e
                .details
                .as_ref()
                .and_then(|d| serde_json::from_value(d["report"].clone()).ok());
            let p = Problem::of(&e);
            Ok(import_page(
                &user,
                &groups,
                &group,
                report.as_ref().map(|r| (r, content.as_str())),
                Some(&p),
            ))
        }
    }
}

#[derive(Deserialize)]
struct ExportQuery {
    group_id: Option<String>,
    kind: Option<String>,
    q: Option<String>,
}

/// What an export is written as.
#[derive(Clone, Copy)]
enum Export {
    Sheet(crate::http::sheet::Format),
    GeoJson,
}

async fn export(st: web::Data<AppState>, user: WebUser, q: ExportQuery, format: Export) -> Page {
    let f = SiteFilter {
        group_id: q.group_id.filter(|g| !g.is_empty()),
        kind: q.kind.filter(|k| !k.is_empty()),
        q: q.q,
    };
    let caller = user.caller;
    Ok(match format {
        Export::Sheet(sheet) => {
            crate::http::sheet::answer(st.db.clone(), sheet, "sites", move |c, cursor| {
                site_files::sheet_page(c, &caller, &f, cursor)
            })
            .await?
        }
        Export::GeoJson => {
            crate::http::streaming::pages(
                st.db.clone(),
                "application/geo+json",
                Some("sites.geojson".into()),
                move |c, cursor| site_files::geojson_page(c, &caller, &f, cursor),
            )
            .await?
        }
    })
}

#[get("/admin/sites/export.csv")]
pub(super) async fn export_csv(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<ExportQuery>,
) -> Page {
    export(
        st,
        user,
        q.into_inner(),
        Export::Sheet(crate::http::sheet::Format::Csv),
    )
    .await
}

#[get("/admin/sites/export.xlsx")]
pub(super) async fn export_xlsx(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<ExportQuery>,
) -> Page {
    export(
        st,
        user,
        q.into_inner(),
        Export::Sheet(crate::http::sheet::Format::Xlsx),
    )
    .await
}

#[get("/admin/sites/export.geojson")]
pub(super) async fn export_geojson(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<ExportQuery>,
) -> Page {
    export(st, user, q.into_inner(), Export::GeoJson).await
}
