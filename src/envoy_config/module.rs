//! Inline: uid-gate's core as an Envoy dynamic module (`crates/uid-gate-envoy`), configured
//! with the non-secret variables; its secrets come from Envoy's environment.

use serde_json::{Value, json};
use uid_gate_core::config::{ENVOY_JWKS_CLUSTER_KEY, Settings};

use super::{EnvoyConfigError, JWKS_CLUSTER, jwks_target};

/// The module's file name, as cargo builds it beside the `uid-gate` executable.
pub const MODULE_FILE: &str = "libuid_gate_envoy.so";
/// The module's filter name in Envoy's configuration.
pub const MODULE_FILTER: &str = "uid-gate";

/// The dynamic-module filter: the module at `path`, configured with the non-secret variables
/// and, for a JWKS URL, the URL and the cluster it is fetched through (which `bootstrap` adds).
pub(super) fn module_filter(settings: &Settings, path: &str) -> Result<Value, EnvoyConfigError> {
    let mut vars: serde_json::Map<String, Value> = settings
        .non_secret_vars()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect();
    // The JWKS URL travels with the other variables; the module fetches it through the
    // cluster `bootstrap` adds, which it names by this key.
    if let Some(url) = &settings.jwks_url {
        jwks_target(url)?;
        vars.insert(
            ENVOY_JWKS_CLUSTER_KEY.to_owned(),
            Value::String(JWKS_CLUSTER.to_owned()),
        );
    }
    Ok(json!({
        "name": "envoy.filters.http.dynamic_modules",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
            "dynamic_module_config": {"module": {"local": {"filename": path}}, "do_not_close": true},
            "filter_name": MODULE_FILTER,
            "filter_config": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": Value::Object(vars).to_string()
            }
        }
    }))
}
