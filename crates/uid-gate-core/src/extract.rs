//! Token extraction: find exactly one `Authorization: Bearer <jwt>` and check its shape.
//!
//! Envoy comma-joins repeated headers in `headers` and keeps them apart in `header_map`
//! (raw mode); both reach this module as a list of values, and anything but exactly one
//! well-formed value is refused before any decoding happens.

/// Why no usable bearer token was found (all answered with 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// No `authorization` header at all.
    #[error("no authorization header")]
    Missing,
    /// More than one value: repeated headers, or a comma-joined list.
    #[error("more than one authorization value")]
    Multiple,
    /// A scheme other than `Bearer`.
    #[error("authorization scheme is not Bearer")]
    WrongScheme,
    /// `Bearer` with nothing after it.
    #[error("bearer token is empty")]
    Empty,
    /// Larger than the configured limit.
    #[error("bearer token is too large")]
    TooLarge,
    /// Not three base64url parts joined by dots, or not exactly one space after the scheme.
    #[error("bearer token is malformed")]
    Malformed,
}

const SCHEME: &str = "bearer";

/// Returns the single bearer token among `values` (every `authorization` value the request had).
///
/// The scheme is matched case-insensitively (RFC 9110 §11.1); exactly one space must follow it,
/// and the token must be `base64url.base64url.base64url` with no padding, at most `max_token_bytes`.
pub fn bearer_token<'a>(
    values: &[&'a [u8]],
    max_token_bytes: usize,
) -> Result<&'a str, ExtractError> {
    let value = match values {
        [] => return Err(ExtractError::Missing),
        [one] => *one,
        [first, rest @ ..] => {
            // Envoy may hand the same header in both of its encodings; only distinct values count.
            if rest.iter().all(|v| v == first) {
                *first
            } else {
                return Err(ExtractError::Multiple);
            }
        }
    };
    // Check size on raw bytes first so a huge value costs nothing more to refuse.
    if value.len() > max_token_bytes.saturating_add(SCHEME.len() + 1) {
        return Err(ExtractError::TooLarge);
    }
    if value.contains(&b',') {
        return Err(ExtractError::Multiple);
    }
    let value = std::str::from_utf8(value).map_err(|_| ExtractError::Malformed)?;
    let (scheme, token) = match value.split_once(' ') {
        Some(parts) => parts,
        None if value.eq_ignore_ascii_case(SCHEME) => return Err(ExtractError::Empty),
        // `Bearer<TAB>token` and the like: the right scheme, the wrong separator.
        None if value
            .get(..SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME)) =>
        {
            return Err(ExtractError::Malformed);
        }
        None => return Err(ExtractError::WrongScheme),
    };
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(ExtractError::WrongScheme);
    }
    if token.is_empty() {
        return Err(ExtractError::Empty);
    }
    if token.len() > max_token_bytes {
        return Err(ExtractError::TooLarge);
    }
    if !is_compact_jws(token) {
        return Err(ExtractError::Malformed);
    }
    Ok(token)
}

/// Three non-empty base64url parts separated by exactly two dots.
fn is_compact_jws(token: &str) -> bool {
    // One pass over the bytes with a table (the hot path of every request): three non-empty
    // runs of base64url characters separated by two dots.
    let mut dots = 0;
    let mut after_dot = true;
    for &b in token.as_bytes() {
        if b == b'.' {
            if after_dot {
                return false;
            }
            dots += 1;
            after_dot = true;
        } else if BASE64URL[usize::from(b)] {
            after_dot = false;
        } else {
            return false;
        }
    }
    dots == 2 && !after_dot
}

/// Which bytes are base64url characters (`A-Z a-z 0-9 - _`).
const BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJ1In0.c2ln";

    fn one(v: &str) -> Result<&str, ExtractError> {
        bearer_token(&[v.as_bytes()], 8192)
    }

    #[test]
    fn accepts_bearer_in_any_case() {
        assert_eq!(one(&format!("Bearer {T}")), Ok(T));
        assert_eq!(one(&format!("bearer {T}")), Ok(T));
        assert_eq!(one(&format!("BEARER {T}")), Ok(T));
    }

    #[test]
    fn missing_and_multiple() {
        assert_eq!(bearer_token(&[], 8192), Err(ExtractError::Missing));
        let a = format!("Bearer {T}");
        let b = format!("Bearer {T}x");
        assert_eq!(
            bearer_token(&[a.as_bytes(), b.as_bytes()], 8192),
            Err(ExtractError::Multiple)
        );
        assert_eq!(bearer_token(&[a.as_bytes(), a.as_bytes()], 8192), Ok(T));
        assert_eq!(
            one(&format!("Bearer {T},Bearer {T}")),
            Err(ExtractError::Multiple)
        );
        assert_eq!(
            one(&format!("Bearer {T}, Basic eA==")),
            Err(ExtractError::Multiple)
        );
    }

    #[test]
    fn wrong_scheme_and_empty() {
        assert_eq!(one("Basic dXNlcjpwYXNz"), Err(ExtractError::WrongScheme));
        assert_eq!(one(T), Err(ExtractError::WrongScheme));
        assert_eq!(one(&format!("Bearer: {T}")), Err(ExtractError::WrongScheme));
        assert_eq!(one(&format!("Token {T}")), Err(ExtractError::WrongScheme));
        assert_eq!(one("Bearer"), Err(ExtractError::Empty));
        assert_eq!(one("Bearer "), Err(ExtractError::Empty));
        assert_eq!(one(""), Err(ExtractError::WrongScheme));
    }

    #[test]
    fn malformed_tokens() {
        for bad in [
            format!("Bearer  {T}"),
            format!("Bearer\t{T}"),
            format!("Bearer {T} "),
            format!("Bearer {T}\n"),
            format!("Bearer {T}\0"),
            "Bearer a.b".to_string(),
            "Bearer a.b.c.d".to_string(),
            "Bearer a.b.".to_string(),
            "Bearer .b.c".to_string(),
            "Bearer a..c".to_string(),
            "Bearer a+b.c/d.e=".to_string(),
            "Bearer {\"alg\":\"none\"}.b.c".to_string(),
            "Bearer eyJ=.eyJ=.c2ln".to_string(),
        ] {
            assert_eq!(one(&bad), Err(ExtractError::Malformed), "{bad:?}");
        }
        assert_eq!(
            bearer_token(&[b"Bearer \xff.b.c"], 8192),
            Err(ExtractError::Malformed)
        );
    }

    #[test]
    fn every_base64url_byte_and_no_other_is_a_token_byte() {
        for b in 0..=255u8 {
            if b == b'.' {
                continue;
            }
            let token = [b"ab".as_slice(), &[b], b".cd.ef"].concat();
            let want = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            let header = [b"Bearer ".as_slice(), &token].concat();
            assert_eq!(
                bearer_token(&[header.as_slice()], 8192).is_ok(),
                want,
                "byte {b:#04x}"
            );
        }
        assert_eq!(one("Bearer a.b.c"), Ok("a.b.c"));
    }

    #[test]
    fn size_limit_is_enforced_before_parsing() {
        let big = format!("Bearer {}", "a".repeat(100 * 1024));
        assert_eq!(one(&big), Err(ExtractError::TooLarge));
        let token = format!("{}.b.c", "a".repeat(16));
        let v = format!("Bearer {token}");
        assert_eq!(
            bearer_token(&[v.as_bytes()], token.len()),
            Ok(token.as_str())
        );
        assert_eq!(
            bearer_token(&[v.as_bytes()], token.len() - 1),
            Err(ExtractError::TooLarge)
        );
    }
}
