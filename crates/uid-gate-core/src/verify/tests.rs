//! Unit tests of the verifier: signature, header and claim rules.

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
    Ok(Identity {
        user_id: id.into(),
        claims: vec![],
    })
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
    let new_token = mint::sign_claims(new, &json!({"uid": "a", "exp": NOW + 60})).expect("sign");
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

/// A header or payload too large for the stack buffers is decoded all the same, and one
/// just within them too.
#[test]
fn large_headers_and_payloads_are_decoded_whole() {
    for size in [
        200, 240, 250, 260, 300, 700, 1000, 1010, 1020, 1030, 1100, 3000,
    ] {
        let pad = "p".repeat(size);
        let payload = json!({"uid": "a", "exp": NOW + 60, "pad": pad}).to_string();
        assert_eq!(
            check(&raw(r#"{"alg":"HS256"}"#, &payload, SECRET)),
            uid("a"),
            "payload of {size}"
        );
        let header = json!({"alg": "HS256", "pad": pad}).to_string();
        let payload = json!({"uid": "a", "exp": NOW + 60}).to_string();
        assert_eq!(
            check(&raw(&header, &payload, SECRET)),
            uid("a"),
            "header of {size}"
        );
    }
}

/// The duplicate check covers every claim, past those it keeps on the stack.
#[test]
fn a_claim_repeated_after_many_is_refused() {
    let mut claims: Vec<String> = (0..20).map(|i| format!(r#""c{i}":{i}"#)).collect();
    claims.push(format!(r#""uid":"a","exp":{}"#, NOW + 60));
    let payload = format!("{{{}}}", claims.join(","));
    assert_eq!(
        check(&raw(r#"{"alg":"HS256"}"#, &payload, SECRET)),
        uid("a")
    );
    for repeated in [0, 11, 12, 13, 19] {
        let payload = format!("{{{},\"c{repeated}\":0}}", claims.join(","));
        assert_eq!(
            check(&raw(r#"{"alg":"HS256"}"#, &payload, SECRET)),
            Err(VerifyError::DuplicateClaim),
            "c{repeated} repeated"
        );
    }
}

/// A token given straight to `verify` needs two dots; one or none is a malformed header.
#[test]
fn a_token_without_two_dots_is_malformed() {
    for token in ["", "abc", "a.b", ".", "eyJhbGciOiJIUzI1NiJ9.e30"] {
        assert_eq!(check(token), Err(VerifyError::MalformedHeader), "{token:?}");
    }
}

/// The SIMD base64url decoder against the `base64` crate's strict one (no padding, no other
/// trailing bits, no other bytes): the same bytes or the same refusal, over every string of up
/// to two symbols, every string of three to five edge symbols, random longer strings, and
/// a part too large for the stack buffer.
#[test]
fn the_decoder_is_as_strict_as_the_base64_crate() {
    use base64::Engine as _;
    let strict = |b64: &[u8]| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .ok()
    };
    let ours = |b64: &[u8]| {
        let mut buf = [std::mem::MaybeUninit::uninit(); 64];
        decode_b64(b64, &mut buf).ok().map(Cow::into_owned)
    };
    let all: Vec<u8> =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. \0\xff".to_vec();
    let edge: &[u8] = b"AQgw_-9=+.\xff";
    let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
    for len in 1..=5 {
        let symbols = if len <= 2 { &all[..] } else { edge };
        let shorter: Vec<Vec<u8>> = strings
            .iter()
            .filter(|s| s.len() == len - 1)
            .cloned()
            .collect();
        for s in shorter {
            for &c in symbols {
                strings.push([s.as_slice(), &[c]].concat());
            }
        }
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 61) as usize;
        strings.push(
            (0..len)
                .map(|i| all[(x.rotate_left(i as u32 * 6) % 64) as usize])
                .collect(),
        );
        if x.is_multiple_of(8) && len > 0 {
            let at = (x as usize / 8) % len;
            strings.last_mut().expect("pushed")[at] = all[64 + (x as usize / 64) % 7];
        }
    }
    let large: Vec<u8> = b"Az-_".iter().copied().cycle().take(2000).collect();
    strings.push(large.clone());
    strings.push([&large[..1000], b"+", &large[1001..]].concat());
    for s in &strings {
        assert_eq!(ours(s), strict(s), "{:?}", String::from_utf8_lossy(s));
    }
    assert!(strings.len() > 150_000);
}
