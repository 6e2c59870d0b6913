//! The decision's order and outcomes, built from the variables as every host builds them.

use super::*;
use crate::config::Settings;
use crate::mint;
use serde_json::json;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_800_000_000;

/// The defaults, a public /api/auth and an authenticated-only /profile, built as every
/// host builds them: from the variables.
fn authorizer() -> Authorizer {
    let secret = std::str::from_utf8(SECRET).expect("utf8");
    let vars = [
        ("BETTER_AUTH_SECRET", secret),
        ("UIDGATE_PUBLIC_PATHS", "/api/auth"),
        ("UIDGATE_AUTH_ONLY_PATHS", "/profile"),
    ];
    Settings::from_vars(vars.map(|(k, v)| (k.to_owned(), v.to_owned())))
        .expect("settings")
        .authorizer()
}

fn bearer(uid: &str) -> String {
    let token = mint::sign_claims(SECRET, &json!({"uid": uid, "exp": NOW + 60})).expect("sign");
    format!("Bearer {token}")
}

fn decide(path: &str, auth: Option<&str>) -> Decision {
    let values: Vec<&[u8]> = auth.map(str::as_bytes).into_iter().collect();
    authorizer().decide(
        &RequestView {
            path,
            authorization: &values,
            content_type: None,
            method: None,
        },
        NOW,
    )
}

#[test]
fn owner_is_allowed_and_others_are_forbidden() {
    let a = bearer("user_A");
    assert_eq!(
        decide("/api/user_A/tasks", Some(&a)),
        Decision::Allow(Allow::Owner {
            user_id: "user_A".into()
        })
    );
    assert_eq!(
        decide("/api/user_B/tasks", Some(&a)),
        Decision::Deny(Denial::NotOwner)
    );
    assert_eq!(
        decide("/api/User_A/tasks", Some(&a)),
        Decision::Deny(Denial::NotOwner)
    );
    assert_eq!(
        decide("/api/%75ser_A/tasks", Some(&a)),
        Decision::Allow(Allow::Owner {
            user_id: "user_A".into()
        })
    );
    assert_eq!(
        decide("/api/user_A/tasks?user_id=user_B", Some(&a)),
        Decision::Allow(Allow::Owner {
            user_id: "user_A".into()
        })
    );
    assert_eq!(
        decide("/api/user_B?next=/api/user_A", Some(&a)),
        Decision::Deny(Denial::NotOwner)
    );
}

#[test]
fn authenticated_only_paths_need_only_a_valid_token() {
    assert_eq!(
        decide("/profile", Some(&bearer("u"))),
        Decision::Allow(Allow::Authenticated {
            user_id: "u".into()
        })
    );
    assert_eq!(
        decide("/profile", None),
        Decision::Deny(Denial::Credentials(ExtractError::Missing))
    );
}

#[test]
fn unlisted_paths_are_denied_after_the_token_unless_opted_out() {
    let u = bearer("u");
    assert_eq!(
        decide("/app/api/bob/tasks", Some(&u)),
        Decision::Deny(Denial::Unlisted)
    );
    assert_eq!(
        decide("/app/api/bob/tasks", None),
        Decision::Deny(Denial::Credentials(ExtractError::Missing))
    );
    assert_eq!(
        decide("/app/../x", Some(&u)),
        Decision::Deny(Denial::Path(PathError::DotSegment))
    );
    let mut open = authorizer();
    open.paths = open.paths.clone().with_unlisted(Unlisted::Authenticated);
    let values = [u.as_bytes()];
    let req = RequestView {
        path: "/app/api/bob/tasks",
        authorization: &values,
        content_type: None,
        method: None,
    };
    assert_eq!(
        open.decide(&req, NOW),
        Decision::Allow(Allow::Unlisted {
            user_id: "u".into()
        })
    );
    assert_eq!(
        open.decide_for_identity("/other", Some("u")),
        Decision::Allow(Allow::Unlisted {
            user_id: "u".into()
        })
    );
    assert_eq!(
        authorizer().decide_for_identity("/other", Some("u")),
        Decision::Deny(Denial::Unlisted)
    );
}

#[test]
fn public_paths_need_no_token_but_must_be_well_formed() {
    assert_eq!(
        decide("/api/auth/sign-in", None),
        Decision::Allow(Allow::Public)
    );
    assert_eq!(
        decide("/api/auth/sign-in", Some("Basic x")),
        Decision::Allow(Allow::Public)
    );
    assert_eq!(
        decide("/api/auth/../victim/tasks", None),
        Decision::Deny(Denial::Credentials(ExtractError::Missing))
    );
    assert_eq!(
        decide("/api/auth/../victim/tasks", Some(&bearer("u"))),
        Decision::Deny(Denial::Path(PathError::DotSegment))
    );
}

#[test]
fn token_problems_come_before_path_problems() {
    assert_eq!(
        decide("/api/user_A%2Fx", None),
        Decision::Deny(Denial::Credentials(ExtractError::Missing))
    );
    assert_eq!(
        decide("/api/user_A%2Fx", Some("Bearer a.b.c")),
        Decision::Deny(Denial::Token(VerifyError::MalformedHeader))
    );
    assert_eq!(
        decide("/api/user_A%2Fx", Some(&bearer("user_A"))),
        Decision::Deny(Denial::Path(PathError::EncodedSeparator))
    );
    assert_eq!(
        decide("", Some(&bearer("user_A"))),
        Decision::Deny(Denial::Path(PathError::NotOriginForm))
    );
}

#[test]
fn decide_user_needs_a_token_even_on_public_paths() {
    let a = bearer("u");
    let values = [a.as_bytes()];
    let gate = authorizer();
    let req = |path, authorization| RequestView {
        path,
        authorization,
        content_type: None,
        method: None,
    };
    assert_eq!(
        gate.decide_user(&req("/api/auth/session", &values), NOW),
        Decision::Allow(Allow::Authenticated {
            user_id: "u".into()
        })
    );
    assert_eq!(
        gate.decide_user(&req("/api/auth/session", &[]), NOW),
        Decision::Deny(Denial::Credentials(ExtractError::Missing))
    );
    assert_eq!(
        gate.decide_user(&req("/api/v/x", &values), NOW),
        Decision::Deny(Denial::NotOwner)
    );
    // The handler declares its route authenticated-only; templates still need the owner.
    assert_eq!(
        gate.decide_user(&req("/me", &values), NOW),
        Decision::Allow(Allow::Authenticated {
            user_id: "u".into()
        })
    );
    assert_eq!(
        gate.decide(&req("/me", &values), NOW),
        Decision::Deny(Denial::Unlisted)
    );
}

#[test]
fn a_trusted_identity_meets_the_same_path_rules() {
    let gate = authorizer();
    assert_eq!(
        gate.decide_for_identity("/api/alice/x", Some("alice")),
        Decision::Allow(Allow::Owner {
            user_id: "alice".into()
        })
    );
    assert_eq!(
        gate.decide_for_identity("/api/bob/x", Some("alice")),
        Decision::Deny(Denial::NotOwner)
    );
    assert_eq!(
        gate.decide_for_identity("/api/alice/x", None),
        Decision::Deny(Denial::Credentials(ExtractError::Missing))
    );
    assert_eq!(
        gate.decide_for_identity("/api/auth/x", None),
        Decision::Allow(Allow::Public)
    );
    assert_eq!(
        gate.decide_for_identity("/api/a/../b", Some("a")),
        Decision::Deny(Denial::Path(PathError::DotSegment))
    );
    assert_eq!(
        gate.decide_for_identity("/profile", Some("a")),
        Decision::Allow(Allow::Authenticated {
            user_id: "a".into()
        })
    );
}

/// Users, organizations, teams and an admin role, from the variables.
fn org_gate() -> Authorizer {
    let secret = std::str::from_utf8(SECRET).expect("utf8");
    let vars = [
        ("BETTER_AUTH_SECRET", secret),
        (
            "UIDGATE_PATH_TEMPLATES",
            "/api/{user_id},/api/orgs/{org_id},/api/orgs/{org_id}/members/{user_id},/api/teams/{team_id}",
        ),
        (
            "UIDGATE_SCOPE_CLAIMS",
            "org_id=activeOrganizationId,team_id=teams.id",
        ),
        ("UIDGATE_ADMIN_ROLES", "admin"),
    ];
    Settings::from_vars(vars.map(|(k, v)| (k.to_owned(), v.to_owned())))
        .expect("settings")
        .authorizer()
}

fn judge(
    gate: &Authorizer,
    method: Option<&str>,
    path: &str,
    claims: serde_json::Value,
) -> Decision {
    let mut claims = claims;
    claims["exp"] = json!(NOW + 60);
    let token = mint::sign_claims(SECRET, &claims).expect("sign");
    let auth = format!("Bearer {token}");
    let values = [auth.as_bytes()];
    gate.decide(
        &RequestView {
            path,
            authorization: &values,
            content_type: None,
            method,
        },
        NOW,
    )
}

#[test]
fn an_organization_path_needs_the_token_s_organization() {
    let gate = org_gate();
    let get = Some("GET");
    let member = |user: &str| {
        Decision::Allow(Allow::Member {
            user_id: user.into(),
        })
    };
    let alice = json!({"uid": "alice", "activeOrganizationId": "o1"});
    assert_eq!(
        judge(&gate, get, "/api/orgs/o1/tasks", alice.clone()),
        member("alice")
    );
    assert_eq!(
        judge(&gate, get, "/api/orgs/o%31", alice.clone()),
        member("alice")
    );
    assert_eq!(
        judge(&gate, get, "/api/orgs/o2/tasks", alice.clone()),
        Decision::Deny(Denial::NotMember)
    );
    // Both placeholders must match.
    assert_eq!(
        judge(&gate, get, "/api/orgs/o1/members/alice/x", alice.clone()),
        member("alice")
    );
    assert_eq!(
        judge(&gate, get, "/api/orgs/o1/members/bob", alice.clone()),
        Decision::Deny(Denial::NotOwner)
    );
    assert_eq!(
        judge(&gate, get, "/api/orgs/o2/members/alice", alice.clone()),
        Decision::Deny(Denial::NotMember)
    );
    // The user's own path is unchanged.
    assert_eq!(
        judge(&gate, get, "/api/alice/tasks", alice.clone()),
        Decision::Allow(Allow::Owner {
            user_id: "alice".into()
        })
    );
    for no_org in [
        json!({"uid": "alice"}),
        json!({"uid": "alice", "activeOrganizationId": null}),
        json!({"uid": "alice", "activeOrganizationId": []}),
    ] {
        assert_eq!(
            judge(&gate, get, "/api/orgs/o1", no_org),
            Decision::Deny(Denial::NoScope)
        );
    }
    assert_eq!(
        judge(
            &gate,
            get,
            "/api/orgs/o1",
            json!({"uid": "a", "activeOrganizationId": {"id": "o1"}})
        ),
        Decision::Deny(Denial::BadScopeClaim)
    );
    assert_eq!(
        judge(
            &gate,
            get,
            "/api/orgs/7",
            json!({"uid": "a", "activeOrganizationId": 7})
        ),
        member("a")
    );
    let teams = json!({"uid": "a", "teams": [{"id": "t1"}, {"id": "t2"}]});
    assert_eq!(
        judge(&gate, get, "/api/teams/t2/x", teams.clone()),
        member("a")
    );
    assert_eq!(
        judge(&gate, get, "/api/teams/t3", teams),
        Decision::Deny(Denial::NotMember)
    );
    // Token problems still come first.
    let values: [&[u8]; 0] = [];
    let bare = RequestView {
        path: "/api/orgs/o1",
        authorization: &values,
        content_type: None,
        method: get,
    };
    assert_eq!(
        gate.decide(&bare, NOW),
        Decision::Deny(Denial::Credentials(ExtractError::Missing))
    );
}

#[test]
fn an_admin_reads_any_templated_path_and_writes_none() {
    let gate = org_gate();
    let admin = json!({"uid": "root", "role": "user,admin"});
    let allowed = Decision::Allow(Allow::Admin {
        user_id: "root".into(),
    });
    for (method, path) in [
        ("GET", "/api/bob/tasks"),
        ("HEAD", "/api/bob/tasks"),
        ("GET", "/api/orgs/o9/tasks"),
        ("GET", "/api/orgs/o9/members/bob"),
        ("GET", "/api/teams/t1"),
    ] {
        assert_eq!(
            judge(&gate, Some(method), path, admin.clone()),
            allowed,
            "{method} {path}"
        );
    }
    assert_eq!(
        judge(&gate, Some("POST"), "/api/bob/tasks", admin.clone()),
        Decision::Deny(Denial::NotOwner)
    );
    assert_eq!(
        judge(&gate, Some("DELETE"), "/api/orgs/o9", admin.clone()),
        Decision::Deny(Denial::NoScope)
    );
    assert_eq!(
        judge(&gate, None, "/api/bob/tasks", admin.clone()),
        Decision::Deny(Denial::NotOwner),
        "a host that cannot tell the method gets no override"
    );
    assert_eq!(
        judge(&gate, Some("GET"), "/elsewhere", admin.clone()),
        Decision::Deny(Denial::Unlisted),
        "never an unlisted path"
    );
    // The admin's own path stays an owner's.
    assert_eq!(
        judge(&gate, Some("POST"), "/api/root/tasks", admin.clone()),
        Decision::Allow(Allow::Owner {
            user_id: "root".into()
        })
    );
    assert_eq!(
        judge(
            &gate,
            Some("GET"),
            "/api/bob",
            json!({"uid": "u", "role": "administrator"})
        ),
        Decision::Deny(Denial::NotOwner)
    );
    // No override unless UIDGATE_ADMIN_ROLES names a role.
    assert_eq!(
        judge(&authorizer(), Some("GET"), "/api/bob", admin),
        Decision::Deny(Denial::NotOwner)
    );
    assert!(gate.judges_method());
    assert!(!authorizer().judges_method());
}

#[test]
fn a_route_reads_the_placeholders_of_the_template_that_judged() {
    let gate = org_gate();
    let pairs = |p: &str| gate.placeholders(p);
    assert_eq!(
        pairs("/api/orgs/o%31/members/bob/x?y=1"),
        [
            ("org_id".to_owned(), "o1".to_owned()),
            ("user_id".to_owned(), "bob".to_owned())
        ]
    );
    assert_eq!(
        pairs("/api/orgs/o1/members"),
        [("org_id".to_owned(), "o1".to_owned())]
    );
    assert!(pairs("/elsewhere").is_empty());
    assert!(pairs("/api/orgs").is_empty());
}

#[test]
fn a_trusted_identity_carries_no_claims() {
    let gate = org_gate();
    assert_eq!(
        gate.decide_for_identity("/api/orgs/o1", Some("alice")),
        Decision::Deny(Denial::NoScope)
    );
    assert_eq!(
        gate.decide_for_identity("/api/alice", Some("alice")),
        Decision::Allow(Allow::Owner {
            user_id: "alice".into()
        })
    );
}
