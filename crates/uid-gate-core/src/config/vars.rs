//! Small parsers shared by every variable: each error names its variable and never echoes a
//! secret. The server uses them for its own variables too, so messages read the same.

use super::ConfigError;
use super::declare::{Kind, Var};
use crate::path_policy::PatternError;

/// Claims that carry time, issuer or audience: never a user id.
pub(crate) const RESERVED_CLAIMS: &[&str] = &["exp", "nbf", "iat", "iss", "aud", "jti"];

/// The value `vars` give the declared name of `var` (exactly that name; the last one wins).
pub fn lookup(vars: &[(String, String)], var: &Var) -> Option<String> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == var.name)
        .map(|(_, v)| v.clone())
}

/// `value`, or `var`'s declared default when it is unset.
pub fn or_default(var: &Var, value: Option<String>) -> Option<String> {
    value.or_else(|| var.default.map(str::to_owned))
}

/// Parses `value` (or `var`'s declared default), with `hint` in the error; `None` when both
/// are unset.
pub fn parse_declared<T: std::str::FromStr>(
    var: &Var,
    value: Option<String>,
    hint: &str,
) -> Result<Option<T>, ConfigError> {
    let Some(value) = or_default(var, value) else {
        return Ok(None);
    };
    value
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| ConfigError::Invalid {
            var: var.name,
            reason: format!("{hint}; got {value:?}"),
        })
}

/// A whole number within `var`'s declared bounds, or its declared default; `None` when unset
/// without a default.
pub fn optional_number(var: &Var, value: Option<String>) -> Result<Option<u64>, ConfigError> {
    let Kind::Number { min, max } = var.kind else {
        return Err(ConfigError::Invalid {
            var: var.name,
            reason: "is not declared as a number".into(),
        });
    };
    let Some(value) = or_default(var, value) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ConfigError::Invalid {
            var: var.name,
            reason: format!("expected a whole number from {min} to {max}, got {value:?}"),
        }),
    }
}

/// [`optional_number`] for a variable declared with a default.
pub fn number(var: &Var, value: Option<String>) -> Result<u64, ConfigError> {
    optional_number(var, value)?.ok_or(ConfigError::Missing { var: var.name })
}

/// One of `var`'s declared words (trimmed), or its declared default.
pub fn choice(var: &Var, value: Option<String>) -> Result<&'static str, ConfigError> {
    let Kind::Choice(words) = var.kind else {
        return Err(ConfigError::Invalid {
            var: var.name,
            reason: "is not declared as a choice".into(),
        });
    };
    let Some(given) = or_default(var, value) else {
        return Err(ConfigError::Missing { var: var.name });
    };
    words
        .iter()
        .find(|w| **w == given.trim())
        .copied()
        .ok_or_else(|| ConfigError::Invalid {
            var: var.name,
            reason: format!("expected {}, got {:?}", words.join(" or "), given.trim()),
        })
}

/// A trimmed value; set-but-empty is an error (unset it instead).
pub fn non_empty(var: &'static str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ConfigError::Invalid {
            var,
            reason: "is set but empty; unset it to disable the check".into(),
        }),
        Some(v) => Ok(Some(v.trim().to_owned())),
        None => Ok(None),
    }
}

/// Splits a comma-separated list; empty items are an error (a stray comma is usually a typo).
pub fn list_items(var: &'static str, value: &str) -> Result<Vec<String>, ConfigError> {
    let items: Vec<String> = value.split(',').map(|s| s.trim().to_owned()).collect();
    if items.iter().any(String::is_empty) {
        return Err(ConfigError::Invalid {
            var,
            reason: format!("has an empty item in {value:?}"),
        });
    }
    Ok(items)
}

/// A comma-separated list of path patterns, each parsed by `parse`; no duplicates.
pub fn patterns<T>(
    var: &'static str,
    value: &str,
    parse: fn(&str) -> Result<T, PatternError>,
    required: bool,
) -> Result<Vec<T>, ConfigError> {
    if value.trim().is_empty() {
        return if required {
            Err(ConfigError::Pattern {
                var,
                source: PatternError::Empty,
            })
        } else {
            Ok(Vec::new())
        };
    }
    let items = list_items(var, value)?;
    for (i, item) in items.iter().enumerate() {
        if items[..i]
            .iter()
            .any(|earlier| earlier.trim_end_matches('/') == item.trim_end_matches('/'))
        {
            return Err(ConfigError::Pattern {
                var,
                source: PatternError::Duplicate(item.clone()),
            });
        }
    }
    items
        .iter()
        .map(|s| parse(s).map_err(|source| ConfigError::Pattern { var, source }))
        .collect()
}

/// The user id claim names: no registered claims, no repeats.
pub fn uid_claims(value: &str) -> Result<Vec<String>, ConfigError> {
    let var = super::declare::UID_CLAIMS.name;
    let claims = list_items(var, value)?;
    for (i, c) in claims.iter().enumerate() {
        if RESERVED_CLAIMS.contains(&c.as_str()) {
            return Err(ConfigError::Invalid {
                var,
                reason: format!("{c:?} is a registered claim, not a user id"),
            });
        }
        if claims[..i].contains(c) {
            return Err(ConfigError::Invalid {
                var,
                reason: format!("{c:?} is listed twice"),
            });
        }
    }
    Ok(claims)
}

/// The prefixes of the names uid-gate owns: a variable with one that no host declares is a
/// typo or a leftover, reported, never silently ignored.
pub const OWNED_PREFIXES: &[&str] = &["UIDGATE_", "BETTER_AUTH_SECRET"];

/// How many edits (insertions, deletions, substitutions, transpositions) a typo may have.
const MAX_TYPO_EDITS: usize = 3;

/// The declared name closest to `name`, when one is near enough to be what was meant.
pub fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), *k))
        .filter(|(d, _)| *d <= MAX_TYPO_EDITS)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// "; did you mean X?" naming the declared name closest to `name`, or nothing: the one
/// wording every host uses for a misspelt variable.
pub fn did_you_mean(name: &str, known: &[&str]) -> String {
    closest(name, known).map_or(String::new(), |k| format!("; did you mean {k}?"))
}

/// The warning every host gives for each variable in `names` that uid-gate owns (by prefix)
/// but that is not in `known`, naming the closest declared one.
pub fn unknown_var_warnings<'a>(
    names: impl IntoIterator<Item = &'a str>,
    known: &[&str],
) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| OWNED_PREFIXES.iter().any(|p| n.starts_with(p)) && !known.contains(n))
        .map(|n| format!("unknown variable {n} is ignored{}", did_you_mean(n, known)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::declare::{ISSUER, LEEWAY_SECS, UNLISTED_PATHS};
    use super::*;

    const ADDR: Var = Var {
        name: "UIDGATE_TEST_ADDR",
        kind: Kind::Address,
        default: Some("127.0.0.1:9"),
        help: "",
    };

    #[test]
    fn help_lines_add_the_declared_bounds_and_choices() {
        assert_eq!(
            LEEWAY_SECS.help_line(),
            "clock skew tolerated on exp/nbf/iat (0-600)"
        );
        assert!(
            UNLISTED_PATHS
                .help_line()
                .ends_with(": deny or authenticated")
        );
        assert_eq!(ISSUER.help_line(), ISSUER.help);
    }

    #[test]
    fn declared_values_fall_back_to_the_default_and_name_their_variable() {
        let addr: Option<std::net::SocketAddr> = parse_declared(&ADDR, None, "h").expect("default");
        assert_eq!(addr.map(|a| a.port()), Some(9));
        let e = parse_declared::<std::net::SocketAddr>(&ADDR, Some("x".into()), "host:port");
        assert_eq!(
            e.expect_err("x").to_string(),
            "UIDGATE_TEST_ADDR: host:port; got \"x\""
        );
        let none = Var {
            default: None,
            ..ADDR
        };
        assert!(matches!(parse_declared::<u8>(&none, None, "h"), Ok(None)));
        assert_eq!(number(&LEEWAY_SECS, None).expect("default"), 30);
        assert_eq!(
            choice(&UNLISTED_PATHS, Some(" authenticated ".into())).expect("word"),
            "authenticated"
        );
        assert!(number(&ISSUER, Some("1".into())).is_err(), "not a number");
    }

    const KNOWN: &[&str] = &[
        "BETTER_AUTH_SECRET",
        "UIDGATE_PUBLIC_PATHS",
        "UIDGATE_LEEWAY_SECS",
    ];

    #[test]
    fn an_unknown_owned_variable_is_named_with_the_closest_declared_one() {
        let w = unknown_var_warnings(
            [
                "UIDGATE_PUBLIC_PATH",
                "BETTER_AUTH_SECRET_FIEL",
                "UIDGATE_SOMETHING_ELSE",
                "UIDGATE_LEEWAY_SECS",
                "PATH",
                "BETTER_AUTH_URL",
            ],
            KNOWN,
        );
        assert_eq!(
            w,
            [
                "unknown variable UIDGATE_PUBLIC_PATH is ignored; did you mean UIDGATE_PUBLIC_PATHS?",
                "unknown variable BETTER_AUTH_SECRET_FIEL is ignored",
                "unknown variable UIDGATE_SOMETHING_ELSE is ignored",
            ]
        );
        assert_eq!(
            closest("BETTER_AUTH_SECERT", KNOWN),
            Some("BETTER_AUTH_SECRET")
        );
        assert_eq!(
            closest("UIDGATE_LEWAY_SECS", KNOWN),
            Some("UIDGATE_LEEWAY_SECS")
        );
        assert_eq!(closest("UIDGATE_WHATEVER", KNOWN), None);
        // Three edits are a typo, four are another name; the nearest wins.
        assert_eq!(
            closest("UIDGATE_PUBLIC_PA", KNOWN),
            Some("UIDGATE_PUBLIC_PATHS")
        );
        assert_eq!(closest("UIDGATE_PUBLIC_P", KNOWN), None);
        assert_eq!(
            closest(
                "UIDGATE_LEEWAY_SECS",
                &["UIDGATE_LEEWAY_SECSXX", "UIDGATE_LEEWAY_SECSX"]
            ),
            Some("UIDGATE_LEEWAY_SECSX")
        );
    }
}
