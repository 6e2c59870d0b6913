//! The README's demo command, in its check mode: the same script a newcomer runs.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn the_demo_script_runs_and_its_curl_lines_behave_as_printed() {
    tokio::task::spawn_blocking(envoy_bin)
        .await
        .expect("envoy install");
    let out = tokio::process::Command::new("bash")
        .arg(repo_root().join("envoy/demo.sh"))
        .arg("--check")
        .env("UIDGATE_BIN", env!("CARGO_BIN_EXE_uid-gate"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("demo finishes")
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("\nok ").count(), 7, "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}
