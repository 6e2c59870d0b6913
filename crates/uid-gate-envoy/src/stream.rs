//! What the filter asks of the stream it runs on: Envoy's, through [`crate::ffi`], or a
//! test's.

use uid_gate_core::Reason;

/// What the filter asks of the stream it runs on; [`crate::ffi`] implements it over Envoy.
pub trait Stream {
    /// The `index`-th value of request header `name` and how many values it has.
    fn header(&self, name: &str, index: usize) -> (Option<&[u8]>, usize);
    /// Calls `visit` with every request header (name, value), in order, and returns `true`;
    /// or returns `false` having visited none, when the headers cannot be listed (too many).
    fn headers<'s>(&'s self, visit: &mut dyn FnMut(&'s [u8], &'s [u8])) -> bool;
    /// Replaces every value of request header `name` with `value`, or removes it (`None`).
    fn set_header(&mut self, name: &str, value: Option<&str>);
    /// Adds a value to request header `name`, keeping any it had.
    fn add_header(&mut self, name: &str, value: &str);
    /// Answers the request locally: Envoy sends this response and stops the request.
    fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8], details: &str);
    /// Counts the reason, and for a deny records it for access logs
    /// (`%DYNAMIC_METADATA(uid_gate:reason)%`).
    fn record(&mut self, reason: Reason);
    /// Writes a line to Envoy's log (`warning`: at warn level, else info). Never a secret.
    fn log(&mut self, warning: bool, message: &str);
}
