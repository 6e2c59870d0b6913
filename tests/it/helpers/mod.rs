//! Shared test helpers: an in-process server on port 0, a tonic client, CheckRequest and
//! token builders (here); real processes and a real Envoy stack (`processes`); a raw HTTP/1.1
//! client (`http_client`); nginx (`nginx`); every tool installed on first use (`provision`).
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
use uid_gate::envoy_config::{GrpcClient, HostPort, Options};
use uid_gate::metrics::Metrics;
use uid_gate::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use uid_gate::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use uid_gate::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use uid_gate::pb::envoy::service::auth::v3::check_response::HttpResponse;
use uid_gate::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};

mod grpc_client;
mod http_client;
mod nginx;
mod processes;
mod provision;

pub use grpc_client::*;
pub use http_client::*;
pub use nginx::*;
pub use processes::*;
pub use provision::*;

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
