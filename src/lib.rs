//! uid-gate: an Envoy ext_authz v3 gRPC service that lets a request reach `/api/{user_id}/…`
//! only when its `Authorization: Bearer` JWT (HS256, Better Auth's shared secret) names that user.
//!
//! The decision lives in the `uid-gate-core` crate (re-exported here under the same module
//! names); this crate is the transports around it.
//!
//! # Layout
//! - [`config`]: the server's variables on top of the core's settings.
//! - [`grpc`]: ext_authz v3 (`CheckRequest` in, `CheckResponse` out); [`http_authz`]: the same
//!   answers over plain HTTP; [`checks`]: what both do per check (judge, count, log).
//! - [`server`]: listeners, readiness, shutdown; [`refresh`]: JWKS and secret-file refreshes;
//!   [`jwks_fetch`]: fetching a JWKS URL over http(s).
//! - [`admin`], [`http`]: the metrics/health endpoint and its HTTP loop; [`health`]: a gRPC
//!   health client; [`metrics`], [`telemetry`]: counters and logs; [`cli`]: the command line;
//!   [`envoy_config`]: Envoy configurations generated from the same settings (ext_authz or inline).

#![forbid(unsafe_code)]

pub mod admin;
pub mod check_config;
pub mod checks;
pub mod cli;
pub mod config;
pub mod envoy_config;
pub mod grpc;
pub mod health;
pub mod http;
pub mod http_authz;
pub mod install_module;
pub mod jwks_fetch;
pub mod metrics;
pub mod refresh;
pub mod server;
pub mod telemetry;

pub use uid_gate_core::{decision, extract, jwks, mint, path_policy, response, verify};

/// Generated ext_authz protocol types: prost and tonic's output for the vendored protos in
/// `proto/`, committed so that a build needs no protobuf compiler (tests/it/protos.rs
/// generates them again and compares).
pub mod pb {
    #![allow(clippy::all, missing_docs, rustdoc::all)]
    include!("pb/mod.rs");
}

pub use config::Config;
pub use server::run;

/// Makes any panic end the process at once, before it unwinds: a thread that panicked in the
/// middle of a check must not leave the server running with state it half changed. Envoy then
/// fails closed (503) until the process is back. (The release profile unwinds, for the Envoy
/// module, which catches panics at its hooks; the service does not rely on that.)
pub fn abort_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        std::process::abort();
    }));
}
