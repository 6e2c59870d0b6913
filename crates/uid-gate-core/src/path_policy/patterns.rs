//! The configured patterns: user-scoped templates and path prefixes, parsed and checked at
//! start-up with the same byte rules as request paths.

/// Why a configured template or public prefix was refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("'{0}' must start with '/'")]
    NoLeadingSlash(String),
    #[error("'{0}' has an empty segment")]
    EmptySegment(String),
    #[error("'{0}' has a character that is not allowed in a path pattern")]
    BadCharacter(String),
    #[error("'{0}' must contain at least one placeholder segment such as {{user_id}}")]
    NoPlaceholder(String),
    #[error("'{0}' names the placeholder {{{1}}} twice")]
    RepeatedPlaceholder(String, String),
    #[error("'{0}': a placeholder is a whole segment {{name}}, the name made of a-z, 0-9 and _")]
    BadPlaceholder(String),
    #[error("'/' would cover every path")]
    CoversRoot,
    #[error("no patterns given")]
    Empty,
    #[error("'{0}' is listed twice")]
    Duplicate(String),
}

/// The placeholder segment that the token's user id must equal.
pub const USER_ID: &str = "{user_id}";

/// The name inside [`USER_ID`]'s braces, as bindings and routes spell it.
pub fn user_id_name() -> &'static str {
    &USER_ID[1..USER_ID.len() - 1]
}

/// One segment of a [`PathTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSegment {
    /// Must equal the request segment exactly (case-sensitive).
    Fixed(String),
    /// The user id position.
    UserId,
    /// Another placeholder (`{org_id}`): its segment must equal a value of the claim
    /// `UIDGATE_SCOPE_CLAIMS` binds to this name.
    Scope(String),
}

impl TemplateSegment {
    /// The placeholder's name (`user_id`, `org_id`), `None` for a fixed segment.
    pub fn placeholder(&self) -> Option<&str> {
        match self {
            TemplateSegment::Fixed(_) => None,
            TemplateSegment::UserId => Some(user_id_name()),
            TemplateSegment::Scope(name) => Some(name),
        }
    }
}

/// A scoped path template such as `/api/{user_id}` or `/api/orgs/{org_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    pub(super) segments: Vec<TemplateSegment>,
}

impl PathTemplate {
    /// Parses a template: a leading `/`, non-empty segments, at least one placeholder
    /// (`{user_id}`, `{org_id}`), each name at most once.
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        let mut segments = Vec::new();
        for s in pattern_segments(source)? {
            let segment = match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(_) if s == USER_ID => TemplateSegment::UserId,
                Some(name) if is_placeholder_name(name) => TemplateSegment::Scope(name.to_owned()),
                _ if s.contains(['{', '}']) => {
                    return Err(PatternError::BadPlaceholder(source.to_owned()));
                }
                _ => TemplateSegment::Fixed(s.to_owned()),
            };
            if let Some(name) = segment.placeholder()
                && segments
                    .iter()
                    .any(|t: &TemplateSegment| t.placeholder() == Some(name))
            {
                return Err(PatternError::RepeatedPlaceholder(
                    source.to_owned(),
                    name.to_owned(),
                ));
            }
            segments.push(segment);
        }
        if segments.iter().all(|s| s.placeholder().is_none()) {
            return Err(PatternError::NoPlaceholder(source.to_owned()));
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

    /// The segments, in order (at least one is a placeholder).
    pub fn segments(&self) -> &[TemplateSegment] {
        &self.segments
    }

    /// The placeholders' names, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.segments
            .iter()
            .filter_map(TemplateSegment::placeholder)
    }

    /// Whether a placeholder other than `{user_id}` is bound to a claim (an organization's or a
    /// team's path, rather than one user's).
    pub fn has_scope(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, TemplateSegment::Scope(_)))
    }

    /// Fixed segments before the first placeholder.
    pub fn prefix_len(&self) -> usize {
        self.segments
            .iter()
            .position(|s| s.placeholder().is_some())
            .unwrap_or(self.segments.len())
    }
}

/// A public or authenticated-only path prefix, matched on whole segments (`/api/auth` covers
/// `/api/auth/x`, not `/api/authx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPrefix {
    source: String,
    pub(super) segments: Vec<String>,
}

impl PathPrefix {
    /// Parses a prefix; a trailing `/` is ignored and `/` alone is refused.
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        if source.trim_end_matches('/').is_empty() && source.starts_with('/') {
            return Err(PatternError::CoversRoot);
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

    /// The segments a path must start with.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether every path under `template` is under this prefix too (the prefix ends at or
    /// before the template's first placeholder): then the prefix decides every owner's path.
    pub fn covers(&self, template: &PathTemplate, ignore_case: bool) -> bool {
        self.segments.len() <= template.prefix_len()
            && self
                .segments
                .iter()
                .zip(&template.segments)
                .all(|(p, t)| matches!(t, TemplateSegment::Fixed(f) if same(p, f, ignore_case)))
    }

    /// The owner this prefix takes out of `template`'s first placeholder, when it names one
    /// (`/api/me` under `/api/{user_id}` is `me`): that owner's paths follow the prefix.
    pub fn shadowed_user<'a>(
        &'a self,
        template: &PathTemplate,
        ignore_case: bool,
    ) -> Option<&'a str> {
        let n = template.prefix_len();
        let fixed_match = self.segments.len() > n
            && self.segments[..n]
                .iter()
                .zip(&template.segments)
                .all(|(p, t)| matches!(t, TemplateSegment::Fixed(f) if same(p, f, ignore_case)));
        fixed_match.then(|| self.segments[n].as_str())
    }
}

/// `[a-z_][a-z0-9_]*`: names that read the same in every host's configuration and logs.
pub(crate) fn is_placeholder_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn same(a: &str, b: &str, ignore_case: bool) -> bool {
    if ignore_case {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
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
