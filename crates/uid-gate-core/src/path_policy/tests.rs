//! Unit tests of the path policy: safety rules, templates, public prefixes.

use super::*;

fn policy(templates: &[&str], public: &[&str]) -> PathPolicy {
    PathPolicy::new(
        templates
            .iter()
            .map(|t| PathTemplate::parse(t).expect("template"))
            .collect(),
        public
            .iter()
            .map(|p| PathPrefix::parse(p).expect("prefix"))
            .collect(),
    )
}

fn scoped(id: &str) -> Result<PathClass<'static>, PathError> {
    Ok(PathClass::Scoped {
        values: smallvec::smallvec![Cow::Owned(id.as_bytes().to_vec())],
    })
}

#[test]
fn scoped_paths_yield_the_user_segment() {
    let p = policy(&["/api/{user_id}"], &[]);
    assert_eq!(p.classify("/api/user_A/tasks"), scoped("user_A"));
    assert_eq!(p.classify("/api/user_A"), scoped("user_A"));
    assert_eq!(p.classify("/api/user_A/"), scoped("user_A"));
    assert_eq!(p.classify("/api/user_A/tasks/"), scoped("user_A"));
    assert_eq!(
        p.classify("/api/user_A/tasks?user_id=user_B"),
        scoped("user_A")
    );
    assert_eq!(
        p.classify("/api/user_A?next=/api/user_B/tasks"),
        scoped("user_A")
    );
}

#[test]
fn the_user_segment_is_percent_decoded_once() {
    let p = policy(&["/api/{user_id}"], &[]);
    assert_eq!(p.classify("/api/%75ser_A/tasks"), scoped("user_A"));
    assert_eq!(p.classify("/api/a%2541/x"), scoped("a%41"));
    assert_eq!(p.classify("/api/%C3%A9/x"), scoped("é"));
}

#[test]
fn other_paths_are_unlisted_and_prefix_match_is_case_sensitive() {
    let p = policy(&["/api/{user_id}"], &[]);
    assert_eq!(p.classify("/"), Ok(PathClass::Unlisted));
    assert_eq!(p.classify("/other/user_A"), Ok(PathClass::Unlisted));
    assert_eq!(p.classify("/API/user_A/tasks"), Ok(PathClass::Unlisted));
    assert_eq!(p.classify("/apix/user_A"), Ok(PathClass::Unlisted));
}

#[test]
fn the_bare_scoped_prefix_names_no_user() {
    let p = policy(&["/api/{user_id}"], &[]);
    assert_eq!(p.classify("/api"), Err(PathError::MissingUserSegment));
    assert_eq!(p.classify("/api/"), Err(PathError::MissingUserSegment));
    assert_eq!(p.classify("/api?x=1"), Err(PathError::MissingUserSegment));
}

#[test]
fn public_prefixes_are_segment_aligned() {
    let p = policy(&["/api/{user_id}"], &["/api/auth/", "/healthz"]);
    assert_eq!(p.classify("/api/auth"), Ok(PathClass::Public));
    assert_eq!(p.classify("/api/auth/get-session"), Ok(PathClass::Public));
    assert_eq!(p.classify("/healthz?full=1"), Ok(PathClass::Public));
    assert_eq!(p.classify("/api/authx/tasks"), scoped("authx"));
    assert_eq!(p.classify("/healthzz"), Ok(PathClass::Unlisted));
}

#[test]
fn a_malformed_path_is_never_public() {
    let p = policy(&["/api/{user_id}"], &["/public"]);
    assert_eq!(
        p.classify("/public/../api/victim"),
        Err(PathError::DotSegment)
    );
    assert_eq!(
        p.classify("/public/%2e%2e/api/victim"),
        Err(PathError::EncodedDot)
    );
    assert_eq!(
        p.classify("/public;x/../api"),
        Err(PathError::PathParameter)
    );
}

#[test]
fn unsafe_paths_are_refused() {
    let p = policy(&["/api/{user_id}"], &[]);
    let cases: &[(&str, PathError)] = &[
        ("", PathError::NotOriginForm),
        ("*", PathError::NotOriginForm),
        ("http://evil/api/x", PathError::NotOriginForm),
        ("example.com:443", PathError::NotOriginForm),
        ("?/api/x", PathError::NotOriginForm),
        ("/api/user_B/../user_A/tasks", PathError::DotSegment),
        ("/api/user_A/../user_B/tasks", PathError::DotSegment),
        ("/api/./user_A", PathError::DotSegment),
        ("/api/user_A/.", PathError::DotSegment),
        ("//api/user_B/tasks", PathError::EmptySegment),
        ("/api//user_B/tasks", PathError::EmptySegment),
        ("/api/user_A//", PathError::EmptySegment),
        ("//", PathError::EmptySegment),
        (
            "/api/user_A%2F..%2Fuser_B/tasks",
            PathError::EncodedSeparator,
        ),
        (
            "/api/user_A%2f..%2fuser_B/tasks",
            PathError::EncodedSeparator,
        ),
        (
            "/api/user_A%5C..%5Cuser_B/tasks",
            PathError::EncodedSeparator,
        ),
        ("/api/user_A%5c/x", PathError::EncodedSeparator),
        ("/api/%2e%2e/user_B", PathError::EncodedDot),
        ("/api/%2E/x", PathError::EncodedDot),
        ("/api/user_A\\..\\user_B/tasks", PathError::Backslash),
        ("/api/user_A;jsessionid=x/tasks", PathError::PathParameter),
        ("/api/..;/user_B/tasks", PathError::PathParameter),
        ("/api/user_A/tasks#frag", PathError::Fragment),
        ("/api/user_A\u{0}/x", PathError::ControlByte),
        ("/api/user_A%00/x", PathError::ControlByte),
        ("/api/user_A%0a/x", PathError::ControlByte),
        ("/api/user_A%7F", PathError::ControlByte),
        ("/api/user_A\t/x", PathError::ControlByte),
        ("/api/ｕser_A/x", PathError::NonAscii),
        ("/api/user_A%", PathError::BadPercentEncoding),
        ("/api/user_A%4", PathError::BadPercentEncoding),
        ("/api/user_A%zz", PathError::BadPercentEncoding),
    ];
    for (path, want) in cases {
        assert_eq!(p.classify(path), Err(*want), "path {path:?}");
    }
}

#[test]
fn the_most_specific_template_wins() {
    let p = policy(&["/api/{user_id}", "/api/v2/users/{user_id}"], &[]);
    assert_eq!(p.classify("/api/v2/users/u1/files"), scoped("u1"));
    assert_eq!(p.classify("/api/v2/other"), scoped("v2"));
    assert_eq!(p.classify("/api/u1"), scoped("u1"));
}

#[test]
fn fixed_segments_after_the_user_id_must_match() {
    let p = policy(&["/users/{user_id}/files"], &[]);
    assert_eq!(p.classify("/users/u1/files/a.txt"), scoped("u1"));
    assert_eq!(p.classify("/users/u1/other"), Ok(PathClass::Unlisted));
    assert_eq!(p.classify("/users/u1"), Ok(PathClass::Unlisted));
    assert_eq!(p.classify("/users"), Err(PathError::MissingUserSegment));
}

#[test]
fn templates_are_validated() {
    assert!(PathTemplate::parse("/api/{user_id}").is_ok());
    assert!(PathTemplate::parse("/api/{user_id}/").is_ok());
    assert!(PathTemplate::parse("/{user_id}").is_ok());
    assert_eq!(
        PathTemplate::parse("api/{user_id}"),
        Err(PatternError::NoLeadingSlash("api/{user_id}".into()))
    );
    assert!(matches!(
        PathTemplate::parse("/api"),
        Err(PatternError::NoPlaceholder(_))
    ));
    assert_eq!(
        PathTemplate::parse("/{user_id}/{user_id}"),
        Err(PatternError::RepeatedPlaceholder(
            "/{user_id}/{user_id}".into(),
            "user_id".into()
        ))
    );
    assert!(matches!(
        PathTemplate::parse("/o/{org_id}/x/{org_id}"),
        Err(PatternError::RepeatedPlaceholder(..))
    ));
    for bad in [
        "/api/{Org}",
        "/api/{}",
        "/api/x{user_id}",
        "/api/{org-id}",
        "/api/{9a}",
    ] {
        assert_eq!(
            PathTemplate::parse(bad),
            Err(PatternError::BadPlaceholder(bad.into())),
            "{bad}"
        );
    }
    let t = PathTemplate::parse("/api/orgs/{org_id}/members/{user_id}").expect("two");
    assert_eq!(t.placeholders().collect::<Vec<_>>(), ["org_id", "user_id"]);
    assert_eq!(t.prefix_len(), 2);
    assert!(t.has_scope());
    assert!(
        !PathTemplate::parse("/api/{user_id}/x")
            .expect("user")
            .has_scope()
    );
    assert!(matches!(
        PathTemplate::parse("/api//{user_id}"),
        Err(PatternError::EmptySegment(_))
    ));
    assert!(
        PathTemplate::parse("/api/{uid}").is_ok(),
        "another placeholder"
    );
    assert!(matches!(
        PathTemplate::parse("/a%2F/{user_id}"),
        Err(PatternError::BadCharacter(_))
    ));
    assert!(matches!(
        PathTemplate::parse("/../{user_id}"),
        Err(PatternError::BadCharacter(_))
    ));
    assert!(matches!(
        PathTemplate::parse("/a b/{user_id}"),
        Err(PatternError::BadCharacter(_))
    ));
}

#[test]
fn public_prefixes_are_validated() {
    assert_eq!(PathPrefix::parse("/"), Err(PatternError::CoversRoot));
    assert_eq!(PathPrefix::parse("//"), Err(PatternError::CoversRoot));
    assert!(matches!(
        PathPrefix::parse("healthz"),
        Err(PatternError::NoLeadingSlash(_))
    ));
    assert!(matches!(
        PathPrefix::parse("/a/{user_id}"),
        Err(PatternError::BadCharacter(_))
    ));
    assert!(matches!(
        PathPrefix::parse("/a;b"),
        Err(PatternError::BadCharacter(_))
    ));
    assert_eq!(
        PathPrefix::parse("/api/auth/").map(|p| p.segments),
        Ok(vec!["api".into(), "auth".into()])
    );
}

#[test]
fn braces_inside_a_fixed_segment_are_refused() {
    for bad in ["/api/{user_id}/x{y", "/api/{user_id}/x}y", "/a{b/{user_id}"] {
        assert!(
            matches!(
                PathTemplate::parse(bad),
                Err(PatternError::BadPlaceholder(_))
            ),
            "{bad}"
        );
    }
    for bad in ["/pub{x", "/pub}x", "/a/{b}"] {
        assert!(
            matches!(PathPrefix::parse(bad), Err(PatternError::BadCharacter(_))),
            "{bad}"
        );
    }
}

#[test]
fn byte_rules_at_their_boundaries() {
    let p = policy(&["/api/{user_id}"], &[]);
    // A raw space is not a control byte (0x1F is); %20 decodes to a space, %1F is refused.
    assert_eq!(p.classify("/x y"), Ok(PathClass::Unlisted));
    assert_eq!(p.classify("/x\u{1f}y"), Err(PathError::ControlByte));
    assert_eq!(
        p.classify("/api/a%20b"),
        Ok(PathClass::Scoped {
            values: smallvec::smallvec![Cow::Owned(b"a b".to_vec())]
        })
    );
    assert_eq!(p.classify("/api/a%1Fb"), Err(PathError::ControlByte));
    // Every escape is checked, however many precede it.
    assert_eq!(p.classify("/ab%41%2F"), Err(PathError::EncodedSeparator));
    assert_eq!(
        p.classify("/abcdefg%41%42%43%2e"),
        Err(PathError::EncodedDot)
    );
}

#[test]
fn matching_template_names_the_template_and_the_segment_read() {
    let p = policy(
        &["/api/{user_id}", "/v2/users/{user_id}/files"],
        &["/api/auth"],
    );
    let m = |path| p.matching_template(path).map(|(t, s)| (t.as_str(), s));
    assert_eq!(m("/api/alice/x?q=1"), Some(("/api/{user_id}", "alice")));
    assert_eq!(m("/api"), Some(("/api/{user_id}", "")));
    assert_eq!(
        m("/v2/users/bob/files/a"),
        Some(("/v2/users/{user_id}/files", "bob"))
    );
    assert_eq!(m("/v2/users/bob"), None, "the template does not judge it");
    assert_eq!(m("/"), None);
    assert_eq!(m("/other/alice"), None);
    assert_eq!(m("/v2/alice"), None);
    assert_eq!(m("/api/../x"), None, "unsafe paths name no template");
}

#[test]
fn the_policy_shows_its_rules_to_generators_in_matching_order() {
    // `uid-gate envoy-config` ports the rules from these accessors.
    let p = policy(
        &["/api/{user_id}", "/v2/users/{user_id}/files"],
        &["/api/auth/"],
    )
    .case_insensitive(true);
    let t: Vec<&str> = p.templates().iter().map(PathTemplate::as_str).collect();
    assert_eq!(t, ["/v2/users/{user_id}/files", "/api/{user_id}"]);
    let long = &p.templates()[0];
    assert_eq!(long.prefix_len(), 2);
    assert_eq!(
        long.segments(),
        [
            TemplateSegment::Fixed("v2".into()),
            TemplateSegment::Fixed("users".into()),
            TemplateSegment::UserId,
            TemplateSegment::Fixed("files".into()),
        ]
    );
    assert_eq!(p.templates()[1].prefix_len(), 1);
    assert_eq!(p.public_prefixes()[0].segments(), ["api", "auth"]);
    assert!(p.ignores_case());
    assert!(!policy(&["/api/{user_id}"], &[]).ignores_case());
}

fn prefix(p: &str) -> PathPrefix {
    PathPrefix::parse(p).expect("prefix")
}

#[test]
fn authenticated_only_prefixes_come_after_public_and_before_templates() {
    let p = policy(&["/api/{user_id}"], &["/api/auth"])
        .with_auth_only(vec![prefix("/api/me"), prefix("/profile")]);
    assert_eq!(p.classify("/profile"), Ok(PathClass::AuthOnly));
    assert_eq!(p.classify("/profile/photo?x=1"), Ok(PathClass::AuthOnly));
    assert_eq!(p.classify("/api/me/settings"), Ok(PathClass::AuthOnly));
    assert_eq!(p.classify("/api/auth/session"), Ok(PathClass::Public));
    assert_eq!(p.classify("/api/mex/tasks"), scoped("mex"));
    assert_eq!(p.classify("/profiles"), Ok(PathClass::Unlisted));
    assert_eq!(
        p.classify("/profile/../api/bob"),
        Err(PathError::DotSegment),
        "a malformed path is never authenticated-only"
    );
    assert_eq!(p.unlisted(), Unlisted::Deny);
    let open = p.clone().with_unlisted(Unlisted::Authenticated);
    assert_eq!(open.unlisted(), Unlisted::Authenticated);
    assert_eq!(open.classify("/other"), Ok(PathClass::Unlisted));
}

#[test]
fn the_rule_that_decides_is_named() {
    let p = policy(
        &["/api/{user_id}", "/v2/users/{user_id}/files"],
        &["/api/auth"],
    )
    .with_auth_only(vec![prefix("/profile")]);
    let rule = |path| p.rule_for(path).map(|(_, r)| r.to_string());
    assert_eq!(rule("/api/auth/x"), Ok("public prefix /api/auth".into()));
    assert_eq!(
        rule("/profile"),
        Ok("authenticated-only prefix /profile".into())
    );
    assert_eq!(rule("/api/bob/x"), Ok("template /api/{user_id}".into()));
    assert_eq!(
        rule("/v2/users/bob/files/a"),
        Ok("template /v2/users/{user_id}/files".into())
    );
    assert_eq!(
        rule("/v2/users/bob/photos"),
        Ok("no rule (unlisted)".into())
    );
    assert_eq!(rule("/app/api/bob/tasks"), Ok("no rule (unlisted)".into()));
    assert_eq!(rule("/api/../x"), Err(PathError::DotSegment));
}

#[test]
fn a_prefix_covers_a_template_when_it_ends_at_or_before_the_user_id() {
    let t = PathTemplate::parse("/api/v1/{user_id}/tasks").expect("template");
    assert!(prefix("/api").covers(&t, false));
    assert!(prefix("/api/v1").covers(&t, false));
    assert!(!prefix("/API/v1").covers(&t, false));
    assert!(prefix("/API/v1").covers(&t, true));
    assert!(!prefix("/api/v1/auth").covers(&t, false));
    assert!(!prefix("/api/v2").covers(&t, false));
    assert!(!prefix("/other").covers(&t, false));
    assert_eq!(prefix("/api/v1/me/x").shadowed_user(&t, false), Some("me"));
    assert_eq!(prefix("/api/v1").shadowed_user(&t, false), None);
    assert_eq!(prefix("/api/v2/me").shadowed_user(&t, false), None);
}

#[test]
fn every_placeholder_yields_its_decoded_segment() {
    let p = policy(
        &["/api/orgs/{org_id}", "/api/orgs/{org_id}/members/{user_id}"],
        &[],
    );
    let both = p.rule_for("/api/orgs/o%31/members/u1/x").expect("ok");
    assert_eq!(
        both.0,
        PathClass::Scoped {
            values: smallvec::smallvec![Cow::Owned(b"o1".to_vec()), Cow::Borrowed(&b"u1"[..])]
        }
    );
    assert_eq!(
        both.1.to_string(),
        "template /api/orgs/{org_id}/members/{user_id}"
    );
    // Stopping before the second placeholder falls to the shorter template.
    let one = p.rule_for("/api/orgs/o1/members").expect("ok");
    assert_eq!(one.1.to_string(), "template /api/orgs/{org_id}");
    assert_eq!(p.classify("/api/orgs"), Err(PathError::MissingUserSegment));
    assert_eq!(p.placeholder_names(), ["org_id", "user_id"]);
    assert_eq!(user_id_name(), "user_id");
    assert_eq!(
        p.matching_template("/api/orgs/o1/tasks")
            .map(|(t, s)| (t.as_str(), s)),
        Some(("/api/orgs/{org_id}", "o1"))
    );
}
