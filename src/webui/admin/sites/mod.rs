//! Sites: a searchable list with a map, a form whose position is typed or
//! clicked on a map, and import from (and export to) a spreadsheet
//! (`sheets.rs`).

mod sheets;

use super::{
    AdminUser, Fields, Page, Problem, csrf, group_options, group_select, input, page, saved,
};
use crate::error::AppResult;
use crate::paging::{PageQuery, PageRequest};
use crate::reference::sites::{self, KINDS, NewSite, Site, SiteFilter, SitePatch};
use crate::state::AppState;
use crate::webui::map::{self, Backdrop, Pin, View};
use crate::webui::session::WebUser;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use serde::Deserialize;

/// Rows of the site list per page.
const PAGE_ROWS: i64 = 200;

#[derive(Deserialize, Default)]
struct ListQuery {
    group_id: Option<String>,
    kind: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

pub fn kind_select(name: &str, chosen: &str, blank: Option<&str>) -> Markup {
    let known = KINDS.iter().any(|(k, _)| *k == chosen);
    html! {
        select name=(name) id=(name) {
            @if let Some(b) = blank { option value="" { (b) } }
            @for (k, l) in KINDS { option value=(k) selected[k == chosen] { (l) } }
            @if !known && !chosen.is_empty() { option value=(chosen) selected { (chosen) } }
        }
    }
}

#[get("/admin/sites")]
async fn list(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<ListQuery>,
) -> Page {
    let q = q.into_inner();
    let filter = SiteFilter {
        group_id: q.group_id.clone().filter(|g| !g.is_empty()),
        kind: q.kind.clone().filter(|k| !k.is_empty()),
        q: q.q.clone(),
    };
    let req = PageQuery {
        limit: Some(PAGE_ROWS),
        cursor: q.cursor.clone(),
    }
    .parse()?;
    let caller = user.caller.clone();
    let (items, groups) = st
        .db
        .read(move |c| Ok((sites::list(c, &caller, &filter, &req)?, group_options(c)?)))
        .await?;
    let gname = |id: &str| {
        groups
            .iter()
            .find(|(i, _)| i == id)
            .map_or("", |(_, n)| n.as_str())
    };
    let view = View::fit(
        items.items.iter().map(|s| (s.lat, s.lon)),
        st.config.map_tiles.is_some(),
    );
    let pins: Vec<Pin> = items
        .items
        .iter()
        .map(|s| Pin {
            lat: s.lat,
            lon: s.lon,
            label: &s.name,
            class: "site",
            href: Some(format!("/admin/sites/{}", s.id)),
            named: items.items.len() <= 30,
        })
        .collect();
    let group = q.group_id.clone().unwrap_or_default();
    let query = format!(
        "group_id={}&kind={}&q={}",
        urlencode(&group),
        urlencode(q.kind.as_deref().unwrap_or("")),
        urlencode(q.q.as_deref().unwrap_or(""))
    );
    Ok(page(
        "点位",
        &user,
        "/admin/sites",
        None,
        html! {
            section.card {
                h1 { "点位" }
                p.actions {
                    a.button href={ "/admin/sites/new?group_id=" (group) } { "新建点位" }
                    a.button href="/admin/sites/import" { "从表格导入" }
                    a href={ "/admin/sites/export.csv?" (query) } { "导出 CSV" }
                    a href={ "/admin/sites/export.xlsx?" (query) } { "导出 Excel" }
                    a href={ "/admin/sites/export.geojson?" (query) } { "导出 GeoJSON" }
                }
                form.filters method="get" action="/admin/sites" {
                    label { "联络组" (group_select("group_id", &groups, &group, Some("全部"))) }
                    label { "类型" (kind_select("kind", q.kind.as_deref().unwrap_or(""), Some("全部"))) }
                    label { "搜索" input name="q" id="q" value=(q.q.clone().unwrap_or_default()) placeholder="名称、地址或编码"; }
                    button type="submit" { "筛选" }
                }
                div.mapbox { (map::svg(&view, &pins, Backdrop::of(st.config.map_tiles.as_deref()))) }
                table.list id="sites" {
                    tr { th { "编码" } th { "名称" } th { "类型" } th { "地址" } th { "联络组" } }
                    @for s in &items.items {
                        tr {
                            td { (s.code.clone().unwrap_or_default()) }
                            td { a href={ "/admin/sites/" (s.id) } { (s.name) } }
                            td { (sites::kind_label(&s.kind)) }
                            td { (s.address) }
                            td { (gname(&s.group_id)) }
                        }
                    }
                }
                @if items.items.is_empty() { p.empty { "没有点位" } }
                @if let Some(n) = &items.next_cursor {
                    a.more href={ "/admin/sites?" (query) "&cursor=" (n) } { "下一页" }
                }
            }
        },
    ))
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .map(|e| e.trim_start_matches("v=").to_string())
        .unwrap_or_default()
}

/// The site form; `view` is the picker map's view (kept across clicks).
struct FormPage<'a> {
    id: Option<&'a str>,
    groups: &'a [(String, String)],
    /// The group's other sites, drawn on the picker.
    neighbours: &'a [Site],
    view: View,
    notice: Option<&'a str>,
}

fn site_form(
    st: &AppState,
    user: &WebUser,
    f: &FormPage,
    form: &Fields,
    p: Option<&Problem>,
) -> HttpResponse {
    let action = f.id.map_or("/admin/sites".to_string(), |id| {
        format!("/admin/sites/{id}")
    });
    let here = form
        .number("lat")
        .ok()
        .zip(form.number("lon").ok())
        .map(|(lat, lon)| format!("&lat={lat}&lon={lon}"))
        .unwrap_or_default();
    let img = format!(
        "/admin/map.svg?view={}&group_id={}{here}",
        urlencode(&f.view.encode()),
        urlencode(form.get("group_id"))
    );
    let fields = [
        "name", "code", "kind", "address", "lat", "lon", "radius_m", "group_id",
    ];
    page(
        if f.id.is_some() {
            "编辑点位"
        } else {
            "新建点位"
        },
        user,
        "/admin/sites",
        p,
        html! {
            section.card {
                p { a href="/admin/sites" { "← 点位" } }
                h1 { (if f.id.is_some() { "编辑点位" } else { "新建点位" }) }
                form method="post" action=(action) {
                    (csrf(user))
                    input type="hidden" name="view" value=(f.view.encode());
                    (Problem::banner(p, &fields))
                    @if let Some(n) = f.notice { p.notice role="status" { (n) } }
                    div.cols.with-map {
                        div {
                            label { "联络组" (group_select("group_id", f.groups, form.get("group_id"), None)) (Problem::at(p, "group_id")) }
                            (input("名称", "name", form.get("name"), p))
                            (input("编码(表格导入时按编码更新)", "code", form.get("code"), p))
                            label { "类型" (kind_select("kind", form.get("kind"), None)) (Problem::at(p, "kind")) }
                            (input("地址", "address", form.get("address"), p))
                            (input("纬度", "lat", form.get("lat"), p))
                            (input("经度", "lon", form.get("lon"), p))
                            (input("范围半径(米)", "radius_m", form.get("radius_m"), p))
                        }
                        div {
                            p.hint { "在地图上点击即可选定位置(不需要网络)。" }
                            div.mapbox {
                                div.picker {
                                    (map::svg(&f.view, &[], Backdrop::of(st.config.map_tiles.as_deref())))
                                    input type="image" name="pick" id="pick" src=(img) alt="在地图上选点" width=(map::WIDTH) height=(map::HEIGHT);
                                }
                            }
                            p.hint { "灰点:本组其他点位(" (f.neighbours.len()) ");蓝点:当前位置。" }
                        }
                    }
                    div.buttons {
                        button type="submit" name="action" value="save" id="save" { "保存" }
                        @if f.id.is_some() {
                            button.danger type="submit" name="action" value="delete" id="delete" { "删除点位" }
                        }
                    }
                }
            }
        },
    )
}

/// The group's sites (for the picker), and the groups.
async fn context(
    st: &AppState,
    user: &WebUser,
    group: &str,
) -> AppResult<(Vec<(String, String)>, Vec<Site>)> {
    let caller = user.caller.clone();
    let group = Some(group.to_string()).filter(|g| !g.is_empty());
    st.db
        .read(move |c| {
            let groups = group_options(c)?;
            let neighbours = match group {
                Some(g) => {
                    let f = SiteFilter {
                        group_id: Some(g),
                        ..SiteFilter::default()
                    };
                    let req = PageRequest {
                        limit: crate::paging::MAX_LIMIT,
                        after: None,
                    };
                    sites::list(c, &caller, &f, &req)?.items
                }
                None => vec![],
            };
            Ok((groups, neighbours))
        })
        .await
}

fn fit(st: &AppState, neighbours: &[Site], form: &Fields) -> View {
    let here = form.number("lat").ok().zip(form.number("lon").ok());
    // Around the site itself when it has a position, else its group.
    let near: Vec<(f64, f64)> = match here {
        Some(h) => std::iter::once(h)
            .chain(
                neighbours
                    .iter()
                    .map(|s| (s.lat, s.lon))
                    .filter(|(la, lo)| (la - h.0).abs() < 0.05 && (lo - h.1).abs() < 0.05),
            )
            .collect(),
        None => neighbours.iter().map(|s| (s.lat, s.lon)).collect(),
    };
    View::fit(near.into_iter(), st.config.map_tiles.is_some())
}

#[derive(Deserialize)]
struct NewQuery {
    group_id: Option<String>,
}

#[get("/admin/sites/new")]
async fn new_form(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<NewQuery>,
) -> Page {
    let (groups, _) = context(&st, &user, "").await?;
    let group = q
        .group_id
        .clone()
        .filter(|g| !g.is_empty())
        .or_else(|| groups.first().map(|g| g.0.clone()))
        .unwrap_or_default();
    let (groups, neighbours) = context(&st, &user, &group).await?;
    let mut form = Fields::default();
    form.set("group_id", group);
    form.set("kind", "outfall");
    form.set("radius_m", "100");
    let view = fit(&st, &neighbours, &form);
    let f = FormPage {
        id: None,
        groups: &groups,
        neighbours: &neighbours,
        view,
        notice: None,
    };
    Ok(site_form(&st, &user, &f, &form, None))
}

#[get("/admin/sites/{id}")]
async fn edit_form(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    let (caller, id) = (user.caller.clone(), id.to_string());
    let sid = id.clone();
    let s = st.db.read(move |c| sites::get(c, &caller, &sid)).await?;
    let mut form = Fields::default();
    form.set("group_id", s.group_id.clone());
    form.set("name", s.name);
    form.set("code", s.code.unwrap_or_default());
    form.set("kind", s.kind);
    form.set("address", s.address);
    form.set("lat", s.lat.to_string());
    form.set("lon", s.lon.to_string());
    form.set("radius_m", s.radius_m.to_string());
    let (groups, neighbours) = context(&st, &user, &s.group_id).await?;
    let view = fit(&st, &neighbours, &form);
    let f = FormPage {
        id: Some(&id),
        groups: &groups,
        neighbours: &neighbours,
        view,
        notice: None,
    };
    Ok(site_form(&st, &user, &f, &form, None))
}

fn new_site(form: &Fields) -> AppResult<NewSite> {
    Ok(NewSite {
        group_id: form.get("group_id").to_string(),
        name: form.get("name").to_string(),
        kind: form.get("kind").to_string(),
        address: form.get("address").to_string(),
        lat: form.number("lat")?,
        lon: form.number("lon")?,
        radius_m: form.number("radius_m")?,
        code: form.opt("code"),
    })
}

async fn save(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    user: WebUser,
    id: Option<String>,
) -> Page {
    let mut form = super::fields(&req, body).await?;
    form.check_csrf(&user)?;
    let (groups, neighbours) = context(&st, &user, form.get("group_id")).await?;
    let view = View::decode(form.get("view")).unwrap_or_else(|| fit(&st, &neighbours, &form));
    // A click on the map: take the position, save nothing yet.
    if let (Ok(x), Ok(y)) = (form.number("pick.x"), form.number("pick.y")) {
        let (lat, lon) = view.to_latlon(x, y);
        form.set("lat", format!("{lat:.6}"));
        form.set("lon", format!("{lon:.6}"));
        let f = FormPage {
            id: id.as_deref(),
            groups: &groups,
            neighbours: &neighbours,
            view,
            notice: Some("已在地图上选定位置,确认后点击“保存”。"),
        };
        return Ok(site_form(&st, &user, &f, &form, None));
    }
    let caller = user.caller.clone();
    let result: AppResult<()> = match (&id, form.get("action")) {
        (Some(id), "delete") => {
            let id = id.clone();
            st.db.write(move |c| sites::delete(c, &caller, &id)).await
        }
        (Some(id), _) => {
            let new = new_site(&form);
            let id = id.clone();
            match new {
                Ok(n) => {
                    let patch = SitePatch {
                        group_id: Some(n.group_id),
                        name: Some(n.name),
                        kind: Some(n.kind),
                        address: Some(n.address),
                        lat: Some(n.lat),
                        lon: Some(n.lon),
                        radius_m: Some(n.radius_m),
                        code: Some(n.code.unwrap_or_default()),
                    };
                    st.db
                        .write(move |c| sites::update(c, &caller, &id, patch).map(|_| ()))
                        .await
                }
                Err(e) => Err(e),
            }
        }
        (None, _) => match new_site(&form) {
            Ok(n) => {
                st.db
                    .write(move |c| sites::create(c, &caller, n).map(|_| ()))
                    .await
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => Ok(saved(&format!(
            "/admin/sites?group_id={}",
            urlencode(form.get("group_id"))
        ))),
        Err(e) if e.status == actix_web::http::StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => {
            let f = FormPage {
                id: id.as_deref(),
                groups: &groups,
                neighbours: &neighbours,
                view,
                notice: None,
            };
            Ok(site_form(&st, &user, &f, &form, Some(&Problem::of(&e))))
        }
    }
}

#[post("/admin/sites")]
async fn create(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
) -> Page {
    save(st, req, body, user, None).await
}

#[post("/admin/sites/{id}")]
async fn update(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    AdminUser(user): AdminUser,
    id: web::Path<uuid::Uuid>,
) -> Page {
    save(st, req, body, user, Some(id.to_string())).await
}

#[derive(Deserialize)]
struct MapQuery {
    view: Option<String>,
    group_id: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

/// The picker's clickable layer: the group's sites and the chosen position
/// on a clear background (the map itself is drawn under it in the page).
#[get("/admin/map.svg")]
async fn map_image(
    st: web::Data<AppState>,
    AdminUser(user): AdminUser,
    q: web::Query<MapQuery>,
) -> Page {
    let q = q.into_inner();
    let (_, neighbours) = context(&st, &user, q.group_id.as_deref().unwrap_or("")).await?;
    let view = q
        .view
        .as_deref()
        .and_then(View::decode)
        .unwrap_or_else(|| View::fit(neighbours.iter().map(|s| (s.lat, s.lon)), false));
    let mut pins: Vec<Pin> = neighbours
        .iter()
        .map(|s| Pin {
            lat: s.lat,
            lon: s.lon,
            label: &s.name,
            class: "site",
            href: None,
            named: neighbours.len() <= 30,
        })
        .collect();
    if let (Some(lat), Some(lon)) = (q.lat, q.lon) {
        pins.push(Pin {
            lat,
            lon,
            label: "当前位置",
            class: "chosen",
            href: None,
            named: false,
        });
    }
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .body(map::svg(&view, &pins, Backdrop::Clear).into_string()))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Literal paths before `/admin/sites/{id}`.
    cfg.app_data(
        actix_multipart::form::MultipartFormConfig::default()
            .total_limit(96 * 1024 * 1024)
            .memory_limit(96 * 1024 * 1024),
    )
    .service(list)
    .service(new_form)
    .service(sheets::import_form)
    .service(sheets::import)
    .service(sheets::export_csv)
    .service(sheets::export_xlsx)
    .service(sheets::export_geojson)
    .service(map_image)
    .service(create)
    .service(edit_form)
    .service(update);
}
