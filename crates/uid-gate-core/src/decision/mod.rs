//! The decision: public path, token, path safety, ownership, in that order.
//! Pure: no gRPC, no clock, no I/O, so every rule is unit-testable.

use std::borrow::Cow;

use crate::extract::{self, ExtractError};
use crate::path_policy::{
    PathClass, PathError, PathPolicy, PathTemplate, Rule, TemplateSegment, Unlisted,
};
use crate::scope::{ScopeMiss, ScopeRules};
use crate::verify::{Identity, Verifier, VerifyError};

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
    /// The request method (`GET`), as sent; `None` where the host cannot learn it, which
    /// never gets the admin override (`UIDGATE_ADMIN_METHODS`).
    pub method: Option<&'a str>,
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
    /// The token names the path's organization or team (every placeholder of a template with
    /// a `UIDGATE_SCOPE_CLAIMS` binding matched).
    Member {
        /// The verified user id.
        user_id: String,
    },
    /// The token holds a role of `UIDGATE_ADMIN_ROLES` and the method is one of
    /// `UIDGATE_ADMIN_METHODS`, on a templated path it does not own.
    Admin {
        /// The admin's own user id (the path's owner is in the path).
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
    /// The token's scope claim holds values, none of them the path's segment (403).
    #[error("token does not grant this path's organization or team")]
    NotMember,
    /// The token's scope claim is absent, null, empty, or holds no usable value (403): the
    /// user is known, but not a member (Better Auth: no active organization).
    #[error("token names no organization or team for this path")]
    NoScope,
    /// The token's scope claim holds another type than a string or integer (403).
    #[error("token scope claim is not a string or integer")]
    BadScopeClaim,
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
    scope: ScopeRules,
}

impl From<ScopeMiss> for Denial {
    fn from(miss: ScopeMiss) -> Denial {
        match miss {
            ScopeMiss::NotMember => Denial::NotMember,
            ScopeMiss::NoValue => Denial::NoScope,
            ScopeMiss::WrongType => Denial::BadScopeClaim,
        }
    }
}

impl Authorizer {
    /// Assembles an authorizer.
    pub fn new(verifier: Verifier, paths: PathPolicy, max_token_bytes: usize) -> Self {
        Self {
            verifier,
            paths,
            max_token_bytes,
            scope: ScopeRules::default(),
        }
    }

    /// Placeholders bound to claims, and the admin override.
    pub fn with_scope(mut self, scope: ScopeRules) -> Self {
        self.scope = scope;
        self
    }

    /// The placeholders of the template that judges `path`, each with its decoded segment
    /// (lossy UTF-8), in template order: what an app's route reads after an allow of reason
    /// `owner`, `member` or `admin` (`org_id` = `o1`). Empty for a path no template judges.
    pub fn placeholders(&self, path: &str) -> Vec<(String, String)> {
        match self.paths.rule_for(path) {
            Ok((PathClass::Scoped { values }, Rule::Template(t))) => t
                .placeholders()
                .zip(values)
                .map(|(name, v)| (name.to_owned(), String::from_utf8_lossy(&v).into_owned()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether a decision can depend on the request method (an admin override is configured):
    /// a host for which reading the method costs something reads it only then.
    pub fn judges_method(&self) -> bool {
        self.scope.admin().is_some()
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
        let rule = self.paths.rule_for(req.path);
        if public_allows && matches!(rule, Ok((PathClass::Public, _))) {
            return Ok(Allow::Public);
        }
        let token = extract::bearer_token(req.authorization, self.max_token_bytes)?;
        let identity = self.verifier.verify_jws(token, now)?;
        let (class, rule) = rule?;
        let class = match class {
            // A handler that asks for the user (decide_user) declares its route authenticated-only.
            PathClass::Unlisted if !public_allows => PathClass::AuthOnly,
            class => class,
        };
        self.judge_path(class, rule, identity, req.method)
    }

    /// The path half of a decision, for an identity already verified.
    fn judge_path(
        &self,
        class: PathClass<'_>,
        rule: Rule<'_>,
        identity: Identity,
        method: Option<&str>,
    ) -> Result<Allow, Denial> {
        match (class, rule) {
            (PathClass::Scoped { values }, Rule::Template(template)) => {
                let user_id = match self.owns(template, &values, &identity) {
                    Err(_) if self.scope.admin_may(&identity.claims, method) => {
                        return Ok(Allow::Admin {
                            user_id: identity.user_id,
                        });
                    }
                    Err(denial) => return Err(denial),
                    Ok(()) => identity.user_id,
                };
                Ok(if template.has_scope() {
                    Allow::Member { user_id }
                } else {
                    Allow::Owner { user_id }
                })
            }
            // A scoped class comes only with its template.
            (PathClass::Scoped { .. }, _) => Err(Denial::NotOwner),
            (PathClass::AuthOnly | PathClass::Public, _) => Ok(Allow::Authenticated {
                user_id: identity.user_id,
            }),
            (PathClass::Unlisted, _) => match self.paths.unlisted() {
                Unlisted::Deny => Err(Denial::Unlisted),
                Unlisted::Authenticated => Ok(Allow::Unlisted {
                    user_id: identity.user_id,
                }),
            },
        }
    }

    /// Whether every placeholder of `template` matches: `{user_id}` the token's user id,
    /// the others their bound claims. The first that does not decides the denial.
    fn owns(
        &self,
        template: &PathTemplate,
        values: &[Cow<'_, [u8]>],
        identity: &Identity,
    ) -> Result<(), Denial> {
        let mut values = values.iter();
        for segment in template
            .segments()
            .iter()
            .filter(|s| s.placeholder().is_some())
        {
            // One value per placeholder, from the same walk; a missing one matches nothing.
            let Some(value) = values.next() else {
                return Err(Denial::NotOwner);
            };
            match segment {
                TemplateSegment::UserId if **value == *identity.user_id.as_bytes() => {}
                TemplateSegment::UserId => return Err(Denial::NotOwner),
                TemplateSegment::Scope(name) => self.scope.check(name, &identity.claims, value)?,
                TemplateSegment::Fixed(_) => {}
            }
        }
        Ok(())
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
    /// The identity carries no claims: a scope placeholder gets `no_scope_claim` and the admin
    /// override never applies (the token stays with the gateway).
    pub fn decide_for_identity(&self, path: &str, user_id: Option<&str>) -> Decision {
        let rule = self.paths.rule_for(path);
        if matches!(rule, Ok((PathClass::Public, _))) {
            return Decision::Allow(Allow::Public);
        }
        let Some(user_id) = user_id else {
            return Decision::Deny(Denial::Credentials(ExtractError::Missing));
        };
        let identity = Identity {
            user_id: user_id.to_owned(),
            claims: Vec::new(),
        };
        match rule {
            Ok((class, rule)) => match self.judge_path(class, rule, identity, None) {
                Ok(allow) => Decision::Allow(allow),
                Err(denial) => Decision::Deny(denial),
            },
            Err(e) => Decision::Deny(Denial::Path(e)),
        }
    }
}

#[cfg(test)]
mod tests;
