//! The clusters the generated configs send to (uid-gate, the app, a JWKS issuer), and how
//! Envoy spreads checks over several uid-gate instances and retries one that went away.

use serde_json::{Value, json};

use super::HostPort;

/// How often Envoy re-resolves a named upstream at most (it follows the records' TTL, never
/// faster than its 5 s floor): pods a scale-out adds behind a headless Service get checks
/// within about this long.
const DNS_REFRESH: &str = "5s";
/// A check that could not reach one uid-gate (a pod going away, a refused stream) is tried
/// on another, never the same one: checks are idempotent, and failing closed on a rolling
/// restart is an outage.
pub(super) fn check_retry_policy() -> Value {
    json!({
        "retry_on": "connect-failure,refused-stream,reset,unavailable",
        "num_retries": 2,
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}
        }],
        "host_selection_retry_max_attempts": 3
    })
}
/// Envoy keeps its HTTP/2 connections to uid-gate for this long at most: behind a ClusterIP
/// Service (one address), a new connection is how pods added since get a share.
const MAX_CONNECTION_DURATION: &str = "300s";

pub(super) fn socket_address(a: &HostPort) -> Value {
    json!({"socket_address": {"address": a.host, "port_value": a.port}})
}

/// A cluster; `tls` is the server name to verify and a private CA (PEM) to trust instead of
/// the system bundle.
pub(super) fn cluster(
    name: &str,
    to: &HostPort,
    http2: bool,
    tls: Option<(String, Option<&[u8]>)>,
) -> Value {
    let mut c = json!({
        "name": name,
        "type": if to.is_ip() { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "0.25s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(to)}}]}]
        }
    });
    if !to.is_ip() {
        // Envoy's default (AUTO) tries only IPv6 when a name has an IPv6 address, which breaks
        // `localhost` and v4-only services; prefer v4, fall back to v6.
        c["dns_lookup_family"] = json!("V4_PREFERRED");
        // Every address the name has is an endpoint (a headless Service: one per pod), and
        // the set follows the records.
        c["dns_refresh_rate"] = json!(DNS_REFRESH);
        c["respect_dns_ttl"] = json!(true);
        // An address that refuses connections (a pod gone before the records say so) is
        // taken out of the rotation at once, rather than costing a retry per request.
        c["outlier_detection"] = json!({
            "split_external_local_origin_errors": true,
            "consecutive_local_origin_failure": 1,
            "interval": "1s",
            "base_ejection_time": "10s",
            "max_ejection_percent": 50
        });
    }
    if http2 {
        c["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": {"max_connection_duration": MAX_CONNECTION_DURATION},
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
    }
    if let Some((sni, ca)) = tls {
        let trusted_ca = match ca {
            Some(pem) => json!({"inline_string": String::from_utf8_lossy(pem)}),
            None => json!({"filename": "/etc/ssl/certs/ca-certificates.crt"}),
        };
        c["connect_timeout"] = json!("2s");
        c["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": sni,
                "common_tls_context": {"validation_context": {
                    "trusted_ca": trusted_ca,
                    "match_typed_subject_alt_names": [
                        {"san_type": if to.is_ip() { "IP_ADDRESS" } else { "DNS" }, "matcher": {"exact": sni}}
                    ]
                }}
            }
        });
    }
    c
}
