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
/// and the token must be `base64url.base64url.base64url` with no padding, at most
/// `max_token_bytes`.
pub fn bearer_token<'a>(
    values: &[&'a [u8]],
    max_token_bytes: usize,
) -> Result<Jws<'a>, ExtractError> {
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
    // The usual request, `Bearer <token>`, in one pass over the token; every other value
    // takes the path below, which tells what is wrong with it. Both accept the same values:
    // a compact JWS has no comma, no space and only ASCII, and the size check above leaves
    // at most `max_token_bytes` after `Bearer `.
    if let Some((scheme, token)) = value.split_at_checked(SCHEME.len() + 1)
        && scheme[..SCHEME.len()].eq_ignore_ascii_case(SCHEME.as_bytes())
        && scheme[SCHEME.len()] == b' '
        && let Some(jws) = compact_jws(token)
    {
        return Ok(jws);
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
    compact_jws(token.as_bytes()).ok_or(ExtractError::Malformed)
}

/// A token split at its first and last dots: header, payload, signature. From
/// [`bearer_token`], each part is non-empty base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jws<'a> {
    bytes: &'a [u8],
    first_dot: usize,
    last_dot: usize,
}

impl<'a> Jws<'a> {
    /// Splits at the first and last dots, with no other check; `None` without two dots.
    pub fn split(bytes: &'a [u8]) -> Option<Self> {
        // memchr searches 16 or 32 bytes at a time; a byte loop costs a token about 300
        // instructions more.
        let first_dot = memchr::memchr(b'.', bytes)?;
        let last_dot = memchr::memrchr(b'.', bytes)?;
        (first_dot < last_dot).then_some(Jws {
            bytes,
            first_dot,
            last_dot,
        })
    }

    /// The whole token.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The base64url header.
    pub fn header(&self) -> &'a [u8] {
        &self.bytes[..self.first_dot]
    }

    /// The base64url payload.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.first_dot + 1..self.last_dot]
    }

    /// What the signature covers: `header.payload`.
    pub fn signing_input(&self) -> &'a [u8] {
        &self.bytes[..self.last_dot]
    }

    /// The base64url signature.
    pub fn signature(&self) -> &'a [u8] {
        &self.bytes[self.last_dot + 1..]
    }
}

/// Three non-empty base64url parts separated by exactly two dots.
fn compact_jws(token: &[u8]) -> Option<Jws<'_>> {
    // Runs on every request. Every byte is classified with no early exit, no table and only
    // byte-wide arithmetic, so that the compiler turns the loop into vector instructions
    // (about 6x faster than a table, measured); the dots are counted per 128 bytes so that
    // the byte-wide count cannot wrap. Where the two dots are is checked after.
    let (mut bad, mut dots) = (0u8, 0usize);
    for chunk in token.chunks(128) {
        let (b, d) = classify(chunk);
        bad |= b;
        dots += usize::from(d);
    }
    if bad != 0 || dots != 2 {
        return None;
    }
    Jws::split(token)
        .filter(|j| j.first_dot > 0 && j.last_dot > j.first_dot + 1 && j.last_dot + 1 < token.len())
}

/// For at most 255 bytes: non-zero if any is neither base64url (`A-Z a-z 0-9 - _`) nor `.`;
/// and how many are `.`.
#[inline(always)]
fn classify(bytes: &[u8]) -> (u8, u8) {
    let (mut bad, mut dots) = (0u8, 0u8);
    for &b in bytes {
        let letter = u8::from((b | 0x20).wrapping_sub(b'a') < 26);
        let digit = u8::from(b.wrapping_sub(b'0') < 10);
        let dot = u8::from(b == b'.');
        bad |= 1 ^ (letter | digit | dot | u8::from(b == b'-') | u8::from(b == b'_'));
        dots = dots.wrapping_add(dot);
    }
    (bad, dots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJ1In0.c2ln";

    fn one(v: &str) -> Result<&str, ExtractError> {
        bearer_token(&[v.as_bytes()], 8192).map(text)
    }

    fn text(token: Jws<'_>) -> &str {
        std::str::from_utf8(token.as_bytes()).expect("a token is ASCII")
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
        assert_eq!(
            bearer_token(&[a.as_bytes(), a.as_bytes()], 8192).map(text),
            Ok(T)
        );
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
        // Each byte at each place of a word and of the bytes after the last whole word.
        for b in 0..=255u8 {
            if b == b'.' {
                continue;
            }
            let want = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            for at in 0..18 {
                let mut token = b"abcdefghijklm.cd.efghi".to_vec();
                let at = if at < 13 { at } else { at + 4 };
                token[at] = b;
                let header = [b"Bearer ".as_slice(), &token].concat();
                assert_eq!(
                    bearer_token(&[header.as_slice()], 8192).is_ok(),
                    want,
                    "byte {b:#04x} at {at}"
                );
            }
        }
        assert_eq!(one("Bearer a.b.c"), Ok("a.b.c"));
    }

    /// The branch-free classification against the byte-at-a-time rule, on runs mixing every
    /// kind of byte (a fixed pseudo-random sequence, so a failure repeats).
    #[test]
    fn a_run_of_bytes_is_judged_as_each_of_its_bytes() {
        let token_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
        let picks = b"aZ09-_.+/=%\x00\x7f\x80\xff@[`{:";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        for _ in 0..50_000 {
            let len = next() as usize % 40;
            let bytes: Vec<u8> = (0..len)
                .map(|_| picks[next() as usize % picks.len()])
                .collect();
            let want_bad = !bytes.iter().all(|&b| token_byte(b));
            let want_dots = bytes.iter().filter(|&&b| b == b'.').count();
            let (bad, dots) = classify(&bytes);
            assert_eq!(bad != 0, want_bad, "{bytes:?}");
            assert_eq!(usize::from(dots), want_dots, "{bytes:?}");
        }
        // The count of dots over many chunks does not wrap: 258 dots are not two.
        let many = [b"a".as_slice(), &[b'.'; 258], b"a"].concat();
        assert!(compact_jws(&many).is_none());
    }

    #[test]
    fn size_limit_is_enforced_before_parsing() {
        let big = format!("Bearer {}", "a".repeat(100 * 1024));
        assert_eq!(one(&big), Err(ExtractError::TooLarge));
        let token = format!("{}.b.c", "a".repeat(16));
        let v = format!("Bearer {token}");
        assert_eq!(
            bearer_token(&[v.as_bytes()], token.len()).map(text),
            Ok(token.as_str())
        );
        assert_eq!(
            bearer_token(&[v.as_bytes()], token.len() - 1),
            Err(ExtractError::TooLarge)
        );
    }

    /// The split at the first and last dots against the plain byte search, with dots at
    /// every place of tokens shorter and longer than a vector.
    #[test]
    fn split_finds_the_first_and_last_dots() {
        for len in [2, 3, 15, 16, 17, 33, 64, 100] {
            for first in 0..len {
                for last in first..len {
                    let mut token = vec![b'a'; len];
                    token[first] = b'.';
                    token[last] = b'.';
                    // A dot between them is neither.
                    if last > first + 1 {
                        token[(first + last) / 2] = b'.';
                    }
                    let want = (first < last).then_some((first, last));
                    let got = Jws::split(&token).map(|j| (j.first_dot, j.last_dot));
                    assert_eq!(got, want, "{len} {first} {last}");
                }
            }
        }
        assert_eq!(Jws::split(b"abc"), None);
    }
}
