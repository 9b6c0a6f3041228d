//! The sync protocol: push (with the merge rule), pull, devices.

pub mod merge;
