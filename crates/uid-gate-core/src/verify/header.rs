//! The JOSE header: which parameters uid-gate acts on, and which make a token invalid.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::VerifyError;

/// Header parameters we act on; unknown ones are ignored, repeated known ones are an error.
/// Strings are borrowed from the decoded header unless they had escapes.
#[derive(Deserialize)]
pub(super) struct Header<'a> {
    #[serde(borrow)]
    pub(super) alg: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) typ: Option<Cow<'a, str>>,
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

/// The base64url of the HS256 headers that almost every token carries, byte for byte:
/// `{"alg":"HS256","typ":"JWT"}` (jsonwebtoken, PyJWT, `uid-gate mint`), `{"alg":"HS256"}`
/// (jose's `SignJWT`), `{"typ":"JWT","alg":"HS256"}`. The same bytes always decode and parse to
/// the same header, so these skip both (a test runs each through the full check).
const COMMON_HS256: [&[u8]; 3] = [
    b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    b"eyJhbGciOiJIUzI1NiJ9",
    b"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9",
];

/// Whether the header is one of [`COMMON_HS256`]: a valid HS256 header, nothing to check.
pub(super) fn is_common_hs256(header_b64: &[u8]) -> bool {
    COMMON_HS256.contains(&header_b64)
}

/// Checks the decoded header `raw`; its strings stay borrowed from it.
pub(super) fn check_header(raw: &[u8]) -> Result<Header<'_>, VerifyError> {
    // serde's derived structs also accept JSON arrays; a JOSE header must be an object.
    if raw.trim_ascii_start().first() != Some(&b'{') {
        return Err(VerifyError::MalformedHeader);
    }
    let header: Header<'_> =
        serde_json::from_slice(raw).map_err(|_| VerifyError::MalformedHeader)?;
    // HS256 with the secrets; the asymmetric ones only with a JWKS (checked by the caller).
    if !matches!(&*header.alg, "HS256" | "EdDSA" | "ES256" | "RS256") {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each header the shortcut passes, checked in full, is a plain HS256 header: nothing
    /// the check acts on but `alg` (and a `typ` of JWT).
    #[test]
    fn each_common_header_checked_in_full_is_plain_hs256() {
        for b64 in COMMON_HS256 {
            let mut buf = [std::mem::MaybeUninit::uninit(); 64];
            let raw = super::super::decode_b64(b64, &mut buf).expect("base64url");
            let full = check_header(&raw).expect("a valid header");
            assert_eq!(
                (
                    &*full.alg, &full.kid, full.crit, full.jku, full.jwk, full.x5u, full.x5c
                ),
                ("HS256", &None, false, false, false, false, false),
                "{}",
                String::from_utf8_lossy(b64)
            );
            assert!(full.typ.as_deref().is_none_or(|t| t == "JWT"));
        }
    }
}
