//! Responses: the one place where a [`Decision`] becomes an HTTP status, an RFC 6750
//! challenge, a JSON body, a gRPC status code and a reason code for logs and counters.

use crate::decision::{Allow, Decision, Denial};
use crate::extract::ExtractError;
use crate::path_policy::PathError;
use crate::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction,
};
use crate::pb::envoy::service::auth::v3::{
    CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response::HttpResponse,
};
use crate::pb::envoy::r#type::v3::{HttpStatus, StatusCode};
use crate::pb::google::rpc::Status;
use crate::verify::VerifyError;

/// The header that carries the verified user id to the upstream.
pub const USER_ID_HEADER: &str = "x-user-id";
/// The `realm` in every challenge.
pub const REALM: &str = "uid-gate";

macro_rules! reasons {
    ($($variant:ident => $code:literal),* $(,)?) => {
        /// Every outcome, as a stable snake_case code for logs and counters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason { $($variant),* }
        impl Reason {
            /// All reasons, in declaration order (the order of [`Reason::index`]).
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),*];
            /// The stable code.
            pub fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code),* }
            }
            /// A dense index, for counter arrays.
            pub fn index(self) -> usize { self as usize }
        }
    };
}

reasons! {
    Public => "public",
    Owner => "owner",
    Authenticated => "authenticated",
    MissingToken => "missing_token",
    MultipleCredentials => "multiple_credentials",
    WrongScheme => "wrong_scheme",
    EmptyToken => "empty_token",
    TokenTooLarge => "token_too_large",
    MalformedToken => "malformed_token",
    MalformedHeader => "malformed_header",
    UnsupportedAlgorithm => "unsupported_alg",
    CriticalHeader => "crit_header",
    ExternalKey => "external_key",
    WrongType => "wrong_typ",
    BadSignature => "bad_signature",
    UnknownKey => "unknown_kid",
    MalformedClaims => "malformed_claims",
    DuplicateClaim => "duplicate_claim",
    BadTimeClaim => "bad_time_claim",
    MissingExp => "missing_exp",
    Expired => "expired",
    LifetimeTooLong => "lifetime_too_long",
    NotYetValid => "not_yet_valid",
    IssuedInFuture => "issued_in_future",
    IssuerMismatch => "issuer_mismatch",
    AudienceMismatch => "audience_mismatch",
    MissingUserId => "missing_user_id",
    InvalidUserId => "invalid_user_id",
    NotOriginForm => "not_origin_form",
    Fragment => "fragment",
    DotSegment => "dot_segment",
    EmptySegment => "empty_segment",
    EncodedSeparator => "encoded_separator",
    EncodedDot => "encoded_dot",
    Backslash => "backslash",
    PathParameter => "path_parameter",
    ControlByte => "control_byte",
    NonAscii => "non_ascii",
    BadPercentEncoding => "bad_percent_encoding",
    MissingUserSegment => "missing_user_segment",
    NotOwner => "not_owner",
    Internal => "internal",
}

impl Reason {
    /// The HTTP status Envoy answers with for this reason (200 for allows).
    pub fn http_status(self) -> u16 {
        match self {
            Reason::Public | Reason::Owner | Reason::Authenticated => 200,
            Reason::NotOwner => 403,
            Reason::Internal => 503,
            Reason::NotOriginForm
            | Reason::Fragment
            | Reason::DotSegment
            | Reason::EmptySegment
            | Reason::EncodedSeparator
            | Reason::EncodedDot
            | Reason::Backslash
            | Reason::PathParameter
            | Reason::ControlByte
            | Reason::NonAscii
            | Reason::BadPercentEncoding
            | Reason::MissingUserSegment => 400,
            _ => 401,
        }
    }
}

impl Decision {
    /// The reason code of this decision.
    pub fn reason(&self) -> Reason {
        match self {
            Decision::Allow(Allow::Public) => Reason::Public,
            Decision::Allow(Allow::Owner { .. }) => Reason::Owner,
            Decision::Allow(Allow::Authenticated { .. }) => Reason::Authenticated,
            Decision::Deny(d) => d.reason(),
        }
    }

    /// The HTTP status Envoy answers with (200 when allowed).
    pub fn http_status(&self) -> u16 {
        match self {
            Decision::Allow(_) => 200,
            Decision::Deny(d) => d.kind().http_status(),
        }
    }
}

/// The four kinds of deny, with their HTTP, RFC 6750 and gRPC codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyKind {
    /// 401 with a bare challenge: no credentials were offered (RFC 6750 §3.1).
    NoCredentials,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 400 `invalid_request`.
    InvalidRequest,
    /// 403 `insufficient_scope`.
    InsufficientScope,
    /// 500-class fault inside uid-gate (never produced by the decision itself).
    Internal,
}

impl DenyKind {
    /// HTTP status code.
    pub fn http_status(self) -> u16 {
        match self {
            DenyKind::NoCredentials | DenyKind::InvalidToken => 401,
            DenyKind::InvalidRequest => 400,
            DenyKind::InsufficientScope => 403,
            DenyKind::Internal => 503,
        }
    }

    /// RFC 6750 `error` code, if the challenge carries one.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            DenyKind::NoCredentials => None,
            DenyKind::InvalidToken => Some("invalid_token"),
            DenyKind::InvalidRequest => Some("invalid_request"),
            DenyKind::InsufficientScope => Some("insufficient_scope"),
            DenyKind::Internal => Some("temporarily_unavailable"),
        }
    }

    /// gRPC status code in `CheckResponse.status`.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            DenyKind::NoCredentials | DenyKind::InvalidToken => tonic::Code::Unauthenticated,
            DenyKind::InvalidRequest => tonic::Code::InvalidArgument,
            DenyKind::InsufficientScope => tonic::Code::PermissionDenied,
            DenyKind::Internal => tonic::Code::Unavailable,
        }
    }
}

impl Denial {
    /// Which kind of deny this is.
    pub fn kind(&self) -> DenyKind {
        match self {
            Denial::Credentials(ExtractError::Missing) => DenyKind::NoCredentials,
            Denial::Credentials(_) | Denial::Token(_) => DenyKind::InvalidToken,
            Denial::Path(_) => DenyKind::InvalidRequest,
            Denial::NotOwner => DenyKind::InsufficientScope,
        }
    }

    /// The reason code.
    pub fn reason(&self) -> Reason {
        match self {
            Denial::Credentials(e) => match e {
                ExtractError::Missing => Reason::MissingToken,
                ExtractError::Multiple => Reason::MultipleCredentials,
                ExtractError::WrongScheme => Reason::WrongScheme,
                ExtractError::Empty => Reason::EmptyToken,
                ExtractError::TooLarge => Reason::TokenTooLarge,
                ExtractError::Malformed => Reason::MalformedToken,
            },
            Denial::Token(e) => match e {
                VerifyError::MalformedHeader => Reason::MalformedHeader,
                VerifyError::UnsupportedAlgorithm => Reason::UnsupportedAlgorithm,
                VerifyError::CriticalHeader => Reason::CriticalHeader,
                VerifyError::ExternalKey => Reason::ExternalKey,
                VerifyError::WrongType => Reason::WrongType,
                VerifyError::BadSignature => Reason::BadSignature,
                VerifyError::UnknownKey => Reason::UnknownKey,
                VerifyError::MalformedClaims => Reason::MalformedClaims,
                VerifyError::DuplicateClaim => Reason::DuplicateClaim,
                VerifyError::BadTimeClaim => Reason::BadTimeClaim,
                VerifyError::MissingExp => Reason::MissingExp,
                VerifyError::Expired => Reason::Expired,
                VerifyError::LifetimeTooLong => Reason::LifetimeTooLong,
                VerifyError::NotYetValid => Reason::NotYetValid,
                VerifyError::IssuedInFuture => Reason::IssuedInFuture,
                VerifyError::IssuerMismatch => Reason::IssuerMismatch,
                VerifyError::AudienceMismatch => Reason::AudienceMismatch,
                VerifyError::MissingUserId => Reason::MissingUserId,
                VerifyError::InvalidUserId => Reason::InvalidUserId,
            },
            Denial::Path(e) => match e {
                PathError::NotOriginForm => Reason::NotOriginForm,
                PathError::Fragment => Reason::Fragment,
                PathError::DotSegment => Reason::DotSegment,
                PathError::EmptySegment => Reason::EmptySegment,
                PathError::EncodedSeparator => Reason::EncodedSeparator,
                PathError::EncodedDot => Reason::EncodedDot,
                PathError::Backslash => Reason::Backslash,
                PathError::PathParameter => Reason::PathParameter,
                PathError::ControlByte => Reason::ControlByte,
                PathError::NonAscii => Reason::NonAscii,
                PathError::BadPercentEncoding => Reason::BadPercentEncoding,
                PathError::MissingUserSegment => Reason::MissingUserSegment,
            },
            Denial::NotOwner => Reason::NotOwner,
        }
    }
}

/// Builds the `CheckResponse` Envoy acts on.
pub fn check_response(decision: &Decision) -> CheckResponse {
    match decision {
        Decision::Allow(allow) => allowed(allow),
        Decision::Deny(denial) => denied(denial.kind(), &denial.to_string(), denial.reason()),
    }
}

fn allowed(allow: &Allow) -> CheckResponse {
    let ok = match allow {
        // No identity on public paths: drop whatever the client claimed.
        Allow::Public => OkHttpResponse {
            headers_to_remove: vec![USER_ID_HEADER.to_owned()],
            ..Default::default()
        },
        Allow::Owner { user_id } | Allow::Authenticated { user_id } => OkHttpResponse {
            headers: vec![HeaderValueOption {
                header: Some(HeaderValue {
                    key: USER_ID_HEADER.to_owned(),
                    value: user_id.clone(),
                    raw_value: Vec::new(),
                }),
                append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
                ..Default::default()
            }],
            ..Default::default()
        },
    };
    CheckResponse {
        status: Some(Status {
            code: tonic::Code::Ok as i32,
            message: String::new(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::OkResponse(ok)),
        dynamic_metadata: None,
    }
}

/// The HTTP side of a deny, shared by the gRPC and the plain-HTTP mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyParts {
    /// 400, 401, 403 (or 503).
    pub status: u16,
    /// `www-authenticate`, `content-type`, `cache-control`.
    pub headers: Vec<(&'static str, String)>,
    /// `{"error":"…","error_description":"…"}`.
    pub body: String,
}

/// Status, headers and body of a deny. `description` must be one of uid-gate's fixed
/// messages: it is quoted into a header.
pub fn deny_parts(kind: DenyKind, description: &str) -> DenyParts {
    let error = kind.error_code().unwrap_or("unauthorized");
    DenyParts {
        status: kind.http_status(),
        headers: vec![
            ("www-authenticate", www_authenticate(kind, description)),
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ],
        body: serde_json::json!({ "error": error, "error_description": description }).to_string(),
    }
}

/// A deny response for Envoy.
pub fn denied(kind: DenyKind, description: &str, reason: Reason) -> CheckResponse {
    let parts = deny_parts(kind, description);
    let status = match parts.status {
        400 => StatusCode::BadRequest,
        401 => StatusCode::Unauthorized,
        403 => StatusCode::Forbidden,
        _ => StatusCode::ServiceUnavailable,
    };
    CheckResponse {
        status: Some(Status {
            code: kind.grpc_code() as i32,
            message: reason.code().to_owned(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: status as i32,
            }),
            headers: parts
                .headers
                .into_iter()
                .map(|(k, v)| header(k, v))
                .collect(),
            body: parts.body,
        })),
        dynamic_metadata: None,
    }
}

/// RFC 6750 §3 challenge. Descriptions are our own constants, so quoting needs no escaping;
/// `debug_assert` guards that promise.
pub fn www_authenticate(kind: DenyKind, description: &str) -> String {
    debug_assert!(
        !description.contains(['"', '\\']),
        "description must not need escaping"
    );
    match kind.error_code() {
        None => format!("Bearer realm=\"{REALM}\""),
        Some(code) => format!(
            "Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{description}\""
        ),
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

    fn denied_parts(d: Denial) -> (i32, u16, String, String) {
        let r = check_response(&Decision::Deny(d));
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
    fn missing_token_gets_a_bare_challenge() {
        let (grpc, http, www, body) = denied_parts(Denial::Credentials(ExtractError::Missing));
        assert_eq!(grpc, tonic::Code::Unauthenticated as i32);
        assert_eq!(http, 401);
        assert_eq!(www, r#"Bearer realm="uid-gate""#);
        assert_eq!(
            body,
            r#"{"error":"unauthorized","error_description":"no authorization header"}"#
        );
    }

    #[test]
    fn each_kind_has_its_status_and_error_code() {
        let (grpc, http, www, body) = denied_parts(Denial::Token(VerifyError::Expired));
        assert_eq!((grpc, http), (tonic::Code::Unauthenticated as i32, 401));
        assert_eq!(
            www,
            r#"Bearer realm="uid-gate", error="invalid_token", error_description="token has expired""#
        );
        assert_eq!(
            body,
            r#"{"error":"invalid_token","error_description":"token has expired"}"#
        );

        let (grpc, http, www, _) = denied_parts(Denial::Path(PathError::DotSegment));
        assert_eq!((grpc, http), (tonic::Code::InvalidArgument as i32, 400));
        assert!(www.contains(r#"error="invalid_request""#));

        let (grpc, http, www, _) = denied_parts(Denial::NotOwner);
        assert_eq!((grpc, http), (tonic::Code::PermissionDenied as i32, 403));
        assert!(www.contains(r#"error="insufficient_scope""#));
    }

    #[test]
    fn allow_sets_or_strips_the_user_header() {
        let r = check_response(&Decision::Allow(Allow::Owner {
            user_id: "u1".into(),
        }));
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

        let r = check_response(&Decision::Allow(Allow::Public));
        let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
            panic!("not ok")
        };
        assert!(ok.headers.is_empty());
        assert_eq!(ok.headers_to_remove, vec![USER_ID_HEADER.to_owned()]);
    }

    #[test]
    fn reason_codes_are_unique_and_descriptions_quotable() {
        let mut codes: Vec<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        // Every denial's description must be safe inside a quoted-string.
        let all: Vec<Denial> = [
            ExtractError::Missing,
            ExtractError::Multiple,
            ExtractError::WrongScheme,
            ExtractError::Empty,
            ExtractError::TooLarge,
            ExtractError::Malformed,
        ]
        .into_iter()
        .map(Denial::from)
        .chain([
            Denial::NotOwner,
            Denial::Path(PathError::MissingUserSegment),
            Denial::Token(VerifyError::InvalidUserId),
        ])
        .collect();
        for d in all {
            assert!(!d.to_string().contains(['"', '\\']), "{d}");
        }
    }
}
