//! The conformance table through the core directly: the `core` host, and the fast test set
//! of mutation testing (tests/mutants.sh).

#[path = "../../../tests/conformance/table.rs"]
#[allow(dead_code)]
mod table;

use table::{Case, Seen, Table, by_config, challenge_error, mismatch, report};
use uid_gate_core::response::Answer;
use uid_gate_core::{RequestView, Settings};

/// Values of every `authorization` header, as a host hands them to the core.
fn authorization(headers: &[(String, String)]) -> Vec<&[u8]> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_bytes())
        .collect()
}

/// A deny must never be cached: every deny carries `cache-control: no-store`, and the
/// content type of its form (a JSON body, or gRPC's).
fn deny_headers_ok(case: &Case, cache_control: Option<&str>, content_type: Option<&str>) -> bool {
    let form = if case.is_grpc() {
        "application/grpc"
    } else {
        "application/json"
    };
    cache_control == Some("no-store") && content_type == Some(form)
}

/// The request's content type, as a host hands it to the core.
fn content_type(headers: &[(String, String)]) -> Option<&[u8]> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_bytes())
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
                content_type: content_type(&case.headers),
                method: Some(&case.method),
            };
            let answer = authorizer.judge(&view, table.now);
            let seen = match &answer {
                Answer::Allow { reason, user_id } => Seen {
                    status: 200,
                    error: None,
                    reason: Some(reason.code().to_owned()),
                    user: user_id.clone(),
                    grpc_status: None,
                },
                Answer::Deny { reason, parts } => {
                    let header = |n: &str| parts.header(n);
                    if !deny_headers_ok(&case, header("cache-control"), header("content-type")) {
                        failures.push(format!("{}: deny headers {:?}", case.id, parts.headers));
                    }
                    Seen {
                        status: parts.status,
                        error: header("www-authenticate").and_then(challenge_error),
                        reason: Some(reason.code().to_owned()),
                        user: None,
                        grpc_status: header("grpc-status").and_then(|s| s.parse().ok()),
                    }
                }
            };
            failures.extend(mismatch(&case, &seen));
            ran.push(case);
        }
    }
    report("core", &table, &ran, &skipped, &failures);
}
