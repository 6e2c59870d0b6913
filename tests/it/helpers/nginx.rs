//! nginx from Debian's packages, with the repository's example configuration.

use super::*;

/// nginx with `examples/nginx/nginx.conf`, its ports replaced.
pub async fn start_nginx(
    uid_gate_http: SocketAddr,
    echo: SocketAddr,
) -> (Proc, TempDir, SocketAddr) {
    start_nginx_edited(uid_gate_http, echo, str::to_owned).await
}

/// The same, with `edit` applied to the example's text first (e.g. to add a location).
pub async fn start_nginx_edited(
    uid_gate_http: SocketAddr,
    echo: SocketAddr,
    edit: fn(&str) -> String,
) -> (Proc, TempDir, SocketAddr) {
    let dir = TempDir::new("nginx");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr");
    let conf = edit(
        &std::fs::read_to_string(repo_root().join("examples/nginx/nginx.conf"))
            .expect("examples/nginx/nginx.conf"),
    )
    .replace("listen 8080;", &format!("listen {listen};"))
    .replace(
        "server 127.0.0.1:9193;",
        &format!("server {uid_gate_http};"),
    )
    .replace("server 127.0.0.1:8081;", &format!("server {echo};"))
    .replace(
        "pid /run/nginx-uid-gate.pid;",
        &format!("pid {}/nginx.pid;", dir.path().display()),
    );
    assert!(
        conf.contains(&listen.to_string()),
        "example config changed shape"
    );
    std::fs::write(dir.path().join("nginx.conf"), &conf).expect("write conf");
    std::fs::create_dir_all(dir.path().join("logs")).expect("logs");
    let mut cmd = tokio::process::Command::new(nginx_bin());
    cmd.arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .args([
            "-g",
            "daemon off; master_process off; error_log stderr crit;",
        ]);
    let proc = Proc::spawn(cmd);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while http_request(listen, "GET", "/healthz", &[]).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nginx did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (proc, dir, listen)
}
