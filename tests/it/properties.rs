//! Property tests: the fuzzing that runs in CI (`cargo fuzz` needs a nightly toolchain, which
//! these machines do not have). Each property first runs the seed corpus in
//! tests/data/corpus, then random and mutated inputs; `PROPTEST_CASES` raises the count.
//!
//! Properties, checked against independent oracles (jsonwebtoken's own HS256 verification,
//! and a plain split-and-decode of the path as a backend would do it):
//! 1. no input makes the decision panic;
//! 2. no request is allowed with a token that is not validly signed by the secret;
//! 3. no user-scoped path is allowed for a token whose user differs from the decoded segment.

use jsonwebtoken::{Algorithm, DecodingKey};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};
use serde_json::json;
use uid_gate::decision::{Allow, Authorizer, Decision, RequestView};
use uid_gate::path_policy::{PathPolicy, PathTemplate, PublicPrefix};
use uid_gate::verify::{ClaimRules, Verifier};

use crate::helpers::repo_root;

const SECRET: &[u8] = b"property-secret-property-secret-0123";
const OTHER: &[u8] = b"another-secret-another-secret-012345";
const NOW: u64 = 1_800_000_000;

fn gate() -> Authorizer {
    let verifier = Verifier::new(
        &[SECRET],
        ClaimRules {
            uid_claims: vec!["uid".into(), "sub".into()],
            leeway_secs: 30,
            issuer: None,
            audiences: vec![],
        },
    );
    let paths = PathPolicy::new(
        vec![PathTemplate::parse("/api/{user_id}").expect("template")],
        vec![PublicPrefix::parse("/pub").expect("prefix")],
    );
    Authorizer::new(verifier, paths, 8192)
}

fn corpus(name: &str) -> Vec<String> {
    std::fs::read_to_string(repo_root().join("tests/data/corpus").join(name))
        .expect("corpus file")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn sign(key: &[u8], uid: &str, exp: u64) -> String {
    uid_gate::mint::sign_claims(key, &json!({"uid": uid, "exp": exp})).expect("sign")
}

/// Oracle 1: jsonwebtoken's HS256 check of the token's signature under the secret.
fn signed_by_secret(token: &str) -> bool {
    let Some((message, signature)) = token.rsplit_once('.') else {
        return false;
    };
    jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        &DecodingKey::from_secret(SECRET),
        Algorithm::HS256,
    )
    .unwrap_or(false)
}

/// Oracle 2: the user segment as a backend routing `/api/{user_id}` would read it: the query
/// dropped, the path split on `/`, the segment percent-decoded.
fn backend_user_segment(target: &str) -> Option<Vec<u8>> {
    let path = target.split('?').next().unwrap_or_default();
    let mut parts = path.split('/');
    if parts.next() != Some("") || parts.next() != Some("api") {
        return None;
    }
    let seg = parts.next().filter(|s| !s.is_empty())?;
    let bytes = seg.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let h = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = h {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(out)
}

/// Runs one request and checks the three properties.
fn check(gate: &Authorizer, path: &str, auth: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let values: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
    let decision = gate.decide(
        &RequestView {
            path,
            authorization: &values,
        },
        NOW,
    );
    let token = || {
        uid_gate::extract::bearer_token(&values, 8192)
            .ok()
            .map(str::to_owned)
    };
    match decision {
        Decision::Deny(_) => {}
        Decision::Allow(Allow::Public) => {
            prop_assert!(
                path.starts_with("/pub/") || path == "/pub" || path.starts_with("/pub?"),
                "public allow for {path:?}"
            );
        }
        Decision::Allow(Allow::Owner { user_id }) => {
            let token = token();
            prop_assert!(
                token.as_deref().is_some_and(signed_by_secret),
                "owner allow with an unsigned token {token:?}"
            );
            prop_assert_eq!(
                backend_user_segment(path),
                Some(user_id.clone().into_bytes()),
                "path {:?} allowed for {:?}",
                path,
                user_id
            );
        }
        Decision::Allow(Allow::Authenticated { user_id }) => {
            let token = token();
            prop_assert!(
                token.as_deref().is_some_and(signed_by_secret),
                "allow with an unsigned token {token:?}"
            );
            prop_assert!(
                backend_user_segment(path).is_none(),
                "user-scoped path {path:?} allowed as authentication-only for {user_id:?}"
            );
        }
    }
    Ok(())
}

fn bearer(token: &str) -> Vec<Vec<u8>> {
    vec![format!("Bearer {token}").into_bytes()]
}

/// Pieces that paths and user ids are built from: the characters and encodings attackers use.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "alice", "bob", "Alice", "a", "1", "%61", "%41", "%2F", "%2f", "%5C", "%2e", "%2E", "..",
        ".", "%", "%4", "%zz", "é", "%C3%A9", ";", "\\", "#", "?", "x=1", "&", "ａ", "%00", " ",
        "\t", "",
    ])
}

fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..4).prop_map(|p| p.concat())
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        (segment(), prop::collection::vec(segment(), 0..3))
            .prop_map(|(user, rest)| format!("/api/{user}/{}", rest.join("/"))),
        (segment(), segment()).prop_map(|(user, q)| format!("/api/{user}?{q}")),
        prop::collection::vec(segment(), 0..5).prop_map(|segs| format!("/{}", segs.join("/"))),
        segment().prop_map(|s| format!("/pub/{s}")),
        ".{0,40}",
    ]
}

/// Tokens: valid ones for some user, ones signed with another key, and mutations of valid ones.
fn auth_for(uid: String) -> impl Strategy<Value = Vec<Vec<u8>>> {
    let good = sign(SECRET, &uid, NOW + 600);
    let other_key = sign(OTHER, &uid, NOW + 600);
    let expired = sign(SECRET, &uid, NOW - 600);
    let g = good.clone();
    prop_oneof![
        3 => Just(bearer(&good)),
        1 => Just(bearer(&other_key)),
        1 => Just(bearer(&expired)),
        // One character of the valid token replaced.
        3 => (0..g.len(), prop::sample::select(b"ABCabc012-_.=+/ ".to_vec())).prop_map(move |(i, c)| {
            let mut t = g.clone().into_bytes();
            t[i] = c;
            let mut v = b"Bearer ".to_vec();
            v.extend_from_slice(&t);
            vec![v]
        }),
        // The valid token plus another credential.
        1 => Just(vec![format!("Bearer {good}").into_bytes(), b"Bearer a.b.c".to_vec()]),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| vec![b]),
        1 => Just(Vec::new()),
    ]
}

fn config() -> ProptestConfig {
    // Bounded for CI; raise with PROPTEST_CASES for a longer run.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(3000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

#[test]
fn the_seed_corpus_keeps_all_properties() {
    let gate = gate();
    let tokens: Vec<Vec<Vec<u8>>> = corpus("tokens.txt")
        .iter()
        .map(|t| bearer(t))
        .chain([
            bearer(&sign(SECRET, "alice", NOW + 600)),
            bearer(&sign(SECRET, "bob", NOW + 600)),
            Vec::new(),
        ])
        .collect();
    for path in corpus("paths.txt") {
        for auth in &tokens {
            check(&gate, &path, auth).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_input_never_panics(path in ".{0,300}", auth in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..3)) {
        let values: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
        let _ = gate().decide(&RequestView { path: &path, authorization: &values }, NOW);
    }

    #[test]
    fn never_allows_unsigned_tokens_or_foreign_paths((path, auth) in (segment(), path()).prop_flat_map(|(uid, path)| (Just(path), auth_for(if uid.is_empty() { "u".into() } else { uid })))) {
        check(&gate(), &path, &auth)?;
    }

    #[test]
    fn tokens_only_open_their_own_user_path(uid in segment(), user_seg in segment(), rest in segment()) {
        let uid = if uid.is_empty() { "u".to_owned() } else { uid };
        let path = format!("/api/{user_seg}/{rest}");
        check(&gate(), &path, &bearer(&sign(SECRET, &uid, NOW + 600)))?;
    }
}
