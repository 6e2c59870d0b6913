//! Responses: the one place where a [`Decision`] becomes an HTTP answer: status, RFC 6750
//! challenge, JSON body, reason code and the identity header. Every host (gRPC, HTTP mode,
//! Python) renders an [`Answer`]; none of them maps a decision on its own.

use crate::decision::{Allow, Decision, Denial};
use crate::extract::ExtractError;
use crate::path_policy::PathError;
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
    UnlistedAllowed => "unlisted_allowed",
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
    UnlistedPath => "unlisted_path",
    MissingOriginalUri => "missing_original_uri",
    UnsendableUserId => "unsendable_user_id",
    Internal => "internal",
}

impl Reason {
    /// The HTTP status Envoy answers with for this reason (200 for allows).
    pub fn http_status(self) -> u16 {
        self.deny_kind().map_or(200, DenyKind::http_status)
    }

    /// The kind of deny this reason is answered with (`None` for allows): what a host that
    /// renders answers from reason codes alone (the inline Envoy filter) needs besides
    /// [`Reason::description`].
    pub fn deny_kind(self) -> Option<DenyKind> {
        Some(match self {
            Reason::Public | Reason::Owner | Reason::Authenticated | Reason::UnlistedAllowed => {
                return None;
            }
            Reason::MissingToken => DenyKind::NoCredentials,
            Reason::NotOwner | Reason::UnlistedPath => DenyKind::InsufficientScope,
            Reason::Internal => DenyKind::Internal,
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
            | Reason::MissingUserSegment
            | Reason::MissingOriginalUri => DenyKind::InvalidRequest,
            _ => DenyKind::InvalidToken,
        })
    }
}

impl Decision {
    /// The reason code of this decision.
    pub fn reason(&self) -> Reason {
        match self {
            Decision::Allow(Allow::Public) => Reason::Public,
            Decision::Allow(Allow::Owner { .. }) => Reason::Owner,
            Decision::Allow(Allow::Authenticated { .. }) => Reason::Authenticated,
            Decision::Allow(Allow::Unlisted { .. }) => Reason::UnlistedAllowed,
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
}

impl Denial {
    /// Which kind of deny this is.
    pub fn kind(&self) -> DenyKind {
        match self {
            Denial::Credentials(ExtractError::Missing) => DenyKind::NoCredentials,
            Denial::Credentials(_) | Denial::Token(_) => DenyKind::InvalidToken,
            Denial::Path(_) => DenyKind::InvalidRequest,
            Denial::NotOwner | Denial::Unlisted => DenyKind::InsufficientScope,
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
            Denial::Unlisted => Reason::UnlistedPath,
        }
    }
}

/// The HTTP side of a deny, shared by the gRPC and the plain-HTTP mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyParts {
    /// Which deny this is (its RFC 6750 error code, and for gRPC its status code).
    pub kind: DenyKind,
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
        kind,
        status: kind.http_status(),
        headers: vec![
            ("www-authenticate", www_authenticate(kind, description)),
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ],
        body: serde_json::json!({ "error": error, "error_description": description }).to_string(),
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

/// The description of an allow whose user id cannot travel in a header.
const UNSENDABLE_USER_ID: &str = "token user id cannot be sent in a header";

impl From<Decision> for Answer {
    /// [`Answer::of`], taking the decision by value so an allow's user id moves, not copies.
    fn from(decision: Decision) -> Answer {
        let reason = decision.reason();
        match decision {
            Decision::Allow(Allow::Public) => Answer::Allow {
                reason,
                user_id: None,
            },
            Decision::Allow(
                Allow::Owner { user_id }
                | Allow::Authenticated { user_id }
                | Allow::Unlisted { user_id },
            ) => {
                if is_header_safe(&user_id) {
                    Answer::Allow {
                        reason,
                        user_id: Some(user_id),
                    }
                } else {
                    Answer::Deny {
                        reason: Reason::UnsendableUserId,
                        parts: deny_parts(DenyKind::InvalidToken, UNSENDABLE_USER_ID),
                    }
                }
            }
            Decision::Deny(denial) => Answer::Deny {
                reason,
                parts: deny_parts(denial.kind(), &denial.to_string()),
            },
        }
    }
}

impl crate::decision::Authorizer {
    /// Decides one request and maps it to the answer every host renders: the single entry
    /// point of the gRPC server, the HTTP mode and the Python package. (Here, not in
    /// `decision`, so that the decision does not depend on how it is rendered.)
    pub fn judge(&self, req: &crate::decision::RequestView<'_>, now: u64) -> Answer {
        Answer::from(self.decide(req, now))
    }
}

/// What a host sends back for one decision: the only form in which hosts see decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Let the request through.
    Allow {
        /// `public`, `owner`, `authenticated` or `unlisted_allowed`.
        reason: Reason,
        /// The value for [`USER_ID_HEADER`]; `None` on public paths, where hosts must remove
        /// any client-sent one instead.
        user_id: Option<String>,
    },
    /// Refuse the request with these parts.
    Deny {
        /// Why.
        reason: Reason,
        /// Status, headers and body.
        parts: DenyParts,
    },
}

impl Answer {
    /// Maps a decision to its answer. An allow whose user id cannot be carried faithfully in
    /// a header becomes a deny (`unsendable_user_id`): an allow must never depend on the
    /// verifier's claim rules to keep a client-sent `x-user-id` from reaching the app.
    pub fn of(decision: &Decision) -> Answer {
        Answer::from(decision.clone())
    }

    /// The HTTP status: 200 for an allow.
    pub fn status(&self) -> u16 {
        match self {
            Answer::Allow { .. } => 200,
            Answer::Deny { parts, .. } => parts.status,
        }
    }

    /// The reason code, for logs and counters.
    pub fn reason(&self) -> Reason {
        match self {
            Answer::Allow { reason, .. } | Answer::Deny { reason, .. } => *reason,
        }
    }

    /// Whether the request may pass.
    pub fn is_allow(&self) -> bool {
        matches!(self, Answer::Allow { .. })
    }
}

/// Whether `value` survives as an HTTP field value byte for byte: not empty, no control
/// bytes (RFC 9110 §5.5 allows HTAB, SP, visible ASCII and obs-text), and no leading or
/// trailing whitespace, which proxies trim (so `"alice "` would arrive as `"alice"`).
pub fn is_header_safe(value: &str) -> bool {
    let bytes = value.as_bytes();
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    !bytes.is_empty()
        && !bytes.first().is_some_and(ws)
        && !bytes.last().is_some_and(ws)
        && bytes
            .iter()
            .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The reason whose deny description is `description` (hosts behind a proxy see only the
/// body); `None` for a text uid-gate never sends.
pub fn reason_for_description(description: &str) -> Option<Reason> {
    Reason::ALL
        .iter()
        .copied()
        .find(|r| r.description().as_deref() == Some(description))
}

impl Reason {
    /// The `error_description` a deny with this reason carries; `None` for allows.
    pub fn description(self) -> Option<String> {
        fn msg(e: &dyn std::fmt::Display) -> String {
            e.to_string()
        }
        use crate::extract::ExtractError as E;
        use crate::path_policy::PathError as P;
        use crate::verify::VerifyError as V;
        Some(match self {
            Reason::Public | Reason::Owner | Reason::Authenticated | Reason::UnlistedAllowed => {
                return None;
            }
            Reason::MissingToken => msg(&E::Missing),
            Reason::MultipleCredentials => msg(&E::Multiple),
            Reason::WrongScheme => msg(&E::WrongScheme),
            Reason::EmptyToken => msg(&E::Empty),
            Reason::TokenTooLarge => msg(&E::TooLarge),
            Reason::MalformedToken => msg(&E::Malformed),
            Reason::MalformedHeader => msg(&V::MalformedHeader),
            Reason::UnsupportedAlgorithm => msg(&V::UnsupportedAlgorithm),
            Reason::CriticalHeader => msg(&V::CriticalHeader),
            Reason::ExternalKey => msg(&V::ExternalKey),
            Reason::WrongType => msg(&V::WrongType),
            Reason::BadSignature => msg(&V::BadSignature),
            Reason::UnknownKey => msg(&V::UnknownKey),
            Reason::MalformedClaims => msg(&V::MalformedClaims),
            Reason::DuplicateClaim => msg(&V::DuplicateClaim),
            Reason::BadTimeClaim => msg(&V::BadTimeClaim),
            Reason::MissingExp => msg(&V::MissingExp),
            Reason::Expired => msg(&V::Expired),
            Reason::LifetimeTooLong => msg(&V::LifetimeTooLong),
            Reason::NotYetValid => msg(&V::NotYetValid),
            Reason::IssuedInFuture => msg(&V::IssuedInFuture),
            Reason::IssuerMismatch => msg(&V::IssuerMismatch),
            Reason::AudienceMismatch => msg(&V::AudienceMismatch),
            Reason::MissingUserId => msg(&V::MissingUserId),
            Reason::InvalidUserId => msg(&V::InvalidUserId),
            Reason::NotOriginForm => msg(&P::NotOriginForm),
            Reason::Fragment => msg(&P::Fragment),
            Reason::DotSegment => msg(&P::DotSegment),
            Reason::EmptySegment => msg(&P::EmptySegment),
            Reason::EncodedSeparator => msg(&P::EncodedSeparator),
            Reason::EncodedDot => msg(&P::EncodedDot),
            Reason::Backslash => msg(&P::Backslash),
            Reason::PathParameter => msg(&P::PathParameter),
            Reason::ControlByte => msg(&P::ControlByte),
            Reason::NonAscii => msg(&P::NonAscii),
            Reason::BadPercentEncoding => msg(&P::BadPercentEncoding),
            Reason::MissingUserSegment => msg(&P::MissingUserSegment),
            Reason::NotOwner => Denial::NotOwner.to_string(),
            Reason::UnlistedPath => Denial::Unlisted.to_string(),
            Reason::UnsendableUserId => UNSENDABLE_USER_ID.to_owned(),
            Reason::MissingOriginalUri => MISSING_ORIGINAL_URI.to_owned(),
            Reason::Internal => INTERNAL.to_owned(),
        })
    }
}

/// The description of a request to the HTTP mode without the configured original-URI header.
pub const MISSING_ORIGINAL_URI: &str = "request has no single original-URI header from the proxy";

/// The description of a fault inside a host (a panic caught, a poisoned state).
pub const INTERNAL: &str = "authorization is temporarily unavailable";

#[cfg(test)]
mod tests;
