//! The conformance table through the core directly: the `core` host, and the fast test set
//! of mutation testing (tests/mutants.sh).

#[path = "../../../tests/conformance/table.rs"]
#[allow(dead_code)]
mod table;

use table::{Seen, Table, by_config, challenge_error, mismatch, report};
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

/// A deny must never be cached: every deny carries `cache-control: no-store`.
fn deny_headers_ok(cache_control: Option<&str>, content_type: Option<&str>) -> bool {
    cache_control == Some("no-store") && content_type == Some("application/json")
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
                    if !deny_headers_ok(header("cache-control"), header("content-type")) {
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
