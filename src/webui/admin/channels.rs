//! Channels in the console: where the relay's messages go. Each channel
//! with its deliveries (sent, waiting or failing with the last error, given
//! up), a button to send a test message, one to send again what was given
//! up, and the form for a new one. Secrets are never shown.

use super::{AdminUser, Fields, Page, Problem, csrf, input, page, saved};
use crate::outbox::EventKind;
use crate::relay::channels::{self, Channel, ChannelKind, ChannelPatch, NewChannel};
use crate::relay::sender;
use crate::state::AppState;
use crate::webui::session::WebUser;
use actix_web::{HttpRequest, get, post, web};
use maud::{Markup, html};

fn kind_word(k: ChannelKind) -> &'static str {
    match k {
        ChannelKind::Wecom => "企业微信群机器人",
        ChannelKind::Dingtalk => "钉钉群机器人",
        ChannelKind::Feishu => "飞书群机器人",
        ChannelKind::Webhook => "Webhook(标准签名)",
    }
}

/// The page's lists: channels, groups, departments.
type Loaded = (Vec<Channel>, Vec<(String, String)>, Vec<(String, String)>);

async fn load(st: &AppState, user: &WebUser) -> Result<Loaded, crate::webui::session::Refused> {
    let caller = user.caller.clone();
    Ok(st
        .db
        .read(move |c| {
            Ok((
                channels::list(c, &caller)?,
                super::group_options(c)?,
                crate::reference::departments::all_names(c)?,
            ))
        })
        .await?)
}

fn channels_page(
    user: &WebUser,
    l: &Loaded,
    form: &Fields,
    notice: Option<Markup>,
    p: Option<&Problem>,
) -> actix_web::HttpResponse {
    let (list, groups, depts) = l;
    let name_of = |all: &[(String, String)], id: &Option<String>| {
        id.as_ref()
            .and_then(|i| all.iter().find(|(k, _)| k == i))
            .map(|(_, n)| n.clone())
    };
    page(
        "通知",
        user,
        "/admin/channels",
        p,
        html! {
            @if let Some(n) = notice { (n) }
            section.card {
                h1 { "通知通道" }
                p.hint { "事件发生时,服务器把消息发到这里的群机器人或 Webhook。消息不含照片和登录凭据;接收端暂时不可用时自动重试,不会丢失。" }
                @if list.is_empty() { p.empty { "还没有通知通道" } }
                table.list {
                    tr { th { "名称" } th { "类型" } th { "范围" } th { "事件" } th { "投递" } th {} }
                    @for ch in list {
                        tr id={ "channel-" (ch.id) } {
                            td { (ch.name) br; span.muted { (ch.url) } }
                            td { (kind_word(ch.kind)) @if ch.has_secret { br; span.muted { "已设置密钥" } } }
                            td {
                                (name_of(groups, &ch.group_id).unwrap_or_else(|| "全区".into()))
                                @if let Some(d) = name_of(depts, &ch.department_id) { br; "部门:" (d) }
                            }
                            td { @for e in &ch.events { (e.words()) br; } }
                            td {
                                "已发送 " (ch.sent) br;
                                @if ch.pending > 0 { span class=(if ch.last_error.is_some() { "bad" } else { "" }) { "待发送 " (ch.pending) } br; }
                                @if let Some(e) = &ch.last_error { span.bad { "最近错误:" (e) } br; }
                                @if ch.given_up > 0 { span.bad { "已放弃 " (ch.given_up) } br; }
                                @if !ch.active { span.bad { "已停用" @if let Some(r) = &ch.disabled_reason { ":" (r) } } }
                            }
                            td {
                                form.inline method="post" action={ "/admin/channels/" (ch.id) } {
                                    (csrf(user))
                                    button type="submit" name="action" value="test" { "发送测试消息" }
                                    @if ch.given_up > 0 { button.secondary type="submit" name="action" value="resend" { "重新发送" } }
                                    @if ch.active {
                                        button.secondary type="submit" name="action" value="stop" { "停用" }
                                    } @else {
                                        button.secondary type="submit" name="action" value="start" { "启用" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "新增通道" }
                form method="post" action="/admin/channels" {
                    (csrf(user))
                    (Problem::banner(p, &["name", "url", "secret", "events", "group_id", "department_id"]))
                    (input("名称", "name", form.get("name"), p))
                    label { "类型"
                        select name="kind" id="kind" {
                            @for k in [ChannelKind::Wecom, ChannelKind::Dingtalk, ChannelKind::Feishu, ChannelKind::Webhook] {
                                option value=(k.as_str()) selected[form.get("kind") == k.as_str()] { (kind_word(k)) }
                            }
                        }
                    }
                    (input("地址(机器人的 Webhook 地址)", "url", "", p))
                    label { "密钥(钉钉、飞书的加签密钥;Webhook 的 whsec_ 密钥;企业微信不填)"
                        input type="password" name="secret" id="secret" autocomplete="off";
                    }
                    (Problem::at(p, "secret"))
                    label { "联络组" (super::group_select("group_id", groups, form.get("group_id"), Some("全区"))) }
                    label { "部门(只收该部门的整改事件)"
                        select name="department_id" id="department_id" {
                            option value="" { "不限" }
                            @for (id, n) in depts { option value=(id) selected[id == form.get("department_id")] { (n) } }
                        }
                    }
                    fieldset {
                        legend { "事件" }
                        @for e in EventKind::ALL {
                            label.check { input type="checkbox" name="events" value=(e.as_str()) checked[form.all("events").contains(&e.as_str())]; (e.words()) }
                        }
                    }
                    (Problem::at(p, "events"))
                    button type="submit" id="create-channel" { "新增" }
                }
            }
        },
    )
}

#[get("/admin/channels")]
async fn list_page(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let l = load(&st, &user).await?;
    Ok(channels_page(&user, &l, &Fields::default(), None, None))
}

#[post("/admin/channels")]
async fn create(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let kind = serde_json::from_value::<ChannelKind>(serde_json::Value::String(
        form.get("kind").to_string(),
    ))
    .unwrap_or(ChannelKind::Wecom);
    let input = NewChannel {
        name: form.get("name").to_string(),
        kind,
        url: form.get("url").to_string(),
        secret: form.opt("secret"),
        group_id: form.opt("group_id"),
        department_id: form.opt("department_id"),
        events: form.all("events").into_iter().map(str::to_string).collect(),
        active: true,
    };
    let caller = user.caller.clone();
    let rules = sender::Settings::of(&st.config).rules;
    let done = match channels::checked(input.url.clone(), rules).await {
        Ok(()) => {
            st.db
                .write(move |c| channels::create(c, &caller, input))
                .await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => Ok(saved("/admin/channels")),
        Err(e) => {
            let l = load(&st, &user).await?;
            let mut resp = channels_page(&user, &l, &form, None, Some(&Problem::of(&e)));
            *resp.status_mut() = e.status;
            Ok(resp)
        }
    }
}

#[post("/admin/channels/{id}")]
async fn act(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let (caller, id) = (user.caller.clone(), id.to_string());
    let notice = match form.get("action") {
        "test" => {
            let cid = id.clone();
            let row = st.db.read(move |c| channels::find(c, &cid)).await?;
            let r = sender::test_message(&row, &sender::Settings::of(&st.config)).await;
            Some(match r {
                Ok(()) => {
                    html! { p.notice id="test-result" { "测试消息已送达「" (row.name) "」。" } }
                }
                Err(e) => {
                    html! { p.error id="test-result" { "测试消息未送达「" (row.name) "」:" (e) } }
                }
            })
        }
        "resend" => {
            st.db
                .write(move |c| channels::resend(c, &caller, &id))
                .await?;
            return Ok(saved("/admin/channels"));
        }
        a @ ("stop" | "start") => {
            let patch = ChannelPatch {
                active: Some(a == "start"),
                ..Default::default()
            };
            st.db
                .write(move |c| channels::update(c, &caller, &id, patch))
                .await?;
            return Ok(saved("/admin/channels"));
        }
        _ => None,
    };
    let l = load(&st, &user).await?;
    Ok(channels_page(&user, &l, &Fields::default(), notice, None))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_page).service(create).service(act);
}
