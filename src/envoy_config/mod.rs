//! `uid-gate envoy-config`: Envoy configuration generated from uid-gate's own configuration.
//!
//! Inline mode puts the decision inside Envoy: Envoy loads uid-gate's core as a dynamic
//! module (`crates/uid-gate-envoy`) whose filter configuration carries the non-secret
//! variables; the secrets come from Envoy's environment. The default mode prints the
//! ext_authz equivalent, with Envoy asking a uid-gate service. Both carry the hardening of
//! `envoy/envoy.yaml`. Nothing here decides: the decision is the core's, in either host.
//!
//! The configuration is built as `serde_json` values and printed as YAML by `yaml`.

use serde_json::{Value, json};
use uid_gate_core::config::{JwksUrl, Settings};

mod clients;
mod cluster;
mod module;
mod yaml;

pub use clients::parse_origin;
use cluster::{check_retry_policy, cluster, socket_address};
use module::module_filter;
pub use module::{MODULE_FILE, MODULE_FILTER};

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
    /// The Lua engine is gone (0.3): the module decides inline.
    #[error(
        "--engine lua: the Lua engine was removed in 0.3; --inline is uid-gate's core as an Envoy dynamic module (Envoy 1.40). For another Envoy, for Istio or Envoy Gateway, use the ext_authz service (uid-gate envoy-config without --inline). See docs/envoy-inline.md, \"Upgrading from the Lua engine\""
    )]
    LuaRemoved,
    /// `--istio` generated the Lua engine's EnvoyFilter.
    #[error(
        "--istio: the EnvoyFilter it printed carried the Lua engine, removed in 0.3. In Istio use the CUSTOM ext_authz provider (k8s/istio/); the module only where the proxy's Envoy is the one it was built for (docs/envoy-inline.md, \"Istio\")"
    )]
    IstioRemoved,
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
    /// The decision in Envoy (the module) instead of ext_authz to a uid-gate service.
    pub inline: bool,
    /// With `inline`: the module's `.so`, as Envoy finds it.
    pub module: String,
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
    /// A listener for Kubernetes probes (`--probe`): `/ready` from Envoy's health check
    /// filter; `None` leaves it out.
    pub probe: Option<HostPort>,
}

/// The HTTP filters, as a YAML list (without the router).
pub fn filters(settings: &Settings, opts: &Options) -> Result<String, EnvoyConfigError> {
    if !opts.cors_origins.is_empty() {
        return Err(EnvoyConfigError::CorsWithout {
            output: "--filters-only",
            instead: "generate the whole bootstrap, or put Envoy's CORS filter before these filters and a CorsPolicy on your virtual host (docs/envoy-inline.md, \"Every client reads its denial\")",
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
    for listener in std::iter::once(&opts.listen).chain(&opts.probe) {
        if !listener.is_ip() {
            return Err(EnvoyConfigError::ListenHost(listener.host.clone()));
        }
    }
    let mut filters = filter_values(settings, opts)?;
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));
    let mut manager = hardened_manager("ingress");
    manager["route_config"] = json!({"name": "app", "virtual_hosts": [virtual_host(opts)]});
    manager["http_filters"] = Value::Array(filters);
    let mut listeners = vec![listener("ingress", &opts.listen, manager)];
    if let Some(probe) = &opts.probe {
        listeners.push(listener("probes", probe, probe_manager()));
    }
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
        json!({"listeners": listeners, "clusters": clusters}),
    );
    let mut out = header(opts);
    out.push_str(&yaml_map(&doc, 0));
    Ok(out)
}

fn listener(name: &str, address: &HostPort, manager: Value) -> Value {
    json!({
        "name": name,
        "address": socket_address(address),
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": manager,
        }]}]
    })
}

/// The probes' connection manager: Envoy's health check filter answers `/ready` (200 while
/// serving, 503 once Envoy drains or `/healthcheck/fail` was called on its admin); anything
/// else is 404. It reaches no cluster, so a probe never depends on the app.
fn probe_manager() -> Value {
    let mut manager = hardened_manager("probes");
    manager["route_config"] = json!({"name": "probes", "virtual_hosts": [{
        "name": "probes",
        "domains": ["*"],
        "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 404}}]
    }]});
    manager["http_filters"] = json!([
        {
            "name": "envoy.filters.http.health_check",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
                "pass_through_mode": false,
                "headers": [{"name": ":path", "string_match": {"exact": "/ready"}}]
            }
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
        }
    ]);
    manager
}

/// A connection manager with the declared [`HARDENING`].
fn hardened_manager(stat_prefix: &str) -> Value {
    let mut manager = serde_json::Map::new();
    manager.insert(
        "@type".into(),
        json!("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"),
    );
    manager.insert("stat_prefix".into(), json!(stat_prefix));
    manager.extend(hardening_fields());
    Value::Object(manager)
}

/// [`HARDENING`] as the fields of a connection manager (nested where a path has dots).
fn hardening_fields() -> serde_json::Map<String, Value> {
    let mut fields = Value::Object(serde_json::Map::new());
    for (path, value) in HARDENING {
        let value = match *value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            text => Value::String(text.to_owned()),
        };
        let mut at = &mut fields;
        let mut keys = path.split('.').peekable();
        while let Some(key) = keys.next() {
            if keys.peek().is_none() {
                at[key] = value.clone();
            } else {
                if at.get(key).is_none() {
                    at[key] = json!({});
                }
                at = &mut at[key];
            }
        }
    }
    match fields {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The first line of a [`HARDENING`] block in a hand-written Envoy configuration.
pub const HARDENING_BEGIN: &str = "# uid-gate hardening, generated from HARDENING in src/envoy_config/mod.rs: edit it there, then run UIDGATE_BLESS=1 cargo test --test it hardening";
/// The last line of such a block.
pub const HARDENING_END: &str = "# end of uid-gate hardening";

/// The [`HARDENING`] block for a hand-written connection manager whose fields sit at
/// `indent` spaces: [`HARDENING_BEGIN`], the fields as the generator writes them,
/// [`HARDENING_END`]. The shipped `envoy/*.yaml`, `bench/*.yaml` and the Istio gateway patch
/// each carry it, checked equal (and rewritten on request) by tests/it/hardening.rs.
pub fn hardening_block(indent: usize) -> String {
    let pad = " ".repeat(indent);
    format!(
        "{pad}{HARDENING_BEGIN}\n{}{pad}{HARDENING_END}\n",
        yaml_map(&hardening_fields(), indent)
    )
}

/// The hardening of the HTTP connection manager, stated once: every bootstrap the generator
/// prints carries it, and every hand-written configuration carries it as a generated block
/// ([`hardening_block`]).
/// Each is (field path in the connection manager, YAML value). uid-gate judges the path it is
/// sent, so Envoy first normalises it (dot segments, `//`) and refuses `%2F`/`%5C`, so that the
/// path checked is the path the app routes on; and a header spelled with underscores
/// (`x_user_id`, read by CGI/WSGI-style apps as `x-user-id`) is refused.
pub const HARDENING: &[(&str, &str)] = &[
    ("normalize_path", "true"),
    ("merge_slashes", "true"),
    ("path_with_escaped_slashes_action", "REJECT_REQUEST"),
    (
        "common_http_protocol_options.headers_with_underscores_action",
        "REJECT_REQUEST",
    ),
];

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

const JWKS_CLUSTER: &str = "uid_gate_jwks";

fn header(opts: &Options) -> String {
    let mut out = String::from(
        "# Generated by `uid-gate envoy-config` from uid-gate's configuration; do not edit,\n\
         # change the variables and generate it again.\n",
    );
    if opts.inline {
        out.push_str(
            "# It holds no secret: the uid-gate module reads BETTER_AUTH_SECRET (or _SECRETS, or\n\
             # _SECRET_FILE) and UIDGATE_JWKS_FILE from Envoy's environment. Built for Envoy 1.40.\n",
        );
    }
    out
}

fn filter_values(settings: &Settings, opts: &Options) -> Result<Vec<Value>, EnvoyConfigError> {
    let mut filters = clients::filters(!opts.cors_origins.is_empty(), opts.grpc_web);
    filters.extend(gate_filters(settings, opts)?);
    Ok(filters)
}

/// The gate itself: ext_authz, or the module.
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
    Ok(vec![module_filter(settings, &opts.module)?])
}

/// The cluster address and TLS server name of a JWKS URL (the core's parse).
fn jwks_target(url: &str) -> Result<(HostPort, Option<String>), EnvoyConfigError> {
    let url = JwksUrl::parse(url).map_err(|_| EnvoyConfigError::JwksUrl)?;
    let sni = url.tls.then(|| url.host.clone());
    Ok((
        HostPort {
            host: url.host,
            port: url.port,
        },
        sni,
    ))
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
