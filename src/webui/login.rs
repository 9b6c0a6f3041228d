//! Signing in and out of the pages (`/review/login`, `/review/logout`):
//! one form for coordinators and admins, a cookie session after it.

use super::layout::page;
use super::session::{self, AnyUser};
use super::{Page, back};
use crate::auth::Role;
use crate::auth::login as check_login;
use crate::error::AppError;
use crate::reference::users as user_ref;
use crate::state::AppState;
use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use serde::Deserialize;

const LOGIN_CSRF: &str = "fieldsync_login_csrf";

/// Where a login may send its user on: a page of this server, never
/// another site (`//host` or a scheme).
fn local_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        ["/dept", "/review", "/admin"]
            .iter()
            .any(|p| *n == *p || n.starts_with(&format!("{p}/")))
            && !n.contains("//")
            && !n.contains('\\')
    })
}

fn login_page(st: &AppState, error: Option<&str>, next: Option<&str>) -> HttpResponse {
    // Before there is a session, the form's token is checked against a
    // cookie of its own (double submit).
    let token = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        rand::random::<[u8; 24]>(),
    );
    let mut resp = page("登录", None, form(error, &token, local_next(next)));
    let cookie = Cookie::build(LOGIN_CSRF, token)
        .path("/")
        .http_only(true)
        .secure(st.config.secure_cookies)
        .same_site(actix_web::cookie::SameSite::Strict)
        .finish();
    let _ = resp.add_cookie(&cookie);
    resp
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

#[get("/review/login")]
pub async fn login_form(st: web::Data<AppState>, q: web::Query<Next>) -> HttpResponse {
    login_page(&st, None, q.next.as_deref())
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

#[post("/review/login")]
pub async fn login(st: web::Data<AppState>, req: HttpRequest, form: web::Form<LoginForm>) -> Page {
    let form = form.into_inner();
    let cookie = req
        .cookie(LOGIN_CSRF)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if cookie.is_empty() || cookie != form.csrf {
        return Ok(login_page(
            &st,
            Some("页面已过期,请重新登录"),
            form.next.as_deref(),
        ));
    }
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let attempt = check_login::Attempt {
        username: form.username,
        password: form.password,
        ip,
    };
    let Some(uid) =
        check_login::check(&st.db, &st.login_limiter, attempt, "auth.web_login_failed").await?
    else {
        return Ok(login_page(
            &st,
            Some("用户名或密码错误"),
            form.next.as_deref(),
        ));
    };
    let id = uid.clone();
    let user = st
        .db
        .read(move |c| user_ref::find(c, &id))
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let role = Role::parse(&user.role);
    let in_department = user.department_id.is_some();
    // Inspectors work in the field app; one who also works for a
    // department signs in here for the department's page.
    if role == Some(Role::Inspector) && !in_department {
        return Ok(login_page(
            &st,
            Some("审核页面供协调员和管理员使用；巡查员请使用巡查应用"),
            form.next.as_deref(),
        ));
    }
    let uid = user.id.clone();
    let token = st
        .db
        .write(move |c| {
            crate::journal::audit(
                c,
                crate::journal::Audit {
                    actor_id: Some(&uid),
                    action: "auth.web_login",
                    object_type: "user",
                    object_id: Some(&uid),
                    details: serde_json::json!({}),
                },
            )?;
            session::start(c, &uid)
        })
        .await?;
    // Where they came from; else admins start in their console,
    // coordinators at the queue, a department's people at its page.
    let home = match role {
        Some(Role::Admin) => "/admin",
        Some(Role::Coordinator) => "/review",
        _ => "/dept",
    };
    let mut resp = back(local_next(form.next.as_deref()).unwrap_or(home));
    let _ = resp.add_cookie(&session::cookie(token, st.config.secure_cookies));
    Ok(resp)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

#[post("/review/logout")]
pub async fn logout(
    st: web::Data<AppState>,
    req: HttpRequest,
    AnyUser(user): AnyUser,
    form: web::Form<CsrfForm>,
) -> Page {
    session::check_csrf(&user, &form.csrf)?;
    if let Some(c) = req.cookie(session::COOKIE) {
        let token = c.value().to_string();
        st.db.write(move |c| session::end(c, &token)).await?;
    }
    let mut resp = back("/review/login");
    let mut gone = session::cookie(String::new(), st.config.secure_cookies);
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}

fn form(error: Option<&str>, csrf: &str, next: Option<&str>) -> Markup {
    html! {
        section.card.narrow {
            h1 { "登录" }
            @if let Some(e) = error { p.error { (e) } }
            form method="post" action="/review/login" {
                input type="hidden" name="csrf" value=(csrf);
                @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                label { "用户名" input id="username" name="username" autocomplete="username" required; }
                label { "密码" input id="password" name="password" type="password" autocomplete="current-password" required; }
                button id="login" type="submit" { "登录" }
            }
        }
    }
}
