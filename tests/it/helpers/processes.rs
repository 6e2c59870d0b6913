//! Real processes: the uid-gate binary, the echo upstream, Envoy.

use super::*;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A child process killed when dropped, with the lines it printed on stdout.
pub struct Proc {
    pub child: Child,
    pub lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("[child] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for a stdout line for which `pick` returns Some.
    pub async fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .unwrap_or_else(|| panic!("process exited before {what}"));
            if let Some(v) = pick(&line) {
                return v;
            }
        }
    }
}

/// Starts the real uid-gate binary with `env` and returns it with its bound address.
pub async fn spawn_uid_gate(env: &[(String, String)]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_uid-gate"));
    cmd.env_clear()
        .envs(env.iter().cloned())
        .env("UIDGATE_LOG_FORMAT", "json");
    let mut proc = Proc::spawn(cmd);
    let addr = proc
        .wait_for("uid-gate listening", |line| {
            let v: Value = serde_json::from_str(line).ok()?;
            (v["message"] == "listening").then(|| v["addr"].as_str()?.parse().ok())?
        })
        .await;
    (proc, addr)
}

/// Starts the echo upstream on a free port.
pub async fn spawn_echo() -> (Proc, SocketAddr) {
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("envoy/echo_upstream.py"))
        .args(["--port", "0"])
        .stderr(Stdio::null());
    let mut proc = Proc::spawn(cmd);
    let addr = proc
        .wait_for("echo upstream", |l| {
            l.strip_prefix("listening on ")?.parse().ok()
        })
        .await;
    (proc, addr)
}

/// `envoy/envoy.yaml` with its four ports replaced.
pub fn render_envoy_config(uid_gate: u16, app: u16) -> String {
    render_envoy(
        "envoy/envoy.yaml",
        &[(9901, 0), (10000, 0), (9191, uid_gate), (8081, app)],
    )
}

/// `uid-gate envoy-config ARGS` with only `vars` in the environment; its stdout.
pub fn envoy_config_cli(vars: &[(&str, &str)], args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_uid-gate"))
        .arg("envoy-config")
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("run uid-gate envoy-config");
    assert!(
        out.status.success(),
        "envoy-config {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// `envoy-config` options for a test: listener and admin on free ports, in front of
/// `upstream`, asking `authz` (ext_authz mode).
pub fn envoy_options(
    inline: bool,
    upstream: SocketAddr,
    authz: SocketAddr,
    client: GrpcClient,
) -> Options {
    let hp = |s: &str| HostPort::parse("--test", s).expect("host:port");
    Options {
        inline,
        // Inline tests name the module they built (envoy_module::module_bootstrap).
        module: String::new(),
        listen: hp("127.0.0.1:0"),
        upstream: hp(&upstream.to_string()),
        authz: hp(&authz.to_string()),
        admin: Some(hp("127.0.0.1:0")),
        grpc_client: client,
        jwks_ca_pem: None,
        cors_origins: Vec::new(),
        grpc_web: false,
        probe: None,
    }
}

/// An Envoy config from the repository with ports replaced. Each port must occur exactly
/// once, so a change to the file that these tests do not understand fails loudly.
pub fn render_envoy(file: &str, ports: &[(u16, u16)]) -> String {
    let mut yaml = std::fs::read_to_string(repo_root().join(file)).expect("envoy config");
    for (from, to) in ports {
        let needle = format!("port_value: {from} ");
        assert_eq!(
            yaml.matches(&needle).count(),
            1,
            "{file} must contain `{needle}` once"
        );
        yaml = yaml.replace(&needle, &format!("port_value: {to} "));
    }
    yaml
}

/// A running Envoy with its listener and admin addresses.
pub struct Envoy {
    pub proc: Proc,
    pub listener: SocketAddr,
    pub admin: SocketAddr,
    _dir: TempDir,
    log: PathBuf,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("uid-gate-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

impl Envoy {
    pub async fn start(config_yaml: &str) -> Self {
        Self::start_with(config_yaml, &[], 1).await
    }

    /// Envoy with `env` added to its environment (the module reads its secrets there) and
    /// `concurrency` worker threads.
    pub async fn start_with(config_yaml: &str, env: &[(String, String)], concurrency: u32) -> Self {
        let dir = TempDir::new("envoy");
        let config = dir.path().join("envoy.yaml");
        let admin_path = dir.path().join("admin.addr");
        std::fs::write(&config, config_yaml).expect("write envoy config");
        let mut cmd = Command::new(envoy_bin());
        cmd.arg("-c")
            .arg(&config)
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["--disable-hot-restart", "--log-level", "warn"])
            .arg("--concurrency")
            .arg(concurrency.to_string())
            .envs(env.iter().cloned());
        // Envoy's log goes to a file a test can read ([`Envoy::log`]), or with TEST_LOG to
        // the test's stderr.
        let log = dir.path().join("envoy.log");
        if std::env::var_os("TEST_LOG").is_some() {
            cmd.stderr(Stdio::inherit());
        } else {
            cmd.arg("--log-path")
                .arg(&log)
                .args(["--file-flush-interval-msec", "100"])
                .stderr(Stdio::null());
        }
        let proc = Proc::spawn(cmd);

        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let admin: SocketAddr = loop {
            if let Some(addr) = std::fs::read_to_string(&admin_path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break addr;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "envoy did not write its admin address"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let listener = loop {
            if let Ok(resp) = http_request(admin, "GET", "/listeners?format=json", &[]).await
                && let Ok(v) = serde_json::from_str::<Value>(&resp.body)
                && let Some(port) =
                    v["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
                        .as_u64()
                && let Ok(ready) = http_request(admin, "GET", "/ready", &[]).await
                && ready.status == 200
            {
                break SocketAddr::from(([127, 0, 0, 1], port as u16));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "envoy did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Self {
            proc,
            listener,
            admin,
            _dir: dir,
            log,
        }
    }

    /// What Envoy has logged so far (empty with TEST_LOG, which sends it to stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One of Envoy's counters, from the admin stats endpoint.
    pub async fn stat(&self, name: &str) -> u64 {
        let resp = http_request(self.admin, "GET", &format!("/stats?filter=^{name}$"), &[])
            .await
            .expect("stats");
        resp.body
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: "))?.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// uid-gate (binary) + echo upstream + Envoy with the reference config.
pub struct Stack {
    pub uid_gate: Proc,
    pub uid_gate_addr: SocketAddr,
    pub echo: Proc,
    pub echo_addr: SocketAddr,
    pub envoy: Envoy,
}

impl Stack {
    pub async fn start(extra_env: &[(&str, &str)]) -> Self {
        let envoy_bin = tokio::task::spawn_blocking(envoy_bin);
        let (uid_gate, uid_gate_addr) = spawn_uid_gate(&env(extra_env)).await;
        let (echo, echo_addr) = spawn_echo().await;
        envoy_bin.await.expect("envoy install");
        let envoy =
            Envoy::start(&render_envoy_config(uid_gate_addr.port(), echo_addr.port())).await;
        Self {
            uid_gate,
            uid_gate_addr,
            echo,
            echo_addr,
            envoy,
        }
    }

    /// Sends a request through Envoy.
    pub async fn send(&self, path: &str, headers: &[(&str, &str)]) -> HttpReply {
        http_request(self.envoy.listener, "GET", path, headers)
            .await
            .expect("request through envoy")
    }

    /// Every request the upstream served, in order.
    pub async fn upstream_seen(&self) -> Vec<Value> {
        let resp = http_request(self.echo_addr, "GET", "/__echo/seen", &[])
            .await
            .expect("seen");
        serde_json::from_str::<Vec<Value>>(&resp.body).expect("seen JSON")
    }
}
