//! Departments in the console: the district bureaus follow-ups are handed
//! to. Added, renamed, and stopped (deactivated: kept for the follow-ups
//! they had) in one page.

use super::{AdminUser, Fields, Page, Problem, csrf, input, page, saved};
use crate::reference::departments::{self, Department, DepartmentPatch, NewDepartment};
use crate::state::AppState;
use crate::webui::session::WebUser;
use actix_web::{HttpRequest, get, post, web};
use maud::html;

fn all(
    c: &mut crate::db::Conn,
    caller: &crate::auth::Caller,
) -> crate::error::AppResult<Vec<Department>> {
    let mut list = crate::paging::collect(
        usize::MAX,
        |req| departments::list(c, caller, req),
        |d| &d.id,
    )?;
    list.sort_by(|a, b| (!a.active, &a.name).cmp(&(!b.active, &b.name)));
    Ok(list)
}

fn departments_page(
    user: &WebUser,
    list: &[Department],
    form: &Fields,
    p: Option<&Problem>,
) -> actix_web::HttpResponse {
    page(
        "部门",
        user,
        "/admin/departments",
        p,
        html! {
            section.card {
                h1 { "部门" }
                p.hint { "整改跟踪交给这里的部门办理。停用的部门不再用于新的整改,已有的整改保留原部门。" }
                table.list {
                    tr { th { "名称" } th { "状态" } th { "改名" } th {} }
                    @for d in list {
                        tr {
                            td { (d.name) }
                            td { (if d.active { "在用" } else { "已停用" }) }
                            td {
                                form.inline method="post" action={ "/admin/departments/" (d.id) } {
                                    (csrf(user))
                                    input name="name" value=(d.name) aria-label="新名称";
                                    button type="submit" name="action" value="rename" { "改名" }
                                }
                            }
                            td {
                                form.inline method="post" action={ "/admin/departments/" (d.id) } {
                                    (csrf(user))
                                    @if d.active {
                                        button.secondary type="submit" name="action" value="stop" { "停用" }
                                    } @else {
                                        button.secondary type="submit" name="action" value="start" { "恢复" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if list.is_empty() { p.empty { "还没有部门" } }
            }
            section.card {
                h2 { "新增部门" }
                form method="post" action="/admin/departments" {
                    (csrf(user))
                    (Problem::banner(p, &["name"]))
                    (input("名称", "name", form.get("name"), p))
                    button type="submit" id="create-department" { "新增" }
                }
            }
        },
    )
}

#[get("/admin/departments")]
async fn list_page(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let caller = user.caller.clone();
    let list = st.db.read(move |c| all(c, &caller)).await?;
    Ok(departments_page(&user, &list, &Fields::default(), None))
}

#[post("/admin/departments")]
async fn create(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let caller = user.caller.clone();
    let input = NewDepartment {
        name: form.get("name").to_string(),
    };
    match st
        .db
        .write(move |c| departments::create(c, &caller, input))
        .await
    {
        Ok(_) => Ok(saved("/admin/departments")),
        Err(e) => {
            let caller = user.caller.clone();
            let list = st.db.read(move |c| all(c, &caller)).await?;
            Ok(departments_page(
                &user,
                &list,
                &form,
                Some(&Problem::of(&e)),
            ))
        }
    }
}

#[post("/admin/departments/{id}")]
async fn update(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let patch = match form.get("action") {
        "stop" => DepartmentPatch {
            active: Some(false),
            ..Default::default()
        },
        "start" => DepartmentPatch {
            active: Some(true),
            ..Default::default()
        },
        _ => DepartmentPatch {
            name: Some(form.get("name").to_string()),
            ..Default::default()
        },
    };
    let (caller, id) = (user.caller.clone(), id.to_string());
    match st
        .db
        .write(move |c| departments::update(c, &caller, &id, patch))
        .await
    {
        Ok(_) => Ok(saved("/admin/departments")),
        Err(e) if e.status == actix_web::http::StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => {
            let caller = user.caller.clone();
            let list = st.db.read(move |c| all(c, &caller)).await?;
            Ok(departments_page(
                &user,
                &list,
                &Fields::default(),
                Some(&Problem::of(&e)),
            ))
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_page).service(create).service(update);
}
