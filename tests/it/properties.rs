//! Property tests: the fuzzing that runs in CI (`cargo fuzz` needs a nightly toolchain, which
//! these machines do not have). Each property first runs the seed corpus in
//! tests/data/corpus, then random and mutated inputs; `PROPTEST_CASES` raises the count.
//!
//! Properties, checked against independent oracles (jsonwebtoken's own HS256 verification,
//! the token and its claims decoded by hand, and the ways a backend may read a path), never
//! against what the decision reports:
//! 1. no input makes the decision panic;
//! 2. no request is allowed with a token that is not validly signed by the secret;
//! 3. no user-scoped path is allowed for a token whose user differs from the decoded segment.

use jsonwebtoken::{Algorithm, DecodingKey};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};
use serde_json::json;
use uid_gate::decision::{Allow, Authorizer, Decision, RequestView};
use uid_gate_core::config::Settings;

use crate::helpers::repo_root;

const SECRET: &[u8] = b"property-secret-property-secret-0123";
const OTHER: &[u8] = b"another-secret-another-secret-012345";
const NOW: u64 = 1_800_000_000;

/// The most permissive policy, built from the variables as every host builds it: the
/// properties must hold even where unlisted paths pass.
fn gate() -> Authorizer {
    let secret = std::str::from_utf8(SECRET).expect("utf8");
    let vars = [
        ("BETTER_AUTH_SECRET", secret),
        ("UIDGATE_PUBLIC_PATHS", "/pub"),
        ("UIDGATE_UNLISTED_PATHS", "authenticated"),
    ];
    Settings::from_vars(vars.map(|(k, v)| (k.to_owned(), v.to_owned())))
        .expect("settings")
        .authorizer()
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

/// Oracle 2: the token as a client sent it, found without uid-gate's extractor: one value
/// (or the same value repeated), `Bearer` in any case, one space, the rest.
fn sent_token(values: &[Vec<u8>]) -> Option<String> {
    let first = values.first()?;
    if values.iter().any(|v| v != first) {
        return None;
    }
    let text = std::str::from_utf8(first).ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.to_owned())
}

/// Oracle 3: the token's user, decoded with base64 and serde_json, not uid-gate's parser:
/// `uid` if present, else `sub`; a string, or an integer in decimal.
fn token_user(token: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let value = claims.get("uid").or_else(|| claims.get("sub"))?;
    match value {
        serde_json::Value::String(s) => Some(s.clone().into_bytes()),
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => {
            Some(n.to_string().into_bytes())
        }
        _ => None,
    }
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
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
    out
}

/// Oracle 4: the ways a backend may read a request target, each as decoded segments after
/// resolving dot segments and merging slashes: the raw path or the path percent-decoded
/// first; backslashes kept or read as slashes; `;` parameters kept or stripped.
fn backend_views(target: &str) -> Vec<Vec<Vec<u8>>> {
    let path = target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .as_bytes();
    let mut views = Vec::new();
    for decode_first in [false, true] {
        let base = if decode_first {
            percent_decode(path)
        } else {
            path.to_vec()
        };
        for backslash_is_slash in [false, true] {
            for strip_params in [false, true] {
                let p: Vec<u8> = base
                    .iter()
                    .map(|&b| {
                        if backslash_is_slash && b == b'\\' {
                            b'/'
                        } else {
                            b
                        }
                    })
                    .collect();
                let mut segs: Vec<Vec<u8>> = Vec::new();
                for seg in p.split(|&b| b == b'/') {
                    let seg = match (strip_params, seg.iter().position(|&b| b == b';')) {
                        (true, Some(i)) => &seg[..i],
                        _ => seg,
                    };
                    let seg = if decode_first {
                        seg.to_vec()
                    } else {
                        percent_decode(seg)
                    };
                    match seg.as_slice() {
                        b"" | b"." => {}
                        b".." => {
                            segs.pop();
                        }
                        _ => segs.push(seg),
                    }
                }
                views.push(segs);
            }
        }
    }
    views
}

/// Runs one request and checks the properties against the oracles, never against what the
/// decision itself reports.
fn check(gate: &Authorizer, path: &str, auth: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let values: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
    let decision = gate.decide(
        &RequestView {
            path,
            authorization: &values,
            content_type: None,
            method: None,
        },
        NOW,
    );
    match decision {
        Decision::Deny(_) => {}
        Decision::Allow(Allow::Member { .. } | Allow::Admin { .. }) => {
            prop_assert!(
                false,
                "no scope binding or admin role is configured: {path:?}"
            );
        }
        Decision::Allow(Allow::Public) => {
            for view in backend_views(path) {
                prop_assert!(
                    view.first().is_some_and(|s| s == b"pub"),
                    "public allow for {path:?}, which a backend may read as {view:?}"
                );
            }
        }
        Decision::Allow(
            Allow::Owner { user_id }
            | Allow::Authenticated { user_id }
            | Allow::Unlisted { user_id },
        ) => {
            let token = sent_token(auth);
            prop_assert!(
                token.as_deref().is_some_and(signed_by_secret),
                "allow with a token not signed by the secret: {token:?}"
            );
            let uid = token.as_deref().and_then(token_user);
            prop_assert!(
                uid.is_some(),
                "allow for a token with no usable user: {token:?}"
            );
            let uid = uid.unwrap_or_default();
            prop_assert_eq!(
                user_id.as_bytes(),
                uid.as_slice(),
                "reported user differs from the token's"
            );
            for view in backend_views(path) {
                if let [api, user, ..] = view.as_slice()
                    && api == b"api"
                {
                    prop_assert_eq!(
                        user,
                        &uid,
                        "path {:?} (read as {:?}) allowed for the token of {:?}",
                        path,
                        view,
                        String::from_utf8_lossy(&uid)
                    );
                }
            }
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
        let _ = gate().decide(&RequestView { path: &path, authorization: &values, content_type: None, method: None }, NOW);
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
