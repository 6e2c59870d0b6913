//! The README's demo command, in its check mode: the same script a newcomer runs, on free
//! ports (which also shows that every port can be moved).

use std::time::Duration;

use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}

fn demo(ports: &[(&str, u16)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(repo_root().join("envoy/demo.sh"))
        .arg("--check")
        .env("UIDGATE_BIN", env!("CARGO_BIN_EXE_uid-gate"))
        .kill_on_drop(true);
    for (var, port) in ports {
        cmd.env(var, port.to_string());
    }
    cmd
}

const PORT_VARS: [&str; 5] = [
    "DEMO_PORT",
    "DEMO_ENVOY_ADMIN_PORT",
    "DEMO_GRPC_PORT",
    "DEMO_ADMIN_PORT",
    "DEMO_APP_PORT",
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

#[tokio::test]
async fn the_demo_script_runs_and_its_curl_lines_behave_as_printed() {
    tokio::task::spawn_blocking(envoy_bin)
        .await
        .expect("envoy install");
    let ports: Vec<(&str, u16)> = PORT_VARS.iter().map(|v| (*v, free_port())).collect();
    let out = tokio::time::timeout(Duration::from_secs(300), demo(&ports).output())
        .await
        .expect("demo finishes")
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("\nok ").count(), 10, "{stdout}");
    assert!(stdout.contains("10 passed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // At once again, on the same ports, with a connection of the app's port left in
    // TIME-WAIT (as a stopped server's actively closed connections are): a port that nothing
    // listens on must count as free.
    time_wait_on(ports[4].1);
    let again = tokio::time::timeout(Duration::from_secs(300), demo(&ports).output())
        .await
        .expect("demo finishes")
        .expect("run demo");
    assert!(
        again.status.success(),
        "a second run right after the first failed:\n{}\n{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
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
