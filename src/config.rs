//! The server's configuration: the decision's [`Settings`] (read and validated by the core)
//! plus what only a server has: addresses, logging, drain time, TLS for the JWKS URL.
//!
//! [`Config::from_vars`] takes the variables as an iterator so tests never touch the process
//! environment. Every error names the variable it is about and never echoes a secret.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use uid_gate_core::config::vars::{bounded, non_empty, parse_or};

pub use uid_gate_core::config::{
    ConfigError, MIN_SECRET_BYTES, Secret, SecretSet, Settings, Var, read_secret_file,
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
}

/// The server's own variables.
pub const SERVER_VARS: &[Var] = &[
    Var {
        name: "UIDGATE_LISTEN_ADDR",
        default: Some("0.0.0.0:9191"),
        help: "ext_authz gRPC and health address",
    },
    Var {
        name: "UIDGATE_ADMIN_ADDR",
        default: Some("0.0.0.0:9192"),
        help: "admin HTTP address: /metrics, /healthz, /readyz",
    },
    Var {
        name: "UIDGATE_HTTP_ADDR",
        default: None,
        help: "plain-HTTP authorization address (Envoy HTTP ext_authz, nginx, Caddy, Traefik)",
    },
    Var {
        name: "UIDGATE_HTTP_URI_HEADER",
        default: None,
        help: "in HTTP mode, the header with the original URI (x-original-uri, x-forwarded-uri)",
    },
    Var {
        name: "UIDGATE_JWKS_CA_FILE",
        default: None,
        help: "PEM CA trusted for an https UIDGATE_JWKS_URL, besides Mozilla's roots",
    },
    Var {
        name: "UIDGATE_LOG_FORMAT",
        default: Some("json"),
        help: "json or text",
    },
    Var {
        name: "RUST_LOG",
        default: Some("info"),
        help: "log filter, e.g. info,uid_gate::allow=off",
    },
    Var {
        name: "UIDGATE_SHUTDOWN_GRACE_SECS",
        default: Some("10"),
        help: "drain time for in-flight checks on SIGTERM (0-3600)",
    },
    Var {
        name: "UIDGATE_WORKER_THREADS",
        default: None,
        help: "runtime worker threads (default: one per CPU)",
    },
];

/// Every variable uid-gate reads: the core's, then the server's.
pub fn all_vars() -> impl Iterator<Item = &'static Var> {
    uid_gate_core::config::VARS.iter().chain(SERVER_VARS)
}

#[derive(Deserialize, Default)]
struct RawEnv {
    uidgate_listen_addr: Option<String>,
    uidgate_admin_addr: Option<String>,
    uidgate_http_addr: Option<String>,
    uidgate_http_uri_header: Option<String>,
    uidgate_jwks_ca_file: Option<String>,
    uidgate_log_format: Option<String>,
    rust_log: Option<String>,
    uidgate_shutdown_grace_secs: Option<String>,
    uidgate_worker_threads: Option<String>,
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
        let raw: RawEnv = envy::from_iter(
            vars.into_iter()
                .filter(|(k, _)| SERVER_VARS.iter().any(|v| v.name == k)),
        )?;
        if raw.uidgate_jwks_ca_file.is_some() && policy.jwks_url.is_none() {
            return Err(ConfigError::Invalid {
                var: "UIDGATE_JWKS_CA_FILE",
                reason: "is set but UIDGATE_JWKS_URL is not".into(),
            });
        }
        Ok(Config {
            policy,
            listen_addr: parse_or(
                "UIDGATE_LISTEN_ADDR",
                raw.uidgate_listen_addr,
                "0.0.0.0:9191",
                "expected host:port, e.g. 0.0.0.0:9191",
            )?,
            admin_addr: parse_or(
                "UIDGATE_ADMIN_ADDR",
                raw.uidgate_admin_addr,
                "0.0.0.0:9192",
                "expected host:port, e.g. 0.0.0.0:9192",
            )?,
            http_addr: match non_empty("UIDGATE_HTTP_ADDR", raw.uidgate_http_addr)? {
                None => None,
                Some(v) => Some(parse_or(
                    "UIDGATE_HTTP_ADDR",
                    Some(v),
                    "",
                    "expected host:port, e.g. 0.0.0.0:9193",
                )?),
            },
            http_uri_header: uri_header(raw.uidgate_http_uri_header)?,
            jwks_ca_pem: match non_empty("UIDGATE_JWKS_CA_FILE", raw.uidgate_jwks_ca_file)? {
                None => None,
                Some(path) => Some(ca_file(path)?),
            },
            log_format: match raw.uidgate_log_format.as_deref().map(str::trim) {
                None | Some("json") => LogFormat::Json,
                Some("text") => LogFormat::Text,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        var: "UIDGATE_LOG_FORMAT",
                        reason: format!("expected json or text, got {other:?}"),
                    });
                }
            },
            log_filter: log_filter(raw.rust_log)?,
            shutdown_grace: Duration::from_secs(bounded(
                "UIDGATE_SHUTDOWN_GRACE_SECS",
                raw.uidgate_shutdown_grace_secs,
                10,
                0,
                3600,
            )?),
            worker_threads: match raw.uidgate_worker_threads {
                None => None,
                Some(v) => Some(bounded("UIDGATE_WORKER_THREADS", Some(v), 0, 1, 256)? as usize),
            },
            warnings,
        })
    }
}

fn uri_header(value: Option<String>) -> Result<Option<String>, ConfigError> {
    match non_empty("UIDGATE_HTTP_URI_HEADER", value)? {
        None => Ok(None),
        Some(v)
            if v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(v.to_ascii_lowercase()))
        }
        Some(v) => Err(ConfigError::Invalid {
            var: "UIDGATE_HTTP_URI_HEADER",
            reason: format!("{v:?} is not a header name"),
        }),
    }
}

fn ca_file(path: String) -> Result<Vec<u8>, ConfigError> {
    let var = "UIDGATE_JWKS_CA_FILE";
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
    let filter = value
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| ConfigError::Invalid {
        var: "RUST_LOG",
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
    fn every_variable_is_known_once() {
        let mut names: Vec<&str> = all_vars().map(|v| v.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
