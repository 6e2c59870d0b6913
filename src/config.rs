//! Configuration from the environment, validated once at start-up.
//!
//! [`Config::from_vars`] takes the variables as an iterator so tests never touch the process
//! environment. Every error names the variable it is about and never echoes a secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::path_policy::{PathTemplate, PatternError, PublicPrefix};

/// Shortest secret accepted: RFC 7518 §3.2 wants a key as long as the hash output (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;
/// Better Auth's built-in development secret; Better Auth itself refuses it in production.
const BETTER_AUTH_DEFAULT_SECRET: &str = "better-auth-secret-12345678901234567890";

/// A configuration problem; the process prints it and exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is required")]
    Missing { var: &'static str },
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("{var}: {source}")]
    Pattern {
        var: &'static str,
        source: PatternError,
    },
    #[error("{var}: cannot read {path}: {source}")]
    SecretFile {
        var: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the environment: {0}")]
    Env(#[from] envy::Error),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (default).
    Json,
    /// Human-readable lines.
    Text,
}

/// Key bytes that never appear in `Debug` output and are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The raw key bytes (the UTF-8 bytes of the variable, as Better Auth uses them).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// HS256 keys (`BETTER_AUTH_SECRET`, `BETTER_AUTH_SECRETS` or `BETTER_AUTH_SECRET_FILE`).
    /// `None` only when a JWKS is configured and no secret is: asymmetric tokens only.
    pub secrets: Option<SecretSet>,
    /// The secret file, re-read every `secret_reload` so rotations need no restart.
    pub secret_file: Option<PathBuf>,
    /// How often the secret file is checked for changes (`UIDGATE_SECRET_RELOAD_SECS`).
    pub secret_reload: Duration,
    /// Admin HTTP address: `/metrics`, `/healthz`, `/readyz` (`UIDGATE_ADMIN_ADDR`).
    pub admin_addr: SocketAddr,
    /// A JWKS document (`UIDGATE_JWKS_FILE`), validated; enables EdDSA/ES256/RS256 tokens.
    pub jwks_json: Option<Vec<u8>>,
    /// A JWKS URL (`UIDGATE_JWKS_URL`, http only), fetched at start and refreshed.
    pub jwks_url: Option<String>,
    /// How often the JWKS URL is fetched again (`UIDGATE_JWKS_REFRESH_SECS`).
    pub jwks_refresh: Duration,
    /// A private CA (PEM) trusted for an https JWKS URL, besides Mozilla's roots (`UIDGATE_JWKS_CA_FILE`).
    pub jwks_ca_pem: Option<Vec<u8>>,
    /// Plain-HTTP authorization address (`UIDGATE_HTTP_ADDR`); off when unset.
    pub http_addr: Option<SocketAddr>,
    /// Header holding the original URI in HTTP mode (`UIDGATE_HTTP_URI_HEADER`), lower-cased.
    pub http_uri_header: Option<String>,
    /// gRPC listen address (`UIDGATE_LISTEN_ADDR`).
    pub listen_addr: SocketAddr,
    /// User-scoped templates (`UIDGATE_PATH_TEMPLATES`).
    pub path_templates: Vec<PathTemplate>,
    /// Prefixes allowed without a token (`UIDGATE_PUBLIC_PATHS`).
    pub public_paths: Vec<PublicPrefix>,
    /// Claims tried in order for the user id (`UIDGATE_UID_CLAIMS`).
    pub uid_claims: Vec<String>,
    /// Clock skew tolerated on time claims (`UIDGATE_LEEWAY_SECS`).
    pub leeway_secs: u64,
    /// Required `iss` (`UIDGATE_ISSUER`).
    pub issuer: Option<String>,
    /// Accepted `aud` values (`UIDGATE_AUDIENCE`, comma-separated).
    pub audiences: Vec<String>,
    /// Largest bearer token accepted (`UIDGATE_MAX_TOKEN_BYTES`).
    pub max_token_bytes: usize,
    /// Log format (`UIDGATE_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Log filter directives (`RUST_LOG`).
    pub log_filter: String,
    /// How long in-flight checks may take to finish on shutdown (`UIDGATE_SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: Duration,
    /// Latest accepted `exp`, in seconds from now (`UIDGATE_MAX_TOKEN_TTL_SECS`); `None`: no cap.
    pub max_token_ttl: Option<u64>,
    /// Tokio worker threads (`UIDGATE_WORKER_THREADS`); `None` means one per CPU.
    pub worker_threads: Option<usize>,
    /// Things worth a warning once logging is up (unknown `UIDGATE_*` variables).
    pub warnings: Vec<String>,
}

/// The variables as read by envy; every field is a string so errors can name the variable.
#[derive(Deserialize, Default)]
struct RawEnv {
    better_auth_secret: Option<String>,
    better_auth_secret_file: Option<String>,
    better_auth_secrets: Option<String>,
    uidgate_secret_reload_secs: Option<String>,
    uidgate_admin_addr: Option<String>,
    uidgate_http_addr: Option<String>,
    uidgate_jwks_file: Option<String>,
    uidgate_max_token_ttl_secs: Option<String>,
    uidgate_jwks_url: Option<String>,
    uidgate_jwks_refresh_secs: Option<String>,
    uidgate_jwks_ca_file: Option<String>,
    uidgate_http_uri_header: Option<String>,
    uidgate_listen_addr: Option<String>,
    uidgate_path_templates: Option<String>,
    uidgate_public_paths: Option<String>,
    uidgate_uid_claims: Option<String>,
    uidgate_leeway_secs: Option<String>,
    uidgate_issuer: Option<String>,
    uidgate_audience: Option<String>,
    uidgate_max_token_bytes: Option<String>,
    uidgate_log_format: Option<String>,
    uidgate_shutdown_grace_secs: Option<String>,
    uidgate_worker_threads: Option<String>,
    rust_log: Option<String>,
}

const KNOWN_UIDGATE_VARS: &[&str] = &[
    "UIDGATE_LISTEN_ADDR",
    "UIDGATE_PATH_TEMPLATES",
    "UIDGATE_PUBLIC_PATHS",
    "UIDGATE_UID_CLAIMS",
    "UIDGATE_LEEWAY_SECS",
    "UIDGATE_ISSUER",
    "UIDGATE_AUDIENCE",
    "UIDGATE_MAX_TOKEN_BYTES",
    "UIDGATE_LOG_FORMAT",
    "UIDGATE_SHUTDOWN_GRACE_SECS",
    "UIDGATE_WORKER_THREADS",
    "UIDGATE_SECRET_RELOAD_SECS",
    "UIDGATE_ADMIN_ADDR",
    "UIDGATE_HTTP_ADDR",
    "UIDGATE_JWKS_FILE",
    "UIDGATE_JWKS_URL",
    "UIDGATE_JWKS_REFRESH_SECS",
    "UIDGATE_JWKS_CA_FILE",
    "UIDGATE_MAX_TOKEN_TTL_SECS",
    "UIDGATE_HTTP_URI_HEADER",
];

/// Claims that carry time, issuer or audience: never a user id.
const RESERVED_CLAIMS: &[&str] = &["exp", "nbf", "iat", "iss", "aud", "jti"];

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
        let warnings = vars
            .iter()
            .filter(|(k, _)| k.starts_with("UIDGATE_") && !KNOWN_UIDGATE_VARS.contains(&k.as_str()))
            .map(|(k, _)| format!("unknown variable {k} is ignored"))
            .collect();
        // envy lower-cases names, so only pass the variables we own (and no look-alikes in other case).
        let raw: RawEnv = envy::from_iter(vars.into_iter().filter(|(k, _)| {
            k == "BETTER_AUTH_SECRET"
                || k == "BETTER_AUTH_SECRET_FILE"
                || k == "BETTER_AUTH_SECRETS"
                || k == "RUST_LOG"
                || KNOWN_UIDGATE_VARS.contains(&k.as_str())
        }))?;

        let secret_file = raw.better_auth_secret_file.map(PathBuf::from);
        Ok(Config {
            secrets: match secrets(
                raw.better_auth_secret,
                raw.better_auth_secrets,
                secret_file.as_deref(),
            ) {
                Ok(set) => Some(set),
                // A JWKS alone is enough: then HS256 tokens are refused (no secret to verify them).
                Err(ConfigError::Missing { .. })
                    if raw.uidgate_jwks_url.is_some() || raw.uidgate_jwks_file.is_some() =>
                {
                    None
                }
                Err(e) => return Err(e),
            },
            secret_file,
            secret_reload: Duration::from_secs(bounded(
                "UIDGATE_SECRET_RELOAD_SECS",
                raw.uidgate_secret_reload_secs,
                5,
                1,
                3600,
            )?),
            admin_addr: parse_or(
                "UIDGATE_ADMIN_ADDR",
                raw.uidgate_admin_addr,
                "0.0.0.0:9192",
                "expected host:port, e.g. 0.0.0.0:9192",
            )?,
            jwks_url: match non_empty("UIDGATE_JWKS_URL", raw.uidgate_jwks_url)? {
                None => None,
                Some(_) if raw.uidgate_jwks_file.is_some() => {
                    return Err(ConfigError::Invalid {
                        var: "UIDGATE_JWKS_URL",
                        reason: "set either UIDGATE_JWKS_URL or UIDGATE_JWKS_FILE, not both".into(),
                    });
                }
                Some(url) => match url.parse::<http::Uri>() {
                    Ok(u)
                        if matches!(u.scheme_str(), Some("http" | "https"))
                            && u.host().is_some() =>
                    {
                        Some(url)
                    }
                    _ => {
                        return Err(ConfigError::Invalid {
                            var: "UIDGATE_JWKS_URL",
                            reason: format!("expected http(s)://host[:port]/path, got {url:?}"),
                        });
                    }
                },
            },
            jwks_refresh: Duration::from_secs(bounded(
                "UIDGATE_JWKS_REFRESH_SECS",
                raw.uidgate_jwks_refresh_secs,
                300,
                1,
                86400,
            )?),
            max_token_ttl: match raw.uidgate_max_token_ttl_secs {
                None => None,
                Some(v) => Some(bounded(
                    "UIDGATE_MAX_TOKEN_TTL_SECS",
                    Some(v),
                    0,
                    1,
                    31_536_000,
                )?),
            },
            jwks_ca_pem: match non_empty("UIDGATE_JWKS_CA_FILE", raw.uidgate_jwks_ca_file)? {
                None => None,
                Some(path) => {
                    let var = "UIDGATE_JWKS_CA_FILE";
                    let path = PathBuf::from(path);
                    let pem = std::fs::read(&path).map_err(|source| ConfigError::SecretFile {
                        var,
                        path: path.clone(),
                        source,
                    })?;
                    crate::jwks::tls_config(Some(&pem)).map_err(|e| ConfigError::Invalid {
                        var,
                        reason: e.to_string(),
                    })?;
                    Some(pem)
                }
            },
            jwks_json: match non_empty("UIDGATE_JWKS_FILE", raw.uidgate_jwks_file)? {
                None => None,
                Some(path) => {
                    let var = "UIDGATE_JWKS_FILE";
                    let path = PathBuf::from(path);
                    let json = std::fs::read(&path).map_err(|source| ConfigError::SecretFile {
                        var,
                        path: path.clone(),
                        source,
                    })?;
                    crate::jwks::JwksKeys::from_json(&json).map_err(|e| ConfigError::Invalid {
                        var,
                        reason: format!("{}: {e}", path.display()),
                    })?;
                    Some(json)
                }
            },
            http_addr: match non_empty("UIDGATE_HTTP_ADDR", raw.uidgate_http_addr)? {
                None => None,
                Some(v) => Some(parse_or(
                    "UIDGATE_HTTP_ADDR",
                    Some(v),
                    "",
                    "expected host:port, e.g. 0.0.0.0:9193",
                )?),
            },
            http_uri_header: match non_empty(
                "UIDGATE_HTTP_URI_HEADER",
                raw.uidgate_http_uri_header,
            )? {
                None => None,
                Some(v)
                    if !v.is_empty()
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    Some(v.to_ascii_lowercase())
                }
                Some(v) => {
                    return Err(ConfigError::Invalid {
                        var: "UIDGATE_HTTP_URI_HEADER",
                        reason: format!("{v:?} is not a header name"),
                    });
                }
            },
            listen_addr: parse_or(
                "UIDGATE_LISTEN_ADDR",
                raw.uidgate_listen_addr,
                "0.0.0.0:9191",
                "expected host:port, e.g. 0.0.0.0:9191",
            )?,
            path_templates: patterns(
                "UIDGATE_PATH_TEMPLATES",
                raw.uidgate_path_templates
                    .as_deref()
                    .unwrap_or("/api/{user_id}"),
                PathTemplate::parse,
                true,
            )?,
            public_paths: patterns(
                "UIDGATE_PUBLIC_PATHS",
                raw.uidgate_public_paths.as_deref().unwrap_or(""),
                PublicPrefix::parse,
                false,
            )?,
            uid_claims: uid_claims(raw.uidgate_uid_claims.as_deref().unwrap_or("uid,sub"))?,
            leeway_secs: bounded("UIDGATE_LEEWAY_SECS", raw.uidgate_leeway_secs, 30, 0, 600)?,
            issuer: non_empty("UIDGATE_ISSUER", raw.uidgate_issuer)?,
            audiences: match non_empty("UIDGATE_AUDIENCE", raw.uidgate_audience)? {
                None => Vec::new(),
                Some(list) => list_items("UIDGATE_AUDIENCE", &list)?,
            },
            max_token_bytes: bounded(
                "UIDGATE_MAX_TOKEN_BYTES",
                raw.uidgate_max_token_bytes,
                8192,
                64,
                65536,
            )? as usize,
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

/// The HS256 keys: the current one signs (`mint`), all verify. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSet {
    /// The secret new tokens are signed with.
    pub current: Secret,
    /// Earlier secrets still accepted during a rotation.
    pub previous: Vec<Secret>,
}

impl SecretSet {
    /// All secrets, current first.
    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    fn from_vec(var: &'static str, mut secrets: Vec<Secret>) -> Result<Self, ConfigError> {
        if secrets.is_empty() {
            return Err(ConfigError::Invalid {
                var,
                reason: "must not be empty".into(),
            });
        }
        let current = secrets.remove(0);
        Ok(SecretSet {
            current,
            previous: secrets,
        })
    }
}

/// Reads a secret file: one secret per line, current first (a rotation puts the new secret
/// on the first line and keeps the old one below it until old tokens have expired).
/// Blank lines and trailing newlines are ignored.
pub fn read_secret_file(path: &std::path::Path) -> Result<SecretSet, ConfigError> {
    let var = "BETTER_AUTH_SECRET_FILE";
    let bytes = std::fs::read(path).map_err(|source| ConfigError::SecretFile {
        var,
        path: path.to_owned(),
        source,
    })?;
    let bytes = zeroize::Zeroizing::new(bytes);
    let secrets = bytes
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(|line| validate_secret(var, line.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    SecretSet::from_vec(var, secrets)
}

fn secrets(
    value: Option<String>,
    list: Option<String>,
    file: Option<&std::path::Path>,
) -> Result<SecretSet, ConfigError> {
    match (value, list, file) {
        (Some(v), None, None) => SecretSet::from_vec("BETTER_AUTH_SECRET", vec![validate_secret("BETTER_AUTH_SECRET", v.into_bytes())?]),
        (None, Some(list), None) => {
            let var = "BETTER_AUTH_SECRETS";
            let secrets = list
                .split(',')
                .map(|entry| {
                    // Better Auth's own format is "version:secret"; a bare secret is fine too.
                    let secret = match entry.split_once(':') {
                        Some((version, secret)) if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) => secret,
                        _ => entry,
                    };
                    validate_secret(var, secret.as_bytes().to_vec())
                })
                .collect::<Result<Vec<_>, _>>()?;
            SecretSet::from_vec(var, secrets)
        }
        (None, None, Some(path)) => read_secret_file(path),
        (None, None, None) => Err(ConfigError::Missing { var: "BETTER_AUTH_SECRET" }),
        _ => Err(ConfigError::Invalid {
            var: "BETTER_AUTH_SECRET",
            reason: "set only one of BETTER_AUTH_SECRET, BETTER_AUTH_SECRETS and BETTER_AUTH_SECRET_FILE".into(),
        }),
    }
}

fn validate_secret(var: &'static str, bytes: Vec<u8>) -> Result<Secret, ConfigError> {
    let secret = Secret(bytes);
    let reason = if secret.0.is_empty() {
        "must not be empty".to_owned()
    } else if secret.0.len() < MIN_SECRET_BYTES {
        format!(
            "must be at least {MIN_SECRET_BYTES} bytes (got {}); generate one with `openssl rand -base64 32`",
            secret.0.len()
        )
    } else if secret.0 == BETTER_AUTH_DEFAULT_SECRET.as_bytes() {
        "is Better Auth's public default secret; generate a real one".to_owned()
    } else {
        return Ok(secret);
    };
    Err(ConfigError::Invalid { var, reason })
}

fn parse_or<T: std::str::FromStr>(
    var: &'static str,
    value: Option<String>,
    default: &str,
    hint: &str,
) -> Result<T, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        var,
        reason: format!("{hint}; got {value:?}"),
    })
}

fn bounded(
    var: &'static str,
    value: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            var,
            reason: format!("expected a whole number from {min} to {max}, got {value:?}"),
        }),
    }
}

fn non_empty(var: &'static str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ConfigError::Invalid {
            var,
            reason: "is set but empty; unset it to disable the check".into(),
        }),
        Some(v) => Ok(Some(v.trim().to_owned())),
        None => Ok(None),
    }
}

/// Splits a comma-separated list; empty items are an error (a stray comma is usually a typo).
fn list_items(var: &'static str, value: &str) -> Result<Vec<String>, ConfigError> {
    let items: Vec<String> = value.split(',').map(|s| s.trim().to_owned()).collect();
    if items.iter().any(String::is_empty) {
        return Err(ConfigError::Invalid {
            var,
            reason: format!("has an empty item in {value:?}"),
        });
    }
    Ok(items)
}

fn patterns<T>(
    var: &'static str,
    value: &str,
    parse: fn(&str) -> Result<T, PatternError>,
    required: bool,
) -> Result<Vec<T>, ConfigError> {
    if value.trim().is_empty() {
        return if required {
            Err(ConfigError::Pattern {
                var,
                source: PatternError::Empty,
            })
        } else {
            Ok(Vec::new())
        };
    }
    let items = list_items(var, value)?;
    for (i, item) in items.iter().enumerate() {
        if items[..i]
            .iter()
            .any(|earlier| earlier.trim_end_matches('/') == item.trim_end_matches('/'))
        {
            return Err(ConfigError::Pattern {
                var,
                source: PatternError::Duplicate(item.clone()),
            });
        }
    }
    items
        .iter()
        .map(|s| parse(s).map_err(|source| ConfigError::Pattern { var, source }))
        .collect()
}

fn uid_claims(value: &str) -> Result<Vec<String>, ConfigError> {
    let var = "UIDGATE_UID_CLAIMS";
    let claims = list_items(var, value)?;
    for (i, c) in claims.iter().enumerate() {
        if RESERVED_CLAIMS.contains(&c.as_str()) {
            return Err(ConfigError::Invalid {
                var,
                reason: format!("{c:?} is a registered claim, not a user id"),
            });
        }
        if claims[..i].contains(c) {
            return Err(ConfigError::Invalid {
                var,
                reason: format!("{c:?} is listed twice"),
            });
        }
    }
    Ok(claims)
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

    fn err(vars: &[(&str, &str)]) -> String {
        match cfg(vars) {
            Ok(_) => panic!("expected an error for {vars:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults() {
        let c = cfg(&[("BETTER_AUTH_SECRET", GOOD)]).expect("config");
        assert_eq!(
            c.secrets.as_ref().expect("secrets").current.expose(),
            GOOD.as_bytes()
        );
        assert_eq!(c.listen_addr, "0.0.0.0:9191".parse().expect("addr"));
        assert_eq!(
            c.path_templates
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>(),
            ["/api/{user_id}"]
        );
        assert!(c.public_paths.is_empty());
        assert_eq!(c.uid_claims, ["uid", "sub"]);
        assert_eq!(c.leeway_secs, 30);
        assert_eq!(c.issuer, None);
        assert!(c.audiences.is_empty());
        assert_eq!(c.max_token_bytes, 8192);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.shutdown_grace, Duration::from_secs(10));
        assert_eq!(c.worker_threads, None);
        assert_eq!(c.admin_addr, "0.0.0.0:9192".parse().expect("addr"));
        assert_eq!(c.secret_reload, Duration::from_secs(5));
        assert_eq!(c.secret_file, None);
        assert_eq!(c.http_addr, None);
        assert_eq!(c.http_uri_header, None);
        assert_eq!(c.max_token_ttl, None);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn everything_set() {
        let c = cfg(&[
            ("BETTER_AUTH_SECRET", GOOD),
            ("UIDGATE_LISTEN_ADDR", "127.0.0.1:0"),
            (
                "UIDGATE_PATH_TEMPLATES",
                "/api/{user_id}, /v2/users/{user_id}/files",
            ),
            ("UIDGATE_PUBLIC_PATHS", "/api/auth/,/healthz"),
            ("UIDGATE_UID_CLAIMS", "user_id"),
            ("UIDGATE_LEEWAY_SECS", "0"),
            ("UIDGATE_ISSUER", "https://app.example"),
            ("UIDGATE_AUDIENCE", "api,web"),
            ("UIDGATE_MAX_TOKEN_BYTES", "4096"),
            ("UIDGATE_LOG_FORMAT", "text"),
            ("UIDGATE_SHUTDOWN_GRACE_SECS", "3"),
            ("UIDGATE_WORKER_THREADS", "1"),
            ("RUST_LOG", "uid_gate=debug"),
            ("UIDGATE_PATH_TEMPLATE", "/typo/{user_id}"),
        ])
        .expect("config");
        assert_eq!(c.listen_addr.port(), 0);
        assert_eq!(c.path_templates.len(), 2);
        assert_eq!(
            c.public_paths
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>(),
            ["/api/auth/", "/healthz"]
        );
        assert_eq!(c.uid_claims, ["user_id"]);
        assert_eq!(c.leeway_secs, 0);
        assert_eq!(c.issuer.as_deref(), Some("https://app.example"));
        assert_eq!(c.audiences, ["api", "web"]);
        assert_eq!(c.max_token_bytes, 4096);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.log_filter, "uid_gate=debug");
        assert_eq!(c.shutdown_grace, Duration::from_secs(3));
        assert_eq!(c.worker_threads, Some(1));
        assert_eq!(
            c.warnings,
            ["unknown variable UIDGATE_PATH_TEMPLATE is ignored"]
        );
    }

    #[test]
    fn secret_rules() {
        assert_eq!(err(&[]), "BETTER_AUTH_SECRET is required");
        assert_eq!(
            err(&[("BETTER_AUTH_SECRET", "")]),
            "BETTER_AUTH_SECRET: must not be empty"
        );
        let short = err(&[("BETTER_AUTH_SECRET", "short-secret")]);
        assert!(
            short.starts_with("BETTER_AUTH_SECRET: must be at least 32 bytes (got 12)"),
            "{short}"
        );
        assert!(
            !short.contains("short-secret"),
            "the secret must not be echoed"
        );
        assert!(
            err(&[("BETTER_AUTH_SECRET", BETTER_AUTH_DEFAULT_SECRET)]).contains("public default")
        );
        assert!(
            err(&[
                ("BETTER_AUTH_SECRET", GOOD),
                ("BETTER_AUTH_SECRET_FILE", "/x")
            ])
            .contains("only one of")
        );
        // 32 bytes of UTF-8, fewer characters: bytes are what count.
        let multibyte = "é".repeat(16);
        assert!(cfg(&[("BETTER_AUTH_SECRET", &multibyte)]).is_ok());
    }

    #[test]
    fn secret_file_is_read_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("uid-gate-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("secret");
        std::fs::write(&path, format!("{GOOD}\r\n")).expect("write");
        let c = cfg(&[("BETTER_AUTH_SECRET_FILE", path.to_str().expect("utf8"))]).expect("config");
        assert_eq!(
            c.secrets.as_ref().expect("secrets").current.expose(),
            GOOD.as_bytes()
        );
        std::fs::write(&path, "short\n").expect("write");
        assert!(
            err(&[("BETTER_AUTH_SECRET_FILE", path.to_str().expect("utf8"))])
                .starts_with("BETTER_AUTH_SECRET_FILE: must be at least")
        );
        let missing = err(&[("BETTER_AUTH_SECRET_FILE", "/nonexistent/uid-gate-secret")]);
        assert!(
            missing
                .starts_with("BETTER_AUTH_SECRET_FILE: cannot read /nonexistent/uid-gate-secret"),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn several_secrets_for_rotation() {
        let new = "new-secret-new-secret-new-secret-1";
        let c = cfg(&[("BETTER_AUTH_SECRETS", &format!("2:{new},1:{GOOD}"))]).expect("config");
        assert_eq!(
            c.secrets.as_ref().expect("secrets").current.expose(),
            new.as_bytes()
        );
        assert_eq!(
            c.secrets
                .as_ref()
                .expect("secrets")
                .previous
                .iter()
                .map(|s| s.expose())
                .collect::<Vec<_>>(),
            [GOOD.as_bytes()]
        );
        // Bare secrets work too; a colon inside a secret is kept when no version precedes it.
        let colon = "abc:def-0123456789abcdef0123456789";
        let c = cfg(&[("BETTER_AUTH_SECRETS", &format!("{colon},{GOOD}"))]).expect("config");
        assert_eq!(
            c.secrets.as_ref().expect("secrets").current.expose(),
            colon.as_bytes()
        );
        assert!(
            err(&[("BETTER_AUTH_SECRETS", &format!("{GOOD},1:short"))])
                .starts_with("BETTER_AUTH_SECRETS: must be at least 32 bytes")
        );
        assert!(
            err(&[("BETTER_AUTH_SECRETS", GOOD), ("BETTER_AUTH_SECRET", GOOD)])
                .contains("only one of")
        );
    }

    #[test]
    fn the_secret_file_may_hold_several_lines() {
        let dir =
            std::env::temp_dir().join(format!("uid-gate-config-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("secret");
        let new = "new-secret-new-secret-new-secret-1";
        std::fs::write(&path, format!("{new}\r\n\n{GOOD}\n")).expect("write");
        let c = cfg(&[("BETTER_AUTH_SECRET_FILE", path.to_str().expect("utf8"))]).expect("config");
        assert_eq!(c.secrets.as_ref().expect("secrets").iter().count(), 2);
        assert_eq!(
            c.secrets.as_ref().expect("secrets").current.expose(),
            new.as_bytes()
        );
        assert_eq!(c.secret_file.as_deref(), Some(path.as_path()));
        std::fs::write(&path, "\n\n").expect("write");
        assert!(
            err(&[("BETTER_AUTH_SECRET_FILE", path.to_str().expect("utf8"))])
                .contains("must not be empty")
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_jwks_alone_needs_no_secret() {
        let c = cfg(&[("UIDGATE_JWKS_URL", "http://app:3000/api/auth/jwks")]).expect("config");
        assert!(c.secrets.is_none());
        assert_eq!(c.jwks_refresh, Duration::from_secs(300));
        assert_eq!(err(&[]), "BETTER_AUTH_SECRET is required");
        assert!(cfg(&[("UIDGATE_JWKS_URL", "https://app.example/api/auth/jwks")]).is_ok());
        assert!(
            err(&[("UIDGATE_JWKS_URL", "ftp://app/jwks")])
                .starts_with("UIDGATE_JWKS_URL: expected http(s)://")
        );
        assert!(
            err(&[
                ("UIDGATE_JWKS_URL", "http://a/j"),
                ("UIDGATE_JWKS_FILE", "/x")
            ])
            .contains("not both")
        );
        assert!(
            err(&[("UIDGATE_JWKS_FILE", "/nonexistent/jwks.json")])
                .starts_with("UIDGATE_JWKS_FILE: cannot read")
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c = cfg(&[("BETTER_AUTH_SECRET", GOOD)]).expect("config");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(GOOD));
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let s = ("BETTER_AUTH_SECRET", GOOD);
        for (var, value) in [
            ("UIDGATE_LISTEN_ADDR", "nowhere"),
            ("UIDGATE_PATH_TEMPLATES", "/api/{uid}"),
            ("UIDGATE_PATH_TEMPLATES", ""),
            ("UIDGATE_PATH_TEMPLATES", "/api/{user_id},/api/{user_id}/"),
            ("UIDGATE_PUBLIC_PATHS", "/"),
            ("UIDGATE_PUBLIC_PATHS", "/a,,/b"),
            ("UIDGATE_UID_CLAIMS", "exp"),
            ("UIDGATE_UID_CLAIMS", "uid,uid"),
            ("UIDGATE_UID_CLAIMS", ""),
            ("UIDGATE_LEEWAY_SECS", "-1"),
            ("UIDGATE_LEEWAY_SECS", "abc"),
            ("UIDGATE_LEEWAY_SECS", "601"),
            ("UIDGATE_ISSUER", " "),
            ("UIDGATE_AUDIENCE", ""),
            ("UIDGATE_MAX_TOKEN_BYTES", "10"),
            ("UIDGATE_LOG_FORMAT", "yaml"),
            ("UIDGATE_SHUTDOWN_GRACE_SECS", "1.5"),
            ("UIDGATE_WORKER_THREADS", "0"),
            ("UIDGATE_HTTP_ADDR", "nowhere"),
            ("UIDGATE_HTTP_URI_HEADER", "x original uri"),
            ("RUST_LOG", "uid_gate=loud"),
        ] {
            let e = err(&[s, (var, value)]);
            assert!(
                e.starts_with(&format!("{var}:")),
                "{var}={value:?} gave {e:?}"
            );
        }
    }
}
