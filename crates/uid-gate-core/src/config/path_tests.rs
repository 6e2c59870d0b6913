//! Unit tests of the path settings (authenticated-only prefixes, the unlisted rule, prefixes
//! that cover a template), blank secrets, and the variables rendered back from settings.

use super::tests::{GOOD, cfg, err};
use super::*;

#[test]
fn authenticated_only_prefixes_and_the_unlisted_rule() {
    let c = cfg(&[
        ("BETTER_AUTH_SECRET", GOOD),
        ("UIDGATE_AUTH_ONLY_PATHS", "/profile, /api/me/"),
        ("UIDGATE_UNLISTED_PATHS", "authenticated"),
    ])
    .expect("config");
    let prefixes: Vec<&str> = c.auth_only_paths.iter().map(|p| p.as_str()).collect();
    assert_eq!(prefixes, ["/profile", "/api/me/"]);
    assert_eq!(c.unlisted_paths, Unlisted::Authenticated);
    assert_eq!(c.path_policy().unlisted(), Unlisted::Authenticated);
    assert_eq!(c.path_policy().auth_only_prefixes().len(), 2);
    let w = c.warnings();
    assert!(
        w.len() == 1 && w[0].contains("UIDGATE_UNLISTED_PATHS=authenticated"),
        "{w:?}"
    );
    let bad = err(&[
        ("BETTER_AUTH_SECRET", GOOD),
        ("UIDGATE_UNLISTED_PATHS", "allow"),
    ]);
    assert_eq!(
        bad,
        "UIDGATE_UNLISTED_PATHS: expected deny or authenticated, got \"allow\""
    );
    let root = err(&[
        ("BETTER_AUTH_SECRET", GOOD),
        ("UIDGATE_AUTH_ONLY_PATHS", "/"),
    ]);
    assert_eq!(root, "UIDGATE_AUTH_ONLY_PATHS: '/' would cover every path");
}

#[test]
fn a_prefix_that_covers_a_template_is_refused() {
    let e = err(&[
        ("BETTER_AUTH_SECRET", GOOD),
        ("UIDGATE_PUBLIC_PATHS", "/api/auth,/api/"),
    ]);
    assert!(
        e.starts_with("UIDGATE_PUBLIC_PATHS: \"/api/\" covers the template \"/api/{user_id}\" (UIDGATE_PATH_TEMPLATES): every user's path under it would be public"),
        "{e}"
    );
    let e = err(&[
        ("BETTER_AUTH_SECRET", GOOD),
        ("UIDGATE_PATH_TEMPLATES", "/v1/users/{user_id}/files"),
        ("UIDGATE_AUTH_ONLY_PATHS", "/v1"),
    ]);
    assert!(
        e.starts_with(
            "UIDGATE_AUTH_ONLY_PATHS: \"/v1\" covers the template \"/v1/users/{user_id}/files\""
        ),
        "{e}"
    );
    // Case matters only when paths are matched ignoring it.
    let vars = |ci: &str| {
        cfg(&[
            ("BETTER_AUTH_SECRET", GOOD),
            ("UIDGATE_PUBLIC_PATHS", "/API"),
            ("UIDGATE_CASE_INSENSITIVE_PATHS", ci),
        ])
    };
    assert!(vars("false").is_ok());
    assert!(vars("true").is_err());
    // A narrower prefix takes one user id out of the template: allowed (Better Auth's routes).
    assert!(
        cfg(&[
            ("BETTER_AUTH_SECRET", GOOD),
            ("UIDGATE_PUBLIC_PATHS", "/api/auth")
        ])
        .is_ok()
    );
}

#[test]
fn a_secret_of_white_space_is_refused() {
    let blank = " \t".repeat(20);
    for var in ["BETTER_AUTH_SECRET", "BETTER_AUTH_SECRETS"] {
        let e = err(&[(var, &blank)]);
        assert_eq!(
            e,
            format!("{var}: is only white space; generate one with `openssl rand -base64 32`")
        );
    }
}

#[test]
fn the_non_secret_variables_give_the_same_settings_again() {
    let vars = [
        ("BETTER_AUTH_SECRET", GOOD),
        (
            "UIDGATE_PATH_TEMPLATES",
            "/api/{user_id},/v2/users/{user_id}/files",
        ),
        ("UIDGATE_PUBLIC_PATHS", "/api/auth,/healthz"),
        ("UIDGATE_AUTH_ONLY_PATHS", "/me"),
        ("UIDGATE_UNLISTED_PATHS", "authenticated"),
        ("UIDGATE_CASE_INSENSITIVE_PATHS", "true"),
        ("UIDGATE_UID_CLAIMS", "user_id,sub"),
        ("UIDGATE_LEEWAY_SECS", "7"),
        ("UIDGATE_ISSUER", "https://app.example"),
        ("UIDGATE_AUDIENCE", "a,b"),
        ("UIDGATE_MAX_TOKEN_BYTES", "4096"),
        ("UIDGATE_MAX_TOKEN_TTL_SECS", "900"),
    ];
    let a = cfg(&vars).expect("config");
    let rendered = a.non_secret_vars();
    assert!(rendered.iter().all(|(k, _)| !k.starts_with("BETTER_AUTH")));
    // What is rendered into a generated config is declared, and never a secret.
    for (k, _) in &rendered {
        let var = VARS.iter().find(|v| v.name == *k).expect("declared");
        assert_ne!(var.kind, Kind::Secret, "{k}");
    }
    let mut again: Vec<(String, String)> = rendered
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    again.push(("BETTER_AUTH_SECRET".into(), GOOD.into()));
    let b = Settings::from_vars(again).expect("again");
    assert_eq!(
        format!("{:?}", a.path_policy()),
        format!("{:?}", b.path_policy())
    );
    assert_eq!(
        (
            &a.uid_claims,
            a.leeway_secs,
            &a.issuer,
            &a.audiences,
            a.max_token_bytes,
            a.max_token_ttl
        ),
        (
            &b.uid_claims,
            b.leeway_secs,
            &b.issuer,
            &b.audiences,
            b.max_token_bytes,
            b.max_token_ttl
        )
    );
    // The defaults render too, and give the defaults back.
    let d = cfg(&[("BETTER_AUTH_SECRET", GOOD)])
        .expect("config")
        .non_secret_vars();
    assert!(
        d.contains(&("UIDGATE_UNLISTED_PATHS", "deny".to_owned())),
        "{d:?}"
    );
    assert!(!d.iter().any(|(k, _)| *k == "UIDGATE_ISSUER"), "{d:?}");
}

#[test]
fn a_missing_secret_names_a_look_alike_that_is_set() {
    assert_eq!(
        err(&[("BETTER_AUTH_SECERT", GOOD)]),
        "BETTER_AUTH_SECRET is required (BETTER_AUTH_SECERT is set: a typo?)"
    );
    assert_eq!(
        err(&[("UIDGATE_LEEWAY_SECS", "3")]),
        "BETTER_AUTH_SECRET is required"
    );
    // Only a look-alike counts: an unrelated variable of the environment names nothing.
    assert_eq!(
        err(&[("PATH", "/usr/bin")]),
        "BETTER_AUTH_SECRET is required"
    );
}
