//! Signed, expiring photo URLs: an `<img>` tag or a phone's image loader
//! fetches a variant with no Authorization header.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const VARIANTS: [&str; 4] = ["thumb", "display", "original", "poster"];

#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    ttl_secs: i64,
}

impl Signer {
    /// A key of its own, derived from the server secret, so a URL
    /// signature can never be mistaken for anything else signed.
    pub fn new(secret: &[u8], ttl_secs: i64) -> Signer {
        let mut h = Sha256::new();
        h.update(b"fieldsync photo urls\0");
        h.update(secret);
        Signer {
            key: h.finalize().to_vec(),
            ttl_secs: ttl_secs.max(60),
        }
    }

    fn sign(&self, photo_id: &str, variant: &str, exp: i64) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.key).ok()?;
        mac.update(format!("{photo_id}\n{variant}\n{exp}").as_bytes());
        Some(mac)
    }

    /// The URL of a variant, valid until at least `now + ttl` (rounded up
    /// to the hour, so a page's URLs stay the same for an hour and caches
    /// keep working).
    pub fn url(&self, photo_id: &str, variant: &str, now: i64) -> String {
        let exp = (now + self.ttl_secs).div_euclid(3600) * 3600 + 3600;
        let sig = self
            .sign(photo_id, variant, exp)
            .map(|m| hex::encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("/api/v1/photos/{photo_id}/{variant}?exp={exp}&sig={sig}")
    }

    pub fn verify(&self, photo_id: &str, variant: &str, exp: i64, sig: &str, now: i64) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        exp >= now
            && self
                .sign(photo_id, variant, exp)
                .is_some_and(|m| m.verify_slice(&sig).is_ok())
    }

    /// The URLs of an item's variants: a video's add its `poster`.
    pub fn urls(&self, photo_id: &str, video: bool, now: i64) -> serde_json::Value {
        serde_json::Value::Object(
            VARIANTS
                .iter()
                .filter(|v| video || **v != "poster")
                .map(|v| {
                    (
                        (*v).to_string(),
                        serde_json::Value::String(self.url(photo_id, v, now)),
                    )
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_verify_until_they_expire_and_not_when_changed() {
        let s = Signer::new(b"secret-secret-secret-secret-secret", 3600);
        let url = s.url("p1", "thumb", 1_000_000);
        let q: std::collections::HashMap<&str, &str> = url
            .split_once('?')
            .unwrap()
            .1
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let exp: i64 = q["exp"].parse().unwrap();
        assert!(exp >= 1_000_000 + 3600);
        assert!(s.verify("p1", "thumb", exp, q["sig"], 1_000_000));
        assert!(!s.verify("p1", "thumb", exp, q["sig"], exp + 1), "expired");
        assert!(
            !s.verify("p1", "display", exp, q["sig"], 1_000_000),
            "another variant"
        );
        assert!(
            !s.verify("p2", "thumb", exp, q["sig"], 1_000_000),
            "another photo"
        );
        assert!(
            !s.verify("p1", "thumb", exp + 3600, q["sig"], 1_000_000),
            "a longer life"
        );
        let other = Signer::new(b"another-secret-another-secret-xx", 3600);
        assert!(!other.verify("p1", "thumb", exp, q["sig"], 1_000_000));
    }
}
