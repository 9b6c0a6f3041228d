//! What every handler shares.

use crate::auth::jwt::Keys;
use crate::auth::ratelimit::LoginLimiter;
use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::photos::jobs::Jobs;
use crate::photos::urls::Signer;
use std::sync::Arc;

pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub keys: Keys,
    pub login_limiter: LoginLimiter,
    pub metrics: Arc<Metrics>,
    pub signer: Signer,
    pub jobs: Arc<Jobs>,
    /// The live feed of this server.
    pub feed: Arc<crate::relay::feed::Feed>,
}
