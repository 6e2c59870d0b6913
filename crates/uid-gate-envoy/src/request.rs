//! What the filter reads of a request: `:path`, every `authorization` value, `:method`, the
//! content type, and whether the client sent an identity header of its own. One listing of
//! the request's headers gives all of them in one call into Envoy (a lookup by name costs
//! Envoy a key copy and a search each); a request with more headers than a listing holds is
//! read header by header instead.

use uid_gate_core::response::USER_ID_HEADER;

use crate::stream::Stream;

/// The headers a client may use to claim an identity: the real one, and the underscore
/// spelling CGI/WSGI servers read as the same variable.
pub const IDENTITY_HEADERS: [&str; 2] = [USER_ID_HEADER, "x_user_id"];

/// The request header that tells a gRPC client.
pub const CONTENT_TYPE: &str = "content-type";

/// The parts of one request the decision and its answer need, borrowed from Envoy's header
/// map for the running hook.
#[derive(Debug, Default)]
pub struct Request<'s> {
    /// The first `:path` value.
    pub path: Option<&'s [u8]>,
    first_authorization: Option<&'s [u8]>,
    /// Every `authorization` value once there are two or more.
    all_authorization: Vec<&'s [u8]>,
    /// `:method`, only when `want_method` asked for it (else the decision has no use for it).
    pub method: Option<&'s [u8]>,
    /// `content-type`; `None` when absent, or not read yet (by name, it is read for a deny only).
    content_type: Option<&'s [u8]>,
    /// Whether the headers were listed (so an absent header is known absent).
    listed: bool,
    /// Whether the client sent one of [`IDENTITY_HEADERS`]; `true` when not known.
    pub identity_present: bool,
}

impl<'s> Request<'s> {
    /// Reads the request from `stream`: listed when it can be, else by name (`:method` only
    /// when `want_method`).
    pub fn read(stream: &'s impl Stream, want_method: bool) -> Self {
        let mut request = Request {
            listed: true,
            ..Request::default()
        };
        if stream.headers(&mut |name, value| request.see(name, value)) {
            request.method = request.method.filter(|_| want_method);
            return request;
        }
        Self::by_name(stream, want_method)
    }

    fn see(&mut self, name: &'s [u8], value: &'s [u8]) {
        // Envoy's header names are lower case (its codecs make them so): compared as they are
        // first (a few instructions), then without case all the same, so that a spelling
        // never hides a header.
        let is = |wanted: &str| {
            name == wanted.as_bytes() || name.eq_ignore_ascii_case(wanted.as_bytes())
        };
        if is(":path") {
            self.path.get_or_insert(value);
        } else if is("authorization") {
            match self.first_authorization {
                None => self.first_authorization = Some(value),
                Some(first) => {
                    if self.all_authorization.is_empty() {
                        self.all_authorization.push(first);
                    }
                    self.all_authorization.push(value);
                }
            }
        } else if is(":method") {
            self.method.get_or_insert(value);
        } else if is(CONTENT_TYPE) {
            self.content_type.get_or_insert(value);
        } else if IDENTITY_HEADERS.iter().any(|h| is(h)) {
            self.identity_present = true;
        }
    }

    fn by_name(stream: &'s impl Stream, want_method: bool) -> Self {
        let (first, count) = stream.header("authorization", 0);
        let mut all = Vec::new();
        if count > 1 {
            all.extend(first);
            for i in 1..count {
                all.extend(stream.header("authorization", i).0);
            }
        }
        Request {
            path: stream.header(":path", 0).0,
            first_authorization: first,
            all_authorization: all,
            method: want_method.then(|| stream.header(":method", 0).0).flatten(),
            content_type: None,
            listed: false,
            // Not looked for: the answer removes any client copy.
            identity_present: true,
        }
    }

    /// Every `authorization` value, in order.
    pub fn authorization(&self) -> &[&'s [u8]] {
        if self.all_authorization.is_empty() {
            self.first_authorization.as_slice()
        } else {
            &self.all_authorization
        }
    }

    /// The content type, from the listing or, when the request was read by name, looked up now.
    pub fn content_type(&self, stream: &'s impl Stream) -> Option<&'s [u8]> {
        if self.listed {
            self.content_type
        } else {
            stream.header(CONTENT_TYPE, 0).0
        }
    }
}
