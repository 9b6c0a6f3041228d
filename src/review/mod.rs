//! What coordinators do with what came in: the queue, reviews, conflict
//! overrides, and the audit log admins read.

pub mod actions;
pub mod audit;
pub mod coverage;
pub mod followups;
pub mod queue;
pub mod reports;
