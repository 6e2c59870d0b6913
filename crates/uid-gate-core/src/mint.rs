//! Dev token minting: HS256 tokens signed with the configured secret, the way a Better Auth
//! app that signs its own tokens with `BETTER_AUTH_SECRET` (jose `SignJWT`) produces them.
//! Used by `uid-gate mint`, the demo and the tests; never by the request path.

use base64_simd::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("claims are not a JSON object")]
    NotAnObject,
    #[error("signing failed")]
    Sign,
}

/// Signs `header.payload` (raw JSON bytes, base64url-encoded here) with HMAC-SHA256.
/// Takes arbitrary bytes on purpose, so tests can sign deliberately odd tokens.
pub fn sign_raw(key: &[u8], header: &[u8], payload: &[u8]) -> Result<String, MintError> {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode_to_string(header),
        URL_SAFE_NO_PAD.encode_to_string(payload)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(key),
        Algorithm::HS256,
    )
    .map_err(|_| MintError::Sign)?;
    Ok(format!("{message}.{signature}"))
}

/// Signs `claims` with the header `{"alg":"HS256","typ":"JWT"}`.
pub fn sign_claims(key: &[u8], claims: &serde_json::Value) -> Result<String, MintError> {
    if !claims.is_object() {
        return Err(MintError::NotAnObject);
    }
    sign_raw(
        key,
        br#"{"alg":"HS256","typ":"JWT"}"#,
        claims.to_string().as_bytes(),
    )
}

/// What `uid-gate mint` puts in a token.
#[derive(Debug, Clone)]
pub struct MintRequest {
    /// The user id.
    pub user_id: String,
    /// Claim that carries the user id (`uid` by default).
    pub claim: String,
    /// Lifetime in seconds.
    pub ttl_secs: u64,
    /// `iss`, when set.
    pub issuer: Option<String>,
    /// `aud`, when set.
    pub audience: Option<String>,
}

/// Mints a dev token for `req`, issued at `now`.
pub fn mint(key: &[u8], req: &MintRequest, now: u64) -> Result<String, MintError> {
    let mut claims = serde_json::Map::new();
    claims.insert(req.claim.clone(), req.user_id.clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(req.ttl_secs).into());
    if let Some(iss) = &req.issuer {
        claims.insert("iss".into(), iss.clone().into());
    }
    if let Some(aud) = &req.audience {
        claims.insert("aud".into(), aud.clone().into());
    }
    sign_claims(key, &serde_json::Value::Object(claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{ClaimRules, Verifier, VerifyError};

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn minted_tokens_carry_what_was_asked_and_verify() {
        let req = MintRequest {
            user_id: "alice".into(),
            claim: "user_id".into(),
            ttl_secs: 60,
            issuer: Some("https://app.example".into()),
            audience: Some("api".into()),
        };
        let token = mint(KEY, &req, 1_000).expect("mint");
        let verifier = Verifier::new(
            &[KEY],
            ClaimRules {
                uid_claims: vec!["user_id".into()],
                leeway_secs: 0,
                issuer: Some("https://app.example".into()),
                audiences: vec!["api".into()],
            },
        );
        assert_eq!(
            verifier.verify(&token, 1_000).map(|i| i.user_id),
            Ok("alice".into())
        );
        assert_eq!(verifier.verify(&token, 1_060), Err(VerifyError::Expired));
        assert!(matches!(
            sign_claims(KEY, &serde_json::json!([1])),
            Err(MintError::NotAnObject)
        ));
    }
}
