//! uid-gate: an Envoy ext_authz v3 gRPC service that lets a request reach `/api/{user_id}/…`
//! only when its `Authorization: Bearer` JWT (HS256, Better Auth's shared secret) names that user.
//!
//! # Layout
//! - [`config`]: environment variables, validated at start-up.
//! - [`extract`]: finding exactly one bearer token in the request headers.
//! - [`verify`]: signature and claims; [`jwks`]: public keys for EdDSA/ES256/RS256 tokens.
//! - [`path_policy`]: public, user-scoped or authentication-only; safe to judge or not.
//! - [`decision`]: the pure decision combining the three.
//! - [`response`]: decision to HTTP status, challenge, body and gRPC code, in one place.
//! - [`server`]: the tonic service, health and shutdown.
//! - [`http_authz`]: the same decisions over plain HTTP; [`http`], [`admin`]: HTTP plumbing and
//!   the metrics endpoint.
//! - [`metrics`], [`telemetry`]: counters and logs.
//! - [`mint`]: dev tokens for the demo and tests.

pub mod admin;
pub mod config;
pub mod decision;
pub mod extract;
pub mod http;
pub mod http_authz;
pub mod jwks;
pub mod metrics;
pub mod mint;
pub mod path_policy;
pub mod response;
pub mod server;
pub mod telemetry;
pub mod verify;

/// Generated ext_authz and health protocol types.
pub mod pb {
    #![allow(clippy::all, missing_docs, rustdoc::all)]
    tonic::include_proto!("mod");
}

pub use config::Config;
pub use server::run;
