//! `/api/v1/inspections`, `/api/v1/conflicts`, `/api/v1/audit`.

use crate::auth::Caller;
use crate::error::AppResult;
use crate::http::sheet::Format as SheetFormat;
use crate::inspection::Inspection;
use crate::inspection::conflicts::{self, Conflict, ConflictFilter};
use crate::inspection::reviews::Review;
use crate::paging::{Page, PageQuery};
use crate::review::actions::{self, NewReview, Resolve};
use crate::review::audit::{self, AuditFilter, Entry};
use crate::review::coverage::{self, CoverageFilter, SiteCoverage};
use crate::review::dept_report::{self, DepartmentRow, DepartmentsQuery};
use crate::review::followups::{
    self, Followup, FollowupFilter, FollowupPatch, NewFollowup, Verification,
};
use crate::review::queue::{self, Detail, QueueFilter};
use crate::review::reports::{self, LedgerQuery, LedgerRow};
use crate::review::summary::{self, Summary, SummaryQuery, TableQuery};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, post, web};
use uuid::Uuid;

/// The review queue, newest first.
#[utoipa::path(tag = "review", params(QueueFilter), responses((status = 200, body = Page<Inspection>)))]
#[get("/api/v1/inspections")]
pub async fn list(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<QueueFilter>,
) -> AppResult<web::Json<Page<Inspection>>> {
    let f = f.into_inner();
    let signer = st.signer.clone();
    Ok(web::Json(
        st.db
            .read(move |c| queue::list(c, &caller, &f, &signer))
            .await?,
    ))
}

/// One inspection with its photos, reviews, conflicts, follow-ups and checks.
#[utoipa::path(tag = "review", responses((status = 200, body = Detail), (status = 404)))]
#[get("/api/v1/inspections/{id}")]
pub async fn one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Detail>> {
    let id = id.to_string();
    let signer = st.signer.clone();
    Ok(web::Json(
        st.db
            .read(move |c| queue::detail(c, &caller, &id, &signer))
            .await?,
    ))
}

/// Approves, returns (the comment reaches the phone) or rejects.
#[utoipa::path(tag = "review", request_body = NewReview, responses((status = 201, body = Review), (status = 403), (status = 409, description = "not submitted")))]
#[post("/api/v1/inspections/{id}/reviews")]
pub async fn review(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<NewReview>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let r = st
        .db
        .write(move |c| actions::review(c, &caller, &id, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(r))
}

#[utoipa::path(tag = "review", params(PageQuery, ConflictFilter), responses((status = 200, body = Page<Conflict>)))]
#[get("/api/v1/conflicts")]
pub async fn conflicts_list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    f: web::Query<ConflictFilter>,
) -> AppResult<web::Json<Page<Conflict>>> {
    let page = q.parse()?;
    let f = f.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| conflicts::list(c, &caller, &f, &page))
            .await?,
    ))
}

/// Keeps the kept value, or writes the discarded one as a new version.
#[utoipa::path(tag = "review", request_body = Resolve, responses((status = 200, body = Conflict), (status = 403), (status = 409)))]
#[post("/api/v1/conflicts/{id}/resolve")]
pub async fn resolve(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<Resolve>,
) -> AppResult<web::Json<Conflict>> {
    let id = id.to_string();
    let keep = body.keep;
    Ok(web::Json(
        st.db
            .write(move |c| actions::resolve(c, &caller, &id, keep))
            .await?,
    ))
}

#[utoipa::path(tag = "review", params(PageQuery, AuditFilter), responses((status = 200, body = Page<Entry>), (status = 403)))]
#[get("/api/v1/audit")]
pub async fn audit_log(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    f: web::Query<AuditFilter>,
) -> AppResult<web::Json<Page<Entry>>> {
    let page = q.parse()?;
    let f = f.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| audit::list(c, &caller, &f, &page))
            .await?,
    ))
}

/// Opens a follow-up on an inspection's finding.
#[utoipa::path(tag = "review", request_body = NewFollowup, responses((status = 201, body = Followup), (status = 403), (status = 404)))]
#[post("/api/v1/inspections/{id}/followups")]
pub async fn followup_create(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<NewFollowup>,
) -> AppResult<HttpResponse> {
    let signer = st.signer.clone();
    let id = id.to_string();
    let f = st
        .db
        .write(move |c| followups::create(c, &caller, &id, body.into_inner(), &signer))
        .await?;
    Ok(HttpResponse::Created().json(f))
}

#[utoipa::path(tag = "review", params(PageQuery, FollowupFilter), responses((status = 200, body = Page<Followup>)))]
#[get("/api/v1/followups")]
pub async fn followup_list(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    f: web::Query<FollowupFilter>,
) -> AppResult<web::Json<Page<Followup>>> {
    let signer = st.signer.clone();
    let page = q.parse()?;
    let f = f.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| followups::list(c, &caller, &f, &page, &signer))
            .await?,
    ))
}

#[utoipa::path(tag = "review", responses((status = 200, body = Followup), (status = 404)))]
#[get("/api/v1/followups/{id}")]
pub async fn followup_one(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Followup>> {
    let signer = st.signer.clone();
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .read(move |c| followups::get(c, &caller, &id, &signer))
            .await?,
    ))
}

/// Changes a follow-up's status (with a note), assignee, due date.
#[utoipa::path(tag = "review", request_body = FollowupPatch, responses((status = 200, body = Followup), (status = 403), (status = 409)))]
#[patch("/api/v1/followups/{id}")]
pub async fn followup_update(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<FollowupPatch>,
) -> AppResult<web::Json<Followup>> {
    let signer = st.signer.clone();
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| followups::update(c, &caller, &id, body.into_inner(), &signer))
            .await?,
    ))
}

/// Adds a stop at the follow-up's site to a route to look again; the
/// inspection submitted there (`rectified: true|false`) verifies or
/// reopens the follow-up.
#[utoipa::path(tag = "review", request_body = Verification, responses((status = 200, body = Followup), (status = 409), (status = 422)))]
#[post("/api/v1/followups/{id}/verification")]
pub async fn followup_verification(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<Verification>,
) -> AppResult<web::Json<Followup>> {
    let signer = st.signer.clone();
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .write(move |c| {
                followups::add_verification(c, &caller, &id, body.into_inner(), &signer)
            })
            .await?,
    ))
}

/// A report's table streamed page by page as CSV or XLSX: the first page
/// is read before the answer starts, so a bad filter is a clean JSON
/// error; later pages come as the client reads.
async fn report_table(
    st: web::Data<AppState>,
    caller: Caller,
    f: QueueFilter,
    table: reports::Table,
    format: SheetFormat,
) -> AppResult<HttpResponse> {
    let signer = st.signer.clone();
    let stem = match table {
        reports::Table::Inspections => "inspections",
        reports::Table::RepeatRows => "repeat_rows",
    };
    crate::http::sheet::answer(st.db.clone(), format, stem, move |c, cursor| {
        reports::table_page(c, &caller, &f, cursor, &signer, table)
    })
    .await
}

/// The queue as CSV (UTF-8 with BOM), with the queue's filters, streamed:
/// any number of rows. Cells a spreadsheet would run as a formula start
/// with `'`.
#[utoipa::path(tag = "reports", params(QueueFilter), responses((status = 200, content_type = "text/csv")))]
#[get("/api/v1/reports/inspections.csv")]
pub async fn report_csv(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<QueueFilter>,
) -> AppResult<HttpResponse> {
    report_table(
        st,
        caller,
        f.into_inner(),
        reports::Table::Inspections,
        SheetFormat::Csv,
    )
    .await
}

/// The same as an Excel workbook: Chinese headers, numbers and times
/// (district time) as Excel's own, the header row frozen.
#[utoipa::path(tag = "reports", params(QueueFilter), responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
#[get("/api/v1/reports/inspections.xlsx")]
pub async fn report_xlsx(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<QueueFilter>,
) -> AppResult<HttpResponse> {
    report_table(
        st,
        caller,
        f.into_inner(),
        reports::Table::Inspections,
        SheetFormat::Xlsx,
    )
    .await
}

/// The rows of the records' repeats in long form (one line per answer:
/// record, repeat, row id, row number, item, value, failed), with the
/// queue's filters, streamed.
#[utoipa::path(tag = "reports", params(QueueFilter), responses((status = 200, content_type = "text/csv")))]
#[get("/api/v1/reports/repeat_rows.csv")]
pub async fn report_repeat_rows(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<QueueFilter>,
) -> AppResult<HttpResponse> {
    report_table(
        st,
        caller,
        f.into_inner(),
        reports::Table::RepeatRows,
        SheetFormat::Csv,
    )
    .await
}

/// The same as an Excel workbook.
#[utoipa::path(tag = "reports", params(QueueFilter), responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
#[get("/api/v1/reports/repeat_rows.xlsx")]
pub async fn report_repeat_rows_xlsx(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<QueueFilter>,
) -> AppResult<HttpResponse> {
    report_table(
        st,
        caller,
        f.into_inner(),
        reports::Table::RepeatRows,
        SheetFormat::Xlsx,
    )
    .await
}

/// The queue as GeoJSON, one Feature per inspection, streamed.
#[utoipa::path(tag = "reports", params(QueueFilter), responses((status = 200, content_type = "application/geo+json")))]
#[get("/api/v1/reports/inspections.geojson")]
pub async fn report_geojson(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<QueueFilter>,
) -> AppResult<HttpResponse> {
    let signer = st.signer.clone();
    let f = f.into_inner();
    crate::http::streaming::pages(
        st.db.clone(),
        "application/geo+json",
        None,
        move |c, cursor| reports::geojson_page(c, &caller, &f, cursor, &signer),
    )
    .await
}

/// Per site: the last inspection, the last approved one, days since, and
/// open and overdue follow-ups. With `stale_days`, only sites not
/// inspected for that long (or never).
#[utoipa::path(tag = "reports", params(PageQuery, CoverageFilter), responses((status = 200, body = Page<SiteCoverage>)))]
#[get("/api/v1/reports/coverage")]
pub async fn report_coverage(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    f: web::Query<CoverageFilter>,
) -> AppResult<web::Json<Page<SiteCoverage>>> {
    let page = q.parse()?;
    let f = f.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| coverage::page(c, &caller, &f, &page))
            .await?,
    ))
}

/// The coverage as CSV (UTF-8 with BOM), streamed.
#[utoipa::path(tag = "reports", params(CoverageFilter), responses((status = 200, content_type = "text/csv")))]
#[get("/api/v1/reports/coverage.csv")]
pub async fn report_coverage_csv(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<CoverageFilter>,
) -> AppResult<HttpResponse> {
    coverage_table(st, caller, f.into_inner(), SheetFormat::Csv).await
}

/// The coverage as an Excel workbook.
#[utoipa::path(tag = "reports", params(CoverageFilter), responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
#[get("/api/v1/reports/coverage.xlsx")]
pub async fn report_coverage_xlsx(
    st: web::Data<AppState>,
    caller: Caller,
    f: web::Query<CoverageFilter>,
) -> AppResult<HttpResponse> {
    coverage_table(st, caller, f.into_inner(), SheetFormat::Xlsx).await
}

async fn coverage_table(
    st: web::Data<AppState>,
    caller: Caller,
    f: CoverageFilter,
    format: SheetFormat,
) -> AppResult<HttpResponse> {
    crate::http::sheet::answer(st.db.clone(), format, "coverage", move |c, cursor| {
        coverage::sheet_page(c, &caller, &f, cursor)
    })
    .await
}

/// Per inspector for a date range.
#[utoipa::path(tag = "reports", params(LedgerQuery), responses((status = 200, body = Vec<LedgerRow>)))]
#[get("/api/v1/reports/ledger")]
pub async fn report_ledger(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<LedgerQuery>,
) -> AppResult<web::Json<Vec<LedgerRow>>> {
    let q = q.into_inner();
    Ok(web::Json(
        st.db.read(move |c| reports::ledger(c, &caller, &q)).await?,
    ))
}

/// A record's relay in time order: captured, received, reviewed, handed
/// to a department, answered, moved on, verified; each step with who and
/// for which department.
#[utoipa::path(tag = "review", params(("id" = Uuid, Path)), responses((status = 200, body = crate::review::timeline::Timeline), (status = 404)))]
#[get("/api/v1/inspections/{id}/timeline")]
pub async fn timeline(
    st: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<crate::review::timeline::Timeline>> {
    let id = id.to_string();
    Ok(web::Json(
        st.db
            .read(move |c| crate::review::timeline::of(c, &caller, &id))
            .await?,
    ))
}

/// Per department: follow-ups handed to it in the period, answered,
/// resolved, verified, overdue, and the median times to the first response
/// and to the resolve (seconds).
#[utoipa::path(tag = "reports", params(DepartmentsQuery), responses((status = 200, body = Vec<DepartmentRow>), (status = 403)))]
#[get("/api/v1/reports/departments")]
pub async fn report_departments(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<DepartmentsQuery>,
) -> AppResult<web::Json<Vec<DepartmentRow>>> {
    let q = q.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| dept_report::report(c, &caller, &q))
            .await?,
    ))
}

/// The same as CSV.
#[utoipa::path(tag = "reports", params(DepartmentsQuery), responses((status = 200, content_type = "text/csv"), (status = 403)))]
#[get("/api/v1/reports/departments.csv")]
pub async fn report_departments_csv(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<DepartmentsQuery>,
) -> AppResult<HttpResponse> {
    departments_table(st, caller, q.into_inner(), SheetFormat::Csv).await
}

/// The same as an Excel workbook.
#[utoipa::path(tag = "reports", params(DepartmentsQuery), responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (status = 403)))]
#[get("/api/v1/reports/departments.xlsx")]
pub async fn report_departments_xlsx(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<DepartmentsQuery>,
) -> AppResult<HttpResponse> {
    departments_table(st, caller, q.into_inner(), SheetFormat::Xlsx).await
}

async fn departments_table(
    st: web::Data<AppState>,
    caller: Caller,
    q: DepartmentsQuery,
    format: SheetFormat,
) -> AppResult<HttpResponse> {
    crate::http::sheet::answer(st.db.clone(), format, "departments", move |c, _| {
        Ok(dept_report::sheet(&dept_report::report(c, &caller, &q)?))
    })
    .await
}

/// The district at a glance for a period (district days; default this
/// year to today) and optionally one group: records per week by group and
/// category, review rates, failed items by site kind, follow-ups and the
/// departments' times, coverage, sites that keep coming back. Coordinators
/// and admins, within their scope.
#[utoipa::path(tag = "reports", params(SummaryQuery), responses((status = 200, body = Summary), (status = 403)))]
#[get("/api/v1/reports/summary")]
pub async fn report_summary(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<SummaryQuery>,
) -> AppResult<web::Json<Summary>> {
    let q = q.into_inner();
    Ok(web::Json(
        st.db
            .read(move |c| summary::summary(c, &caller, &q))
            .await?,
    ))
}

/// One table behind the summary's charts (`table`), as CSV.
#[utoipa::path(tag = "reports", params(TableQuery), responses((status = 200, content_type = "text/csv"), (status = 403)))]
#[get("/api/v1/reports/summary.csv")]
pub async fn report_summary_csv(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<TableQuery>,
) -> AppResult<HttpResponse> {
    summary_table(st, caller, q.into_inner(), SheetFormat::Csv).await
}

/// The same as an Excel workbook.
#[utoipa::path(tag = "reports", params(TableQuery), responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (status = 403)))]
#[get("/api/v1/reports/summary.xlsx")]
pub async fn report_summary_xlsx(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<TableQuery>,
) -> AppResult<HttpResponse> {
    summary_table(st, caller, q.into_inner(), SheetFormat::Xlsx).await
}

pub async fn summary_table(
    st: web::Data<AppState>,
    caller: Caller,
    q: TableQuery,
    format: SheetFormat,
) -> AppResult<HttpResponse> {
    let table = q.table.unwrap_or_default();
    crate::http::sheet::answer(st.db.clone(), format, table.stem(), move |c, _| {
        Ok(summary::sheet(
            &summary::summary(c, &caller, &q.summary())?,
            table,
        ))
    })
    .await
}

/// The brief's format: a printable page, or a PDF drawn by the server.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BriefFormat {
    #[default]
    Html,
    Pdf,
}

#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BriefQuery {
    #[param(value_type = Option<String>)]
    pub from: Option<crate::clock::Bound>,
    #[param(value_type = Option<String>)]
    pub to: Option<crate::clock::Bound>,
    pub group_id: Option<String>,
    /// `html` (default) or `pdf` (406 when the server has no CJK font).
    #[param(value_type = Option<BriefFormat>)]
    pub format: Option<BriefFormat>,
}

/// The period brief as a printable page (A4 on paper, one column on a
/// phone), or with `format=pdf` as a PDF the server draws: the counts and
/// charts a liaison group's year-end report cites.
#[utoipa::path(tag = "reports", params(BriefQuery), responses((status = 200, content((String = "text/html"), (Vec<u8> = "application/pdf"))), (status = 403), (status = 406)))]
#[get("/api/v1/reports/brief")]
pub async fn report_brief(
    st: web::Data<AppState>,
    caller: Caller,
    q: web::Query<BriefQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let format = q.format.unwrap_or_default();
    let sq = SummaryQuery {
        from: q.from,
        to: q.to,
        group_id: q.group_id,
    };
    let (s, scope) = st
        .db
        .read(move |c| {
            let s = summary::summary(c, &caller, &sq)?;
            let scope = summary::scope_name(c, &caller, &s)?;
            Ok((s, scope))
        })
        .await?;
    let made = crate::clock::now_utc();
    match format {
        BriefFormat::Html => {
            let page = crate::webui::review::brief::document(&s, &scope, made);
            Ok(HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(page.into_string()))
        }
        BriefFormat::Pdf => {
            let font = st.config.pdf_font.clone();
            let s2 = s.clone();
            let bytes = web::block(move || {
                crate::webui::review::brief::pdf(&s2, &scope, made, font.as_deref())
            })
            .await??;
            Ok(crate::webui::review::brief::pdf_answer(bytes, &s))
        }
    }
}
