//! Running uid-gate: the gRPC service and health, the optional admin and HTTP listeners, the
//! background refreshes, readiness, and the shutdown sequence (NOT_SERVING, then a bounded
//! drain).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};
use uid_gate_core::host::{HostError, HostKit};

use crate::config::Config;
use crate::grpc::{AUTHZ_SERVICE_NAME, AuthzService};
use crate::metrics::Metrics;
use crate::pb::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use crate::refresh;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("TLS settings for the JWKS URL: {0}")]
    Tls(String),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
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
    let listeners = Listeners {
        grpc: listener,
        admin: None,
        http: None,
    };
    run_with(listeners, config, Arc::new(Metrics::default()), shutdown).await
}

/// Everything [`run`] does, plus the admin and HTTP listeners and caller-owned metrics.
pub async fn run_with(
    listeners: Listeners,
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let policy = &config.policy;
    // An unknown `kid` wakes the JWKS refresher early (rate-limited there). The kit's clock
    // starts now, for both refreshes.
    let kid_miss = Arc::new(Notify::new());
    let started = tokio::time::Instant::now();
    let kit = {
        let miss = kid_miss.clone();
        Arc::new(HostKit::new(
            policy.clone(),
            started.elapsed(),
            Some(Arc::new(move || miss.notify_one())),
        )?)
    };
    let authorizer = kit.authorizer().clone();
    metrics.set_keys(authorizer.verifier().key_count());
    let service = AuthzService::new(authorizer.clone(), metrics.clone());

    // Background tasks stop when this flips to true.
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = rx.wait_for(|s| *s).await;
    };
    // With only a JWKS URL, the first fetch decides whether any token can pass at all.
    let needs_first_jwks = policy.secrets.is_none() && policy.jwks_url.is_some();
    let (keys_loaded_tx, keys_loaded_rx) = watch::channel(!needs_first_jwks);
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
    if let Some(url) = policy.jwks_url.clone() {
        // Validated with the configuration; built once for every fetch.
        let tls = crate::jwks_fetch::tls_config(config.jwks_ca_pem.as_deref())
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        let source = refresh::JwksSource {
            url,
            tls,
            miss: kid_miss,
            loaded: keys_loaded_tx,
        };
        background.push(tokio::spawn(refresh::refresh_jwks_forever(
            source,
            kit.clone(),
            started,
            metrics.clone(),
            stopped(stopping_rx.clone()),
        )));
    }
    if policy.secret_file.is_some() {
        background.push(tokio::spawn(refresh::reload_secrets_forever(
            kit.clone(),
            started,
            metrics.clone(),
            stopped(stopping_rx.clone()),
        )));
    }

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_not_serving::<AuthorizationServer<AuthzService>>()
        .await;
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    background.push(tokio::spawn(become_ready(
        keys_loaded_rx,
        reporter.clone(),
        metrics.clone(),
        authorizer.verifier().key_count(),
        stopped(stopping_rx.clone()),
    )));

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

    let result = tokio::select! {
        // The server stopped on its own: that is a failure, not a shutdown.
        result = &mut server => flatten(result),
        () = shutdown => {
            info!(grace_secs = config.shutdown_grace.as_secs(), "shutdown requested; draining");
            stopping_tx.send(true).ok();
            metrics.set_ready(false);
            reporter.set_not_serving::<AuthorizationServer<AuthzService>>().await;
            reporter.set_service_status("", ServingStatus::NotServing).await;
            stop_tx.send(()).ok();
            match tokio::time::timeout(config.shutdown_grace, &mut server).await {
                Ok(result) => flatten(result),
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

/// Reports SERVING (gRPC health and `/readyz`) once there is a key that can verify a token:
/// at once with a secret or a JWKS file, after the first successful fetch with only a JWKS
/// URL. Until then a pod would take traffic it can only deny.
async fn become_ready(
    mut loaded: watch::Receiver<bool>,
    reporter: HealthReporter,
    metrics: Arc<Metrics>,
    static_keys: usize,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    if !*loaded.borrow() {
        warn!("no key yet: NOT_SERVING until the first JWKS fetch succeeds (UIDGATE_JWKS_URL)");
    }
    tokio::select! {
        r = loaded.wait_for(|l| *l) => if r.is_err() { return },
        () = &mut stop => return,
    }
    reporter
        .set_serving::<AuthorizationServer<AuthzService>>()
        .await;
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    metrics.set_ready(true);
    info!(service = AUTHZ_SERVICE_NAME, keys = static_keys, "serving");
}

/// Flattens the server task's result (join error, then transport error).
fn flatten(
    result: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), ServerError> {
    Ok(result??)
}

/// Why a listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("binding {what} {addr}: {source}")]
pub struct BindError {
    what: &'static str,
    addr: std::net::SocketAddr,
    source: std::io::Error,
}

/// Binds the gRPC, admin and (when configured) HTTP listeners, logging each address.
pub async fn bind(config: &Config) -> Result<Listeners, BindError> {
    let bind = |what: &'static str, addr: std::net::SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| BindError { what, addr, source })
    };
    let grpc = bind("the gRPC address (UIDGATE_LISTEN_ADDR)", config.listen_addr).await?;
    let templates: Vec<&str> = config
        .policy
        .path_templates
        .iter()
        .map(|t| t.as_str())
        .collect();
    let public: Vec<&str> = config
        .policy
        .public_paths
        .iter()
        .map(|p| p.as_str())
        .collect();
    if let Ok(addr) = grpc.local_addr() {
        info!(addr = %addr, templates = ?templates, public = ?public, "listening");
    }
    let admin = bind("the admin address (UIDGATE_ADMIN_ADDR)", config.admin_addr).await?;
    if let Ok(addr) = admin.local_addr() {
        info!(addr = %addr, "admin endpoint listening (/metrics, /healthz, /readyz)");
    }
    let http = match config.http_addr {
        None => None,
        Some(addr) => {
            let l = bind("the HTTP authorization address (UIDGATE_HTTP_ADDR)", addr).await?;
            if let Ok(addr) = l.local_addr() {
                info!(addr = %addr, uri_header = ?config.http_uri_header, "HTTP authorization listening");
            }
            Some(l)
        }
    };
    Ok(Listeners {
        grpc,
        admin: Some(admin),
        http,
    })
}

/// Completes on SIGTERM (Kubernetes' stop signal) or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => info!(signal = "SIGTERM", "signal received"),
                    _ = int.recv() => info!(signal = "SIGINT", "signal received"),
                }
                return;
            }
            _ => warn!("cannot install signal handlers; falling back to ctrl-c"),
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        // Without any signal source, never shut down by signal.
        std::future::pending::<()>().await;
    }
}
