//! Metrics on the admin port, and secret rotation without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use uid_gate::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;

use crate::helpers::*;

const NEW_SECRET: &str = "bmV3LXNlY3JldC1mb3ItdWlkLWdhdGUtcm90YXRpb24h";

fn token_with(secret: &str, uid: &str) -> String {
    uid_gate::mint::sign_claims(secret.as_bytes(), &json!({"uid": uid, "exp": now() + 600}))
        .expect("sign")
}

async fn status_of(server: &TestServer, token: &str) -> i32 {
    let mut client = server.client().await;
    let req = check_request(
        "/api/u1/tasks",
        &[("authorization", &format!("Bearer {token}"))],
    );
    outcome(client.check(req).await.expect("rpc").into_inner()).http_status
}

async fn scrape(server: &TestServer, path: &str) -> HttpReply {
    http_request(server.admin, "GET", path, &[])
        .await
        .expect("admin request")
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn metrics_health_and_readiness_on_the_admin_port() {
    let server = TestServer::start(&[]).await;
    let good = bearer("u1");
    let mut client = server.client().await;
    for (path, auth) in [
        ("/api/u1/x", good.as_str()),
        ("/api/u1/y", good.as_str()),
        ("/api/u2/x", good.as_str()),
        ("/api/u1/x", "Bearer a.b.c"),
        ("/api/u1/..", good.as_str()),
    ] {
        client
            .check(check_request(path, &[("authorization", auth)]))
            .await
            .expect("rpc");
    }
    let r = scrape(&server, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain; version=0.0.4")
    );
    let m = &r.body;
    assert_eq!(
        metric(
            m,
            r#"uidgate_decisions_total{decision="allow",status="200",reason="owner"}"#
        ),
        2
    );
    assert_eq!(
        metric(
            m,
            r#"uidgate_decisions_total{decision="deny",status="403",reason="not_owner"}"#
        ),
        1
    );
    assert_eq!(
        metric(
            m,
            r#"uidgate_decisions_total{decision="deny",status="401",reason="malformed_header"}"#
        ),
        1
    );
    assert_eq!(
        metric(
            m,
            r#"uidgate_decisions_total{decision="deny",status="400",reason="dot_segment"}"#
        ),
        1
    );
    assert_eq!(metric(m, "uidgate_check_duration_seconds_count"), 5);
    assert_eq!(
        metric(m, r#"uidgate_check_duration_seconds_bucket{le="+Inf"}"#),
        5
    );
    assert_eq!(metric(m, "uidgate_secret_keys"), 1);
    assert_eq!(metric(m, "uidgate_ready"), 1);
    assert_eq!(scrape(&server, "/healthz").await.status, 200);
    assert_eq!(scrape(&server, "/readyz").await.status, 200);
    assert_eq!(scrape(&server, "/nope").await.status, 404);
    assert_eq!(
        http_request(server.admin, "POST", "/metrics", &[])
            .await
            .expect("post")
            .status,
        405
    );
    server.stop().await;
}

#[tokio::test]
async fn several_secrets_from_the_environment_all_verify() {
    let server = TestServer::start(&[
        ("BETTER_AUTH_SECRET", ""),
        ("BETTER_AUTH_SECRETS", &format!("2:{NEW_SECRET},1:{SECRET}")),
    ])
    .await;
    assert_eq!(status_of(&server, &token_with(NEW_SECRET, "u1")).await, 200);
    assert_eq!(status_of(&server, &token_with(SECRET, "u1")).await, 200);
    assert_eq!(
        status_of(
            &server,
            &token_with("some-other-secret-some-other-secret", "u1")
        )
        .await,
        401
    );
    server.stop().await;
}

/// Waits until the reload counters reach `applied` and `refused`.
async fn wait_reloads(server: &TestServer, applied: u64, refused: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if server.counters.reloads() == (applied, refused) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "reloads stuck at {:?}, want ({applied}, {refused})",
            server.counters.reloads()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_changed_secret_file_takes_effect_without_restart_or_dropped_checks() {
    // Kubernetes' layout for a mounted Secret: secret -> ..data/secret, ..data -> a versioned
    // directory, and an update swaps the ..data link atomically.
    let dir = TempDir::new("rotation");
    let root = dir.path();
    let publish = |version: &str, contents: &str| {
        let v = root.join(version);
        std::fs::create_dir_all(&v).expect("version dir");
        std::fs::write(v.join("secret"), contents).expect("write");
        let tmp = root.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&v, &tmp).expect("symlink");
        std::fs::rename(&tmp, root.join("..data")).expect("swap");
    };
    publish("v1", &format!("{SECRET}\n"));
    std::os::unix::fs::symlink(root.join("..data/secret"), root.join("secret")).expect("link");
    let file = root.join("secret");
    let server = TestServer::start(&[
        ("BETTER_AUTH_SECRET", ""),
        ("BETTER_AUTH_SECRET_FILE", file.to_str().expect("utf8")),
        ("UIDGATE_SECRET_RELOAD_SECS", "1"),
    ])
    .await;
    let old = token_with(SECRET, "u1");
    let new = token_with(NEW_SECRET, "u1");
    assert_eq!(status_of(&server, &old).await, 200);
    assert_eq!(status_of(&server, &new).await, 401);

    // Checks with the old token run the whole time the new secret is being added: every one
    // must be answered, and answered 200.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let mut client = AuthorizationClient::new(server.channel().await);
        let (stop, answered, wrong, old) =
            (stop.clone(), answered.clone(), wrong.clone(), old.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let req = check_request(
                    "/api/u1/tasks",
                    &[("authorization", &format!("Bearer {old}"))],
                );
                let ok = client
                    .check(req)
                    .await
                    .is_ok_and(|r| outcome(r.into_inner()).http_status == 200);
                if ok {
                    answered.fetch_add(1, Ordering::Relaxed)
                } else {
                    wrong.fetch_add(1, Ordering::Relaxed)
                };
            }
        }));
    }
    publish("v2", &format!("{NEW_SECRET}\n{SECRET}\n"));
    wait_reloads(&server, 1, 0).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.expect("load task");
    }
    assert!(answered.load(Ordering::Relaxed) > 0);
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "a check failed during the reload"
    );
    assert_eq!(status_of(&server, &new).await, 200);
    assert_eq!(status_of(&server, &old).await, 200);

    // The old secret is retired.
    publish("v3", &format!("{NEW_SECRET}\n"));
    wait_reloads(&server, 2, 0).await;
    assert_eq!(status_of(&server, &old).await, 401);
    assert_eq!(status_of(&server, &new).await, 200);

    // A broken update (too short) is refused and the current secrets stay.
    publish("v4", "short\n");
    wait_reloads(&server, 2, 1).await;
    assert_eq!(status_of(&server, &new).await, 200);
    let m = scrape(&server, "/metrics").await.body;
    assert_eq!(metric(&m, "uidgate_secret_reloads_total"), 2);
    assert_eq!(metric(&m, "uidgate_secret_reload_errors_total"), 1);
    assert_eq!(metric(&m, "uidgate_secret_keys"), 1);
    server.stop().await;
}
