//! The conformance table through the server's enforcement points; the table itself is
//! `tests/conformance/table.rs`, shared with the core crate's runner.

#[path = "../../conformance/table.rs"]
#[allow(dead_code)]
mod table;

pub mod hosts;
pub mod proxies;

pub use table::*;
