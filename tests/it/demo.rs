//! The README's demo command, in its check mode: the same script a newcomer runs, on free
//! ports (which also shows that every port can be moved), with the real Better Auth server in
//! both signing modes, and without it (minted tokens).

use std::time::Duration;

use crate::helpers::*;

/// A free port below Linux's ephemeral range (32768 and up), so that no other test's
/// outgoing connection takes it between the demo's runs on the same ports.
fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 6_000) as u16;
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = 20_000 + (start - 20_000 + n) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn demo(ports: &[(&str, u16)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(repo_root().join("envoy/demo.sh"))
        .arg("--check")
        .env("UIDGATE_BIN", env!("CARGO_BIN_EXE_uid-gate"))
        // Built and installed once per test run (python.rs); the demo would otherwise build
        // it again, beside the other tests.
        .env("UIDGATE_SKIP_WHEEL", "1")
        .kill_on_drop(true);
    for (var, port) in ports {
        cmd.env(var, port.to_string());
    }
    cmd
}

const PORT_VARS: [&str; 6] = [
    "DEMO_PORT",
    "DEMO_ENVOY_ADMIN_PORT",
    "DEMO_GRPC_PORT",
    "DEMO_ADMIN_PORT",
    "DEMO_APP_PORT",
    "DEMO_AUTH_PORT",
];

/// Leaves a TIME-WAIT connection whose local port is `port`: the accepting side closes first.
fn time_wait_on(port: u16) {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");
    drop(accepted);
    std::thread::sleep(Duration::from_millis(50));
    drop(client);
    drop(listener);
    std::thread::sleep(Duration::from_millis(50));
}

/// Runs the demo's check mode and returns what it printed; fails unless every check passed
/// and there were `checks` of them.
async fn run_checks(ports: &[(&str, u16)], extra: &[(&str, &str)], checks: usize) -> String {
    let mut cmd = demo(ports);
    cmd.envs(extra.iter().copied());
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("demo finishes")
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "demo {extra:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("\nok ").count(), checks, "{stdout}");
    assert!(
        stdout.contains(&format!("{checks} passed, 0 failed")),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    stdout
}

#[tokio::test]
async fn the_demo_script_runs_and_its_curl_lines_behave_as_printed() {
    tokio::task::spawn_blocking(|| {
        envoy_bin();
        npm_ci("examples/better-auth");
        build_and_install_wheel();
    })
    .await
    .expect("envoy, npm ci and the wheel");
    let ports: Vec<(&str, u16)> = PORT_VARS.iter().map(|v| (*v, free_port())).collect();
    // The default, with Node present: the real Better Auth server, HS256 with the secret.
    let out = run_checks(&ports, &[], 32).await;
    assert!(
        out.contains("Better Auth (signing hs256")
            && out.contains("Open the page: http://localhost:"),
        "{out}"
    );
    // At once again, on the same ports, with a connection of the app's port left in
    // TIME-WAIT (as a stopped server's actively closed connections are): a port that nothing
    // listens on must count as free. This time the plugin's EdDSA keys, through the JWKS,
    // and the page's cross-origin calls to the app directly (its CORSMiddleware).
    time_wait_on(ports[4].1);
    let out = run_checks(
        &ports,
        &[("DEMO_SIGNING", "eddsa"), ("DEMO_API", "app")],
        32,
    )
    .await;
    assert!(
        out.contains("200  http://localhost:")
            && out.contains("(public keys)")
            && out.contains(&format!(
                "preflight from http://localhost:{} to http://localhost:{}",
                ports[5].1, ports[4].1
            )),
        "{out}"
    );
    // Without Better Auth: tokens from `uid-gate mint`.
    run_checks(&ports, &[("DEMO_AUTH", "minted")], 11).await;
}

#[tokio::test]
async fn a_demo_variable_with_a_wrong_value_is_refused_in_one_line() {
    for (var, value) in [
        ("DEMO_AUTH", "firebase"),
        ("DEMO_SIGNING", "rs256"),
        ("DEMO_API", "nginx"),
    ] {
        let out = demo(&[]).env(var, value).output().await.expect("run demo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{var} must be")), "{stderr}");
    }
}

#[tokio::test]
async fn a_taken_port_is_named_in_one_line_with_the_variable_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut ports: Vec<(&str, u16)> = PORT_VARS.iter().map(|v| (*v, free_port())).collect();
    ports[2].1 = port;
    let out = demo(&ports).output().await.expect("run demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} (uid-gate's gRPC) is already in use"))
            && stderr.contains("DEMO_GRPC_PORT="),
        "{stderr}"
    );
}
