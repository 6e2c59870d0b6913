//! The decision's settings, validated once: secrets, JWKS, path templates, public paths and
//! claim rules. Every host reads them from the same variables with the same messages.
//!
//! [`Settings::from_vars`] takes (name, value) pairs so tests never touch the process
//! environment. Every error names the variable it is about and never echoes a secret.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::decision::Authorizer;
use crate::jwks::JwksKeys;
use crate::path_policy::{PathPolicy, PathPrefix, PathTemplate, PatternError, Unlisted};
use crate::verify::{ClaimRules, Verifier};

mod declare;
mod secrets;
pub mod vars;

pub use declare::{DEFAULT_TEMPLATES, DEFAULT_UID_CLAIMS, ENVOY_JWKS_CLUSTER_KEY, VARS, Var};

pub use secrets::{
    MIN_SECRET_BYTES, Reload, Secret, SecretSet, read_secret_file, reload_secret_file,
};
use vars::{bounded, list_items, non_empty, patterns, uid_claims};

/// A configuration problem; a host reports it at start-up and refuses to run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is required")]
    Missing { var: &'static str },
    #[error("{var} is required ({set} is set: a typo?)")]
    MissingNearMiss { var: &'static str, set: String },
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

impl ConfigError {
    /// The variable the error is about (`None` only for an unreadable environment).
    pub fn var(&self) -> Option<&'static str> {
        match self {
            ConfigError::Missing { var }
            | ConfigError::MissingNearMiss { var, .. }
            | ConfigError::Invalid { var, .. }
            | ConfigError::Pattern { var, .. }
            | ConfigError::SecretFile { var, .. } => Some(var),
            ConfigError::Env(_) => None,
        }
    }
}

/// The validated settings of the decision.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HS256 keys (`BETTER_AUTH_SECRET`, `BETTER_AUTH_SECRETS` or `BETTER_AUTH_SECRET_FILE`).
    /// `None` only when a JWKS is configured and no secret is: asymmetric tokens only.
    pub secrets: Option<SecretSet>,
    /// The secret file, which hosts re-read so rotations need no restart.
    pub secret_file: Option<PathBuf>,
    /// A JWKS document (`UIDGATE_JWKS_FILE`), validated; enables EdDSA/ES256/RS256 tokens.
    pub jwks_json: Option<Vec<u8>>,
    /// A JWKS URL (`UIDGATE_JWKS_URL`), fetched by the host at start and refreshed.
    pub jwks_url: Option<String>,
    /// How often the JWKS URL is fetched again (`UIDGATE_JWKS_REFRESH_SECS`).
    pub jwks_refresh: Duration,
    /// User-scoped templates (`UIDGATE_PATH_TEMPLATES`).
    pub path_templates: Vec<PathTemplate>,
    /// Prefixes allowed without a token (`UIDGATE_PUBLIC_PATHS`).
    pub public_paths: Vec<PathPrefix>,
    /// Prefixes where any valid token is enough (`UIDGATE_AUTH_ONLY_PATHS`).
    pub auth_only_paths: Vec<PathPrefix>,
    /// What happens to paths no template or prefix covers (`UIDGATE_UNLISTED_PATHS`).
    pub unlisted_paths: Unlisted,
    /// Match templates and public prefixes ignoring ASCII case (`UIDGATE_CASE_INSENSITIVE_PATHS`).
    pub case_insensitive_paths: bool,
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
    /// Latest accepted `exp`, in seconds from now (`UIDGATE_MAX_TOKEN_TTL_SECS`); `None`: no cap.
    pub max_token_ttl: Option<u64>,
    /// How often a host re-reads `BETTER_AUTH_SECRET_FILE`, in seconds
    /// (`UIDGATE_SECRET_RELOAD_SECS`): the server, the Envoy module and the Python package.
    pub secret_reload_secs: u64,
}

/// The variables as read by envy; every field is a string so errors can name the variable.
#[derive(Deserialize, Default)]
struct RawEnv {
    better_auth_secret: Option<String>,
    better_auth_secret_file: Option<String>,
    better_auth_secrets: Option<String>,
    uidgate_secret_reload_secs: Option<String>,
    uidgate_jwks_file: Option<String>,
    uidgate_jwks_url: Option<String>,
    uidgate_jwks_refresh_secs: Option<String>,
    uidgate_max_token_ttl_secs: Option<String>,
    uidgate_path_templates: Option<String>,
    uidgate_public_paths: Option<String>,
    uidgate_auth_only_paths: Option<String>,
    uidgate_unlisted_paths: Option<String>,
    uidgate_case_insensitive_paths: Option<String>,
    uidgate_uid_claims: Option<String>,
    uidgate_leeway_secs: Option<String>,
    uidgate_issuer: Option<String>,
    uidgate_audience: Option<String>,
    uidgate_max_token_bytes: Option<String>,
}

impl Settings {
    /// Reads the settings from `vars` (name, value) pairs; other names are ignored.
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(
        vars: I,
    ) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        Self::parse(&vars).map_err(|e| match e {
            // A required variable is missing: name a look-alike that is set (BETTER_AUTH_SECERT).
            ConfigError::Missing { var } => {
                let names: Vec<&str> = VARS.iter().map(|v| v.name).collect();
                vars.iter()
                    .map(|(k, _)| k.as_str())
                    .find(|k| !names.contains(k) && vars::closest(k, &[var]).is_some())
                    .map_or(ConfigError::Missing { var }, |set| {
                        ConfigError::MissingNearMiss {
                            var,
                            set: set.to_owned(),
                        }
                    })
            }
            e => e,
        })
    }

    fn parse(vars: &[(String, String)]) -> Result<Self, ConfigError> {
        // envy lower-cases names, so only pass the variables we own (and no look-alikes in other case).
        let raw: RawEnv = envy::from_iter(
            vars.iter()
                .filter(|(k, _)| VARS.iter().any(|v| v.name == k))
                .cloned(),
        )?;
        let secret_file = raw.better_auth_secret_file.map(PathBuf::from);
        let jwks_configured = raw.uidgate_jwks_url.is_some() || raw.uidgate_jwks_file.is_some();
        let settings = Settings {
            secrets: match secrets::secrets(
                raw.better_auth_secret,
                raw.better_auth_secrets,
                secret_file.as_deref(),
            ) {
                Ok(set) => Some(set),
                // A JWKS alone is enough: then HS256 tokens are refused (no secret to verify them).
                Err(ConfigError::Missing { .. }) if jwks_configured => None,
                Err(e) => return Err(e),
            },
            secret_file,
            jwks_url: jwks_url(raw.uidgate_jwks_url, raw.uidgate_jwks_file.is_some())?,
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
                    JwksKeys::from_json(&json).map_err(|e| ConfigError::Invalid {
                        var,
                        reason: format!("{}: {e}", path.display()),
                    })?;
                    Some(json)
                }
            },
            path_templates: patterns(
                "UIDGATE_PATH_TEMPLATES",
                raw.uidgate_path_templates
                    .as_deref()
                    .unwrap_or(DEFAULT_TEMPLATES),
                PathTemplate::parse,
                true,
            )?,
            public_paths: patterns(
                "UIDGATE_PUBLIC_PATHS",
                raw.uidgate_public_paths.as_deref().unwrap_or(""),
                PathPrefix::parse,
                false,
            )?,
            auth_only_paths: patterns(
                "UIDGATE_AUTH_ONLY_PATHS",
                raw.uidgate_auth_only_paths.as_deref().unwrap_or(""),
                PathPrefix::parse,
                false,
            )?,
            unlisted_paths: unlisted(raw.uidgate_unlisted_paths)?,
            case_insensitive_paths: boolean(
                "UIDGATE_CASE_INSENSITIVE_PATHS",
                raw.uidgate_case_insensitive_paths,
            )?,
            uid_claims: uid_claims(
                raw.uidgate_uid_claims
                    .as_deref()
                    .unwrap_or(DEFAULT_UID_CLAIMS),
            )?,
            leeway_secs: bounded("UIDGATE_LEEWAY_SECS", raw.uidgate_leeway_secs, 30, 0, 600)?,
            secret_reload_secs: bounded(
                "UIDGATE_SECRET_RELOAD_SECS",
                raw.uidgate_secret_reload_secs,
                5,
                1,
                3600,
            )?,
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
        };
        settings.check_prefixes()?;
        Ok(settings)
    }

    /// Refuses a public or authenticated-only prefix that covers a whole template (ends at or
    /// before its `{user_id}`): it would decide every user's path, and the template none.
    fn check_prefixes(&self) -> Result<(), ConfigError> {
        let lists = [
            ("UIDGATE_PUBLIC_PATHS", &self.public_paths, "public"),
            (
                "UIDGATE_AUTH_ONLY_PATHS",
                &self.auth_only_paths,
                "open to any valid token",
            ),
        ];
        for (var, prefixes, effect) in lists {
            for p in prefixes.iter() {
                if let Some(t) = self
                    .path_templates
                    .iter()
                    .find(|t| p.covers(t, self.case_insensitive_paths))
                {
                    return Err(ConfigError::Invalid {
                        var,
                        reason: format!(
                            "{:?} covers the template {:?} (UIDGATE_PATH_TEMPLATES): every user's path under it would be {effect}; list narrower prefixes",
                            p.as_str(),
                            t.as_str(),
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The settings that are not secrets, as the variables that give them: what a generated
    /// Envoy module configuration carries (secrets, the secret file and the JWKS come from
    /// Envoy's environment; a JWKS URL is not for the module). Parsing these variables, plus
    /// the secrets, gives these settings again.
    pub fn non_secret_vars(&self) -> Vec<(&'static str, String)> {
        let join = |items: Vec<&str>| items.join(",");
        let mut vars = vec![
            (
                "UIDGATE_PATH_TEMPLATES",
                join(self.path_templates.iter().map(|t| t.as_str()).collect()),
            ),
            (
                "UIDGATE_UNLISTED_PATHS",
                match self.unlisted_paths {
                    Unlisted::Deny => "deny",
                    Unlisted::Authenticated => "authenticated",
                }
                .to_owned(),
            ),
            (
                "UIDGATE_CASE_INSENSITIVE_PATHS",
                self.case_insensitive_paths.to_string(),
            ),
            ("UIDGATE_UID_CLAIMS", self.uid_claims.join(",")),
            ("UIDGATE_LEEWAY_SECS", self.leeway_secs.to_string()),
            (
                "UIDGATE_SECRET_RELOAD_SECS",
                self.secret_reload_secs.to_string(),
            ),
            ("UIDGATE_MAX_TOKEN_BYTES", self.max_token_bytes.to_string()),
        ];
        let lists = [
            ("UIDGATE_PUBLIC_PATHS", &self.public_paths),
            ("UIDGATE_AUTH_ONLY_PATHS", &self.auth_only_paths),
        ];
        for (var, prefixes) in lists {
            if !prefixes.is_empty() {
                vars.push((var, join(prefixes.iter().map(|p| p.as_str()).collect())));
            }
        }
        if let Some(iss) = &self.issuer {
            vars.push(("UIDGATE_ISSUER", iss.clone()));
        }
        if !self.audiences.is_empty() {
            vars.push(("UIDGATE_AUDIENCE", self.audiences.join(",")));
        }
        if let Some(ttl) = self.max_token_ttl {
            vars.push(("UIDGATE_MAX_TOKEN_TTL_SECS", ttl.to_string()));
        }
        vars
    }

    /// What a host should warn about at start (and `check-config` shows): settings that are
    /// valid but weaken the gate.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.unlisted_paths == Unlisted::Authenticated {
            out.push(
                "UIDGATE_UNLISTED_PATHS=authenticated: a path that no template or prefix covers needs only a valid token; if a proxy or the app rewrites paths (Envoy prefix_rewrite, Traefik StripPrefix, FastAPI root_path), one user's token can reach another user's data. List such routes in UIDGATE_AUTH_ONLY_PATHS and unset it"
                    .to_owned(),
            );
        }
        out
    }

    /// Builds the decision logic. A JWKS URL starts with no keys: until the host's first
    /// fetch, asymmetric tokens get `unknown_kid`.
    pub fn authorizer(&self) -> Authorizer {
        let secrets: Vec<&[u8]> = self
            .secrets
            .iter()
            .flat_map(|set| set.iter())
            .map(|s| s.expose())
            .collect();
        let verifier = Verifier::new(
            &secrets,
            ClaimRules {
                uid_claims: self.uid_claims.clone(),
                leeway_secs: self.leeway_secs,
                issuer: self.issuer.clone(),
                audiences: self.audiences.clone(),
            },
        )
        .with_max_ttl(self.max_token_ttl);
        // Validated when the settings were read; a JWKS that no longer parses enables nothing.
        let verifier = match self.jwks_json.as_deref().map(JwksKeys::from_json) {
            Some(Ok(keys)) => verifier.with_jwks(keys),
            _ if self.jwks_url.is_some() => verifier.with_jwks(JwksKeys::empty()),
            _ => verifier,
        };
        Authorizer::new(verifier, self.path_policy(), self.max_token_bytes)
    }

    /// The path half of the decision: templates, public prefixes and their case rule.
    pub fn path_policy(&self) -> PathPolicy {
        PathPolicy::new(self.path_templates.clone(), self.public_paths.clone())
            .with_auth_only(self.auth_only_paths.clone())
            .with_unlisted(self.unlisted_paths)
            .case_insensitive(self.case_insensitive_paths)
    }
}

/// `http(s)://host[:port][/path]`, checked without a URL library: the host parses it again
/// when it fetches.
fn jwks_url(value: Option<String>, file_too: bool) -> Result<Option<String>, ConfigError> {
    let var = "UIDGATE_JWKS_URL";
    let Some(url) = non_empty(var, value)? else {
        return Ok(None);
    };
    if file_too {
        return Err(ConfigError::Invalid {
            var,
            reason: "set either UIDGATE_JWKS_URL or UIDGATE_JWKS_FILE, not both".into(),
        });
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let authority = rest.map(|r| r.split(['/', '?']).next().unwrap_or_default());
    let host = authority.map(|a| a.rsplit_once(':').map_or(a, |(h, _)| h));
    match host {
        Some(h)
            if !h.is_empty()
                && !authority.unwrap_or_default().contains('@')
                && url.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(url))
        }
        _ => Err(ConfigError::Invalid {
            var,
            reason: format!("expected http(s)://host[:port]/path, got {url:?}"),
        }),
    }
}

/// `deny` (the default) or `authenticated`.
fn unlisted(value: Option<String>) -> Result<Unlisted, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("deny") => Ok(Unlisted::Deny),
        Some("authenticated") => Ok(Unlisted::Authenticated),
        Some(other) => Err(ConfigError::Invalid {
            var: "UIDGATE_UNLISTED_PATHS",
            reason: format!("expected deny or authenticated, got {other:?}"),
        }),
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`), `false` when unset.
fn boolean(var: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value
        .as_deref()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(_) => Err(ConfigError::Invalid {
            var,
            reason: format!(
                "expected true or false, got {:?}",
                value.unwrap_or_default()
            ),
        }),
    }
}

#[cfg(test)]
mod path_tests;
#[cfg(test)]
mod tests;
