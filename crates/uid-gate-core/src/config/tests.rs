//! Unit tests of the settings: defaults, every variable's rules, secrets, JWKS.

use super::secrets::BETTER_AUTH_DEFAULT_SECRET;
use super::*;

pub(super) const GOOD: &str = "0123456789abcdef0123456789abcdef";

pub(super) fn cfg(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

pub(super) fn err(vars: &[(&str, &str)]) -> String {
    match cfg(vars) {
        Ok(_) => panic!("expected an error for {vars:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults() {
    let c = cfg(&[("BETTER_AUTH_SECRET", GOOD)]).expect("config");
    assert_eq!(
        c.secrets.as_ref().expect("secrets").current.expose(),
        GOOD.as_bytes()
    );
    assert_eq!(
        c.path_templates
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>(),
        ["/api/{user_id}"]
    );
    assert!(c.public_paths.is_empty());
    assert!(c.auth_only_paths.is_empty());
    assert_eq!(c.unlisted_paths, Unlisted::Deny);
    assert!(c.warnings().is_empty());
    assert_eq!(c.uid_claims, ["uid", "sub"]);
    assert_eq!(c.leeway_secs, 30);
    assert_eq!(c.issuer, None);
    assert!(c.audiences.is_empty());
    assert_eq!(c.max_token_bytes, 8192);
    assert_eq!(c.secret_file, None);
    assert_eq!(c.max_token_ttl, None);
}

#[test]
fn everything_set() {
    let c = cfg(&[
        ("BETTER_AUTH_SECRET", GOOD),
        (
            "UIDGATE_PATH_TEMPLATES",
            "/api/{user_id}, /v2/users/{user_id}/files",
        ),
        ("UIDGATE_PUBLIC_PATHS", "/api/auth/,/healthz"),
        ("UIDGATE_UID_CLAIMS", "user_id"),
        ("UIDGATE_LEEWAY_SECS", "0"),
        ("UIDGATE_ISSUER", "https://app.example"),
        ("UIDGATE_AUDIENCE", "api,web"),
        ("UIDGATE_MAX_TOKEN_BYTES", "4096"),
    ])
    .expect("config");
    assert_eq!(c.path_templates.len(), 2);
    assert_eq!(
        c.public_paths
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>(),
        ["/api/auth/", "/healthz"]
    );
    assert_eq!(c.uid_claims, ["user_id"]);
    assert_eq!(c.leeway_secs, 0);
    assert_eq!(c.issuer.as_deref(), Some("https://app.example"));
    assert_eq!(c.audiences, ["api", "web"]);
    assert_eq!(c.max_token_bytes, 4096);
}

#[test]
fn secret_rules() {
    assert_eq!(err(&[]), "BETTER_AUTH_SECRET is required");
    assert_eq!(
        err(&[("BETTER_AUTH_SECRET", "")]),
        "BETTER_AUTH_SECRET: must not be empty"
    );
    let short = err(&[("BETTER_AUTH_SECRET", "short-secret")]);
    assert!(
        short.starts_with("BETTER_AUTH_SECRET: must be at least 32 bytes (got 12)"),
        "{short}"
    );
    assert!(
        !short.contains("short-secret"),
        "the secret must not be echoed"
    );
    assert!(err(&[("BETTER_AUTH_SECRET", BETTER_AUTH_DEFAULT_SECRET)]).contains("public default"));
    assert!(
        err(&[
            ("BETTER_AUTH_SECRET", GOOD),
            ("BETTER_AUTH_SECRET_FILE", "/x")
        ])
        .contains("only one of")
    );
    // 32 bytes of UTF-8, fewer characters: bytes are what count.
    let multibyte = "é".repeat(16);
    assert!(cfg(&[("BETTER_AUTH_SECRET", &multibyte)]).is_ok());
}

#[test]
fn secret_file_is_read_and_trimmed() {
    let dir = std::env::temp_dir().join(format!("uid-gate-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("secret");
    std::fs::write(&path, format!("{GOOD}\r\n")).expect("write");
    let c = cfg(&[("BETTER_AUTH_SECRET_FILE", path.to_str().expect("utf8"))]).expect("config");
    assert_eq!(
        c.secrets.as_ref().expect("secrets").current.expose(),
        GOOD.as_bytes()
    );
    std::fs::write(&path, "short\n").expect("write");
    assert!(
        err(&[("BETTER_AUTH_SECRET_FILE", path.to_str().expect("utf8"))])
            .starts_with("BETTER_AUTH_SECRET_FILE: must be at least")
    );
    let missing = err(&[("BETTER_AUTH_SECRET_FILE", "/nonexistent/uid-gate-secret")]);
    assert!(
        missing.starts_with("BETTER_AUTH_SECRET_FILE: cannot read /nonexistent/uid-gate-secret"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn several_secrets_for_rotation() {
    let new = "new-secret-new-secret-new-secret-1";
    let c = cfg(&[("BETTER_AUTH_SECRETS", &format!("2:{new},1:{GOOD}"))]).expect("config");
    assert_eq!(
        c.secrets.as_ref().expect("secrets").current.expose(),
        new.as_bytes()
    );
    assert_eq!(
        c.secrets
            .as_ref()
            .expect("secrets")
            .previous
            .iter()
            .map(|s| s.expose())
            .collect::<Vec<_>>(),
        [GOOD.as_bytes()]
    );
    // Bare secrets work too; a colon inside a secret is kept when no version precedes it.
    let colon = "abc:def-0123456789abcdef0123456789";
    let c = cfg(&[("BETTER_AUTH_SECRETS", &format!("{colon},{GOOD}"))]).expect("config");
    assert_eq!(
        c.secrets.as_ref().expect("secrets").current.expose(),
        colon.as_bytes()
    );
    assert!(
        err(&[("BETTER_AUTH_SECRETS", &format!("{GOOD},1:short"))])
            .starts_with("BETTER_AUTH_SECRETS: must be at least 32 bytes")
    );
    assert!(
        err(&[("BETTER_AUTH_SECRETS", GOOD), ("BETTER_AUTH_SECRET", GOOD)]).contains("only one of")
    );
}

#[test]
fn the_secret_file_may_hold_several_lines() {
    let dir = std::env::temp_dir().join(format!("uid-gate-config-lines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("secret");
    let new = "new-secret-new-secret-new-secret-1";
    std::fs::write(&path, format!("{new}\r\n\n{GOOD}\n")).expect("write");
    let c = cfg(&[("BETTER_AUTH_SECRET_FILE", path.to_str().expect("utf8"))]).expect("config");
    assert_eq!(c.secrets.as_ref().expect("secrets").iter().count(), 2);
    assert_eq!(
        c.secrets.as_ref().expect("secrets").current.expose(),
        new.as_bytes()
    );
    assert_eq!(c.secret_file.as_deref(), Some(path.as_path()));
    std::fs::write(&path, "\n\n").expect("write");
    assert!(
        err(&[("BETTER_AUTH_SECRET_FILE", path.to_str().expect("utf8"))])
            .contains("must not be empty")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_jwks_alone_needs_no_secret() {
    let c = cfg(&[("UIDGATE_JWKS_URL", "http://app:3000/api/auth/jwks")]).expect("config");
    assert!(c.secrets.is_none());
    assert_eq!(c.jwks_refresh, Duration::from_secs(300));
    assert_eq!(err(&[]), "BETTER_AUTH_SECRET is required");
    assert!(cfg(&[("UIDGATE_JWKS_URL", "https://app.example/api/auth/jwks")]).is_ok());
    assert!(
        err(&[("UIDGATE_JWKS_URL", "ftp://app/jwks")])
            .starts_with("UIDGATE_JWKS_URL: expected http(s)://")
    );
    assert!(
        err(&[
            ("UIDGATE_JWKS_URL", "http://a/j"),
            ("UIDGATE_JWKS_FILE", "/x")
        ])
        .contains("not both")
    );
    assert!(
        err(&[("UIDGATE_JWKS_FILE", "/nonexistent/jwks.json")])
            .starts_with("UIDGATE_JWKS_FILE: cannot read")
    );
}

#[test]
fn debug_redacts_the_secret() {
    let c = cfg(&[("BETTER_AUTH_SECRET", GOOD)]).expect("config");
    let dbg = format!("{c:?}");
    assert!(!dbg.contains(GOOD));
    assert!(dbg.contains("redacted"));
}

#[test]
fn bad_values_name_their_variable() {
    let s = ("BETTER_AUTH_SECRET", GOOD);
    for (var, value) in [
        ("UIDGATE_PATH_TEMPLATES", "/api/{uid}"),
        ("UIDGATE_PATH_TEMPLATES", ""),
        ("UIDGATE_PATH_TEMPLATES", "/api/{user_id},/api/{user_id}/"),
        ("UIDGATE_PUBLIC_PATHS", "/"),
        ("UIDGATE_PUBLIC_PATHS", "/a,,/b"),
        ("UIDGATE_UID_CLAIMS", "exp"),
        ("UIDGATE_UID_CLAIMS", "uid,uid"),
        ("UIDGATE_UID_CLAIMS", ""),
        ("UIDGATE_LEEWAY_SECS", "-1"),
        ("UIDGATE_LEEWAY_SECS", "abc"),
        ("UIDGATE_LEEWAY_SECS", "601"),
        ("UIDGATE_ISSUER", " "),
        ("UIDGATE_AUDIENCE", ""),
        ("UIDGATE_MAX_TOKEN_BYTES", "10"),
        ("UIDGATE_CASE_INSENSITIVE_PATHS", "maybe"),
        ("UIDGATE_JWKS_URL", "http://"),
        ("UIDGATE_JWKS_URL", "https://user@host/jwks"),
        ("UIDGATE_MAX_TOKEN_TTL_SECS", "0"),
    ] {
        let e = err(&[s, (var, value)]);
        assert!(
            e.starts_with(&format!("{var}:")),
            "{var}={value:?} gave {e:?}"
        );
    }
}

#[test]
fn case_insensitive_paths_is_opt_in() {
    assert!(
        !cfg(&[("BETTER_AUTH_SECRET", GOOD)])
            .expect("config")
            .case_insensitive_paths
    );
    for yes in ["true", "1", "YES"] {
        let c = cfg(&[
            ("BETTER_AUTH_SECRET", GOOD),
            ("UIDGATE_CASE_INSENSITIVE_PATHS", yes),
        ]);
        assert!(c.expect("config").case_insensitive_paths, "{yes}");
    }
}

#[test]
fn every_error_knows_its_variable() {
    let e = cfg(&[("BETTER_AUTH_SECRET", "short")]).expect_err("short");
    assert_eq!(e.var(), "BETTER_AUTH_SECRET");
    let e = cfg(&[
        ("BETTER_AUTH_SECRET", GOOD),
        ("UIDGATE_PATH_TEMPLATES", "x"),
    ])
    .expect_err("template");
    assert_eq!(e.var(), "UIDGATE_PATH_TEMPLATES");
    let names: Vec<&str> = VARS.iter().map(|v| v.name).collect();
    assert!(names.contains(&"UIDGATE_JWKS_URL") && names.contains(&"BETTER_AUTH_SECRET_FILE"));
}

#[test]
fn look_alike_names_in_another_case_are_ignored() {
    let c = cfg(&[("BETTER_AUTH_SECRET", GOOD), ("uidgate_leeway_secs", "abc")]).expect("config");
    assert_eq!(c.leeway_secs, 30);
}

/// A token naming a `kid` before the first JWKS fetch: an unknown key (and a refetch hint),
/// not an unsupported algorithm.
#[test]
fn a_jwks_url_starts_with_an_empty_key_set() {
    use crate::decision::{Decision, Denial, RequestView};
    use crate::verify::VerifyError;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let c = cfg(&[("UIDGATE_JWKS_URL", "https://app.example/api/auth/jwks")]).expect("config");
    let mut authorizer = c.authorizer();
    let misses = Arc::new(AtomicUsize::new(0));
    let counter = misses.clone();
    authorizer.set_unknown_kid_hook(Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let token = crate::mint::sign_raw(
        b"irrelevant",
        br#"{"alg":"EdDSA","kid":"k1"}"#,
        br#"{"sub":"alice","exp":4102444800}"#,
    )
    .expect("sign");
    let auth = format!("Bearer {token}");
    let values = [auth.as_bytes()];
    let decision = authorizer.decide(
        &RequestView {
            path: "/api/alice",
            authorization: &values,
            content_type: None,
            method: None,
        },
        1_800_000_000,
    );
    assert_eq!(
        decision,
        Decision::Deny(Denial::Token(VerifyError::UnknownKey))
    );
    assert_eq!(
        misses.load(Ordering::SeqCst),
        1,
        "the refetch hook was not called"
    );
}

#[test]
fn a_changed_secret_file_is_applied_and_a_bad_one_refused() {
    use crate::verify::{ClaimRules, Verifier, VerifyError};
    let dir = std::env::temp_dir().join(format!("uid-gate-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("secret");
    let new = "new-secret-new-secret-new-secret-1";
    std::fs::write(&path, format!("{GOOD}\n")).expect("write");
    let mut current = read_secret_file(&path).expect("secret");
    let rules = ClaimRules {
        uid_claims: vec!["uid".into()],
        leeway_secs: 0,
        issuer: None,
        audiences: vec![],
    };
    let verifier = Verifier::new(&[GOOD.as_bytes()], rules);
    let claims = serde_json::json!({"uid": "u", "exp": 4_102_444_800_u64});
    let signed_new = crate::mint::sign_claims(new.as_bytes(), &claims).expect("sign");
    let signed_old = crate::mint::sign_claims(GOOD.as_bytes(), &claims).expect("sign");
    assert!(matches!(
        reload_secret_file(&path, &verifier, &mut current),
        Reload::Unchanged
    ));
    std::fs::write(&path, format!("{new}\n{GOOD}\n")).expect("write");
    assert!(matches!(
        reload_secret_file(&path, &verifier, &mut current),
        Reload::Applied(2)
    ));
    assert_eq!(current.current.expose(), new.as_bytes());
    assert!(verifier.verify(&signed_new, 0).is_ok() && verifier.verify(&signed_old, 0).is_ok());
    std::fs::write(&path, "short\n").expect("write");
    assert!(matches!(
        reload_secret_file(&path, &verifier, &mut current),
        Reload::Refused(_)
    ));
    assert_eq!(
        current.current.expose(),
        new.as_bytes(),
        "the secrets in force stay"
    );
    assert!(verifier.verify(&signed_new, 0).is_ok());
    std::fs::write(&path, format!("{new}\n")).expect("write");
    assert!(matches!(
        reload_secret_file(&path, &verifier, &mut current),
        Reload::Applied(1)
    ));
    assert_eq!(
        verifier.verify(&signed_old, 0),
        Err(VerifyError::BadSignature)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_clock_reads_seconds_since_the_epoch() {
    let now = crate::unix_now();
    // After 2024 and before 2200: a real clock, in seconds.
    assert!((1_700_000_000..7_258_118_400).contains(&now), "{now}");
}
