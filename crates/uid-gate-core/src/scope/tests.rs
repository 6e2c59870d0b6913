//! The scope rules: bindings checked against templates at start-up, membership and the admin
//! override judged per token.

use serde_json::json;

use super::*;
use crate::config::{ConfigError, Settings};

fn settings(extra: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut vars = vec![("BETTER_AUTH_SECRET".to_owned(), "s".repeat(32))];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Settings::from_vars(vars)
}

fn refused(extra: &[(&str, &str)]) -> String {
    let e = settings(extra).expect_err("refused");
    e.to_string()
}

const ORG: (&str, &str) = (
    "UIDGATE_PATH_TEMPLATES",
    "/api/{user_id},/api/orgs/{org_id}",
);

#[test]
fn bindings_and_templates_must_fit_together() {
    let s = settings(&[
        ORG,
        ("UIDGATE_SCOPE_CLAIMS", "org_id = activeOrganizationId"),
    ])
    .expect("ok");
    assert_eq!(s.scope.bindings()[0].placeholder, "org_id");
    let bound = s.scope.binding("org_id").map(|b| b.path.as_str());
    assert_eq!(bound, Some("activeOrganizationId"));
    assert!(s.scope.binding("team_id").is_none());
    assert_eq!(s.scope.captured(), ["activeOrganizationId"]);
    assert_eq!(
        refused(&[ORG]),
        "UIDGATE_PATH_TEMPLATES: \"/api/orgs/{org_id}\" has {org_id}, which no claim is bound to: bind it in UIDGATE_SCOPE_CLAIMS (org_id=<claim path>, e.g. org_id=activeOrganizationId), or write {user_id}"
    );
    assert_eq!(
        refused(&[("UIDGATE_SCOPE_CLAIMS", "org_id=org")]),
        "UIDGATE_SCOPE_CLAIMS: org_id is bound, but no template in UIDGATE_PATH_TEMPLATES has {org_id}"
    );
    let cases = [
        ("org_id", "is not placeholder=claim.path"),
        ("org_id=a..b", "is not a claim path"),
        ("org_id=", "is not a claim path"),
        ("Org=x", "is not a placeholder name"),
        (
            "user_id=x",
            "{user_id} takes the user id from UIDGATE_UID_CLAIMS",
        ),
        ("org_id=a,org_id=b", "org_id is bound twice"),
        ("org_id=sub", "a registered or user id claim"),
        ("org_id=exp.x", "a registered or user id claim"),
        ("org_id=a,", "has an empty item"),
    ];
    for (value, want) in cases {
        let e = refused(&[ORG, ("UIDGATE_SCOPE_CLAIMS", value)]);
        assert!(
            e.starts_with("UIDGATE_SCOPE_CLAIMS: ") && e.contains(want),
            "{value}: {e}"
        );
    }
}

#[test]
fn admin_settings_are_checked_and_off_by_default() {
    assert_eq!(settings(&[]).expect("ok").scope.admin(), None);
    assert_eq!(
        settings(&[("UIDGATE_ADMIN_ROLES", "")])
            .expect("ok")
            .scope
            .admin(),
        None
    );
    let s = settings(&[("UIDGATE_ADMIN_ROLES", "admin, support")]).expect("ok");
    let admin = s.scope.admin().expect("admin");
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let writes = settings(&[
        ("UIDGATE_ADMIN_ROLES", "admin"),
        ("UIDGATE_ADMIN_METHODS", "GET,POST,OPTIONS,DELETE"),
    ])
    .expect("ok");
    assert_eq!(
        writes.warnings(),
        [
            "UIDGATE_ADMIN_METHODS has POST, DELETE: tokens with an admin role may change any user's and organization's data, not only read it"
        ]
    );
    assert_eq!(admin.roles, ["admin", "support"]);
    assert_eq!(admin.methods, ["GET", "HEAD"]);
    assert_eq!(admin.role_claims[0].as_str(), "role");
    assert_eq!(s.scope.captured(), ["role"]);
    let e = refused(&[
        ("UIDGATE_ADMIN_ROLES", "admin"),
        ("UIDGATE_ADMIN_METHODS", "get"),
    ]);
    assert!(
        e.starts_with("UIDGATE_ADMIN_METHODS: \"get\" is not a method"),
        "{e}"
    );
    let e = refused(&[("UIDGATE_ROLE_CLAIMS", "uid")]);
    assert!(e.starts_with("UIDGATE_ROLE_CLAIMS: "), "{e}");
    let e = refused(&[("UIDGATE_ROLE_CLAIMS", "a b")]);
    assert!(e.contains("is not a claim path"), "{e}");
}

fn rules() -> ScopeRules {
    ScopeRules::new(
        vec![
            ("org_id".into(), ClaimPath::parse("org").expect("p")),
            ("team_id".into(), ClaimPath::parse("teams.id").expect("p")),
        ],
        Some((
            vec!["admin".into(), "ops".into()],
            vec![
                ClaimPath::parse("role").expect("p"),
                ClaimPath::parse("roles").expect("p"),
            ],
            vec!["GET".into(), "HEAD".into()],
        )),
    )
}

/// The kept claims of `token`, in slot order.
fn kept(r: &ScopeRules, token: serde_json::Value) -> Vec<Option<serde_json::Value>> {
    r.captured().iter().map(|c| token.get(c).cloned()).collect()
}

#[test]
fn claims_share_slots_and_each_placeholder_reads_its_own() {
    let r = rules();
    assert_eq!(r.captured(), ["org", "teams", "role", "roles"]);
    let claims = kept(&r, json!({"org": "o1", "teams": [{"id": "t1"}, {"id": 7}]}));
    assert_eq!(r.check("org_id", &claims, b"o1"), Ok(()));
    assert_eq!(r.check("org_id", &claims, b"o2"), Err(ScopeMiss::NotMember));
    assert_eq!(r.check("org_id", &claims, b"t1"), Err(ScopeMiss::NotMember));
    assert_eq!(r.check("team_id", &claims, b"t1"), Ok(()));
    assert_eq!(r.check("team_id", &claims, b"7"), Ok(()));
    assert_eq!(
        r.check("team_id", &claims, b"o1"),
        Err(ScopeMiss::NotMember)
    );
    assert_eq!(r.check("other", &claims, b"o1"), Err(ScopeMiss::NoValue));
    let none = kept(&r, json!({"org": null, "teams": []}));
    assert_eq!(r.check("org_id", &none, b"o1"), Err(ScopeMiss::NoValue));
    assert_eq!(r.check("team_id", &none, b"t1"), Err(ScopeMiss::NoValue));
    assert_eq!(r.check("org_id", &[], b"o1"), Err(ScopeMiss::NoValue));
    let odd = kept(&r, json!({"org": {"id": "o1"}}));
    assert_eq!(r.check("org_id", &odd, b"o1"), Err(ScopeMiss::WrongType));
    // Exact bytes: no case folding, no trimming.
    let claims = kept(&r, json!({"org": "Org1"}));
    assert_eq!(
        r.check("org_id", &claims, b"org1"),
        Err(ScopeMiss::NotMember)
    );
    assert_eq!(
        r.check("org_id", &claims, b"Org1 "),
        Err(ScopeMiss::NotMember)
    );
}

#[test]
fn the_admin_override_needs_a_whole_role_and_a_listed_method() {
    let r = rules();
    let may =
        |token: serde_json::Value, method: Option<&str>| r.admin_may(&kept(&r, token), method);
    assert!(may(json!({"role": "admin"}), Some("GET")));
    assert!(may(json!({"role": "user, admin"}), Some("HEAD")));
    assert!(may(json!({"role": ["user", "ops"]}), Some("GET")));
    assert!(!may(json!({"role": "admin"}), Some("POST")));
    assert!(!may(json!({"role": "admin"}), Some("get")));
    assert!(!may(json!({"role": "admin"}), None));
    assert!(!may(json!({"role": "superadmin"}), Some("GET")));
    assert!(!may(json!({"role": "admins,user"}), Some("GET")));
    assert!(!may(json!({"role": {"admin": true}}), Some("GET")));
    assert!(!may(json!({}), Some("GET")));
    // The first role claim present decides.
    assert!(may(json!({"roles": "admin"}), Some("GET")));
    assert!(!may(json!({"role": "user", "roles": "admin"}), Some("GET")));
    assert!(!may(json!({"role": null, "roles": "admin"}), Some("GET")));
    let off = ScopeRules::new(vec![], None);
    assert!(!off.admin_may(&[Some(json!("admin"))], Some("GET")));
}
