//! Comparing what a host answered with what the table expects, and the per-host summary
//! every runner prints and records (target/conformance-summary.txt).

use super::*;

/// Compares what a host answered with what the table expects; `None` when they agree.
/// A gRPC answer travels as HTTP 200 with its status in `grpc-status` (what a gRPC client
/// reads), so for a gRPC case a 200 carrying the expected `grpc-status` stands for the
/// expected HTTP status. An HTTP client's answer never carries `grpc-status`.
pub fn mismatch(case: &Case, seen: &Seen) -> Option<String> {
    let e = &case.expect;
    let reason_ok = seen.reason.as_deref().is_none_or(|r| r == e.reason);
    let grpc_wire = case.is_grpc() && seen.status == 200 && seen.grpc_status.is_some();
    let status_ok = seen.status == e.status || grpc_wire;
    let ok = status_ok
        && seen.grpc_status == e.grpc_status
        && seen.error == e.error
        && reason_ok
        && seen.user == e.user;
    (!ok).then(|| {
        format!(
            "{}: got {} grpc {:?} {:?} {:?} user {:?}, want {} grpc {:?} {:?} {:?} user {:?}",
            case.id,
            seen.status,
            seen.grpc_status,
            seen.error,
            seen.reason,
            seen.user,
            e.status,
            e.grpc_status,
            e.error,
            e.reason,
            e.user
        )
    })
}

/// The `error` parameter of a `WWW-Authenticate: Bearer …` challenge.
pub fn challenge_error(www: &str) -> Option<String> {
    let i = www.find("error=\"")? + "error=\"".len();
    let rest = &www[i..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Appends a host's summary line to `target/conformance-summary.txt`, which CI prints: a
/// passing `cargo test` shows no test's output.
pub fn record_summary(line: &str) {
    use std::io::Write as _;
    let path = repo_root().join("target/conformance-summary.txt");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        eprintln!(
            "could not record the conformance summary in {}: {e}",
            path.display()
        );
    }
}

/// Prints the runner's summary line and fails with every mismatch.
pub fn report(
    host: &str,
    table: &Table,
    groups_run: &[Case],
    skipped: &[(String, String)],
    failures: &[String],
) {
    let total = table.len();
    let differ = groups_run
        .iter()
        .filter(|c| c.host_difference.is_some())
        .count();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, why) in skipped {
        *reasons.entry(why.as_str()).or_default() += 1;
    }
    let reasons: Vec<String> = reasons.iter().map(|(w, n)| format!("{n}: {w}")).collect();
    let summary = format!(
        "conformance [{host}]: {total} cases, {} skipped ({}), {differ} answered differently by this host by design (reasons in the table), {} run",
        skipped.len(),
        reasons.join("; "),
        groups_run.len()
    );
    println!("{summary}");
    record_summary(&summary);
    assert_eq!(
        groups_run.len() + skipped.len(),
        total,
        "every case is run or skipped with a reason"
    );
    assert!(
        total >= 150,
        "the table must hold at least 150 cases, has {total}"
    );
    assert!(
        failures.is_empty(),
        "conformance [{host}]: {} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Groups runnable cases by configuration, so each host starts once per configuration.
pub fn by_config(plan: Vec<Planned>) -> Groups {
    let mut groups: BTreeMap<Vec<(String, String)>, Vec<Case>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for p in plan {
        match p {
            Planned::Run(c) => groups.entry(c.config.clone()).or_default().push(c),
            Planned::Skip { id, why } => skipped.push((id, why)),
        }
    }
    (groups, skipped)
}
