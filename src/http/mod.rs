//! HTTP plumbing both faces use (the JSON API in `api/`, the pages in
//! `webui/`): answers streamed page by page, tables as CSV or XLSX
//! (`sheet`), bodies read against a limit.
//! Below both, above the domain; it knows the database handle, not the
//! handlers' state.

pub mod body;
pub mod compress;
pub mod sheet;
pub mod streaming;
