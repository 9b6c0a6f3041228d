//! Routes and their recurring schedules: plan a day's route from the
//! group's sites (filtered by kind and by days since the last inspection,
//! shown on the map), order the stops, a checklist per stop, assign one
//! inspector or the whole group; copy, reassign, cancel. Schedules take the
//! same stops and a rule (weekly on weekdays, monthly on a day).
//!
//! This file is the plan form both share (its context, its rows keyed by
//! stop or site, the stop picker with its map); `routes.rs` and
//! `schedules.rs` are their pages.

mod routes;
mod schedules;

use super::{Fields, Problem, group_options};
use crate::error::AppResult;
use crate::reference::routes::{self as route_ref, StopInput};
use crate::reference::templates::{self, Template};
use crate::review::coverage::{self, CoverageFilter, SiteCoverage};
use crate::state::AppState;
use crate::webui::map::{self, Backdrop, Pin, View};
use crate::webui::session::WebUser;
use actix_web::{HttpResponse, get, web};
use maud::{Markup, html};

/// What a plan is made from: the group's sites with their coverage, the
/// checklists it may use and its inspectors.
struct Ctx {
    groups: Vec<(String, String)>,
    sites: Vec<SiteCoverage>,
    templates: Vec<Template>,
    inspectors: Vec<(String, String)>,
    /// The checklist last planned for each kind of site in this group: a
    /// new stop's default (a water checklist is never offered for a
    /// forest-fire point because of its name or its place in a list).
    last_for_kind: std::collections::HashMap<String, String>,
}

async fn ctx(st: &AppState, user: &WebUser, group: &str) -> AppResult<Ctx> {
    let caller = user.caller.clone();
    let group = group.to_string();
    st.db
        .read(move |c| {
            let groups = group_options(c)?;
            if group.is_empty() {
                return Ok(Ctx {
                    groups,
                    sites: vec![],
                    templates: vec![],
                    inspectors: vec![],
                    last_for_kind: Default::default(),
                });
            }
            let f = CoverageFilter {
                group_id: Some(group.clone()),
                ..CoverageFilter::default()
            };
            let sites = coverage::all(c, &caller, &f)?;
            let mut all = crate::paging::collect(
                usize::MAX,
                |req| templates::list(c, &caller, req),
                |x| &x.id,
            )?;
            all.retain(|t| t.group_id.as_deref().is_none_or(|g| g == group));
            let inspectors = crate::reference::users::active_inspectors(c, &group)?;
            let last_for_kind = last_checklist_per_kind(c, &group, &all)?;
            Ok(Ctx {
                groups,
                sites,
                templates: all,
                inspectors,
                last_for_kind,
            })
        })
        .await
}

/// The checklist most recently planned for each kind of site of the
/// group (among those it may still use), from its routes' stops, newest
/// route first.
fn last_checklist_per_kind(
    c: &mut crate::db::Conn,
    group: &str,
    usable: &[Template],
) -> AppResult<std::collections::HashMap<String, String>> {
    let rows = route_ref::planned_kinds(c, group, 2000)?;
    let mut out = std::collections::HashMap::new();
    for (kind, tpl) in rows {
        if usable.iter().any(|t| t.id == tpl) {
            out.entry(kind).or_insert(tpl);
        }
    }
    Ok(out)
}

/// A plan form names each stop by a row key, never by its site: a route
/// may visit one site twice. An existing stop's row is its stop id; a
/// site picked anew is its site id (`<site>~2`, `~3`... for more visits).
/// Per row: `site.<row>`, `seq.<row>`, `tpl.<row>`, `notes.<row>`, and
/// `stop.<row>` for a stop that already exists; the checked rows are the
/// `row` values.
fn chosen_rows(f: &Fields) -> Vec<&str> {
    f.all("row")
}

/// The site of a row (a new row's key is its site, with a `~n` suffix).
fn row_site<'a>(f: &'a Fields, row: &'a str) -> &'a str {
    match f.get(&format!("site.{row}")) {
        "" => row.split('~').next().unwrap_or(row),
        s => s,
    }
}

/// The checked rows by their order number, then by their place in the
/// list: the stops' order, and the order in which an error about
/// `stops[i]` is shown at the i-th row.
fn ordered_rows(f: &Fields) -> Vec<&str> {
    let mut rows: Vec<(f64, usize, &str)> = chosen_rows(f)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let seq = f
                .get(&format!("seq.{row}"))
                .trim()
                .parse::<f64>()
                .unwrap_or(f64::MAX);
            (seq, i, row)
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    rows.into_iter().map(|(_, _, r)| r).collect()
}

/// The stops a plan form holds, in order, each with its checklist and notes.
fn stops_of(f: &Fields) -> Vec<StopInput> {
    ordered_rows(f)
        .into_iter()
        .map(|row| StopInput {
            id: f.opt(&format!("stop.{row}")),
            seq: None,
            site_id: row_site(f, row).to_string(),
            template_id: f.get(&format!("tpl.{row}")).to_string(),
            notes: f.get(&format!("notes.{row}")).to_string(),
        })
        .collect()
}

/// A row key for a new visit to `site`, not yet used in the form.
fn new_row(f: &Fields, site: &str) -> String {
    let rows = chosen_rows(f);
    (1..)
        .map(|n| {
            if n == 1 {
                site.to_string()
            } else {
                format!("{site}~{n}")
            }
        })
        .find(|k| !rows.contains(&k.as_str()))
        .unwrap_or_else(|| site.to_string())
}

/// Puts stops into a form (for an existing route, a schedule or a copy).
fn set_stops(f: &mut Fields, stops: &[(Option<String>, String, String, String)]) {
    for (i, (id, site, tpl, notes)) in stops.iter().enumerate() {
        let row = match id {
            Some(id) => id.clone(),
            None => new_row(f, site),
        };
        f.push("row", row.clone());
        f.set(&format!("site.{row}"), site.clone());
        f.set(&format!("seq.{row}"), (i + 1).to_string());
        f.set(&format!("tpl.{row}"), tpl.clone());
        f.set(&format!("notes.{row}"), notes.clone());
        if let Some(id) = id {
            f.set(&format!("stop.{row}"), id.clone());
        }
    }
}

/// The sites of the checked rows.
fn chosen_sites(f: &Fields) -> Vec<&str> {
    chosen_rows(f).into_iter().map(|r| row_site(f, r)).collect()
}

/// The group's sites a plan form offers: those its filters (kind, days
/// since the last inspection) keep, and not already chosen.
fn offered<'a>(ctx: &'a Ctx, f: &Fields) -> Vec<&'a SiteCoverage> {
    let chosen = chosen_sites(f);
    let kind = f.get("kind");
    let stale: Option<i64> = f.get("stale_days").trim().parse().ok();
    ctx.sites
        .iter()
        .filter(|s| {
            !chosen.contains(&s.site_id.as_str())
                && (kind.is_empty() || s.kind == kind)
                && stale.is_none_or(|d| s.stale(d))
        })
        .collect()
}

/// The sites on the map: the chosen ones and the offered ones.
fn shown<'a>(ctx: &'a Ctx, f: &Fields) -> Vec<&'a SiteCoverage> {
    let chosen = chosen_sites(f);
    let mut out: Vec<&SiteCoverage> = ctx
        .sites
        .iter()
        .filter(|s| chosen.contains(&s.site_id.as_str()))
        .collect();
    out.extend(offered(ctx, f));
    out
}

/// The map's view: kept across clicks on the map (so it does not jump),
/// else fitted to the sites shown.
fn plan_view(st: &AppState, f: &Fields, shown: &[&SiteCoverage]) -> View {
    View::decode(f.get("plan_view"))
        .filter(|_| f.has("mappick.x"))
        .unwrap_or_else(|| {
            View::fit(
                shown.iter().map(|s| (s.lat, s.lon)),
                st.config.map_tiles.is_some(),
            )
        })
}

/// A click on the plan's map adds a visit to the site under it (within 15
/// pixels), or takes out its last visit if it was chosen: sites are picked
/// from the map with no script.
fn toggle_at(ctx: &Ctx, f: &mut Fields) {
    let (Ok(x), Ok(y), Some(view)) = (
        f.number("mappick.x"),
        f.number("mappick.y"),
        View::decode(f.get("plan_view")),
    ) else {
        return;
    };
    let nearest = shown(ctx, f)
        .into_iter()
        .map(|s| {
            let (px, py) = view.to_px(s.lat, s.lon);
            (
                ((px - x).powi(2) + (py - y).powi(2)).sqrt(),
                s.site_id.clone(),
            )
        })
        .filter(|(d, _)| *d <= 15.0)
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let Some((_, site)) = nearest else { return };
    let visits: Vec<String> = chosen_rows(f)
        .into_iter()
        .filter(|r| row_site(f, r) == site)
        .map(str::to_string)
        .collect();
    if let Some(last) = visits.last() {
        f.0.retain(|(k, v)| !(k == "row" && v == last));
    } else {
        let next = chosen_rows(f).len() + 1;
        let row = new_row(f, &site);
        f.push("row", row.clone());
        f.set(&format!("site.{row}"), site.clone());
        f.set(&format!("seq.{row}"), next.to_string());
    }
}

/// The checklist a stop at `s` gets unless the admin chooses: the one last
/// planned for its kind here; none (the admin must choose) for a kind
/// never planned.
fn default_checklist(ctx: &Ctx, s: &SiteCoverage) -> String {
    match (ctx.last_for_kind.get(&s.kind), ctx.templates.as_slice()) {
        (Some(t), _) => t.clone(),
        // The group's only checklist is no guess.
        (None, [only]) => only.id.clone(),
        (None, _) => String::new(),
    }
}

fn stop_picker(st: &AppState, ctx: &Ctx, f: &Fields, p: Option<&Problem>) -> Markup {
    let chosen = chosen_sites(f);
    let kind = f.get("kind");
    let shown = shown(ctx, f);
    let offered = offered(ctx, f);
    let site_of = |id: &str| ctx.sites.iter().find(|s| s.site_id == id);
    let view = plan_view(st, f, &shown);
    let pins: Vec<Pin> = shown
        .iter()
        .map(|s| Pin {
            lat: s.lat,
            lon: s.lon,
            label: &s.name,
            class: if chosen.contains(&s.site_id.as_str()) {
                "chosen"
            } else {
                s.freshness()
            },
            href: None,
            named: shown.len() <= 40,
        })
        .collect();
    let checklist = |name: &str, chosen: &str| {
        html! {
            select name=(name) {
                @if chosen.is_empty() { option value="" selected { "请选择检查清单" } }
                @for t in &ctx.templates { option value=(t.id) selected[t.id == chosen] { (t.name) } }
            }
        }
    };
    html! {
        fieldset.picker-filters {
            legend { "选择点位" }
            label { "类型" (super::sites::kind_select("kind", kind, Some("全部"))) }
            label { "未巡查天数 ≥" input type="number" name="stale_days" id="stale_days" min="0" value=(f.get("stale_days")); }
            button.secondary type="submit" name="action" value="filter" id="filter" { "筛选点位" }
        }
        (Problem::at(p, "stops"))
        input type="hidden" name="plan_view" value=(view.encode());
        p.hint { "点击地图上的点位即可选中或取消;同一点位可以在路线中出现多次(在下表中再勾选一次)。" }
        div.mapbox {
            div.picker {
                (map::svg(&view, &pins, Backdrop::of(st.config.map_tiles.as_deref())))
                input type="image" name="mappick" id="mappick" src="/admin/clear.svg" alt="在地图上点选点位"
                    width=(map::WIDTH) height=(map::HEIGHT);
            }
        }
        p.legend {
            span.dot.chosen { "●" } " 已选 " span.dot.fresh { "●" } " 7 天内巡查 " span.dot.due { "●" } " 7–30 天 "
            span.dot.stale { "●" } " 30 天以上 " span.dot.never { "●" } " 从未巡查"
        }
        div.scroll {
        table.list.stops id="stops" {
            tr { th { "选" } th { "顺序" } th { "点位" } th { "类型" } th { "距上次巡查" } th { "检查清单" } th { "备注" } }
            // The stops chosen, one row each (a site visited twice has two).
            @for (i, row) in ordered_rows(f).into_iter().enumerate() {
                @let site = row_site(f, row);
                @let s = site_of(site);
                tr.on {
                    td {
                        input type="checkbox" name="row" value=(row) checked aria-label=(s.map_or(site, |s| s.name.as_str()));
                        input type="hidden" name={ "site." (row) } value=(site);
                        @if let Some(stop) = f.opt(&format!("stop.{row}")) { input type="hidden" name={ "stop." (row) } value=(stop); }
                    }
                    td { input type="number" name={ "seq." (row) } value=(f.get(&format!("seq.{row}"))) min="1" size="3"; }
                    td { (s.map_or("(点位已不在本组)", |s| s.name.as_str())) @if let Some(c) = s.and_then(|s| s.code.as_ref()) { " " small { (c) } } }
                    td { (s.map_or("", |s| crate::reference::sites::kind_label(&s.kind))) }
                    td class=(s.map_or("", |s| s.freshness())) { @match s.and_then(|s| s.days_since_inspected) { Some(d) => { (d) " 天" }, None => { "从未" } } }
                    td {
                        (checklist(&format!("tpl.{row}"), f.get(&format!("tpl.{row}"))))
                        (Problem::at(p, &format!("stops[{i}].template_id")))
                    }
                    td { input name={ "notes." (row) } value=(f.get(&format!("notes.{row}"))); }
                }
            }
            // The group's other sites (and each chosen one once more, for
            // a second visit), to add.
            @for s in offered.iter().copied().chain(ctx.sites.iter().filter(|s| chosen.contains(&s.site_id.as_str()))) {
                @let row = new_row(f, &s.site_id);
                tr {
                    td {
                        input type="checkbox" name="row" value=(row) aria-label=(s.name);
                        input type="hidden" name={ "site." (row) } value=(s.site_id);
                    }
                    td { input type="number" name={ "seq." (row) } value="" min="1" size="3"; }
                    td { (s.name) @if let Some(c) = &s.code { " " small { (c) } } @if chosen.contains(&s.site_id.as_str()) { " " small.tag { "再次巡查" } } }
                    td { (crate::reference::sites::kind_label(&s.kind)) }
                    td class=(s.freshness()) { @match s.days_since_inspected { Some(d) => { (d) " 天" }, None => { "从未" } } }
                    td { (checklist(&format!("tpl.{row}"), &default_checklist(ctx, s))) }
                    td { input name={ "notes." (row) } value=""; }
                }
            }
        }
        }
        @if shown.is_empty() { p.empty { "没有符合条件的点位" } }
    }
}

fn assignee_select(ctx: &Ctx, chosen: &str) -> Markup {
    html! {
        select name="assignee_id" id="assignee_id" {
            option value="" { "全组(任何组员)" }
            @for (id, name) in &ctx.inspectors { option value=(id) selected[id == chosen] { (name) } }
        }
    }
}

/// The clear layer over a plan's map that takes the click.
#[get("/admin/clear.svg")]
async fn clear_layer() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}"/>"#,
            map::WIDTH,
            map::HEIGHT
        ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(clear_layer);
    routes::configure(cfg);
    schedules::configure(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Stop = (Option<String>, String, String, String);

    fn form(stops: &[Stop]) -> Fields {
        let mut f = Fields(vec![]);
        set_stops(&mut f, stops);
        f
    }

    #[test]
    fn a_site_visited_twice_gets_two_rows() {
        let s = |id: Option<&str>, site: &str| {
            (
                id.map(String::from),
                site.to_string(),
                "t".to_string(),
                String::new(),
            )
        };
        let f = form(&[s(None, "a"), s(None, "b"), s(None, "a"), s(Some("x"), "a")]);
        assert_eq!(chosen_rows(&f), ["a", "b", "a~2", "x"]);
        assert_eq!(chosen_sites(&f), ["a", "b", "a", "a"]);
        assert_eq!(new_row(&f, "a"), "a~3");
        assert_eq!(new_row(&f, "c"), "c");
    }

    #[test]
    fn rows_follow_their_order_numbers_then_their_place() {
        let mut f = Fields(vec![]);
        for (row, seq) in [("a", "2"), ("b", "1"), ("c", ""), ("d", "1")] {
            f.push("row", row.to_string());
            f.set(&format!("seq.{row}"), seq);
        }
        assert_eq!(ordered_rows(&f), ["b", "d", "a", "c"]);
    }

    proptest! {
        /// Whatever stops a route has (sites visited more than once,
        /// existing stops among new ones), the form made from them gives
        /// back the same stops in the same order, each keeping its id: a
        /// route saved unchanged is unchanged.
        #[test]
        fn stops_survive_the_form(
            stops in proptest::collection::vec(
                (proptest::option::of("[a-f]{1}[0-9]{1}"), "[a-c]", "[tu]", "[ 注意]{0,3}"),
                0..12,
            )
        ) {
            // Stop ids are unique; a stop id never looks like a site id.
            let mut seen = std::collections::HashSet::new();
            let stops: Vec<Stop> = stops
                .into_iter()
                .map(|(id, site, tpl, notes)| {
                    let id = id.filter(|i| seen.insert(i.clone())).map(|i| format!("stop-{i}"));
                    (id, site, tpl, notes)
                })
                .collect();
            let back = stops_of(&form(&stops));
            prop_assert_eq!(back.len(), stops.len());
            for (b, (id, site, tpl, notes)) in back.iter().zip(&stops) {
                prop_assert_eq!(&b.id, id);
                prop_assert_eq!(&b.site_id, site);
                prop_assert_eq!(&b.template_id, tpl);
                prop_assert_eq!(&b.notes, notes);
            }
        }
    }
}
