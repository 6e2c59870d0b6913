//! Which variables the decision reads: one declaration each (name, kind with its bounds or
//! choices, default, one line of help). Parsing, `--help`, the hosts' lists and the check of
//! docs/configuration.md all read these; no default or bound is written anywhere else.

/// What a variable holds, and so how it is parsed and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (a path, a URL, a list): parsed by the setting it feeds.
    Text,
    /// Secret material: never echoed, never a flag.
    Secret,
    /// A path to a file the host reads (secrets, keys): it names the host's own filesystem.
    File,
    /// A whole number in `min..=max`.
    Number {
        /// The least value accepted.
        min: u64,
        /// The greatest value accepted.
        max: u64,
    },
    /// One of these words.
    Choice(&'static [&'static str]),
    /// `true` or `false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// `host:port`.
    Address,
}

/// One configuration variable.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    /// The environment variable.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// The value used when unset (`None`: the feature is off or the variable is required).
    pub default: Option<&'static str>,
    /// What it sets (bounds and choices are added from `kind` by [`Var::help_line`]).
    pub help: &'static str,
}

impl Var {
    /// Whether only the host's own environment may supply it (secret material, or a file the
    /// host reads): never a generated configuration, which Envoy's admin interface can dump.
    pub fn environment_only(&self) -> bool {
        matches!(self.kind, Kind::Secret | Kind::File)
    }

    /// How `check-config` shows the value in effect: what was given, else the declared
    /// default marked as such, else `(unset)`; secret material only as "set", never its value.
    pub fn shown(&self, given: Option<&str>) -> String {
        match (given.filter(|v| !v.trim().is_empty()), self.default) {
            (Some(_), _) if self.kind == Kind::Secret => "set (redacted)".to_owned(),
            (Some(v), _) => v.to_owned(),
            (None, Some(default)) => format!("{default} (default)"),
            (None, None) => "(unset)".to_owned(),
        }
    }

    /// The help line: the description, then the accepted values.
    pub fn help_line(&self) -> String {
        match self.kind {
            Kind::Number { min, max } => format!("{} ({min}-{max})", self.help),
            Kind::Choice(words) => format!("{}: {}", self.help, words.join(" or ")),
            _ => self.help.to_owned(),
        }
    }
}

/// `BETTER_AUTH_SECRET`.
pub const SECRET: Var = Var {
    name: "BETTER_AUTH_SECRET",
    kind: Kind::Secret,
    default: None,
    help: "HS256 secret shared with Better Auth (>= 32 bytes); one of the three secret sources is required unless a JWKS is set",
};
/// `BETTER_AUTH_SECRETS`.
pub const SECRETS: Var = Var {
    name: "BETTER_AUTH_SECRETS",
    kind: Kind::Secret,
    default: None,
    help: "rotation list, current first: version:secret,version:secret",
};
/// `BETTER_AUTH_SECRET_FILE`.
pub const SECRET_FILE: Var = Var {
    name: "BETTER_AUTH_SECRET_FILE",
    kind: Kind::File,
    default: None,
    help: "file with one secret per line, current first; re-read on change",
};
/// `UIDGATE_SECRET_RELOAD_SECS`.
pub const SECRET_RELOAD_SECS: Var = Var {
    name: "UIDGATE_SECRET_RELOAD_SECS",
    kind: Kind::Number { min: 1, max: 3600 },
    default: Some("5"),
    help: "how often BETTER_AUTH_SECRET_FILE is checked",
};
/// `UIDGATE_PATH_TEMPLATES`.
pub const PATH_TEMPLATES: Var = Var {
    name: "UIDGATE_PATH_TEMPLATES",
    kind: Kind::Text,
    default: Some("/api/{user_id}"),
    help: "comma-separated scoped templates, each with placeholder segments ({user_id}, {org_id}), each name at most once",
};
/// `UIDGATE_PUBLIC_PATHS`.
pub const PUBLIC_PATHS: Var = Var {
    name: "UIDGATE_PUBLIC_PATHS",
    kind: Kind::Text,
    default: None,
    help: "comma-separated prefixes allowed without a token (whole segments)",
};
/// `UIDGATE_AUTH_ONLY_PATHS`.
pub const AUTH_ONLY_PATHS: Var = Var {
    name: "UIDGATE_AUTH_ONLY_PATHS",
    kind: Kind::Text,
    default: None,
    help: "comma-separated prefixes where any valid token is enough (whole segments)",
};
/// `UIDGATE_UNLISTED_PATHS`.
pub const UNLISTED_PATHS: Var = Var {
    name: "UIDGATE_UNLISTED_PATHS",
    kind: Kind::Choice(&["deny", "authenticated"]),
    default: Some("deny"),
    help: "paths no template or prefix covers: 403 unlisted_path, or any valid token (not recommended)",
};
/// `UIDGATE_CASE_INSENSITIVE_PATHS`.
pub const CASE_INSENSITIVE_PATHS: Var = Var {
    name: "UIDGATE_CASE_INSENSITIVE_PATHS",
    kind: Kind::Bool,
    default: Some("false"),
    help: "match template and public segments ignoring ASCII case (user ids stay exact)",
};
/// `UIDGATE_UID_CLAIMS`.
pub const UID_CLAIMS: Var = Var {
    name: "UIDGATE_UID_CLAIMS",
    kind: Kind::Text,
    default: Some("uid,sub"),
    help: "claims tried in order for the user id",
};
/// `UIDGATE_SCOPE_CLAIMS`.
pub const SCOPE_CLAIMS: Var = Var {
    name: "UIDGATE_SCOPE_CLAIMS",
    kind: Kind::Text,
    default: None,
    help: "binds each template placeholder other than {user_id} to a claim path: org_id=activeOrganizationId,team_id=teams.id",
};
/// `UIDGATE_ADMIN_ROLES`.
pub const ADMIN_ROLES: Var = Var {
    name: "UIDGATE_ADMIN_ROLES",
    kind: Kind::Text,
    default: None,
    help: "comma-separated roles whose tokens may use UIDGATE_ADMIN_METHODS on any templated path (unset: no override)",
};
/// `UIDGATE_ROLE_CLAIMS`.
pub const ROLE_CLAIMS: Var = Var {
    name: "UIDGATE_ROLE_CLAIMS",
    kind: Kind::Text,
    default: Some("role"),
    help: "claim paths tried in order for the roles: a comma-separated string or an array of strings",
};
/// `UIDGATE_ADMIN_METHODS`.
pub const ADMIN_METHODS: Var = Var {
    name: "UIDGATE_ADMIN_METHODS",
    kind: Kind::Text,
    default: Some("GET,HEAD"),
    help: "request methods the admin override covers",
};
/// `UIDGATE_LEEWAY_SECS`.
pub const LEEWAY_SECS: Var = Var {
    name: "UIDGATE_LEEWAY_SECS",
    kind: Kind::Number { min: 0, max: 600 },
    default: Some("30"),
    help: "clock skew tolerated on exp/nbf/iat",
};
/// `UIDGATE_ISSUER`.
pub const ISSUER: Var = Var {
    name: "UIDGATE_ISSUER",
    kind: Kind::Text,
    default: None,
    help: "required iss",
};
/// `UIDGATE_AUDIENCE`.
pub const AUDIENCE: Var = Var {
    name: "UIDGATE_AUDIENCE",
    kind: Kind::Text,
    default: None,
    help: "comma-separated accepted aud values",
};
/// `UIDGATE_MAX_TOKEN_BYTES`.
pub const MAX_TOKEN_BYTES: Var = Var {
    name: "UIDGATE_MAX_TOKEN_BYTES",
    kind: Kind::Number {
        min: 64,
        max: 65536,
    },
    default: Some("8192"),
    help: "largest bearer token accepted",
};
/// `UIDGATE_MAX_TOKEN_TTL_SECS`.
pub const MAX_TOKEN_TTL_SECS: Var = Var {
    name: "UIDGATE_MAX_TOKEN_TTL_SECS",
    kind: Kind::Number {
        min: 1,
        max: 31_536_000,
    },
    default: None,
    help: "refuse tokens whose exp lies further ahead",
};
/// `UIDGATE_JWKS_FILE`.
pub const JWKS_FILE: Var = Var {
    name: "UIDGATE_JWKS_FILE",
    kind: Kind::File,
    default: None,
    help: "JWKS document for EdDSA/ES256/RS256 tokens",
};
/// `UIDGATE_JWKS_URL`.
pub const JWKS_URL: Var = Var {
    name: "UIDGATE_JWKS_URL",
    kind: Kind::Text,
    default: None,
    help: "http(s) JWKS URL (Better Auth: /api/auth/jwks), fetched and refreshed",
};
/// `UIDGATE_JWKS_REFRESH_SECS`.
pub const JWKS_REFRESH_SECS: Var = Var {
    name: "UIDGATE_JWKS_REFRESH_SECS",
    kind: Kind::Number { min: 1, max: 86400 },
    default: Some("300"),
    help: "JWKS URL refresh interval",
};

/// Every variable [`crate::Settings`] reads.
pub const VARS: &[Var] = &[
    SECRET,
    SECRETS,
    SECRET_FILE,
    SECRET_RELOAD_SECS,
    PATH_TEMPLATES,
    PUBLIC_PATHS,
    AUTH_ONLY_PATHS,
    UNLISTED_PATHS,
    CASE_INSENSITIVE_PATHS,
    UID_CLAIMS,
    SCOPE_CLAIMS,
    ADMIN_ROLES,
    ROLE_CLAIMS,
    ADMIN_METHODS,
    LEEWAY_SECS,
    ISSUER,
    AUDIENCE,
    MAX_TOKEN_BYTES,
    MAX_TOKEN_TTL_SECS,
    JWKS_FILE,
    JWKS_URL,
    JWKS_REFRESH_SECS,
];

/// In the Envoy module's filter configuration, the key naming the Envoy cluster through which
/// the module fetches `UIDGATE_JWKS_URL`: the generator writes it, the module reads it.
pub const ENVOY_JWKS_CLUSTER_KEY: &str = "_jwks_cluster";
