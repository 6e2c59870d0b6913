//! Public keys from a JWKS (Better Auth's `/api/auth/jwks`), for the JWT plugin's default
//! EdDSA tokens and ES256/RS256 ones.
//!
//! Each key is found by its `kid` and pinned to the one algorithm its type allows: OKP
//! Ed25519 → EdDSA, EC P-256 → ES256, RSA → RS256. Symmetric (`oct`) keys are never taken
//! from a JWKS: HS256 secrets come only from `BETTER_AUTH_SECRET*`, so no token can make
//! uid-gate use a public key as an HMAC secret (algorithm confusion).
//!
//! Key sets are values here; fetching a JWKS URL is the host's job, on the schedule of
//! [`crate::refresh`], which hands each new set to [`crate::verify::Verifier::replace_jwks`].

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

    const RSA: &str = r#"{"kty":"RSA","e":"AQAB","kid":"rsa1","n":"zGuEYnjSmgp2XjePi9sV1vyqBWxUDWhl7LcJEIXQdXU9CGgNVWWNLaiAR4Z0A371w1MJvc-tBJWNVIFYfvv2YXIM3-b0O0AOOV8MCtgH3hZOtvJZPb3JIpGDkPmDtpLX2GHLy-4yUeJM6cn7csfZbk71CYlICQS7kTYGZ492ljS7xSYiqCVazKPSKu8EbY4R3_rUlceV082h7wB0sJ6tqZZrkd3KtQbilWf_EymyKzWY_kv5kskFc_zAF4sOntjfiSjLz6hhRYzb3IbMvHNloM-z5Wp2e7YsKL40tDESGLc3u6MKG2xQ84ND8ibtU7mYwgPqP3Ds9gljJDgMIxpEGQ"}"#;
    const P256: &str = r#"{"kty":"EC","crv":"P-256","kid":"es1","x":"HU7CCKd6dFUcLnJWKT73UTlPwKZ2qvU2wAOXprgROYQ","y":"O5QyKtsAyv6VII2Og1MsHQWerWxIK9_bJmca7GIaJ10"}"#;
    const P384: &str = r#"{"kty":"EC","crv":"P-384","kid":"es384","x":"kGTO_2rgrjEwp7fRSDd-s2WR0COL6Ambv93db4nFc_HJqRoUUnCWqxwfX5p11ML1","y":"0yDIMGLzmRR3OrGttiLNGi4iUYX7KO6fQDLfpzw2x2wnJbgNpjC40P4yBSzKHavd"}"#;
    const ED448: &str = r#"{"kty":"OKP","crv":"Ed448","kid":"ed448","x":"etFIAmiGIRWcIFpGjh0GFA24YLRXqgLsbDqlEJ6DGYihMMlZfXYu_Bsf0GfGdu6jYzyujK3uuHuA"}"#;

    #[test]
    fn each_key_type_has_one_algorithm_and_other_curves_are_skipped() {
        let json = format!(r#"{{"keys":[{ED},{RSA},{P256},{P384},{ED448}]}}"#);
        let k = JwksKeys::from_json(json.as_bytes()).expect("jwks");
        assert_eq!(k.len(), 3);
        assert!(!k.is_empty());
        assert_eq!(k.get("rsa1").map(|(a, _)| *a), Some(Algorithm::RS256));
        assert_eq!(k.get("es1").map(|(a, _)| *a), Some(Algorithm::ES256));
        assert!(k.get("es384").is_none(), "P-384 is not ES256");
        assert!(k.get("ed448").is_none(), "Ed448 is not EdDSA over Ed25519");
        assert_eq!(
            format!("{k:?}"),
            r#"JwksKeys { kids: ["ed1", "es1", "rsa1"] }"#
        );
        let empty = JwksKeys::empty();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        // A key whose declared alg disagrees with its type is skipped.
        let es384_claim = P256.replace(r#""kid":"es1""#, r#""kid":"es1","alg":"ES384""#);
        assert!(matches!(
            JwksKeys::from_json(format!(r#"{{"keys":[{es384_claim}]}}"#).as_bytes()),
            Err(JwksError::NoKeys)
        ));
    }

    #[test]
    fn a_parse_error_says_where_but_not_what() {
        match JwksKeys::from_json(br#"{"keys": [}"#) {
            Err(JwksError::Parse(msg)) => assert_eq!(msg, "Syntax error at line 1 column 11"),
            other => panic!("{other:?}"),
        }
    }
}
