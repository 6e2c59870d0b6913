//! HTTP authorization mode: the same answers over plain HTTP, for Envoy's HTTP ext_authz
//! service, nginx `auth_request`, Caddy `forward_auth` and Traefik `forwardAuth`.
//!
//! The path judged is the request's own path (Envoy forwards the original path), or, when
//! `UIDGATE_HTTP_URI_HEADER` names one, that header (`x-original-uri` for nginx,
//! `x-forwarded-uri` for Caddy and Traefik). The header is trusted only when configured:
//! a header the proxy does not overwrite is one the client chose.
//!
//! The method follows the path: the request's own (Envoy forwards the original method), or,
//! with a URI header configured, exactly one `X-Forwarded-Method` (nginx's subrequest is always
//! a GET; Caddy and Traefik send the header; the nginx example sets it). Missing or repeated,
//! the decision gets no method, and the admin override never applies.
//!
//! Allow: 200 with `x-user-id` (absent on public paths). Deny: 400/401/403 with the same
//! challenge and JSON body as the gRPC mode.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tracing::{error, info};
use uid_gate_core::response::{
    Answer, Client, DenyKind, DenyParts, MISSING_ORIGINAL_URI, Reason, USER_ID_HEADER,
    deny_parts_for, host_deny_parts,
};
use uid_gate_core::{Authorizer, RequestView};

use crate::checks;
use crate::metrics::Metrics;

/// Serves HTTP authorization on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
    uri_header: Option<String>,
    shutdown: impl Future<Output = ()>,
) {
    let handler: crate::http::Handler =
        Arc::new(move |req| respond(req, &authorizer, &metrics, uri_header.as_deref()));
    crate::http::serve(listener, handler, true, shutdown).await;
}

fn respond(
    req: &Request<Incoming>,
    authorizer: &Authorizer,
    metrics: &Metrics,
    uri_header: Option<&str>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let path = match uri_header {
        None => req.uri().path_and_query().map_or("", |p| p.as_str()),
        // Missing, repeated or not text: nothing safe to judge, and a misconfigured proxy is
        // the usual cause, so say which header and who sets it.
        Some(name) => match single_value(req, name) {
            Some(v) => v,
            None => return missing_uri_header(req, name, metrics),
        },
    };
    let authorization: Vec<&[u8]> = req
        .headers()
        .get_all(hyper::header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let view = RequestView {
        path,
        authorization: &authorization,
        content_type: content_type(req),
        method: method(req, uri_header.is_some()),
    };
    let answer = checks::judge(authorizer, metrics, &view, request_id, started);
    render(&answer).unwrap_or_else(|| {
        // The core only allows header-safe user ids; if that promise ever broke, an allow
        // without x-user-id would let a client-sent one through: deny instead.
        metrics.record(Reason::Internal);
        error!(
            reason = Reason::Internal.code(),
            "user id not encodable as a header; denied"
        );
        deny(&host_deny_parts(
            Reason::Internal,
            Client::of(content_type(req)),
        ))
    })
}

/// The request's content type, which tells a gRPC client (Envoy's HTTP ext_authz forwards
/// it when `allowed_headers` lists it).
/// The client's method: the request's own, or behind a proxy that describes the request in
/// headers, its one `X-Forwarded-Method`.
fn method(req: &Request<Incoming>, described: bool) -> Option<&str> {
    if !described {
        return Some(req.method().as_str());
    }
    single_value(req, FORWARDED_METHOD)
}

/// The value of header `name` when the request carries it exactly once, as text: what a proxy
/// that describes the request in headers must have set (a second value is a client's).
fn single_value<'r>(req: &'r Request<Incoming>, name: &str) -> Option<&'r str> {
    let mut values = req.headers().get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok(),
        _ => None,
    }
}

/// The header a proxy that asks with a subrequest names the client's method in.
const FORWARDED_METHOD: &str = "x-forwarded-method";

fn content_type(req: &Request<Incoming>) -> Option<&[u8]> {
    req.headers()
        .get(hyper::header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
}

/// The HTTP response for an answer; `None` when an allow's user id cannot be a header value.
pub fn render(answer: &Answer) -> Option<Response<Full<Bytes>>> {
    match answer {
        Answer::Allow { user_id, .. } => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            match user_id {
                Some(user_id) => {
                    let v = HeaderValue::from_bytes(user_id.as_bytes()).ok()?;
                    resp.headers_mut().insert(USER_ID_HEADER, v);
                }
                // No identity on public paths: Envoy's HTTP ext_authz removes the listed headers
                // from the request (nginx and the others drop an x-user-id uid-gate did not send).
                None => {
                    resp.headers_mut().insert(
                        "x-envoy-auth-headers-to-remove",
                        HeaderValue::from_static(USER_ID_HEADER),
                    );
                }
            }
            Some(resp)
        }
        Answer::Deny { parts, .. } => Some(deny(parts)),
    }
}

fn deny(parts: &DenyParts) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(parts.body.clone())));
    *resp.status_mut() = StatusCode::from_u16(parts.status).unwrap_or(StatusCode::FORBIDDEN);
    for (k, v) in &parts.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().insert(*k, v);
        }
    }
    resp
}

fn missing_uri_header(
    req: &Request<Incoming>,
    name: &str,
    metrics: &Metrics,
) -> Response<Full<Bytes>> {
    metrics.record(Reason::MissingOriginalUri);
    info!(target: "uid_gate::deny", decision = "deny", status = 400, reason = Reason::MissingOriginalUri.code(), header = name, "check");
    // `name` passed config validation (letters, digits, '-', '_'), so it is safe in a header.
    let description = format!(
        "{MISSING_ORIGINAL_URI}: expected exactly one {name} header (nginx: proxy_set_header X-Original-URI $request_uri; Caddy and Traefik send X-Forwarded-Uri)"
    );
    deny(&deny_parts_for(
        Client::of(content_type(req)),
        DenyKind::InvalidRequest,
        &description,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uid_gate_core::decision::{Allow, Decision};

    /// Issue #14, defect 3, in HTTP mode: the renderer refuses rather than dropping the header.
    #[test]
    fn an_allow_is_never_rendered_without_its_user_header() {
        let forged = Answer::Allow {
            reason: Reason::Owner,
            user_id: Some("alice\nx-user-id: bob".into()),
        };
        assert!(render(&forged).is_none());
        let ok = render(&Answer::of(&Decision::Allow(Allow::Owner {
            user_id: "josé".into(),
        })))
        .expect("renders");
        assert_eq!(
            ok.headers().get(USER_ID_HEADER).map(|v| v.as_bytes()),
            Some("josé".as_bytes())
        );
        let public = render(&Answer::of(&Decision::Allow(Allow::Public))).expect("renders");
        assert!(public.headers().get(USER_ID_HEADER).is_none());
    }
}
