//! Caddy (`forward_auth`) and Traefik (`forwardAuth`) from the package index, each running the
//! shipped example (`examples/caddy/Caddyfile`, `examples/traefik/dynamic.yml`) with only its
//! addresses changed, in front of uid-gate's HTTP mode and an upstream.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::{Proc, TempDir, http_request, pip_tool, repo_root};

/// A free loopback port (bound and released).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
}

/// Replaces `from` in `text`, which must occur exactly `count` times (a changed example
/// fails loudly instead of being half rendered).
fn swap(text: &str, from: &str, to: &str, count: usize, file: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        count,
        "{file} must contain {from:?} {count} time(s)"
    );
    text.replace(from, to)
}

/// Waits until the proxy answers `/healthz` with anything but its own not-found or
/// bad-gateway (its routes are loaded and uid-gate is reachable).
async fn wait_ready(listen: SocketAddr, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http_request(listen, "GET", "/healthz", &[]).await
            && r.status == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Caddy with `examples/caddy/Caddyfile`.
pub async fn start_caddy(
    uid_gate_http: SocketAddr,
    app: SocketAddr,
) -> (Proc, TempDir, SocketAddr) {
    let dir = TempDir::new("caddy");
    let listen = free_addr();
    let name = "examples/caddy/Caddyfile";
    let text = std::fs::read_to_string(repo_root().join(name)).expect(name);
    // Only the address changes; the global block keeps Caddy's admin API and listeners off
    // every address but loopback.
    let global = "{\n\tadmin off\n\tdefault_bind 127.0.0.1\n}\n";
    let text = swap(
        &text,
        ":8080 {",
        &format!("{global}:{} {{", listen.port()),
        1,
        name,
    );
    let text = swap(
        &text,
        "forward_auth 127.0.0.1:9193",
        &format!("forward_auth {uid_gate_http}"),
        1,
        name,
    );
    let text = text.replace("127.0.0.1:8081", &app.to_string());
    let conf = dir.path().join("Caddyfile");
    std::fs::write(&conf, text).expect("write Caddyfile");
    let mut cmd = Command::new(pip_tool("caddy"));
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("HOME", dir.path())
        .stderr(std::process::Stdio::null());
    let proc = Proc::spawn(cmd);
    wait_ready(listen, "caddy").await;
    (proc, dir, listen)
}

/// Traefik with `examples/traefik/dynamic.yml` and a static
/// configuration of one entry point.
pub async fn start_traefik(
    uid_gate_http: SocketAddr,
    app: SocketAddr,
) -> (Proc, TempDir, SocketAddr) {
    let dir = TempDir::new("traefik");
    let listen = free_addr();
    let name = "examples/traefik/dynamic.yml";
    let text = std::fs::read_to_string(repo_root().join(name)).expect(name);
    let text = swap(
        &text,
        "http://uid-gate:9193/",
        &format!("http://{uid_gate_http}/"),
        1,
        name,
    );
    let text = swap(&text, "http://app:8081", &format!("http://{app}"), 1, name);
    let dynamic = dir.path().join("dynamic.yml");
    std::fs::write(&dynamic, text).expect("write dynamic.yml");
    let mut cmd = Command::new(pip_tool("traefik"));
    cmd.arg(format!("--entryPoints.web.address={listen}"))
        .arg(format!("--providers.file.filename={}", dynamic.display()))
        .args([
            "--log.level=ERROR",
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
        ])
        .env("HOME", dir.path())
        .stderr(std::process::Stdio::null());
    let proc = Proc::spawn(cmd);
    wait_ready(listen, "traefik").await;
    (proc, dir, listen)
}
