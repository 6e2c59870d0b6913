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

use crate::config::{Config, LISTEN_ADDR, all_vars, local_grpc_addr};

/// Exit code for a configuration error (and bad command-line usage, as clap uses).
pub const EXIT_CONFIG: u8 = 2;

/// The default `--authz`: the declared listen port, on 127.0.0.1.
static LOCAL_GRPC_ADDR: LazyLock<String> = LazyLock::new(local_grpc_addr);

static ENV_HELP: LazyLock<String> = LazyLock::new(|| {
    let mut out = String::from("Environment (configuration is read only from these):\n");
    for v in all_vars() {
        let default = v
            .default
            .map_or(String::new(), |d| format!(" [default: {d}]"));
        let _ = writeln!(out, "  {:<32}{}{default}", v.name, v.help_line());
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
    /// or with --inline the decision inside Envoy (uid-gate's core as a dynamic module).
    EnvoyConfig(EnvoyConfigArgs),
    /// Copy the Envoy module this image carries into DIR (a Kubernetes init container).
    InstallModule(InstallModuleArgs),
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
    /// Paths to show the judgement of (which template and claims decide), besides a few samples.
    #[arg(value_name = "PATH")]
    pub targets: Vec<String>,
    /// The same, as an option (repeatable).
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
}

/// `uid-gate envoy-config`.
#[derive(Debug, Args)]
pub struct EnvoyConfigArgs {
    /// Decide inside Envoy instead of asking a uid-gate service.
    #[arg(long)]
    pub inline: bool,
    /// With --inline: uid-gate's core as an Envoy dynamic module (Envoy 1.40), the only
    /// engine since 0.3 (`lua` is refused with what to use instead).
    #[arg(long, value_enum, default_value = "module", hide = true)]
    pub engine: EngineArg,
    /// With --inline: the module's path (default: libuid_gate_envoy.so beside this
    /// executable, where cargo builds it).
    #[arg(long, value_name = "PATH")]
    pub module: Option<String>,
    /// Print only the HTTP filters, to paste before the router of an existing config.
    #[arg(long)]
    pub filters_only: bool,
    /// Removed in 0.3 with the Lua engine: refused, with what to use in Istio instead.
    #[arg(long, hide = true)]
    pub istio: bool,
    /// Where Envoy listens (an IP address).
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:10000")]
    pub listen: String,
    /// The app behind Envoy (IP address or DNS name).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8081")]
    pub upstream: String,
    /// The uid-gate gRPC service Envoy asks (without --inline).
    #[arg(long, value_name = "HOST:PORT", default_value = LOCAL_GRPC_ADDR.as_str())]
    pub authz: String,
    /// Envoy's admin listener ("none" leaves it out).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9901")]
    pub admin: String,
    /// The gRPC client of ext_authz: Envoy's own (recommended) or Google's.
    #[arg(long, value_enum, default_value = "envoy")]
    pub grpc_client: crate::envoy_config::GrpcClient,
    /// A browser origin allowed to call the API (repeatable), e.g. https://app.example.com:
    /// Envoy's CORS filter answers its preflights and every answer it gets, denies included,
    /// carries access-control-allow-origin. Not with --filters-only.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Envoy's gRPC-Web filter before the gate, so a gRPC-Web client reads a deny's
    /// grpc-status.
    #[arg(long)]
    pub grpc_web: bool,
    /// A listener for Kubernetes probes (an IP address): GET /ready answers 200 while Envoy
    /// serves and 503 once it drains or fails its health check; no route reaches the app.
    #[arg(long, value_name = "HOST:PORT")]
    pub probe: Option<String>,
}

/// `uid-gate install-module`.
#[derive(Debug, Args)]
pub struct InstallModuleArgs {
    /// The directory Envoy loads the module from (an emptyDir shared with Envoy).
    pub dir: std::path::PathBuf,
    /// The module to copy.
    #[arg(long, value_name = "PATH", default_value = crate::install_module::MODULE_IN_IMAGE)]
    pub from: std::path::PathBuf,
}

/// `uid-gate install-module`.
pub fn install_module_command(args: &InstallModuleArgs) -> ExitCode {
    match crate::install_module::install(&args.from, &args.dir) {
        Ok(path) => {
            println!("uid-gate: installed the Envoy module at {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("uid-gate install-module: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--engine`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EngineArg {
    /// The dynamic module.
    Module,
    /// Removed in 0.3: refused.
    Lua,
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
        std::env::var(LISTEN_ADDR.name)
            .ok()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map_or_else(local_grpc_addr, |a| format!("127.0.0.1:{}", a.port()))
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
        if matches!(args.engine, EngineArg::Lua) {
            return Err(ec::EnvoyConfigError::LuaRemoved);
        }
        if args.istio {
            return Err(ec::EnvoyConfigError::IstioRemoved);
        }
        let module = args.module.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.join(ec::MODULE_FILE)))
                .map_or_else(|| ec::MODULE_FILE.to_owned(), |p| p.display().to_string())
        });
        let opts = ec::Options {
            inline: args.inline,
            module,
            listen: HostPort::parse("--listen", &args.listen)?,
            upstream: HostPort::parse("--upstream", &args.upstream)?,
            authz: HostPort::parse("--authz", &args.authz)?,
            admin: match args.admin.as_str() {
                "none" => None,
                a => Some(HostPort::parse("--admin", a)?),
            },
            grpc_client: args.grpc_client,
            jwks_ca_pem: config.jwks_ca_pem.clone(),
            cors_origins: args
                .cors_origins
                .iter()
                .map(|o| ec::parse_origin(o))
                .collect::<Result<_, _>>()?,
            grpc_web: args.grpc_web,
            probe: args
                .probe
                .as_deref()
                .map(|p| HostPort::parse("--probe", p))
                .transpose()?,
        };
        if args.filters_only {
            ec::filters(&config.policy, &opts)
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
/// `uid-gate check-config`.
pub fn check_config_command(args: &CheckConfigArgs) -> ExitCode {
    match load_config() {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("uid-gate: warning: {w}");
            }
            let paths: Vec<String> = args.targets.iter().chain(&args.paths).cloned().collect();
            print!("{}", crate::check_config::summary(&config, &paths));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
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
            // The bounds and choices come from the declaration, not from the help text.
            assert!(help.contains(&v.help_line()), "{}", v.name);
            if let Some(d) = v.default {
                assert!(help.contains(&format!("[default: {d}]")), "{}", v.name);
            }
        }
        Cli::command().debug_assert();
    }
}
