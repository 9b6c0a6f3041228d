//! Who is calling: passwords, access tokens, refresh tokens, login limits,
//! the one login check (`login.rs`), the pages' sessions as stored
//! (`web_session.rs`), and the `Caller` with its powers and scope (its
//! extractor from a request is `api/extract.rs`).

pub mod caller;
pub mod jwt;
pub mod login;
pub mod password;
pub mod ratelimit;
pub mod refresh;
pub mod web_session;

pub use caller::{Admin, Caller, Role, Scope};
