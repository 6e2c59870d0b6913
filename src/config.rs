//! The server's configuration: the decision's [`Settings`] (read and validated by the core)
//! plus what only a server has: addresses, logging, drain time, TLS for the JWKS URL.
//!
//! [`Config::from_vars`] takes the variables as an iterator so tests never touch the process
//! environment. Every error names the variable it is about and never echoes a secret.

use std::net::SocketAddr;
use std::time::Duration;

use uid_gate_core::config::vars::{
    choice, lookup, non_empty, number, optional_number, or_default, parse_declared,
};

pub use uid_gate_core::config::{
    ConfigError, Kind, MIN_SECRET_BYTES, Secret, SecretSet, Settings, Var, read_secret_file,
};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (default).
    Json,
    /// Human-readable lines.
    Text,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The decision's settings: secrets, JWKS, templates, public paths, claim rules.
    pub policy: Settings,
    /// gRPC listen address (`UIDGATE_LISTEN_ADDR`).
    pub listen_addr: SocketAddr,
    /// Admin HTTP address: `/metrics`, `/healthz`, `/readyz` (`UIDGATE_ADMIN_ADDR`).
    pub admin_addr: SocketAddr,
    /// Plain-HTTP authorization address (`UIDGATE_HTTP_ADDR`); off when unset.
    pub http_addr: Option<SocketAddr>,
    /// Header holding the original URI in HTTP mode (`UIDGATE_HTTP_URI_HEADER`), lower-cased.
    pub http_uri_header: Option<String>,
    /// A private CA (PEM) trusted for an https JWKS URL, besides Mozilla's roots (`UIDGATE_JWKS_CA_FILE`).
    pub jwks_ca_pem: Option<Vec<u8>>,
    /// Log format (`UIDGATE_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Log filter directives (`RUST_LOG`).
    pub log_filter: String,
    /// How long in-flight checks may take to finish on shutdown (`UIDGATE_SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: Duration,
    /// Tokio worker threads (`UIDGATE_WORKER_THREADS`); `None` means one per CPU.
    pub worker_threads: Option<usize>,
    /// Things worth a warning once logging is up (unknown `UIDGATE_*` variables).
    pub warnings: Vec<String>,
    /// Every variable uid-gate reads ([`all_vars`]), in declaration order, with the value in
    /// effect as [`Var::shown`] renders it (secrets as "set" only): what `check-config` lists.
    pub shown: Vec<(&'static str, String)>,
}

/// `UIDGATE_LISTEN_ADDR`.
pub const LISTEN_ADDR: Var = Var {
    name: "UIDGATE_LISTEN_ADDR",
    kind: Kind::Address,
    default: Some("0.0.0.0:9191"),
    help: "ext_authz gRPC and health address",
};
/// `UIDGATE_ADMIN_ADDR`.
pub const ADMIN_ADDR: Var = Var {
    name: "UIDGATE_ADMIN_ADDR",
    kind: Kind::Address,
    default: Some("0.0.0.0:9192"),
    help: "admin HTTP address: /metrics, /healthz, /readyz",
};
/// `UIDGATE_HTTP_ADDR`.
pub const HTTP_ADDR: Var = Var {
    name: "UIDGATE_HTTP_ADDR",
    kind: Kind::Address,
    default: None,
    help: "plain-HTTP authorization address (Envoy HTTP ext_authz, nginx, Caddy, Traefik)",
};
/// `UIDGATE_HTTP_URI_HEADER`.
pub const HTTP_URI_HEADER: Var = Var {
    name: "UIDGATE_HTTP_URI_HEADER",
    kind: Kind::Text,
    default: None,
    help: "in HTTP mode, the header with the original URI (x-original-uri, x-forwarded-uri)",
};
/// `UIDGATE_JWKS_CA_FILE`.
pub const JWKS_CA_FILE: Var = Var {
    name: "UIDGATE_JWKS_CA_FILE",
    kind: Kind::File,
    default: None,
    help: "PEM CA trusted for an https UIDGATE_JWKS_URL, besides Mozilla's roots",
};
/// `UIDGATE_LOG_FORMAT`.
pub const LOG_FORMAT: Var = Var {
    name: "UIDGATE_LOG_FORMAT",
    kind: Kind::Choice(&["json", "text"]),
    default: Some("json"),
    help: "log lines",
};
/// `RUST_LOG`.
pub const RUST_LOG: Var = Var {
    name: "RUST_LOG",
    kind: Kind::Text,
    default: Some("info"),
    help: "log filter, e.g. info,uid_gate::allow=off",
};
/// `UIDGATE_SHUTDOWN_GRACE_SECS`.
pub const SHUTDOWN_GRACE_SECS: Var = Var {
    name: "UIDGATE_SHUTDOWN_GRACE_SECS",
    kind: Kind::Number { min: 0, max: 3600 },
    default: Some("10"),
    help: "drain time for in-flight checks on SIGTERM",
};
/// `UIDGATE_WORKER_THREADS`.
pub const WORKER_THREADS: Var = Var {
    name: "UIDGATE_WORKER_THREADS",
    kind: Kind::Number { min: 1, max: 256 },
    default: None,
    help: "runtime worker threads (default: one per CPU)",
};

/// The server's own variables.
pub const SERVER_VARS: &[Var] = &[
    LISTEN_ADDR,
    ADMIN_ADDR,
    HTTP_ADDR,
    HTTP_URI_HEADER,
    JWKS_CA_FILE,
    LOG_FORMAT,
    RUST_LOG,
    SHUTDOWN_GRACE_SECS,
    WORKER_THREADS,
];

/// Every variable uid-gate reads: the core's, then the server's.
pub fn all_vars() -> impl Iterator<Item = &'static Var> {
    uid_gate_core::config::VARS.iter().chain(SERVER_VARS)
}

/// Where a local client finds the gRPC service by default: the declared listen port on
/// 127.0.0.1 (`uid-gate healthcheck`, `envoy-config --authz`).
pub fn local_grpc_addr() -> String {
    let port = LISTEN_ADDR
        .default
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .map_or(0, |a| a.port());
    format!("127.0.0.1:{port}")
}

/// Whether `name` is a variable uid-gate reads (core or server).
pub fn is_known_var(name: &str) -> bool {
    all_vars().any(|v| v.name == name)
}

impl Config {
    /// Reads the process environment (variables that are not UTF-8 are ignored).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Reads configuration from `vars` (name, value) pairs.
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(
        vars: I,
    ) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let known: Vec<&str> = all_vars().map(|v| v.name).collect();
        let mut warnings = uid_gate_core::config::vars::unknown_var_warnings(
            vars.iter().map(|(k, _)| k.as_str()),
            &known,
        );
        let policy = Settings::from_vars(vars.iter().cloned())?;
        warnings.extend(policy.warnings());
        let raw = |var: &Var| lookup(&vars, var);
        if raw(&JWKS_CA_FILE).is_some() && policy.jwks_url.is_none() {
            return Err(ConfigError::Invalid {
                var: JWKS_CA_FILE.name,
                reason: format!(
                    "is set but {} is not",
                    uid_gate_core::config::declare::JWKS_URL.name
                ),
            });
        }
        let address = |var: &Var| {
            let value = non_empty(var.name, raw(var))?;
            parse_declared(var, value, "expected host:port, an IP address and a port")
        };
        Ok(Config {
            listen_addr: address(&LISTEN_ADDR)?.ok_or(ConfigError::Missing {
                var: LISTEN_ADDR.name,
            })?,
            admin_addr: address(&ADMIN_ADDR)?.ok_or(ConfigError::Missing {
                var: ADMIN_ADDR.name,
            })?,
            http_addr: address(&HTTP_ADDR)?,
            http_uri_header: uri_header(raw(&HTTP_URI_HEADER))?,
            jwks_ca_pem: match non_empty(JWKS_CA_FILE.name, raw(&JWKS_CA_FILE))? {
                None => None,
                Some(path) => Some(ca_file(path)?),
            },
            log_format: match choice(&LOG_FORMAT, raw(&LOG_FORMAT))? {
                "text" => LogFormat::Text,
                _ => LogFormat::Json,
            },
            log_filter: log_filter(raw(&RUST_LOG))?,
            shutdown_grace: Duration::from_secs(number(
                &SHUTDOWN_GRACE_SECS,
                raw(&SHUTDOWN_GRACE_SECS),
            )?),
            worker_threads: optional_number(&WORKER_THREADS, raw(&WORKER_THREADS))?
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            policy,
            warnings,
            shown: all_vars()
                .map(|v| (v.name, v.shown(raw(v).as_deref())))
                .collect(),
        })
    }
}

fn uri_header(value: Option<String>) -> Result<Option<String>, ConfigError> {
    match non_empty(HTTP_URI_HEADER.name, value)? {
        None => Ok(None),
        Some(v)
            if v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(v.to_ascii_lowercase()))
        }
        Some(v) => Err(ConfigError::Invalid {
            var: HTTP_URI_HEADER.name,
            reason: format!("{v:?} is not a header name"),
        }),
    }
}

fn ca_file(path: String) -> Result<Vec<u8>, ConfigError> {
    let var = JWKS_CA_FILE.name;
    let path = std::path::PathBuf::from(path);
    let pem = std::fs::read(&path).map_err(|source| ConfigError::SecretFile {
        var,
        path: path.clone(),
        source,
    })?;
    crate::jwks_fetch::tls_config(Some(&pem)).map_err(|e| ConfigError::Invalid {
        var,
        reason: e.to_string(),
    })?;
    Ok(pem)
}

fn log_filter(value: Option<String>) -> Result<String, ConfigError> {
    let filter = or_default(&RUST_LOG, value.filter(|v| !v.trim().is_empty())).unwrap_or_default();
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| ConfigError::Invalid {
        var: RUST_LOG.name,
        reason: e.to_string(),
    })?;
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef0123456789abcdef";

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults() {
        let c = cfg(&[("BETTER_AUTH_SECRET", GOOD)]).expect("config");
        assert_eq!(c.listen_addr, "0.0.0.0:9191".parse().expect("addr"));
        assert_eq!(c.admin_addr, "0.0.0.0:9192".parse().expect("addr"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.log_filter, "info");
        assert_eq!(c.shutdown_grace, Duration::from_secs(10));
        assert_eq!(c.worker_threads, None);
        assert_eq!(c.policy.secret_reload_secs, 5);
        assert_eq!(c.http_addr, None);
        assert_eq!(c.http_uri_header, None);
        assert!(c.warnings.is_empty());
        assert_eq!(c.policy.leeway_secs, 30);
    }

    #[test]
    fn everything_set() {
        let c = cfg(&[
            ("BETTER_AUTH_SECRET", GOOD),
            ("UIDGATE_LISTEN_ADDR", "127.0.0.1:0"),
            ("UIDGATE_LOG_FORMAT", "text"),
            ("UIDGATE_SHUTDOWN_GRACE_SECS", "3"),
            ("UIDGATE_WORKER_THREADS", "1"),
            ("UIDGATE_HTTP_URI_HEADER", "X-Original-URI"),
            ("RUST_LOG", "uid_gate=debug"),
            ("UIDGATE_PATH_TEMPLATE", "/typo/{user_id}"),
        ])
        .expect("config");
        assert_eq!(c.listen_addr.port(), 0);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.log_filter, "uid_gate=debug");
        assert_eq!(c.shutdown_grace, Duration::from_secs(3));
        assert_eq!(c.worker_threads, Some(1));
        assert_eq!(c.http_uri_header.as_deref(), Some("x-original-uri"));
        assert_eq!(
            c.warnings,
            [
                "unknown variable UIDGATE_PATH_TEMPLATE is ignored; did you mean UIDGATE_PATH_TEMPLATES?"
            ]
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let dbg = format!(
            "{:?}",
            cfg(&[("BETTER_AUTH_SECRET", GOOD)]).expect("config")
        );
        assert!(!dbg.contains(GOOD));
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let s = ("BETTER_AUTH_SECRET", GOOD);
        for (var, value) in [
            ("UIDGATE_LISTEN_ADDR", "nowhere"),
            ("UIDGATE_ADMIN_ADDR", "nowhere"),
            ("UIDGATE_LOG_FORMAT", "yaml"),
            ("UIDGATE_SHUTDOWN_GRACE_SECS", "1.5"),
            ("UIDGATE_WORKER_THREADS", "0"),
            ("UIDGATE_HTTP_ADDR", "nowhere"),
            ("UIDGATE_HTTP_URI_HEADER", "x original uri"),
            ("UIDGATE_JWKS_CA_FILE", "/nonexistent"),
            ("RUST_LOG", "uid_gate=loud"),
            // Core variables report through the same path.
            ("UIDGATE_PATH_TEMPLATES", "/api/{uid}"),
        ] {
            let e = cfg(&[s, (var, value)]).expect_err(var).to_string();
            assert!(
                e.starts_with(&format!("{var}:")),
                "{var}={value:?} gave {e:?}"
            );
        }
    }

    #[test]
    fn every_declared_default_is_a_value_its_kind_accepts() {
        use uid_gate_core::config::vars;
        for v in all_vars() {
            let Some(d) = v.default else { continue };
            let ok = match v.kind {
                Kind::Number { .. } => vars::number(v, None).is_ok(),
                Kind::Choice(_) => vars::choice(v, None).is_ok(),
                Kind::Bool => ["true", "false"].contains(&d),
                Kind::Address => d.parse::<SocketAddr>().is_ok(),
                Kind::Text | Kind::Secret | Kind::File => !d.trim().is_empty(),
            };
            assert!(ok, "{}: default {d:?} is not a valid {:?}", v.name, v.kind);
        }
        assert_eq!(local_grpc_addr(), "127.0.0.1:9191");
    }

    #[test]
    fn every_variable_is_known_once() {
        let mut names: Vec<&str> = all_vars().map(|v| v.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
