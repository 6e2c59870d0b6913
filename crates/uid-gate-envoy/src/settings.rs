//! The module's configuration: uid-gate's variables from the filter configuration (a JSON
//! object of name -> value) and, for secrets, from Envoy's own environment.

use std::collections::BTreeMap;

use uid_gate_core::config::vars::{did_you_mean, unknown_var_warnings};
use uid_gate_core::config::{ConfigError, JwksUrl, Settings, VARS, declare};

/// Whether only Envoy's environment may supply `name`: a secret, or a file the module reads
/// (the declaration says which: `Var::environment_only`). Such a value never sits in Envoy's
/// configuration, which the admin interface can dump.
pub fn environment_only(name: &str) -> bool {
    VARS.iter().any(|v| v.name == name && v.environment_only())
}

/// Why the filter configuration was refused; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The filter configuration is not a JSON object of strings.
    #[error("the filter configuration must be a JSON object of variable names to strings: {0}")]
    NotAnObject(String),
    /// A secret in the filter configuration.
    #[error("{0} must come from Envoy's environment, never from its configuration")]
    SecretInConfig(String),
    /// A JWKS URL without the Envoy cluster to fetch it through.
    #[error(
        "UIDGATE_JWKS_URL: the module fetches it through the Envoy cluster named by _jwks_cluster, which is missing (generate the configuration with uid-gate envoy-config --inline)"
    )]
    JwksCluster,
    /// A name the module does not read: a typo would otherwise change nothing, silently.
    #[error("{0} is not a setting of uid-gate's Envoy module{1}")]
    Unknown(String, String),
    /// What the core refused, naming its variable.
    #[error(transparent)]
    Core(#[from] ConfigError),
}

/// The filter-configuration key naming the Envoy cluster through which the JWKS URL is
/// fetched (the generator adds the cluster and this key).
pub use uid_gate_core::config::ENVOY_JWKS_CLUSTER_KEY as JWKS_CLUSTER_KEY;

/// Where the module fetches the JWKS URL: an Envoy cluster, the request's `:authority` and
/// `:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSource {
    /// The Envoy cluster of the JWKS host.
    pub cluster: String,
    /// `host[:port]` of the URL.
    pub authority: String,
    /// The URL's path and query (`/` when it has none).
    pub path: String,
}

/// The validated settings and the module's own settings.
#[derive(Debug)]
pub struct ModuleSettings {
    /// The decision's settings, validated by the core (the refresh and reload intervals
    /// among them).
    pub settings: Settings,
    /// The JWKS URL to fetch through Envoy, if any.
    pub jwks: Option<JwksSource>,
    /// What to log at warn level once the filter is configured: the core's warnings, and
    /// uid-gate's names in Envoy's environment that the module does not read from there.
    pub warnings: Vec<String>,
}

/// Reads the filter configuration `json` and the secrets from `env` (Envoy's environment).
pub fn from_config(
    json: &[u8],
    env: impl Iterator<Item = (String, String)>,
) -> Result<ModuleSettings, SettingsError> {
    let vars: BTreeMap<String, String> = if json.iter().all(u8::is_ascii_whitespace) {
        BTreeMap::new()
    } else {
        serde_json::from_slice(json).map_err(|e| SettingsError::NotAnObject(e.to_string()))?
    };
    if let Some(secret) = vars.keys().find(|k| environment_only(k)) {
        return Err(SettingsError::SecretInConfig(secret.clone()));
    }
    let names: Vec<&str> = VARS.iter().map(|v| v.name).collect();
    let declared = |k: &str| names.contains(&k);
    if let Some(unknown) = vars.keys().find(|k| !declared(k) && *k != JWKS_CLUSTER_KEY) {
        let hint = did_you_mean(unknown, &names);
        return Err(SettingsError::Unknown(unknown.clone(), hint));
    }
    let cluster = vars.get(JWKS_CLUSTER_KEY).cloned();
    let env: Vec<(String, String)> = env.collect();
    let mut warnings = Vec::new();
    for (k, _) in &env {
        if declared(k) && !environment_only(k) {
            warnings.push(format!(
                "{k} in Envoy's environment is ignored: the module reads it from the filter configuration"
            ));
        }
    }
    warnings.extend(unknown_var_warnings(
        env.iter().map(|(k, _)| k.as_str()),
        &names,
    ));
    // The secrets, plus every undeclared name, so a missing secret names a set look-alike
    // (BETTER_AUTH_SECERT), as the service does; the core reads declared names only.
    let secrets = env
        .into_iter()
        .filter(|(k, _)| environment_only(k) || !declared(k));
    let settings = Settings::from_vars(vars.into_iter().chain(secrets))?;
    warnings.extend(settings.warnings());
    let jwks = match &settings.jwks_url {
        None => None,
        Some(url) => {
            let cluster = cluster.ok_or(SettingsError::JwksCluster)?;
            // The core's one parse of the URL (it already refused a malformed one).
            let url = JwksUrl::parse(url).map_err(|reason| ConfigError::Invalid {
                var: declare::JWKS_URL.name,
                reason,
            })?;
            Some(JwksSource {
                cluster,
                authority: url.authority,
                path: url.path,
            })
        }
    };
    Ok(ModuleSettings {
        settings,
        jwks,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn env() -> impl Iterator<Item = (String, String)> {
        [
            ("BETTER_AUTH_SECRET".to_owned(), SECRET.to_owned()),
            (
                "UIDGATE_PATH_TEMPLATES".to_owned(),
                "/ignored/{user_id}".to_owned(),
            ),
        ]
        .into_iter()
    }

    #[test]
    fn variables_come_from_the_config_and_secrets_from_the_environment() {
        let m = from_config(br#"{"UIDGATE_PUBLIC_PATHS": "/api/auth"}"#, env()).expect("settings");
        assert_eq!(m.settings.public_paths[0].as_str(), "/api/auth");
        // Only secrets are read from the environment: templates stay the configured default.
        assert_eq!(m.settings.path_templates[0].as_str(), "/api/{user_id}");
        assert_eq!(m.settings.secret_reload_secs, 5);
    }

    #[test]
    fn a_jwks_url_is_fetched_through_the_named_cluster() {
        let json = br#"{"UIDGATE_JWKS_URL": "https://auth.example:8443/api/auth/jwks?v=1", "_jwks_cluster": "uid_gate_jwks", "UIDGATE_JWKS_REFRESH_SECS": "60"}"#;
        let m = from_config(json, std::iter::empty()).expect("settings");
        assert_eq!(
            m.jwks,
            Some(JwksSource {
                cluster: "uid_gate_jwks".into(),
                authority: "auth.example:8443".into(),
                path: "/api/auth/jwks?v=1".into(),
            })
        );
        assert_eq!(m.settings.jwks_refresh, std::time::Duration::from_secs(60));
        let bare = br#"{"UIDGATE_JWKS_URL": "http://issuer", "_jwks_cluster": "c"}"#;
        let m = from_config(bare, std::iter::empty()).expect("settings");
        assert_eq!(
            m.jwks.map(|j| (j.authority, j.path)),
            Some(("issuer".into(), "/".into()))
        );
    }

    #[test]
    fn refusals_name_their_variable() {
        let e = |json: &str| {
            from_config(json.as_bytes(), env())
                .expect_err(json)
                .to_string()
        };
        assert!(e(r#"{"UIDGATE_LEEWAY_SECS": "soon"}"#).starts_with("UIDGATE_LEEWAY_SECS:"));
        assert!(
            e(r#"{"BETTER_AUTH_SECRET": "x"}"#)
                .starts_with("BETTER_AUTH_SECRET must come from Envoy's environment")
        );
        assert!(e(r#"{"UIDGATE_JWKS_URL": "https://a/jwks"}"#).starts_with("UIDGATE_JWKS_URL:"));
        assert_eq!(
            e(r#"{"UIDGATE_PUBLIC_PATH": "/x"}"#),
            "UIDGATE_PUBLIC_PATH is not a setting of uid-gate's Envoy module; did you mean UIDGATE_PUBLIC_PATHS?"
        );
        assert_eq!(
            e(r#"{"UIDGATE_SOMETHING": "/x"}"#),
            "UIDGATE_SOMETHING is not a setting of uid-gate's Envoy module"
        );
        assert!(
            e(r#"{"UIDGATE_SECRET_RELOAD_SECS": "0"}"#).starts_with("UIDGATE_SECRET_RELOAD_SECS:")
        );
        assert!(e("[1]").starts_with("the filter configuration must be a JSON object"));
        // Envoy's environment: a typo'd secret is named, a setting there is said to be
        // ignored, and an unknown name gets the closest declared one.
        let typo = [("BETTER_AUTH_SECERT".to_owned(), SECRET.to_owned())];
        let missing = from_config(b"{}", typo.into_iter())
            .expect_err("typo")
            .to_string();
        assert!(missing.contains("BETTER_AUTH_SECERT is set"), "{missing}");
        let env = [
            ("BETTER_AUTH_SECRET", SECRET),
            ("UIDGATE_LEEWAY_SECS", "5"),
            ("UIDGATE_PUBLIC_PATH", "/x"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let m = from_config(b"{}", env.into_iter()).expect("settings");
        assert_eq!(
            m.warnings,
            [
                "UIDGATE_LEEWAY_SECS in Envoy's environment is ignored: the module reads it from the filter configuration",
                "unknown variable UIDGATE_PUBLIC_PATH is ignored; did you mean UIDGATE_PUBLIC_PATHS?",
            ]
        );
        assert_eq!(
            m.settings.leeway_secs, 30,
            "the environment does not set it"
        );
        let none = from_config(b"{}", std::iter::empty())
            .expect_err("no secret")
            .to_string();
        assert_eq!(none, "BETTER_AUTH_SECRET is required");
    }
}
