//! Verifier tests with real asymmetric signatures: each JWKS key type verifies its own
//! algorithm, key sets are replaced in place, and the HMAC helper agrees with RFC 4231.

use base64_simd::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::*;

const ED_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEIIdE4I2/fkizrFKqQlqQJb3PYBRx829gkWnpJKjLKRHN";
const ED_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"97Yhx7b2mtJNolyMWDLJiLqX0j0tCfq7MMiv3-mFbj0"}"#;
const P256_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdBN4PKx0qijPkWUy97VAh/CnLl0UcyXGjuGRyjrX2FehRANCAASgJsCR/bzDrViccUAoGyJKE78VgdhhKb+08W/RYwjF8w+ETXAhWJpjsFRdc96rVNh3YIzhozDic8e3g5OriaQZ";
const P256_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"es-1","x":"oCbAkf28w61YnHFAKBsiShO_FYHYYSm_tPFv0WMIxfM","y":"D4RNcCFYmmOwVF1z3qtU2HdgjOGjMOJzx7eDk6uJpBk"}"#;
const RSA_PKCS1: &str = "MIIEpAIBAAKCAQEAzGuEYnjSmgp2XjePi9sV1vyqBWxUDWhl7LcJEIXQdXU9CGgNVWWNLaiAR4Z0A371w1MJvc+tBJWNVIFYfvv2YXIM3+b0O0AOOV8MCtgH3hZOtvJZPb3JIpGDkPmDtpLX2GHLy+4yUeJM6cn7csfZbk71CYlICQS7kTYGZ492ljS7xSYiqCVazKPSKu8EbY4R3/rUlceV082h7wB0sJ6tqZZrkd3KtQbilWf/EymyKzWY/kv5kskFc/zAF4sOntjfiSjLz6hhRYzb3IbMvHNloM+z5Wp2e7YsKL40tDESGLc3u6MKG2xQ84ND8ibtU7mYwgPqP3Ds9gljJDgMIxpEGQIDAQABAoIBAAPv6TGVVqcRXwTDCLB+pH3KyYKHutm0QkxMHTBUh3aPrsB/8ovLxCuWNHxMLmVX12du7L/bZV9yevGe+SOe+jiXwAA6/Ea83dlEh6CY1xPztYnoAoiCJILWLyTGbX9BdkdMYOa5XH4/v8/77CwihcFOY4FOw9Sqousx0W9Cr9vGOOqz/ecUhJoodPn7JS+CE3KNh7NBf2ChHkWxTdOvRKUcghAIdVC8JbCb/2y8mAU+gGVep7LCkuPBE+CNqLO+XGVnw5+mnVcgicv1U/lSRMAQMJ830mwx7y1176vN2yLBq1pO/ouIYXVLnKgQuD/v6gFHnBM9QlwE8d1fpJ0qL6UCgYEA7qZFomxjphulC+ED8wFjGVWiUjcqqgN6TyzeF/lv24qU4MAMYoFD6b59JCFY1J/i7c+CPkXY1AU5LghF86mZrJFzXIdoMaqraIWUIfjJpR3ygUgUEHIecuC3sYkPq7wswE4aYakpXQwY1CBJW5OpLtoDYqrJ7DlFVl1AoAz4GlUCgYEA20gq9ltpWBJiRwlZNk2kae/om1vitljRsgRjQhlGLcQdccOQ8YSKDDTvAYhmfSPIX3VbPFtvU31Fi/Lebi56V16Ai6R7aLLJVNEq9hQuYHaBL0lvatnPBBb48qqkrrEnN+a+ybO7+6A24am71qy2h2BMG085Af/Iye/H6npDDrUCgYA4Bv0uJrg2VSMoaMlekaLMXdhf6OexRmO+ltAFXOAv8JcHNM8ziRmClOAYTWPndyn1ntP6/rbq/9buwa56iAS2COfGf1us3V6kiUe/ugLNKvy18VAUlFYlrjAyE/WD4ge3lh6Hcwls+NwTYQkX4NDFWRWWYnZJaSCoJ/h2GtVciQKBgQCJvCnoNoDT5jA+6HtV5a0JMb1MoIml+eI1TBZAtXlkU9Qe2jVXzuWbR0B9GP0vS2OXujJFljU2HvCpODNIx/7mlCBwFi/CEtLtaLjwerqqsqTwW9MVLZyfuAJFArSQWgwFS/W44iGIqxjt49xtumyoWe9UFA392Hl5hhhvir5GJQKBgQCtchaQXWC2fFZSXLHp43A67Byv0ZWd/nRkNT3rlQkSKdiNUiiyGpKSPgBJPg9X5Zb8ZzTuXphvs9pz5XJ9aZAVD8dhD8fLql7ow1XSQeL17bWjpcDkMCKYZ+9Mj6ZuPE2zykTpg1QwSOyVKE7l3NNvqULU+9FL0QGCSwDseOcNnQ==";
const RSA_JWK: &str = r#"{"kty":"RSA","e":"AQAB","kid":"rs-1","n":"zGuEYnjSmgp2XjePi9sV1vyqBWxUDWhl7LcJEIXQdXU9CGgNVWWNLaiAR4Z0A371w1MJvc-tBJWNVIFYfvv2YXIM3-b0O0AOOV8MCtgH3hZOtvJZPb3JIpGDkPmDtpLX2GHLy-4yUeJM6cn7csfZbk71CYlICQS7kTYGZ492ljS7xSYiqCVazKPSKu8EbY4R3_rUlceV082h7wB0sJ6tqZZrkd3KtQbilWf_EymyKzWY_kv5kskFc_zAF4sOntjfiSjLz6hhRYzb3IbMvHNloM-z5Wp2e7YsKL40tDESGLc3u6MKG2xQ84ND8ibtU7mYwgPqP3Ds9gljJDgMIxpEGQ"}"#;
const NOW: u64 = 1_800_000_000;

fn der(b64: &str) -> Vec<u8> {
    STANDARD.decode_to_vec(b64).expect("DER")
}

fn signed(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let claims = serde_json::json!({"sub": "alice", "exp": NOW + 60});
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

fn rules() -> ClaimRules {
    ClaimRules {
        uid_claims: vec!["uid".into(), "sub".into()],
        leeway_secs: 0,
        issuer: None,
        audiences: vec![],
    }
}

fn keys(jwks: &[&str]) -> crate::jwks::JwksKeys {
    crate::jwks::JwksKeys::from_json(format!(r#"{{"keys":[{}]}}"#, jwks.join(",")).as_bytes())
        .expect("jwks")
}

#[test]
fn each_jwks_key_type_verifies_its_own_algorithm() {
    let v = Verifier::new::<&[u8]>(&[], rules()).with_jwks(keys(&[ED_JWK, P256_JWK, RSA_JWK]));
    assert_eq!(v.jwks_key_count(), 3);
    let ed = signed(
        Algorithm::EdDSA,
        "ed-1",
        &EncodingKey::from_ed_der(&der(ED_PKCS8)),
    );
    let es = signed(
        Algorithm::ES256,
        "es-1",
        &EncodingKey::from_ec_der(&der(P256_PKCS8)),
    );
    let rs = signed(
        Algorithm::RS256,
        "rs-1",
        &EncodingKey::from_rsa_der(&der(RSA_PKCS1)),
    );
    for token in [&ed, &es, &rs] {
        assert_eq!(v.verify(token, NOW).map(|i| i.user_id), Ok("alice".into()));
    }
    // A key answers only to its own algorithm, whatever the header claims.
    let es_as_rs = signed(
        Algorithm::ES256,
        "rs-1",
        &EncodingKey::from_ec_der(&der(P256_PKCS8)),
    );
    assert_eq!(
        v.verify(&es_as_rs, NOW),
        Err(VerifyError::UnsupportedAlgorithm)
    );
}

#[test]
fn a_new_key_set_replaces_the_old_one_in_place() {
    let v = Verifier::new::<&[u8]>(&[], rules()).with_jwks(crate::jwks::JwksKeys::empty());
    assert_eq!(v.jwks_key_count(), 0);
    let ed = signed(
        Algorithm::EdDSA,
        "ed-1",
        &EncodingKey::from_ed_der(&der(ED_PKCS8)),
    );
    assert_eq!(v.verify(&ed, NOW), Err(VerifyError::UnknownKey));
    v.replace_jwks(keys(&[ED_JWK, RSA_JWK]));
    assert_eq!(v.jwks_key_count(), 2);
    assert_eq!(v.verify(&ed, NOW).map(|i| i.user_id), Ok("alice".into()));
    // Without a JWKS source, nothing counts and nothing is replaced.
    let hs_only = Verifier::new(&[b"0123456789abcdef0123456789abcdef"], rules());
    hs_only.replace_jwks(keys(&[ED_JWK]));
    assert_eq!(hs_only.jwks_key_count(), 0);
    assert_eq!(
        hs_only.verify(&ed, NOW),
        Err(VerifyError::UnsupportedAlgorithm)
    );
}

#[test]
fn debug_shows_the_rules_but_not_the_keys() {
    let v = Verifier::new(&[b"0123456789abcdef0123456789abcdef"], rules());
    let dbg = format!("{v:?}");
    assert!(dbg.starts_with("Verifier {"), "{dbg}");
    assert!(
        dbg.contains("[1 redacted]") && dbg.contains("uid_claims"),
        "{dbg}"
    );
    assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
}

/// RFC 4231, test case 2.
#[test]
fn the_hmac_helper_agrees_with_rfc_4231() {
    let tag = [
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75,
        0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec,
        0x38, 0x43,
    ];
    assert!(hs256_tag_matches(
        b"Jefe",
        b"what do ya want for nothing?",
        &tag
    ));
    assert!(!hs256_tag_matches(
        b"Jefe",
        b"what do ya want for nothing!",
        &tag
    ));
    assert!(!hs256_tag_matches(
        b"Jefe",
        b"what do ya want for nothing?",
        &tag[..16]
    ));
}

/// The word-wise constant-time comparison against hmac's own `verify_slice`: the right tag,
/// and the right tag with any one bit of any byte flipped (a word compared wrongly, or a
/// byte left out, lets one through).
#[test]
fn the_tag_comparison_agrees_with_hmacs_own() {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    let (key, message) = (b"a key of any length", b"header.payload");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    mac.update(message);
    let right: [u8; 32] = mac.clone().finalize().into_bytes().into();
    let own = |tag: &[u8]| mac.clone().verify_slice(tag).is_ok();
    assert!(hs256_tag_matches(key, message, &right) && own(&right));
    for byte in 0..32 {
        for bit in 0..8 {
            let mut tag = right;
            tag[byte] ^= 1 << bit;
            assert_eq!(
                hs256_tag_matches(key, message, &tag),
                own(&tag),
                "byte {byte} bit {bit}"
            );
            assert!(
                !hs256_tag_matches(key, message, &tag),
                "byte {byte} bit {bit}"
            );
        }
    }
}

/// The signature is compared as its 43 characters: the right one passes, and every other
/// spelling fails, one character replaced by any other base64url character (the last
/// character's non-canonical spellings among them, which decode to the same tag) or by a byte
/// outside the alphabet, through the verifier as a request's token goes.
#[test]
fn every_other_spelling_of_the_signature_fails() {
    let secret = b"0123456789abcdef0123456789abcdef";
    let verifier = Verifier::new(&[secret], rules());
    let claims = serde_json::json!({"sub": "alice", "exp": NOW + 60});
    let token = crate::mint::sign_claims(secret, &claims).expect("sign");
    assert!(verifier.verify(&token, NOW).is_ok());
    let (message, signature) = token.rsplit_once('.').expect("a JWS");
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut tried = 0;
    for at in 0..signature.len() {
        for other in alphabet.bytes().chain(*b"+/=.\0 \xff") {
            let mut forged = signature.as_bytes().to_vec();
            if forged[at] == other {
                continue;
            }
            forged[at] = other;
            let forged = format!("{message}.{}", String::from_utf8_lossy(&forged));
            let got = verifier.verify(&forged, NOW).map(|i| i.user_id);
            assert_eq!(got, Err(VerifyError::BadSignature), "{at}: {other:#x}");
            tried += 1;
        }
    }
    assert_eq!(tried, 43 * 70);
}
