//! One check, whatever it arrived by (gRPC or plain HTTP): ask the core, then count, time and
//! log the answer. Never the token; only the reason, the path without its query, the path rule
//! that judged it, and for user-scoped paths the template that matched and the segment it read.

use std::time::Instant;

use tracing::info;
use uid_gate_core::response::Answer;
use uid_gate_core::{Authorizer, RequestView, unix_now};

use crate::metrics::Metrics;
use crate::telemetry::sanitize;

/// Judges one request at the current time, counts it, times it from `started` and logs it.
pub fn judge(
    authorizer: &Authorizer,
    metrics: &Metrics,
    req: &RequestView<'_>,
    request_id: &str,
    started: Instant,
) -> Answer {
    let answer = authorizer.judge(req, unix_now());
    metrics.record(answer.reason());
    metrics.observe_latency(started.elapsed());
    log(authorizer, &answer, req.path, request_id, started);
    answer
}

fn log(authorizer: &Authorizer, answer: &Answer, target: &str, request_id: &str, started: Instant) {
    // Nothing below is needed when the line is filtered out (`uid_gate::allow=off`).
    let wanted = if answer.is_allow() {
        tracing::enabled!(target: "uid_gate::allow", tracing::Level::INFO)
    } else {
        tracing::enabled!(target: "uid_gate::deny", tracing::Level::INFO)
    };
    if !wanted {
        return;
    }
    let path = sanitize(target.split('?').next().unwrap_or_default(), 256);
    let request_id = sanitize(request_id, 64);
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let status = answer.status();
    let reason = answer.reason();
    // Why a path was judged as someone's: the usual surprise is `/api/health` read as user "health".
    // An admin's read is logged with the owner's segment too.
    let (template, segment) = if reason.judged_by_template() {
        authorizer
            .paths()
            .matching_template(target)
            .map_or(("", Default::default()), |(t, s)| {
                (t.as_str(), sanitize(s, 128))
            })
    } else {
        ("", Default::default())
    };
    // Which rule judged the path (public or authenticated-only prefix, template, or none), for
    // every answer that depended on it.
    let rule = if reason.judged_by_path_rule() {
        authorizer
            .paths()
            .rule_for(target)
            .map_or(String::new(), |(_, rule)| rule.to_string())
    } else {
        String::new()
    };
    let reason = reason.code();
    // Two targets, so `RUST_LOG=info,uid_gate::allow=off` keeps denials but drops the bulk.
    if answer.is_allow() {
        info!(target: "uid_gate::allow", decision = "allow", status, reason, path = %path, rule = %rule, template, user_segment = %segment, request_id = %request_id, latency_us, "check");
    } else {
        info!(target: "uid_gate::deny", decision = "deny", status, reason, path = %path, rule = %rule, template, user_segment = %segment, request_id = %request_id, latency_us, "check");
    }
}
