//! The decision: public path, token, path safety, ownership, in that order.
//! Pure: no gRPC, no clock, no I/O, so every rule is unit-testable.

use crate::extract::{self, ExtractError};
use crate::path_policy::{PathClass, PathError, PathPolicy, Unlisted};
use crate::verify::{Verifier, VerifyError};

/// What one request brings to the decision.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The raw request target (`path[?query]`), as Envoy sends it.
    pub path: &'a str,
    /// Every `authorization` value the request carried, from either header encoding.
    pub authorization: &'a [&'a [u8]],
    /// The request's `content-type`, which tells a gRPC client (it reads a deny from
    /// `grpc-status`: [`crate::response::Client`]); `None` where the host has none.
    pub content_type: Option<&'a [u8]>,
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through.
    Allow(Allow),
    /// Refuse it.
    Deny(Denial),
}

/// Why a request is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// Under a public prefix; no identity is asserted.
    Public,
    /// The token's user owns the user-scoped path.
    Owner {
        /// The verified user id.
        user_id: String,
    },
    /// A path under an authenticated-only prefix, with a valid token.
    Authenticated {
        /// The verified user id.
        user_id: String,
    },
    /// A path no rule covers, with a valid token, where `UIDGATE_UNLISTED_PATHS=authenticated`
    /// opts out of denying it.
    Unlisted {
        /// The verified user id.
        user_id: String,
    },
}

/// Why a request is refused; each variant maps to one HTTP status in [`crate::response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// No usable bearer token (401).
    #[error(transparent)]
    Credentials(#[from] ExtractError),
    /// The token did not verify (401).
    #[error(transparent)]
    Token(#[from] VerifyError),
    /// The path cannot be judged safely (400).
    #[error(transparent)]
    Path(#[from] PathError),
    /// Someone else's path (403).
    #[error("token user does not own this path")]
    NotOwner,
    /// A path no template or prefix covers (403): closed, because a proxy that rewrites
    /// paths could route it to someone else's data.
    #[error("no access rule covers this path")]
    Unlisted,
}

/// Everything a decision needs, built once from the configuration.
#[derive(Debug)]
pub struct Authorizer {
    verifier: Verifier,
    paths: PathPolicy,
    max_token_bytes: usize,
}

impl Authorizer {
    /// Assembles an authorizer.
    pub fn new(verifier: Verifier, paths: PathPolicy, max_token_bytes: usize) -> Self {
        Self {
            verifier,
            paths,
            max_token_bytes,
        }
    }

    /// The token verifier, e.g. to replace its secrets.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Decides one request at `now` (seconds since the Unix epoch).
    ///
    /// Order: a well-formed public path is allowed; then token problems (401) come before
    /// path problems (400), which come before ownership and unlisted paths (403).
    pub fn decide(&self, req: &RequestView<'_>, now: u64) -> Decision {
        match self.try_decide(req, now, true) {
            Ok(allow) => Decision::Allow(allow),
            Err(denial) => Decision::Deny(denial),
        }
    }

    /// Calls `hook` whenever a token names an unknown JWKS `kid` (see [`Verifier::set_unknown_kid_hook`]).
    pub fn set_unknown_kid_hook(&mut self, hook: crate::verify::UnknownKidHook) {
        self.verifier.set_unknown_kid_hook(hook);
    }

    /// The path policy, e.g. to name the template a path matched in a log line.
    pub fn paths(&self) -> &PathPolicy {
        &self.paths
    }

    fn try_decide(
        &self,
        req: &RequestView<'_>,
        now: u64,
        public_allows: bool,
    ) -> Result<Allow, Denial> {
        let class = self.paths.classify(req.path);
        if public_allows && class == Ok(PathClass::Public) {
            return Ok(Allow::Public);
        }
        let token = extract::bearer_token(req.authorization, self.max_token_bytes)?;
        let user_id = self.verifier.verify(token, now)?.user_id;
        let class = match class? {
            // A handler that asks for the user (decide_user) declares its route authenticated-only.
            PathClass::Unlisted if !public_allows => PathClass::AuthOnly,
            class => class,
        };
        self.judge_path(class, user_id)
    }

    /// The path half of a decision, for a user id already verified.
    fn judge_path(&self, class: PathClass<'_>, user_id: String) -> Result<Allow, Denial> {
        match class {
            PathClass::Scoped { user_id: owner } if *owner == *user_id.as_bytes() => {
                Ok(Allow::Owner { user_id })
            }
            PathClass::Scoped { .. } => Err(Denial::NotOwner),
            PathClass::AuthOnly | PathClass::Public => Ok(Allow::Authenticated { user_id }),
            PathClass::Unlisted => match self.paths.unlisted() {
                Unlisted::Deny => Err(Denial::Unlisted),
                Unlisted::Authenticated => Ok(Allow::Unlisted { user_id }),
            },
        }
    }

    /// Like [`Authorizer::decide`], but for a handler that declares its own route
    /// authenticated-only: a public prefix allows nothing by itself and a path no rule covers
    /// needs only a valid token, while templates still need the path's owner.
    pub fn decide_user(&self, req: &RequestView<'_>, now: u64) -> Decision {
        match self.try_decide(req, now, false) {
            Ok(allow) => Decision::Allow(allow),
            Err(denial) => Decision::Deny(denial),
        }
    }

    /// The path rules for an identity a trusted gateway already verified (e.g. the
    /// `x-user-id` Envoy set after asking uid-gate): `None` is a request with no identity.
    /// Public prefixes, path safety and ownership apply exactly as in [`Authorizer::decide`].
    pub fn decide_for_identity(&self, path: &str, user_id: Option<&str>) -> Decision {
        let class = self.paths.classify(path);
        if class == Ok(PathClass::Public) {
            return Decision::Allow(Allow::Public);
        }
        let Some(user_id) = user_id else {
            return Decision::Deny(Denial::Credentials(ExtractError::Missing));
        };
        match class {
            Ok(class) => match self.judge_path(class, user_id.to_owned()) {
                Ok(allow) => Decision::Allow(allow),
                Err(denial) => Decision::Deny(denial),
            },
            Err(e) => Decision::Deny(Denial::Path(e)),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
