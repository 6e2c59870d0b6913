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
    #[error("'{0}' must contain exactly one {{user_id}} segment")]
    UserIdCount(String),
    #[error("'/' would cover every path")]
    CoversRoot,
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
    pub(super) segments: Vec<TemplateSegment>,
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

    /// The segments, in order (exactly one is [`TemplateSegment::UserId`]).
    pub fn segments(&self) -> &[TemplateSegment] {
        &self.segments
    }

    /// Fixed segments before `{user_id}`.
    pub fn prefix_len(&self) -> usize {
        self.segments
            .iter()
            .position(|s| *s == TemplateSegment::UserId)
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
    /// before the template's `{user_id}`): then the prefix decides every user's path.
    pub fn covers(&self, template: &PathTemplate, ignore_case: bool) -> bool {
        self.segments.len() <= template.prefix_len()
            && self
                .segments
                .iter()
                .zip(&template.segments)
                .all(|(p, t)| matches!(t, TemplateSegment::Fixed(f) if same(p, f, ignore_case)))
    }

    /// The user id this prefix takes out of `template`'s user namespace, when it names one
    /// (`/api/me` under `/api/{user_id}` is `me`): that user's paths follow the prefix.
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
