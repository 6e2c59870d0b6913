//! The decision table through the gRPC API: a tonic client against the server on port 0.

use serde_json::json;
use tonic::Code;
use uid_gate::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use uid_gate::response::Reason;

use crate::helpers::*;

pub(crate) const OWN: &str = "/api/user_A/tasks";

pub(crate) async fn check(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Outcome {
    let mut client = server.client().await;
    outcome(
        client
            .check(check_request(path, headers))
            .await
            .expect("check rpc")
            .into_inner(),
    )
}

pub(crate) fn assert_invalid_token(o: &Outcome, reason: &str) {
    assert_eq!(o.http_status, 401, "{o:?}");
    assert_eq!(o.grpc_code, Code::Unauthenticated as i32, "{o:?}");
    assert_eq!(o.grpc_message, reason, "{o:?}");
    let www = o.header("www-authenticate").expect("challenge");
    assert!(
        www.starts_with(r#"Bearer realm="uid-gate", error="invalid_token", error_description=""#),
        "{www}"
    );
    assert_eq!(o.header("content-type"), Some("application/json"));
    assert_eq!(o.body_json()["error"], "invalid_token");
}

#[tokio::test]
async fn owner_is_allowed_with_x_user_id() {
    let server = TestServer::start(&[]).await;
    let o = check(&server, OWN, &[("authorization", &bearer("user_A"))]).await;
    assert_eq!((o.grpc_code, o.http_status), (Code::Ok as i32, 200));
    assert_eq!(o.header("x-user-id"), Some("user_A"));
    assert_eq!(
        o.headers[0].2,
        HeaderAppendAction::OverwriteIfExistsOrAdd as i32
    );
    assert_eq!(server.counters.get(Reason::Owner), 1);
    server.stop().await;
}

#[tokio::test]
async fn another_users_path_is_forbidden() {
    let server = TestServer::start(&[]).await;
    let o = check(
        &server,
        "/api/user_B/tasks",
        &[("authorization", &bearer("user_A"))],
    )
    .await;
    assert_eq!(
        (o.grpc_code, o.http_status),
        (Code::PermissionDenied as i32, 403)
    );
    assert_eq!(
        o.header("www-authenticate"),
        Some(
            r#"Bearer realm="uid-gate", error="insufficient_scope", error_description="token user does not own this path""#
        )
    );
    assert_eq!(
        o.body_json(),
        json!({"error": "insufficient_scope", "error_description": "token user does not own this path"})
    );
    assert_eq!(server.counters.get(Reason::NotOwner), 1);
    server.stop().await;
}

#[tokio::test]
async fn missing_header_gets_a_bare_challenge() {
    let server = TestServer::start(&[]).await;
    let o = check(&server, OWN, &[]).await;
    assert_eq!(
        (o.grpc_code, o.http_status),
        (Code::Unauthenticated as i32, 401)
    );
    assert_eq!(
        o.header("www-authenticate"),
        Some(r#"Bearer realm="uid-gate""#)
    );
    assert_eq!(
        o.body_json()["error_description"],
        "no authorization header"
    );
    server.stop().await;
}

#[tokio::test]
async fn lowercase_bearer_is_accepted() {
    let server = TestServer::start(&[]).await;
    let o = check(
        &server,
        OWN,
        &[("authorization", &format!("bearer {}", token_for("user_A")))],
    )
    .await;
    assert_eq!(o.http_status, 200);
    server.stop().await;
}

#[tokio::test]
async fn invalid_tokens_are_401_with_a_specific_reason() {
    let server = TestServer::start(&[]).await;
    let n = now();
    let key = SECRET.as_bytes();
    let claims = format!(r#"{{"uid":"user_A","exp":{}}}"#, n + 600);
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &json!({"uid": "user_A", "exp": n + 600}),
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .expect("hs512");
    let alg_none = {
        let t = raw_token(r#"{"alg":"none","typ":"JWT"}"#, &claims, key);
        let (msg, _) = t.rsplit_once('.').expect("parts");
        // No signature at all would be malformed; keep a junk one so the header is what fails.
        format!("{msg}.AAAA")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", alg_none, "unsupported_alg"),
        ("HS512", hs512, "unsupported_alg"),
        (
            "wrong secret",
            raw_token(
                r#"{"alg":"HS256"}"#,
                &claims,
                b"not-the-secret-not-the-secret-!!",
            ),
            "bad_signature",
        ),
        (
            "expired",
            token(json!({"uid": "user_A", "exp": n - 120})),
            "expired",
        ),
        (
            "nbf in the future",
            token(json!({"uid": "user_A", "exp": n + 600, "nbf": n + 3600})),
            "not_yet_valid",
        ),
        (
            "iat in the future",
            token(json!({"uid": "user_A", "exp": n + 600, "iat": n + 3600})),
            "issued_in_future",
        ),
        (
            "missing exp",
            token(json!({"uid": "user_A"})),
            "missing_exp",
        ),
        (
            "crit",
            raw_token(
                r#"{"alg":"HS256","crit":["x-foo"],"x-foo":1}"#,
                &claims,
                key,
            ),
            "crit_header",
        ),
        (
            "duplicate uid",
            raw_token(
                r#"{"alg":"HS256"}"#,
                &format!(r#"{{"uid":"attacker","uid":"user_A","exp":{}}}"#, n + 600),
                key,
            ),
            "duplicate_claim",
        ),
        (
            "string exp",
            token(json!({"uid": "user_A", "exp": (n + 600).to_string()})),
            "bad_time_claim",
        ),
        (
            "no uid",
            token(json!({"name": "user_A", "exp": n + 600})),
            "missing_user_id",
        ),
        (
            "empty uid",
            token(json!({"uid": "", "exp": n + 600})),
            "invalid_user_id",
        ),
        (
            "jwk header",
            raw_token(r#"{"alg":"HS256","jwk":{"kty":"oct"}}"#, &claims, key),
            "external_key",
        ),
        ("not a JWT", "abc.def.ghi".into(), "malformed_header"),
    ];
    for (name, tok, reason) in cases {
        let o = check(&server, OWN, &[("authorization", &format!("Bearer {tok}"))]).await;
        assert_eq!(o.grpc_message, reason, "case {name}");
        assert_invalid_token(&o, reason);
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_authorization_headers_are_401() {
    let server = TestServer::start(&[]).await;
    let good = token_for("user_A");
    let huge = format!(
        "Bearer {}.{}.{}",
        "a".repeat(50 * 1024),
        "b".repeat(50 * 1024),
        "c".repeat(100)
    );
    let cases: Vec<(String, &str)> = vec![
        ("Basic dXNlcjpwYXNz".into(), "wrong_scheme"),
        ("Bearer".into(), "empty_token"),
        (format!("Bearer  {good}"), "malformed_token"),
        (format!("Bearer {good}=="), "malformed_token"),
        (huge, "token_too_large"),
    ];
    for (value, reason) in cases {
        let o = check(&server, OWN, &[("authorization", &value)]).await;
        assert_invalid_token(&o, reason);
    }
    // Two Authorization headers: Envoy comma-joins them in `headers`.
    let o = check(
        &server,
        OWN,
        &[
            ("authorization", &bearer("user_B")),
            ("Authorization", &bearer("user_A")),
        ],
    )
    .await;
    assert_invalid_token(&o, "multiple_credentials");
    assert_eq!(server.counters.get(Reason::TokenTooLarge), 1);
    server.stop().await;
}

#[tokio::test]
async fn unsafe_paths_are_400_after_authentication() {
    let server = TestServer::start(&[]).await;
    let auth = bearer("user_A");
    for (path, reason) in [
        ("/api/user_B/../user_A/tasks", "dot_segment"),
        ("/api/user_A/../user_B/tasks", "dot_segment"),
        ("/api/user_A%2F..%2Fuser_B/tasks", "encoded_separator"),
        ("/api/user_A%2f..%2fuser_B/tasks", "encoded_separator"),
        ("/api/%2e%2e/user_B", "encoded_dot"),
        ("/api//user_B/tasks", "empty_segment"),
        ("/api/user_A\\..\\user_B", "backslash"),
        ("/api/user_A;x=1/tasks", "path_parameter"),
        ("/api/user_A%00/tasks", "control_byte"),
        ("/api", "missing_user_segment"),
        ("", "not_origin_form"),
    ] {
        let o = check(&server, path, &[("authorization", &auth)]).await;
        assert_eq!(
            (o.http_status, o.grpc_code),
            (400, Code::InvalidArgument as i32),
            "{path}"
        );
        assert_eq!(o.grpc_message, reason, "{path}");
        assert!(
            o.header("www-authenticate")
                .expect("challenge")
                .contains(r#"error="invalid_request""#)
        );
        assert_eq!(o.body_json()["error"], "invalid_request");
    }
    // Without a token the same paths are 401: authentication is judged first.
    let o = check(&server, "/api/user_A%2F..%2Fuser_B/tasks", &[]).await;
    assert_eq!(o.http_status, 401);
    server.stop().await;
}

#[tokio::test]
async fn the_query_string_is_never_used() {
    let server = TestServer::start(&[]).await;
    let auth = bearer("user_A");
    let o = check(
        &server,
        "/api/user_A/tasks?user_id=user_B&next=/api/user_B",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(o.http_status, 200);
    let o = check(
        &server,
        "/api/user_B/tasks?user_id=user_A",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(o.http_status, 403);
    server.stop().await;
}

#[tokio::test]
async fn public_paths_need_no_token_and_strip_x_user_id() {
    let server = TestServer::start(&[]).await;
    let o = check(
        &server,
        "/api/auth/sign-in/email?x=1",
        &[("x-user-id", "victim")],
    )
    .await;
    assert_eq!((o.grpc_code, o.http_status), (Code::Ok as i32, 200));
    assert!(o.headers.is_empty());
    assert_eq!(o.headers_to_remove, ["x-user-id"]);
    // Not segment-aligned: not public.
    assert_eq!(
        check(&server, "/api/authx/tasks", &[]).await.http_status,
        401
    );
    server.stop().await;
}

#[tokio::test]
async fn client_sent_x_user_id_is_overwritten() {
    let server = TestServer::start(&[]).await;
    let o = check(
        &server,
        OWN,
        &[
            ("authorization", &bearer("user_A")),
            ("x-user-id", "user_B"),
        ],
    )
    .await;
    assert_eq!(o.http_status, 200);
    assert_eq!(o.header("x-user-id"), Some("user_A"));
    assert_eq!(
        o.headers[0].2,
        HeaderAppendAction::OverwriteIfExistsOrAdd as i32
    );
    server.stop().await;
}

#[tokio::test]
async fn raw_header_map_is_read_and_never_merged() {
    let server = TestServer::start(&[]).await;
    let mut client = server.client().await;
    let a = bearer("user_A");
    let ok = client
        .check(check_request_raw(OWN, &[("authorization", a.as_bytes())]))
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(outcome(ok).http_status, 200);
    let b = bearer("user_B");
    let two = client
        .check(check_request_raw(
            OWN,
            &[
                ("authorization", b.as_bytes()),
                ("Authorization", a.as_bytes()),
            ],
        ))
        .await
        .expect("rpc")
        .into_inner();
    assert_invalid_token(&outcome(two), "multiple_credentials");
    let binary = client
        .check(check_request_raw(
            OWN,
            &[("authorization", b"Bearer \xff\xfe.a.b")],
        ))
        .await
        .expect("rpc")
        .into_inner();
    assert_invalid_token(&outcome(binary), "malformed_token");
    server.stop().await;
}

#[tokio::test]
async fn an_empty_check_request_is_denied_not_crashed() {
    let server = TestServer::start(&[]).await;
    let mut client = server.client().await;
    let o = outcome(
        client
            .check(uid_gate::pb::envoy::service::auth::v3::CheckRequest::default())
            .await
            .expect("rpc")
            .into_inner(),
    );
    assert_eq!(o.http_status, 401);
    // And the server still answers afterwards.
    assert_eq!(
        check(&server, OWN, &[("authorization", &bearer("user_A"))])
            .await
            .http_status,
        200
    );
    server.stop().await;
}
