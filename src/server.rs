//! The gRPC server: translates `CheckRequest` into a [`RequestView`], asks the
//! [`Authorizer`], translates the [`Decision`] back, logs and counts it. It also serves
//! `grpc.health.v1.Health` and owns the shutdown sequence.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tracing::{debug, info, warn};

use crate::config::{Config, SecretSet};
use crate::decision::{Authorizer, Decision, RequestView};
use crate::metrics::Metrics;
use crate::path_policy::PathPolicy;
use crate::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use crate::pb::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use crate::pb::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use crate::response;
use crate::telemetry::sanitize;
use crate::verify::{self, ClaimRules, Verifier};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("crypto self-test failed: the jsonwebtoken backend is not usable")]
    SelfTest,
    #[error("TLS settings for the JWKS URL: {0}")]
    Tls(String),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Full gRPC name of the ext_authz service, as used by health checks.
pub const AUTHZ_SERVICE_NAME: &str = "envoy.service.auth.v3.Authorization";

/// Builds the decision logic from configuration.
pub fn authorizer(config: &Config) -> Authorizer {
    let secrets: Vec<&[u8]> = config
        .secrets
        .iter()
        .flat_map(|set| set.iter())
        .map(|s| s.expose())
        .collect();
    let verifier = Verifier::new(
        &secrets,
        ClaimRules {
            uid_claims: config.uid_claims.clone(),
            leeway_secs: config.leeway_secs,
            issuer: config.issuer.clone(),
            audiences: config.audiences.clone(),
        },
    );
    // Validated when the configuration was read; a JWKS that no longer parses enables nothing.
    let verifier = verifier.with_max_ttl(config.max_token_ttl);
    let verifier = match config
        .jwks_json
        .as_deref()
        .map(crate::jwks::JwksKeys::from_json)
    {
        Some(Ok(keys)) => verifier.with_jwks(keys),
        // Fetched once serving starts; until then asymmetric tokens get unknown_kid.
        _ if config.jwks_url.is_some() => verifier.with_jwks(crate::jwks::JwksKeys::empty()),
        _ => verifier,
    };
    let paths = PathPolicy::new(config.path_templates.clone(), config.public_paths.clone());
    Authorizer::new(verifier, paths, config.max_token_bytes)
}

/// The `envoy.service.auth.v3.Authorization` implementation.
#[derive(Debug, Clone)]
pub struct AuthzService {
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
}

impl AuthzService {
    /// Wraps an authorizer; `metrics` receives one count and one latency per decision.
    pub fn new(authorizer: Arc<Authorizer>, metrics: Arc<Metrics>) -> Self {
        Self {
            authorizer,
            metrics,
        }
    }
}

#[tonic::async_trait]
impl Authorization for AuthzService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let started = Instant::now();
        let check = request.into_inner();
        let http = check
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref());
        let path = http.map_or("", |h| h.path.as_str());
        let authorization = http.map(authorization_values).unwrap_or_default();
        let decision = judge_at(
            &self.authorizer,
            &self.metrics,
            path,
            &authorization,
            request_id(http),
            started,
        );
        Ok(Response::new(response::check_response(&decision)))
    }
}

/// Every `authorization` value, from the merged `headers` map and from raw `header_map`
/// entries (Envoy's `encode_raw_headers`), which are not merged.
fn authorization_values(http: &HttpRequest) -> Vec<&[u8]> {
    let mut values: Vec<&[u8]> = Vec::with_capacity(1);
    if let Some(v) = http.headers.get("authorization") {
        values.push(v.as_bytes());
    }
    if let Some(map) = &http.header_map {
        for h in map
            .headers
            .iter()
            .filter(|h| h.key.eq_ignore_ascii_case("authorization"))
        {
            values.push(if h.raw_value.is_empty() {
                h.value.as_bytes()
            } else {
                &h.raw_value
            });
        }
    }
    values
}

fn request_id(http: Option<&HttpRequest>) -> &str {
    http.and_then(|h| h.headers.get("x-request-id"))
        .map_or("", String::as_str)
}

/// Decides one request, counts it, times it and logs it: the part of a check that does not
/// depend on the protocol it arrived by (gRPC or plain HTTP).
pub fn judge(
    authorizer: &Authorizer,
    metrics: &Metrics,
    path: &str,
    authorization: &[&[u8]],
    request_id: &str,
) -> Decision {
    judge_at(
        authorizer,
        metrics,
        path,
        authorization,
        request_id,
        Instant::now(),
    )
}

fn judge_at(
    authorizer: &Authorizer,
    metrics: &Metrics,
    path: &str,
    authorization: &[&[u8]],
    request_id: &str,
    started: Instant,
) -> Decision {
    let decision = authorizer.decide(
        &RequestView {
            path,
            authorization,
        },
        unix_now(),
    );
    metrics.record(decision.reason());
    metrics.observe_latency(started.elapsed());
    log_decision(&decision, path, request_id, started);
    decision
}

/// One line per decision: never the token, only the reason code and the path without query.
fn log_decision(decision: &Decision, target: &str, request_id: &str, started: Instant) {
    let path = target.split('?').next().unwrap_or_default();
    let path = sanitize(path, 256);
    let request_id = sanitize(request_id, 64);
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let status = decision.http_status();
    let reason = decision.reason().code();
    // Two targets, so `RUST_LOG=info,uid_gate::allow=off` keeps denials but drops the bulk.
    match decision {
        Decision::Allow(_) => {
            info!(target: "uid_gate::allow", decision = "allow", status, reason, path = %path, request_id = %request_id, latency_us, "check")
        }
        Decision::Deny(_) => {
            info!(target: "uid_gate::deny", decision = "deny", status, reason, path = %path, request_id = %request_id, latency_us, "check")
        }
    }
}

/// Seconds since the Unix epoch. A clock before 1970 yields `u64::MAX`, which makes every
/// token expired: a broken clock must close the gate, not open it.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(u64::MAX, |d| d.as_secs())
}

/// Flattens the server task's result (join error, then transport error).
fn server_outcome(
    result: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), ServerError> {
    Ok(result??)
}

/// The sockets uid-gate serves on.
pub struct Listeners {
    /// ext_authz and gRPC health.
    pub grpc: TcpListener,
    /// The admin HTTP endpoint (`/metrics`, `/healthz`, `/readyz`), if wanted.
    pub admin: Option<TcpListener>,
    /// Plain-HTTP authorization (nginx, Caddy, Traefik, Envoy's HTTP ext_authz), if wanted.
    pub http: Option<TcpListener>,
}

/// Serves ext_authz and health on `listener` until `shutdown` completes, then marks health
/// NOT_SERVING, stops accepting, and waits up to `config.shutdown_grace` for in-flight checks.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    run_with_counters(listener, config, Arc::new(Metrics::default()), shutdown).await
}

/// [`run`] with caller-owned metrics (so tests can read them).
pub async fn run_with_counters(
    listener: TcpListener,
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    run_with(
        Listeners {
            grpc: listener,
            admin: None,
            http: None,
        },
        config,
        metrics,
        shutdown,
    )
    .await
}

/// Everything [`run`] does, plus the admin endpoint and caller-owned metrics.
pub async fn run_with(
    listeners: Listeners,
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    verify::self_test().map_err(|_| ServerError::SelfTest)?;
    let authorizer = Arc::new(authorizer(&config));
    metrics.set_keys(authorizer.verifier().key_count());
    let service = AuthzService::new(authorizer.clone(), metrics.clone());

    // Background tasks (admin endpoint, secret reloads) stop when this flips to true.
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut background = Vec::new();
    if let Some(admin) = listeners.admin {
        background.push(tokio::spawn(crate::admin::serve(
            admin,
            metrics.clone(),
            stopped(stopping_rx.clone()),
        )));
    }
    if let Some(http) = listeners.http {
        background.push(tokio::spawn(crate::http_authz::serve(
            http,
            authorizer.clone(),
            metrics.clone(),
            config.http_uri_header.clone(),
            stopped(stopping_rx.clone()),
        )));
    }
    if let Some(url) = config.jwks_url.clone() {
        // Validated with the configuration; built once for every fetch.
        let tls = crate::jwks::tls_config(config.jwks_ca_pem.as_deref())
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        background.push(tokio::spawn(refresh_jwks_forever(
            url,
            tls,
            authorizer.clone(),
            metrics.clone(),
            config.jwks_refresh,
            stopped(stopping_rx.clone()),
        )));
    }
    if let (Some(path), Some(mut current)) = (config.secret_file.clone(), config.secrets.clone()) {
        let (authorizer, metrics, every, stop) = (
            authorizer.clone(),
            metrics.clone(),
            config.secret_reload,
            stopped(stopping_rx.clone()),
        );
        background.push(tokio::spawn(async move {
            tokio::pin!(stop);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        reload_secrets(&path, &authorizer, &metrics, &mut current);
                    }
                    () = &mut stop => return,
                }
            }
        }));
    }

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<AuthorizationServer<AuthzService>>()
        .await;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let incoming = TcpIncoming::from(listeners.grpc).with_nodelay(Some(true));
    let server = tonic::transport::Server::builder()
        // Envoy keeps one long-lived HTTP/2 connection; keepalive notices a dead peer.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health)
        .add_service(AuthorizationServer::new(service))
        .serve_with_incoming_shutdown(incoming, async {
            stop_rx.await.ok();
        });
    let mut server = tokio::spawn(server);
    metrics.set_ready(true);
    info!(
        service = AUTHZ_SERVICE_NAME,
        keys = authorizer.verifier().key_count(),
        "serving"
    );

    let result = tokio::select! {
        result = &mut server => {
            // The server stopped on its own: that is a failure, not a shutdown.
            server_outcome(result)
        }
        () = shutdown => {
            info!(grace_secs = config.shutdown_grace.as_secs(), "shutdown requested; draining");
            metrics.set_ready(false);
            reporter.set_not_serving::<AuthorizationServer<AuthzService>>().await;
            reporter.set_service_status("", ServingStatus::NotServing).await;
            stop_tx.send(()).ok();
            match tokio::time::timeout(config.shutdown_grace, &mut server).await {
                Ok(result) => server_outcome(result),
                Err(_) => {
                    warn!("grace period elapsed with checks in flight; closing their connections");
                    server.abort();
                    Ok(())
                }
            }
        }
    };
    metrics.set_ready(false);
    stopping_tx.send(true).ok();
    for task in background {
        task.await.ok();
    }
    let summary: Vec<String> = metrics
        .snapshot()
        .iter()
        .map(|(r, n)| format!("{}={n}", r.code()))
        .collect();
    info!(decisions = %summary.join(","), "stopped");
    result
}

/// The least time between two JWKS fetches triggered by unknown `kid`s.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(2);
/// How soon a failed JWKS fetch is tried again (at most `UIDGATE_JWKS_REFRESH_SECS`).
const JWKS_RETRY: Duration = Duration::from_secs(5);

/// Fetches the JWKS now, then every `every`, and early (rate-limited) when a token names an
/// unknown `kid`. A failed fetch keeps the last good keys: a JWKS outage never empties them.
async fn refresh_jwks_forever(
    url: String,
    tls: Arc<tokio_rustls::rustls::ClientConfig>,
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let miss = authorizer.verifier().jwks_miss();
    loop {
        let fetched_at = tokio::time::Instant::now();
        let wait = match fetch_jwks(&url, &tls, &authorizer, &metrics).await {
            true => every,
            false => every.min(JWKS_RETRY),
        };
        tokio::select! {
            () = tokio::time::sleep_until(fetched_at + wait) => {}
            () = miss.notified() => {
                tokio::select! {
                    () = tokio::time::sleep_until(fetched_at + JWKS_MIN_REFETCH) => {}
                    () = &mut stop => return,
                }
            }
            () = &mut stop => return,
        }
    }
}

async fn fetch_jwks(
    url: &str,
    tls: &Arc<tokio_rustls::rustls::ClientConfig>,
    authorizer: &Authorizer,
    metrics: &Metrics,
) -> bool {
    let result = crate::jwks::fetch(url, tls, Duration::from_secs(5))
        .await
        .and_then(|json| crate::jwks::JwksKeys::from_json(&json));
    match result {
        Ok(keys) => {
            let n = keys.len();
            authorizer.verifier().replace_jwks(keys);
            metrics.jwks_refreshed(n);
            debug!(keys = n, "JWKS refreshed");
            true
        }
        Err(e) => {
            metrics.jwks_refresh_failed();
            warn!(error = %e, keys = authorizer.verifier().jwks_key_count(), "JWKS refresh failed; keeping the last good keys");
            false
        }
    }
}

/// What one look at the secret file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Same secrets as before.
    Unchanged,
    /// New secrets are in force.
    Applied,
    /// The file could not be read or held an invalid secret; the previous secrets stay.
    Refused,
}

/// Re-reads the secret file and, if it changed and is valid, swaps the verifier's keys.
/// Kubernetes updates a mounted Secret by swapping a symlink, so a read sees either the old
/// or the new file, never half of one.
pub fn reload_secrets(
    path: &std::path::Path,
    authorizer: &Authorizer,
    metrics: &Metrics,
    current: &mut SecretSet,
) -> Reload {
    match crate::config::read_secret_file(path) {
        Ok(secrets) if secrets == *current => Reload::Unchanged,
        Ok(secrets) => {
            let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose()).collect();
            authorizer.verifier().replace_secrets(&keys);
            metrics.secret_reloaded(keys.len());
            info!(
                keys = keys.len(),
                "secret file changed; new secrets in force"
            );
            *current = secrets;
            Reload::Applied
        }
        Err(e) => {
            metrics.secret_reload_failed();
            // ConfigError never contains secret bytes, only lengths and the path.
            warn!(error = %e, "secret file changed but was refused; keeping the previous secrets");
            Reload::Refused
        }
    }
}

/// Asks the gRPC health service at `addr` (host:port) for `service` and returns the status
/// name (`SERVING`, `NOT_SERVING`, …), within `timeout`.
pub async fn health_status(
    addr: &str,
    service: &str,
    timeout: Duration,
) -> Result<String, HealthCheckError> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|_| HealthCheckError::BadAddress)?
        .connect_timeout(timeout)
        .timeout(timeout);
    let channel = endpoint
        .connect()
        .await
        .map_err(|_| HealthCheckError::Unreachable)?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|s| HealthCheckError::Rpc(s.code()))?;
    let status = tonic_health::pb::health_check_response::ServingStatus::try_from(
        response.into_inner().status,
    )
    .map_or("UNKNOWN", |s| s.as_str_name());
    Ok(status.to_owned())
}

/// Why a health check could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum HealthCheckError {
    #[error("not a host:port address")]
    BadAddress,
    #[error("cannot connect")]
    Unreachable,
    #[error("health RPC failed: {0:?}")]
    Rpc(tonic::Code),
}
