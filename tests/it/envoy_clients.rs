//! `uid-gate envoy-config --cors-origin ORIGIN --grpc-web`, run in a real Envoy in both
//! forms (ext_authz to the service, and the module): a page on another origin reads every
//! answer (allow, 401, 403, 400, 503) with `access-control-allow-origin`; its preflight is
//! answered by Envoy and reaches neither the gate nor the app; a bare `OPTIONS` or a
//! foreign origin is judged like any request, and a foreign origin is granted nothing; a
//! gRPC-Web client behind the gRPC-Web filter reads the deny's `grpc-status`.

use std::net::SocketAddr;

use uid_gate::envoy_config::{GrpcClient, bootstrap, parse_origin};

use crate::envoy_module::{module_env, module_so};
use crate::helpers::*;

const PAGE: &str = "http://page.test:3000";
const FOREIGN: &str = "https://evil.example";

/// The bootstrap for `--cors-origin PAGE --grpc-web`, ext_authz to `authz` or the module.
fn cors_bootstrap(
    module: Option<&std::path::Path>,
    upstream: SocketAddr,
    authz: SocketAddr,
) -> String {
    let mut opts = envoy_options(module.is_some(), upstream, authz, GrpcClient::Envoy);
    if let Some(so) = module {
        opts.module = so.display().to_string();
    }
    opts.cors_origins = vec![parse_origin(PAGE).expect("origin")];
    opts.grpc_web = true;
    bootstrap(&config(&[]).policy, &opts).expect("bootstrap")
}

/// Sends a request from `origin` (or none).
async fn from(
    envoy: &Envoy,
    method: &str,
    path: &str,
    origin: Option<&str>,
    extra: &[(&str, &str)],
) -> HttpReply {
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(o) = origin {
        headers.push(("origin", o));
    }
    http_request(envoy.listener, method, path, &headers)
        .await
        .expect("request")
}

/// The checks both forms share; returns how many requests the upstream must have served.
async fn page_reads_every_answer(envoy: &Envoy) -> usize {
    let a = bearer("user_A");
    let auth = ("authorization", a.as_str());
    // A real preflight from the page: answered by Envoy's CORS filter.
    let pre = from(
        envoy,
        "OPTIONS",
        "/api/user_A/tasks",
        Some(PAGE),
        &[
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
    )
    .await;
    assert_eq!(pre.status, 200, "{pre:?}");
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some(PAGE),
        "{pre:?}"
    );
    assert_eq!(pre.header("access-control-max-age"), Some("600"), "{pre:?}");
    assert!(
        pre.header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST")),
        "{pre:?}"
    );
    assert!(
        pre.header("access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization")),
        "{pre:?}"
    );
    assert_eq!(
        pre.header("access-control-allow-credentials"),
        None,
        "{pre:?}"
    );
    assert_eq!(
        pre.header("www-authenticate"),
        None,
        "the gate answered the preflight: {pre:?}"
    );

    // A bare OPTIONS, and a preflight from an origin not listed: judged like any request.
    let bare = from(envoy, "OPTIONS", "/api/user_A/tasks", Some(PAGE), &[]).await;
    assert_eq!(bare.status, 401, "{bare:?}");
    let foreign_pre = from(
        envoy,
        "OPTIONS",
        "/api/user_A/tasks",
        Some(FOREIGN),
        &[("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(foreign_pre.status, 401, "{foreign_pre:?}");
    assert_eq!(foreign_pre.header("access-control-allow-origin"), None);

    // Every answer to the page carries the grant, so the page reads the status itself.
    let other = format!(
        "Bearer {}",
        token(serde_json::json!({"uid": "user_B", "exp": now() + 60}))
    );
    for (path, headers, status) in [
        ("/api/user_A/tasks", vec![], 401),
        (
            "/api/user_A/tasks",
            vec![("authorization", other.as_str())],
            403,
        ),
        ("/api/user_B/tasks", vec![auth], 403),
        ("/api/user_A;x/tasks", vec![auth], 400),
        ("/api/user_A/tasks", vec![auth], 200),
    ] {
        let r = from(envoy, "GET", path, Some(PAGE), &headers).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(PAGE),
            "{path}: {r:?}"
        );
        assert!(
            r.header("access-control-expose-headers")
                .is_some_and(|h| h.contains("www-authenticate")),
            "{path}: {r:?}"
        );
        // The foreign origin gets the same answers, and no grant on any of them.
        let r = from(envoy, "GET", path, Some(FOREIGN), &headers).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            None,
            "{path}: {r:?}"
        );
    }

    // A gRPC-Web client (a page's grpc-web library) behind the gRPC-Web filter.
    let web = [
        ("content-type", "application/grpc-web+proto"),
        ("x-grpc-web", "1"),
        ("origin", PAGE),
    ];
    let g = grpc_call(
        envoy.listener,
        "/api/user_B/pkg.Tasks/Create",
        &[web[0], web[1], web[2], auth],
    )
    .await
    .expect("gRPC-Web call");
    assert_eq!(g.grpc_status, Some(7), "{g:?}");
    assert_eq!(
        g.grpc_message.as_deref(),
        Some("token user does not own this path"),
        "{g:?}"
    );
    assert_eq!(g.header("access-control-allow-origin"), Some(PAGE), "{g:?}");
    let g = grpc_call(envoy.listener, "/api/user_A/pkg.Tasks/Create", &web)
        .await
        .expect("gRPC-Web call");
    assert_eq!(g.grpc_status, Some(16), "{g:?}");
    // Allowed: the owner's GET, once from each origin.
    2
}

async fn upstream_served(echo: SocketAddr) -> usize {
    let r = http_request(echo, "GET", "/__echo/seen", &[])
        .await
        .expect("seen");
    serde_json::from_str::<Vec<serde_json::Value>>(&r.body)
        .expect("JSON")
        .len()
}

#[tokio::test]
async fn a_page_on_another_origin_reads_every_answer_through_ext_authz() {
    tokio::task::spawn_blocking(envoy_bin).await.expect("envoy");
    let server = TestServer::start(&[]).await;
    let (_echo, echo) = spawn_echo().await;
    let envoy = Envoy::start(&cors_bootstrap(None, echo, server.addr)).await;
    let served = page_reads_every_answer(&envoy).await;
    assert_eq!(
        upstream_served(echo).await,
        served,
        "only the allowed requests reached the app"
    );
    // uid-gate judged everything but the preflight (1 preflight, 14 other requests).
    let decided: u64 = server.counters.snapshot().iter().map(|(_, n)| n).sum();
    assert_eq!(
        decided,
        2 + 10 + 2,
        "the preflight reached uid-gate, or a request did not"
    );
    // uid-gate down: the fault (503) still carries the grant.
    server.stop().await;
    let r = from(&envoy, "GET", "/api/user_A/tasks", Some(PAGE), &[]).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some(PAGE), "{r:?}");
}

#[tokio::test]
async fn a_page_on_another_origin_reads_every_answer_through_the_module() {
    tokio::task::spawn_blocking(envoy_bin).await.expect("envoy");
    // The test-panic build (shared with the panic test), so a fault can be caused at will.
    let so = tokio::task::spawn_blocking(|| module_so(true))
        .await
        .expect("module");
    let (_echo, echo) = spawn_echo().await;
    let unused = SocketAddr::from(([127, 0, 0, 1], 9));
    let vars = [("BETTER_AUTH_SECRET".to_owned(), SECRET.to_owned())];
    let envoy = Envoy::start_with(
        &cors_bootstrap(Some(&so), echo, unused),
        &module_env(&vars),
        1,
    )
    .await;
    let served = page_reads_every_answer(&envoy).await;
    assert_eq!(
        upstream_served(echo).await,
        served,
        "only the allowed requests reached the app"
    );
    // The module counted every request but the preflight.
    let stats = http_request(envoy.admin, "GET", "/stats?filter=uid_gate", &[])
        .await
        .expect("stats");
    let decided: u64 = stats
        .body
        .lines()
        .filter_map(|l| l.rsplit_once(": ")?.1.parse::<u64>().ok())
        .sum();
    assert_eq!(
        decided,
        2 + 10 + 2,
        "the preflight reached the module, or a request did not: {}",
        stats.body
    );
    let a = bearer("user_A");
    let r = from(
        &envoy,
        "GET",
        "/api/user_A/tasks",
        Some(PAGE),
        &[("authorization", &a), ("x-uid-gate-test-panic", "1")],
    )
    .await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some(PAGE), "{r:?}");
}
