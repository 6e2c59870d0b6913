//! Token verification: HS256 signature with the shared secret, then strictly typed claims.
//!
//! The HMAC is RustCrypto's `hmac`/`sha2` (the very code behind jsonwebtoken's `rust_crypto`
//! backend), keyed once at start-up: jsonwebtoken re-keys on every call and its verifier
//! objects are not `Send`, so they cannot be cached. The tag comparison is constant-time
//! (`verify_slice`). The header and the claims are parsed here, because jsonwebtoken ignores
//! `crit`, takes claim names only from a fixed struct (ours are configurable), and accepts
//! float or rounded time claims; parsing once ourselves also means each part is decoded
//! exactly once. Nothing here looks at the payload before the signature has been checked.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use sha2::Sha256;

/// Why a token was refused (all answered with 401 `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("token header is malformed")]
    MalformedHeader,
    #[error("token algorithm is not HS256")]
    UnsupportedAlgorithm,
    #[error("token header has a crit parameter")]
    CriticalHeader,
    #[error("token header names an external key")]
    ExternalKey,
    #[error("token type is not JWT")]
    WrongType,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token names no known key")]
    UnknownKey,
    #[error("token claims are malformed")]
    MalformedClaims,
    #[error("token repeats a claim")]
    DuplicateClaim,
    #[error("token time claim is not a non-negative integer")]
    BadTimeClaim,
    #[error("token has no exp claim")]
    MissingExp,
    #[error("token has expired")]
    Expired,
    #[error("token lifetime exceeds the allowed maximum")]
    LifetimeTooLong,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token issuer is not accepted")]
    IssuerMismatch,
    #[error("token audience is not accepted")]
    AudienceMismatch,
    #[error("token has no user id claim")]
    MissingUserId,
    #[error("token user id claim is not a non-empty string")]
    InvalidUserId,
}

/// The verified identity a token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id, from the first configured claim present (integers in canonical decimal).
    pub user_id: String,
}

/// Checks tokens against one or more HS256 secrets and the configured claim rules.
pub struct Verifier {
    /// One HMAC-SHA256 state per secret, already keyed; cloned per check. Swapped whole when
    /// the secret file changes; a check holds the read lock for one HMAC at most.
    keys: RwLock<Vec<Hmac<Sha256>>>,
    uid_claims: Vec<String>,
    leeway_secs: u64,
    issuer: Option<String>,
    audiences: Vec<String>,
    /// Public keys for EdDSA/ES256/RS256 tokens, when a JWKS is configured.
    /// `None`: no JWKS source configured. `Some`: the current keys, swapped on refresh.
    jwks: Option<RwLock<Arc<crate::jwks::JwksKeys>>>,
    /// Woken when a token names an unknown `kid`, so a JWKS URL is fetched again early.
    jwks_miss: Arc<tokio::sync::Notify>,
    /// Latest `exp` accepted, as seconds from now (plus leeway); `None`: no cap.
    max_ttl_secs: Option<u64>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &format_args!("[{} redacted]", self.key_count()))
            .field("uid_claims", &self.uid_claims)
            .field("leeway_secs", &self.leeway_secs)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish()
    }
}

/// What a [`Verifier`] checks besides the signature.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// Claim names tried in order for the user id.
    pub uid_claims: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Accepted `aud` values; empty means `aud` is not checked.
    pub audiences: Vec<String>,
}

impl Verifier {
    /// Builds a verifier; `secrets` are raw key bytes, tried in order.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S], rules: ClaimRules) -> Self {
        Self {
            keys: RwLock::new(keyed(secrets)),
            uid_claims: rules.uid_claims,
            leeway_secs: rules.leeway_secs,
            issuer: rules.issuer,
            audiences: rules.audiences,
            jwks: None,
            jwks_miss: Arc::new(tokio::sync::Notify::new()),
            max_ttl_secs: None,
        }
    }

    /// Replaces the accepted secrets (current first). Checks in flight finish with the keys
    /// they started with.
    pub fn replace_secrets<S: AsRef<[u8]>>(&self, secrets: &[S]) {
        let keys = keyed(secrets);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// How many secrets are accepted.
    pub fn key_count(&self) -> usize {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Verifies a compact JWS (already shape-checked by [`crate::extract`]) at time `now`
    /// (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now: u64) -> Result<Identity, VerifyError> {
        let mut parts = token.splitn(3, '.');
        let (Some(header_b64), Some(payload_b64), Some(signature)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::MalformedHeader);
        };

        let header = check_header(header_b64)?;
        let message = &token[..header_b64.len() + 1 + payload_b64.len()];
        if header.alg != "HS256" {
            self.verify_with_jwks(&header, message, signature)?;
            return self.claims_of(payload_b64, now);
        }

        // An HS256 tag is 32 bytes: 43 base64url characters. Anything else, including a
        // truncated tag, fails here; non-canonical trailing bits fail in the decoder.
        let mut tag = [0u8; 32];
        if signature.len() != 43 || URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) != Ok(32) {
            return Err(VerifyError::BadSignature);
        }
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let signed = keys
            .iter()
            .any(|key| tag_matches(key, message.as_bytes(), &tag));
        drop(keys);
        if !signed {
            return Err(VerifyError::BadSignature);
        }
        self.claims_of(payload_b64, now)
    }

    /// Accepts asymmetric tokens (EdDSA, ES256, RS256) from the keys of a JWKS.
    pub fn with_jwks(mut self, jwks: crate::jwks::JwksKeys) -> Self {
        self.jwks = Some(RwLock::new(Arc::new(jwks)));
        self
    }

    /// Refuses tokens whose `exp` lies more than `secs` (plus leeway) in the future, so a token
    /// minted with a far-future expiry cannot outlive the deployment's token policy.
    pub fn with_max_ttl(mut self, secs: Option<u64>) -> Self {
        self.max_ttl_secs = secs;
        self
    }

    /// Replaces the JWKS keys (after a refresh). Checks in flight keep the keys they started with.
    pub fn replace_jwks(&self, jwks: crate::jwks::JwksKeys) {
        if let Some(current) = &self.jwks {
            *current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(jwks);
        }
    }

    /// How many JWKS keys are in force (0 without a JWKS).
    pub fn jwks_key_count(&self) -> usize {
        self.jwks.as_ref().map_or(0, |j| {
            j.read().unwrap_or_else(PoisonError::into_inner).len()
        })
    }

    /// Notified whenever a token names a `kid` the JWKS does not have.
    pub fn jwks_miss(&self) -> Arc<tokio::sync::Notify> {
        self.jwks_miss.clone()
    }

    /// EdDSA/ES256/RS256: the `kid` picks the key, and the key's type fixes the algorithm.
    fn verify_with_jwks(
        &self,
        header: &Header,
        message: &str,
        signature: &str,
    ) -> Result<(), VerifyError> {
        let Some(jwks) = &self.jwks else {
            return Err(VerifyError::UnsupportedAlgorithm);
        };
        let jwks = jwks.read().unwrap_or_else(PoisonError::into_inner).clone();
        let Some((alg, key)) = header.kid.as_deref().and_then(|kid| jwks.get(kid)) else {
            // A key rotated in at the issuer: have the JWKS fetched again (rate-limited there).
            self.jwks_miss.notify_one();
            return Err(VerifyError::UnknownKey);
        };
        if alg_name(*alg) != header.alg {
            return Err(VerifyError::UnsupportedAlgorithm);
        }
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, *alg) {
            Ok(true) => Ok(()),
            _ => Err(VerifyError::BadSignature),
        }
    }

    fn claims_of(&self, payload_b64: &str, now: u64) -> Result<Identity, VerifyError> {
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| VerifyError::MalformedClaims)?;
        let claims = parse_claims(&payload, &self.uid_claims)?;
        self.check_claims(claims, now)
    }

    fn check_claims(&self, claims: Claims, now: u64) -> Result<Identity, VerifyError> {
        let leeway = self.leeway_secs;
        let exp = claims.exp.ok_or(VerifyError::MissingExp)?;
        if now >= exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        if self
            .max_ttl_secs
            .is_some_and(|max| exp > now.saturating_add(max).saturating_add(leeway))
        {
            return Err(VerifyError::LifetimeTooLong);
        }
        if claims
            .nbf
            .is_some_and(|nbf| now.saturating_add(leeway) < nbf)
        {
            return Err(VerifyError::NotYetValid);
        }
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(VerifyError::IssuedInFuture);
        }
        if let Some(want) = &self.issuer
            && claims.iss.as_deref() != Some(want.as_str())
        {
            return Err(VerifyError::IssuerMismatch);
        }
        if !self.audiences.is_empty() && !claims.aud.iter().any(|a| self.audiences.contains(a)) {
            return Err(VerifyError::AudienceMismatch);
        }
        match claims.user_id.into_iter().flatten().next() {
            None => Err(VerifyError::MissingUserId),
            Some(UserIdValue::Valid(user_id)) => Ok(Identity { user_id }),
            Some(UserIdValue::Invalid) => Err(VerifyError::InvalidUserId),
        }
    }
}

/// Whether `tag` is the full 32-byte HMAC-SHA256 of `message` under the keyed state `key`,
/// compared in constant time. Truncated tags are refused: a JWS HS256 tag is 32 bytes.
fn tag_matches(key: &Hmac<Sha256>, message: &[u8], tag: &[u8]) -> bool {
    if tag.len() != 32 {
        return false;
    }
    let mut mac = key.clone();
    mac.update(message);
    mac.verify_slice(tag).is_ok()
}

/// The HS256 tag check uid-gate uses, for a raw key (tests run Wycheproof's vectors through it).
pub fn hs256_tag_matches(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    Hmac::<Sha256>::new_from_slice(key).is_ok_and(|k| tag_matches(&k, message, tag))
}

/// The JOSE `alg` name of the algorithms a JWKS key can be pinned to.
fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        // JwksKeys pins keys to the three above only.
        _ => "",
    }
}

/// HMAC accepts keys of any length; config enforces the 32-byte minimum.
fn keyed<S: AsRef<[u8]>>(secrets: &[S]) -> Vec<Hmac<Sha256>> {
    secrets
        .iter()
        .filter_map(|s| Hmac::<Sha256>::new_from_slice(s.as_ref()).ok())
        .collect()
}

/// Signs with jsonwebtoken and verifies with uid-gate's own HMAC path (and the reverse for a
/// wrong key), so a jsonwebtoken crypto backend that is missing or doubly enabled (it panics
/// at first use then) or a disagreement between the two fails at start-up, not on a request.
pub fn self_test() -> Result<(), VerifyError> {
    let key = b"uid-gate self-test key, 32 bytes!";
    let message = b"eyJhbGciOiJIUzI1NiJ9.e30";
    let signature = jsonwebtoken::crypto::sign(
        message,
        &jsonwebtoken::EncodingKey::from_secret(key),
        Algorithm::HS256,
    )
    .map_err(|_| VerifyError::BadSignature)?;
    let library = jsonwebtoken::crypto::verify(
        &signature,
        message,
        &DecodingKey::from_secret(key),
        Algorithm::HS256,
    );
    let ours = |k: &[u8]| {
        let token = format!("{}.{signature}", String::from_utf8_lossy(message));
        let rules = ClaimRules {
            uid_claims: vec!["uid".into()],
            leeway_secs: 0,
            issuer: None,
            audiences: vec![],
        };
        // The payload `{}` has no exp: a verified signature shows up as MissingExp.
        Verifier::new(&[k], rules).verify(&token, 0)
    };
    match (
        library,
        ours(key),
        ours(b"another key of thirty-two bytes!"),
    ) {
        (Ok(true), Err(VerifyError::MissingExp), Err(VerifyError::BadSignature)) => Ok(()),
        _ => Err(VerifyError::BadSignature),
    }
}

/// Header parameters we act on; unknown ones are ignored, repeated known ones are an error.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    /// Used only to pick a JWKS key; a non-string `kid` names no key (and HS256 ignores it).
    #[serde(default, deserialize_with = "string_or_none")]
    kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
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

fn check_header(header_b64: &str) -> Result<Header, VerifyError> {
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

/// The user id claim's value, judged while parsing.
#[derive(Debug)]
enum UserIdValue {
    Valid(String),
    Invalid,
}

#[derive(Debug, Default)]
struct Claims {
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    iss: Option<String>,
    aud: Vec<String>,
    /// One slot per configured uid claim, in configured order.
    user_id: Vec<Option<UserIdValue>>,
}

fn parse_claims(payload: &[u8], uid_claims: &[String]) -> Result<Claims, VerifyError> {
    let reason = Cell::new(None);
    let seed = ClaimsSeed {
        uid_claims,
        reason: &reason,
    };
    let mut de = serde_json::Deserializer::from_slice(payload);
    let claims = seed
        .deserialize(&mut de)
        .and_then(|c| de.end().map(|()| c))
        .map_err(|_| reason.get().unwrap_or(VerifyError::MalformedClaims))?;
    Ok(claims)
}

/// Deserializes the claims object with the configured uid claim names; records the precise
/// reason of a failure in `reason` because serde errors only carry text.
struct ClaimsSeed<'s> {
    uid_claims: &'s [String],
    reason: &'s Cell<Option<VerifyError>>,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = Claims;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Claims, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = Claims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims, A::Error> {
        let fail = |reason: VerifyError| {
            self.reason.set(Some(reason));
            de::Error::custom("claims rejected")
        };
        let mut claims = Claims {
            user_id: (0..self.uid_claims.len()).map(|_| None).collect(),
            ..Claims::default()
        };
        let mut seen: Vec<Cow<'de, str>> = Vec::with_capacity(16);
        while let Some(ClaimName(name)) = map.next_key()? {
            if seen.contains(&name) {
                return Err(fail(VerifyError::DuplicateClaim));
            }
            if let Some(slot) = self.uid_claims.iter().position(|c| *c == name) {
                claims.user_id[slot] = Some(map.next_value::<UserIdValue>()?);
            } else {
                match &*name {
                    "exp" | "nbf" | "iat" => {
                        let v = map
                            .next_value::<u64>()
                            .map_err(|_| fail(VerifyError::BadTimeClaim))?;
                        match &*name {
                            "exp" => claims.exp = Some(v),
                            "nbf" => claims.nbf = Some(v),
                            _ => claims.iat = Some(v),
                        }
                    }
                    "iss" => claims.iss = Some(map.next_value()?),
                    "aud" => {
                        claims.aud = match map.next_value::<Audience>()? {
                            Audience::One(a) => vec![a],
                            Audience::Many(a) => a,
                        }
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            seen.push(name);
        }
        Ok(claims)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// A claim name, borrowed from the payload unless it had escapes.
struct ClaimName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for ClaimName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClaimName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ClaimName(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ClaimName(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for UserIdValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UserIdValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a user id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UserIdValue, E> {
                // Control bytes would end up in the x-user-id header sent upstream.
                if v.is_empty() || v.chars().any(char::is_control) {
                    Ok(UserIdValue::Invalid)
                } else {
                    Ok(UserIdValue::Valid(v.to_owned()))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<UserIdValue, E> {
                Ok(UserIdValue::Valid(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<UserIdValue, E> {
                Ok(UserIdValue::Valid(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<UserIdValue, E> {
                Ok(UserIdValue::Invalid)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<UserIdValue, E> {
                Ok(UserIdValue::Invalid)
            }
            fn visit_unit<E: de::Error>(self) -> Result<UserIdValue, E> {
                Ok(UserIdValue::Invalid)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UserIdValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(UserIdValue::Invalid)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UserIdValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(UserIdValue::Invalid)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            uid_claims: vec!["uid".into(), "sub".into()],
            leeway_secs: 30,
            issuer: None,
            audiences: vec![],
        }
    }

    fn verifier() -> Verifier {
        Verifier::new(&[SECRET], rules())
    }

    fn sign(claims: serde_json::Value) -> String {
        mint::sign_claims(SECRET, &claims).expect("sign")
    }

    fn raw(header: &str, payload: &str, key: &[u8]) -> String {
        mint::sign_raw(key, header.as_bytes(), payload.as_bytes()).expect("sign")
    }

    fn check(token: &str) -> Result<Identity, VerifyError> {
        verifier().verify(token, NOW)
    }

    fn uid(id: &str) -> Result<Identity, VerifyError> {
        Ok(Identity { user_id: id.into() })
    }

    #[test]
    fn valid_token_yields_the_uid() {
        assert_eq!(
            check(&sign(json!({"uid": "user_A", "exp": NOW + 60}))),
            uid("user_A")
        );
    }

    #[test]
    fn uid_claims_are_tried_in_order() {
        assert_eq!(check(&sign(json!({"sub": "s", "exp": NOW + 60}))), uid("s"));
        assert_eq!(
            check(&sign(json!({"sub": "s", "uid": "u", "exp": NOW + 60}))),
            uid("u")
        );
        // The first claim present decides, even when it is unusable.
        assert_eq!(
            check(&sign(json!({"uid": null, "sub": "s", "exp": NOW + 60}))),
            Err(VerifyError::InvalidUserId)
        );
        assert_eq!(
            check(&sign(json!({"id": "x", "exp": NOW + 60}))),
            Err(VerifyError::MissingUserId)
        );
    }

    #[test]
    fn uid_types() {
        let t = |v: serde_json::Value| check(&sign(json!({"uid": v, "exp": NOW + 60})));
        assert_eq!(t(json!(123)), uid("123"));
        assert_eq!(t(json!(-7)), uid("-7"));
        for bad in [
            json!(""),
            json!(1.5),
            json!(1e3),
            json!(true),
            json!(null),
            json!(["a"]),
            json!({"id": "a"}),
            json!("a\u{0}"),
            json!("a\n"),
        ] {
            assert_eq!(t(bad.clone()), Err(VerifyError::InvalidUserId), "{bad}");
        }
        // JSON escapes are decoded: the user id is the string the JSON denotes.
        let escaped = raw(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"uid":"\u0075ser_A","exp":{}}}"#, NOW + 60),
            SECRET,
        );
        assert_eq!(check(&escaped), uid("user_A"));
    }

    #[test]
    fn duplicate_claims_are_rejected() {
        let h = r#"{"alg":"HS256","typ":"JWT"}"#;
        let dup_uid = format!(r#"{{"uid":"attacker","uid":"victim","exp":{}}}"#, NOW + 60);
        assert_eq!(
            check(&raw(h, &dup_uid, SECRET)),
            Err(VerifyError::DuplicateClaim)
        );
        let dup_exp = format!(r#"{{"uid":"a","exp":{},"exp":{}}}"#, NOW + 60, NOW - 600);
        assert_eq!(
            check(&raw(h, &dup_exp, SECRET)),
            Err(VerifyError::DuplicateClaim)
        );
        let dup_other = format!(r#"{{"uid":"a","exp":{},"x":1,"x":2}}"#, NOW + 60);
        assert_eq!(
            check(&raw(h, &dup_other, SECRET)),
            Err(VerifyError::DuplicateClaim)
        );
        let dup_escaped = format!(r#"{{"uid":"a","\u0075id":"b","exp":{}}}"#, NOW + 60);
        assert_eq!(
            check(&raw(h, &dup_escaped, SECRET)),
            Err(VerifyError::DuplicateClaim)
        );
    }

    #[test]
    fn time_claims() {
        let t = |c: serde_json::Value| check(&sign(c));
        assert_eq!(t(json!({"uid": "a"})), Err(VerifyError::MissingExp));
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW - 120})),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW - 30})),
            Err(VerifyError::Expired)
        );
        assert_eq!(t(json!({"uid": "a", "exp": NOW - 29})), uid("a"));
        assert_eq!(t(json!({"uid": "a", "exp": u64::MAX})), uid("a"));
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "nbf": NOW + 100_000})),
            Err(VerifyError::NotYetValid)
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "nbf": NOW + 30})),
            uid("a")
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "nbf": NOW + 31})),
            Err(VerifyError::NotYetValid)
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "iat": NOW + 100_000})),
            Err(VerifyError::IssuedInFuture)
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "iat": NOW + 30})),
            uid("a")
        );
        for bad in [
            json!("9999999999"),
            json!(1.5),
            json!(-1),
            json!(null),
            json!(1e30),
            json!([1]),
        ] {
            assert_eq!(
                t(json!({"uid": "a", "exp": bad.clone()})),
                Err(VerifyError::BadTimeClaim),
                "{bad}"
            );
        }
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "nbf": "0"})),
            Err(VerifyError::BadTimeClaim)
        );
    }

    #[test]
    fn issuer_and_audience() {
        let v = Verifier::new(
            &[SECRET],
            ClaimRules {
                issuer: Some("https://app".into()),
                audiences: vec!["api".into(), "web".into()],
                ..rules()
            },
        );
        let t = |c: serde_json::Value| v.verify(&sign(c), NOW);
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "iss": "https://app", "aud": "api"})),
            uid("a")
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "iss": "https://app", "aud": ["x", "web"]})),
            uid("a")
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "iss": "https://evil", "aud": "api"})),
            Err(VerifyError::IssuerMismatch)
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "aud": "api"})),
            Err(VerifyError::IssuerMismatch)
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "iss": "https://app", "aud": "other"})),
            Err(VerifyError::AudienceMismatch)
        );
        assert_eq!(
            t(json!({"uid": "a", "exp": NOW + 60, "iss": "https://app"})),
            Err(VerifyError::AudienceMismatch)
        );
        // Without configuration, iss and aud are not checked.
        assert_eq!(
            check(&sign(
                json!({"uid": "a", "exp": NOW + 60, "iss": "x", "aud": "y"})
            )),
            uid("a")
        );
        assert_eq!(
            check(&sign(json!({"uid": "a", "exp": NOW + 60, "aud": 5}))),
            Err(VerifyError::MalformedClaims)
        );
    }

    #[test]
    fn header_rules() {
        let p = format!(r#"{{"uid":"a","exp":{}}}"#, NOW + 60);
        let t = |h: &str| check(&raw(h, &p, SECRET));
        assert_eq!(t(r#"{"alg":"HS256"}"#), uid("a"));
        assert_eq!(t(r#"{"alg":"HS256","typ":"jwt","kid":"k"}"#), uid("a"));
        for alg in [
            "none", "None", "NONE", "nOnE", "hs256", "HS384", "HS512", "RS256", "ES256", "EdDSA",
        ] {
            assert_eq!(
                t(&format!(r#"{{"alg":"{alg}"}}"#)),
                Err(VerifyError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        assert_eq!(t(r#"{"typ":"JWT"}"#), Err(VerifyError::MalformedHeader));
        assert_eq!(
            t(r#"{"alg":"HS256","alg":"none"}"#),
            Err(VerifyError::MalformedHeader)
        );
        assert_eq!(t(r#"{"alg":5}"#), Err(VerifyError::MalformedHeader));
        assert_eq!(t(r#"["HS256"]"#), Err(VerifyError::MalformedHeader));
        assert_eq!(
            t(r#"{"alg":"HS256","crit":["x-foo"],"x-foo":1}"#),
            Err(VerifyError::CriticalHeader)
        );
        assert_eq!(
            t(r#"{"alg":"HS256","crit":["b64"],"b64":false}"#),
            Err(VerifyError::CriticalHeader)
        );
        assert_eq!(
            t(r#"{"alg":"HS256","crit":null}"#),
            Err(VerifyError::CriticalHeader)
        );
        for p in ["jku", "jwk", "x5u", "x5c"] {
            assert_eq!(
                t(&format!(r#"{{"alg":"HS256","{p}":"x"}}"#)),
                Err(VerifyError::ExternalKey),
                "{p}"
            );
        }
        assert_eq!(
            t(r#"{"alg":"HS256","typ":"at+jwt"}"#),
            Err(VerifyError::WrongType)
        );
        assert_eq!(
            t(r#"{"alg":"HS256","typ":"better-auth.session-cache+jwt"}"#),
            Err(VerifyError::WrongType)
        );
    }

    #[test]
    fn signatures() {
        let good = sign(json!({"uid": "a", "exp": NOW + 60}));
        let other_key = mint::sign_claims(
            b"another-secret-of-32-bytes-long!",
            &json!({"uid": "a", "exp": NOW + 60}),
        )
        .expect("sign");
        assert_eq!(check(&other_key), Err(VerifyError::BadSignature));
        let (msg, sig) = good.rsplit_once('.').expect("three parts");
        // Flip the last signature character: changes the low bits (malleability) or the MAC.
        for c in ["A", "B", "Q", "_"] {
            let tampered = format!("{msg}.{}{c}", &sig[..sig.len() - 1]);
            if tampered != good {
                assert_eq!(
                    check(&tampered),
                    Err(VerifyError::BadSignature),
                    "{tampered}"
                );
            }
        }
        // Truncated (128-bit) tag.
        assert_eq!(
            check(&format!("{msg}.{}", &sig[..22])),
            Err(VerifyError::BadSignature)
        );
        // Payload swapped, signature kept.
        let other = sign(json!({"uid": "b", "exp": NOW + 60}));
        let other_payload = other.split('.').nth(1).expect("payload");
        let header = good.split('.').next().expect("header");
        assert_eq!(
            check(&format!("{header}.{other_payload}.{sig}")),
            Err(VerifyError::BadSignature)
        );
        // Empty HMAC key (jwt_tool's blank-password attack).
        let blank = raw(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"uid":"a","exp":{}}}"#, NOW + 60),
            b"",
        );
        assert_eq!(check(&blank), Err(VerifyError::BadSignature));
    }

    #[test]
    fn secrets_can_be_replaced_in_place() {
        let v = verifier();
        let new = b"new-secret-new-secret-new-secret";
        let new_token =
            mint::sign_claims(new, &json!({"uid": "a", "exp": NOW + 60})).expect("sign");
        let old_token = sign(json!({"uid": "a", "exp": NOW + 60}));
        assert_eq!(v.verify(&new_token, NOW), Err(VerifyError::BadSignature));
        v.replace_secrets(&[new.as_slice(), SECRET]);
        assert_eq!(v.key_count(), 2);
        assert_eq!(v.verify(&new_token, NOW), uid("a"));
        assert_eq!(v.verify(&old_token, NOW), uid("a"));
        v.replace_secrets(&[new]);
        assert_eq!(v.verify(&old_token, NOW), Err(VerifyError::BadSignature));
    }

    #[test]
    fn an_optional_lifetime_cap() {
        let capped = verifier().with_max_ttl(Some(3600));
        let t = |exp: u64| capped.verify(&sign(json!({"uid": "a", "exp": exp})), NOW);
        assert_eq!(t(NOW + 3600 + 30), uid("a"));
        assert_eq!(t(NOW + 3600 + 31), Err(VerifyError::LifetimeTooLong));
        assert_eq!(t(u64::MAX), Err(VerifyError::LifetimeTooLong));
        assert_eq!(check(&sign(json!({"uid": "a", "exp": u64::MAX}))), uid("a"));
    }

    #[test]
    fn any_configured_secret_verifies() {
        let v = Verifier::new(
            &[b"new-secret-new-secret-new-secret".as_slice(), SECRET],
            rules(),
        );
        assert_eq!(
            v.verify(&sign(json!({"uid": "a", "exp": NOW + 60})), NOW),
            uid("a")
        );
    }

    #[test]
    fn payload_must_be_one_utf8_json_object() {
        let h = r#"{"alg":"HS256"}"#;
        let exp = NOW + 60;
        for p in [
            format!("\u{feff}{{\"uid\":\"a\",\"exp\":{exp}}}"),
            format!("{{\"uid\":\"a\",\"exp\":{exp}}} x"),
            format!("[{{\"uid\":\"a\",\"exp\":{exp}}}]"),
            "null".to_string(),
            "foo".to_string(),
        ] {
            assert_eq!(
                check(&raw(h, &p, SECRET)),
                Err(VerifyError::MalformedClaims),
                "{p:?}"
            );
        }
        // Trailing whitespace is valid JSON.
        assert_eq!(
            check(&raw(
                h,
                &format!("{{\"uid\":\"a\",\"exp\":{exp}}} "),
                SECRET
            )),
            uid("a")
        );
    }

    #[test]
    fn the_self_test_passes_with_one_backend() {
        assert_eq!(self_test(), Ok(()));
    }
}
