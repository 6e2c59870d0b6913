//! A claim path (`activeOrganizationId`, `teams.id`): keys separated by dots, walked over the
//! verified claims; where a step meets an array, the rest of the path applies to each element.

use serde_json::Value;

/// A parsed claim path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    source: String,
    keys: Vec<String>,
}

/// What a claim path reaches in one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// The usable values (non-empty strings without control characters, integers in
    /// canonical decimal); empty when the claim is absent, `null`, an empty array, or holds
    /// nothing at the path.
    Values(Vec<String>),
    /// A value of another type (an object, a float, a boolean, an empty string) where the path
    /// ends, or a scalar where it goes on: the issuer's payload does not have the configured
    /// shape.
    WrongType,
}

impl ClaimPath {
    /// Parses `a.b.c`: non-empty keys without spaces, commas, `=` or control characters.
    pub fn parse(source: &str) -> Result<Self, String> {
        let keys: Vec<String> = source.split('.').map(str::to_owned).collect();
        let bad = |k: &String| {
            k.is_empty()
                || k.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '=')
        };
        if keys.iter().any(bad) {
            return Err(format!(
                "{source:?} is not a claim path (keys separated by dots, e.g. teams.id)"
            ));
        }
        Ok(Self {
            source: source.to_owned(),
            keys,
        })
    }

    /// The path as configured.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The top-level claim the path starts at.
    pub fn claim(&self) -> &str {
        &self.keys[0]
    }

    /// What the path reaches from the top-level claim's value (`None`: the claim is absent).
    pub fn reach(&self, claim: Option<&Value>) -> Reached {
        let mut found = Vec::new();
        match claim.map(|v| walk(v, &self.keys[1..], &mut found)) {
            Some(Err(WrongType)) => Reached::WrongType,
            _ => Reached::Values(found),
        }
    }

    /// The strings the path reaches, ignoring anything else: roles, where a claim of another
    /// shape grants nothing.
    pub fn strings<'v>(&self, claim: Option<&'v Value>) -> Vec<&'v str> {
        let mut out = Vec::new();
        if let Some(v) = claim {
            strings(v, &self.keys[1..], &mut out);
        }
        out
    }
}

struct WrongType;

fn walk(value: &Value, keys: &[String], found: &mut Vec<String>) -> Result<(), WrongType> {
    match (value, keys.split_first()) {
        (Value::Array(items), _) => items.iter().try_for_each(|v| walk(v, keys, found)),
        (Value::Null, _) => Ok(()),
        (Value::Object(map), Some((key, rest))) => match map.get(key) {
            Some(v) => walk(v, rest, found),
            None => Ok(()),
        },
        (Value::String(s), None) if !s.is_empty() && !s.chars().any(char::is_control) => {
            found.push(s.clone());
            Ok(())
        }
        (Value::Number(n), None) if n.is_u64() || n.is_i64() => {
            found.push(n.to_string());
            Ok(())
        }
        _ => Err(WrongType),
    }
}

fn strings<'v>(value: &'v Value, keys: &[String], out: &mut Vec<&'v str>) {
    match (value, keys.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|v| strings(v, keys, out)),
        (Value::Object(map), Some((key, rest))) => {
            if let Some(v) = map.get(key) {
                strings(v, rest, out);
            }
        }
        (Value::String(s), None) => out.push(s),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reach(path: &str, claims: Value) -> Reached {
        let p = ClaimPath::parse(path).expect("path");
        p.reach(claims.get(p.claim()))
    }

    fn values(v: &[&str]) -> Reached {
        Reached::Values(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn paths_are_parsed_strictly() {
        assert_eq!(ClaimPath::parse("teams.id").expect("ok").claim(), "teams");
        for bad in ["", ".a", "a.", "a..b", "a b", "a,b", "a=b", "a\tb"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_path_reaches_strings_and_integers_through_arrays() {
        assert_eq!(reach("org", json!({"org": "o1"})), values(&["o1"]));
        assert_eq!(reach("org", json!({"org": 42})), values(&["42"]));
        assert_eq!(reach("org", json!({"org": -7})), values(&["-7"]));
        assert_eq!(reach("org", json!({"org": ["a", 2]})), values(&["a", "2"]));
        assert_eq!(
            reach(
                "teams.id",
                json!({"teams": [{"id": "t1"}, {"id": "t2"}, {"x": 1}]})
            ),
            values(&["t1", "t2"])
        );
        assert_eq!(
            reach("a.b.c", json!({"a": {"b": [{"c": "x"}, [{"c": "y"}]]}})),
            values(&["x", "y"])
        );
    }

    #[test]
    fn absence_and_null_reach_nothing() {
        assert_eq!(reach("org", json!({})), values(&[]));
        assert_eq!(reach("org", json!({"org": null})), values(&[]));
        assert_eq!(reach("org", json!({"org": []})), values(&[]));
        assert_eq!(reach("teams.id", json!({"teams": [{}]})), values(&[]));
        assert_eq!(
            reach("teams.id", json!({"teams": {"id": null}})),
            values(&[])
        );
    }

    #[test]
    fn any_other_shape_is_the_wrong_type() {
        for claims in [
            json!({"org": {"id": "o1"}}),
            json!({"org": 1.5}),
            json!({"org": true}),
            json!({"org": ""}),
            json!({"org": "a\u{7}"}),
            json!({"org": ["o1", {"id": "o2"}]}),
        ] {
            assert_eq!(reach("org", claims.clone()), Reached::WrongType, "{claims}");
        }
        assert_eq!(
            reach("teams.id", json!({"teams": "t1"})),
            Reached::WrongType
        );
        assert_eq!(reach("teams.id", json!({"teams": [3]})), Reached::WrongType);
    }

    #[test]
    fn strings_ignore_other_shapes() {
        let p = ClaimPath::parse("role").expect("path");
        let claims = json!({"role": ["admin", 3, {"x": "y"}, "user"]});
        assert_eq!(p.strings(claims.get("role")), ["admin", "user"]);
        let p = ClaimPath::parse("a.r").expect("path");
        let claims = json!({"a": [{"r": "x"}, {"r": 1}, "s"]});
        assert_eq!(p.strings(claims.get("a")), ["x"]);
        assert!(p.strings(None).is_empty());
    }
}
