//! Reference data that admins write and everybody reads within their
//! scope: groups, users, sites, checklist templates and inspection routes.
//! Each module holds its JSON shapes, its validation and its queries; the
//! HTTP layer only parses and calls.

pub mod groups;
pub mod routes;
pub mod schedules;
pub mod site_files;
pub mod sites;
pub mod templates;
pub mod users;
pub mod validate;
