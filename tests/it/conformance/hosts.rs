//! The in-process enforcement points: the core directly, and the gRPC server.

use uid_gate::config::{Config, Settings};
use uid_gate::decision::RequestView;
use uid_gate::response::Answer;

use super::{Seen, Table, by_config, challenge_error, mismatch, report};
use crate::helpers::{TestServer, check_request_raw, outcome};

/// Values of every `authorization` header, as a host hands them to the core.
fn authorization(headers: &[(String, String)]) -> Vec<&[u8]> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_bytes())
        .collect()
}

/// A deny must never be cached (README: every deny carries `cache-control: no-store`).
fn deny_headers_ok(status: u16, cache_control: Option<&str>, content_type: Option<&str>) -> bool {
    status == 200 || (cache_control == Some("no-store") && content_type == Some("application/json"))
}

#[test]
fn the_table_through_the_core() {
    let mut table = Table::load();
    let (groups, skipped) = by_config(table.plan("core"));
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for (config, cases) in groups {
        let settings = Settings::from_vars(config.clone()).expect("case config");
        let authorizer = settings.authorizer();
        for case in table.refresh("core", cases) {
            let auth = authorization(&case.headers);
            let view = RequestView {
                path: &case.path,
                authorization: &auth,
            };
            let answer = authorizer.judge(&view, table.now);
            let seen = match &answer {
                Answer::Allow { reason, user_id } => Seen {
                    status: 200,
                    error: None,
                    reason: Some(reason.code().to_owned()),
                    user: user_id.clone(),
                },
                Answer::Deny { reason, parts } => {
                    let header = |n: &str| {
                        parts
                            .headers
                            .iter()
                            .find(|(k, _)| *k == n)
                            .map(|(_, v)| v.as_str())
                    };
                    if !deny_headers_ok(
                        parts.status,
                        header("cache-control"),
                        header("content-type"),
                    ) {
                        failures.push(format!("{}: deny headers {:?}", case.id, parts.headers));
                    }
                    Seen {
                        status: parts.status,
                        error: header("www-authenticate").and_then(challenge_error),
                        reason: Some(reason.code().to_owned()),
                        user: None,
                    }
                }
            };
            failures.extend(mismatch(&case, &seen));
            ran.push(case);
        }
    }
    report("core", &table, &ran, &skipped, &failures);
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
            if !deny_headers_ok(status, o.header("cache-control"), o.header("content-type")) {
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
            };
            failures.extend(mismatch(&case, &seen));
            ran.push(case);
        }
        server.stop().await;
    }
    report("grpc", &table, &ran, &skipped, &failures);
}
