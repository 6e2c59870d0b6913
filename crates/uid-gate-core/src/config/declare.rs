//! Which variables the decision reads, with their defaults and one line of help each (for
//! `--help` and the hosts that derive their own lists from it).

/// One configuration variable: its name, default and a one-line description (for `--help`).
#[derive(Debug, Clone, Copy)]
pub struct Var {
    /// The environment variable.
    pub name: &'static str,
    /// The value used when unset (`None`: the feature is off or the variable is required).
    pub default: Option<&'static str>,
    /// What it sets.
    pub help: &'static str,
}

/// Every variable [`Settings`] reads.
pub const VARS: &[Var] = &[
    Var {
        name: "BETTER_AUTH_SECRET",
        default: None,
        help: "HS256 secret shared with Better Auth (>= 32 bytes); one of the three secret sources is required unless a JWKS is set",
    },
    Var {
        name: "BETTER_AUTH_SECRETS",
        default: None,
        help: "rotation list, current first: version:secret,version:secret",
    },
    Var {
        name: "BETTER_AUTH_SECRET_FILE",
        default: None,
        help: "file with one secret per line, current first; re-read on change",
    },
    Var {
        name: "UIDGATE_SECRET_RELOAD_SECS",
        default: Some("5"),
        help: "how often BETTER_AUTH_SECRET_FILE is checked (1-3600)",
    },
    Var {
        name: "UIDGATE_PATH_TEMPLATES",
        default: Some(DEFAULT_TEMPLATES),
        help: "comma-separated user-scoped templates, each with one {user_id} segment",
    },
    Var {
        name: "UIDGATE_PUBLIC_PATHS",
        default: None,
        help: "comma-separated prefixes allowed without a token (whole segments)",
    },
    Var {
        name: "UIDGATE_AUTH_ONLY_PATHS",
        default: None,
        help: "comma-separated prefixes where any valid token is enough (whole segments)",
    },
    Var {
        name: "UIDGATE_UNLISTED_PATHS",
        default: Some("deny"),
        help: "paths no template or prefix covers: deny (403 unlisted_path) or authenticated (any valid token; not recommended)",
    },
    Var {
        name: "UIDGATE_CASE_INSENSITIVE_PATHS",
        default: Some("false"),
        help: "match template and public segments ignoring ASCII case (user ids stay exact)",
    },
    Var {
        name: "UIDGATE_UID_CLAIMS",
        default: Some(DEFAULT_UID_CLAIMS),
        help: "claims tried in order for the user id",
    },
    Var {
        name: "UIDGATE_LEEWAY_SECS",
        default: Some("30"),
        help: "clock skew tolerated on exp/nbf/iat (0-600)",
    },
    Var {
        name: "UIDGATE_ISSUER",
        default: None,
        help: "required iss",
    },
    Var {
        name: "UIDGATE_AUDIENCE",
        default: None,
        help: "comma-separated accepted aud values",
    },
    Var {
        name: "UIDGATE_MAX_TOKEN_BYTES",
        default: Some("8192"),
        help: "largest bearer token accepted (64-65536)",
    },
    Var {
        name: "UIDGATE_MAX_TOKEN_TTL_SECS",
        default: None,
        help: "refuse tokens whose exp lies further ahead (1-31536000)",
    },
    Var {
        name: "UIDGATE_JWKS_FILE",
        default: None,
        help: "JWKS document for EdDSA/ES256/RS256 tokens",
    },
    Var {
        name: "UIDGATE_JWKS_URL",
        default: None,
        help: "http(s) JWKS URL (Better Auth: /api/auth/jwks), fetched and refreshed",
    },
    Var {
        name: "UIDGATE_JWKS_REFRESH_SECS",
        default: Some("300"),
        help: "JWKS URL refresh interval (1-86400)",
    },
];

/// In the Envoy module's filter configuration, the key naming the Envoy cluster through which
/// the module fetches `UIDGATE_JWKS_URL`: the generator writes it, the module reads it.
pub const ENVOY_JWKS_CLUSTER_KEY: &str = "_jwks_cluster";

/// The default user-scoped template.
pub const DEFAULT_TEMPLATES: &str = "/api/{user_id}";
/// The default user id claims, tried in order.
pub const DEFAULT_UID_CLAIMS: &str = "uid,sub";
