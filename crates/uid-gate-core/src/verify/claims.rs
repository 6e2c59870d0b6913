//! The claims: parsed once, strictly typed, with configurable user id claim names.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use smallvec::SmallVec;

use super::VerifyError;

/// The user id claim's value, judged while parsing; borrowed from the payload unless it had
/// escapes (only the claim that decides is copied).
#[derive(Debug)]
#[cfg_attr(test, derive(PartialEq))]
pub(super) enum UserIdValue<'de> {
    Valid(Cow<'de, str>),
    Invalid,
}

#[derive(Debug, Default)]
#[cfg_attr(test, derive(PartialEq))]
pub(super) struct Claims<'de> {
    pub(super) exp: Option<u64>,
    pub(super) nbf: Option<u64>,
    pub(super) iat: Option<u64>,
    /// Borrowed from the payload where the plain reader read it: most deployments check
    /// neither, and a copy would allocate on every request.
    pub(super) iss: Option<Cow<'de, str>>,
    pub(super) aud: SmallVec<[Cow<'de, str>; 1]>,
    /// One slot per configured uid claim, in configured order (`uid`, `sub`: on the stack).
    pub(super) user_id: SmallVec<[Option<UserIdValue<'de>>; 2]>,
    /// One slot per kept claim (scope and role claims), in the order asked for.
    pub(super) captured: Vec<Option<serde_json::Value>>,
}

impl Claims<'_> {
    /// No claims yet, with a slot for each configured uid claim and each kept claim.
    pub(super) fn slots(uid_claims: usize, captured: usize) -> Self {
        Claims {
            user_id: (0..uid_claims).map(|_| None).collect(),
            captured: vec![None; captured],
            ..Claims::default()
        }
    }
}

/// The claims of `payload` through serde_json, whatever the payload.
#[cfg(test)]
pub(super) fn with_serde<'de>(
    payload: &'de [u8],
    uid_claims: &[String],
    captured: &[String],
) -> Result<Claims<'de>, VerifyError> {
    let mut claims = Claims::slots(uid_claims.len(), captured.len());
    fill_with_serde(payload, uid_claims, captured, &mut claims).map(|()| claims)
}

/// Fills `claims` (with its empty slots) from `payload` through serde_json.
pub(super) fn fill_with_serde<'de>(
    payload: &'de [u8],
    uid_claims: &[String],
    captured: &[String],
    claims: &mut Claims<'de>,
) -> Result<(), VerifyError> {
    let reason = Cell::new(None);
    let seed = ClaimsSeed {
        uid_claims,
        captured,
        reason: &reason,
        claims,
    };
    let mut de = serde_json::Deserializer::from_slice(payload);
    seed.deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|_| reason.get().unwrap_or(VerifyError::MalformedClaims))
}

/// Deserializes the claims object with the configured uid claim names into `claims`; records
/// the precise reason of a failure in `reason` because serde errors only carry text.
struct ClaimsSeed<'s, 'de> {
    uid_claims: &'s [String],
    captured: &'s [String],
    reason: &'s Cell<Option<VerifyError>>,
    claims: &'s mut Claims<'de>,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fail = |reason: VerifyError| {
            self.reason.set(Some(reason));
            de::Error::custom("claims rejected")
        };
        let claims = self.claims;
        let mut seen = Seen::new();
        while let Some(ClaimName(name)) = map.next_key()? {
            if seen.iter().any(|s| same(s, &name)) {
                return Err(fail(VerifyError::DuplicateClaim));
            }
            if let Some(slot) = self.uid_claims.iter().position(|c| same(c, &name)) {
                claims.user_id[slot] = Some(map.next_value::<UserIdValue>()?);
            } else if let Some(slot) = self.captured.iter().position(|c| same(c, &name)) {
                // Settings keep kept claims apart from uid and registered claims.
                claims.captured[slot] = Some(map.next_value::<serde_json::Value>()?);
            } else {
                match &*name {
                    "exp" | "nbf" | "iat" => {
                        let v = map
                            .next_value::<u64>()
                            .map_err(|_| fail(VerifyError::BadTimeClaim))?;
                        match &*name {
                            "exp" => claims.exp = Some(v),
                            "nbf" => claims.nbf = Some(v),
                            _ => claims.iat = Some(v),
                        }
                    }
                    "iss" => claims.iss = Some(Cow::Owned(map.next_value()?)),
                    "aud" => {
                        claims.aud = match map.next_value::<Audience>()? {
                            Audience::One(a) => smallvec::smallvec![Cow::Owned(a)],
                            Audience::Many(a) => a.into_iter().map(Cow::Owned).collect(),
                        }
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            seen.push(name);
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// A claim name, borrowed from the payload unless it had escapes.
struct ClaimName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for ClaimName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClaimName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ClaimName(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ClaimName(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for UserIdValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UserIdValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a user id")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(user_id(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(user_id(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(UserIdValue::Valid(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(UserIdValue::Valid(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(UserIdValue::Invalid)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(UserIdValue::Invalid)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(UserIdValue::Invalid)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(UserIdValue::Invalid)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(UserIdValue::Invalid)
            }
        }
        d.deserialize_any(V)
    }
}

/// Whether two claim names are equal. Names of a token mostly differ in length or first
/// byte, and comparing those first spares most pairs a call to `memcmp` (each claim name is
/// compared with every earlier one and with the configured names).
pub(super) fn same(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// [`same`] for names as bytes.
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a == b
}

/// A string user id: control bytes would end up in the `x-user-id` header sent upstream.
pub(super) fn user_id(v: Cow<'_, str>) -> UserIdValue<'_> {
    if v.is_empty() || v.chars().any(char::is_control) {
        UserIdValue::Invalid
    } else {
        UserIdValue::Valid(v)
    }
}

/// The claim names read so far, for the duplicate check: the first few on the stack (a usual
/// token has fewer), the rest on the heap.
type Seen<'de> = SmallVec<[Cow<'de, str>; NAMES_ON_STACK]>;

/// How many claim names the duplicate checks (here and in the plain reader) hold on the stack.
pub(super) const NAMES_ON_STACK: usize = 12;

#[cfg(test)]
mod tests {
    use super::same;

    /// `same` against `==`, over names that share a length, a first byte, or both.
    #[test]
    fn names_compare_as_equal_strings_do() {
        let names = [
            "", "a", "b", "uid", "uix", "sub", "iat", "iss", "exp", "email", "emailX", "é", "è",
        ];
        for a in names {
            for b in names {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
