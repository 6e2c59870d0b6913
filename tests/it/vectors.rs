//! Project Wycheproof vectors (tests/data/wycheproof) through uid-gate's own HS256 code.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use uid_gate::verify::{ClaimRules, Verifier, VerifyError, hs256_tag_matches};

use crate::helpers::repo_root;

fn load(name: &str) -> Value {
    let path = repo_root().join("tests/data/wycheproof").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file"))
        .expect("vector JSON")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn hmac_sha256_vectors() {
    let data = load("hmac_sha256_test.json");
    let mut checked = 0;
    for group in data["testGroups"].as_array().expect("groups") {
        let tag_bits = group["tagSize"].as_u64().expect("tagSize");
        for t in group["tests"].as_array().expect("tests") {
            let (key, msg, tag) = (
                hex(t["key"].as_str().expect("key")),
                hex(t["msg"].as_str().expect("msg")),
                hex(t["tag"].as_str().expect("tag")),
            );
            // A JWS HS256 tag is the full 256 bits: truncated tags (Wycheproof's 128-bit
            // groups, "valid" for a MAC with truncation) must be refused here.
            let want = t["result"] == "valid" && tag_bits == 256;
            assert_eq!(
                hs256_tag_matches(&key, &msg, &tag),
                want,
                "tcId {} ({}-bit tag, {})",
                t["tcId"],
                tag_bits,
                t["comment"]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, data["numberOfTests"].as_u64().expect("count"));
    assert_eq!(checked, 174);
}

#[test]
fn jws_hs256_vectors() {
    let data = load("jws_hs256_test.json");
    let key = URL_SAFE_NO_PAD
        .decode(data["key"]["k"].as_str().expect("k"))
        .expect("key bytes");
    let verifier = Verifier::new(
        &[key],
        ClaimRules {
            uid_claims: vec!["uid".into()],
            leeway_secs: 0,
            issuer: None,
            audiences: vec![],
        },
    );
    let tests = data["tests"].as_array().expect("tests");
    for t in tests {
        let jws = t["jws"].as_str().expect("jws");
        // The service's path: extraction (shape), then verification.
        let header = format!("Bearer {jws}");
        let outcome = uid_gate::extract::bearer_token(&[header.as_bytes()], 8192)
            .map_err(|e| format!("{e:?}"))
            .and_then(|token| verifier.verify_jws(token, 0).map_err(|e| format!("{e:?}")));
        // The payload is `foo`, not a claims object: a token whose signature verified fails
        // afterwards with MalformedClaims, and no other outcome means "signature accepted".
        let accepted = outcome == Err(format!("{:?}", VerifyError::MalformedClaims));
        assert_eq!(
            accepted,
            t["result"] == "valid",
            "tcId {} {}: {outcome:?}",
            t["tcId"],
            t["comment"]
        );
    }
    assert_eq!(tests.len(), 18);
}
