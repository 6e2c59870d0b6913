//! Ownership beyond one user: placeholders other than `{user_id}` bound to claims
//! (`UIDGATE_SCOPE_CLAIMS`: an organization, a team), and the read-only admin override
//! (`UIDGATE_ADMIN_ROLES`, `UIDGATE_ROLE_CLAIMS`, `UIDGATE_ADMIN_METHODS`). Declared here once;
//! [`crate::decision`] asks these rules, and no host knows them.

use serde_json::Value;

mod claim_path;
mod settings;

pub use claim_path::{ClaimPath, Reached};
pub(crate) use settings::scope_rules;

/// Why a scope placeholder's segment does not match the token (each a 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeMiss {
    /// The claim holds values, and the segment is none of them.
    NotMember,
    /// The claim is absent, `null`, an empty array, or reaches no usable value.
    NoValue,
    /// The claim reaches a value of another type: never an allow.
    WrongType,
}

/// A placeholder bound to a claim path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The placeholder's name (`org_id`).
    pub placeholder: String,
    /// The claim path its segment is compared with.
    pub path: ClaimPath,
    slot: usize,
}

/// Who may read any scoped path, and with which methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRule {
    /// Role names that grant the override (whole names, case-sensitive).
    pub roles: Vec<String>,
    /// Claim paths tried in order for the token's roles; the first present decides.
    pub role_claims: Vec<ClaimPath>,
    /// Request methods the override covers (`GET`, `HEAD`).
    pub methods: Vec<String>,
    slots: Vec<usize>,
}

/// The scope bindings and the admin override, with the top-level claims the verifier keeps
/// for them (none when neither is configured: a plain `{user_id}` deployment parses no more
/// claims than before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeRules {
    bindings: Vec<Binding>,
    admin: Option<AdminRule>,
    captured: Vec<String>,
}

impl ScopeRules {
    /// Assembles the rules; `bindings` and `admin` are already validated.
    pub fn new(
        bindings: Vec<(String, ClaimPath)>,
        admin: Option<(Vec<String>, Vec<ClaimPath>, Vec<String>)>,
    ) -> Self {
        let mut captured: Vec<String> = Vec::new();
        let mut slot = |path: &ClaimPath| match captured.iter().position(|c| c == path.claim()) {
            Some(i) => i,
            None => {
                captured.push(path.claim().to_owned());
                captured.len() - 1
            }
        };
        let bindings = bindings
            .into_iter()
            .map(|(placeholder, path)| Binding {
                slot: slot(&path),
                placeholder,
                path,
            })
            .collect();
        let admin = admin.map(|(roles, role_claims, methods)| AdminRule {
            slots: role_claims.iter().map(&mut slot).collect(),
            roles,
            role_claims,
            methods,
        });
        Self {
            bindings,
            admin,
            captured,
        }
    }

    /// The top-level claims a token's verification keeps, in slot order.
    pub fn captured(&self) -> &[String] {
        &self.captured
    }

    /// The bindings, as configured.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The admin override, when `UIDGATE_ADMIN_ROLES` names a role.
    pub fn admin(&self) -> Option<&AdminRule> {
        self.admin.as_ref()
    }

    /// The binding of `placeholder`, if any.
    pub fn binding(&self, placeholder: &str) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.placeholder == placeholder)
    }

    /// Whether `segment` (decoded) matches the claim bound to `placeholder`. `claims` are the
    /// token's kept claims, in [`ScopeRules::captured`] order.
    pub fn check(
        &self,
        placeholder: &str,
        claims: &[Option<Value>],
        segment: &[u8],
    ) -> Result<(), ScopeMiss> {
        // Settings refuse a template placeholder without a binding; should one slip through,
        // it matches nothing.
        let Some(b) = self.binding(placeholder) else {
            return Err(ScopeMiss::NoValue);
        };
        match b.path.reach(claims.get(b.slot).and_then(Option::as_ref)) {
            Reached::WrongType => Err(ScopeMiss::WrongType),
            Reached::Values(v) if v.is_empty() => Err(ScopeMiss::NoValue),
            Reached::Values(v) if v.iter().any(|v| v.as_bytes() == segment) => Ok(()),
            Reached::Values(_) => Err(ScopeMiss::NotMember),
        }
    }

    /// Whether the token holds an admin role and `method` is one the override covers. A host
    /// that cannot tell the method (`None`) never gets the override.
    pub fn admin_may(&self, claims: &[Option<Value>], method: Option<&str>) -> bool {
        let Some(admin) = &self.admin else {
            return false;
        };
        let Some(method) = method else {
            return false;
        };
        if !admin.methods.iter().any(|m| m == method) {
            return false;
        }
        let held = admin
            .role_claims
            .iter()
            .zip(&admin.slots)
            .find_map(|(path, slot)| {
                let claim = claims.get(*slot).and_then(Option::as_ref)?;
                Some(path.strings(Some(claim)))
            })
            .unwrap_or_default();
        held.iter()
            .flat_map(|s| s.split(','))
            .any(|role| admin.roles.iter().any(|r| r == role.trim()))
    }
}

#[cfg(test)]
mod tests;
