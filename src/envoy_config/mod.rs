//! `uid-gate envoy-config`: Envoy configuration generated from uid-gate's own configuration.
//!
//! Inline mode puts the decision inside Envoy. With the module engine (the default), Envoy
//! loads uid-gate's core as a dynamic module (`crates/uid-gate-envoy`) whose filter
//! configuration carries the non-secret variables; the secrets come from Envoy's environment.
//! With the Lua engine, `jwt_authn` verifies the token with the configured HS256 secrets (each
//! an `oct` key, so a rotation list is several keys) and the JWKS, and a generated Lua filter
//! (see [`lua`]) applies the path rules and claim checks. The default mode prints the
//! ext_authz equivalent, with Envoy asking a uid-gate service. All carry the hardening of
//! `envoy/envoy.yaml`.
//!
//! The configuration is built as `serde_json` values and printed as YAML by `yaml`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use uid_gate_core::config::Settings;
use uid_gate_core::jwks::JwksKeys;

mod clients;
mod cluster;
pub mod lua;
mod module;
mod yaml;

pub use clients::parse_origin;
use cluster::{check_retry_policy, cluster, socket_address};
use module::module_filter;
pub use module::{Engine, MODULE_FILE, MODULE_FILTER};

use yaml::{yaml_item, yaml_map};

/// Why no configuration could be generated.
#[derive(Debug, thiserror::Error)]
pub enum EnvoyConfigError {
    /// `HOST:PORT` did not parse.
    #[error("{flag}: '{value}' is not HOST:PORT")]
    Address { flag: &'static str, value: String },
    /// `--selector` is not `KEY=VALUE`.
    #[error("--selector: '{0}' is not KEY=VALUE")]
    Selector(String),
    /// A listener must bind an IP address.
    #[error("--listen: '{0}' is not an IP address")]
    ListenHost(String),
    /// The JWKS URL did not split into scheme, host and port.
    #[error("UIDGATE_JWKS_URL: cannot take a host and port from it")]
    JwksUrl,
    /// `--cors-origin` is not a serialised origin.
    #[error("--cors-origin: '{value}' is not an origin: {why}")]
    CorsOrigin { value: String, why: &'static str },
    /// A CORS policy lives on a virtual host, which this output does not have.
    #[error(
        "--cors-origin with {output}: Envoy's CORS filter reads its policy from the virtual host, which {output} does not print; {instead}"
    )]
    CorsWithout {
        output: &'static str,
        instead: &'static str,
    },
}

/// `HOST:PORT`, where HOST is an IP address (IPv6 in brackets) or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The host, without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl HostPort {
    /// Parses `HOST:PORT`; `flag` names the option in the error.
    pub fn parse(flag: &'static str, value: &str) -> Result<Self, EnvoyConfigError> {
        let bad = || EnvoyConfigError::Address {
            flag,
            value: value.to_owned(),
        };
        let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse().map_err(|_| bad())?;
        let name_ok = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        if host.is_empty() || !name_ok {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    fn is_ip(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
    }
}

/// Which gRPC client Envoy's ext_authz filter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrpcClient {
    /// Envoy's own HTTP/2 client over a cluster (recommended; see docs/envoy-inline.md).
    Envoy,
    /// The Google C++ gRPC client.
    Google,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The decision in Envoy instead of ext_authz to a uid-gate service.
    pub inline: bool,
    /// With `inline`: the module or the Lua engine.
    pub engine: Engine,
    /// Where Envoy listens.
    pub listen: HostPort,
    /// The app behind Envoy.
    pub upstream: HostPort,
    /// The uid-gate gRPC service (ext_authz mode).
    pub authz: HostPort,
    /// Envoy's admin listener; `None` leaves it out.
    pub admin: Option<HostPort>,
    /// The ext_authz gRPC client.
    pub grpc_client: GrpcClient,
    /// A private CA (PEM) for an https JWKS URL (`UIDGATE_JWKS_CA_FILE`); `None` trusts the
    /// system bundle.
    pub jwks_ca_pem: Option<Vec<u8>>,
    /// Browser origins allowed to call the API (`--cors-origin`, each checked by
    /// [`parse_origin`]); empty: no CORS filter, so no page on another origin can read an answer.
    pub cors_origins: Vec<String>,
    /// Envoy's gRPC-Web filter before the gate (`--grpc-web`).
    pub grpc_web: bool,
}

/// The HTTP filters, as a YAML list (without the router).
pub fn filters(settings: &Settings, opts: &Options) -> Result<String, EnvoyConfigError> {
    if !opts.cors_origins.is_empty() {
        return Err(EnvoyConfigError::CorsWithout {
            output: "--filters-only",
            instead: "generate the whole bootstrap, or put Envoy's CORS filter before these filters and a CorsPolicy on your virtual host (docs/envoy-inline.md, \"A page on another origin\")",
        });
    }
    let filters = filter_values(settings, opts)?;
    let mut out = String::new();
    for f in &filters {
        out.push_str(&yaml_item(f, 0));
    }
    Ok(out)
}

/// A complete Envoy bootstrap: listener with the filters, the app cluster, and the clusters
/// the filters call.
pub fn bootstrap(settings: &Settings, opts: &Options) -> Result<String, EnvoyConfigError> {
    let listen_ip = opts.listen.is_ip();
    if !listen_ip {
        return Err(EnvoyConfigError::ListenHost(opts.listen.host.clone()));
    }
    let mut filters = filter_values(settings, opts)?;
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));
    let hcm = json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "ingress",
            "normalize_path": true,
            "merge_slashes": true,
            "path_with_escaped_slashes_action": "REJECT_REQUEST",
            "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
            "route_config": {
                "name": "app",
                "virtual_hosts": [virtual_host(opts)]
            },
            "http_filters": filters,
        }
    });
    let mut clusters = vec![cluster("app", &opts.upstream, false, None)];
    if !opts.inline {
        clusters.push(cluster("uid_gate", &opts.authz, true, None));
    } else if let Some(url) = &settings.jwks_url {
        let (target, sni) = jwks_target(url)?;
        let tls = sni.map(|sni| (sni, opts.jwks_ca_pem.as_deref()));
        clusters.push(cluster(JWKS_CLUSTER, &target, false, tls));
    }
    let mut doc = serde_json::Map::new();
    if let Some(admin) = &opts.admin {
        doc.insert("admin".into(), json!({"address": socket_address(admin)}));
    }
    doc.insert(
        "static_resources".into(),
        json!({
            "listeners": [{
                "name": "ingress",
                "address": socket_address(&opts.listen),
                "filter_chains": [{"filters": [hcm]}]
            }],
            "clusters": clusters,
        }),
    );
    let mut out = header(opts);
    out.push_str(&yaml_map(&doc, 0));
    Ok(out)
}

/// The one virtual host, with the CORS policy when origins are listed.
fn virtual_host(opts: &Options) -> Value {
    let mut host = json!({
        "name": "app",
        "domains": ["*"],
        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}]
    });
    if !opts.cors_origins.is_empty() {
        host["typed_per_filter_config"] = json!({
            "envoy.filters.http.cors": clients::cors_policy(&opts.cors_origins, opts.grpc_web)
        });
    }
    host
}

/// An Istio `EnvoyFilter` inserting the inline filters before the router of the selected
/// workloads' inbound HTTP (or a gateway's, with `context` `GATEWAY`).
pub fn istio(
    settings: &Settings,
    opts: &Options,
    name: &str,
    namespace: &str,
    selector: &[(String, String)],
    context: &str,
) -> Result<String, EnvoyConfigError> {
    if !opts.cors_origins.is_empty() {
        return Err(EnvoyConfigError::CorsWithout {
            output: "--istio",
            instead: "in Istio set corsPolicy on the VirtualService: Istio's CORS filter runs before the filters this EnvoyFilter inserts, answers preflights and adds the CORS headers to uid-gate's denies",
        });
    }
    let patches: Vec<Value> = filter_values(settings, opts)?
        .into_iter()
        .map(|f| {
            json!({
                "applyTo": "HTTP_FILTER",
                "match": {
                    "context": context,
                    "listener": {"filterChain": {"filter": {
                        "name": "envoy.filters.network.http_connection_manager",
                        "subFilter": {"name": "envoy.filters.http.router"}
                    }}}
                },
                "patch": {"operation": "INSERT_BEFORE", "value": f}
            })
        })
        .collect();
    let labels: serde_json::Map<String, Value> = selector
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut spec = serde_json::Map::new();
    if !labels.is_empty() {
        spec.insert("workloadSelector".into(), json!({"labels": labels}));
    }
    spec.insert("configPatches".into(), Value::Array(patches));
    let doc = json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    });
    let mut out = header(opts).replace(
        "keep Envoy's admin interface (which can dump it) on loopback",
        "grant `get` on envoyfilters (and the proxies' config_dump) as you would on Secrets",
    );
    if let Value::Object(m) = &doc {
        out.push_str(&yaml_map(m, 0));
    }
    Ok(out)
}

const PROVIDER: &str = "uid_gate";
const JWKS_PROVIDER: &str = "uid_gate_jwks";
const JWKS_CLUSTER: &str = "uid_gate_jwks";

fn header(opts: &Options) -> String {
    let mut out = String::from(
        "# Generated by `uid-gate envoy-config` from uid-gate's configuration; do not edit,\n\
         # change the variables and generate it again.\n",
    );
    match (&opts.inline, &opts.engine) {
        (true, Engine::Lua) => out.push_str(
            "# It embeds the HS256 secrets (jwt_authn's local JWKS): keep it as secret as they\n\
             # are, and keep Envoy's admin interface (which can dump it) on loopback.\n",
        ),
        (true, Engine::Module(_)) => out.push_str(
            "# It holds no secret: the uid-gate module reads BETTER_AUTH_SECRET (or _SECRETS, or\n\
             # _SECRET_FILE) and UIDGATE_JWKS_FILE from Envoy's environment. Built for Envoy 1.40.\n",
        ),
        (false, _) => {}
    }
    out
}

fn filter_values(settings: &Settings, opts: &Options) -> Result<Vec<Value>, EnvoyConfigError> {
    let mut filters = clients::filters(!opts.cors_origins.is_empty(), opts.grpc_web);
    filters.extend(gate_filters(settings, opts)?);
    Ok(filters)
}

/// The gate itself: ext_authz, the module, or jwt_authn + Lua.
fn gate_filters(settings: &Settings, opts: &Options) -> Result<Vec<Value>, EnvoyConfigError> {
    if !opts.inline {
        let service = match opts.grpc_client {
            GrpcClient::Envoy => json!({
                "envoy_grpc": {"cluster_name": "uid_gate"},
                "timeout": "0.5s",
                "retry_policy": check_retry_policy()
            }),
            GrpcClient::Google => json!({
                "google_grpc": {
                    "target_uri": format!("{}:{}", bracket(&opts.authz.host), opts.authz.port),
                    "stat_prefix": "uid_gate"
                },
                "timeout": "0.5s"
            }),
        };
        return Ok(vec![json!({
            "name": "envoy.filters.http.ext_authz",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
                "transport_api_version": "V3",
                "grpc_service": service,
                "failure_mode_allow": false,
                "status_on_error": {"code": "ServiceUnavailable"}
            }
        })]);
    }
    if let Engine::Module(path) = &opts.engine {
        return Ok(vec![module_filter(settings, path)?]);
    }
    let mut providers = serde_json::Map::new();
    let mut requirements = Vec::new();
    if let Some(jwks) = local_jwks(settings) {
        providers.insert(
            PROVIDER.into(),
            provider(settings, json!({"local_jwks": {"inline_string": jwks}})),
        );
        requirements.push(json!({"provider_name": PROVIDER}));
    }
    if let Some(url) = &settings.jwks_url {
        jwks_target(url)?;
        providers.insert(
            JWKS_PROVIDER.into(),
            provider(
                settings,
                json!({"remote_jwks": {
                    "http_uri": {"uri": url, "cluster": JWKS_CLUSTER, "timeout": "5s"},
                    "cache_duration": format!("{}s", settings.jwks_refresh.as_secs()),
                    "async_fetch": {},
                    "retry_policy": {}
                }}),
            ),
        );
        requirements.push(json!({"provider_name": JWKS_PROVIDER}));
    }
    // A missing or refused token is not answered by jwt_authn: the Lua filter answers it,
    // with uid-gate's status, challenge and body (and lets public paths through).
    requirements.push(json!({"allow_missing_or_failed": {}}));
    let jwt_authn = json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": providers,
            "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": requirements}}}]
        }
    });
    let decision = json!({
        "name": "envoy.filters.http.lua",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": lua::decision_filter(settings)}
        }
    });
    Ok(vec![jwt_authn, decision])
}

/// A jwt_authn provider with the common fields. Issuer and audience are left to the Lua
/// filter, which compares them exactly (jwt_authn would also accept `https://api/` for `api`).
fn provider(settings: &Settings, jwks: Value) -> Value {
    let mut p = json!({
        // The token is taken after the first space whatever the scheme's case; the Lua
        // filter has already checked that the header is exactly `Bearer <token>`.
        "from_headers": [{"name": "authorization", "value_prefix": " "}],
        "forward": true,
        // Not `require_expiration`: jwt_authn would refuse a token without exp before its
        // signature is known; the Lua filter refuses it after (missing_exp, as uid-gate).
        "clock_skew_seconds": settings.leeway_secs,
        "payload_in_metadata": lua::PAYLOAD_KEY,
        "header_in_metadata": lua::HEADER_KEY,
        "failed_status_in_metadata": lua::FAILED_KEY,
    });
    if let (Value::Object(p), Value::Object(j)) = (&mut p, jwks) {
        p.extend(j);
    }
    p
}

/// The HS256 secrets as `oct` keys pinned to HS256, plus the usable keys of a JWKS file
/// pinned to their one algorithm (as the core pins them); `None` when there is neither.
fn local_jwks(settings: &Settings) -> Option<String> {
    let mut keys: Vec<Value> = settings
        .secrets
        .iter()
        .flat_map(|set| set.iter())
        .map(|s| json!({"kty": "oct", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(s.expose())}))
        .collect();
    keys.extend(
        settings
            .jwks_json
            .as_deref()
            .map(pinned_jwks_keys)
            .unwrap_or_default(),
    );
    (!keys.is_empty()).then(|| json!({ "keys": keys }).to_string())
}

/// The usable keys of a JWKS document (those the core's [`JwksKeys`] accepts), each with
/// `alg` set to the one algorithm the core pins it to.
fn pinned_jwks_keys(json: &[u8]) -> Vec<Value> {
    let (Ok(usable), Ok(doc)) = (
        JwksKeys::from_json(json),
        serde_json::from_slice::<Value>(json),
    ) else {
        return Vec::new();
    };
    doc["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|key| {
            let (alg, _) = key["kid"].as_str().and_then(|kid| usable.get(kid))?;
            let mut key = key.clone();
            key["alg"] = Value::String(format!("{alg:?}"));
            Some(key)
        })
        .collect()
}

/// The cluster address and TLS server name of a JWKS URL.
fn jwks_target(url: &str) -> Result<(HostPort, Option<String>), EnvoyConfigError> {
    let (rest, tls, default_port) = if let Some(r) = url.strip_prefix("https://") {
        (r, true, 443)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, false, 80)
    } else {
        return Err(EnvoyConfigError::JwksUrl);
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let target = if authority.ends_with(']') || !authority.contains(':') {
        HostPort::parse("UIDGATE_JWKS_URL", &format!("{authority}:{default_port}"))
    } else {
        HostPort::parse("UIDGATE_JWKS_URL", authority)
    }
    .map_err(|_| EnvoyConfigError::JwksUrl)?;
    let sni = tls.then(|| target.host.clone());
    Ok((target, sni))
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests;
