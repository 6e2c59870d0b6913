//! Public keys from a JWKS (Better Auth's `/api/auth/jwks`), for the JWT plugin's default
//! EdDSA tokens and ES256/RS256 ones.
//!
//! Each key is found by its `kid` and pinned to the one algorithm its type allows: OKP
//! Ed25519 → EdDSA, EC P-256 → ES256, RSA → RS256. Symmetric (`oct`) keys are never taken
//! from a JWKS: HS256 secrets come only from `BETTER_AUTH_SECRET*`, so no token can make
//! uid-gate use a public key as an HMAC secret (algorithm confusion).
//!
//! Key sets are values here; fetching a JWKS URL is the host's job (the server refreshes it
//! in the background and hands each new set to [`crate::verify::Verifier::replace_jwks`]).

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Why a JWKS was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("not a JWKS document ({0})")]
    Parse(String),
    #[error("no usable key (each needs a kid and an Ed25519, P-256 or RSA public key)")]
    NoKeys,
}

/// The usable keys of a JWKS, by `kid`.
pub struct JwksKeys {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("JwksKeys").field("kids", &kids).finish()
    }
}

impl JwksKeys {
    /// Parses a JWKS. Keys without a `kid`, of other types, or whose `alg` disagrees with
    /// their type are skipped; a JWKS with no usable key is an error.
    pub fn from_json(json: &[u8]) -> Result<Self, JwksError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| JwksError::Parse(describe(&e)))?;
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = pinned_algorithm(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, (alg, key)))
            })
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoKeys);
        }
        Ok(Self { keys })
    }

    /// The key for `kid` and the only algorithm it verifies.
    pub fn get(&self, kid: &str) -> Option<&(Algorithm, DecodingKey)> {
        self.keys.get(kid)
    }

    /// How many keys are usable.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// A set with no keys: every asymmetric token is refused until a fetch succeeds.
    pub fn empty() -> Self {
        Self {
            keys: HashMap::new(),
        }
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The error category and position only: a JWKS is public, but errors stay short.
fn describe(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

fn pinned_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let (alg, declared) = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        _ => return None,
    };
    match &jwk.common.key_algorithm {
        Some(a) if *a != declared => None,
        _ => Some(alg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = r#"{"kty":"OKP","crv":"Ed25519","x":"45R2ooWAQjb6w8LQ5JH3jZYW7ZAfRtslhI1goF1brM8","kid":"ed1","alg":"EdDSA"}"#;

    #[test]
    fn keys_are_pinned_to_their_type() {
        let k = JwksKeys::from_json(format!(r#"{{"keys":[{ED}]}}"#).as_bytes()).expect("jwks");
        assert_eq!(k.len(), 1);
        assert_eq!(k.get("ed1").map(|(a, _)| *a), Some(Algorithm::EdDSA));
        assert!(k.get("other").is_none());
    }

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_set_refused() {
        let no_kid =
            r#"{"kty":"OKP","crv":"Ed25519","x":"45R2ooWAQjb6w8LQ5JH3jZYW7ZAfRtslhI1goF1brM8"}"#;
        let oct = r#"{"kty":"oct","k":"c2VjcmV0","kid":"hs","alg":"HS256"}"#;
        let lying = ED
            .replace(r#""alg":"EdDSA""#, r#""alg":"RS256""#)
            .replace("ed1", "liar");
        let k =
            JwksKeys::from_json(format!(r#"{{"keys":[{no_kid},{oct},{lying},{ED}]}}"#).as_bytes())
                .expect("jwks");
        assert_eq!(k.len(), 1);
        assert!(k.get("hs").is_none() && k.get("liar").is_none());
        assert!(matches!(
            JwksKeys::from_json(format!(r#"{{"keys":[{oct}]}}"#).as_bytes()),
            Err(JwksError::NoKeys)
        ));
        assert!(matches!(
            JwksKeys::from_json(b"nope"),
            Err(JwksError::Parse(_))
        ));
    }
}
