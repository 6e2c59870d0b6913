//! The gRPC server, in process (the core's own runner is in crates/uid-gate-core/tests).

use uid_gate::config::Config;

use super::{Case, Seen, Table, by_config, challenge_error, mismatch, report};
use crate::helpers::{TestServer, check_request_raw, outcome};

/// A deny must never be cached (README: every deny carries `cache-control: no-store`), and
/// carries the content type of its form (a JSON body, or gRPC's).
fn deny_headers_ok(
    case: &Case,
    status: u16,
    cache_control: Option<&str>,
    content_type: Option<&str>,
) -> bool {
    let form = if case.is_grpc() {
        "application/grpc"
    } else {
        "application/json"
    };
    status == 200 || (cache_control == Some("no-store") && content_type == Some(form))
}

#[tokio::test]
async fn the_table_through_grpc() {
    let mut table = Table::load();
    let (groups, skipped) = by_config(table.plan("grpc"));
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for (config, cases) in groups {
        let server = TestServer::start_with(Config::from_vars(config).expect("case config")).await;
        let mut client = server.client().await;
        for case in table.refresh("grpc", cases) {
            let headers: Vec<(&str, &[u8])> = case
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect();
            let mut req = check_request_raw(&case.path, &headers);
            if let Some(http) = req
                .attributes
                .as_mut()
                .and_then(|a| a.request.as_mut())
                .and_then(|r| r.http.as_mut())
            {
                http.method = case.method.clone();
            }
            let o = outcome(client.check(req).await.expect("rpc").into_inner());
            let status = u16::try_from(o.http_status).unwrap_or(0);
            if !deny_headers_ok(
                &case,
                status,
                o.header("cache-control"),
                o.header("content-type"),
            ) {
                failures.push(format!("{}: deny headers {:?}", case.id, o.headers));
            }
            let user = if status == 200 && o.headers_to_remove.iter().any(|h| h == "x-user-id") {
                None
            } else {
                o.header("x-user-id").map(str::to_owned)
            };
            let seen = Seen {
                status,
                error: o.header("www-authenticate").and_then(challenge_error),
                reason: Some(o.grpc_message.clone()),
                user,
                grpc_status: o.header("grpc-status").and_then(|s| s.parse().ok()),
            };
            failures.extend(mismatch(&case, &seen));
            ran.push(case);
        }
        server.stop().await;
    }
    report("grpc", &table, &ran, &skipped, &failures);
}
