//! The sender: works through the outbox (`deliveries`), one server at a
//! time (a lease in `leases`), each channel in order (its oldest pending
//! delivery first; a later one waits for it), within each platform's rate
//! limit (a message over the limit waits, it is never dropped), retrying
//! with backoff and jitter for at least a day, and raising
//! `followup.overdue` once per follow-up. Runs on every server; only the
//! lease holder sends.

use super::channels::{self, ChannelKind};
use super::format::{self, Outcome};
use crate::clock;
use crate::db::schema::{deliveries, events, followups, leases};
use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::metrics::{DeliveryLabels, Metrics};
use crate::outbox;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

pub const LEASE: &str = "relay-sender";

/// The sender's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub public_url: Option<String>,
    pub timeout: std::time::Duration,
    /// The first retry's delay (the next ones double, with jitter).
    pub retry_base: Duration,
    pub lease: Duration,
    pub overdue_every: std::time::Duration,
    pub rules: channels::UrlRules,
}

impl Settings {
    pub fn of(config: &crate::config::Config) -> Settings {
        Settings {
            public_url: config.public_url.clone(),
            timeout: std::time::Duration::from_millis(config.channel_timeout_ms.max(1)),
            retry_base: Duration::milliseconds(config.channel_retry_base_ms.max(1) as i64),
            // Longer than a send may take: a holder is never cut off
            // mid-send.
            lease: Duration::milliseconds(config.channel_timeout_ms as i64 + 5_000),
            overdue_every: std::time::Duration::from_secs(config.overdue_interval_secs.max(1)),
            rules: channels::UrlRules {
                allow_http: config.channels_allow_http,
                allow_private: config.channels_allow_private,
            },
        }
    }
}

/// A platform's published limits: (messages, per window).
pub fn limits(kind: ChannelKind) -> &'static [(usize, std::time::Duration)] {
    use std::time::Duration as D;
    const ROBOT: [(usize, D); 1] = [(20, D::from_secs(60))];
    const FEISHU: [(usize, D); 2] = [(5, D::from_secs(1)), (100, D::from_secs(60))];
    const HOOK: [(usize, D); 1] = [(50, D::from_secs(1))];
    match kind {
        ChannelKind::Wecom | ChannelKind::Dingtalk => &ROBOT,
        ChannelKind::Feishu => &FEISHU,
        ChannelKind::Webhook => &HOOK,
    }
}

/// A channel's recent sends, for its rate limit.
#[derive(Debug, Default)]
pub struct Window(VecDeque<Instant>);

impl Window {
    /// Whether one more may go now under `limits`.
    pub fn allows(&mut self, limits: &[(usize, std::time::Duration)], now: Instant) -> bool {
        let longest = limits.iter().map(|l| l.1).max().unwrap_or_default();
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            self.0.pop_front();
        }
        limits.iter().all(|(n, per)| {
            self.0
                .iter()
                .filter(|t| now.duration_since(**t) < *per)
                .count()
                < *n
        })
    }

    pub fn record(&mut self, now: Instant) {
        self.0.push_back(now);
    }
}

/// The Standard Webhooks schedule after each failed attempt: 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h, then given up (about 27 hours).
const WEBHOOK_SCHEDULE_S: [i64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

/// When to try again after `attempts` failures, or None to give up.
/// Robots: the base doubling up to an hour, with ±20% jitter, for 24 hours
/// from the first try. Webhooks: the spec's schedule (scaled by the base
/// over its 5 s, so tests can run it fast).
pub fn next_try(
    kind: ChannelKind,
    attempts: i32,
    first: NaiveDateTime,
    now: NaiveDateTime,
    base: Duration,
    jitter: f64,
) -> Option<NaiveDateTime> {
    let scale = |d: Duration| {
        let ms = d.num_milliseconds() as f64 * (1.0 + 0.2 * (2.0 * jitter - 1.0));
        Duration::milliseconds(ms.max(0.0) as i64)
    };
    match kind {
        ChannelKind::Webhook => {
            let s = *WEBHOOK_SCHEDULE_S.get(usize::try_from(attempts - 1).ok()?)?;
            let d = base * ((s / 5).max(1) as i32);
            Some(now + scale(d))
        }
        _ => {
            let day = Duration::hours(24) * (base.num_milliseconds().max(1) as i32) / (5_000_i32);
            if now - first > day.max(Duration::seconds(1)) {
                return None;
            }
            let exp = attempts.clamp(1, 20) - 1;
            let d = (base * 2_i32.pow(exp.min(12) as u32)).min(Duration::hours(1));
            Some(now + scale(d))
        }
    }
}

/// Whether `holder` may take the lease now: nobody holds it, it ran out,
/// or it is `holder`'s own.
fn lease_open_to(c: &mut Conn, holder: &str) -> AppResult<bool> {
    let held: Option<(String, NaiveDateTime)> = leases::table
        .find(LEASE)
        .select((leases::holder, leases::until))
        .first(c)
        .optional()?;
    Ok(held.is_none_or(|(h, until)| h == holder || until <= clock::now()))
}

/// Takes or keeps the lease for `holder`; false while another holds it.
pub fn take_lease(c: &mut Conn, holder: &str, lease: Duration) -> AppResult<bool> {
    let now = clock::now();
    let held: Option<(String, NaiveDateTime)> = leases::table
        .find(LEASE)
        .select((leases::holder, leases::until))
        .first(c)
        .optional()?;
    match held {
        Some((h, until)) if h != holder && until > now => Ok(false),
        Some(_) => {
            diesel::update(leases::table.find(LEASE))
                .set((leases::holder.eq(holder), leases::until.eq(now + lease)))
                .execute(c)?;
            Ok(true)
        }
        None => {
            diesel::insert_into(leases::table)
                .values((
                    leases::name.eq(LEASE),
                    leases::holder.eq(holder),
                    leases::until.eq(now + lease),
                ))
                .execute(c)?;
            Ok(true)
        }
    }
}

/// What is due: for each active channel its oldest pending delivery, if
/// its time has come.
struct Due {
    delivery: String,
    attempts: i32,
    first: NaiveDateTime,
    channel: channels::Row,
    event: outbox::Stored,
}

fn due(c: &mut Conn) -> AppResult<Vec<Due>> {
    use crate::db::schema::channels as ch;
    let now = clock::now();
    let active: Vec<channels::Row> = ch::table
        .filter(ch::active.eq(true))
        .select(channels::Row::as_select())
        .load(c)?;
    let mut out = Vec::new();
    for channel in active {
        let head: Option<(String, i32, NaiveDateTime, NaiveDateTime, i64)> = deliveries::table
            .filter(deliveries::channel_id.eq(&channel.id))
            .filter(deliveries::status.eq("pending"))
            .order(deliveries::event_seq)
            .select((
                deliveries::id,
                deliveries::attempts,
                deliveries::next_at,
                deliveries::created_at,
                deliveries::event_seq,
            ))
            .first(c)
            .optional()?;
        // In order: a later delivery waits for the head, due or not.
        let Some((id, attempts, next_at, first, seq)) = head else {
            continue;
        };
        if next_at > now {
            continue;
        }
        let event: outbox::Stored = events::table
            .find(seq)
            .select(outbox::Stored::as_select())
            .first(c)?;
        out.push(Due {
            delivery: id,
            attempts,
            first,
            channel,
            event,
        });
    }
    Ok(out)
}

/// The age of the oldest pending delivery, in seconds.
fn outbox_age(c: &mut Conn) -> AppResult<i64> {
    let oldest: Option<NaiveDateTime> = deliveries::table
        .filter(deliveries::status.eq("pending"))
        .select(diesel::dsl::min(deliveries::created_at))
        .first(c)?;
    Ok(oldest.map_or(0, |t| (clock::now() - t).num_seconds().max(0)))
}

/// Records what an attempt came to.
fn settle(c: &mut Conn, d: &Due, outcome: &Outcome, s: &Settings) -> AppResult<&'static str> {
    let now = clock::now();
    let attempts = d.attempts + 1;
    let kind = channels::ChannelKind::parse(&d.channel.kind)?;
    let (status, label, error, next) = match outcome {
        Outcome::Sent => ("sent", "sent", None, now),
        Outcome::Gone => (
            "given_up",
            "gone",
            Some("410 Gone: the endpoint is stopped".to_string()),
            now,
        ),
        Outcome::Retry(e) | Outcome::RetryAfter(e, _) => {
            let at_least = match outcome {
                Outcome::RetryAfter(_, secs) => now + Duration::seconds(*secs),
                _ => now,
            };
            match next_try(
                kind,
                attempts,
                d.first,
                now,
                s.retry_base,
                rand::random::<f64>(),
            ) {
                Some(t) => ("pending", "retry", Some(e.clone()), t.max(at_least)),
                None => ("given_up", "given_up", Some(e.clone()), now),
            }
        }
    };
    diesel::update(deliveries::table.find(&d.delivery))
        .set((
            deliveries::status.eq(status),
            deliveries::attempts.eq(attempts),
            deliveries::next_at.eq(next),
            deliveries::last_error.eq(&error),
            (status == "sent").then(|| deliveries::sent_at.eq(now)),
        ))
        .execute(c)?;
    if *outcome == Outcome::Gone {
        use crate::db::schema::channels as ch;
        diesel::update(ch::table.find(&d.channel.id))
            .set((
                ch::active.eq(false),
                ch::disabled_reason.eq("接收端返回 410 Gone，已停用"),
                ch::updated_at.eq(now),
            ))
            .execute(c)?;
    }
    Ok(label)
}

/// Sends one delivery; the error text never carries the URL (a robot's
/// key is in it).
async fn send(http: &reqwest::Client, d: &Due, s: &Settings) -> Outcome {
    let Ok(kind) = ChannelKind::parse(&d.channel.kind) else {
        return Outcome::Retry("未知的通道类型".into());
    };
    let event = match d.event.view() {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "an event cannot be read for its message");
            return Outcome::Retry("事件数据无法读取".into());
        }
    };
    // The address is checked again at each send: a name may resolve
    // elsewhere than when the channel was saved.
    let url = d.channel.url.clone();
    let rules = s.rules;
    let checked = tokio::task::spawn_blocking(move || channels::check_url(&url, rules)).await;
    if !matches!(checked, Ok(Ok(_))) {
        return Outcome::Retry("通道地址现在不被允许(可能已解析到内网地址)".into());
    }
    let link = format::link(
        s.public_url.as_deref(),
        &event,
        d.channel.department_id.is_some(),
    );
    let req = format::request(
        kind,
        &d.channel.url,
        d.channel.secret.as_deref(),
        &event,
        link.as_deref(),
        chrono::Utc::now().timestamp_millis(),
    );
    let mut r = http.post(&req.url).body(req.body);
    for (k, v) in &req.headers {
        r = r.header(k, v);
    }
    match r.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            format::outcome(kind, status, &body)
        }
        Err(e) if e.is_timeout() => Outcome::Retry("接收端超时未应答".into()),
        Err(e) if e.is_connect() => Outcome::Retry("无法连接接收端".into()),
        Err(_) => Outcome::Retry("网络错误".into()),
    }
}

/// Raises `followup.overdue` for follow-ups past due and not yet told, once
/// each: the row is marked in the same transaction, and only the first of
/// two servers to mark it raises the event.
pub fn raise_overdue(c: &mut Conn) -> AppResult<usize> {
    let now = clock::now();
    let ids: Vec<String> = followups::table
        .filter(followups::due_at.lt(now))
        .filter(followups::status.eq_any(["open", "in_progress"]))
        .filter(followups::overdue_notified_at.is_null())
        .select(followups::id)
        .limit(500)
        .load(c)?;
    let mut n = 0;
    for id in ids {
        let marked = diesel::update(
            followups::table
                .find(&id)
                .filter(followups::overdue_notified_at.is_null()),
        )
        .set(followups::overdue_notified_at.eq(now))
        .execute(c)?;
        if marked == 1 {
            crate::review::followups::overdue(c, &id)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Runs the sender until the process ends.
pub async fn run(db: Db, metrics: Arc<Metrics>, s: Settings) {
    let holder = clock::new_id();
    let http = match reqwest::Client::builder()
        .timeout(s.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the relay's HTTP client; no channel will be sent to");
            return;
        }
    };
    let mut windows: HashMap<String, Window> = HashMap::new();
    let mut last_overdue = Instant::now() - s.overdue_every;
    let lease_std = s
        .lease
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(15));
    // Until when this server holds the lease, as far as it knows.
    let mut held_until: Option<Instant> = None;
    loop {
        // The lease costs a write only when it is renewed (in the second
        // half of its time) or taken (once a read finds it free): an idle
        // server does not write every round.
        let now = Instant::now();
        let mine = match held_until {
            Some(u) if now + lease_std / 2 < u => true,
            _ => {
                let h = holder.clone();
                let free = db
                    .read(move |c| lease_open_to(c, &h))
                    .await
                    .unwrap_or(false);
                let (h, lease) = (holder.clone(), s.lease);
                let took = free
                    && db
                        .write(move |c| take_lease(c, &h, lease))
                        .await
                        .unwrap_or(false);
                held_until = took.then(|| now + lease_std);
                took
            }
        };
        let mut busy = false;
        if mine {
            if last_overdue.elapsed() >= s.overdue_every {
                last_overdue = Instant::now();
                if let Err(e) = db.write(raise_overdue).await {
                    tracing::warn!(error = %e, "cannot raise overdue follow-ups");
                }
            }
            if let Ok(age) = db.read(outbox_age).await {
                metrics.outbox_age.set(age);
            }
            match db.read(due).await {
                Ok(list) => {
                    for d in list {
                        let Ok(kind) = ChannelKind::parse(&d.channel.kind) else {
                            continue;
                        };
                        let w = windows.entry(d.channel.id.clone()).or_default();
                        if !w.allows(limits(kind), Instant::now()) {
                            // Over the platform's limit: it waits its turn.
                            continue;
                        }
                        w.record(Instant::now());
                        let outcome = send(&http, &d, &s).await;
                        let s2 = s.clone();
                        match db.write(move |c| settle(c, &d, &outcome, &s2)).await {
                            Ok(label) => {
                                metrics
                                    .deliveries
                                    .get_or_create(&DeliveryLabels {
                                        kind: kind.as_str().into(),
                                        outcome: label.into(),
                                    })
                                    .inc();
                                busy = true;
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot record a delivery"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the outbox"),
            }
        }
        if !busy {
            let pause = if mine {
                std::time::Duration::from_millis(200)
            } else {
                (lease_std / 4).min(std::time::Duration::from_secs(2))
            };
            actix_web::rt::time::sleep(pause).await;
        }
    }
}

/// Sends a test message to a channel now and says what came of it (the
/// admin's "send a test message"); nothing is queued.
pub async fn test_message(row: &channels::Row, s: &Settings) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(s.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| "无法启动发送程序".to_string())?;
    let event = outbox::Stored {
        seq: 0,
        id: clock::new_id(),
        kind: outbox::EventKind::ReportCreated.as_str().into(),
        group_id: row.group_id.clone(),
        owner_id: None,
        department_id: row.department_id.clone(),
        inspection_id: None,
        followup_id: None,
        payload: serde_json::json!({"title": "fieldsync 测试消息", "place": "", "urgent": false,
            "detail": format!("通道「{}」已连通。", row.name)})
        .to_string(),
        created_at: clock::now(),
    };
    let d = Due {
        delivery: String::new(),
        attempts: 0,
        first: clock::now(),
        channel: row.clone(),
        event,
    };
    match send(&http, &d, s).await {
        Outcome::Sent => Ok(()),
        Outcome::Retry(e) | Outcome::RetryAfter(e, _) => Err(e),
        Outcome::Gone => Err("接收端返回 410 Gone".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_the_platforms_limits() {
        let mut w = Window::default();
        let t0 = Instant::now();
        let robot = limits(ChannelKind::Wecom);
        for i in 0..20 {
            assert!(w.allows(robot, t0), "message {i}");
            w.record(t0);
        }
        assert!(!w.allows(robot, t0), "the 21st waits");
        assert!(w.allows(robot, t0 + std::time::Duration::from_secs(60)));
        let mut f = Window::default();
        let feishu = limits(ChannelKind::Feishu);
        for _ in 0..5 {
            assert!(f.allows(feishu, t0));
            f.record(t0);
        }
        assert!(!f.allows(feishu, t0), "5 a second");
        assert!(f.allows(feishu, t0 + std::time::Duration::from_secs(1)));
    }

    #[test]
    fn retries_back_off_and_end() {
        let t = |s: i64| {
            chrono::DateTime::from_timestamp(1_700_000_000 + s, 0)
                .unwrap()
                .naive_utc()
        };
        let base = Duration::seconds(5);
        // Robots: 5 s, 10 s, 20 s ... up to an hour, for a day.
        let a = next_try(ChannelKind::Wecom, 1, t(0), t(0), base, 0.5).unwrap();
        assert_eq!((a - t(0)).num_seconds(), 5);
        let b = next_try(ChannelKind::Wecom, 3, t(0), t(0), base, 0.5).unwrap();
        assert_eq!((b - t(0)).num_seconds(), 20);
        let c = next_try(ChannelKind::Wecom, 15, t(0), t(0), base, 0.5).unwrap();
        assert_eq!((c - t(0)).num_seconds(), 3600);
        let j = next_try(ChannelKind::Wecom, 1, t(0), t(0), base, 1.0).unwrap();
        assert_eq!((j - t(0)).num_seconds(), 6, "+20% jitter");
        assert!(next_try(ChannelKind::Wecom, 40, t(0), t(24 * 3600 + 1), base, 0.5).is_none());
        // Webhooks: the spec's schedule, then given up.
        let w = next_try(ChannelKind::Webhook, 2, t(0), t(0), base, 0.5).unwrap();
        assert_eq!((w - t(0)).num_seconds(), 300);
        assert!(next_try(ChannelKind::Webhook, 8, t(0), t(0), base, 0.5).is_none());
    }
}
