//! The period brief: a printable page (A4 on paper, one column on a
//! phone) with the counts and charts a liaison group's year-end report
//! cites, in the district's days. Served to the pages' session at
//! `/review/brief` and to API callers at `GET /api/v1/reports/brief`; both
//! draw this one document from the one summary.

use super::super::session::WebUser;
use super::super::{Page, words};
use super::dashboard::{self, Query};
use crate::review::summary::{self, Figure, Summary};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use maud::{DOCTYPE, Markup, html};

fn count(s: &Summary, key: &str) -> String {
    summary::figures(s)
        .into_iter()
        .find(|f| f.0 == key)
        .map(|f| dashboard::figure_text(f.2))
        .unwrap_or_default()
}

/// The brief as a whole HTML document.
pub fn document(s: &Summary, scope: &str, made: chrono::DateTime<chrono::Utc>) -> Markup {
    let title = format!("{scope}巡查履职简报({} 至 {})", s.period.from, s.period.to);
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/review/static/review.css";
            }
            body.print.brief {
                header {
                    h1 { (title) }
                    p.meta { "统计期间:" (s.period.from) " 至 " (s.period.to) "(" (words::zone()) ")· 生成于 " (words::time(made)) }
                }
                section {
                    h2 { "总体情况" }
                    p.lead {
                        "本期共开展巡查 " strong { (count(s, "inspections")) } " 次,参与委员 " strong { (count(s, "members")) }
                        " 人,巡查点位 " strong { (count(s, "sites_inspected")) } " 个;随手拍反映问题 " strong { (count(s, "reports")) }
                        " 件,被采纳 " strong { (count(s, "reports_adopted")) } " 件;交办问题 " strong { (count(s, "followups_opened")) }
                        " 件,已办结 " strong { (count(s, "followups_resolved")) } " 件,核实销号 " strong { (count(s, "followups_verified")) } " 件。"
                    }
                    table.data.figures {
                        tbody {
                            @for (_, zh, v) in summary::figures(s) {
                                tr { th { (zh) } td { (dashboard::figure_text(v)) } }
                            }
                        }
                    }
                }
                section.keep {
                    h2 { "每周记录" }
                    figure.chart { (dashboard::weekly_chart(s)) }
                }
                section.keep {
                    h2 { "审核结果" }
                    figure.chart { (dashboard::reviews_chart(s)) }
                    p { "采纳率 " (dashboard::figure_text(Figure::Rate(s.reviews.approval_rate)))
                        ",退回率 " (dashboard::figure_text(Figure::Rate(s.reviews.return_rate))) "。" }
                }
                section.keep {
                    h2 { "发现的问题" }
                    figure.chart { (dashboard::failed_chart(s)) }
                }
                section.keep {
                    h2 { "交办与办理" }
                    figure.chart { (dashboard::departments_chart(s)) }
                    table.data {
                        thead { tr { th { "部门" } th { "交办" } th { "办结" } th { "核实" } th { "逾期" } th { "办结用时(中位)" } } }
                        tbody { @for d in &s.departments { tr {
                            td { (d.name) } td { (d.assigned) } td { (d.resolved) } td { (d.verified) } td { (d.overdue) }
                            td { (d.median_resolve_s.map(words::span).unwrap_or_else(|| "—".into())) }
                        } } }
                    }
                }
                section.keep {
                    h2 { "巡查覆盖" }
                    figure.chart { (dashboard::coverage_chart(s)) }
                }
                @if !s.recurring_sites.is_empty() {
                    section.keep {
                        h2 { "反复出现问题的点位" }
                        table.data {
                            thead { tr { th { "点位" } th { "发现问题的巡查" } th { "附近随手拍" } } }
                            tbody { @for r in &s.recurring_sites { tr { td { (r.name) } td { (r.failed_inspections) } td { (r.reports) } } } }
                        }
                    }
                }
                footer.sign { p { "填报人:__________  审核人:__________  日期:__________" } }
                p.noprint { a href={ "/review/brief.pdf?" (Query::link(s)) } { "下载 PDF" } " · " a href={ "/review/dashboard?" (Query::link(s)) } { "返回概览" } }
            }
        }
    }
}

/// The brief as a PDF (A4), drawn by the server: the same sections as the
/// page, from the same summary. 406 without a CJK font.
pub fn pdf(
    s: &Summary,
    scope: &str,
    made: chrono::DateTime<chrono::Utc>,
    font: Option<&std::path::Path>,
) -> crate::error::AppResult<Vec<u8>> {
    use super::super::pdf::{self as draw, Layout};
    let mut l = Layout::default();
    l.heading(&format!("{scope}巡查履职简报"), 18.0);
    l.paragraph(
        &format!(
            "统计期间:{} 至 {}({})· 生成于 {}",
            s.period.from,
            s.period.to,
            words::zone(),
            words::time(made)
        ),
        9.0,
        true,
    );
    l.heading("总体情况", 13.0);
    l.paragraph(&lead(s), 11.0, false);
    l.table(
        &summary::figures(s)
            .into_iter()
            .map(|(_, zh, v)| (zh.to_string(), dashboard::figure_text(v)))
            .collect::<Vec<_>>(),
        10.0,
    );
    l.heading("每周记录", 13.0);
    l.columns(
        &dashboard::week_labels(s),
        &[
            (
                "巡查",
                draw::BLUE,
                s.weeks.iter().map(|w| w.inspections).collect(),
            ),
            (
                "随手拍",
                draw::ORANGE,
                s.weeks.iter().map(|w| w.reports).collect(),
            ),
        ],
    );
    l.heading("审核结果", 13.0);
    l.bars(
        &[
            ("通过".to_string(), s.reviews.approved as f64, draw::GREEN),
            (
                "退回补充".to_string(),
                s.reviews.returned as f64,
                draw::YELLOW,
            ),
            ("不予采纳".to_string(), s.reviews.rejected as f64, draw::RED),
        ],
        " 件",
    );
    l.heading("发现的问题", 13.0);
    l.bars(
        &s.failed_items
            .iter()
            .take(10)
            .map(|f| {
                (
                    format!("{}·{}", f.site_kind_name, f.label),
                    f.count as f64,
                    draw::RED,
                )
            })
            .collect::<Vec<_>>(),
        " 次",
    );
    l.heading("交办与办理", 13.0);
    l.table(
        &s.departments
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    format!(
                        "交办 {} · 办结 {} · 核实 {} · 逾期 {} · 办结用时(中位){}",
                        d.assigned,
                        d.resolved,
                        d.verified,
                        d.overdue,
                        d.median_resolve_s
                            .map(words::span)
                            .unwrap_or_else(|| "—".into())
                    ),
                )
            })
            .collect::<Vec<_>>(),
        9.0,
    );
    l.heading("巡查覆盖(截至今天)", 13.0);
    l.bars(
        &[
            ("7 天内".to_string(), s.coverage.fresh as f64, draw::GREEN),
            ("7–30 天".to_string(), s.coverage.due as f64, draw::YELLOW),
            ("30 天以上".to_string(), s.coverage.stale as f64, draw::RED),
            (
                "从未巡查".to_string(),
                s.coverage.never as f64,
                draw::PURPLE,
            ),
        ],
        " 个",
    );
    if !s.recurring_sites.is_empty() {
        l.heading("反复出现问题的点位", 13.0);
        l.bars(
            &s.recurring_sites
                .iter()
                .take(15)
                .map(|r| (r.name.clone(), r.total as f64, draw::ORANGE))
                .collect::<Vec<_>>(),
            " 次",
        );
    }
    l.paragraph(
        "填报人:__________  审核人:__________  日期:__________",
        11.0,
        false,
    );
    l.render(font)
}

/// The brief's first sentence: the counts a year-end report cites.
fn lead(s: &Summary) -> String {
    format!(
        "本期共开展巡查 {} 次,参与委员 {} 人,巡查点位 {} 个;随手拍反映问题 {} 件,被采纳 {} 件;交办问题 {} 件,已办结 {} 件,核实销号 {} 件。",
        count(s, "inspections"),
        count(s, "members"),
        count(s, "sites_inspected"),
        count(s, "reports"),
        count(s, "reports_adopted"),
        count(s, "followups_opened"),
        count(s, "followups_resolved"),
        count(s, "followups_verified"),
    )
}

/// A PDF answer.
pub fn pdf_answer(bytes: Vec<u8>, s: &Summary) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!(
                "inline; filename=\"brief-{}-{}.pdf\"",
                s.period.from, s.period.to
            ),
        ))
        .body(bytes)
}

#[get("/review/brief.pdf")]
pub async fn pdf_page(st: web::Data<AppState>, user: WebUser, q: web::Query<Query>) -> Page {
    let q = q.into_inner();
    let l = dashboard::load(&st, &user, &q).await?;
    let font = st.config.pdf_font.clone();
    let (s, scope) = (l.summary.clone(), l.scope.clone());
    let bytes = web::block(move || pdf(&s, &scope, crate::clock::now_utc(), font.as_deref()))
        .await
        .map_err(crate::error::AppError::from)??;
    Ok(pdf_answer(bytes, &l.summary))
}

#[get("/review/brief")]
pub async fn page(st: web::Data<AppState>, user: WebUser, q: web::Query<Query>) -> Page {
    let q = q.into_inner();
    let l = dashboard::load(&st, &user, &q).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(document(&l.summary, &l.scope, crate::clock::now_utc()).into_string()))
}
