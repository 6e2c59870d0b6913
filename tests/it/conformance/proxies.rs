//! The table through real proxies: Envoy calling uid-gate over gRPC and over HTTP ext_authz,
//! nginx `auth_request`, Caddy `forward_auth` and Traefik `forwardAuth`. What a proxy lets a client see: the status, the challenge, the
//! JSON body on denies (its description names the reason), and what reached the upstream.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use uid_gate::config::Config;
use uid_gate::response::reason_for_description;

use super::{Case, Seen, Table, by_config, challenge_error, mismatch, report};
use crate::envoy_module::{module_bootstrap, module_env, module_so};
use crate::forward_auth::{start_caddy, start_traefik};
use crate::helpers::*;

/// Which proxy fronts uid-gate.
#[derive(Debug, Clone, Copy)]
enum Proxy {
    EnvoyGrpc,
    EnvoyHttp,
    /// Envoy alone with uid-gate's core as a dynamic module (`--inline`, the module engine).
    EnvoyModule,
    Nginx,
    Caddy,
    Traefik,
}

impl Proxy {
    fn host(self) -> &'static str {
        match self {
            Proxy::EnvoyGrpc => "envoy_grpc",
            Proxy::EnvoyHttp => "envoy_http",
            Proxy::EnvoyModule => "envoy_module",
            Proxy::Nginx => "nginx",
            Proxy::Caddy => "caddy",
            Proxy::Traefik => "traefik",
        }
    }
}

/// A running proxy and what it needs kept alive.
struct Running {
    listener: SocketAddr,
    _envoy: Option<Envoy>,
    _proc: Option<(Proc, TempDir)>,
}

async fn start(
    proxy: Proxy,
    server: &TestServer,
    echo: SocketAddr,
    config: &Config,
    vars: &[(String, String)],
) -> Running {
    match proxy {
        Proxy::EnvoyModule => {
            let so = tokio::task::spawn_blocking(|| module_so(false))
                .await
                .expect("module");
            let yaml = module_bootstrap(config, echo, &so);
            let envoy = Envoy::start_with(&yaml, &module_env(vars), 1).await;
            Running {
                listener: envoy.listener,
                _envoy: Some(envoy),
                _proc: None,
            }
        }
        Proxy::EnvoyGrpc | Proxy::EnvoyHttp => {
            let yaml = match proxy {
                Proxy::EnvoyGrpc => render_envoy_config(server.addr.port(), echo.port()),
                _ => render_envoy(
                    "envoy/envoy-http-authz.yaml",
                    &[
                        (9901, 0),
                        (10000, 0),
                        (9193, server.http.port()),
                        (8081, echo.port()),
                    ],
                ),
            };
            let envoy = Envoy::start(&yaml).await;
            Running {
                listener: envoy.listener,
                _envoy: Some(envoy),
                _proc: None,
            }
        }
        Proxy::Nginx | Proxy::Caddy | Proxy::Traefik => {
            let (proc, dir, listener) = match proxy {
                Proxy::Nginx => start_nginx(server.http, echo).await,
                Proxy::Caddy => start_caddy(server.http, echo).await,
                _ => start_traefik(server.http, echo).await,
            };
            Running {
                listener,
                _envoy: None,
                _proc: Some((proc, dir)),
            }
        }
    }
}

async fn run(proxy: Proxy) {
    let host = proxy.host();
    match proxy {
        Proxy::Nginx => {
            tokio::task::spawn_blocking(nginx_bin).await.expect("nginx");
        }
        Proxy::Caddy | Proxy::Traefik => {}
        _ => {
            tokio::task::spawn_blocking(envoy_bin).await.expect("envoy");
        }
    }
    let mut table = Table::load();
    let (groups, skipped) = by_config(table.plan(host));
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for (mut config, cases) in groups {
        match proxy {
            Proxy::Nginx => {
                config.push(("UIDGATE_HTTP_URI_HEADER".into(), "x-original-uri".into()))
            }
            Proxy::Caddy | Proxy::Traefik => {
                config.push(("UIDGATE_HTTP_URI_HEADER".into(), "x-forwarded-uri".into()));
            }
            _ => {}
        }
        let vars = config.clone();
        let config = Config::from_vars(config).expect("case config");
        let server = TestServer::start_with(config.clone()).await;
        let (echo, echo_addr) = spawn_echo().await;
        let running = start(proxy, &server, echo_addr, &config, &vars).await;
        // A readiness probe may have reached the upstream already.
        let before = upstream_count(echo_addr).await;
        let mut allowed = 0;
        for case in cases {
            // Built as it is sent: a group of ~200 requests through a proxy under load takes
            // long enough to age a "within leeway" token past its case's intent.
            let case = &table.refresh_one(host, case);
            let (seen, reached) = send(running.listener, case).await;
            // A gRPC deny is an HTTP 200 too: only its grpc-status tells it from an allow.
            let let_through = seen.status == 200 && seen.grpc_status.is_none();
            allowed += usize::from(let_through);
            if reached != let_through {
                failures.push(format!(
                    "{}: status {} but upstream reached: {reached}",
                    case.id, seen.status
                ));
            }
            failures.extend(mismatch(case, &seen));
            ran.push(case.clone());
        }
        let upstream = upstream_count(echo_addr).await - before;
        if upstream != allowed {
            failures.push(format!(
                "{allowed} requests were allowed but the upstream served {upstream}"
            ));
        }
        drop(running);
        drop(echo);
        server.stop().await;
    }
    report(host, &table, &ran, &skipped, &failures);
}

/// Sends one case as its client would; returns what the client saw and whether the upstream
/// answered.
async fn send(addr: SocketAddr, case: &Case) -> (Seen, bool) {
    if case.is_grpc() {
        return send_grpc(addr, case).await;
    }
    let headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = http_request(addr, &case.method, &case.path, &headers)
        .await
        .unwrap_or_else(|e| panic!("{}: request failed: {e}", case.id));
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    // The echo upstream answers with what it received; denies carry uid-gate's JSON body.
    let reached = is_echo(&body);
    let lookalikes = lookalikes(&body);
    if !lookalikes.is_empty() {
        return (
            Seen {
                status: r.status,
                error: Some(format!("the upstream saw {lookalikes:?}")),
                reason: None,
                user: None,
                grpc_status: None,
            },
            reached,
        );
    }
    let user = if reached { upstream_user(&body) } else { None };
    let reason = body["error_description"].as_str().map(reason_of);
    let challenges = r
        .headers
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .count();
    let challenged = challenges > 0;
    if challenges > 1
        || (r.status != 200
            && (reason.is_some() || challenged)
            && r.header("cache-control") != Some("no-store"))
    {
        return (
            Seen {
                status: r.status,
                error: Some(format!(
                    "missing cache-control: no-store in {:?}",
                    r.headers
                )),
                reason,
                user,
                grpc_status: None,
            },
            reached,
        );
    }
    let seen = Seen {
        status: r.status,
        error: r.header("www-authenticate").and_then(challenge_error),
        reason,
        user,
        grpc_status: r.header("grpc-status").and_then(|s| s.parse().ok()),
    };
    (seen, reached)
}

/// Sends a gRPC-client case over HTTP/2 and reads what a gRPC client reads: `grpc-status`
/// and `grpc-message` (uid-gate's description), and, for an allowed call, what reached the
/// upstream (the echo server, not a gRPC server, answers with what it received).
async fn send_grpc(addr: SocketAddr, case: &Case) -> (Seen, bool) {
    let headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = grpc_call(addr, &case.path, &headers)
        .await
        .unwrap_or_else(|e| panic!("{}: gRPC call failed: {e}", case.id));
    // An allowed call reaches the echo upstream, which is no gRPC server: what it received
    // comes back as the body, or, behind the gRPC-Web filter, as grpc-message (with the
    // filter's UNKNOWN). Either way that status is the upstream's, not the gate's.
    let echoed = [Some(r.body.as_str()), r.grpc_message.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|t| serde_json::from_str::<Value>(t).ok().filter(is_echo));
    let reached = echoed.is_some();
    let user = echoed.as_ref().and_then(upstream_user);
    let reason = r
        .grpc_message
        .as_deref()
        .filter(|_| !reached)
        .map(reason_of);
    // As over HTTP: nothing a backend could read as x-user-id but uid-gate's own header.
    let lookalikes = echoed.as_ref().map(lookalikes).unwrap_or_default();
    let seen = Seen {
        status: r.status,
        error: if lookalikes.is_empty() {
            r.header("www-authenticate").and_then(challenge_error)
        } else {
            Some(format!("the upstream saw {lookalikes:?}"))
        },
        reason,
        user,
        grpc_status: r.grpc_status.filter(|_| !reached),
    };
    (seen, reached)
}

/// Whether `body` is the echo upstream's answer (what it received), not a deny's.
fn is_echo(body: &Value) -> bool {
    body.get("headers").is_some() && body.get("path").is_some()
}

/// Headers the upstream received that a backend could read as `x-user-id` besides
/// uid-gate's own (nginx drops, and the shipped Envoy configs refuse, underscore spellings).
fn lookalikes(body: &Value) -> Vec<String> {
    body["headers"]
        .as_object()
        .map(|h| {
            h.keys()
                .filter(|k| {
                    *k != "x-user-id" && k.to_ascii_lowercase().replace('_', "-") == "x-user-id"
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The one `x-user-id` the upstream received, or a note that there were several.
fn upstream_user(body: &Value) -> Option<String> {
    match body["headers"]["x-user-id"].as_array().map(Vec::as_slice) {
        None | Some([]) => None,
        Some([one]) => one.as_str().map(str::to_owned),
        Some(many) => Some(format!("repeated x-user-id: {many:?}")),
    }
}

/// The reason code whose deny carries `description` (`unknown: …` for a text uid-gate never
/// sends).
fn reason_of(description: &str) -> String {
    reason_for_description(description).map_or_else(
        || format!("unknown: {description}"),
        |r| r.code().to_owned(),
    )
}

async fn upstream_count(echo: SocketAddr) -> usize {
    // Give a late request a moment to be recorded before counting.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let resp = http_request(echo, "GET", "/__echo/seen", &[])
        .await
        .expect("seen");
    serde_json::from_str::<Vec<Value>>(&resp.body)
        .expect("seen JSON")
        .len()
}

#[tokio::test]
async fn the_table_through_envoy_grpc() {
    run(Proxy::EnvoyGrpc).await;
}

#[tokio::test]
async fn the_table_through_envoy_http() {
    run(Proxy::EnvoyHttp).await;
}

#[tokio::test]
async fn the_table_through_nginx() {
    run(Proxy::Nginx).await;
}

#[tokio::test]
async fn the_table_through_envoy_module() {
    run(Proxy::EnvoyModule).await;
}

#[tokio::test]
async fn the_table_through_caddy() {
    run(Proxy::Caddy).await;
}

#[tokio::test]
async fn the_table_through_traefik() {
    run(Proxy::Traefik).await;
}
