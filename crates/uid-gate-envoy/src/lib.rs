//! uid-gate inside Envoy, as a native dynamic module (`envoy.filters.http.dynamic_modules`).
//!
//! The decision is the core's (`uid-gate-core`): this crate only reads the request's `:path`
//! and `authorization` from Envoy ([`request`]), asks the core's
//! [`Authorizer`](uid_gate_core::Authorizer), and
//! renders the [`Answer`](uid_gate_core::Answer): on allow the verified `x-user-id` replaces
//! any client copy, on deny Envoy sends the core's status, challenge and JSON body. All
//! `unsafe` is in [`ffi`]; [`filter`], [`request`], [`settings`] and [`stream`] are safe code.
//!
//! Built for the dynamic-module ABI of Envoy 1.40 ([`ffi::ABI_VERSION`]).

// `unsafe` is denied everywhere but `ffi`, which allows it with every block documented.
#![deny(unsafe_code)]

pub mod ffi;
pub mod filter;
pub mod request;
pub mod settings;
pub mod stream;
