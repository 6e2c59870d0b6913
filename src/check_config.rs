//! What `uid-gate check-config` prints: the effective settings (secrets as counts and lengths
//! only) and which path rule judges each sample path.

use std::fmt::Write as _;

use uid_gate_core::path_policy::{PathClass, Rule, TemplateSegment, Unlisted};
use uid_gate_core::scope::ScopeRules;

use crate::config::Config;

const SAMPLE_PATHS: &[&str] = &[
    "/api/alice/tasks",
    "/api/health",
    "/api/auth/session",
    "/healthz",
    "/docs",
    "/app/api/alice/tasks",
];

/// The human summary `check-config` prints: effective settings, secrets as counts and
/// lengths only, and how each sample path is judged.
pub fn summary(config: &Config, extra_paths: &[String]) -> String {
    let p = &config.policy;
    let mut out = String::from("configuration ok\n");
    let list = |items: Vec<&str>| {
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            items.join(", ")
        }
    };
    let bindings: Vec<String> = p
        .scope
        .bindings()
        .iter()
        .map(|b| format!("{{{}}} = {}", b.placeholder, b.path.as_str()))
        .collect();
    let secrets = match &p.secrets {
        None => "none (JWKS only)".to_owned(),
        Some(set) => {
            let lens: Vec<String> = set.iter().map(|s| s.expose().len().to_string()).collect();
            let source = if p.secret_file.is_some() {
                " from BETTER_AUTH_SECRET_FILE"
            } else {
                ""
            };
            format!(
                "{} HS256 secret(s){source}, current first, lengths {} bytes (values redacted)",
                lens.len(),
                lens.join("/")
            )
        }
    };
    let jwks = match (&p.jwks_url, &p.jwks_json) {
        (Some(url), _) => format!("{url} (refreshed every {}s)", p.jwks_refresh.as_secs()),
        (None, Some(_)) => "from UIDGATE_JWKS_FILE".to_owned(),
        _ => "(none)".to_owned(),
    };
    // One row per declared variable, derived from the declarations: a new variable is listed
    // with no edit here. The rows after it say what variables mean together.
    out.push_str("variables (as set, else the declared default):\n");
    let width = config.shown.iter().map(|(n, _)| n.len()).max().unwrap_or(0) + 2;
    for (name, shown) in &config.shown {
        let _ = writeln!(out, "  {name:<width$}{shown}");
    }
    let rows = [
        ("secrets", secrets),
        ("jwks", jwks),
        (
            "scope claims",
            list(bindings.iter().map(String::as_str).collect()),
        ),
        (
            "admin override",
            p.scope.admin().map_or("(none)".into(), |a| {
                let claims: Vec<&str> = a.role_claims.iter().map(|c| c.as_str()).collect();
                format!(
                    "roles {} (from {}) may {} any templated path",
                    a.roles.join(", "),
                    claims.join(", then "),
                    a.methods.join(", ")
                )
            }),
        ),
        (
            "HTTP mode",
            config.http_addr.map_or("off".into(), |a| {
                format!(
                    "{a} (URI from {})",
                    config
                        .http_uri_header
                        .as_deref()
                        .unwrap_or("the request line")
                )
            }),
        ),
    ];
    out.push_str("in effect:\n");
    for (k, v) in rows {
        let _ = writeln!(out, "  {k:<20}{v}");
    }
    out.push_str("how paths are judged:\n");
    let policy = p.path_policy();
    for path in SAMPLE_PATHS
        .iter()
        .copied()
        .chain(extra_paths.iter().map(String::as_str))
    {
        let verdict = match policy.rule_for(path) {
            Ok((PathClass::Public, rule)) => format!("public: no token needed ({rule})"),
            Ok((PathClass::AuthOnly, rule)) => format!("any valid token ({rule})"),
            Ok((PathClass::Scoped { values }, rule)) => {
                scoped(&values, rule, &p.scope, &p.uid_claims)
            }
            Ok((PathClass::Unlisted, _)) if policy.unlisted() == Unlisted::Authenticated => {
                "any valid token (no rule; UIDGATE_UNLISTED_PATHS=authenticated)".to_owned()
            }
            Ok((PathClass::Unlisted, _)) => {
                "refused with 403 unlisted_path (no rule covers it)".to_owned()
            }
            Err(e) => format!("refused with 400: {e}"),
        };
        let _ = writeln!(out, "  {path:<22}{verdict}");
    }
    for t in policy.templates() {
        let prefixes = [
            ("public", policy.public_prefixes()),
            ("authenticated-only", policy.auth_only_prefixes()),
        ];
        for (kind, list) in prefixes {
            for prefix in list {
                if let Some(user) = prefix.shadowed_user(t, policy.ignores_case()) {
                    let _ = writeln!(
                        out,
                        "  note: the {kind} prefix {} takes the user id {user:?} out of {}: that user's paths follow the prefix",
                        prefix.as_str(),
                        t.as_str()
                    );
                }
            }
        }
    }
    out.push_str(
        "  (a route like /api/health under /api/{user_id} is read as user \"health\": list it in\n   UIDGATE_PUBLIC_PATHS or UIDGATE_AUTH_ONLY_PATHS, or move it out of the template's prefix;\n   behind a proxy that rewrites paths, templates and prefixes name the path the client sends)\n",
    );
    out
}

/// Which claims decide a scoped path: each placeholder's segment and what it must equal.
fn scoped(
    values: &[std::borrow::Cow<'_, [u8]>],
    rule: Rule<'_>,
    scope: &ScopeRules,
    uid_claims: &[String],
) -> String {
    let Rule::Template(t) = rule else {
        return format!("scoped ({rule})");
    };
    let placeholders = t.segments().iter().filter(|s| s.placeholder().is_some());
    let mut parts = Vec::new();
    for (segment, value) in placeholders.zip(values) {
        let value = String::from_utf8_lossy(value);
        match segment {
            TemplateSegment::Scope(name) => {
                let claim = scope.binding(name).map_or("(unbound)", |b| b.path.as_str());
                parts.push(format!(
                    "{{{name}}} {value:?} must be in the token's {claim}"
                ));
            }
            _ => parts.push(format!(
                "{{user_id}} {value:?} must be the token's user id ({})",
                uid_claims.join(", then ")
            )),
        }
    }
    let admin = scope.admin().map_or(String::new(), |a| {
        format!(
            "; or roles {} with {}",
            a.roles.join(", "),
            a.methods.join(", ")
        )
    });
    if !t.has_scope() && values.len() == 1 {
        let user = String::from_utf8_lossy(&values[0]);
        return format!("user-scoped: only user {user:?} may pass ({rule}){admin}");
    }
    format!("scoped: {} ({rule}){admin}", parts.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_redacts_secrets_and_explains_sample_paths() {
        let secret = "0123456789abcdef0123456789abcdef";
        let config = Config::from_vars([
            ("BETTER_AUTH_SECRET".to_owned(), secret.to_owned()),
            ("UIDGATE_PUBLIC_PATHS".to_owned(), "/api/auth".to_owned()),
        ])
        .expect("config");
        let s = summary(&config, &["/api/bob/../x".to_owned()]);
        assert!(!s.contains(secret), "{s}");
        assert!(
            s.contains("1 HS256 secret(s), current first, lengths 32 bytes"),
            "{s}"
        );
        let judged = |path: &str, verdict: &str| {
            s.lines().any(|l| {
                l.trim_start()
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.trim_start().starts_with(verdict))
            })
        };
        assert!(
            judged(
                "/api/health",
                "user-scoped: only user \"health\" may pass (template /api/{user_id})"
            ),
            "{s}"
        );
        assert!(
            judged(
                "/api/auth/session",
                "public: no token needed (public prefix /api/auth)"
            ),
            "{s}"
        );
        assert!(judged("/docs", "refused with 403 unlisted_path"), "{s}");
        assert!(
            s.contains(
                "note: the public prefix /api/auth takes the user id \"auth\" out of /api/{user_id}"
            ),
            "{s}"
        );
        assert!(
            judged(
                "/api/bob/../x",
                "refused with 400: path contains a dot segment"
            ),
            "{s}"
        );
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    /// Issue #32, item 3: every declared variable has its row, with no list written here.
    #[test]
    fn the_summary_lists_every_declared_variable_with_its_value_in_effect() {
        let secret = "0123456789abcdef0123456789abcdef";
        let config = Config::from_vars([
            ("BETTER_AUTH_SECRET".to_owned(), secret.to_owned()),
            (
                "UIDGATE_ISSUER".to_owned(),
                "https://auth.example".to_owned(),
            ),
            ("UIDGATE_LOG_FORMAT".to_owned(), "text".to_owned()),
        ])
        .expect("config");
        let s = summary(&config, &[]);
        assert!(!s.contains(secret), "{s}");
        let row = |name: &str| {
            s.lines()
                .find_map(|l| l.trim_start().strip_prefix(name)?.strip_prefix(' '))
                .map(str::trim)
                .unwrap_or_else(|| panic!("no row for {name}:\n{s}"))
                .to_owned()
        };
        for v in crate::config::all_vars() {
            let want = match v.name {
                "BETTER_AUTH_SECRET" => "set (redacted)".to_owned(),
                "UIDGATE_ISSUER" => "https://auth.example".to_owned(),
                "UIDGATE_LOG_FORMAT" => "text".to_owned(),
                _ => v
                    .default
                    .map_or("(unset)".to_owned(), |d| format!("{d} (default)")),
            };
            assert_eq!(row(v.name), want, "{}", v.name);
        }
    }

    #[test]
    fn the_summary_shows_bindings_and_which_claims_decide() {
        let config = Config::from_vars([
            ("BETTER_AUTH_SECRET".to_owned(), "s".repeat(32)),
            (
                "UIDGATE_PATH_TEMPLATES".to_owned(),
                "/api/{user_id},/api/orgs/{org_id},/t/{team_id}/u/{user_id}".to_owned(),
            ),
            (
                "UIDGATE_SCOPE_CLAIMS".to_owned(),
                "org_id=activeOrganizationId,team_id=teams.id".to_owned(),
            ),
            ("UIDGATE_ADMIN_ROLES".to_owned(), "admin".to_owned()),
        ])
        .expect("config");
        let s = summary(
            &config,
            &["/api/orgs/o1/tasks".to_owned(), "/t/t1/u/bob".to_owned()],
        );
        for want in [
            "scope claims        {org_id} = activeOrganizationId, {team_id} = teams.id",
            "admin override      roles admin (from role) may GET, HEAD any templated path",
            "/api/orgs/o1/tasks    scoped: {org_id} \"o1\" must be in the token's activeOrganizationId (template /api/orgs/{org_id}); or roles admin with GET, HEAD",
            "/t/t1/u/bob           scoped: {team_id} \"t1\" must be in the token's teams.id and {user_id} \"bob\" must be the token's user id (uid, then sub)",
        ] {
            assert!(s.contains(want), "{want}\n{s}");
        }
    }

    #[test]
    fn the_summary_names_authenticated_only_prefixes_and_the_unlisted_opt_out() {
        let vars = |unlisted: &str| {
            Config::from_vars([
                ("BETTER_AUTH_SECRET".to_owned(), "s".repeat(32)),
                ("UIDGATE_AUTH_ONLY_PATHS".to_owned(), "/docs".to_owned()),
                ("UIDGATE_UNLISTED_PATHS".to_owned(), unlisted.to_owned()),
            ])
            .expect("config")
        };
        let closed = vars("deny");
        let s = summary(&closed, &[]);
        assert!(
            s.contains("/docs                 any valid token (authenticated-only prefix /docs)"),
            "{s}"
        );
        assert!(
            s.contains("/app/api/alice/tasks  refused with 403 unlisted_path"),
            "{s}"
        );
        assert!(closed.warnings.is_empty(), "{:?}", closed.warnings);
        let open = vars("authenticated");
        let s = summary(&open, &[]);
        assert!(
            s.contains("/app/api/alice/tasks  any valid token (no rule; UIDGATE_UNLISTED_PATHS=authenticated)"),
            "{s}"
        );
        assert!(
            open.warnings
                .iter()
                .any(|w| w
                    .starts_with("UIDGATE_UNLISTED_PATHS=authenticated: a path that no template")),
            "{:?}",
            open.warnings
        );
    }
}
