//! HTTP authorization mode (UIDGATE_HTTP_ADDR): the decision table over plain HTTP, directly
//! and through a real nginx (`auth_request`) and a real Envoy (HTTP ext_authz service).

use crate::helpers::*;

#[tokio::test]
async fn decisions_over_plain_http() {
    let server = TestServer::start(&[]).await;
    let a = bearer("user_A");
    let send = |path: &'static str, headers: Vec<(&'static str, String)>| {
        let addr = server.http;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http_request(addr, "GET", path, &h).await.expect("http")
        }
    };
    let r = send("/api/user_A/tasks?x=1", vec![("authorization", a.clone())]).await;
    assert_eq!((r.status, r.header("x-user-id")), (200, Some("user_A")));
    let r = send("/api/user_B/tasks", vec![("authorization", a.clone())]).await;
    assert_eq!(r.status, 403);
    assert!(
        r.header("www-authenticate")
            .unwrap_or_default()
            .contains(r#"error="insufficient_scope""#)
    );
    assert_eq!(r.json()["error"], "insufficient_scope");
    let r = send("/api/user_A/tasks", vec![]).await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, Some(r#"Bearer realm="uid-gate""#))
    );
    let r = send(
        "/api/user_A/tasks",
        vec![("authorization", format!("{a}x"))],
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error_description"], "token signature is invalid");
    let r = send("/api/user_A;x/tasks", vec![("authorization", a.clone())]).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let r = send("/api/auth/session", vec![("x-user-id", "victim".into())]).await;
    assert_eq!((r.status, r.header("x-user-id")), (200, None));
    assert_eq!(
        r.header("x-envoy-auth-headers-to-remove"),
        Some("x-user-id")
    );
    // Without UIDGATE_HTTP_URI_HEADER, a client's x-original-uri means nothing.
    let r = send(
        "/api/user_B/tasks",
        vec![
            ("authorization", a.clone()),
            ("x-original-uri", "/api/user_A/tasks".into()),
        ],
    )
    .await;
    assert_eq!(r.status, 403);
    // Two Authorization headers.
    let r = send(
        "/api/user_A/tasks",
        vec![
            ("authorization", bearer("user_B")),
            ("authorization", a.clone()),
        ],
    )
    .await;
    assert_eq!(r.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn the_original_uri_header_is_used_only_when_configured() {
    let server = TestServer::start(&[("UIDGATE_HTTP_URI_HEADER", "X-Original-URI")]).await;
    let a = bearer("user_A");
    let go = |headers: Vec<(&'static str, String)>| {
        let addr = server.http;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http_request(addr, "GET", "/_auth", &h).await.expect("http")
        }
    };
    assert_eq!(
        go(vec![
            ("authorization", a.clone()),
            ("x-original-uri", "/api/user_A/tasks".into())
        ])
        .await
        .status,
        200
    );
    assert_eq!(
        go(vec![
            ("authorization", a.clone()),
            ("x-original-uri", "/api/user_B/tasks".into())
        ])
        .await
        .status,
        403
    );
    // Missing or repeated: nothing safe to judge, and the answer says which header is wanted
    // and which proxy sets it (issue #13, item 10).
    let missing = go(vec![("authorization", a.clone())]).await;
    assert_eq!(missing.status, 400);
    let description = missing.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description.contains("x-original-uri") && description.contains("nginx"),
        "{description}"
    );
    assert!(
        missing
            .header("www-authenticate")
            .is_some_and(|w| w.contains("x-original-uri")),
        "{missing:?}"
    );
    assert_eq!(missing.header("cache-control"), Some("no-store"));
    let twice = vec![
        ("authorization", a.clone()),
        ("x-original-uri", "/api/user_A/x".into()),
        ("x-original-uri", "/api/user_B/x".into()),
    ];
    assert_eq!(go(twice).await.status, 400);
    let metrics = http_request(server.admin, "GET", "/metrics", &[])
        .await
        .expect("metrics");
    assert!(
        metrics.body.contains(r#"reason="missing_original_uri"} 2"#),
        "counted: {}",
        metrics.body
    );
    server.stop().await;
}

#[tokio::test]
async fn through_nginx_auth_request() {
    tokio::task::spawn_blocking(nginx_bin).await.expect("nginx");
    let server = TestServer::start(&[("UIDGATE_HTTP_URI_HEADER", "x-original-uri")]).await;
    let (_echo, echo_addr) = spawn_echo().await;
    let (_proc, _dir, listen) = start_nginx(server.http, echo_addr).await;
    let a = bearer("user_A");
    let r = http_request(
        listen,
        "GET",
        "/api/user_A/tasks",
        &[("authorization", &a), ("x-user-id", "victim")],
    )
    .await
    .expect("req");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json()["headers"]["x-user-id"],
        serde_json::json!(["user_A"])
    );
    let r = http_request(listen, "GET", "/api/user_B/tasks", &[("authorization", &a)])
        .await
        .expect("req");
    assert_eq!(r.status, 403);
    assert!(
        r.header("www-authenticate")
            .unwrap_or_default()
            .contains("insufficient_scope"),
        "{r:?}"
    );
    let r = http_request(listen, "GET", "/api/user_A/tasks", &[])
        .await
        .expect("req");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="uid-gate""#)
    );
    // A client cannot steer the judged URI: nginx overwrites x-original-uri.
    let r = http_request(
        listen,
        "GET",
        "/api/user_B/tasks",
        &[
            ("authorization", &a),
            ("x-original-uri", "/api/user_A/tasks"),
        ],
    )
    .await
    .expect("req");
    assert_eq!(r.status, 403);
    // Public route: no identity reaches the app.
    let r = http_request(
        listen,
        "GET",
        "/api/auth/session",
        &[("x-user-id", "victim")],
    )
    .await
    .expect("req");
    assert_eq!(r.status, 200);
    assert!(r.json()["headers"].get("x-user-id").is_none(), "{r:?}");
    server.stop().await;
}

#[tokio::test]
async fn through_envoy_http_ext_authz() {
    tokio::task::spawn_blocking(envoy_bin).await.expect("envoy");
    let server = TestServer::start(&[]).await;
    let (echo, echo_addr) = spawn_echo().await;
    let yaml = render_envoy(
        "envoy/envoy-http-authz.yaml",
        &[
            (9901, 0),
            (10000, 0),
            (9193, server.http.port()),
            (8081, echo_addr.port()),
        ],
    );
    let envoy = Envoy::start(&yaml).await;
    let a = bearer("user_A");
    let r = http_request(
        envoy.listener,
        "GET",
        "/api/user_A/tasks",
        &[("authorization", &a), ("x-user-id", "victim")],
    )
    .await
    .expect("req");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json()["headers"]["x-user-id"],
        serde_json::json!(["user_A"])
    );
    let r = http_request(
        envoy.listener,
        "GET",
        "/api/user_B/tasks",
        &[("authorization", &a)],
    )
    .await
    .expect("req");
    assert_eq!(r.status, 403);
    assert!(
        r.header("www-authenticate")
            .unwrap_or_default()
            .contains("insufficient_scope")
    );
    assert_eq!(r.json()["error"], "insufficient_scope");
    let r = http_request(
        envoy.listener,
        "GET",
        "/api/user_A/tasks",
        &[("authorization", &format!("{a}x"))],
    )
    .await
    .expect("req");
    assert_eq!(r.status, 401);
    let r = http_request(
        envoy.listener,
        "GET",
        "/api/user_A;x=1/tasks",
        &[("authorization", &a)],
    )
    .await
    .expect("req");
    assert_eq!(r.status, 400);
    let seen = {
        let resp = http_request(echo_addr, "GET", "/__echo/seen", &[])
            .await
            .expect("seen");
        serde_json::from_str::<Vec<serde_json::Value>>(&resp.body).expect("json")
    };
    assert_eq!(
        seen.len(),
        1,
        "only the allowed request reached the app: {seen:?}"
    );
    drop(echo);
    server.stop().await;
}

/// Behind a proxy that describes the request in headers, the method is its one
/// `X-Forwarded-Method`: missing or repeated, the admin override never applies, and the
/// subrequest's own method (nginx's is always GET) is never taken for the client's.
#[tokio::test]
async fn the_forwarded_method_decides_the_admin_override_only_when_single() {
    let server = TestServer::start(&[
        ("UIDGATE_HTTP_URI_HEADER", "X-Original-URI"),
        ("UIDGATE_ADMIN_ROLES", "admin"),
    ])
    .await;
    let exp = now() + 600;
    let admin = format!(
        "Bearer {}",
        token(serde_json::json!({"uid": "admin_1", "role": "admin", "exp": exp}))
    );
    let go = |methods: &'static [&'static str]| {
        let (addr, admin) = (server.http, admin.clone());
        async move {
            let mut h = vec![
                ("authorization", admin.as_str()),
                ("x-original-uri", "/api/user_B/tasks"),
            ];
            h.extend(methods.iter().map(|m| ("x-forwarded-method", *m)));
            let r = http_request(addr, "GET", "/_auth", &h).await.expect("http");
            (r.status, r.header("x-user-id").map(str::to_owned))
        }
    };
    assert_eq!(go(&["GET"]).await, (200, Some("admin_1".to_owned())));
    assert_eq!(go(&["POST"]).await, (403, None));
    assert_eq!(go(&[]).await, (403, None), "no method: no override");
    assert_eq!(
        go(&["GET", "GET"]).await,
        (403, None),
        "repeated: no override"
    );
    server.stop().await;
}
