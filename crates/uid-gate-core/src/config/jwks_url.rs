//! `UIDGATE_JWKS_URL`, parsed once for every host: the core checks it at start-up, and the
//! service's fetcher, the Envoy module's callout and the generated Envoy cluster take its
//! parts from here instead of each splitting the string again. Hand-written rather than a URL
//! library: the accepted form is small (`http(s)://host[:port][/path][?query]`) and stricter
//! than a general URL (no userinfo, no fragment, printable ASCII only).

/// A JWKS URL's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksUrl {
    /// `https`: fetched over TLS, the host checked on the certificate.
    pub tls: bool,
    /// The host: a DNS name or an IP address, IPv6 without its brackets.
    pub host: String,
    /// The port: the URL's, or the scheme's (80, 443).
    pub port: u16,
    /// `host[:port]` as the URL writes it: the request's `Host` / `:authority`.
    pub authority: String,
    /// The path and query the request asks for (`/` when the URL has none).
    pub path: String,
}

impl JwksUrl {
    /// Parses `url`; the error says what is wrong, in words (never more than the URL).
    pub fn parse(url: &str) -> Result<JwksUrl, String> {
        let bad = || format!("expected http(s)://host[:port]/path, got {url:?}");
        if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('#') {
            return Err(bad());
        }
        let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(bad()),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let path = match tail.as_bytes().first() {
            None => "/".to_owned(),
            Some(b'/') => tail.to_owned(),
            Some(_) => format!("/{tail}"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or_else(bad)?),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let name_ok = |h: &str| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        };
        let host_ok = if authority.starts_with('[') {
            host.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            name_ok(host)
        };
        if !host_ok {
            return Err(bad());
        }
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        };
        Ok(JwksUrl {
            tls,
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (bool, String, u16, String, String) {
        let u = JwksUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (u.tls, u.host, u.port, u.authority, u.path)
    }

    #[test]
    fn the_parts_every_host_uses() {
        let p = |tls, host: &str, port, authority: &str, path: &str| {
            (
                tls,
                host.to_owned(),
                port,
                authority.to_owned(),
                path.to_owned(),
            )
        };
        assert_eq!(
            parts("https://auth.example.com/api/auth/jwks"),
            p(
                true,
                "auth.example.com",
                443,
                "auth.example.com",
                "/api/auth/jwks"
            )
        );
        assert_eq!(
            parts("http://127.0.0.1:3000/api/auth/jwks?v=1"),
            p(
                false,
                "127.0.0.1",
                3000,
                "127.0.0.1:3000",
                "/api/auth/jwks?v=1"
            )
        );
        assert_eq!(
            parts("http://issuer"),
            p(false, "issuer", 80, "issuer", "/")
        );
        assert_eq!(
            parts("http://issuer?v=2"),
            p(false, "issuer", 80, "issuer", "/?v=2")
        );
        assert_eq!(
            parts("http://[::1]:8080/jwks"),
            p(false, "::1", 8080, "[::1]:8080", "/jwks")
        );
        assert_eq!(parts("https://[::1]/k"), p(true, "::1", 443, "[::1]", "/k"));
    }

    #[test]
    fn anything_else_is_refused_naming_the_form() {
        for bad in [
            "",
            "auth.example.com/jwks",
            "ftp://auth.example.com/jwks",
            "https://",
            "https:///jwks",
            "https://user:pass@auth.example.com/jwks",
            "https://auth.example.com:https/jwks",
            "https://auth.example.com:0/jwks",
            "https://auth.example.com:65536/jwks",
            "https://auth example.com/jwks",
            "https://auth.example.com/jwks#frag",
            "https://[::1/jwks",
            "https://[::1]x/jwks",
            "https://[not-v6]/jwks",
            "https://bad!host/jwks",
        ] {
            let e = JwksUrl::parse(bad).expect_err(bad);
            assert!(
                e.starts_with("expected http(s)://host[:port]/path"),
                "{bad}: {e}"
            );
        }
    }
}
