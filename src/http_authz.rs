//! HTTP authorization mode: the same decisions over plain HTTP, for Envoy's HTTP ext_authz
//! service, nginx `auth_request`, Caddy `forward_auth` and Traefik `forwardAuth`.
//!
//! The path judged is the request's own path (Envoy forwards the original path), or, when
//! `UIDGATE_HTTP_URI_HEADER` names one, that header (`x-original-uri` for nginx,
//! `x-forwarded-uri` for Caddy and Traefik). The header is trusted only when configured:
//! a header the proxy does not overwrite is one the client chose.
//!
//! Allow: 200 with `x-user-id` (absent on public paths). Deny: 400/401/403 with the same
//! challenge and JSON body as the gRPC mode.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::decision::{Allow, Authorizer, Decision};
use crate::metrics::Metrics;
use crate::response::{USER_ID_HEADER, deny_parts};

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
    let path = match uri_header {
        None => req.uri().path_and_query().map_or("", |p| p.as_str()),
        Some(name) => {
            let mut values = req.headers().get_all(name).iter();
            match (values.next().map(|v| v.to_str()), values.next()) {
                (Some(Ok(v)), None) => v,
                // Missing, repeated or not text: nothing safe to judge (the empty path is a 400).
                _ => "",
            }
        }
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
    let decision = crate::server::judge(authorizer, metrics, path, &authorization, request_id);
    match &decision {
        Decision::Allow(allow) => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            match allow {
                Allow::Owner { user_id } | Allow::Authenticated { user_id } => {
                    if let Ok(v) = hyper::header::HeaderValue::from_str(user_id) {
                        resp.headers_mut().insert(USER_ID_HEADER, v);
                    }
                }
                // No identity on public paths: Envoy's HTTP ext_authz removes the listed headers
                // from the request (nginx and the others drop an x-user-id uid-gate did not send).
                Allow::Public => {
                    resp.headers_mut().insert(
                        "x-envoy-auth-headers-to-remove",
                        hyper::header::HeaderValue::from_static(USER_ID_HEADER),
                    );
                }
            }
            resp
        }
        Decision::Deny(denial) => {
            let parts = deny_parts(denial.kind(), &denial.to_string());
            let mut resp = Response::new(Full::new(Bytes::from(parts.body)));
            *resp.status_mut() =
                StatusCode::from_u16(parts.status).unwrap_or(StatusCode::FORBIDDEN);
            for (k, v) in parts.headers {
                if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
                    resp.headers_mut().insert(k, v);
                }
            }
            resp
        }
    }
}
