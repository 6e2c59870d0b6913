//! Path policy: is a request path public, scoped to one user, or authentication-only,
//! and is it safe to judge at all?
//!
//! Envoy hands us the raw request target ("No decoding is performed"), so every rule here
//! works on the undecoded bytes and refuses anything whose meaning a backend could read
//! differently: dot segments, empty segments, encoded separators, backslashes, path
//! parameters, control bytes and non-ASCII bytes. Only the `{user_id}` segment is
//! percent-decoded, once, to be compared with the token's user id byte for byte.

use std::borrow::Cow;

/// Why a path cannot be judged safely (answered with 400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty path, `*`, absolute-form or authority-form request target.
    #[error("request target is not an origin-form path")]
    NotOriginForm,
    /// A raw `#` reached the authorizer.
    #[error("path contains a fragment")]
    Fragment,
    /// A `.` or `..` segment.
    #[error("path contains a dot segment")]
    DotSegment,
    /// `//` somewhere before the end of the path.
    #[error("path contains an empty segment")]
    EmptySegment,
    /// `%2F` or `%5C` in any case.
    #[error("path contains an encoded slash or backslash")]
    EncodedSeparator,
    /// `%2E` in any case.
    #[error("path contains an encoded dot")]
    EncodedDot,
    /// A literal backslash.
    #[error("path contains a backslash")]
    Backslash,
    /// A `;` (path parameters are read differently by different servers).
    #[error("path contains a path parameter")]
    PathParameter,
    /// A raw or percent-encoded control byte.
    #[error("path contains a control byte")]
    ControlByte,
    /// A raw byte outside ASCII.
    #[error("path contains a non-ASCII byte")]
    NonAscii,
    /// `%` not followed by two hex digits.
    #[error("path contains a malformed percent-encoding")]
    BadPercentEncoding,
    /// The path names a user-scoped prefix but no user id segment.
    #[error("path has no user id segment")]
    MissingUserSegment,
}

/// Why a configured template or public prefix was refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("'{0}' must start with '/'")]
    NoLeadingSlash(String),
    #[error("'{0}' has an empty segment")]
    EmptySegment(String),
    #[error("'{0}' has a character that is not allowed in a path pattern")]
    BadCharacter(String),
    #[error("'{0}' must contain exactly one {{user_id}} segment")]
    UserIdCount(String),
    #[error("'/' as a public path would make every path public")]
    RootIsPublic,
    #[error("no patterns given")]
    Empty,
    #[error("'{0}' is listed twice")]
    Duplicate(String),
}

/// The placeholder segment of a path template.
pub const USER_ID: &str = "{user_id}";

/// One segment of a [`PathTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSegment {
    /// Must equal the request segment exactly (case-sensitive).
    Fixed(String),
    /// The user id position.
    UserId,
}

/// A user-scoped path template such as `/api/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<TemplateSegment>,
}

impl PathTemplate {
    /// Parses a template: a leading `/`, non-empty segments, exactly one `{user_id}`.
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        let segments = pattern_segments(source)?;
        let segments: Vec<TemplateSegment> = segments
            .into_iter()
            .map(|s| {
                if s == USER_ID {
                    TemplateSegment::UserId
                } else {
                    TemplateSegment::Fixed(s.to_owned())
                }
            })
            .collect();
        let user_ids = segments
            .iter()
            .filter(|s| **s == TemplateSegment::UserId)
            .count();
        if user_ids != 1 {
            return Err(PatternError::UserIdCount(source.to_owned()));
        }
        for seg in &segments {
            if let TemplateSegment::Fixed(s) = seg
                && (s.contains('{') || s.contains('}'))
            {
                return Err(PatternError::BadCharacter(source.to_owned()));
            }
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
        })
    }

    /// The template as configured.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Fixed segments before `{user_id}`.
    fn prefix_len(&self) -> usize {
        self.segments
            .iter()
            .position(|s| *s == TemplateSegment::UserId)
            .unwrap_or(self.segments.len())
    }
}

/// A public path prefix, matched on whole segments (`/api/auth` covers `/api/auth/x`, not `/api/authx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicPrefix {
    source: String,
    segments: Vec<String>,
}

impl PublicPrefix {
    /// Parses a prefix; a trailing `/` is ignored and `/` alone is refused.
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        if source.trim_end_matches('/').is_empty() && source.starts_with('/') {
            return Err(PatternError::RootIsPublic);
        }
        let segments = pattern_segments(source)?;
        if segments.iter().any(|s| s.contains('{') || s.contains('}')) {
            return Err(PatternError::BadCharacter(source.to_owned()));
        }
        Ok(Self {
            source: source.to_owned(),
            segments: segments.into_iter().map(str::to_owned).collect(),
        })
    }

    /// The prefix as configured.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Splits a configured pattern into segments, refusing anything a request path could not match
/// literally (the same byte rules as requests, plus no `%`).
fn pattern_segments(source: &str) -> Result<Vec<&str>, PatternError> {
    let Some(rest) = source.strip_prefix('/') else {
        return Err(PatternError::NoLeadingSlash(source.to_owned()));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let bad = |b: u8| b <= 0x20 || b >= 0x7f || matches!(b, b'%' | b'\\' | b';' | b'?' | b'#');
    if source.bytes().any(bad) {
        return Err(PatternError::BadCharacter(source.to_owned()));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    for s in &segments {
        if s.is_empty() {
            return Err(PatternError::EmptySegment(source.to_owned()));
        }
        if *s == "." || *s == ".." {
            return Err(PatternError::BadCharacter(source.to_owned()));
        }
    }
    Ok(segments)
}

/// What kind of path a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathClass<'a> {
    /// Under a public prefix: allowed without a token.
    Public,
    /// Under a template: the token's user id must equal this decoded segment.
    Scoped {
        /// The `{user_id}` segment, percent-decoded.
        user_id: Cow<'a, [u8]>,
    },
    /// Anything else: any valid token is enough.
    AuthOnly,
}

/// The configured templates and public prefixes.
#[derive(Debug, Clone)]
pub struct PathPolicy {
    templates: Vec<PathTemplate>,
    public: Vec<PublicPrefix>,
}

impl PathPolicy {
    /// Builds a policy. Templates are tried most specific (most segments) first.
    pub fn new(mut templates: Vec<PathTemplate>, public: Vec<PublicPrefix>) -> Self {
        // Stable sort: among equally long templates the configured order decides.
        templates.sort_by_key(|t| std::cmp::Reverse(t.segments.len()));
        Self { templates, public }
    }

    /// Classifies a raw request target (`path[?query]`). A path that fails the safety
    /// rules is an error and is never treated as public.
    pub fn classify<'a>(&self, target: &'a str) -> Result<PathClass<'a>, PathError> {
        let path = match target.find('?') {
            Some(i) => &target[..i],
            None => target,
        };
        check_bytes(path)?;
        let segments = split_segments(path)?;

        if self
            .public
            .iter()
            .any(|p| starts_with_fixed(&segments, &p.segments))
        {
            return Ok(PathClass::Public);
        }
        for template in &self.templates {
            if let Some(class) = match_template(template, &segments)? {
                return Ok(class);
            }
        }
        Ok(PathClass::AuthOnly)
    }
}

/// Byte-level rules over the whole path (query already removed).
fn check_bytes(path: &str) -> Result<(), PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotOriginForm);
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b if b < 0x20 || b == 0x7f => return Err(PathError::ControlByte),
            b if b >= 0x80 => return Err(PathError::NonAscii),
            b'#' => return Err(PathError::Fragment),
            b'\\' => return Err(PathError::Backslash),
            b';' => return Err(PathError::PathParameter),
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) else {
                    return Err(PathError::BadPercentEncoding);
                };
                match (h << 4) | l {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    b'.' => return Err(PathError::EncodedDot),
                    d if d < 0x20 || d == 0x7f => return Err(PathError::ControlByte),
                    _ => {}
                }
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Splits `/a/b/c[/]` into segments; one trailing `/` is allowed, other empty segments are not.
fn split_segments(path: &str) -> Result<Vec<&str>, PathError> {
    let rest = &path[1..];
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        // "/" or "//": the root has no segments; "//" is an empty segment.
        return if path.len() == 1 {
            Ok(Vec::new())
        } else {
            Err(PathError::EmptySegment)
        };
    }
    let mut segments = Vec::with_capacity(8);
    for s in rest.split('/') {
        match s {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => segments.push(s),
        }
    }
    Ok(segments)
}

fn starts_with_fixed(segments: &[&str], prefix: &[String]) -> bool {
    segments.len() >= prefix.len() && segments.iter().zip(prefix).all(|(s, p)| *s == p)
}

/// `Ok(Some(class))` when the template matches; `Err(MissingUserSegment)` when the path is
/// exactly the template's fixed prefix (it names the scoped area but no user).
fn match_template<'a>(
    template: &PathTemplate,
    segments: &[&'a str],
) -> Result<Option<PathClass<'a>>, PathError> {
    let prefix_len = template.prefix_len();
    let prefix_matches = segments.len() >= prefix_len
        && template.segments[..prefix_len]
            .iter()
            .zip(segments)
            .all(|(t, s)| matches!(t, TemplateSegment::Fixed(f) if f == s));
    if !prefix_matches {
        return Ok(None);
    }
    if segments.len() == prefix_len {
        return Err(PathError::MissingUserSegment);
    }
    if segments.len() < template.segments.len() {
        return Ok(None);
    }
    let mut user_id = None;
    for (t, s) in template.segments.iter().zip(segments).skip(prefix_len) {
        match t {
            TemplateSegment::UserId => user_id = Some(percent_decode(s)),
            TemplateSegment::Fixed(f) if f == s => {}
            TemplateSegment::Fixed(_) => return Ok(None),
        }
    }
    Ok(user_id.map(|user_id| PathClass::Scoped { user_id }))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` once. Input already passed [`check_bytes`], so every `%` has two hex digits.
fn percent_decode(segment: &str) -> Cow<'_, [u8]> {
    let bytes = segment.as_bytes();
    if !bytes.contains(&b'%') {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push((h << 4) | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(templates: &[&str], public: &[&str]) -> PathPolicy {
        PathPolicy::new(
            templates
                .iter()
                .map(|t| PathTemplate::parse(t).expect("template"))
                .collect(),
            public
                .iter()
                .map(|p| PublicPrefix::parse(p).expect("prefix"))
                .collect(),
        )
    }

    fn scoped(id: &str) -> Result<PathClass<'static>, PathError> {
        Ok(PathClass::Scoped {
            user_id: Cow::Owned(id.as_bytes().to_vec()),
        })
    }

    #[test]
    fn scoped_paths_yield_the_user_segment() {
        let p = policy(&["/api/{user_id}"], &[]);
        assert_eq!(p.classify("/api/user_A/tasks"), scoped("user_A"));
        assert_eq!(p.classify("/api/user_A"), scoped("user_A"));
        assert_eq!(p.classify("/api/user_A/"), scoped("user_A"));
        assert_eq!(p.classify("/api/user_A/tasks/"), scoped("user_A"));
        assert_eq!(
            p.classify("/api/user_A/tasks?user_id=user_B"),
            scoped("user_A")
        );
        assert_eq!(
            p.classify("/api/user_A?next=/api/user_B/tasks"),
            scoped("user_A")
        );
    }

    #[test]
    fn the_user_segment_is_percent_decoded_once() {
        let p = policy(&["/api/{user_id}"], &[]);
        assert_eq!(p.classify("/api/%75ser_A/tasks"), scoped("user_A"));
        assert_eq!(p.classify("/api/a%2541/x"), scoped("a%41"));
        assert_eq!(p.classify("/api/%C3%A9/x"), scoped("é"));
    }

    #[test]
    fn other_paths_are_auth_only_and_prefix_match_is_case_sensitive() {
        let p = policy(&["/api/{user_id}"], &[]);
        assert_eq!(p.classify("/"), Ok(PathClass::AuthOnly));
        assert_eq!(p.classify("/other/user_A"), Ok(PathClass::AuthOnly));
        assert_eq!(p.classify("/API/user_A/tasks"), Ok(PathClass::AuthOnly));
        assert_eq!(p.classify("/apix/user_A"), Ok(PathClass::AuthOnly));
    }

    #[test]
    fn the_bare_scoped_prefix_names_no_user() {
        let p = policy(&["/api/{user_id}"], &[]);
        assert_eq!(p.classify("/api"), Err(PathError::MissingUserSegment));
        assert_eq!(p.classify("/api/"), Err(PathError::MissingUserSegment));
        assert_eq!(p.classify("/api?x=1"), Err(PathError::MissingUserSegment));
    }

    #[test]
    fn public_prefixes_are_segment_aligned() {
        let p = policy(&["/api/{user_id}"], &["/api/auth/", "/healthz"]);
        assert_eq!(p.classify("/api/auth"), Ok(PathClass::Public));
        assert_eq!(p.classify("/api/auth/get-session"), Ok(PathClass::Public));
        assert_eq!(p.classify("/healthz?full=1"), Ok(PathClass::Public));
        assert_eq!(p.classify("/api/authx/tasks"), scoped("authx"));
        assert_eq!(p.classify("/healthzz"), Ok(PathClass::AuthOnly));
    }

    #[test]
    fn a_malformed_path_is_never_public() {
        let p = policy(&["/api/{user_id}"], &["/public"]);
        assert_eq!(
            p.classify("/public/../api/victim"),
            Err(PathError::DotSegment)
        );
        assert_eq!(
            p.classify("/public/%2e%2e/api/victim"),
            Err(PathError::EncodedDot)
        );
        assert_eq!(
            p.classify("/public;x/../api"),
            Err(PathError::PathParameter)
        );
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let p = policy(&["/api/{user_id}"], &[]);
        let cases: &[(&str, PathError)] = &[
            ("", PathError::NotOriginForm),
            ("*", PathError::NotOriginForm),
            ("http://evil/api/x", PathError::NotOriginForm),
            ("example.com:443", PathError::NotOriginForm),
            ("?/api/x", PathError::NotOriginForm),
            ("/api/user_B/../user_A/tasks", PathError::DotSegment),
            ("/api/user_A/../user_B/tasks", PathError::DotSegment),
            ("/api/./user_A", PathError::DotSegment),
            ("/api/user_A/.", PathError::DotSegment),
            ("//api/user_B/tasks", PathError::EmptySegment),
            ("/api//user_B/tasks", PathError::EmptySegment),
            ("/api/user_A//", PathError::EmptySegment),
            ("//", PathError::EmptySegment),
            (
                "/api/user_A%2F..%2Fuser_B/tasks",
                PathError::EncodedSeparator,
            ),
            (
                "/api/user_A%2f..%2fuser_B/tasks",
                PathError::EncodedSeparator,
            ),
            (
                "/api/user_A%5C..%5Cuser_B/tasks",
                PathError::EncodedSeparator,
            ),
            ("/api/user_A%5c/x", PathError::EncodedSeparator),
            ("/api/%2e%2e/user_B", PathError::EncodedDot),
            ("/api/%2E/x", PathError::EncodedDot),
            ("/api/user_A\\..\\user_B/tasks", PathError::Backslash),
            ("/api/user_A;jsessionid=x/tasks", PathError::PathParameter),
            ("/api/..;/user_B/tasks", PathError::PathParameter),
            ("/api/user_A/tasks#frag", PathError::Fragment),
            ("/api/user_A\u{0}/x", PathError::ControlByte),
            ("/api/user_A%00/x", PathError::ControlByte),
            ("/api/user_A%0a/x", PathError::ControlByte),
            ("/api/user_A%7F", PathError::ControlByte),
            ("/api/user_A\t/x", PathError::ControlByte),
            ("/api/ｕser_A/x", PathError::NonAscii),
            ("/api/user_A%", PathError::BadPercentEncoding),
            ("/api/user_A%4", PathError::BadPercentEncoding),
            ("/api/user_A%zz", PathError::BadPercentEncoding),
        ];
        for (path, want) in cases {
            assert_eq!(p.classify(path), Err(*want), "path {path:?}");
        }
    }

    #[test]
    fn the_most_specific_template_wins() {
        let p = policy(&["/api/{user_id}", "/api/v2/users/{user_id}"], &[]);
        assert_eq!(p.classify("/api/v2/users/u1/files"), scoped("u1"));
        assert_eq!(p.classify("/api/v2/other"), scoped("v2"));
        assert_eq!(p.classify("/api/u1"), scoped("u1"));
    }

    #[test]
    fn fixed_segments_after_the_user_id_must_match() {
        let p = policy(&["/users/{user_id}/files"], &[]);
        assert_eq!(p.classify("/users/u1/files/a.txt"), scoped("u1"));
        assert_eq!(p.classify("/users/u1/other"), Ok(PathClass::AuthOnly));
        assert_eq!(p.classify("/users/u1"), Ok(PathClass::AuthOnly));
        assert_eq!(p.classify("/users"), Err(PathError::MissingUserSegment));
    }

    #[test]
    fn templates_are_validated() {
        assert!(PathTemplate::parse("/api/{user_id}").is_ok());
        assert!(PathTemplate::parse("/api/{user_id}/").is_ok());
        assert!(PathTemplate::parse("/{user_id}").is_ok());
        assert_eq!(
            PathTemplate::parse("api/{user_id}"),
            Err(PatternError::NoLeadingSlash("api/{user_id}".into()))
        );
        assert!(matches!(
            PathTemplate::parse("/api"),
            Err(PatternError::UserIdCount(_))
        ));
        assert!(matches!(
            PathTemplate::parse("/{user_id}/{user_id}"),
            Err(PatternError::UserIdCount(_))
        ));
        assert!(matches!(
            PathTemplate::parse("/api//{user_id}"),
            Err(PatternError::EmptySegment(_))
        ));
        assert!(matches!(
            PathTemplate::parse("/api/{uid}"),
            Err(PatternError::UserIdCount(_))
        ));
        assert!(matches!(
            PathTemplate::parse("/a%2F/{user_id}"),
            Err(PatternError::BadCharacter(_))
        ));
        assert!(matches!(
            PathTemplate::parse("/../{user_id}"),
            Err(PatternError::BadCharacter(_))
        ));
        assert!(matches!(
            PathTemplate::parse("/a b/{user_id}"),
            Err(PatternError::BadCharacter(_))
        ));
    }

    #[test]
    fn public_prefixes_are_validated() {
        assert_eq!(PublicPrefix::parse("/"), Err(PatternError::RootIsPublic));
        assert_eq!(PublicPrefix::parse("//"), Err(PatternError::RootIsPublic));
        assert!(matches!(
            PublicPrefix::parse("healthz"),
            Err(PatternError::NoLeadingSlash(_))
        ));
        assert!(matches!(
            PublicPrefix::parse("/a/{user_id}"),
            Err(PatternError::BadCharacter(_))
        ));
        assert!(matches!(
            PublicPrefix::parse("/a;b"),
            Err(PatternError::BadCharacter(_))
        ));
        assert_eq!(
            PublicPrefix::parse("/api/auth/").map(|p| p.segments),
            Ok(vec!["api".into(), "auth".into()])
        );
    }
}
