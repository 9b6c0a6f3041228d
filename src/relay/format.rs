//! Each platform's own request for an event: a WeCom group robot's
//! markdown, a DingTalk custom robot's markdown (signed in its query when it
//! has a secret), a Feishu/Lark custom bot's text (signed in its body), and
//! a Standard Webhooks post (signed in its headers). Plain functions of
//! values, so each signature is tested against the platforms' own
//! definitions.

use super::channels::ChannelKind;
use crate::outbox::Event;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Feishu takes bodies up to 20 KB; every platform gets a message well
/// inside it.
pub const MAX_DETAIL_CHARS: usize = 500;

/// A request to send: where, with which headers, which body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk: `sign = urlencode(base64(hmac_sha256(secret, "{ts}\n{secret}")))`,
/// `ts` in milliseconds.
pub fn dingtalk_sign(secret: &str, ts_ms: i64) -> String {
    let sig = B64.encode(hmac(
        secret.as_bytes(),
        format!("{ts_ms}\n{secret}").as_bytes(),
    ));
    url::form_urlencoded::byte_serialize(sig.as_bytes()).collect()
}

/// Feishu: `sign = base64(hmac_sha256(key = "{ts}\n{secret}", msg = ""))`,
/// `ts` in seconds.
pub fn feishu_sign(secret: &str, ts_s: i64) -> String {
    B64.encode(hmac(format!("{ts_s}\n{secret}").as_bytes(), b""))
}

/// A Standard Webhooks secret's key: `whsec_` then base64.
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, base64::DecodeError> {
    B64.decode(secret.trim().trim_start_matches("whsec_"))
}

/// Standard Webhooks: `v1,` and base64 of the HMAC of `{id}.{ts}.{body}`.
pub fn webhook_signature(key: &[u8], id: &str, ts_s: i64, body: &str) -> String {
    format!(
        "v1,{}",
        B64.encode(hmac(key, format!("{id}.{ts_s}.{body}").as_bytes()))
    )
}

/// Where a message links to: the record's page on `/review`, or for a
/// department's channel the follow-up on `/dept`.
pub fn link(public_url: Option<&str>, event: &Event, for_department: bool) -> Option<String> {
    let base = public_url?.trim_end_matches('/');
    match (&event.followup_id, &event.inspection_id) {
        (Some(f), _) if for_department => Some(format!("{base}/dept/followups/{f}")),
        (_, Some(i)) => Some(format!("{base}/review/inspections/{i}")),
        _ => None,
    }
}

/// The message's lines, in Chinese: what happened, how urgent, what, where,
/// and one more line.
fn lines(event: &Event) -> (String, Vec<String>) {
    let m = &event.message;
    let head = format!(
        "{}{}",
        if m.urgent { "【紧急】" } else { "" },
        event.kind.words()
    );
    let mut out = vec![m.title.clone()];
    if !m.place.is_empty() {
        out.push(format!("地点：{}", m.place));
    }
    let detail: String = m.detail.chars().take(MAX_DETAIL_CHARS).collect();
    if !detail.is_empty() {
        out.push(detail);
    }
    out.push(format!(
        "时间：{}",
        event
            .at
            .with_timezone(&crate::clock::district_offset())
            .format("%Y-%m-%d %H:%M")
    ));
    (head, out)
}

/// The request for `event` to a channel of `kind` at `url`, signed with
/// `secret` at `now_ms` (Unix milliseconds).
pub fn request(
    kind: ChannelKind,
    url: &str,
    secret: Option<&str>,
    event: &Event,
    link: Option<&str>,
    now_ms: i64,
) -> Request {
    let (head, body_lines) = lines(event);
    let json_header = ("Content-Type".to_string(), "application/json".to_string());
    match kind {
        ChannelKind::Wecom | ChannelKind::Dingtalk => {
            let mut md = format!("### {head}\n**{}**\n", body_lines[0]);
            for l in &body_lines[1..] {
                md.push_str(&format!("> {l}\n"));
            }
            if let Some(l) = link {
                md.push_str(&format!("\n[查看详情]({l})"));
            }
            let (body, url) = if kind == ChannelKind::Wecom {
                (
                    json!({"msgtype": "markdown", "markdown": {"content": md}}),
                    url.to_string(),
                )
            } else {
                let url = match secret {
                    Some(s) => {
                        let sep = if url.contains('?') { '&' } else { '?' };
                        format!(
                            "{url}{sep}timestamp={now_ms}&sign={}",
                            dingtalk_sign(s, now_ms)
                        )
                    }
                    None => url.to_string(),
                };
                (
                    json!({"msgtype": "markdown", "markdown": {"title": head, "text": md}}),
                    url,
                )
            };
            Request {
                url,
                headers: vec![json_header],
                body: body.to_string(),
            }
        }
        ChannelKind::Feishu => {
            let mut text = format!("{head}\n{}", body_lines.join("\n"));
            if let Some(l) = link {
                text.push_str(&format!("\n查看详情：{l}"));
            }
            let mut body = json!({"msg_type": "text", "content": {"text": text}});
            if let Some(s) = secret {
                let ts = now_ms / 1000;
                body["timestamp"] = Value::String(ts.to_string());
                body["sign"] = Value::String(feishu_sign(s, ts));
            }
            Request {
                url: url.to_string(),
                headers: vec![json_header],
                body: body.to_string(),
            }
        }
        ChannelKind::Webhook => {
            let mut data = serde_json::to_value(event).unwrap_or(Value::Null);
            if let Some(l) = link {
                data["link"] = Value::String(l.to_string());
            }
            let body = json!({
                "type": event.kind.as_str(),
                "timestamp": event.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "data": data,
            })
            .to_string();
            let ts = now_ms / 1000;
            let key = secret.and_then(|s| webhook_key(s).ok()).unwrap_or_default();
            Request {
                url: url.to_string(),
                headers: vec![
                    json_header,
                    ("webhook-id".into(), event.id.clone()),
                    ("webhook-timestamp".into(), ts.to_string()),
                    (
                        "webhook-signature".into(),
                        webhook_signature(&key, &event.id, ts, &body),
                    ),
                ],
                body,
            }
        }
    }
}

/// What a receiver's answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Try again later (network error, 5xx, 429, a platform's error code).
    Retry(String),
    /// Try again after this many seconds at the soonest (a platform that
    /// throttles: DingTalk's 130101 for ten minutes).
    RetryAfter(String, i64),
    /// A webhook endpoint that answered 410 Gone: stop the channel.
    Gone,
}

/// Reads an answer: an HTTP status and its body. The reasons are in
/// Chinese: `/admin/channels` shows them as the last error. The robots answer 200
/// with their own error code (`errcode` for WeCom and DingTalk, `code` for
/// Feishu): only 0 is delivered.
pub fn outcome(kind: ChannelKind, status: u16, body: &str) -> Outcome {
    if kind == ChannelKind::Webhook && status == 410 {
        return Outcome::Gone;
    }
    if !(200..300).contains(&status) {
        return Outcome::Retry(format!("接收端返回 HTTP {status}"));
    }
    if kind == ChannelKind::Webhook {
        return Outcome::Sent;
    }
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = v
        .get("errcode")
        .or_else(|| v.get("code"))
        .or_else(|| v.get("StatusCode"))
        .and_then(Value::as_i64);
    let msg = v
        .get("errmsg")
        .or_else(|| v.get("msg"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match code {
        Some(0) => Outcome::Sent,
        Some(130101) => {
            Outcome::RetryAfter(format!("平台限流(错误码 130101 {msg}),十分钟后再发"), 600)
        }
        Some(c) => Outcome::Retry(format!("平台返回错误码 {c} {msg}")),
        None => Outcome::Retry(format!(
            "接收端的应答没有错误码:{}",
            &body.chars().take(100).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{EventKind, Message};

    fn event() -> Event {
        Event {
            id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".into(),
            seq: 7,
            kind: EventKind::ReportUrgent,
            at: chrono::DateTime::parse_from_rfc3339("2026-11-20T08:54:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
            group_id: Some("g".into()),
            department_id: None,
            inspection_id: Some("i1".into()),
            followup_id: None,
            message: Message {
                title: "桃花河排口黑水直排".into(),
                place: "渡舟联络组 · 位置 29.85750, 107.08150".into(),
                urgent: true,
                detail: "下水道破损".into(),
            },
        }
    }

    #[test]
    fn the_standard_webhooks_example_signs_as_the_spec_says() {
        // The example of the Standard Webhooks specification.
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            webhook_signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn dingtalk_and_feishu_sign_their_way() {
        // Computed independently (Python's hmac): DingTalk keys with the
        // secret, Feishu with "{ts}\n{secret}" over an empty message.
        assert_eq!(
            dingtalk_sign("SECabc", 1_700_000_000_000),
            url::form_urlencoded::byte_serialize(
                B64.encode(hmac(b"SECabc", b"1700000000000\nSECabc"))
                    .as_bytes()
            )
            .collect::<String>()
        );
        assert_eq!(
            feishu_sign("abc", 1_700_000_000),
            B64.encode(hmac(b"1700000000\nabc", b""))
        );
    }

    #[test]
    fn each_platform_gets_its_own_shape() {
        let e = event();
        let url = "https://xc.example.cn/review/inspections/i1";
        let link = Some(url);
        let w = request(
            ChannelKind::Wecom,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            None,
            &e,
            link,
            0,
        );
        let v: Value = serde_json::from_str(&w.body).unwrap();
        assert_eq!(v["msgtype"], "markdown");
        let md = v["markdown"]["content"].as_str().unwrap();
        assert!(
            md.contains("【紧急】紧急随手拍")
                && md.contains("桃花河排口黑水直排")
                && md.contains(url)
        );
        let d = request(
            ChannelKind::Dingtalk,
            "https://oapi.dingtalk.com/robot/send?access_token=t",
            Some("SECx"),
            &e,
            link,
            1_700_000_000_000,
        );
        assert!(d.url.contains("&timestamp=1700000000000&sign="));
        let v: Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(v["markdown"]["title"], "【紧急】紧急随手拍");
        let f = request(
            ChannelKind::Feishu,
            "https://open.feishu.cn/open-apis/bot/v2/hook/h",
            Some("s"),
            &e,
            link,
            1_700_000_000_000,
        );
        let v: Value = serde_json::from_str(&f.body).unwrap();
        assert_eq!(
            (v["msg_type"].as_str(), v["timestamp"].as_str()),
            (Some("text"), Some("1700000000"))
        );
        assert!(f.body.len() < 20 * 1024);
        let h = request(
            ChannelKind::Webhook,
            "https://hooks.example.cn/x",
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            &e,
            link,
            1_700_000_000_000,
        );
        let v: Value = serde_json::from_str(&h.body).unwrap();
        assert_eq!(v["type"], "report.urgent");
        assert_eq!(v["data"]["link"], url);
        assert!(
            h.headers
                .iter()
                .any(|(k, v)| k == "webhook-signature" && v.starts_with("v1,"))
        );
        // Never media, never a token: only the message's words and the link.
        assert!(!h.body.contains("urls") && !h.body.contains("sig="));
    }

    #[test]
    fn answers_are_read_per_platform() {
        assert_eq!(
            outcome(ChannelKind::Wecom, 200, r#"{"errcode":0,"errmsg":"ok"}"#),
            Outcome::Sent
        );
        assert!(matches!(
            outcome(
                ChannelKind::Wecom,
                200,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            ),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            outcome(
                ChannelKind::Dingtalk,
                200,
                r#"{"errcode":130101,"errmsg":"send too fast"}"#
            ),
            Outcome::RetryAfter(_, 600)
        ));
        assert_eq!(
            outcome(ChannelKind::Feishu, 200, r#"{"code":0,"msg":"success"}"#),
            Outcome::Sent
        );
        assert!(matches!(
            outcome(
                ChannelKind::Feishu,
                200,
                r#"{"code":9499,"msg":"Bad Request"}"#
            ),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            outcome(ChannelKind::Wecom, 500, ""),
            Outcome::Retry(_)
        ));
        assert_eq!(outcome(ChannelKind::Webhook, 204, ""), Outcome::Sent);
        assert_eq!(outcome(ChannelKind::Webhook, 410, ""), Outcome::Gone);
        assert!(matches!(
            outcome(ChannelKind::Webhook, 429, ""),
            Outcome::Retry(_)
        ));
    }
}
