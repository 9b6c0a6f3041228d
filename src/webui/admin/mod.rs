//! The admins' console at `/admin`: groups and users, sites (with import
//! from a spreadsheet), checklists, routes and their schedules, and the
//! coverage of what has not been inspected lately. Server-rendered like the
//! review page and signed in with the same session; every form posts to
//! the same functions the JSON API calls, and an error comes back next to
//! the field it concerns.

mod channels;
mod checklist_import;
mod checklists;
mod coverage;
mod departments;
mod people;
mod plans;
mod sites;

use super::layout;
use super::session::{self, Refused, WebUser};
use crate::db::Conn;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use maud::{Markup, html};
use std::future::Future;
use std::pin::Pin;

type Page = Result<HttpResponse, Refused>;

/// A signed-in admin (anyone else: 403, or the login page).
pub struct AdminUser(pub WebUser);

impl FromRequest for AdminUser {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<AdminUser, Refused>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = WebUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.caller.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(AppError::forbidden("管理控制台仅供管理员使用").into())
            }
        })
    }
}

/// A form's fields in order, as sent (a name may repeat: checkboxes).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.retain(|(k, _)| k != name);
        self.0.push((name.to_string(), value.into()));
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_string(), value.into()));
    }

    /// A trimmed optional value: empty is none.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim().to_string()).filter(|v| !v.is_empty())
    }

    /// A number the form must carry, or the error for its field.
    pub fn number(&self, name: &str) -> AppResult<f64> {
        self.get(name)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| AppError::invalid(name, "must be a number"))
    }

    pub fn check_csrf(&self, user: &WebUser) -> Result<(), Refused> {
        session::check_csrf(user, self.get("csrf"))
    }
}

/// An error as the console shows it: in Chinese, next to its field when
/// it names one the form has.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub field: Option<String>,
    pub text: String,
}

impl Problem {
    pub fn of(e: &AppError) -> Problem {
        let (field, reason) = e.field_and_reason();
        Problem {
            status: e.status,
            text: zh(e.code, reason),
            field: field.map(str::to_string),
        }
    }

    /// The message under a field, if the problem is about it.
    pub fn at(p: Option<&Problem>, field: &str) -> Markup {
        html! {
            @if let Some(p) = p.filter(|p| p.field.as_deref() == Some(field)) {
                span.field-error role="alert" { (p.text) }
            }
        }
    }

    /// The message at the top of a form, when it is about no field shown.
    pub fn banner(p: Option<&Problem>, shown: &[&str]) -> Markup {
        html! {
            @if let Some(p) = p.filter(|p| p.field.as_deref().is_none_or(|f| !shown.contains(&f))) {
                p.error role="alert" {
                    @if let Some(f) = &p.field { (field_label(f)) ":" }
                    (p.text)
                }
            }
        }
    }
}

/// A field as the console labels it; `stops[2].template_id` is "第 3 站的
/// 检查清单". Never the API's English name.
pub fn field_label(f: &str) -> String {
    if let Some(rest) = f.strip_prefix("stops[")
        && let Some((n, sub)) = rest.split_once("].")
        && let Ok(n) = n.parse::<usize>()
    {
        return format!("第 {} 站的{}", n + 1, field_label(sub));
    }
    if let Some(rest) = f.strip_prefix("items[")
        && let Some((n, sub)) = rest.split_once("].")
        && let Ok(n) = n.parse::<usize>()
    {
        return format!("第 {} 个检查项的{}", n + 1, field_label(sub));
    }
    match f {
        "name" => "名称",
        "group_id" | "group" => "联络组",
        "username" => "用户名",
        "password" => "密码",
        "display_name" => "姓名",
        "role" => "角色",
        "lat" => "纬度",
        "lon" => "经度",
        "radius_m" => "半径",
        "code" => "编码",
        "kind" => "类型",
        "address" => "地址",
        "towns" => "镇街",
        "stops" => "站点",
        "items" => "检查项",
        "assignee_id" => "负责人",
        "scheduled_for" => "日期",
        "due" | "due_at" => "截止日期",
        "file" => "文件",
        "site_id" => "点位",
        "template_id" => "检查清单",
        "notes" => "备注",
        "key" => "编号",
        "label" => "题目",
        "options" => "选项",
        "min" => "最小值",
        "max" => "最大值",
        "id" => "编号",
        "horizon_days" => "提前生成天数",
        "recurrence" | "recurrence.weekdays" => "规则",
        "recurrence.month_day" => "每月几日",
        "active" => "启用",
        "row" => "行",
        "url" => "地址",
        "secret" => "密钥",
        "events" => "事件",
        "department_id" => "部门",
        _ => "此项",
    }
    .to_string()
}

/// The API's reasons in the console's language. A reason not listed is
/// shown as "不符合要求": English never reaches the page.
pub fn zh(code: ErrorCode, reason: &str) -> String {
    const KNOWN: [(&str, &str); 79] = [
        // The relay's channels.
        (
            "points at a loopback, private, link-local or metadata",
            "不能指向本机、内网、链路本地或云元数据地址",
        ),
        ("must be https", "须为 https 地址"),
        ("must be an https URL", "须为 https 地址"),
        ("must be a URL", "须为网址"),
        ("its host does not resolve", "域名无法解析"),
        (
            "must not carry a user name or password",
            "地址中不能含用户名或密码",
        ),
        ("name at least one event", "至少选择一个事件"),
        ("unknown event", "未知事件"),
        ("a webhook is signed", "Webhook 须填写以 whsec_ 开头的密钥"),
        ("must be whsec_ and base64", "密钥须以 whsec_ 开头"),
        (
            "a WeCom robot has no signing secret",
            "企业微信机器人无需密钥(密钥已在地址中)",
        ),
        // (the rest)
        // Specific before general: the first reason that matches wins.
        ("a repeat cannot hold a repeat", "重复组内不能再有重复组"),
        (
            "a repeat needs at least one item",
            "重复组至少需要一个检查项",
        ),
        ("only a repeat has items", "只有重复组可以包含检查项"),
        ("only a choice item has options", "只有单选、多选题有选项"),
        (
            "only number and score items have bounds",
            "只有数值、评分题有上下限",
        ),
        ("needs fail_when", "须先填写不合格条件"),
        ("a choice needs at least one option", "至少需要一个选项"),
        ("must be 1-64 of a-z", "编号只能用小写字母、数字和下划线"),
        ("a section item has no", "分节标题不能设置此项"),
        ("a repeat item has no", "重复组不能设置此项"),
        ("must be between 0 and 1000", "须在 0 到 1000 之间"),
        ("is not what the editor wrote", "数据不完整,请刷新后重试"),
        ("must not be empty", "不能为空"),
        ("is missing", "缺少此项"),
        ("must be a number", "必须是数字"),
        ("is not a number", "必须是数字"),
        ("no such group", "联络组不存在"),
        ("no group", "没有这个联络组"),
        ("no such user", "人员不存在"),
        ("the user name is taken", "用户名已被占用"),
        ("must be a latitude", "纬度须在 -90 到 90 之间"),
        ("must be a longitude", "经度须在 -180 到 180 之间"),
        ("must be positive and at most", "须大于 0 且不超过 50000 米"),
        ("another site has the code", "编码已被其他点位使用"),
        ("another site has this code", "编码已被其他点位使用"),
        (
            "must be an active inspector of the route's group",
            "须是该联络组在岗的巡查员",
        ),
        ("must be a site of the route's group", "须是该联络组的点位"),
        ("choose a checklist", "请选择检查清单"),
        ("must be a live checklist", "须是可用的检查清单"),
        ("a schedule needs at least one stop", "至少选择一个点位"),
        ("a checklist needs at least one item", "至少需要一个检查项"),
        ("a weekly schedule needs weekdays", "每周计划须选择星期"),
        (
            "a monthly schedule needs a month_day",
            "每月计划须填写 1-31 日",
        ),
        (
            "only a monthly schedule has a month_day",
            "只有每月计划需要填写日期",
        ),
        (
            "only a weekly schedule has weekdays",
            "只有每周计划需要选择星期",
        ),
        ("must be between 0 and", "须在 0 到 92 天之间"),
        ("must be a date", "须是日期"),
        ("must be at least", "至少 8 个字符"),
        ("must be at most", "太长"),
        ("at most", "数量超过上限"),
        ("belongs to a liaison group", "须选择所属联络组"),
        (
            "an admin is district-wide and has no group",
            "管理员属于全区,不选联络组",
        ),
        ("appears twice in the file", "文件中重复出现"),
        ("rows have errors", "有错误的行,未导入任何数据"),
        ("too large", "文件太大,超过服务器允许的上限"),
        (
            "another row of the file names the same site",
            "文件中另一行指向同一个点位",
        ),
        ("no site has this id", "没有这个编号的点位"),
        ("must not contain spaces", "不能包含空格"),
        ("must not contain control characters", "不能包含控制字符"),
        (
            "must be inspector, coordinator or admin",
            "须是巡查员、协调员或管理员",
        ),
        ("must be an active user", "须是在岗人员"),
        ("is used twice", "重复了"),
        ("is listed twice", "重复了"),
        (
            "give seq for every stop or for none",
            "顺序须全部填写或全部留空",
        ),
        ("seq must run", "顺序须从 1 开始连续编号"),
        ("is not a stop of this route", "不是本路线的站点"),
        ("has no rows", "文件中没有数据行"),
        ("cannot read the CSV", "无法读取 CSV 文件"),
        ("cannot read the header row", "无法读取表头"),
        ("the header row needs", "表头须有名称、纬度、经度三列"),
        ("not valid GeoJSON", "不是有效的 GeoJSON 文件"),
        ("FeatureCollection is expected", "须是 GeoJSON 要素集合"),
        ("not UTF-8", "文件编码无法识别"),
        (
            "must be a route of the follow-up's group",
            "须是该整改所属联络组的路线",
        ),
        ("must be open or resolved", "状态须是待处理或已处理"),
        ("did not come back intact", "文件传输不完整,请重新上传"),
        ("say what the inspector should do", "请填写意见"),
        ("is not one of the options", "须是给定的选项之一"),
    ];
    // What the code says is all there is to say for these; for the
    // others, the reason names what was wrong.
    use ErrorCode as E;
    if code == E::PayloadTooLarge {
        // The console's only large bodies are the files it imports.
        return "文件太大,超过服务器允许的上限".into();
    }
    if matches!(
        code,
        E::LastAdmin
            | E::Stale
            | E::InvalidTransition
            | E::Unavailable
            | E::Forbidden
            | E::NotFound
    ) {
        return code.zh().into();
    }
    // Reasons written in Chinese where they arise (a checklist's
    // expressions, an XLSForm's problems) are shown as they are.
    // (They begin in Chinese; an English reason quoting Chinese data does
    // not.)
    let own = reason.strip_prefix("expression: ").unwrap_or(reason);
    if own
        .chars()
        .next()
        .is_some_and(|c| ('\u{4e00}'..='\u{9fff}').contains(&c) || c == '“')
    {
        return own.to_string();
    }
    let fallback = match code {
        E::AlreadyExists => "已被占用,请换一个",
        E::ValidationFailed => "不符合要求",
        other => other.zh(),
    };
    KNOWN
        .iter()
        .find(|(en, _)| reason.contains(en))
        .map_or_else(|| fallback.to_string(), |(_, z)| (*z).to_string())
}

/// The file of an import form: uploaded on the first step, or carried
/// back (base64) by the confirm step of a preview.
pub(crate) fn uploaded_file(
    file: Option<actix_web::web::Bytes>,
    carried: Option<String>,
) -> Result<Vec<u8>, crate::error::AppError> {
    use base64::Engine;
    match (file, carried) {
        (Some(f), _) if !f.is_empty() => Ok(f.to_vec()),
        (_, Some(c)) => base64::engine::general_purpose::STANDARD
            .decode(c.as_bytes())
            .map_err(|_| {
                crate::error::AppError::bad_request(
                    ErrorCode::MalformedForm,
                    "the file did not come back intact",
                )
            }),
        _ => Ok(Vec::new()),
    }
}

/// The console's tabs.
const TABS: [(&str, &str); 10] = [
    ("/admin", "概览"),
    ("/admin/groups", "联络组"),
    ("/admin/users", "人员"),
    ("/admin/departments", "部门"),
    ("/admin/channels", "通知"),
    ("/admin/sites", "点位"),
    ("/admin/checklists", "检查清单"),
    ("/admin/routes", "巡查路线"),
    ("/admin/schedules", "周期计划"),
    ("/admin/coverage", "巡查覆盖"),
];

/// A console page (status 200, or the error's status when a form comes
/// back with a problem).
pub fn page(
    title: &str,
    user: &WebUser,
    tab: &str,
    problem: Option<&Problem>,
    body: Markup,
) -> HttpResponse {
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    let markup = layout::layout(
        title,
        Some(user),
        html! {
            nav.tabs {
                @for (href, label) in TABS {
                    a href=(href) class=(if href == tab { "on" } else { "" }) { (label) }
                }
            }
            (body)
        },
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

pub fn back(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to.to_string()))
        .finish()
}

/// After a save: back to `to`, which then says it was saved.
pub fn saved(to: &str) -> HttpResponse {
    let (path, frag) = to.split_once('#').map_or((to, None), |(p, f)| (p, Some(f)));
    let sep = if path.contains('?') { '&' } else { '?' };
    let frag = frag.map(|f| format!("#{f}")).unwrap_or_default();
    back(&format!("{path}{sep}saved=1{frag}"))
}

/// The notice a page shows after a save (`?saved=1`): an admin sees that
/// the change was kept. Added to the console's pages as they leave.
pub async fn saved_notice(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let wanted = req.path().starts_with("/admin")
        && req.method() == actix_web::http::Method::GET
        && req.query_string().split('&').any(|kv| kv == "saved=1");
    let res = next.call(req).await?.map_into_boxed_body();
    let html = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !wanted || !html || res.status() != StatusCode::OK {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    // A console page is a few kilobytes of HTML.
    let bytes = actix_web::body::to_bytes_limited(body, 4 * 1024 * 1024)
        .await
        .map_err(|_| actix_web::error::ErrorInternalServerError("page too large"))?
        .map_err(actix_web::error::ErrorInternalServerError)?;
    let page = String::from_utf8_lossy(&bytes).replacen(
        "<main>",
        "<main><p class=\"notice\" id=\"saved\" role=\"status\">已保存</p>",
        1,
    );
    Ok(actix_web::dev::ServiceResponse::new(
        req,
        head.set_body(page).map_into_boxed_body(),
    ))
}

/// The hidden CSRF field every form carries.
pub fn csrf(user: &WebUser) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf); }
}

/// A labelled text input with its error.
pub fn input(label: &str, name: &str, value: &str, p: Option<&Problem>) -> Markup {
    html! {
        label {
            (label)
            input name=(name) id=(name) value=(value);
            (Problem::at(p, name))
        }
    }
}

/// Groups as (id, name), for selects.
pub fn group_options(c: &mut Conn) -> AppResult<Vec<(String, String)>> {
    crate::reference::groups::names(c)
}

pub fn group_select(
    name: &str,
    groups: &[(String, String)],
    chosen: &str,
    blank: Option<&str>,
) -> Markup {
    html! {
        select name=(name) id=(name) {
            @if let Some(b) = blank { option value="" { (b) } }
            @for (id, n) in groups { option value=(id) selected[id == chosen] { (n) } }
        }
    }
}

/// The overview: counts, and what needs attention.
#[get("/admin")]
async fn overview(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let caller = user.caller.clone();
    let (counts, stale, late_routes, late_followups) = st
        .db
        .read(move |c| {
            let counts = crate::reference::totals(c)?;
            let filter = crate::review::coverage::CoverageFilter {
                stale_days: Some(30),
                ..Default::default()
            };
            let stale = crate::review::coverage::all(c, &caller, &filter)?.len();
            let lr = crate::review::coverage::late_routes(c, &caller, None)?.len();
            let lf = crate::review::coverage::late_followups(c, &caller, None)?.len();
            Ok((counts, stale, lr, lf))
        })
        .await?;
    let (g, u, s, r) = counts;
    // Optional tools this server lacks, and what that costs (as /readyz).
    let (_, missing) = crate::photos::jobs::Tool::report(&st.config);
    Ok(page(
        "管理控制台",
        &user,
        "/admin",
        None,
        html! {
            section.card {
                h1 { "管理控制台" }
                div.stats {
                    a.stat href="/admin/groups" { strong { (g) } span { "联络组" } }
                    a.stat href="/admin/users" { strong { (u) } span { "在岗人员" } }
                    a.stat href="/admin/sites" { strong { (s) } span { "点位" } }
                    a.stat href="/admin/routes" { strong { (r) } span { "待巡查路线" } }
                }
            }
            @if !missing.is_empty() {
                section.card.notice #tools {
                    h2 { "服务器缺少的可选组件" }
                    ul { @for m in &missing { li { (m) } } }
                }
            }
            section.card {
                h2 { "需要关注" }
                ul {
                    li { a href="/admin/coverage?stale_days=30" { (stale) " 个点位 30 天以上未巡查(含从未巡查)" } }
                    li { a href="/admin/coverage" { (late_routes) " 条路线已过期未完成" } }
                    li { a href="/admin/coverage" { (late_followups) " 项整改已逾期" } }
                }
                p { "从表格开始:" a href="/admin/sites/import" { "导入点位" } ",再" a href="/admin/routes/new" { "规划路线" } "或" a href="/admin/schedules/new" { "设置周期计划" } "。" }
            }
        },
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(overview);
    people::configure(cfg);
    sites::configure(cfg);
    checklists::configure(cfg);
    departments::configure(cfg);
    channels::configure(cfg);
    plans::configure(cfg);
    coverage::configure(cfg);
}

/// Reads a urlencoded form into [`Fields`] (any size up to 2 MB: a route
/// plan lists hundreds of sites).
pub async fn fields(req: &HttpRequest, payload: web::Payload) -> Result<Fields, Refused> {
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "a form is expected",
        )
        .into());
    }
    let bytes = crate::http::body::read_all(payload, 2 * 1024 * 1024).await?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| AppError::bad_request(ErrorCode::MalformedForm, e.to_string()))?;
    Ok(Fields(pairs))
}
