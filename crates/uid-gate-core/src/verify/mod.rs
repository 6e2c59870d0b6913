//! Token verification: HS256 signature with the shared secret, then strictly typed claims.
//!
//! The HMAC is RustCrypto's `hmac`/`sha2` (the very code behind jsonwebtoken's `rust_crypto`
//! backend), keyed once at start-up: jsonwebtoken re-keys on every call and its verifier
//! objects are not `Send`, so they cannot be cached. The tag is compared in constant time, as
//! its base64url encoding against the token's signature (`signature_matches`). The header and
//! the claims are parsed here, because jsonwebtoken ignores `crit`, takes claim names only
//! from a fixed struct (ours are configurable), and accepts float or rounded time claims;
//! parsing once ourselves also means each part is decoded once at most. Nothing here looks at
//! the payload before the signature has been checked.

use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::{Arc, PoisonError, RwLock};

use base64_simd::{Out, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::Sha256;
use subtle::ConstantTimeEq;

mod claims;
mod header;
mod plain_claims;

use crate::extract::Jws;
use claims::{Claims, UserIdValue};
use header::{Header, check_header, is_common_hs256};
use plain_claims::parse_claims;

/// Called when a token names a JWKS `kid` the current key set lacks (a key rotated in at the
/// issuer), so whoever fetches the JWKS can fetch it again early. Must not block.
pub type UnknownKidHook = Arc<dyn Fn() + Send + Sync>;

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
    /// The kept claims ([`Verifier::with_captured`]), in the order asked for; `None`: absent.
    pub claims: Vec<Option<serde_json::Value>>,
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
    /// Called when a token names an unknown `kid`, so a JWKS URL is fetched again early.
    on_unknown_kid: Option<UnknownKidHook>,
    /// Latest `exp` accepted, as seconds from now (plus leeway); `None`: no cap.
    max_ttl_secs: Option<u64>,
    /// Top-level claims kept whole for the scope rules (none by default).
    captured: Vec<String>,
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
            on_unknown_kid: None,
            max_ttl_secs: None,
            captured: Vec::new(),
        }
    }

    /// Keeps these top-level claims of a verified token whole, for the scope rules.
    pub fn with_captured(mut self, claims: Vec<String>) -> Self {
        self.captured = claims;
        self
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

    /// Verifies a compact JWS at time `now` (seconds since the Unix epoch), split at its first
    /// and last dots (a request's token is shape-checked first, by [`crate::extract`]).
    pub fn verify(&self, token: &str, now: u64) -> Result<Identity, VerifyError> {
        let jws = Jws::split(token.as_bytes()).ok_or(VerifyError::MalformedHeader)?;
        self.verify_jws(jws, now)
    }

    /// [`Verifier::verify`] for a token already split, as [`crate::extract::bearer_token`]
    /// returns it.
    pub fn verify_jws(&self, jws: Jws<'_>, now: u64) -> Result<Identity, VerifyError> {
        let (header_b64, payload_b64) = (jws.header(), jws.payload());
        let (message, signature) = (jws.signing_input(), jws.signature());

        if !is_common_hs256(header_b64) {
            let mut buf = [MaybeUninit::uninit(); HEADER_ON_STACK];
            let raw =
                decode_b64(header_b64, &mut buf).map_err(|()| VerifyError::MalformedHeader)?;
            let header = check_header(&raw)?;
            if header.alg != "HS256" {
                self.verify_with_jwks(&header, message, signature)?;
                return self.claims_of(payload_b64, now);
            }
        }

        // An HS256 tag is 32 bytes: 43 base64url characters. Anything else, including a
        // truncated tag, fails here.
        let Ok(signature) = <&[u8; SIGNATURE_LEN]>::try_from(signature) else {
            return Err(VerifyError::BadSignature);
        };
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let signed = keys
            .iter()
            .any(|key| signature_matches(key, message, signature));
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

    /// Calls `hook` whenever a token names a `kid` the JWKS does not have.
    pub fn set_unknown_kid_hook(&mut self, hook: UnknownKidHook) {
        self.on_unknown_kid = Some(hook);
    }

    /// EdDSA/ES256/RS256: the `kid` picks the key, and the key's type fixes the algorithm.
    fn verify_with_jwks(
        &self,
        header: &Header,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let Some(jwks) = &self.jwks else {
            return Err(VerifyError::UnsupportedAlgorithm);
        };
        let jwks = jwks.read().unwrap_or_else(PoisonError::into_inner).clone();
        let Some((alg, key)) = header.kid.as_deref().and_then(|kid| jwks.get(kid)) else {
            // A key rotated in at the issuer: have the JWKS fetched again (rate-limited there).
            if let Some(hook) = &self.on_unknown_kid {
                hook();
            }
            return Err(VerifyError::UnknownKey);
        };
        if alg_name(*alg) != header.alg {
            return Err(VerifyError::UnsupportedAlgorithm);
        }
        let signature = std::str::from_utf8(signature).map_err(|_| VerifyError::BadSignature)?;
        match jsonwebtoken::crypto::verify(signature, message, key, *alg) {
            Ok(true) => Ok(()),
            _ => Err(VerifyError::BadSignature),
        }
    }

    fn claims_of(&self, payload_b64: &[u8], now: u64) -> Result<Identity, VerifyError> {
        let mut buf = [MaybeUninit::uninit(); PAYLOAD_ON_STACK];
        let payload =
            decode_b64(payload_b64, &mut buf).map_err(|()| VerifyError::MalformedClaims)?;
        let claims = parse_claims(&payload, &self.uid_claims, &self.captured)?;
        self.check_claims(claims, now)
    }

    fn check_claims(&self, claims: Claims<'_>, now: u64) -> Result<Identity, VerifyError> {
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
        if !self.audiences.is_empty()
            && !claims
                .aud
                .iter()
                .any(|a| self.audiences.iter().any(|w| w == a))
        {
            return Err(VerifyError::AudienceMismatch);
        }
        match claims.user_id.into_iter().flatten().next() {
            None => Err(VerifyError::MissingUserId),
            Some(UserIdValue::Valid(user_id)) => Ok(Identity {
                user_id: user_id.into_owned(),
                claims: claims.captured,
            }),
            Some(UserIdValue::Invalid) => Err(VerifyError::InvalidUserId),
        }
    }
}

/// Bytes of a decoded header, and of a decoded payload, kept on the stack: a usual token's
/// parts fit (a Better Auth payload with the user's fields is about 400), so a check allocates
/// nothing for them; a larger part is decoded into a `Vec`.
const HEADER_ON_STACK: usize = 256;
const PAYLOAD_ON_STACK: usize = 1024;

/// Decodes unpadded base64url (strictly: no other bytes, no padding, no other trailing bits)
/// into `buf` when it fits, else into a new `Vec`. `buf` need not be initialised: the decoder
/// writes what it returns, and zeroing a kilobyte on every request costs about 90
/// instructions.
fn decode_b64<'b>(b64: &[u8], buf: &'b mut [MaybeUninit<u8>]) -> Result<Cow<'b, [u8]>, ()> {
    // The length first: the decoder panics on too small a buffer.
    let len = URL_SAFE_NO_PAD.decoded_length(b64).map_err(drop)?;
    let Some(room) = buf.get_mut(..len) else {
        return URL_SAFE_NO_PAD
            .decode_to_vec(b64)
            .map(Cow::Owned)
            .map_err(drop);
    };
    let decoded = URL_SAFE_NO_PAD.decode(b64, Out::from_uninit_slice(room));
    decoded.map(|bytes| Cow::Borrowed(&*bytes)).map_err(drop)
}

/// An HS256 signature's length: a 32-byte tag in unpadded base64url.
const SIGNATURE_LEN: usize = 43;

/// Whether `signature` is the base64url HMAC-SHA256 of `message` under the keyed state `key`,
/// compared in constant time. The tag is computed and encoded, and the two encodings are
/// compared: encoding 32 bytes cost about 130 instructions less than decoding the token's 43
/// characters (both with the `base64` crate), and a non-canonical encoding (other trailing
/// bits in the last character) matches no tag, as it would have failed to decode.
fn signature_matches(key: &Hmac<Sha256>, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
    let mut mac = key.clone();
    mac.update(message);
    let expected = encoded_tag(&mac.finalize().into_bytes().into());
    // `subtle`, as hmac's own `verify_slice`, but over words: its per-byte comparison costs
    // each byte an optimisation barrier (about 300 instructions a request).
    words(&expected).ct_eq(&words(signature)).into()
}

/// An HS256 tag as a token carries it: unpadded base64url.
fn encoded_tag(tag: &[u8; 32]) -> [u8; SIGNATURE_LEN] {
    let mut encoded = [0u8; SIGNATURE_LEN];
    // 32 bytes are 43 characters, the room the encoder needs.
    let _ = URL_SAFE_NO_PAD.encode(tag, Out::from_slice(&mut encoded));
    encoded
}

/// A signature as six little-endian words, the last padded with zeros, for the constant-time
/// comparison.
fn words(signature: &[u8; SIGNATURE_LEN]) -> [u64; 6] {
    let mut padded = [0u8; 48];
    padded[..SIGNATURE_LEN].copy_from_slice(signature);
    std::array::from_fn(|i| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&padded[i * 8..i * 8 + 8]);
        u64::from_le_bytes(word)
    })
}

/// The HS256 check uid-gate uses, for a raw key and a raw tag (tests run Wycheproof's vectors
/// through it): the tag is encoded as a token carries it. A tag of any other length than 32
/// bytes is refused.
pub fn hs256_tag_matches(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let Ok(tag) = <&[u8; 32]>::try_from(tag) else {
        return false;
    };
    Hmac::<Sha256>::new_from_slice(key)
        .is_ok_and(|k| signature_matches(&k, message, &encoded_tag(tag)))
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

#[cfg(test)]
mod jwks_tests;
#[cfg(test)]
mod tests;
