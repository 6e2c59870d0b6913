//! Reading the scope and admin variables, and refusing a configuration whose templates and
//! bindings do not fit together: each error names its variable and the placeholder.

use super::{ClaimPath, ScopeRules};
use crate::config::ConfigError;
use crate::config::declare::{
    ADMIN_METHODS, ADMIN_ROLES, PATH_TEMPLATES, ROLE_CLAIMS, SCOPE_CLAIMS, Var,
};
use crate::config::vars::{RESERVED_CLAIMS, list_items, non_empty, or_default};
use crate::path_policy::{
    PathTemplate, TemplateSegment, USER_ID, is_placeholder_name, user_id_name,
};

/// The scope rules from the variables `raw` gives, checked against the templates.
pub(crate) fn scope_rules(
    raw: impl Fn(&Var) -> Option<String>,
    templates: &[PathTemplate],
    uid_claims: &[String],
) -> Result<ScopeRules, ConfigError> {
    let bindings = bindings(raw(&SCOPE_CLAIMS), uid_claims)?;
    let var = SCOPE_CLAIMS.name;
    for t in templates {
        for seg in t.segments() {
            if let TemplateSegment::Scope(name) = seg
                && !bindings.iter().any(|(b, _)| b == name)
            {
                return Err(ConfigError::Invalid {
                    var: PATH_TEMPLATES.name,
                    reason: format!(
                        "{:?} has {{{name}}}, which no claim is bound to: bind it in {var} ({name}=<claim path>, e.g. {name}=activeOrganizationId), or write {USER_ID}",
                        t.as_str()
                    ),
                });
            }
        }
    }
    for (name, _) in &bindings {
        let used = templates
            .iter()
            .any(|t| t.placeholders().any(|p| p == name));
        if !used {
            return Err(ConfigError::Invalid {
                var,
                reason: format!(
                    "{name} is bound, but no template in UIDGATE_PATH_TEMPLATES has {{{name}}}"
                ),
            });
        }
    }
    let roles = match non_empty(ADMIN_ROLES.name, raw(&ADMIN_ROLES))
        .ok()
        .flatten()
    {
        // Empty or unset: no override at all.
        None => Vec::new(),
        Some(list) => list_items(ADMIN_ROLES.name, &list)?,
    };
    let role_claims = claim_paths(&ROLE_CLAIMS, raw(&ROLE_CLAIMS), uid_claims)?;
    let methods = methods(raw(&ADMIN_METHODS))?;
    let admin = (!roles.is_empty()).then_some((roles, role_claims, methods));
    Ok(ScopeRules::new(bindings, admin))
}

/// `name=claim.path,…`: placeholder names, no `user_id`, no repeats.
fn bindings(
    value: Option<String>,
    uid_claims: &[String],
) -> Result<Vec<(String, ClaimPath)>, ConfigError> {
    let var = SCOPE_CLAIMS.name;
    let invalid = |reason: String| ConfigError::Invalid { var, reason };
    let Some(list) = non_empty(var, value)? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(String, ClaimPath)> = Vec::new();
    for item in list_items(var, &list)? {
        let Some((name, path)) = item.split_once('=') else {
            return Err(invalid(format!(
                "{item:?} is not placeholder=claim.path (e.g. org_id=activeOrganizationId)"
            )));
        };
        let (name, path) = (name.trim(), path.trim());
        if name == user_id_name() {
            return Err(invalid(
                "{user_id} takes the user id from UIDGATE_UID_CLAIMS; bind only other placeholders"
                    .into(),
            ));
        }
        if !is_placeholder_name(name) {
            return Err(invalid(format!(
                "{name:?} is not a placeholder name (a-z, 0-9 and _, as in {{org_id}})"
            )));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(invalid(format!("{name} is bound twice")));
        }
        out.push((name.to_owned(), claim_path(var, path, uid_claims)?));
    }
    Ok(out)
}

/// A comma-separated list of claim paths (`var`'s default when unset).
fn claim_paths(
    var: &Var,
    value: Option<String>,
    uid_claims: &[String],
) -> Result<Vec<ClaimPath>, ConfigError> {
    let list = or_default(var, value).unwrap_or_default();
    list_items(var.name, &list)?
        .iter()
        .map(|p| claim_path(var.name, p, uid_claims))
        .collect()
}

/// One claim path; never a registered claim or a user id claim, which mean something else.
fn claim_path(
    var: &'static str,
    path: &str,
    uid_claims: &[String],
) -> Result<ClaimPath, ConfigError> {
    let path = ClaimPath::parse(path).map_err(|reason| ConfigError::Invalid { var, reason })?;
    let claim = path.claim();
    if RESERVED_CLAIMS.contains(&claim) || uid_claims.iter().any(|c| c == claim) {
        return Err(ConfigError::Invalid {
            var,
            reason: format!(
                "{:?} starts at {claim:?}, a registered or user id claim (UIDGATE_UID_CLAIMS)",
                path.as_str()
            ),
        });
    }
    Ok(path)
}

/// Request methods: upper-case tokens, as HTTP compares them (case-sensitive).
fn methods(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let var = ADMIN_METHODS.name;
    let list = or_default(&ADMIN_METHODS, value).unwrap_or_default();
    let methods = list_items(var, &list)?;
    for m in &methods {
        if !m.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::Invalid {
                var,
                reason: format!("{m:?} is not a method; methods are upper case (GET, HEAD)"),
            });
        }
    }
    Ok(methods)
}
