//! The filters that let more kinds of client read uid-gate's answers, placed before the gate:
//! Envoy's CORS filter for a page on another origin (it answers preflights itself and adds
//! `access-control-allow-origin` to every answer, uid-gate's denies included), and Envoy's
//! gRPC-Web filter (a gRPC-Web client's call becomes gRPC before the gate, so the deny it
//! reads carries `grpc-status`). Neither decides anything: the gate still judges every
//! request that is not a preflight from a listed origin.

use serde_json::{Value, json};

use super::EnvoyConfigError;

/// The methods a page may use on the API (preflight answer).
const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
/// The request headers a page may send: the token and a JSON body's type.
const ALLOW_HEADERS: &str = "authorization, content-type";
/// The request headers a gRPC-Web client sends besides.
const GRPC_WEB_HEADERS: &str = "x-grpc-web, x-user-agent, grpc-timeout";
/// The response headers a page may read: the challenge, and a gRPC-Web client's status.
const EXPOSE_HEADERS: &str = "www-authenticate, grpc-status, grpc-message";
/// How long a browser may keep a preflight's answer, in seconds.
const MAX_AGE_SECS: u32 = 600;

/// An origin a page may call the API from: `http` or `https`, a host, an optional port, and
/// nothing else (the form a browser sends in `Origin`). `*` and `null` are refused: the
/// policy names exactly the front ends it trusts.
pub fn parse_origin(value: &str) -> Result<String, EnvoyConfigError> {
    let bad = |why: &'static str| EnvoyConfigError::CorsOrigin {
        value: value.to_owned(),
        why,
    };
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| bad("an origin starts with http:// or https://"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (rest, None),
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if host.is_empty() {
        return Err(bad("an origin names a host"));
    }
    let host_ok = host.bytes().all(|b| {
        b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(b, b'.' | b'-' | b'[' | b']' | b':')
    });
    if !host_ok {
        return Err(bad(
            "an origin is a scheme, a lower-case host and an optional port: no path, query or trailing slash",
        ));
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(bad("the port is a number up to 65535"));
    }
    Ok(value.to_owned())
}

/// The filters that go before the gate, in order: CORS (when origins are listed), then
/// gRPC-Web.
pub fn filters(cors: bool, grpc_web: bool) -> Vec<Value> {
    let mut out = Vec::new();
    if cors {
        out.push(json!({
            "name": "envoy.filters.http.cors",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}
        }));
    }
    if grpc_web {
        out.push(json!({
            "name": "envoy.filters.http.grpc_web",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"}
        }));
    }
    out
}

/// The CORS policy for the virtual host (Envoy's CORS filter reads it there): exactly these
/// origins, no credentials (uid-gate reads no cookie), the API's methods and headers.
pub fn cors_policy(origins: &[String], grpc_web: bool) -> Value {
    let allow_headers = if grpc_web {
        format!("{ALLOW_HEADERS}, {GRPC_WEB_HEADERS}")
    } else {
        ALLOW_HEADERS.to_owned()
    };
    let matchers: Vec<Value> = origins.iter().map(|o| json!({"exact": o})).collect();
    json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": matchers,
        "allow_methods": ALLOW_METHODS,
        "allow_headers": allow_headers,
        "expose_headers": EXPOSE_HEADERS,
        "max_age": MAX_AGE_SECS.to_string(),
        "allow_credentials": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact_serialised_origins() {
        for ok in [
            "http://localhost:3000",
            "https://app.example.com",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
        ] {
            assert_eq!(parse_origin(ok).ok().as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "*",
            "null",
            "localhost:3000",
            "https://",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://App.example.com",
            "https://app.example.com:x",
            "https://app.example.com:70000",
            "https://app.example.com?q",
            "ftp://app.example.com",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
