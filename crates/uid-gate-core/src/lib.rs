//! uid-gate's decision, with no I/O and no async runtime: every enforcement point (the gRPC
//! and HTTP servers, the Python package) calls it and renders its [`response::Answer`].
//!
//! # Layout
//! - [`config`]: the decision's settings from (name, value) pairs, validated once.
//! - [`extract`]: exactly one well-formed bearer token among the request's headers.
//! - [`verify`]: signature (HS256 secrets, or a JWKS key by `kid`) and strictly typed claims.
//! - [`jwks`]: a JWKS document as a key set (fetching is the host's job).
//! - [`refresh`]: when a host fetches the JWKS or re-reads the secret file, and what it keeps.
//! - [`path_policy`]: public, user-scoped or authentication-only; safe to judge or not.
//! - [`scope`]: placeholders bound to claims (organizations, teams) and the admin override.
//! - [`decision`]: the order in which the three are combined.
//! - [`response`]: a decision as an HTTP answer: status, challenge, body, reason, identity.
//! - [`host`]: what every host wraps around the decision (self-test, key refreshes), once.
//! - [`mint`]: signing dev and test tokens; never on the request path.

#![forbid(unsafe_code)]

pub mod config;
pub mod decision;
pub mod extract;
pub mod host;
pub mod jwks;
pub mod mint;
pub mod path_policy;
pub mod refresh;
pub mod response;
pub mod scope;
pub mod verify;

pub use config::{ConfigError, Settings};

/// Seconds since the Unix epoch, for the `now` of a decision. A clock before 1970 yields
/// `u64::MAX`, which makes every token expired: a broken clock closes the gate, not opens it.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(u64::MAX, |d| d.as_secs())
}
pub use decision::{Authorizer, Decision, RequestView};
pub use response::{Answer, Reason};
