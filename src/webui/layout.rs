//! The frame every page shares (review and console): its HTML shell, the
//! stylesheet and the error page, all in Chinese.

use super::session::{Refused, WebUser};
use super::words;
use crate::error::AppError;
use actix_web::HttpResponse;
use maud::{DOCTYPE, Markup, html};

pub const CSS: &str = include_str!("review.css");

pub fn layout(title: &str, user: Option<&WebUser>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · fieldsync" }
                link rel="stylesheet" href="/review/static/review.css";
            }
            body {
                header.top {
                    @if user.is_some_and(|u| !u.caller.role.reviews()) {
                        a.brand href="/dept" { "fieldsync 部门待办" }
                    } @else {
                        a.brand href="/review" { "fieldsync 巡查审核" }
                    }
                    @if let Some(u) = user {
                        nav.apps {
                            @if u.caller.role.reviews() { a href="/review" { "审核" } a href="/review/dashboard" { "概览" } }
                            @if u.caller.is_admin() { a href="/admin" { "管理" } }
                            @if u.caller.department_id.is_some() { a href="/dept" { "部门待办" } }
                        }
                        span.who { (u.display_name) }
                        form.inline method="post" action="/review/logout" {
                            input type="hidden" name="csrf" value=(u.csrf);
                            button.link type="submit" { "退出" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn page(title: &str, user: Option<&WebUser>, body: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(layout(title, user, body).into_string())
}

pub fn error_page(e: &AppError) -> HttpResponse {
    HttpResponse::build(e.status)
        .content_type("text/html; charset=utf-8")
        .body(
            layout(
                "出错了",
                None,
                html! { section.card { h1 { "出错了" } p { (words::error(e)) } p { a href="/review" { "返回" } } } },
            )
            .into_string(),
        )
}

/// A page refused: to the login form, or the error page.
impl actix_web::ResponseError for Refused {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Refused::Login | Refused::LoginThen(_) => actix_web::http::StatusCode::SEE_OTHER,
            Refused::Error(e) => e.status,
        }
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        match self {
            Refused::Login => actix_web::HttpResponse::SeeOther()
                .insert_header(("Location", "/review/login"))
                .finish(),
            Refused::LoginThen(next) => actix_web::HttpResponse::SeeOther()
                .insert_header(("Location", format!("/review/login?next={next}")))
                .finish(),
            Refused::Error(e) => error_page(e),
        }
    }
}
