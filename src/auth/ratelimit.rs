//! Login attempt limits per user name and per client address. Kept in
//! memory: a restart forgetting them costs nothing worth persisting.

use crate::error::{AppError, AppResult};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::time::Duration;

pub struct LoginLimiter {
    per_user: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn quota(burst: u32, refill_secs: u64) -> Quota {
    let period = Duration::from_secs(refill_secs.max(1));
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl LoginLimiter {
    pub fn new(burst_per_user: u32, burst_per_ip: u32, refill_secs: u64) -> Self {
        LoginLimiter {
            per_user: DefaultKeyedRateLimiter::keyed(quota(burst_per_user, refill_secs)),
            per_ip: DefaultKeyedRateLimiter::keyed(quota(burst_per_ip, refill_secs)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt for this user name and address, or says how long
    /// to wait.
    pub fn check(&self, username: &str, ip: &str) -> AppResult<()> {
        if self.per_user.len() > 100_000 {
            self.per_user.retain_recent();
        }
        if self.per_ip.len() > 100_000 {
            self.per_ip.retain_recent();
        }
        let now = self.clock.now();
        for (limiter, key) in [(&self.per_ip, ip), (&self.per_user, username)] {
            if let Err(not_until) = limiter.check_key(&key.to_lowercase()) {
                let wait = not_until.wait_time_from(now);
                return Err(AppError::rate_limited(wait.as_secs() + 1));
            }
        }
        Ok(())
    }
}
