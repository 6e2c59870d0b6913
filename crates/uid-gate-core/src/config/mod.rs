//! The decision's settings, validated once: secrets, JWKS, path templates, public paths and
//! claim rules. Every host reads them from the same variables with the same messages.
//!
//! [`Settings::from_vars`] takes (name, value) pairs so tests never touch the process
//! environment. Every error names the variable it is about and never echoes a secret.

use std::path::PathBuf;
use std::time::Duration;

use crate::decision::Authorizer;
use crate::jwks::JwksKeys;
use crate::path_policy::{PathPolicy, PathPrefix, PathTemplate, PatternError, Unlisted};
use crate::scope::ScopeRules;
use crate::verify::{ClaimRules, Verifier};

pub mod declare;
mod jwks_url;
mod secrets;
pub mod vars;

pub use declare::{ENVOY_JWKS_CLUSTER_KEY, Kind, VARS, Var};
pub use jwks_url::JwksUrl;

pub use secrets::{
    MIN_SECRET_BYTES, Reload, Secret, SecretSet, read_secret_file, reload_secret_file,
};
use vars::{list_items, non_empty, number, optional_number, patterns, uid_claims};

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
}

impl ConfigError {
    /// The variable the error is about.
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Missing { var }
            | ConfigError::MissingNearMiss { var, .. }
            | ConfigError::Invalid { var, .. }
            | ConfigError::Pattern { var, .. }
            | ConfigError::SecretFile { var, .. } => var,
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
    /// Placeholders bound to claims and the admin override (`UIDGATE_SCOPE_CLAIMS`,
    /// `UIDGATE_ADMIN_ROLES`, `UIDGATE_ROLE_CLAIMS`, `UIDGATE_ADMIN_METHODS`).
    pub scope: ScopeRules,
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
    /// Every declared variable a generated configuration may carry, as given (or its declared
    /// default): see [`Settings::non_secret_vars`].
    carried: Vec<(&'static str, String)>,
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
        // Exact names only (no look-alikes in another case).
        let raw = |var: &Var| vars::lookup(vars, var);
        let secret_file = raw(&declare::SECRET_FILE).map(PathBuf::from);
        let jwks_configured =
            raw(&declare::JWKS_URL).is_some() || raw(&declare::JWKS_FILE).is_some();
        let path_templates = patterns(
            declare::PATH_TEMPLATES.name,
            &vars::or_default(&declare::PATH_TEMPLATES, raw(&declare::PATH_TEMPLATES))
                .unwrap_or_default(),
            PathTemplate::parse,
            true,
        )?;
        let uid_claims = uid_claims(
            &vars::or_default(&declare::UID_CLAIMS, raw(&declare::UID_CLAIMS)).unwrap_or_default(),
        )?;
        let settings = Settings {
            scope: crate::scope::scope_rules(raw, &path_templates, &uid_claims)?,
            path_templates,
            uid_claims,
            secrets: match secrets::secrets(
                raw(&declare::SECRET),
                raw(&declare::SECRETS),
                secret_file.as_deref(),
            ) {
                Ok(set) => Some(set),
                // A JWKS alone is enough: then HS256 tokens are refused (no secret to verify them).
                Err(ConfigError::Missing { .. }) if jwks_configured => None,
                Err(e) => return Err(e),
            },
            secret_file,
            jwks_url: jwks_url(raw(&declare::JWKS_URL), raw(&declare::JWKS_FILE).is_some())?,
            jwks_refresh: Duration::from_secs(number(
                &declare::JWKS_REFRESH_SECS,
                raw(&declare::JWKS_REFRESH_SECS),
            )?),
            max_token_ttl: optional_number(
                &declare::MAX_TOKEN_TTL_SECS,
                raw(&declare::MAX_TOKEN_TTL_SECS),
            )?,
            jwks_json: match non_empty(declare::JWKS_FILE.name, raw(&declare::JWKS_FILE))? {
                None => None,
                Some(path) => {
                    let var = declare::JWKS_FILE.name;
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
            public_paths: patterns(
                declare::PUBLIC_PATHS.name,
                raw(&declare::PUBLIC_PATHS).as_deref().unwrap_or(""),
                PathPrefix::parse,
                false,
            )?,
            auth_only_paths: patterns(
                declare::AUTH_ONLY_PATHS.name,
                raw(&declare::AUTH_ONLY_PATHS).as_deref().unwrap_or(""),
                PathPrefix::parse,
                false,
            )?,
            unlisted_paths: unlisted(raw(&declare::UNLISTED_PATHS))?,
            case_insensitive_paths: boolean(
                &declare::CASE_INSENSITIVE_PATHS,
                raw(&declare::CASE_INSENSITIVE_PATHS),
            )?,
            leeway_secs: number(&declare::LEEWAY_SECS, raw(&declare::LEEWAY_SECS))?,
            secret_reload_secs: number(
                &declare::SECRET_RELOAD_SECS,
                raw(&declare::SECRET_RELOAD_SECS),
            )?,
            issuer: non_empty(declare::ISSUER.name, raw(&declare::ISSUER))?,
            audiences: match non_empty(declare::AUDIENCE.name, raw(&declare::AUDIENCE))? {
                None => Vec::new(),
                Some(list) => list_items(declare::AUDIENCE.name, &list)?,
            },
            max_token_bytes: usize::try_from(number(
                &declare::MAX_TOKEN_BYTES,
                raw(&declare::MAX_TOKEN_BYTES),
            )?)
            .unwrap_or(usize::MAX),
            // What a generated configuration carries: each declared variable that is not
            // environment-only (Var::environment_only), as given, or its default.
            carried: VARS
                .iter()
                .filter(|v| !v.environment_only())
                .filter_map(|v| {
                    let given = raw(v).filter(|value| !value.trim().is_empty());
                    let value = given.or_else(|| v.default.map(str::to_owned))?;
                    Some((v.name, value))
                })
                .collect(),
        };
        settings.check_prefixes()?;
        Ok(settings)
    }

    /// Refuses a public or authenticated-only prefix that covers a whole template (ends at or
    /// before its `{user_id}`): it would decide every user's path, and the template none.
    fn check_prefixes(&self) -> Result<(), ConfigError> {
        let lists = [
            (declare::PUBLIC_PATHS.name, &self.public_paths, "public"),
            (
                declare::AUTH_ONLY_PATHS.name,
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
    /// Envoy module configuration carries. Derived from the declarations: every declared
    /// variable that is not environment-only ([`Var::environment_only`]: secrets and the files
    /// a host reads), as it was given, or its declared default. Parsing these, plus the
    /// secrets, gives these settings again.
    pub fn non_secret_vars(&self) -> Vec<(&'static str, String)> {
        self.carried.clone()
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
        if let Some(admin) = self.scope.admin() {
            let writes: Vec<&str> = admin
                .methods
                .iter()
                .map(String::as_str)
                .filter(|m| !matches!(*m, "GET" | "HEAD" | "OPTIONS"))
                .collect();
            if !writes.is_empty() {
                out.push(format!(
                    "UIDGATE_ADMIN_METHODS has {}: tokens with an admin role may change any user's and organization's data, not only read it",
                    writes.join(", ")
                ));
            }
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
        .with_max_ttl(self.max_token_ttl)
        .with_captured(self.scope.captured().to_vec());
        // Validated when the settings were read; a JWKS that no longer parses enables nothing.
        let verifier = match self.jwks_json.as_deref().map(JwksKeys::from_json) {
            Some(Ok(keys)) => verifier.with_jwks(keys),
            _ if self.jwks_url.is_some() => verifier.with_jwks(JwksKeys::empty()),
            _ => verifier,
        };
        Authorizer::new(verifier, self.path_policy(), self.max_token_bytes)
            .with_scope(self.scope.clone())
    }

    /// The path half of the decision: templates, public prefixes and their case rule.
    pub fn path_policy(&self) -> PathPolicy {
        PathPolicy::new(self.path_templates.clone(), self.public_paths.clone())
            .with_auth_only(self.auth_only_paths.clone())
            .with_unlisted(self.unlisted_paths)
            .case_insensitive(self.case_insensitive_paths)
    }
}

/// `http(s)://host[:port][/path]`, checked by [`JwksUrl::parse`], the one parser every host
/// takes the URL's parts from.
fn jwks_url(value: Option<String>, file_too: bool) -> Result<Option<String>, ConfigError> {
    let var = declare::JWKS_URL.name;
    let Some(url) = non_empty(var, value)? else {
        return Ok(None);
    };
    if file_too {
        return Err(ConfigError::Invalid {
            var,
            reason: "set either UIDGATE_JWKS_URL or UIDGATE_JWKS_FILE, not both".into(),
        });
    }
    JwksUrl::parse(&url).map_err(|reason| ConfigError::Invalid { var, reason })?;
    Ok(Some(url))
}

/// `deny` (the default) or `authenticated`.
fn unlisted(value: Option<String>) -> Result<Unlisted, ConfigError> {
    // The declaration lists the words; a word it gains that is not matched here is refused.
    match vars::choice(&declare::UNLISTED_PATHS, value)? {
        "deny" => Ok(Unlisted::Deny),
        "authenticated" => Ok(Unlisted::Authenticated),
        other => Err(ConfigError::Invalid {
            var: declare::UNLISTED_PATHS.name,
            reason: format!("{other:?} is declared but not implemented"),
        }),
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`), its declared default when unset.
fn boolean(var: &Var, value: Option<String>) -> Result<bool, ConfigError> {
    let value = vars::or_default(var, value);
    match value
        .as_deref()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        _ => Err(ConfigError::Invalid {
            var: var.name,
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
