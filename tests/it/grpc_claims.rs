//! The claims rules through the gRPC API: which claim is the user id, numeric ids, issuer and
//! audience when configured, and the optional cap on a token's lifetime.

use serde_json::json;

use crate::grpc::{OWN, assert_invalid_token, check};
use crate::helpers::*;

#[tokio::test]
async fn numeric_uid_matches_its_decimal_form() {
    let server = TestServer::start(&[]).await;
    let tok = token(json!({"uid": 12345, "exp": now() + 600}));
    let o = check(
        &server,
        "/api/12345/tasks",
        &[("authorization", &format!("Bearer {tok}"))],
    )
    .await;
    assert_eq!(o.http_status, 200);
    assert_eq!(o.header("x-user-id"), Some("12345"));
    let o = check(
        &server,
        "/api/012345/tasks",
        &[("authorization", &format!("Bearer {tok}"))],
    )
    .await;
    assert_eq!(o.http_status, 403);
    server.stop().await;
}

#[tokio::test]
async fn sub_is_the_fallback_claim_and_claims_are_configurable() {
    let server = TestServer::start(&[]).await;
    let tok = token(json!({"sub": "user_A", "exp": now() + 600}));
    assert_eq!(
        check(&server, OWN, &[("authorization", &format!("Bearer {tok}"))])
            .await
            .http_status,
        200
    );
    server.stop().await;

    let server = TestServer::start(&[("UIDGATE_UID_CLAIMS", "userId")]).await;
    let tok = token(json!({"userId": "user_A", "uid": "user_B", "exp": now() + 600}));
    assert_eq!(
        check(&server, OWN, &[("authorization", &format!("Bearer {tok}"))])
            .await
            .http_status,
        200
    );
    let tok = token(json!({"uid": "user_A", "exp": now() + 600}));
    let o = check(&server, OWN, &[("authorization", &format!("Bearer {tok}"))]).await;
    assert_invalid_token(&o, "missing_user_id");
    server.stop().await;
}

#[tokio::test]
async fn issuer_and_audience_are_enforced_when_configured() {
    let server = TestServer::start(&[
        ("UIDGATE_ISSUER", "http://localhost:3000"),
        ("UIDGATE_AUDIENCE", "http://localhost:3000"),
    ])
    .await;
    let n = now();
    let good = token(
        json!({"uid": "user_A", "exp": n + 600, "iss": "http://localhost:3000", "aud": "http://localhost:3000"}),
    );
    assert_eq!(
        check(
            &server,
            OWN,
            &[("authorization", &format!("Bearer {good}"))]
        )
        .await
        .http_status,
        200
    );
    let wrong_iss = token(
        json!({"uid": "user_A", "exp": n + 600, "iss": "http://evil", "aud": "http://localhost:3000"}),
    );
    assert_invalid_token(
        &check(
            &server,
            OWN,
            &[("authorization", &format!("Bearer {wrong_iss}"))],
        )
        .await,
        "issuer_mismatch",
    );
    let no_aud = token(json!({"uid": "user_A", "exp": n + 600, "iss": "http://localhost:3000"}));
    assert_invalid_token(
        &check(
            &server,
            OWN,
            &[("authorization", &format!("Bearer {no_aud}"))],
        )
        .await,
        "audience_mismatch",
    );
    server.stop().await;
}

#[tokio::test]
async fn an_optional_cap_on_token_lifetime() {
    let server = TestServer::start(&[("UIDGATE_MAX_TOKEN_TTL_SECS", "3600")]).await;
    let n = now();
    let long = token(json!({"uid": "user_A", "exp": n + 86_400}));
    assert_invalid_token(
        &check(
            &server,
            OWN,
            &[("authorization", &format!("Bearer {long}"))],
        )
        .await,
        "lifetime_too_long",
    );
    let short = token(json!({"uid": "user_A", "exp": n + 900}));
    assert_eq!(
        check(
            &server,
            OWN,
            &[("authorization", &format!("Bearer {short}"))]
        )
        .await
        .http_status,
        200
    );
    server.stop().await;
}
