//! Responses: the one place where a [`Decision`] becomes an HTTP answer: status, RFC 6750
//! challenge, JSON body, reason code and the identity header. Every host (gRPC, HTTP mode,
//! Python) renders an [`Answer`]; none of them maps a decision on its own.

use crate::decision::{Allow, Decision, Denial};
use crate::extract::ExtractError;
use crate::path_policy::PathError;
use crate::verify::VerifyError;

mod client;
pub use client::{Client, deny_parts_for};

/// The header that carries the verified user id to the upstream.
pub const USER_ID_HEADER: &str = "x-user-id";
/// The `realm` in every challenge.
pub const REALM: &str = "uid-gate";

/// Declares every reason once: its code, and for a deny its kind (status, challenge error,
/// gRPC code) and where its description comes from: the [`Denial`] it stands for (whose
/// message is the description), or, for the denies a host makes itself, a fixed text. From
/// this one table come [`Reason`], its codes, kinds and descriptions, and [`Denial::reason`]
/// and [`Denial::kind`]; a `Denial` without a row does not compile.
macro_rules! reasons {
    (
        allow { $($allow:ident => $allow_code:literal),* $(,)? }
        deny { $($deny:ident => $deny_code:literal, $deny_kind:ident, [$($denial:tt)+]),* $(,)? }
        host { $($host:ident => $host_code:literal, $host_kind:ident, $host_text:path),* $(,)? }
    ) => {
        /// Every outcome, as a stable snake_case code for logs and counters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason { $($allow,)* $($deny,)* $($host,)* }

        impl Reason {
            /// All reasons, in declaration order (the order of [`Reason::index`]).
            pub const ALL: &'static [Reason] =
                &[$(Reason::$allow,)* $(Reason::$deny,)* $(Reason::$host,)*];

            /// The stable code.
            pub fn code(self) -> &'static str {
                match self {
                    $(Reason::$allow => $allow_code,)*
                    $(Reason::$deny => $deny_code,)*
                    $(Reason::$host => $host_code,)*
                }
            }

            /// A dense index, for counter arrays.
            pub fn index(self) -> usize {
                self as usize
            }

            /// The kind of deny this reason is answered with (`None` for allows): what a host
            /// that renders answers from reason codes alone (the inline Envoy filter) needs
            /// besides [`Reason::description`].
            pub fn deny_kind(self) -> Option<DenyKind> {
                match self {
                    $(Reason::$allow => None,)*
                    $(Reason::$deny => Some(DenyKind::$deny_kind),)*
                    $(Reason::$host => Some(DenyKind::$host_kind),)*
                }
            }

            /// The decision's deny this reason stands for (`None` for allows and for the
            /// denies hosts make themselves).
            pub fn denial(self) -> Option<Denial> {
                match self {
                    $(Reason::$deny => Some($($denial)+),)*
                    _ => None,
                }
            }

            /// The `error_description` a deny with this reason carries; `None` for allows.
            pub fn description(self) -> Option<String> {
                match self {
                    $(Reason::$allow => None,)*
                    $(Reason::$deny => Some(($($denial)+).to_string()),)*
                    $(Reason::$host => Some($host_text.to_owned()),)*
                }
            }
        }

        impl Denial {
            /// The reason code.
            pub fn reason(&self) -> Reason {
                match self {
                    $($($denial)+ => Reason::$deny,)*
                }
            }

            /// Which kind of deny this is.
            pub fn kind(&self) -> DenyKind {
                match self {
                    $($($denial)+ => DenyKind::$deny_kind,)*
                }
            }
        }
    };
}

reasons! {
    allow {
        Public => "public",
        Owner => "owner",
        Member => "member",
        Admin => "admin",
        Authenticated => "authenticated",
        UnlistedAllowed => "unlisted_allowed",
    }
    deny {
        MissingToken => "missing_token", NoCredentials, [Denial::Credentials(ExtractError::Missing)],
        MultipleCredentials => "multiple_credentials", InvalidToken, [Denial::Credentials(ExtractError::Multiple)],
        WrongScheme => "wrong_scheme", InvalidToken, [Denial::Credentials(ExtractError::WrongScheme)],
        EmptyToken => "empty_token", InvalidToken, [Denial::Credentials(ExtractError::Empty)],
        TokenTooLarge => "token_too_large", InvalidToken, [Denial::Credentials(ExtractError::TooLarge)],
        MalformedToken => "malformed_token", InvalidToken, [Denial::Credentials(ExtractError::Malformed)],
        MalformedHeader => "malformed_header", InvalidToken, [Denial::Token(VerifyError::MalformedHeader)],
        UnsupportedAlgorithm => "unsupported_alg", InvalidToken, [Denial::Token(VerifyError::UnsupportedAlgorithm)],
        CriticalHeader => "crit_header", InvalidToken, [Denial::Token(VerifyError::CriticalHeader)],
        ExternalKey => "external_key", InvalidToken, [Denial::Token(VerifyError::ExternalKey)],
        WrongType => "wrong_typ", InvalidToken, [Denial::Token(VerifyError::WrongType)],
        BadSignature => "bad_signature", InvalidToken, [Denial::Token(VerifyError::BadSignature)],
        UnknownKey => "unknown_kid", InvalidToken, [Denial::Token(VerifyError::UnknownKey)],
        MalformedClaims => "malformed_claims", InvalidToken, [Denial::Token(VerifyError::MalformedClaims)],
        DuplicateClaim => "duplicate_claim", InvalidToken, [Denial::Token(VerifyError::DuplicateClaim)],
        BadTimeClaim => "bad_time_claim", InvalidToken, [Denial::Token(VerifyError::BadTimeClaim)],
        MissingExp => "missing_exp", InvalidToken, [Denial::Token(VerifyError::MissingExp)],
        Expired => "expired", InvalidToken, [Denial::Token(VerifyError::Expired)],
        LifetimeTooLong => "lifetime_too_long", InvalidToken, [Denial::Token(VerifyError::LifetimeTooLong)],
        NotYetValid => "not_yet_valid", InvalidToken, [Denial::Token(VerifyError::NotYetValid)],
        IssuedInFuture => "issued_in_future", InvalidToken, [Denial::Token(VerifyError::IssuedInFuture)],
        IssuerMismatch => "issuer_mismatch", InvalidToken, [Denial::Token(VerifyError::IssuerMismatch)],
        AudienceMismatch => "audience_mismatch", InvalidToken, [Denial::Token(VerifyError::AudienceMismatch)],
        MissingUserId => "missing_user_id", InvalidToken, [Denial::Token(VerifyError::MissingUserId)],
        InvalidUserId => "invalid_user_id", InvalidToken, [Denial::Token(VerifyError::InvalidUserId)],
        NotOriginForm => "not_origin_form", InvalidRequest, [Denial::Path(PathError::NotOriginForm)],
        Fragment => "fragment", InvalidRequest, [Denial::Path(PathError::Fragment)],
        DotSegment => "dot_segment", InvalidRequest, [Denial::Path(PathError::DotSegment)],
        EmptySegment => "empty_segment", InvalidRequest, [Denial::Path(PathError::EmptySegment)],
        EncodedSeparator => "encoded_separator", InvalidRequest, [Denial::Path(PathError::EncodedSeparator)],
        EncodedDot => "encoded_dot", InvalidRequest, [Denial::Path(PathError::EncodedDot)],
        Backslash => "backslash", InvalidRequest, [Denial::Path(PathError::Backslash)],
        PathParameter => "path_parameter", InvalidRequest, [Denial::Path(PathError::PathParameter)],
        ControlByte => "control_byte", InvalidRequest, [Denial::Path(PathError::ControlByte)],
        NonAscii => "non_ascii", InvalidRequest, [Denial::Path(PathError::NonAscii)],
        BadPercentEncoding => "bad_percent_encoding", InvalidRequest, [Denial::Path(PathError::BadPercentEncoding)],
        MissingUserSegment => "missing_user_segment", InvalidRequest, [Denial::Path(PathError::MissingUserSegment)],
        NotOwner => "not_owner", InsufficientScope, [Denial::NotOwner],
        NotMember => "not_member", InsufficientScope, [Denial::NotMember],
        NoScope => "no_scope_claim", InsufficientScope, [Denial::NoScope],
        BadScopeClaim => "invalid_scope_claim", InsufficientScope, [Denial::BadScopeClaim],
        UnlistedPath => "unlisted_path", InsufficientScope, [Denial::Unlisted],
    }
    host {
        MissingOriginalUri => "missing_original_uri", InvalidRequest, MISSING_ORIGINAL_URI,
        UnsendableUserId => "unsendable_user_id", InvalidToken, UNSENDABLE_USER_ID,
        Internal => "internal", Internal, INTERNAL,
    }
}

impl Reason {
    /// The HTTP status Envoy answers with for this reason (200 for allows).
    pub fn http_status(self) -> u16 {
        self.deny_kind().map_or(200, DenyKind::http_status)
    }

    /// Whether a template judged the path (its owner segment is worth logging): an owner's,
    /// a member's or an admin's allow, and the denies that compared a placeholder.
    pub fn judged_by_template(self) -> bool {
        matches!(
            self,
            Reason::Owner
                | Reason::Member
                | Reason::Admin
                | Reason::NotOwner
                | Reason::NotMember
                | Reason::NoScope
                | Reason::BadScopeClaim
                | Reason::MissingUserSegment
        )
    }

    /// Whether a path rule (a prefix, a template, or none) decided: the answers that depend on
    /// which rule covers the path.
    pub fn judged_by_path_rule(self) -> bool {
        self.judged_by_template() && self != Reason::MissingUserSegment
            || matches!(
                self,
                Reason::Public
                    | Reason::Authenticated
                    | Reason::UnlistedAllowed
                    | Reason::UnlistedPath
            )
    }
}

impl Decision {
    /// The reason code of this decision.
    pub fn reason(&self) -> Reason {
        match self {
            Decision::Allow(Allow::Public) => Reason::Public,
            Decision::Allow(Allow::Owner { .. }) => Reason::Owner,
            Decision::Allow(Allow::Member { .. }) => Reason::Member,
            Decision::Allow(Allow::Admin { .. }) => Reason::Admin,
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

    /// The gRPC status code of `CheckResponse.status` (google.rpc.Code; the numbers are
    /// gRPC's, so the core needs no gRPC crate).
    pub fn grpc_code(self) -> i32 {
        match self {
            DenyKind::NoCredentials | DenyKind::InvalidToken => 16, // UNAUTHENTICATED
            DenyKind::InvalidRequest => 3,                          // INVALID_ARGUMENT
            DenyKind::InsufficientScope => 7,                       // PERMISSION_DENIED
            DenyKind::Internal => 14,                               // UNAVAILABLE
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

impl DenyParts {
    /// The value of header `name` (lower case, as declared here), if the deny carries it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
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

/// The parts of a deny a host makes itself, from the reason's declared kind and description
/// (an allow's reason, which no host denies with, answers as a fault: closed).
pub fn host_deny_parts(reason: Reason, client: Client) -> DenyParts {
    let kind = reason.deny_kind().unwrap_or(DenyKind::Internal);
    let description = reason.description().unwrap_or_else(|| INTERNAL.to_owned());
    deny_parts_for(client, kind, &description)
}

/// The description of an allow whose user id cannot travel in a header.
const UNSENDABLE_USER_ID: &str = "token user id cannot be sent in a header";

impl From<Decision> for Answer {
    /// [`Answer::of`], taking the decision by value so an allow's user id moves, not copies.
    fn from(decision: Decision) -> Answer {
        Answer::for_client(decision, Client::Http)
    }
}

impl crate::decision::Authorizer {
    /// Decides one request and maps it to the answer every host renders: the single entry
    /// point of the gRPC server, the HTTP mode and the Python package. (Here, not in
    /// `decision`, so that the decision does not depend on how it is rendered.)
    pub fn judge(&self, req: &crate::decision::RequestView<'_>, now: u64) -> Answer {
        Answer::for_client(self.decide(req, now), Client::of(req.content_type))
    }
}

/// What a host sends back for one decision: the only form in which hosts see decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Let the request through.
    Allow {
        /// `public`, `owner`, `member`, `admin`, `authenticated` or `unlisted_allowed`.
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
    /// The answer to `decision` in the form `client` reads (a deny's gRPC status for a gRPC
    /// client). An allow whose user id cannot travel faithfully in a header becomes a deny
    /// (`unsendable_user_id`), never an allow without the header.
    pub fn for_client(decision: Decision, client: Client) -> Answer {
        Answer::rendered(decision, || client)
    }

    /// [`Answer::for_client`], asking `client` only when a deny is rendered: an allow's form
    /// is the same for every client, so a host on the hot path (the Envoy module) reads the
    /// request's content type only for a deny.
    pub fn rendered(decision: Decision, client: impl FnOnce() -> Client) -> Answer {
        let reason = decision.reason();
        match decision {
            Decision::Allow(Allow::Public) => Answer::Allow {
                reason,
                user_id: None,
            },
            Decision::Allow(
                Allow::Owner { user_id }
                | Allow::Member { user_id }
                | Allow::Admin { user_id }
                | Allow::Authenticated { user_id }
                | Allow::Unlisted { user_id },
            ) => {
                if is_header_safe(&user_id) {
                    Answer::Allow {
                        reason,
                        user_id: Some(user_id),
                    }
                } else {
                    Answer::host_deny(Reason::UnsendableUserId, client())
                }
            }
            Decision::Deny(denial) => Answer::Deny {
                reason,
                parts: deny_parts_for(client(), denial.kind(), &denial.to_string()),
            },
        }
    }

    /// A deny a host makes itself (`missing_original_uri`, `unsendable_user_id`, `internal`),
    /// with its declared kind and description, in the form `client` reads.
    pub fn host_deny(reason: Reason, client: Client) -> Answer {
        Answer::Deny {
            reason,
            parts: host_deny_parts(reason, client),
        }
    }

    /// The answer to a fault inside a host (a caught panic, a poisoned state): 503, closed.
    pub fn internal(client: Client) -> Answer {
        Answer::host_deny(Reason::Internal, client)
    }

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

/// The description of a request to the HTTP mode without the configured original-URI header.
pub const MISSING_ORIGINAL_URI: &str = "request has no single original-URI header from the proxy";

/// The description of a fault inside a host (a panic caught, a poisoned state).
pub const INTERNAL: &str = "authorization is temporarily unavailable";

#[cfg(test)]
mod tests;
