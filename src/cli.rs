//! The command line: subcommands by clap, configuration from the environment.
//!
//! Variables are not clap arguments on purpose: clap treats a set-but-empty variable as unset
//! (uid-gate refuses it, naming it), and a secret must never be a flag. `--help` lists every
//! variable from the same tables the parser reads, so the two cannot drift.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use uid_gate_core::mint::{self, MintRequest};
use uid_gate_core::path_policy::PathClass;

use crate::config::{Config, all_vars};

/// Exit code for a configuration error (and bad command-line usage, as clap uses).
pub const EXIT_CONFIG: u8 = 2;

static ENV_HELP: LazyLock<String> = LazyLock::new(|| {
    let mut out = String::from("Environment (configuration is read only from these):\n");
    for v in all_vars() {
        let default = v
            .default
            .map_or(String::new(), |d| format!(" [default: {d}]"));
        let _ = writeln!(out, "  {:<32}{}{default}", v.name, v.help);
    }
    out
});

/// uid-gate: Envoy ext_authz that lets a request reach /api/{user_id}/... only with that
/// user's Better Auth token.
#[derive(Debug, Parser)]
#[command(name = "uid-gate", version, after_help = ENV_HELP.as_str())]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve ext_authz v3 gRPC (and the admin and HTTP listeners) until SIGTERM or SIGINT.
    Serve,
    /// Print an HS256 dev token signed with the configured secret.
    Mint(MintArgs),
    /// Exit 0 if the gRPC health service reports SERVING (for container health checks).
    Healthcheck(HealthArgs),
    /// Validate the configuration, print a summary (secrets redacted) and how sample paths
    /// are judged; exit 2 naming the variable on any error.
    CheckConfig(CheckConfigArgs),
    /// Print an Envoy configuration generated from this configuration: ext_authz to uid-gate,
    /// or with --inline the decision inside Envoy (jwt_authn + a generated Lua filter).
    EnvoyConfig(EnvoyConfigArgs),
}

/// `uid-gate mint`.
#[derive(Debug, Args)]
pub struct MintArgs {
    /// The user id to put in the token.
    pub user_id: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// Claim carrying the user id (default: the first of UIDGATE_UID_CLAIMS).
    #[arg(long)]
    pub claim: Option<String>,
    /// `iss` (default: UIDGATE_ISSUER).
    #[arg(long)]
    pub iss: Option<String>,
    /// `aud` (default: the first of UIDGATE_AUDIENCE).
    #[arg(long)]
    pub aud: Option<String>,
}

/// `uid-gate healthcheck`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// HOST:PORT to ask; defaults to UIDGATE_LISTEN_ADDR's port on 127.0.0.1.
    pub addr: Option<String>,
    /// The service to ask about ("" is the server as a whole).
    #[arg(long, default_value = "")]
    pub service: String,
}

/// `uid-gate check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// A path to show the judgement of (repeatable), besides a few samples.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
}

/// `uid-gate envoy-config`.
#[derive(Debug, Args)]
pub struct EnvoyConfigArgs {
    /// Decide inside Envoy (jwt_authn + Lua) instead of asking a uid-gate service.
    #[arg(long)]
    pub inline: bool,
    /// Print only the HTTP filters, to paste before the router of an existing config.
    #[arg(long, conflicts_with = "istio")]
    pub filters_only: bool,
    /// Print an Istio EnvoyFilter (needs --inline) instead of a bootstrap.
    #[arg(long, requires = "inline")]
    pub istio: bool,
    /// Where Envoy listens (an IP address).
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:10000")]
    pub listen: String,
    /// The app behind Envoy (IP address or DNS name).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8081")]
    pub upstream: String,
    /// The uid-gate gRPC service Envoy asks (without --inline).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9191")]
    pub authz: String,
    /// Envoy's admin listener ("none" leaves it out).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9901")]
    pub admin: String,
    /// The gRPC client of ext_authz: Envoy's own (recommended) or Google's.
    #[arg(long, value_enum, default_value = "envoy")]
    pub grpc_client: crate::envoy_config::GrpcClient,
    /// With --istio: the EnvoyFilter's namespace.
    #[arg(long, default_value = "my-app")]
    pub namespace: String,
    /// With --istio: a workload label (repeatable), e.g. app=tasks.
    #[arg(long = "selector", value_name = "KEY=VALUE")]
    pub selectors: Vec<String>,
    /// With --istio: SIDECAR_INBOUND (the app's sidecar) or GATEWAY.
    #[arg(long, default_value = "SIDECAR_INBOUND", value_parser = ["SIDECAR_INBOUND", "GATEWAY"])]
    pub context: String,
}

/// Reads the configuration, printing the error (one line, naming the variable) on failure.
pub fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("uid-gate: configuration error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// `uid-gate mint`.
pub fn mint_command(args: &MintArgs) -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let policy = &config.policy;
    let Some(secrets) = &policy.secrets else {
        eprintln!("uid-gate mint: no HS256 secret configured (BETTER_AUTH_SECRET)");
        return ExitCode::from(EXIT_CONFIG);
    };
    let req = MintRequest {
        user_id: args.user_id.clone(),
        claim: args
            .claim
            .clone()
            .or_else(|| policy.uid_claims.first().cloned())
            .unwrap_or_else(|| "uid".into()),
        ttl_secs: args.ttl,
        issuer: args.iss.clone().or_else(|| policy.issuer.clone()),
        audience: args
            .aud
            .clone()
            .or_else(|| policy.audiences.first().cloned()),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
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

/// `uid-gate healthcheck`: asks the local gRPC health service; Docker's HEALTHCHECK has no shell.
pub fn healthcheck_command(args: &HealthArgs) -> ExitCode {
    let addr = args.addr.clone().unwrap_or_else(|| {
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
    let service = &args.service;
    let status = runtime.block_on(crate::health::health_status(
        &addr,
        service,
        Duration::from_secs(2),
    ));
    match status {
        Ok(status) => {
            println!("{addr} {service:?}: {status}");
            if status == "SERVING" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("{addr} {service:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `uid-gate envoy-config`.
pub fn envoy_config_command(args: &EnvoyConfigArgs) -> ExitCode {
    use crate::envoy_config::{self as ec, HostPort};
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = (|| {
        let opts = ec::Options {
            inline: args.inline,
            listen: HostPort::parse("--listen", &args.listen)?,
            upstream: HostPort::parse("--upstream", &args.upstream)?,
            authz: HostPort::parse("--authz", &args.authz)?,
            admin: match args.admin.as_str() {
                "none" => None,
                a => Some(HostPort::parse("--admin", a)?),
            },
            grpc_client: args.grpc_client,
            jwks_ca_pem: config.jwks_ca_pem.clone(),
        };
        if args.filters_only {
            ec::filters(&config.policy, &opts)
        } else if args.istio {
            let selector: Vec<(String, String)> = args
                .selectors
                .iter()
                .map(|s| {
                    s.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or_else(|| ec::EnvoyConfigError::Selector(s.clone()))
                })
                .collect::<Result<_, _>>()?;
            ec::istio(
                &config.policy,
                &opts,
                "uid-gate-inline",
                &args.namespace,
                &selector,
                &args.context,
            )
        } else {
            ec::bootstrap(&config.policy, &opts)
        }
    })();
    match result {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("uid-gate envoy-config: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// Sample paths `check-config` always judges: the usual surprises of a `/api/{user_id}` template.
const SAMPLE_PATHS: &[&str] = &[
    "/api/alice/tasks",
    "/api/health",
    "/api/auth/session",
    "/healthz",
    "/docs",
];

/// `uid-gate check-config`.
pub fn check_config_command(args: &CheckConfigArgs) -> ExitCode {
    match load_config() {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("uid-gate: warning: {w}");
            }
            print!("{}", summary(&config, &args.paths));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// The human summary `check-config` prints: effective settings, secrets as counts and
/// lengths only, and how each sample path is judged.
pub fn summary(config: &Config, extra_paths: &[String]) -> String {
    let p = &config.policy;
    let mut out = String::from("configuration ok\n");
    let list = |items: Vec<&str>| {
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            items.join(", ")
        }
    };
    let secrets = match &p.secrets {
        None => "none (JWKS only)".to_owned(),
        Some(set) => {
            let lens: Vec<String> = set.iter().map(|s| s.expose().len().to_string()).collect();
            let source = if p.secret_file.is_some() {
                " from BETTER_AUTH_SECRET_FILE"
            } else {
                ""
            };
            format!(
                "{} HS256 secret(s){source}, current first, lengths {} bytes (values redacted)",
                lens.len(),
                lens.join("/")
            )
        }
    };
    let jwks = match (&p.jwks_url, &p.jwks_json) {
        (Some(url), _) => format!("{url} (refreshed every {}s)", p.jwks_refresh.as_secs()),
        (None, Some(_)) => "from UIDGATE_JWKS_FILE".to_owned(),
        _ => "(none)".to_owned(),
    };
    let rows = [
        ("secrets", secrets),
        ("jwks", jwks),
        (
            "path templates",
            list(p.path_templates.iter().map(|t| t.as_str()).collect()),
        ),
        (
            "public paths",
            list(p.public_paths.iter().map(|t| t.as_str()).collect()),
        ),
        (
            "path case",
            if p.case_insensitive_paths {
                "ignored (UIDGATE_CASE_INSENSITIVE_PATHS)"
            } else {
                "exact"
            }
            .to_owned(),
        ),
        ("uid claims", p.uid_claims.join(", ")),
        ("leeway", format!("{}s", p.leeway_secs)),
        (
            "issuer",
            p.issuer.clone().unwrap_or_else(|| "(not checked)".into()),
        ),
        (
            "audience",
            list(p.audiences.iter().map(String::as_str).collect()),
        ),
        ("max token", format!("{} bytes", p.max_token_bytes)),
        (
            "max token lifetime",
            p.max_token_ttl
                .map_or("(no cap)".into(), |s| format!("{s}s")),
        ),
        ("gRPC", config.listen_addr.to_string()),
        ("admin", config.admin_addr.to_string()),
        (
            "HTTP mode",
            config.http_addr.map_or("off".into(), |a| {
                format!(
                    "{a} (URI from {})",
                    config
                        .http_uri_header
                        .as_deref()
                        .unwrap_or("the request line")
                )
            }),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "  {k:<20}{v}");
    }
    out.push_str("how paths are judged:\n");
    let policy = p.path_policy();
    for path in SAMPLE_PATHS
        .iter()
        .copied()
        .chain(extra_paths.iter().map(String::as_str))
    {
        let verdict = match policy.classify(path) {
            Ok(PathClass::Public) => "public: no token needed".to_owned(),
            Ok(PathClass::AuthOnly) => "authentication only: any valid token".to_owned(),
            Ok(PathClass::Scoped { user_id }) => {
                let template = policy
                    .matching_template(path)
                    .map_or("", |(t, _)| t.as_str());
                format!(
                    "user-scoped by {template}: only user {:?} may pass",
                    String::from_utf8_lossy(&user_id)
                )
            }
            Err(e) => format!("refused with 400: {e}"),
        };
        let _ = writeln!(out, "  {path:<20}{verdict}");
    }
    out.push_str(
        "  (a route like /api/health under /api/{user_id} is read as user \"health\": list it in\n   UIDGATE_PUBLIC_PATHS or move it out of the template's prefix)\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_lists_every_variable_with_its_default() {
        let help = Cli::command().render_help().to_string();
        for v in all_vars() {
            assert!(help.contains(v.name), "{} missing from --help", v.name);
            if let Some(d) = v.default {
                assert!(help.contains(&format!("[default: {d}]")), "{}", v.name);
            }
        }
        Cli::command().debug_assert();
    }

    #[test]
    fn the_summary_redacts_secrets_and_explains_sample_paths() {
        let secret = "0123456789abcdef0123456789abcdef";
        let config = Config::from_vars([
            ("BETTER_AUTH_SECRET".to_owned(), secret.to_owned()),
            ("UIDGATE_PUBLIC_PATHS".to_owned(), "/api/auth".to_owned()),
        ])
        .expect("config");
        let s = summary(&config, &["/api/bob/../x".to_owned()]);
        assert!(!s.contains(secret), "{s}");
        assert!(
            s.contains("1 HS256 secret(s), current first, lengths 32 bytes"),
            "{s}"
        );
        let judged = |path: &str, verdict: &str| {
            s.lines().any(|l| {
                l.trim_start()
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.trim_start().starts_with(verdict))
            })
        };
        assert!(
            judged(
                "/api/health",
                "user-scoped by /api/{user_id}: only user \"health\""
            ),
            "{s}"
        );
        assert!(judged("/api/auth/session", "public"), "{s}");
        assert!(judged("/docs", "authentication only"), "{s}");
        assert!(
            judged(
                "/api/bob/../x",
                "refused with 400: path contains a dot segment"
            ),
            "{s}"
        );
    }
}
