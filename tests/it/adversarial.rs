//! The adversarial catalogue (shared/notes/security-catalogue.md, section 6), case by case.
//! IDs are the catalogue's. Every case goes through the gRPC API; the path cases also go
//! through a real Envoy with the hardened envoy/envoy.yaml. Policy choices are in the README's
//! decision table.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::helpers::*;

const A: &str = "user_A";

fn claims_exp() -> u64 {
    now() + 600
}

/// A token with an arbitrary header and payload (JSON text), MACed with `key`.
fn raw(header: &str, payload: &str, key: &[u8]) -> String {
    raw_token(header, payload, key)
}

fn std_payload() -> String {
    format!(r#"{{"uid":"{A}","exp":{}}}"#, claims_exp())
}

/// (catalogue id, authorization values, path, expected HTTP status, expected reason or "").
type Case = (&'static str, Vec<Vec<u8>>, String, i32, &'static str);

fn b(v: &str) -> Vec<Vec<u8>> {
    vec![format!("Bearer {v}").into_bytes()]
}

fn cases() -> Vec<Case> {
    let key = SECRET.as_bytes();
    let good = token_for(A);
    let own = "/api/user_A/tasks".to_owned();
    let h = r#"{"alg":"HS256","typ":"JWT"}"#;
    let p = std_payload();
    let (msg, sig) = good.rsplit_once('.').expect("parts");
    let with_sig = |s: &str| format!("{msg}.{s}");
    let flip_last = {
        let last = sig.chars().last().expect("sig");
        // Same 6-bit prefix, different low bits: decodes to the same bytes only if lenient.
        let alt = if last == 'A' { 'B' } else { 'A' };
        with_sig(&format!("{}{alt}", &sig[..sig.len() - 1]))
    };
    let deep = format!(
        "{{\"alg\":\"HS256\",\"x\":{}{}}}",
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let huge_claim = format!(
        r#"{{"uid":"{A}","exp":{},"pad":"{}"}}"#,
        claims_exp(),
        "x".repeat(9000)
    );
    let n = now();
    vec![
        (
            "A1 no authorization header",
            vec![],
            own.clone(),
            401,
            "missing_token",
        ),
        (
            "A2 Bearer without token",
            vec![b"Bearer".to_vec()],
            own.clone(),
            401,
            "empty_token",
        ),
        (
            "A2 Bearer and a space",
            vec![b"Bearer ".to_vec()],
            own.clone(),
            401,
            "empty_token",
        ),
        (
            "A3 Basic scheme",
            vec![b"Basic dXNlcjpwYXNz".to_vec()],
            own.clone(),
            401,
            "wrong_scheme",
        ),
        (
            "A4 lower-case scheme",
            vec![format!("bearer {good}").into_bytes()],
            own.clone(),
            200,
            "owner",
        ),
        (
            "A5 two spaces",
            vec![format!("Bearer  {good}").into_bytes()],
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "A5 tab",
            vec![format!("Bearer\t{good}").into_bytes()],
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "A6 trailing space",
            vec![format!("Bearer {good} ").into_bytes()],
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "A6 trailing newline",
            vec![format!("Bearer {good}\n").into_bytes()],
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "A6 trailing NUL",
            vec![format!("Bearer {good}\0").into_bytes()],
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "A7 two values, merged",
            vec![format!("Bearer {},Bearer {good}", token_for("user_B")).into_bytes()],
            own.clone(),
            401,
            "multiple_credentials",
        ),
        (
            "A7 two values, raw",
            vec![b(&token_for("user_B"))[0].clone(), b(&good)[0].clone()],
            own.clone(),
            401,
            "multiple_credentials",
        ),
        (
            "A8 token only in the query",
            vec![],
            format!("{own}?access_token={good}"),
            401,
            "missing_token",
        ),
        (
            "A10 100 KB token",
            b(&format!(
                "{}.{}.{}",
                "a".repeat(50_000),
                "b".repeat(50_000),
                "c"
            )),
            own.clone(),
            401,
            "token_too_large",
        ),
        (
            "A11 standard base64 and padding",
            b(&format!("{good}==")),
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "A11 JSON instead of base64",
            b(r#"{"alg":"HS256"}.{"uid":"user_A"}.sig"#),
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "A12 JWS JSON serialization",
            b(
                r#"{"payload":"Zm9v","signatures":[{"protected":"eyJhbGciOiJIUzI1NiJ9","signature":"TD37"}]}"#,
            ),
            own.clone(),
            401,
            "",
        ),
        (
            "B13 alg none, empty signature",
            b(&format!(
                "{}.",
                raw(r#"{"alg":"none"}"#, &p, key)
                    .rsplit_once('.')
                    .expect("parts")
                    .0
            )),
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "B13 alg none, junk signature",
            b(&raw(r#"{"alg":"none"}"#, &p, key)),
            own.clone(),
            401,
            "unsupported_alg",
        ),
        (
            "B14 alg nOnE",
            b(&raw(r#"{"alg":"nOnE"}"#, &p, key)),
            own.clone(),
            401,
            "unsupported_alg",
        ),
        (
            "B15 alg hs256 (lower case)",
            b(&raw(r#"{"alg":"hs256"}"#, &p, key)),
            own.clone(),
            401,
            "unsupported_alg",
        ),
        (
            "B16 alg HS512",
            b(&raw(r#"{"alg":"HS512"}"#, &p, key)),
            own.clone(),
            401,
            "unsupported_alg",
        ),
        (
            "B16 alg HS384",
            b(&raw(r#"{"alg":"HS384"}"#, &p, key)),
            own.clone(),
            401,
            "unsupported_alg",
        ),
        (
            "B17 alg RS256 (key confusion)",
            b(&raw(r#"{"alg":"RS256"}"#, &p, key)),
            own.clone(),
            401,
            "unsupported_alg",
        ),
        (
            "B17 alg EdDSA",
            b(&raw(r#"{"alg":"EdDSA"}"#, &p, key)),
            own.clone(),
            401,
            "unsupported_alg",
        ),
        (
            "B18 no alg",
            b(&raw(r#"{"typ":"JWT"}"#, &p, key)),
            own.clone(),
            401,
            "malformed_header",
        ),
        (
            "B19 duplicate alg",
            b(&raw(r#"{"alg":"HS256","alg":"none"}"#, &p, key)),
            own.clone(),
            401,
            "malformed_header",
        ),
        (
            "B20 crit",
            b(&raw(
                r#"{"alg":"HS256","crit":["x-foo"],"x-foo":1}"#,
                &p,
                key,
            )),
            own.clone(),
            401,
            "crit_header",
        ),
        (
            "B21 crit b64:false",
            b(&raw(
                r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
                &p,
                key,
            )),
            own.clone(),
            401,
            "crit_header",
        ),
        (
            "B22 embedded jwk",
            b(&raw(
                r#"{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}"#,
                &p,
                key,
            )),
            own.clone(),
            401,
            "external_key",
        ),
        (
            "B22 jku",
            b(&raw(
                r#"{"alg":"HS256","jku":"https://evil/jwks"}"#,
                &p,
                key,
            )),
            own.clone(),
            401,
            "external_key",
        ),
        (
            "B22 x5u",
            b(&raw(
                r#"{"alg":"HS256","x5u":"https://evil/cert"}"#,
                &p,
                key,
            )),
            own.clone(),
            401,
            "external_key",
        ),
        (
            "B23 kid traversal, empty key",
            b(&raw(
                r#"{"alg":"HS256","kid":"../../../../dev/null"}"#,
                &p,
                b"",
            )),
            own.clone(),
            401,
            "bad_signature",
        ),
        (
            "B24 kid is ignored (numeric)",
            b(&raw(r#"{"alg":"HS256","kid":5}"#, &p, key)),
            own.clone(),
            200,
            "owner",
        ),
        (
            "B24 header is an array",
            b(&raw(r#"["HS256"]"#, &p, key)),
            own.clone(),
            401,
            "malformed_header",
        ),
        // Unknown header parameters are ignored (RFC 7515 §4), however deep; the size cap
        // bounds the parsing cost, and this one is validly signed.
        (
            "B24 unknown header parameter nested 2000 deep",
            b(&raw(&deep, &p, key)),
            own.clone(),
            200,
            "owner",
        ),
        (
            "B24 nested 2000 deep, wrong key",
            b(&raw(&deep, &p, b"not-the-secret")),
            own.clone(),
            401,
            "bad_signature",
        ),
        (
            "B25 typ at+jwt",
            b(&raw(r#"{"alg":"HS256","typ":"at+jwt"}"#, &p, key)),
            own.clone(),
            401,
            "wrong_typ",
        ),
        (
            "C26 empty signature",
            b(&with_sig("")),
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "C27 signature stripped",
            b(msg),
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "C28 extra component",
            b(&format!("{good}.x")),
            own.clone(),
            401,
            "malformed_token",
        ),
        (
            "C29 non-canonical last character",
            b(&flip_last),
            own.clone(),
            401,
            "bad_signature",
        ),
        (
            "C30 another key",
            b(&raw(h, &p, b"secret")),
            own.clone(),
            401,
            "bad_signature",
        ),
        (
            "C31 truncated 128-bit tag",
            b(&with_sig(&sig[..22])),
            own.clone(),
            401,
            "bad_signature",
        ),
        (
            "C32 payload swapped",
            b(&format!(
                "{}.{}.{sig}",
                msg.split('.').next().expect("h"),
                URL_SAFE_NO_PAD.encode(format!(r#"{{"uid":"user_B","exp":{}}}"#, claims_exp()))
            )),
            own.clone(),
            401,
            "bad_signature",
        ),
        (
            "D34 no exp",
            b(&token(json!({"uid": A}))),
            own.clone(),
            401,
            "missing_exp",
        ),
        (
            "D35 expired 2 min ago",
            b(&token(json!({"uid": A, "exp": n - 120}))),
            own.clone(),
            401,
            "expired",
        ),
        (
            "D36 expired 30 s ago (leeway 30 s)",
            b(&token(json!({"uid": A, "exp": n - 30}))),
            own.clone(),
            401,
            "expired",
        ),
        (
            "D36 expired 20 s ago, within leeway",
            b(&token(json!({"uid": A, "exp": n - 20}))),
            own.clone(),
            200,
            "owner",
        ),
        (
            "D37 exp as a string",
            b(&token(json!({"uid": A, "exp": (n + 600).to_string()}))),
            own.clone(),
            401,
            "bad_time_claim",
        ),
        (
            "D38 exp as a float",
            b(&raw(
                h,
                &format!(r#"{{"uid":"{A}","exp":{}.5}}"#, n + 600),
                key,
            )),
            own.clone(),
            401,
            "bad_time_claim",
        ),
        (
            "D39 exp negative",
            b(&token(json!({"uid": A, "exp": -1}))),
            own.clone(),
            401,
            "bad_time_claim",
        ),
        (
            "D39 exp null",
            b(&token(json!({"uid": A, "exp": null}))),
            own.clone(),
            401,
            "bad_time_claim",
        ),
        (
            "D39 exp 1e30",
            b(&raw(h, &format!(r#"{{"uid":"{A}","exp":1e30}}"#), key)),
            own.clone(),
            401,
            "bad_time_claim",
        ),
        (
            "D40 exp u64::MAX (no lifetime cap)",
            b(&token(json!({"uid": A, "exp": u64::MAX}))),
            own.clone(),
            200,
            "owner",
        ),
        (
            "D41 nbf far in the future",
            b(&token(
                json!({"uid": A, "exp": n + 600, "nbf": n + 100_000}),
            )),
            own.clone(),
            401,
            "not_yet_valid",
        ),
        (
            "D42 iat far in the future",
            b(&token(
                json!({"uid": A, "exp": n + 600, "iat": n + 100_000}),
            )),
            own.clone(),
            401,
            "issued_in_future",
        ),
        (
            "D43 aud present, none configured",
            b(&token(
                json!({"uid": A, "exp": n + 600, "aud": "https://app"}),
            )),
            own.clone(),
            200,
            "owner",
        ),
        (
            "E46 no uid",
            b(&token(json!({"exp": n + 600}))),
            own.clone(),
            401,
            "missing_user_id",
        ),
        (
            "E47 numeric uid",
            b(&token(json!({"uid": 123, "exp": n + 600}))),
            "/api/123/tasks".into(),
            200,
            "owner",
        ),
        (
            "E48 uid null",
            b(&token(json!({"uid": null, "exp": n + 600}))),
            own.clone(),
            401,
            "invalid_user_id",
        ),
        (
            "E48 uid array",
            b(&token(json!({"uid": [A], "exp": n + 600}))),
            own.clone(),
            401,
            "invalid_user_id",
        ),
        (
            "E48 uid object",
            b(&token(json!({"uid": {"id": A}, "exp": n + 600}))),
            own.clone(),
            401,
            "invalid_user_id",
        ),
        (
            "E49 uid empty",
            b(&token(json!({"uid": "", "exp": n + 600}))),
            own.clone(),
            401,
            "invalid_user_id",
        ),
        (
            "E50 duplicate uid",
            b(&raw(
                h,
                &format!(r#"{{"uid":"attacker","uid":"{A}","exp":{}}}"#, n + 600),
                key,
            )),
            own.clone(),
            401,
            "duplicate_claim",
        ),
        (
            "E51 duplicate exp",
            b(&raw(
                h,
                &format!(r#"{{"uid":"{A}","exp":{},"exp":{}}}"#, n + 600, n - 600),
                key,
            )),
            own.clone(),
            401,
            "duplicate_claim",
        ),
        (
            "E52 uid with JSON escapes",
            b(&raw(
                h,
                &format!(r#"{{"uid":"\u0075ser_A","exp":{}}}"#, n + 600),
                key,
            )),
            own.clone(),
            200,
            "owner",
        ),
        (
            "E53 full-width uid",
            b(&token_for("ｕser_A")),
            own.clone(),
            403,
            "not_owner",
        ),
        (
            "E54 uid in another case",
            b(&token_for("User_A")),
            own.clone(),
            403,
            "not_owner",
        ),
        (
            "E55 uid with NUL",
            b(&token(json!({"uid": "user_A\u{0}", "exp": n + 600}))),
            own.clone(),
            401,
            "invalid_user_id",
        ),
        (
            "E55 uid with a trailing space",
            b(&token_for("user_A ")),
            own.clone(),
            403,
            "not_owner",
        ),
        (
            "E56 payload with a BOM",
            b(&raw(h, &format!("\u{feff}{p}"), key)),
            own.clone(),
            401,
            "malformed_claims",
        ),
        (
            "E56 payload with trailing bytes",
            b(&raw(h, &format!("{p}x"), key)),
            own.clone(),
            401,
            "malformed_claims",
        ),
        (
            "E56 payload is an array",
            b(&raw(h, &format!("[{p}]"), key)),
            own.clone(),
            401,
            "malformed_claims",
        ),
        (
            "E57 huge claim",
            b(&raw(h, &huge_claim, key)),
            own.clone(),
            401,
            "token_too_large",
        ),
        ("F58 own path", b(&good), own.clone(), 200, "owner"),
        (
            "F59 another user's path",
            b(&good),
            "/api/user_B/tasks".into(),
            403,
            "not_owner",
        ),
        (
            "F60 bare user path",
            b(&good),
            "/api/user_A".into(),
            200,
            "owner",
        ),
        (
            "F60 bare user path, trailing slash",
            b(&good),
            "/api/user_A/".into(),
            200,
            "owner",
        ),
        (
            "F61 dot-dot into own path (raw)",
            b(&good),
            "/api/user_B/../user_A/tasks".into(),
            400,
            "dot_segment",
        ),
        (
            "F62 dot-dot out of own path (raw)",
            b(&good),
            "/api/user_A/../user_B/tasks".into(),
            400,
            "dot_segment",
        ),
        (
            "F63 encoded slash",
            b(&good),
            "/api/user_A%2F..%2Fuser_B/tasks".into(),
            400,
            "encoded_separator",
        ),
        (
            "F64 encoded backslash",
            b(&good),
            "/api/user_A%5C..%5Cuser_B/tasks".into(),
            400,
            "encoded_separator",
        ),
        (
            "F64 literal backslash",
            b(&good),
            "/api/user_A\\..\\user_B/tasks".into(),
            400,
            "backslash",
        ),
        (
            "F65 leading double slash (raw)",
            b(&good),
            "//api/user_B/tasks".into(),
            400,
            "empty_segment",
        ),
        (
            "F65 inner double slash (raw)",
            b(&good),
            "/api//user_B/tasks".into(),
            400,
            "empty_segment",
        ),
        (
            "F66 query names another user",
            b(&good),
            "/api/user_A/tasks?user_id=user_B".into(),
            200,
            "owner",
        ),
        (
            "F67 query holds another path",
            b(&good),
            "/api/user_A?next=/api/user_B/tasks".into(),
            200,
            "owner",
        ),
        (
            "F68 percent-encoded unreserved",
            b(&good),
            "/api/%75ser_A/tasks".into(),
            200,
            "owner",
        ),
        (
            "F69 prefix in another case",
            b(&good),
            "/API/user_B/tasks".into(),
            200,
            "authenticated",
        ),
        (
            "F70 path parameter",
            b(&good),
            "/api/user_A;jsessionid=x/tasks".into(),
            400,
            "path_parameter",
        ),
        (
            "F70 ..; segment",
            b(&good),
            "/api/..;/user_B/tasks".into(),
            400,
            "path_parameter",
        ),
        (
            "F71 raw fragment",
            b(&good),
            "/api/user_A/tasks#frag".into(),
            400,
            "fragment",
        ),
        (
            "F72 empty path",
            b(&good),
            String::new(),
            400,
            "not_origin_form",
        ),
        (
            "F72 authority form (CONNECT)",
            b(&good),
            "example.com:443".into(),
            400,
            "not_origin_form",
        ),
        (
            "F73 encoded non-ASCII elsewhere",
            b(&good),
            "/api/user_A/%C0%AF".into(),
            200,
            "owner",
        ),
        (
            "F74 no token on a preflight",
            vec![],
            own.clone(),
            401,
            "missing_token",
        ),
    ]
}

#[tokio::test]
async fn the_catalogue_through_grpc() {
    let server = TestServer::start(&[]).await;
    let mut client = server.client().await;
    let mut failures = Vec::new();
    for (id, auth, path, status, reason) in cases() {
        let headers: Vec<(&str, &[u8])> = auth
            .iter()
            .map(|v| ("authorization", v.as_slice()))
            .collect();
        let o = outcome(
            client
                .check(check_request_raw(&path, &headers))
                .await
                .expect("rpc")
                .into_inner(),
        );
        if o.http_status != status
            || (!reason.is_empty()
                && o.grpc_message != reason
                && !(status == 200 && o.grpc_message.is_empty()))
        {
            failures.push(format!(
                "{id}: got {} {:?}, want {status} {reason:?}",
                o.http_status, o.grpc_message
            ));
        }
        if status == 200 {
            // Allowed: the reason shows in the counters rather than the status message.
            continue;
        }
        assert!(
            o.header("www-authenticate")
                .is_some_and(|w| w.starts_with(r#"Bearer realm="uid-gate""#)),
            "{id}: no challenge in {o:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} catalogue cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.stop().await;
}

#[tokio::test]
async fn the_path_cases_through_hardened_envoy() {
    let stack = Stack::start(&[]).await;
    let good = bearer(A);
    let auth = [("authorization", good.as_str())];
    // (catalogue id, path, status at the client, path the upstream saw if allowed)
    let cases: &[(&str, &str, u16, Option<&str>)] = &[
        ("F58", "/api/user_A/tasks", 200, Some("/api/user_A/tasks")),
        ("F59", "/api/user_B/tasks", 403, None),
        ("F60", "/api/user_A", 200, Some("/api/user_A")),
        (
            "F61 normalised to own path",
            "/api/user_B/../user_A/tasks",
            200,
            Some("/api/user_A/tasks"),
        ),
        (
            "F62 normalised to another's path",
            "/api/user_A/../user_B/tasks",
            403,
            None,
        ),
        (
            "F63 encoded slash refused by Envoy",
            "/api/user_A%2F..%2Fuser_B/tasks",
            400,
            None,
        ),
        (
            "F64 encoded backslash refused by Envoy",
            "/api/user_A%5C..%5Cuser_B/tasks",
            400,
            None,
        ),
        (
            "F65 merged to another's path",
            "//api//user_B/tasks",
            403,
            None,
        ),
        (
            "F65 merged to own path",
            "/api//user_A//tasks",
            200,
            Some("/api/user_A/tasks"),
        ),
        (
            "F66",
            "/api/user_A/tasks?user_id=user_B",
            200,
            Some("/api/user_A/tasks?user_id=user_B"),
        ),
        ("F68 encoded unreserved", "/api/%75ser_A/tasks", 200, None),
        ("F69", "/API/user_B/tasks", 200, Some("/API/user_B/tasks")),
        (
            "F70 path parameter",
            "/api/user_A;jsessionid=x/tasks",
            400,
            None,
        ),
        // Envoy strips path parameters while normalising, so `..;` resolves like `..`: the
        // path uid-gate judges is the path the upstream receives.
        (
            "F70 ..; segment",
            "/api/..;/user_B/tasks",
            200,
            Some("/user_B/tasks"),
        ),
        (
            "F72 dot-dot above the root",
            "/../api/user_B/tasks",
            403,
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (id, path, status, upstream) in cases {
        let before = stack.upstream_seen().await.len();
        let r = stack.send(path, &auth).await;
        let seen = stack.upstream_seen().await;
        if r.status != *status {
            failures.push(format!(
                "{id} {path}: got {} want {status} ({})",
                r.status,
                r.body.trim()
            ));
            continue;
        }
        if *status == 200 {
            let last = seen
                .last()
                .map(|s| s["path"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            if let Some(want) = upstream
                && last != *want
            {
                failures.push(format!("{id}: upstream saw {last:?}, want {want:?}"));
            }
            if seen.last().map(|s| s["headers"]["x-user-id"].clone()) != Some(json!([A])) {
                failures.push(format!("{id}: upstream did not see x-user-id {A}"));
            }
        } else if seen.len() != before {
            failures.push(format!("{id}: a denied request reached the upstream"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
