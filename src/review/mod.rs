//! What coordinators do with what came in: the queue, reviews, conflict
//! overrides, follow-ups and their departments' responses (with `save_record`, the one write path of a
//! record, which settles a re-verification), reports, coverage, and the
//! audit log admins read.

pub mod actions;
pub mod audit;
pub mod coverage;
pub mod dept_report;
pub mod followups;
pub mod proposals;
pub mod queue;
pub mod reports;
pub mod responses;
pub mod site_file;
pub mod summary;
pub mod timeline;
