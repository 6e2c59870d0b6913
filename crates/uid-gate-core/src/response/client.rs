//! Who reads a deny, and in what form. An HTTP client reads the status, the RFC 6750
//! challenge and the JSON body. A gRPC client reads only `grpc-status` and `grpc-message`:
//! Envoy answers a gRPC request with HTTP 200, so a deny without `grpc-status` (or with 0)
//! reads as a successful call. The client is told by the request's content type, the way
//! Envoy tells it.

use super::{DenyKind, DenyParts, deny_parts};

/// The form of answer a client can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// Status, challenge and JSON body.
    Http,
    /// `grpc-status` and `grpc-message` as well (the challenge stays, as metadata).
    Grpc,
}

impl Client {
    /// The client a request's `content-type` names: `application/grpc`, `application/grpc+…`
    /// or with parameters, and the gRPC-Web types `application/grpc-web…` (a gRPC-Web client
    /// reads `grpc-status` from the headers of a trailers-only answer too); media types
    /// compare in any case. Anything else, or no content type, is HTTP.
    pub fn of(content_type: Option<&[u8]>) -> Client {
        const GRPC: &[u8] = b"application/grpc";
        let Some(ct) = content_type else {
            return Client::Http;
        };
        let Some((head, rest)) = ct.split_at_checked(GRPC.len()) else {
            return Client::Http;
        };
        // `-web` and then `-text` may follow (gRPC-Web), then the end, `+` or `;`.
        let rest = match strip(rest, b"-web") {
            Some(web) => strip(web, b"-text").unwrap_or(web),
            None => rest,
        };
        let follows = matches!(rest.first(), None | Some(b'+' | b';'));
        if head.eq_ignore_ascii_case(GRPC) && follows {
            Client::Grpc
        } else {
            Client::Http
        }
    }
}

/// `rest` after `tag` (compared in any case), if it starts with it.
fn strip<'a>(rest: &'a [u8], tag: &[u8]) -> Option<&'a [u8]> {
    match rest.split_at_checked(tag.len()) {
        Some((t, r)) if t.eq_ignore_ascii_case(tag) => Some(r),
        _ => None,
    }
}

/// Status, headers and body of a deny, in the form `client` reads. For gRPC: the status
/// code of the kind ([`DenyKind::grpc_code`]) in `grpc-status`, the description
/// percent-encoded in `grpc-message`, and the description as the body (Envoy moves a local
/// reply's body into `grpc-message`, so a JSON body would reach the client as its message).
pub fn deny_parts_for(client: Client, kind: DenyKind, description: &str) -> DenyParts {
    let mut parts = deny_parts(kind, description);
    if client == Client::Grpc {
        for (name, value) in &mut parts.headers {
            if *name == "content-type" {
                *value = "application/grpc".to_owned();
            }
        }
        parts
            .headers
            .push(("grpc-status", kind.grpc_code().to_string()));
        parts
            .headers
            .push(("grpc-message", grpc_message(description)));
        parts.body = description.to_owned();
    }
    parts
}

/// The gRPC spec's percent-encoding of a status message: every byte outside printable ASCII,
/// and `%` itself, as `%XX`.
fn grpc_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_clients_are_told_by_their_content_type() {
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "application/GRPC+json",
            "application/grpc; charset=utf-8",
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpc-web-text",
            "Application/Grpc-Web-Text+proto",
        ] {
            assert_eq!(Client::of(Some(grpc.as_bytes())), Client::Grpc, "{grpc}");
        }
        for http in [
            "",
            "application/json",
            "application/grp",
            "application/grpcx",
            "application/grpc-webx",
            "application/grpc-web-textx",
            "application/grpc-text",
            "text/application/grpc",
            " application/grpc",
        ] {
            assert_eq!(Client::of(Some(http.as_bytes())), Client::Http, "{http:?}");
        }
        assert_eq!(Client::of(None), Client::Http);
    }

    #[test]
    fn a_grpc_deny_carries_its_code_and_the_description() {
        let parts = deny_parts_for(Client::Grpc, DenyKind::InvalidRequest, "50% é\n");
        let header = |n: &str| parts.header(n);
        assert_eq!(header("grpc-status"), Some("3"));
        assert_eq!(header("grpc-message"), Some("50%25 %C3%A9%0A"));
        assert_eq!(header("content-type"), Some("application/grpc"));
        assert_eq!(header("cache-control"), Some("no-store"));
        assert_eq!(parts.status, 400);
        assert_eq!(parts.body, "50% é\n");
        // The HTTP form is the plain deny: no gRPC headers, the JSON body.
        let http = deny_parts_for(Client::Http, DenyKind::InvalidRequest, "x");
        assert_eq!(http, deny_parts(DenyKind::InvalidRequest, "x"));
        assert!(http.headers.iter().all(|(k, _)| !k.starts_with("grpc-")));
    }
}
