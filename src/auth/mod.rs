//! Who is calling: passwords, access tokens, refresh tokens, login limits,
//! and the `Caller` extractor that handlers take.

pub mod caller;
pub mod jwt;
pub mod login;
pub mod password;
pub mod ratelimit;
pub mod refresh;
pub mod web_session;

pub use caller::{Admin, Caller, Role, Scope};
