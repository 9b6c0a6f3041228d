//! Liaison groups and the people in them.

use super::{
    AdminUser, Fields, Page, Problem, csrf, group_options, group_select, input, page, saved,
};
use crate::auth::Role;
use crate::error::{AppError, AppResult};
use crate::reference::groups::{self, Group, GroupPatch, NewGroup};
use crate::reference::users::{self, NewUser, User, UserPatch};
use crate::state::AppState;
use crate::webui::session::WebUser;
use actix_web::{HttpRequest, get, post, web};
use maud::{Markup, html};

fn towns(text: &str) -> Vec<String> {
    text.split([',', ',', '、', '\n', ';', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn all_groups(c: &mut crate::db::Conn, caller: &crate::auth::Caller) -> AppResult<Vec<Group>> {
    crate::paging::collect(usize::MAX, |req| groups::list(c, caller, req), |g| &g.id)
}

fn groups_page(
    user: &WebUser,
    list: &[Group],
    form: &Fields,
    p: Option<&Problem>,
) -> actix_web::HttpResponse {
    page(
        "联络组",
        user,
        "/admin/groups",
        p,
        html! {
            section.card {
                h1 { "联络组" }
                table.list {
                    tr { th { "名称" } th { "镇街" } th {} }
                    @for g in list {
                        tr {
                            td { (g.name) }
                            td { (g.towns.join("、")) }
                            td { a href={ "/admin/groups/" (g.id) } { "编辑" } " · " a href={ "/admin/sites?group_id=" (g.id) } { "点位" } " · " a href={ "/admin/users?group_id=" (g.id) } { "人员" } }
                        }
                    }
                }
                @if list.is_empty() { p.empty { "还没有联络组" } }
            }
            section.card {
                h2 { "新建联络组" }
                form method="post" action="/admin/groups" {
                    (csrf(user))
                    (Problem::banner(p, &["name", "towns"]))
                    (input("名称", "name", form.get("name"), p))
                    label { "镇街(用逗号或顿号分隔)" input name="towns" id="towns" value=(form.get("towns")); (Problem::at(p, "towns")) }
                    button type="submit" id="create-group" { "新建" }
                }
            }
        },
    )
}

#[get("/admin/groups")]
async fn groups_list(st: web::Data<AppState>, AdminUser(user): AdminUser) -> Page {
    let caller = user.caller.clone();
    let list = st.db.read(move |c| all_groups(c, &caller)).await?;
    Ok(groups_page(&user, &list, &Fields::default(), None))
}

#[post("/admin/groups")]
async fn groups_create(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let caller = user.caller.clone();
    let input = NewGroup {
        name: form.get("name").to_string(),
        towns: towns(form.get("towns")),
    };
    match st
        .db
        .write(move |c| groups::create(c, &caller, input))
        .await
    {
        Ok(_) => Ok(saved("/admin/groups")),
        Err(e) => {
            let caller = user.caller.clone();
            let list = st.db.read(move |c| all_groups(c, &caller)).await?;
            Ok(groups_page(&user, &list, &form, Some(&Problem::of(&e))))
        }
    }
}

fn group_edit(
    user: &WebUser,
    id: &str,
    form: &Fields,
    p: Option<&Problem>,
) -> actix_web::HttpResponse {
    page(
        "编辑联络组",
        user,
        "/admin/groups",
        p,
        html! {
            section.card {
                p { a href="/admin/groups" { "← 联络组" } }
                h1 { "编辑联络组" }
                form method="post" action={ "/admin/groups/" (id) } {
                    (csrf(user))
                    (Problem::banner(p, &["name", "towns"]))
                    (input("名称", "name", form.get("name"), p))
                    label { "镇街" input name="towns" id="towns" value=(form.get("towns")); (Problem::at(p, "towns")) }
                    div.buttons {
                        button type="submit" name="action" value="save" id="save" { "保存" }
                        button.danger type="submit" name="action" value="delete" id="delete" { "删除(须无人员和点位)" }
                    }
                }
            }
        },
    )
}

#[get("/admin/groups/{id}")]
async fn group_form(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let (caller, id) = (user.caller.clone(), id.to_string());
    let gid = id.clone();
    let g = st.db.read(move |c| groups::get(c, &caller, &gid)).await?;
    let mut form = Fields::default();
    form.set("name", g.name);
    form.set("towns", g.towns.join("、"));
    Ok(group_edit(&user, &id, &form, None))
}

#[post("/admin/groups/{id}")]
async fn group_save(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let (caller, id) = (user.caller.clone(), id.to_string());
    let gid = id.clone();
    let r = if form.get("action") == "delete" {
        st.db.write(move |c| groups::delete(c, &caller, &gid)).await
    } else {
        let patch = GroupPatch {
            name: Some(form.get("name").to_string()),
            towns: Some(towns(form.get("towns"))),
        };
        st.db
            .write(move |c| groups::update(c, &caller, &gid, patch).map(|_| ()))
            .await
    };
    match r {
        Ok(()) => Ok(saved("/admin/groups")),
        Err(e) if e.status == actix_web::http::StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => Ok(group_edit(&user, &id, &form, Some(&Problem::of(&e)))),
    }
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Inspector => "巡查员",
        Role::Coordinator => "协调员",
        Role::Responder => "部门人员",
        Role::Admin => "管理员",
    }
}

const ROLES: [Role; 4] = [
    Role::Inspector,
    Role::Coordinator,
    Role::Responder,
    Role::Admin,
];

fn role_select(chosen: &str) -> Markup {
    html! {
        select name="role" id="role" {
            @for r in ROLES { option value=(r.as_str()) selected[r.as_str() == chosen] { (role_label(r)) } }
        }
    }
}

struct UsersView {
    users: Vec<User>,
    groups: Vec<(String, String)>,
}

async fn load_users(st: &AppState, user: &WebUser) -> Result<UsersView, AppError> {
    let caller = user.caller.clone();
    st.db
        .read(move |c| {
            let all =
                crate::paging::collect(usize::MAX, |req| users::list(c, &caller, req), |x| &x.id)?;
            Ok(UsersView {
                users: all,
                groups: group_options(c)?,
            })
        })
        .await
}

#[derive(serde::Deserialize)]
struct UsersQuery {
    group_id: Option<String>,
}

fn users_page(
    user: &WebUser,
    v: &UsersView,
    group: &str,
    form: &Fields,
    p: Option<&Problem>,
) -> actix_web::HttpResponse {
    let gname = |id: &Option<String>| {
        id.as_ref()
            .and_then(|g| v.groups.iter().find(|(i, _)| i == g))
            .map_or("全区", |(_, n)| n.as_str())
    };
    page(
        "人员",
        user,
        "/admin/users",
        p,
        html! {
            section.card {
                h1 { "人员" }
                form.filters method="get" action="/admin/users" {
                    label { "联络组" (group_select("group_id", &v.groups, group, Some("全部"))) }
                    button type="submit" { "筛选" }
                }
                table.list {
                    tr { th { "姓名" } th { "用户名" } th { "角色" } th { "联络组" } th { "状态" } th {} }
                    @for u in v.users.iter().filter(|u| group.is_empty() || u.group_id.as_deref() == Some(group)) {
                        tr class=(if u.active { "" } else { "inactive" }) {
                            td { (u.display_name) } td { (u.username) } td { (role_label(u.role)) }
                            td { (gname(&u.group_id)) } td { (if u.active { "在岗" } else { "已停用" }) }
                            td { a href={ "/admin/users/" (u.id) } { "编辑" } }
                        }
                    }
                }
            }
            section.card {
                h2 { "新建人员" }
                form method="post" action="/admin/users" {
                    (csrf(user))
                    (Problem::banner(p, &["username", "display_name", "role", "group_id", "password"]))
                    (input("用户名(登录用,字母数字)", "username", form.get("username"), p))
                    (input("姓名", "display_name", form.get("display_name"), p))
                    label { "角色" (role_select(form.get("role"))) (Problem::at(p, "role")) }
                    label { "联络组(管理员和全区协调员可不选)" (group_select("group_id", &v.groups, form.get("group_id"), Some("无"))) (Problem::at(p, "group_id")) }
                    label { "初始密码" input type="password" name="password" id="password" autocomplete="new-password"; (Problem::at(p, "password")) }
                    button type="submit" id="create-user" { "新建" }
                }
            }
        },
    )
}

#[get("/admin/users")]
async fn users_list(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<UsersQuery>,
) -> Page {
    let v = load_users(&st, &user).await?;
    let mut form = Fields::default();
    form.set("role", "inspector");
    form.set("group_id", q.group_id.clone().unwrap_or_default());
    Ok(users_page(
        &user,
        &v,
        q.group_id.as_deref().unwrap_or(""),
        &form,
        None,
    ))
}

fn role_of(form: &Fields) -> AppResult<Role> {
    Role::parse(form.get("role"))
        .ok_or_else(|| AppError::invalid("role", "must be inspector, coordinator or admin"))
}

#[post("/admin/users")]
async fn users_create(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let result: AppResult<()> = async {
        let role = role_of(&form)?;
        let pw = form.get("password").to_string();
        let hash = web::block(move || users::hash_new_password(&pw)).await??;
        let input = NewUser {
            username: form.get("username").to_string(),
            display_name: form.opt("display_name"),
            role,
            group_id: form.opt("group_id"),
            department_id: None,
            password: String::new(),
        };
        let caller = user.caller.clone();
        st.db
            .write(move |c| users::insert(c, Some(&caller), input, hash).map(|_| ()))
            .await
    }
    .await;
    match result {
        Ok(()) => Ok(saved("/admin/users")),
        Err(e) => {
            let v = load_users(&st, &user).await?;
            Ok(users_page(&user, &v, "", &form, Some(&Problem::of(&e))))
        }
    }
}

fn user_edit(
    user: &WebUser,
    id: &str,
    groups: &[(String, String)],
    departments: &[(String, String)],
    form: &Fields,
    p: Option<&Problem>,
) -> actix_web::HttpResponse {
    page(
        "编辑人员",
        user,
        "/admin/users",
        p,
        html! {
            section.card {
                p { a href="/admin/users" { "← 人员" } }
                h1 { "编辑人员:" (form.get("username")) }
                form method="post" action={ "/admin/users/" (id) } {
                    (csrf(user))
                    input type="hidden" name="username" value=(form.get("username"));
                    (Problem::banner(p, &["display_name", "role", "group_id", "department_id", "password", "active"]))
                    (input("姓名", "display_name", form.get("display_name"), p))
                    label { "角色" (role_select(form.get("role"))) (Problem::at(p, "role")) }
                    label { "联络组" (group_select("group_id", groups, form.get("group_id"), Some("无"))) (Problem::at(p, "group_id")) }
                    label { "所在部门(在区级部门工作的委员)" (group_select("department_id", departments, form.get("department_id"), Some("无"))) (Problem::at(p, "department_id")) }
                    label.check { input type="checkbox" name="active" value="1" checked[form.has("active")]; "在岗(取消即停用,其登录立即失效)" }
                    label { "重设密码(留空不改)" input type="password" name="password" id="password" autocomplete="new-password"; (Problem::at(p, "password")) }
                    button type="submit" id="save" { "保存" }
                }
            }
        },
    )
}

#[get("/admin/users/{id}")]
async fn user_form(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let (caller, id) = (user.caller.clone(), id.to_string());
    let uid = id.clone();
    let (u, groups, departments) = st
        .db
        .read(move |c| {
            Ok((
                users::get(c, &caller, &uid)?,
                group_options(c)?,
                crate::reference::departments::all_names(c)?,
            ))
        })
        .await?;
    let mut form = Fields::default();
    form.set("username", u.username);
    form.set("display_name", u.display_name);
    form.set("role", u.role.as_str());
    form.set("group_id", u.group_id.unwrap_or_default());
    form.set("department_id", u.department_id.unwrap_or_default());
    if u.active {
        form.set("active", "1");
    }
    Ok(user_edit(&user, &id, &groups, &departments, &form, None))
}

#[post("/admin/users/{id}")]
async fn user_save(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let id = id.to_string();
    let result: AppResult<()> = async {
        let role = role_of(&form)?;
        let hash = match form.opt("password") {
            Some(pw) => Some(web::block(move || users::hash_new_password(&pw)).await??),
            None => None,
        };
        let patch = UserPatch {
            display_name: Some(form.get("display_name").to_string()),
            role: Some(role),
            group_id: Some(form.opt("group_id")),
            department_id: Some(form.opt("department_id")),
            active: Some(form.has("active")),
            password: None,
        };
        let (caller, uid) = (user.caller.clone(), id.clone());
        st.db
            .write(move |c| users::update(c, &caller, &uid, patch, hash).map(|_| ()))
            .await
    }
    .await;
    match result {
        Ok(()) => Ok(saved("/admin/users")),
        Err(e) if e.status == actix_web::http::StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => {
            let (groups, departments) = st
                .db
                .read(|c| {
                    Ok((
                        group_options(c)?,
                        crate::reference::departments::all_names(c)?,
                    ))
                })
                .await?;
            Ok(user_edit(
                &user,
                &id,
                &groups,
                &departments,
                &form,
                Some(&Problem::of(&e)),
            ))
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(groups_list)
        .service(groups_create)
        .service(group_form)
        .service(group_save)
        .service(users_list)
        .service(users_create)
        .service(user_form)
        .service(user_save);
}
