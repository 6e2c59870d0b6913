//! Path policy: is a request path public, scoped to one user, authenticated-only, or covered
//! by no rule at all (unlisted), and is it safe to judge at all?
//!
//! Envoy hands us the raw request target ("No decoding is performed"), so every rule here
//! works on the undecoded bytes and refuses anything whose meaning a backend could read
//! differently: dot segments, empty segments, encoded separators, backslashes, path
//! parameters, control bytes and non-ASCII bytes. Only placeholder segments (`{user_id}`,
//! `{org_id}`) are percent-decoded, once, to be compared with the token's claims byte for byte.

use std::borrow::Cow;

mod patterns;
mod segments;

use segments::{Path, scan};

pub(crate) use patterns::is_placeholder_name;
pub use patterns::{
    PathPrefix, PathTemplate, PatternError, TemplateSegment, USER_ID, user_id_name,
};

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
    /// The path names a template's fixed prefix but stops before its first placeholder.
    #[error("path has no user id or scope segment")]
    MissingUserSegment,
}

/// What happens to a path that no template and no prefix covers (`UIDGATE_UNLISTED_PATHS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unlisted {
    /// 403 `unlisted_path` (the default): a path the policy does not describe is closed, so
    /// a proxy that rewrites paths cannot turn someone else's path into an open one.
    #[default]
    Deny,
    /// Any valid token is enough (uid-gate before 0.2); reason `unlisted_allowed`.
    Authenticated,
}

/// The placeholders' segments of a scoped path: a template has one or two, held on the stack.
pub type Values<'a> = smallvec::SmallVec<[Cow<'a, [u8]>; 2]>;

/// What kind of path a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathClass<'a> {
    /// Under a public prefix: allowed without a token.
    Public,
    /// Under a template: each placeholder's segment must match the token.
    Scoped {
        /// The placeholders' segments, percent-decoded, in the order of
        /// [`PathTemplate::placeholders`] of the template [`PathPolicy::rule_for`] names.
        values: Values<'a>,
    },
    /// Under an authenticated-only prefix: any valid token is enough.
    AuthOnly,
    /// Covered by no rule: what happens is [`PathPolicy::unlisted`].
    Unlisted,
}

/// The configured templates and prefixes, and the rule for everything else.
#[derive(Debug, Clone)]
pub struct PathPolicy {
    templates: Vec<PathTemplate>,
    public: Vec<PathPrefix>,
    auth_only: Vec<PathPrefix>,
    unlisted: Unlisted,
    ignore_case: bool,
}

impl PathPolicy {
    /// Builds a policy with no authenticated-only prefixes, denying unlisted paths.
    /// Templates are tried most specific (most segments) first.
    pub fn new(mut templates: Vec<PathTemplate>, public: Vec<PathPrefix>) -> Self {
        // Stable sort: among equally long templates the configured order decides.
        templates.sort_by_key(|t| std::cmp::Reverse(t.segments.len()));
        Self {
            templates,
            public,
            auth_only: Vec::new(),
            unlisted: Unlisted::Deny,
            ignore_case: false,
        }
    }

    /// Prefixes under which any valid token is enough.
    pub fn with_auth_only(mut self, auth_only: Vec<PathPrefix>) -> Self {
        self.auth_only = auth_only;
        self
    }

    /// What happens to paths no rule covers.
    pub fn with_unlisted(mut self, unlisted: Unlisted) -> Self {
        self.unlisted = unlisted;
        self
    }

    /// The authenticated-only prefixes.
    pub fn auth_only_prefixes(&self) -> &[PathPrefix] {
        &self.auth_only
    }

    /// What happens to paths no rule covers.
    pub fn unlisted(&self) -> Unlisted {
        self.unlisted
    }

    /// Matches fixed segments ignoring ASCII case, for backends that route without regard to
    /// case (`/API/alice` then names alice's data). The `{user_id}` segment is still compared
    /// exactly: user ids are case-sensitive.
    pub fn case_insensitive(mut self, ignore_case: bool) -> Self {
        self.ignore_case = ignore_case;
        self
    }

    /// The templates, in the order they are tried (most segments first).
    pub fn templates(&self) -> &[PathTemplate] {
        &self.templates
    }

    /// Every placeholder name the templates use, once each, in the order templates are tried.
    pub fn placeholder_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for name in self.templates.iter().flat_map(PathTemplate::placeholders) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The public prefixes.
    pub fn public_prefixes(&self) -> &[PathPrefix] {
        &self.public
    }

    /// Whether fixed segments are matched ignoring ASCII case.
    pub fn ignores_case(&self) -> bool {
        self.ignore_case
    }

    /// The template a well-formed path falls under and the raw segment in its first
    /// placeholder's position (empty when the path stops before it), for logs and `check-config`.
    pub fn matching_template<'a>(&self, target: &'a str) -> Option<(&PathTemplate, &'a str)> {
        let mut path = Path::default();
        scan(target, &mut path).ok()?;
        // The template `rule_for` tries first that matches, or refuses the path for stopping
        // before its placeholder.
        let t = self
            .templates
            .iter()
            .find(|t| !matches!(self.match_template(t, &path), Ok(None)))?;
        Some((
            t,
            path.segments
                .get(t.prefix_len())
                .copied()
                .unwrap_or_default(),
        ))
    }

    /// A fixed pattern segment against a raw request segment, decoded once as a backend
    /// would read it: `/%61pi/bob` names the same route as `/api/bob`. A path with no `%`
    /// (`encoded` false) compares as it is.
    fn fixed_eq(&self, fixed: &str, segment: &str, encoded: bool) -> bool {
        let decoded = decoded(segment, encoded);
        if self.ignore_case {
            decoded.eq_ignore_ascii_case(fixed.as_bytes())
        } else {
            *decoded == *fixed.as_bytes()
        }
    }

    /// Classifies a raw request target (`path[?query]`). A path that fails the safety
    /// rules is an error and is never treated as public.
    pub fn classify<'a>(&self, target: &'a str) -> Result<PathClass<'a>, PathError> {
        self.rule_for(target).map(|(class, _)| class)
    }

    /// The class of a path and the rule that gave it (for logs and `check-config`): public
    /// prefixes first, then authenticated-only prefixes, then templates; else unlisted.
    pub fn rule_for<'a>(&self, target: &'a str) -> Result<(PathClass<'a>, Rule<'_>), PathError> {
        let mut path = Path::default();
        scan(target, &mut path)?;
        if let Some(p) = self.under_any(&self.public, &path) {
            return Ok((PathClass::Public, Rule::Public(p)));
        }
        if let Some(p) = self.under_any(&self.auth_only, &path) {
            return Ok((PathClass::AuthOnly, Rule::AuthOnly(p)));
        }
        for template in &self.templates {
            if let Some(class) = self.match_template(template, &path)? {
                return Ok((class, Rule::Template(template)));
            }
        }
        Ok((PathClass::Unlisted, Rule::Unlisted(self.unlisted)))
    }

    /// The first of `prefixes` that the path's segments start with.
    fn under_any<'p>(&self, prefixes: &'p [PathPrefix], path: &Path<'_>) -> Option<&'p PathPrefix> {
        let segments = &path.segments;
        prefixes.iter().find(|p| {
            segments.len() >= p.segments.len()
                && segments
                    .iter()
                    .zip(&p.segments)
                    .all(|(s, f)| self.fixed_eq(f, s, path.encoded))
        })
    }

    /// `Ok(Some(class))` when the template matches; `Err(MissingUserSegment)` when the path is
    /// exactly the template's fixed prefix (it names the scoped area but no owner).
    fn match_template<'a>(
        &self,
        template: &PathTemplate,
        path: &Path<'a>,
    ) -> Result<Option<PathClass<'a>>, PathError> {
        let (segments, encoded) = (&path.segments, path.encoded);
        let prefix_len = template.prefix_len();
        let prefix_matches = segments.len() >= prefix_len
            && template.segments[..prefix_len].iter().zip(segments).all(
                |(t, s)| matches!(t, TemplateSegment::Fixed(f) if self.fixed_eq(f, s, encoded)),
            );
        if !prefix_matches {
            return Ok(None);
        }
        if segments.len() == prefix_len {
            return Err(PathError::MissingUserSegment);
        }
        if segments.len() < template.segments.len() {
            return Ok(None);
        }
        let mut values = Values::new();
        for (t, s) in template.segments.iter().zip(segments).skip(prefix_len) {
            match t {
                TemplateSegment::Fixed(f) if self.fixed_eq(f, s, encoded) => {}
                TemplateSegment::Fixed(_) => return Ok(None),
                TemplateSegment::UserId | TemplateSegment::Scope(_) => {
                    values.push(decoded(s, encoded));
                }
            }
        }
        Ok(Some(PathClass::Scoped { values }))
    }
}

/// The rule that decides a path: which prefix or template, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule<'p> {
    /// A public prefix (`UIDGATE_PUBLIC_PATHS`).
    Public(&'p PathPrefix),
    /// An authenticated-only prefix (`UIDGATE_AUTH_ONLY_PATHS`).
    AuthOnly(&'p PathPrefix),
    /// A template (`UIDGATE_PATH_TEMPLATES`).
    Template(&'p PathTemplate),
    /// No rule; `UIDGATE_UNLISTED_PATHS` decides.
    Unlisted(Unlisted),
}

impl std::fmt::Display for Rule<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Public(p) => write!(f, "public prefix {}", p.as_str()),
            Rule::AuthOnly(p) => write!(f, "authenticated-only prefix {}", p.as_str()),
            Rule::Template(t) => write!(f, "template {}", t.as_str()),
            Rule::Unlisted(_) => f.write_str("no rule (unlisted)"),
        }
    }
}

/// The byte the escape `%XX` at `bytes[i]` names; `None` without two hex digits after it.
fn escaped(bytes: &[u8], i: usize) -> Option<u8> {
    let (h, l) = (hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?);
    Some((h << 4) | l)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A segment as a backend reads it: decoded once when the path has a `%` (`encoded`), else
/// as it is, with no scan for one.
fn decoded(segment: &str, encoded: bool) -> Cow<'_, [u8]> {
    if encoded {
        percent_decode(segment)
    } else {
        Cow::Borrowed(segment.as_bytes())
    }
}

/// Decodes `%XX` once. Input already passed [`scan`], so every `%` has two hex digits.
fn percent_decode(segment: &str) -> Cow<'_, [u8]> {
    let bytes = segment.as_bytes();
    if !bytes.contains(&b'%') {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = escaped(bytes, i)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;
