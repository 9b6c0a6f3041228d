//! Channels: where the relay's messages go (a WeCom, DingTalk or Feishu
//! group robot, or a Standard Webhooks endpoint), which events, for which
//! group or department. Admins write them; the secret (and a WeCom URL,
//! whose key is its secret) is never shown back.

use crate::auth::Caller;
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{channels, deliveries};
use crate::error::{AppError, AppResult};
use crate::journal::{self, Audit};
use crate::outbox::EventKind;
use crate::reference::validate;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::IpAddr;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Wecom,
    Dingtalk,
    Feishu,
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Wecom => "wecom",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> AppResult<ChannelKind> {
        match s {
            "wecom" => Ok(ChannelKind::Wecom),
            "dingtalk" => Ok(ChannelKind::Dingtalk),
            "feishu" => Ok(ChannelKind::Feishu),
            "webhook" => Ok(ChannelKind::Webhook),
            other => Err(AppError::internal(format!(
                "unknown stored channel kind {other:?}"
            ))),
        }
    }

    /// A WeCom robot's key is in its URL (and a DingTalk or Feishu
    /// robot's token): the URL is a secret too, never shown or logged.
    pub fn url_is_secret(self) -> bool {
        self != ChannelKind::Webhook
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
    /// The receiver's URL; a robot's (whose key or token is in it) shown
    /// only as its host.
    pub url: String,
    /// Whether a secret is set (the secret itself is never shown).
    pub has_secret: bool,
    pub group_id: Option<String>,
    pub department_id: Option<String>,
    pub events: Vec<EventKind>,
    pub active: bool,
    /// Why the server stopped it (a webhook that answered 410).
    pub disabled_reason: Option<String>,
    /// Deliveries by state: pending (waiting or failing), sent, given up.
    pub pending: i64,
    pub sent: i64,
    pub given_up: i64,
    /// The last error of a delivery still pending, if any.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    /// DingTalk's and Feishu's signing secret (`SEC...`), a webhook's
    /// `whsec_...`; write-only.
    pub secret: Option<String>,
    pub group_id: Option<String>,
    pub department_id: Option<String>,
    pub events: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    /// A new secret; `null` removes it.
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub group_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "validate::double_option")]
    #[schema(value_type = Option<String>)]
    pub department_id: Option<Option<String>>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// The URL rules: `https` (or `http` when allowed), a host, and no
/// address on loopback, private, link-local, shared or metadata ranges
/// (unless allowed) for any address the name resolves to.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlRules {
    pub allow_http: bool,
    pub allow_private: bool,
}

/// Whether an address is one a channel must not reach: loopback,
/// private, link-local (cloud metadata lives there), shared, unspecified,
/// multicast, documentation, and their IPv6 counterparts.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0064 && s[1] == 0xff9b)
        }
    }
}

/// Checks a channel URL against the rules, resolving its host (blocking:
/// run off the executor). The error names the field.
pub fn check_url(url: &str, rules: UrlRules) -> AppResult<url::Url> {
    let bad = |why: &str| AppError::invalid("url", why);
    let parsed = url::Url::parse(url.trim()).map_err(|_| bad("must be a URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if rules.allow_http => {}
        "http" => {
            return Err(bad(
                "must be https (http is allowed only with FIELDSYNC_CHANNELS_ALLOW_HTTP)",
            ));
        }
        _ => return Err(bad("must be an https URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry a user name or password"));
    }
    let host = parsed.host_str().ok_or_else(|| bad("must name a host"))?;
    if rules.allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .map_err(|_| bad("its host does not resolve"))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err(bad("its host does not resolve"));
    }
    if addrs.into_iter().any(is_internal) {
        return Err(bad(
            "points at a loopback, private, link-local or metadata address; \
             set FIELDSYNC_CHANNELS_ALLOW_PRIVATE to allow it",
        ));
    }
    Ok(parsed)
}

/// [`check_url`] with its name lookup off the async executor.
pub async fn checked(url: String, rules: UrlRules) -> AppResult<()> {
    actix_web::web::block(move || check_url(&url, rules).map(drop)).await?
}

fn check_events(kinds: &[String]) -> AppResult<Vec<EventKind>> {
    if kinds.is_empty() {
        return Err(AppError::invalid("events", "name at least one event"));
    }
    kinds
        .iter()
        .map(|k| {
            EventKind::parse(k).ok_or_else(|| {
                AppError::invalid(
                    "events",
                    format!(
                        "unknown event {k:?}; one of {}",
                        EventKind::ALL.map(EventKind::as_str).join(", ")
                    ),
                )
            })
        })
        .collect()
}

fn check_secret(kind: ChannelKind, secret: Option<&str>) -> AppResult<()> {
    match (kind, secret) {
        (ChannelKind::Webhook, None) => Err(AppError::invalid(
            "secret",
            "a webhook is signed: give its whsec_... secret",
        )),
        (ChannelKind::Webhook, Some(s)) => super::format::webhook_key(s)
            .map(drop)
            .map_err(|_| AppError::invalid("secret", "must be whsec_ and base64")),
        (ChannelKind::Wecom, Some(_)) => Err(AppError::invalid(
            "secret",
            "a WeCom robot has no signing secret: its key is in its URL",
        )),
        (_, Some(s)) if s.trim().is_empty() || s.len() > 256 => {
            Err(AppError::invalid("secret", "must be 1 to 256 characters"))
        }
        _ => Ok(()),
    }
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = channels)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub secret: Option<String>,
    pub group_id: Option<String>,
    pub department_id: Option<String>,
    pub events: String,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

/// A URL as it may be shown: a robot's only as its host.
pub fn shown_url(kind: ChannelKind, url: &str) -> String {
    if kind.url_is_secret() {
        match url::Url::parse(url) {
            Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
            Err(_) => "…".into(),
        }
    } else {
        url.to_string()
    }
}

fn view(c: &mut Conn, r: Row) -> AppResult<Channel> {
    let kind = ChannelKind::parse(&r.kind)?;
    let counts: Vec<(String, i64)> = deliveries::table
        .filter(deliveries::channel_id.eq(&r.id))
        .group_by(deliveries::status)
        .select((deliveries::status, diesel::dsl::count_star()))
        .load(c)?;
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let last_error: Option<Option<String>> = deliveries::table
        .filter(deliveries::channel_id.eq(&r.id))
        .filter(deliveries::status.eq("pending"))
        .filter(deliveries::last_error.is_not_null())
        .order(deliveries::event_seq)
        .select(deliveries::last_error)
        .first(c)
        .optional()?;
    let events: Vec<String> = serde_json::from_str(&r.events)?;
    Ok(Channel {
        url: shown_url(kind, &r.url),
        has_secret: r.secret.is_some(),
        events: events.iter().filter_map(|e| EventKind::parse(e)).collect(),
        pending: count("pending"),
        sent: count("sent"),
        given_up: count("given_up"),
        last_error: last_error.flatten(),
        id: r.id,
        name: r.name,
        kind,
        group_id: r.group_id,
        department_id: r.department_id,
        active: r.active,
        disabled_reason: r.disabled_reason,
        created_at: clock::utc(r.created_at),
        updated_at: clock::utc(r.updated_at),
    })
}

pub fn find(c: &mut Conn, id: &str) -> AppResult<Row> {
    channels::table
        .find(id)
        .select(Row::as_select())
        .first(c)
        .optional()?
        .ok_or_else(|| AppError::not_found("channel"))
}

pub fn list(c: &mut Conn, caller: &Caller) -> AppResult<Vec<Channel>> {
    caller.require_admin()?;
    let rows: Vec<Row> = channels::table
        .order((channels::name, channels::id))
        .select(Row::as_select())
        .load(c)?;
    rows.into_iter().map(|r| view(c, r)).collect()
}

pub fn get(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Channel> {
    caller.require_admin()?;
    let r = find(c, id)?;
    view(c, r)
}

fn check_scope(c: &mut Conn, group: Option<&str>, department: Option<&str>) -> AppResult<()> {
    use crate::db::schema::{departments, groups};
    if let Some(g) = group {
        let n: i64 = groups::table
            .filter(groups::id.eq(g))
            .count()
            .get_result(c)?;
        if n == 0 {
            return Err(AppError::invalid("group_id", "no such group"));
        }
    }
    if let Some(d) = department {
        let n: i64 = departments::table
            .filter(departments::id.eq(d))
            .count()
            .get_result(c)?;
        if n == 0 {
            return Err(AppError::invalid("department_id", "no such department"));
        }
    }
    Ok(())
}

/// Makes a channel. `url` was checked against the rules already (it
/// needs a name lookup, which is not done inside the transaction).
pub fn create(c: &mut Conn, caller: &Caller, input: NewChannel) -> AppResult<Channel> {
    caller.require_admin()?;
    let name = validate::text("name", &input.name, 100)?;
    let events = check_events(&input.events)?;
    check_secret(input.kind, input.secret.as_deref())?;
    check_scope(c, input.group_id.as_deref(), input.department_id.as_deref())?;
    let id = clock::new_id();
    let now = clock::now();
    let kinds: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    diesel::insert_into(channels::table)
        .values((
            channels::id.eq(&id),
            channels::name.eq(&name),
            channels::kind.eq(input.kind.as_str()),
            channels::url.eq(input.url.trim()),
            channels::secret.eq(&input.secret),
            channels::group_id.eq(&input.group_id),
            channels::department_id.eq(&input.department_id),
            channels::events.eq(serde_json::to_string(&kinds)?),
            channels::active.eq(input.active),
            channels::created_at.eq(now),
            channels::updated_at.eq(now),
        ))
        .execute(c)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "channel.create",
            object_type: "channel",
            object_id: Some(&id),
            // Never the URL of a WeCom robot, never a secret.
            details: json!({ "name": name, "kind": input.kind, "events": kinds, "group_id": input.group_id, "department_id": input.department_id }),
        },
    )?;
    get(c, caller, &id)
}

pub fn update(c: &mut Conn, caller: &Caller, id: &str, p: ChannelPatch) -> AppResult<Channel> {
    caller.require_admin()?;
    let row = find(c, id)?;
    let kind = ChannelKind::parse(&row.kind)?;
    let name = p
        .name
        .as_deref()
        .map(|n| validate::text("name", n, 100))
        .transpose()?;
    let events = p.events.as_deref().map(check_events).transpose()?;
    if let Some(s) = &p.secret {
        check_secret(kind, s.as_deref())?;
    }
    let group = p.group_id.clone().unwrap_or(row.group_id.clone());
    let department = p.department_id.clone().unwrap_or(row.department_id.clone());
    check_scope(c, group.as_deref(), department.as_deref())?;
    let kinds: Option<Vec<&str>> = events
        .as_ref()
        .map(|e| e.iter().map(|k| k.as_str()).collect());
    let reactivated = p.active == Some(true) && !row.active;
    diesel::update(channels::table.find(id))
        .set((
            name.as_ref().map(|n| channels::name.eq(n)),
            p.url.as_ref().map(|u| channels::url.eq(u.trim())),
            p.secret.clone().map(|s| channels::secret.eq(s)),
            channels::group_id.eq(&group),
            channels::department_id.eq(&department),
            kinds
                .as_ref()
                .map(|k| serde_json::to_string(k).map(|s| channels::events.eq(s)))
                .transpose()?,
            p.active.map(|a| channels::active.eq(a)),
            // Turned on again by an admin: the server's reason no longer holds.
            reactivated.then(|| channels::disabled_reason.eq(None::<String>)),
            channels::updated_at.eq(clock::now()),
        ))
        .execute(c)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "channel.update",
            object_type: "channel",
            object_id: Some(id),
            details: json!({ "name": name, "events": kinds, "active": p.active, "url_changed": p.url.is_some(), "secret_changed": p.secret.is_some() }),
        },
    )?;
    get(c, caller, id)
}

/// Sends a channel's deliveries that were given up again, from now.
pub fn resend(c: &mut Conn, caller: &Caller, id: &str) -> AppResult<Channel> {
    caller.require_admin()?;
    find(c, id)?;
    let now = clock::now();
    let n = diesel::update(
        deliveries::table
            .filter(deliveries::channel_id.eq(id))
            .filter(deliveries::status.eq("given_up")),
    )
    .set((
        deliveries::status.eq("pending"),
        deliveries::attempts.eq(0),
        deliveries::next_at.eq(now),
        deliveries::created_at.eq(now),
    ))
    .execute(c)?;
    journal::audit(
        c,
        Audit {
            actor_id: Some(&caller.id),
            action: "channel.resend",
            object_type: "channel",
            object_id: Some(id),
            details: json!({ "deliveries": n }),
        },
    )?;
    get(c, caller, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_known() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "110.242.68.66", "2400:3200::1"] {
            assert!(!is_internal(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn urls_follow_the_rules() {
        let strict = UrlRules::default();
        assert!(check_url("ftp://example.com/x", strict).is_err());
        assert!(check_url("http://93.184.216.34/x", strict).is_err(), "http");
        assert!(check_url("https://127.0.0.1/x", strict).is_err());
        assert!(check_url("https://10.0.0.8/x", strict).is_err());
        assert!(check_url("https://169.254.169.254/latest", strict).is_err());
        assert!(check_url("https://[::1]/x", strict).is_err());
        assert!(
            check_url("https://localhost/x", strict).is_err(),
            "resolves to loopback"
        );
        assert!(check_url("https://u:p@93.184.216.34/x", strict).is_err());
        assert!(check_url("https://93.184.216.34/x", strict).is_ok());
        let open = UrlRules {
            allow_http: true,
            allow_private: true,
        };
        assert!(check_url("http://127.0.0.1:9/x", open).is_ok());
    }

    #[test]
    fn a_wecom_url_is_shown_as_its_host() {
        assert_eq!(
            shown_url(
                ChannelKind::Wecom,
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET"
            ),
            "https://qyapi.weixin.qq.com/…"
        );
        assert_eq!(
            shown_url(ChannelKind::Webhook, "https://hooks.example.cn/fieldsync"),
            "https://hooks.example.cn/fieldsync"
        );
    }
}
