//! The sync protocol: push (`push/`: wire, parse, apply, photos, replay),
//! pull (cursor and scope), devices.

pub mod devices;
pub mod pull;
pub mod push;
pub mod window;
