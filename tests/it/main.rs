//! Integration tests: one test binary (one link step) with a shared `helpers` module.

mod bench_smoke;
mod binary;
mod browser;
mod conformance;
mod demo;
mod deploy;
mod envoy;
mod envoy_config;
mod envoy_module;
mod faults;
mod forward_auth;
mod grpc;
mod helpers;
mod http_mode;
mod interop;
mod layout;
mod properties;
mod python;
mod release;
mod reliability;
mod rewrites;
mod scale_out;
mod vectors;
