//! uid-gate binary: parse config, init logging, bind, serve until SIGTERM/SIGINT.
//! Also `uid-gate mint <user-id>` to sign a dev token with the configured secret.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use uid_gate::config::Config;
use uid_gate::mint::{self, MintRequest};

const USAGE: &str = "\
usage:
  uid-gate                 serve ext_authz v3 gRPC (configuration from the environment)
  uid-gate mint USER_ID [--ttl SECS] [--claim NAME] [--iss ISSUER] [--aud AUDIENCE]
                           print an HS256 dev token signed with BETTER_AUTH_SECRET
  uid-gate healthcheck [HOST:PORT] [--service NAME]
                           exit 0 if the gRPC health service reports SERVING (for container health checks);
                           the address defaults to UIDGATE_LISTEN_ADDR's port on 127.0.0.1
  uid-gate check-config     validate the configuration from the environment and exit (0 ok, 2 bad)
  uid-gate --version
";

/// Exit code for a configuration error (and bad command-line usage).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(),
        Some("mint") => mint_command(&args[1..]),
        Some("healthcheck") => healthcheck_command(&args[1..]),
        Some("check-config") => match load_config() {
            Ok(config) => {
                for w in &config.warnings {
                    eprintln!("uid-gate: warning: {w}");
                }
                println!("configuration ok: {config:?}");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Some("-V" | "--version" | "version") => {
            println!("uid-gate {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprint!("uid-gate: unknown command {other:?}\n{USAGE}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("uid-gate: configuration error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn serve() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Held to the end of `serve`: dropping it writes the last buffered log lines.
    let _log_guard = uid_gate::telemetry::init(config.log_format, &config.log_filter);
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    match serve_until_signal(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "uid-gate failed");
            ExitCode::FAILURE
        }
    }
}

fn serve_until_signal(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("binding {}", config.listen_addr))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        tracing::info!(addr = %addr, templates = ?config.path_templates.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            public = ?config.public_paths.iter().map(|p| p.as_str()).collect::<Vec<_>>(), "listening");
        let admin = tokio::net::TcpListener::bind(config.admin_addr)
            .await
            .with_context(|| format!("binding the admin address {}", config.admin_addr))?;
        let admin_addr = admin.local_addr().context("reading the admin address")?;
        tracing::info!(addr = %admin_addr, "admin endpoint listening (/metrics, /healthz, /readyz)");
        let http = match config.http_addr {
            None => None,
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the HTTP authorization address {addr}"))?;
                tracing::info!(addr = %l.local_addr().context("reading the HTTP address")?, uri_header = ?config.http_uri_header, "HTTP authorization listening");
                Some(l)
            }
        };
        let listeners = uid_gate::server::Listeners { grpc: listener, admin: Some(admin), http };
        let metrics = std::sync::Arc::new(uid_gate::metrics::Metrics::default());
        uid_gate::server::run_with(listeners, config, metrics, shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on SIGTERM (Kubernetes' stop signal) or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!(signal = "SIGTERM", "signal received"),
                    _ = int.recv() => tracing::info!(signal = "SIGINT", "signal received"),
                }
                return;
            }
            _ => tracing::warn!("cannot install signal handlers; falling back to ctrl-c"),
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        // Without any signal source, never shut down by signal.
        std::future::pending::<()>().await;
    }
}

fn mint_command(args: &[String]) -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut req = MintRequest {
        user_id: String::new(),
        claim: config
            .uid_claims
            .first()
            .cloned()
            .unwrap_or_else(|| "uid".into()),
        ttl_secs: 3600,
        issuer: config.issuer.clone(),
        audience: config.audiences.first().cloned(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let step = match arg.as_str() {
            "--ttl" => value("--ttl").and_then(|v| {
                v.parse()
                    .map(|t| req.ttl_secs = t)
                    .map_err(|_| format!("--ttl: not a number: {v:?}"))
            }),
            "--claim" => value("--claim").map(|v| req.claim = v),
            "--iss" => value("--iss").map(|v| req.issuer = Some(v)),
            "--aud" => value("--aud").map(|v| req.audience = Some(v)),
            s if s.starts_with("--") => Err(format!("unknown option {s}")),
            s if req.user_id.is_empty() => {
                req.user_id = s.to_owned();
                Ok(())
            }
            s => Err(format!("unexpected argument {s:?}")),
        };
        if let Err(e) = step {
            eprint!("uid-gate mint: {e}\n{USAGE}");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    if req.user_id.is_empty() {
        eprint!("uid-gate mint: USER_ID is required\n{USAGE}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let Some(secrets) = &config.secrets else {
        eprintln!("uid-gate mint: no HS256 secret configured (BETTER_AUTH_SECRET)");
        return ExitCode::from(EXIT_CONFIG);
    };
    match mint::mint(secrets.current.expose(), &req, now) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("uid-gate mint: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the local gRPC health service; used by Docker's HEALTHCHECK, where there is no shell.
fn healthcheck_command(args: &[String]) -> ExitCode {
    let mut addr: Option<String> = None;
    let mut service = String::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--service" => match it.next() {
                Some(s) => service = s.clone(),
                None => {
                    eprint!("uid-gate healthcheck: --service needs a value\n{USAGE}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            },
            a if addr.is_none() && !a.starts_with("--") => addr = Some(a.to_owned()),
            a => {
                eprint!("uid-gate healthcheck: unexpected argument {a:?}\n{USAGE}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    let addr = addr.unwrap_or_else(|| {
        let port = std::env::var("UIDGATE_LISTEN_ADDR")
            .ok()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map_or(9191, |a| a.port());
        format!("127.0.0.1:{port}")
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("uid-gate healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(uid_gate::server::health_status(
        &addr,
        &service,
        std::time::Duration::from_secs(2),
    )) {
        Ok(status) if status == "SERVING" => {
            println!("{addr} {service:?}: {status}");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            println!("{addr} {service:?}: {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("{addr} {service:?}: {e}");
            ExitCode::FAILURE
        }
    }
}
