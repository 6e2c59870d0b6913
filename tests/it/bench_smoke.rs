//! The benchmark harness in smoke mode (a few seconds, debug binaries), so it cannot rot.
//! The numbers it prints are not meaningful; `bash bench/run.sh` measures for real.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn bench_harness_runs_in_smoke_mode() {
    tokio::task::spawn_blocking(envoy_bin)
        .await
        .expect("envoy install");
    let out = tokio::process::Command::new("bash")
        .arg(repo_root().join("bench/run.sh"))
        .arg("--smoke")
        .env("UIDGATE_BIN", env!("CARGO_BIN_EXE_uid-gate"))
        .env("UIDGATE_LOAD_BIN", env!("CARGO_BIN_EXE_uid-gate-load"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .expect("smoke run finishes")
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench smoke failed:\n{stdout}\n{stderr}"
    );
    for needle in [
        "1. Envoy, no auth",
        "2. Envoy + jwt_authn",
        "3. Envoy + ext_authz -> uid-gate",
        "4. Envoy + HTTP ext_authz -> uid-gate",
        "ratio 3/2",
        "  max ",
        "  half ",
        "peak RSS",
        "start to SERVING",
        "benchmark complete",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

/// The FastAPI benchmark (bench/fastapi.sh) in smoke mode: every setup starts, answers 200
/// for the owner and 403 for another user's path, and the figures print.
#[tokio::test]
async fn fastapi_bench_harness_runs_in_smoke_mode() {
    tokio::task::spawn_blocking(venv).await.expect("venv");
    let out = tokio::process::Command::new("bash")
        .arg(repo_root().join("bench/fastapi.sh"))
        .arg("--smoke")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .expect("smoke run finishes")
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fastapi bench smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "none ",
        "null ",
        "pyjwt_def ",
        "pyjwt_async ",
        "uid_gate_dependency ",
        "uid_gate_middleware ",
        "uid_gate dependency vs PyJWT async dependency",
        "decision alone from Python",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}
