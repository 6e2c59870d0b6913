//! The JOSE header: which parameters uid-gate acts on, and which make a token invalid.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::VerifyError;

/// Header parameters we act on; unknown ones are ignored, repeated known ones are an error.
#[derive(Deserialize)]
pub(super) struct Header {
    pub(super) alg: String,
    #[serde(default)]
    pub(super) typ: Option<String>,
    /// Used only to pick a JWKS key; a non-string `kid` names no key (and HS256 ignores it).
    #[serde(default, deserialize_with = "string_or_none")]
    pub(super) kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) crit: bool,
    #[serde(default, deserialize_with = "present")]
    pub(super) jku: bool,
    #[serde(default, deserialize_with = "present")]
    pub(super) jwk: bool,
    #[serde(default, deserialize_with = "present")]
    pub(super) x5u: bool,
    #[serde(default, deserialize_with = "present")]
    pub(super) x5c: bool,
}

fn string_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// True whenever the key appears, whatever its value (even `null`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

pub(super) fn check_header(header_b64: &str) -> Result<Header, VerifyError> {
    let raw = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| VerifyError::MalformedHeader)?;
    // serde's derived structs also accept JSON arrays; a JOSE header must be an object.
    if raw.trim_ascii_start().first() != Some(&b'{') {
        return Err(VerifyError::MalformedHeader);
    }
    let header: Header = serde_json::from_slice(&raw).map_err(|_| VerifyError::MalformedHeader)?;
    // HS256 with the secrets; the asymmetric ones only with a JWKS (checked by the caller).
    if !matches!(header.alg.as_str(), "HS256" | "EdDSA" | "ES256" | "RS256") {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    // RFC 7515 §4.1.11: we understand no extensions, so any `crit` makes the token invalid.
    if header.crit {
        return Err(VerifyError::CriticalHeader);
    }
    // The key is configured, never taken from the token (RFC 8725 §3.10).
    if header.jku || header.jwk || header.x5u || header.x5c {
        return Err(VerifyError::ExternalKey);
    }
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
    {
        return Err(VerifyError::WrongType);
    }
    Ok(header)
}
