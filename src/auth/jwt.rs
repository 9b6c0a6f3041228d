//! Access tokens: HS256 JWTs that carry the user's token stamp.

use crate::error::{AppError, AppResult, ErrorCode};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub group_id: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The user's `token_stamp` when the token was made; a token whose
    /// stamp is behind the user's is dead.
    pub stamp: i64,
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_secs: i64,
}

impl Keys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> Keys {
        // Only the configured algorithm: a token naming another one (or
        // `none`) is refused before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        validation.leeway = 30;
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    pub fn issue(
        &self,
        sub: &str,
        role: &str,
        group_id: Option<&str>,
        stamp: i64,
    ) -> AppResult<String> {
        let iat = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_string(),
            role: role.to_string(),
            group_id: group_id.map(str::to_string),
            exp: iat + self.ttl_secs,
            iat,
            jti: uuid::Uuid::new_v4().to_string(),
            stamp,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(AppError::internal)
    }

    pub fn verify(&self, token: &str) -> AppResult<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    AppError::unauthorized(ErrorCode::TokenExpired, "the access token has expired")
                }
                _ => {
                    AppError::unauthorized(ErrorCode::InvalidToken, "the access token is not valid")
                }
            })
    }
}
