//! The gRPC server's life: health SERVING, then NOT_SERVING on shutdown, and a drain that
//! finishes the checks in flight and refuses new connections.

use crate::grpc::OWN;
use crate::helpers::*;

#[tokio::test]
async fn health_is_serving_then_not_serving_on_shutdown() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    // A Watch stream is an in-flight RPC that only ends with the connection: keep the grace short.
    let server = TestServer::start(&[("UIDGATE_SHUTDOWN_GRACE_SECS", "1")]).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "envoy.service.auth.v3.Authorization"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
    // Watch the overall status, then shut down: NOT_SERVING must arrive before the stream ends.
    let mut watch = health
        .watch(HealthCheckRequest { service: "".into() })
        .await
        .expect("watch")
        .into_inner();
    let first = watch
        .message()
        .await
        .expect("watch msg")
        .expect("first status");
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let stopping = tokio::spawn(server.stop());
    let next = watch
        .message()
        .await
        .expect("watch msg")
        .expect("second status");
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    stopping.await.expect("stop");
}

#[tokio::test]
async fn shutdown_drains_in_flight_checks_and_refuses_new_connections() {
    let server = TestServer::start(&[]).await;
    let addr = server.addr;
    let counters = server.counters.clone();
    let channel = server.channel().await;
    // Many checks on one connection while shutdown starts: every check the server decided
    // reaches its client with the answer for its path.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut client =
            uid_gate::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient::new(
                channel.clone(),
            );
        let auth = bearer("user_A");
        let (path, want) = if i % 2 == 0 {
            (OWN, 200)
        } else {
            ("/api/user_B/tasks", 403)
        };
        tasks.push(tokio::spawn(async move {
            let got = client
                .check(check_request(path, &[("authorization", &auth)]))
                .await
                .map(|r| outcome(r.into_inner()).http_status);
            (path, want, got)
        }));
    }
    tokio::task::yield_now().await;
    server.stop().await;
    let mut answered = 0u64;
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            (path, want, Ok(status)) => {
                assert_eq!(status, want, "{path} answered {status}");
                answered += 1;
            }
            (_, _, Err(status)) => refused.push(status.code()),
        }
    }
    let decided: u64 = counters.snapshot().iter().map(|(_, n)| n).sum();
    assert!(answered > 0, "no check was answered");
    // A check cut off in flight would be decided (counted) but never answered.
    assert_eq!(
        answered, decided,
        "the server decided {decided} checks but clients got {answered} answers; refused: {refused:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener still accepting after shutdown"
    );
}
