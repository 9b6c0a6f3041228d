//! Reference data that admins write and everybody reads within their
//! scope: groups, users, sites (and their sheets, `site_files/`), checklist
//! templates, inspection routes (`routes/`) and their schedules
//! (`schedules/`).
//! Each module holds its JSON shapes, its validation and its queries; the
//! HTTP layer only parses and calls.

pub mod departments;
pub mod groups;
pub mod routes;
pub mod schedules;
pub mod site_files;
pub mod sites;
pub mod templates;
pub mod users;
pub mod validate;

/// The console's overview counts: groups, active users, sites in use, and
/// routes still to come (planned or active, today or later).
pub fn totals(c: &mut crate::db::Conn) -> crate::error::AppResult<(i64, i64, i64, i64)> {
    use crate::db::schema::{groups, routes, sites, users};
    use crate::reference::routes::RouteStatus;
    use diesel::prelude::*;
    Ok((
        groups::table.count().get_result::<i64>(c)?,
        users::table
            .filter(users::active.eq(true))
            .count()
            .get_result::<i64>(c)?,
        sites::table
            .filter(sites::deleted.eq(false))
            .count()
            .get_result::<i64>(c)?,
        routes::table
            .filter(routes::deleted.eq(false))
            .filter(routes::scheduled_for.ge(crate::clock::today()))
            .filter(
                routes::status
                    .eq_any([RouteStatus::Planned.as_str(), RouteStatus::Active.as_str()]),
            )
            .count()
            .get_result::<i64>(c)?,
    ))
}
