//! The sync protocol: push (with the merge rule), pull, devices.

pub mod devices;
pub mod pull;
pub mod push;
