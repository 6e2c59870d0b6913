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
            .map(|p| PublicPrefix::parse(p).expect("prefix"))
            .collect(),
    )
}

fn scoped(id: &str) -> Result<PathClass<'static>, PathError> {
    Ok(PathClass::Scoped {
        user_id: Cow::Owned(id.as_bytes().to_vec()),
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
fn other_paths_are_auth_only_and_prefix_match_is_case_sensitive() {
    let p = policy(&["/api/{user_id}"], &[]);
    assert_eq!(p.classify("/"), Ok(PathClass::AuthOnly));
    assert_eq!(p.classify("/other/user_A"), Ok(PathClass::AuthOnly));
    assert_eq!(p.classify("/API/user_A/tasks"), Ok(PathClass::AuthOnly));
    assert_eq!(p.classify("/apix/user_A"), Ok(PathClass::AuthOnly));
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
    assert_eq!(p.classify("/healthzz"), Ok(PathClass::AuthOnly));
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
    assert_eq!(p.classify("/users/u1/other"), Ok(PathClass::AuthOnly));
    assert_eq!(p.classify("/users/u1"), Ok(PathClass::AuthOnly));
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
        Err(PatternError::UserIdCount(_))
    ));
    assert!(matches!(
        PathTemplate::parse("/{user_id}/{user_id}"),
        Err(PatternError::UserIdCount(_))
    ));
    assert!(matches!(
        PathTemplate::parse("/api//{user_id}"),
        Err(PatternError::EmptySegment(_))
    ));
    assert!(matches!(
        PathTemplate::parse("/api/{uid}"),
        Err(PatternError::UserIdCount(_))
    ));
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
    assert_eq!(PublicPrefix::parse("/"), Err(PatternError::RootIsPublic));
    assert_eq!(PublicPrefix::parse("//"), Err(PatternError::RootIsPublic));
    assert!(matches!(
        PublicPrefix::parse("healthz"),
        Err(PatternError::NoLeadingSlash(_))
    ));
    assert!(matches!(
        PublicPrefix::parse("/a/{user_id}"),
        Err(PatternError::BadCharacter(_))
    ));
    assert!(matches!(
        PublicPrefix::parse("/a;b"),
        Err(PatternError::BadCharacter(_))
    ));
    assert_eq!(
        PublicPrefix::parse("/api/auth/").map(|p| p.segments),
        Ok(vec!["api".into(), "auth".into()])
    );
}

#[test]
fn braces_inside_a_fixed_segment_are_refused() {
    for bad in ["/api/{user_id}/x{y", "/api/{user_id}/x}y", "/a{b/{user_id}"] {
        assert!(
            matches!(PathTemplate::parse(bad), Err(PatternError::BadCharacter(_))),
            "{bad}"
        );
    }
    for bad in ["/pub{x", "/pub}x", "/a/{b}"] {
        assert!(
            matches!(PublicPrefix::parse(bad), Err(PatternError::BadCharacter(_))),
            "{bad}"
        );
    }
}

#[test]
fn byte_rules_at_their_boundaries() {
    let p = policy(&["/api/{user_id}"], &[]);
    // A raw space is not a control byte (0x1F is); %20 decodes to a space, %1F is refused.
    assert_eq!(p.classify("/x y"), Ok(PathClass::AuthOnly));
    assert_eq!(p.classify("/x\u{1f}y"), Err(PathError::ControlByte));
    assert_eq!(
        p.classify("/api/a%20b"),
        Ok(PathClass::Scoped {
            user_id: Cow::Owned(b"a b".to_vec())
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
        m("/v2/users/bob"),
        Some(("/v2/users/{user_id}/files", "bob"))
    );
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
