//! The ext_authz v3 gRPC transport: a `CheckRequest` becomes a [`RequestView`], the core's
//! [`Answer`] becomes a `CheckResponse`. Nothing here decides.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};
use uid_gate_core::response::{Answer, DenyKind, USER_ID_HEADER};
use uid_gate_core::{Authorizer, RequestView};

use crate::checks;
use crate::metrics::Metrics;
use crate::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction,
};
use crate::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use crate::pb::envoy::service::auth::v3::authorization_server::Authorization;
use crate::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response::HttpResponse,
};
use crate::pb::envoy::r#type::v3::{HttpStatus, StatusCode};
use crate::pb::google::rpc;

/// Full gRPC name of the ext_authz service, as used by health checks.
pub const AUTHZ_SERVICE_NAME: &str = "envoy.service.auth.v3.Authorization";

/// The `envoy.service.auth.v3.Authorization` implementation.
#[derive(Debug, Clone)]
pub struct AuthzService {
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
}

impl AuthzService {
    /// Wraps an authorizer; `metrics` receives one count and one latency per decision.
    pub fn new(authorizer: Arc<Authorizer>, metrics: Arc<Metrics>) -> Self {
        Self {
            authorizer,
            metrics,
        }
    }
}

#[tonic::async_trait]
impl Authorization for AuthzService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let started = Instant::now();
        let check = request.into_inner();
        let http = check
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref());
        let path = http.map_or("", |h| h.path.as_str());
        let authorization = http
            .map(|h| header_values(h, "authorization"))
            .unwrap_or_default();
        let request_id = http
            .and_then(|h| h.headers.get("x-request-id"))
            .map_or("", String::as_str);
        let answer = checks::judge(
            &self.authorizer,
            &self.metrics,
            &RequestView {
                path,
                authorization: &authorization,
                // The first value tells a gRPC client.
                content_type: http.and_then(|h| header_values(h, "content-type").first().copied()),
                method: http.map(|h| h.method.as_str()).filter(|m| !m.is_empty()),
            },
            request_id,
            started,
        );
        Ok(Response::new(check_response(&answer)))
    }
}

/// Every value of header `name` (lower case), from the merged `headers` map and from raw
/// `header_map` entries (Envoy's `encode_raw_headers`), which are not merged.
fn header_values<'a>(http: &'a HttpRequest, name: &str) -> Vec<&'a [u8]> {
    let mut values: Vec<&[u8]> = Vec::with_capacity(1);
    if let Some(v) = http.headers.get(name) {
        values.push(v.as_bytes());
    }
    if let Some(map) = &http.header_map {
        for h in map
            .headers
            .iter()
            .filter(|h| h.key.eq_ignore_ascii_case(name))
        {
            values.push(if h.raw_value.is_empty() {
                h.value.as_bytes()
            } else {
                &h.raw_value
            });
        }
    }
    values
}

/// gRPC status code in `CheckResponse.status` for a kind of deny (declared in the core).
pub fn grpc_code(kind: DenyKind) -> tonic::Code {
    tonic::Code::from_i32(kind.grpc_code())
}

/// Builds the `CheckResponse` Envoy acts on.
pub fn check_response(answer: &Answer) -> CheckResponse {
    match answer {
        Answer::Allow { user_id, reason } => {
            let ok = match user_id {
                // No identity on public paths: drop whatever the client claimed.
                None => OkHttpResponse {
                    headers_to_remove: vec![USER_ID_HEADER.to_owned()],
                    ..Default::default()
                },
                Some(user_id) => OkHttpResponse {
                    headers: vec![header(USER_ID_HEADER, user_id.clone())],
                    ..Default::default()
                },
            };
            CheckResponse {
                // The reason (owner, authenticated, public) for Envoy's logs and for tests.
                status: Some(rpc::Status {
                    code: tonic::Code::Ok as i32,
                    message: reason.code().to_owned(),
                    details: Vec::new(),
                }),
                http_response: Some(HttpResponse::OkResponse(ok)),
                dynamic_metadata: None,
            }
        }
        Answer::Deny { reason, parts } => {
            let status = match parts.status {
                400 => StatusCode::BadRequest,
                401 => StatusCode::Unauthorized,
                403 => StatusCode::Forbidden,
                _ => StatusCode::ServiceUnavailable,
            };
            CheckResponse {
                status: Some(rpc::Status {
                    code: grpc_code(parts.kind) as i32,
                    message: reason.code().to_owned(),
                    details: Vec::new(),
                }),
                http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                    status: Some(HttpStatus {
                        code: status as i32,
                    }),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| header(k, v.clone()))
                        .collect(),
                    body: parts.body.clone(),
                })),
                dynamic_metadata: None,
            }
        }
    }
}

fn header(key: &str, value: String) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value,
            raw_value: Vec::new(),
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uid_gate_core::decision::{Allow, Decision, Denial};
    use uid_gate_core::extract::ExtractError;
    use uid_gate_core::path_policy::PathError;
    use uid_gate_core::verify::VerifyError;

    fn denied(d: Denial) -> (i32, u16, String, String) {
        let r = check_response(&Answer::of(&Decision::Deny(d)));
        let Some(HttpResponse::DeniedResponse(resp)) = r.http_response else {
            panic!("not a deny")
        };
        let www = resp
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .find(|h| h.key == "www-authenticate")
            .map(|h| h.value.clone())
            .unwrap_or_default();
        let code = u16::try_from(resp.status.map(|s| s.code).unwrap_or_default()).unwrap_or(0);
        (r.status.map(|s| s.code).unwrap_or(-1), code, www, resp.body)
    }

    #[test]
    fn denies_carry_status_challenge_and_grpc_code() {
        let (grpc, http, www, body) = denied(Denial::Credentials(ExtractError::Missing));
        assert_eq!((grpc, http), (tonic::Code::Unauthenticated as i32, 401));
        assert_eq!(www, r#"Bearer realm="uid-gate""#);
        assert!(body.contains("no authorization header"));
        let (grpc, http, _, _) = denied(Denial::Token(VerifyError::Expired));
        assert_eq!((grpc, http), (tonic::Code::Unauthenticated as i32, 401));
        let (grpc, http, www, _) = denied(Denial::Path(PathError::DotSegment));
        assert_eq!((grpc, http), (tonic::Code::InvalidArgument as i32, 400));
        assert!(www.contains(r#"error="invalid_request""#));
        let (grpc, http, _, _) = denied(Denial::NotOwner);
        assert_eq!((grpc, http), (tonic::Code::PermissionDenied as i32, 403));
        for (kind, code) in [
            (DenyKind::NoCredentials, tonic::Code::Unauthenticated),
            (DenyKind::InvalidToken, tonic::Code::Unauthenticated),
            (DenyKind::InvalidRequest, tonic::Code::InvalidArgument),
            (DenyKind::InsufficientScope, tonic::Code::PermissionDenied),
            (DenyKind::Internal, tonic::Code::Unavailable),
        ] {
            assert_eq!(grpc_code(kind), code);
        }
    }

    #[test]
    fn allow_sets_or_strips_the_user_header() {
        let r = check_response(&Answer::of(&Decision::Allow(Allow::Owner {
            user_id: "u1".into(),
        })));
        assert_eq!(r.status.as_ref().map(|s| s.code), Some(0));
        let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
            panic!("not ok")
        };
        let h = ok.headers[0].header.as_ref().expect("header");
        assert_eq!((h.key.as_str(), h.value.as_str()), (USER_ID_HEADER, "u1"));
        assert_eq!(
            ok.headers[0].append_action,
            HeaderAppendAction::OverwriteIfExistsOrAdd as i32
        );
        let r = check_response(&Answer::of(&Decision::Allow(Allow::Public)));
        let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
            panic!("not ok")
        };
        assert!(ok.headers.is_empty());
        assert_eq!(ok.headers_to_remove, vec![USER_ID_HEADER.to_owned()]);
    }

    /// Issue #14, defect 3, through gRPC: an unsendable user id never yields an OK response.
    #[test]
    fn an_unsendable_user_id_is_denied_not_allowed_without_a_header() {
        let r = check_response(&Answer::of(&Decision::Allow(Allow::Authenticated {
            user_id: "alice\n".into(),
        })));
        assert_eq!(
            r.status.as_ref().map(|s| s.code),
            Some(tonic::Code::Unauthenticated as i32)
        );
        assert!(matches!(
            r.http_response,
            Some(HttpResponse::DeniedResponse(_))
        ));
    }
}
