//! The benchmark harnesses in smoke mode (a few seconds, debug binaries), so they cannot rot.
//! The numbers they print are not meaningful; the scripts measure for real without it.

use std::time::Duration;

use crate::helpers::*;

/// Runs `bench/SCRIPT` with `args` and `envs`; fails unless it succeeds and prints every
/// one of `needles`.
async fn smoke(script: &str, args: &[&str], envs: &[(&str, &str)], needles: &[&str]) {
    let out = tokio::process::Command::new("bash")
        .arg(repo_root().join("bench").join(script))
        .args(args)
        .envs(envs.iter().copied())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .expect("smoke run finishes")
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in needles {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

/// The binaries the harness takes: the service, and the load client, a dev-only example,
/// built here beside this test (cargo test may only check it).
fn binaries() -> [(&'static str, String); 2] {
    let exe = std::env::current_exe().expect("test executable");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let load = profile.join("examples/uid-gate-load");
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let ok = std::process::Command::new(env!("CARGO"))
            .args(["build", "--locked", "--quiet", "--example", "uid-gate-load"])
            .current_dir(repo_root())
            .status()
            .expect("cargo");
        assert!(ok.success(), "cargo build --example uid-gate-load failed");
    });
    assert!(load.is_file(), "{} was not built", load.display());
    [
        ("UIDGATE_BIN", env!("CARGO_BIN_EXE_uid-gate").to_owned()),
        ("UIDGATE_LOAD_BIN", load.to_string_lossy().into_owned()),
    ]
}

#[tokio::test]
async fn bench_harness_runs_in_smoke_mode() {
    tokio::task::spawn_blocking(envoy_bin)
        .await
        .expect("envoy install");
    tokio::task::spawn_blocking(load_tools)
        .await
        .expect("wrk, h2load");
    let module = tokio::task::spawn_blocking(|| crate::envoy_module::module_so(false))
        .await
        .expect("module");
    let module = module.to_str().expect("utf8");
    let null = tokio::task::spawn_blocking(|| {
        crate::envoy_module::module_variant(Some("bench-null-filter"))
    })
    .await
    .expect("null module");
    let null = null.to_str().expect("utf8");
    let [(bin_var, bin), (load_var, load)] = binaries();
    let envs = [
        (bin_var, bin.as_str()),
        (load_var, load.as_str()),
        ("UIDGATE_MODULE", module),
        ("UIDGATE_NULL_MODULE", null),
    ];
    smoke(
        "run.sh",
        &["--smoke"],
        &envs,
        &[
            "token: mint, ",
            "1. Envoy, no auth",
            "2. Envoy + jwt_authn",
            "3. Envoy + ext_authz -> uid-gate",
            "4. Envoy + HTTP ext_authz -> uid-gate",
            "6. as 3, google_grpc client",
            "7. Envoy + uid-gate module",
            "(7a the null module: floor)",
            "ratio 7/2",
            "ratio 3/2",
            "ratio 7/3",
            "ratio 7/7a",
            "HTTP/2 downstream (h2load -m10)",
            "Envoy --concurrency 2 (wrk)",
            "ratio h2 7/2",
            "ratio c2 7/1",
            "  max ",
            "  half ",
            "peak RSS",
            "start to SERVING",
            "benchmark complete",
        ],
    )
    .await;
    // The module against another revision's (here: the same build), alone, with the
    // breakdown's variant (its reads and writes through Envoy, no decision).
    let abi = tokio::task::spawn_blocking(|| {
        crate::envoy_module::module_variant(Some("bench-abi-filter"))
    })
    .await
    .expect("abi-only module");
    let abi = abi.to_str().expect("utf8").to_owned();
    let baseline = TempDir::new("bench-baseline");
    std::os::unix::fs::symlink(&bin, baseline.path().join("uid-gate")).expect("link");
    std::os::unix::fs::symlink(module, baseline.path().join("libuid_gate_envoy.so")).expect("link");
    let dir = baseline.path().to_str().expect("utf8").to_owned();
    let mut only = envs.to_vec();
    only.extend([
        ("BENCH_MODULE_ONLY", "1"),
        ("BENCH_MODULE_BASELINE", dir.as_str()),
        ("BENCH_MODULE_PARTS", "1"),
        ("UIDGATE_ABI_MODULE", abi.as_str()),
    ]);
    smoke(
        "run.sh",
        &["--smoke"],
        &only,
        &[
            "7. Envoy + uid-gate module",
            "(7b the module of BENCH_MODULE_BASELINE)",
            "(7c reads and writes, no decision)",
            "of which reads and writes through the ABI (7c-7a)",
            "ratio 7/7b (this module vs the baseline)",
            "ratio 7/7a",
            "per round, median: 7/2 ",
        ],
    )
    .await;
    // The pairs (two Envoys on one CPU at once), with the same builds and a token as Better
    // Auth signs one.
    let better_auth = [only.as_slice(), &[("BENCH_TOKEN", "better-auth")]].concat();
    smoke(
        "paired.sh",
        &["--smoke"],
        &better_auth,
        &[
            "token: better-auth, ",
            "7a/7  the null module over the module",
            "1/7   no auth over the module",
            "2/7   jwt_authn over the module",
            "2/7a  jwt_authn over the null module",
            "7b/7  the baseline module over this one",
            "paired measure complete",
        ],
    )
    .await;
    // The instruction counts under callgrind, with the same builds.
    let counted = [
        (bin_var, bin.as_str()),
        ("UIDGATE_MODULE", module),
        ("UIDGATE_NULL_MODULE", null),
        ("UIDGATE_ABI_MODULE", abi.as_str()),
    ];
    smoke(
        "instructions.sh",
        &["--smoke"],
        &counted,
        &[
            "1. Envoy, no auth",
            "2. Envoy + jwt_authn (HS256)",
            "7. Envoy + uid-gate module",
            "(7a the null module: floor)",
            "(7c reads and writes, no decision)",
            "over the null module: ",
            "SHA-256 as this CPU runs it: ",
            "ratio 7a/7 (the null module over the module",
            "instruction count complete",
        ],
    )
    .await;
}

#[tokio::test]
async fn fastapi_bench_harness_runs_in_smoke_mode() {
    tokio::task::spawn_blocking(venv).await.expect("venv");
    tokio::task::spawn_blocking(load_tools)
        .await
        .expect("wrk, h2load");
    smoke(
        "fastapi.sh",
        &["--smoke"],
        &[],
        &[
            "none ",
            "null ",
            "pyjwt_def ",
            "pyjwt_async ",
            "uid_gate_dependency ",
            "null_middleware ",
            "uid_gate_middleware ",
            "vs null middle.",
            "medians of 1 interleaved rounds",
            "uid_gate dependency vs PyJWT async dependency",
            "decision alone from Python",
        ],
    )
    .await;
}
