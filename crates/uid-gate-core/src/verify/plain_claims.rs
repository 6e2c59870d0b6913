//! The claims of a plain payload, read without serde: the object a token issuer writes, with
//! no escapes, no duplicate names and integer time claims.
//!
//! Every allowed request reads its token's claims, and serde_json's layers cost more than the
//! reading itself: this reader takes 810 instructions off the decision's 6,025 (SHA-256 aside)
//! for the benchmark's token, and 1,650 for a Better Auth one. It accepts only what it can read
//! exactly as the serde path ([`fill_with_serde`]) does, and gives up (`None`) on
//! anything else: an escape, a duplicate name, a float, a nesting deeper than
//! [`MAX_DEPTH`], a uid claim that is not a string. The serde path then reads the payload
//! from the start, and decides every refusal. So this reader never refuses anything; the
//! differential test below holds it to the serde path's result wherever it answers.

use std::borrow::Cow;

use smallvec::SmallVec;

use super::VerifyError;
use super::claims::{Claims, NAMES_ON_STACK, fill_with_serde, same_bytes, user_id};

/// The claims of a decoded payload, with the configured uid claim names, and the claims kept
/// for scopes and roles. A plain payload is read here, any other by serde_json
/// ([`fill_with_serde`]), which also decides every refusal.
pub(super) fn parse_claims<'de>(
    payload: &'de [u8],
    uid_claims: &[String],
    captured: &[String],
) -> Result<Claims<'de>, VerifyError> {
    // Filled in place: serde's layers, and an `Option` around the plain reader's result,
    // would move the struct (some 200 bytes, a `memcpy` each) several times.
    let mut claims = Claims::slots(uid_claims.len(), captured.len());
    if read(payload, uid_claims, captured, &mut claims).is_none() {
        claims = Claims::slots(uid_claims.len(), captured.len());
        fill_with_serde(payload, uid_claims, captured, &mut claims)?;
    }
    Ok(claims)
}

/// Objects and arrays nested deeper than this inside a claim are left to serde_json.
const MAX_DEPTH: u8 = 16;

/// Fills `claims` (with its empty slots) from `payload` as the serde path would; `None` where
/// this reader gives the payload to the serde path, with `claims` partly filled.
pub(super) fn read<'de>(
    payload: &'de [u8],
    uid_claims: &[String],
    captured: &[String],
    claims: &mut Claims<'de>,
) -> Option<()> {
    let mut seen = SmallVec::<[&[u8]; NAMES_ON_STACK]>::new();
    let mut at = Cursor {
        bytes: payload,
        at: 0,
    };
    at.space();
    at.eat(b'{')?;
    at.space();
    if at.eat(b'}').is_none() {
        loop {
            // serde_json checks that a name is UTF-8; an ASCII name is, and any other is left
            // to serde (it skips that check inside the values it ignores, as `value` does).
            let (name, ascii) = at.string()?;
            if !ascii {
                return None;
            }
            at.space();
            at.eat(b':')?;
            at.space();
            if seen.iter().any(|s| same_bytes(s, name)) {
                return None;
            }
            if let Some(slot) = uid_claims
                .iter()
                .position(|c| same_bytes(c.as_bytes(), name))
            {
                let value = at.text()?;
                claims.user_id[slot] = Some(user_id(Cow::Borrowed(value)));
            } else if let Some(slot) = captured.iter().position(|c| same_bytes(c.as_bytes(), name))
            {
                let start = at.at;
                at.value(0)?;
                let value = serde_json::from_slice(&payload[start..at.at]).ok()?;
                claims.captured[slot] = Some(value);
            } else {
                match name {
                    b"exp" => claims.exp = Some(at.uint()?),
                    b"nbf" => claims.nbf = Some(at.uint()?),
                    b"iat" => claims.iat = Some(at.uint()?),
                    b"iss" => claims.iss = Some(Cow::Borrowed(at.text()?)),
                    b"aud" => claims.aud = smallvec::smallvec![Cow::Borrowed(at.text()?)],
                    _ => at.value(0)?,
                }
            }
            seen.push(name);
            at.space();
            if at.eat(b',').is_some() {
                at.space();
            } else {
                at.eat(b'}')?;
                break;
            }
        }
    }
    at.space();
    (at.at == payload.len()).then_some(())
}

/// A position in the payload; each method reads one piece of JSON there or answers `None`.
struct Cursor<'de> {
    bytes: &'de [u8],
    at: usize,
}

impl<'de> Cursor<'de> {
    /// JSON's four whitespace bytes, as serde_json skips them.
    fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    /// A string with no escape and no control byte (which JSON forbids raw): its bytes
    /// between the quotes, not checked for UTF-8, and whether they are all ASCII.
    #[inline(always)]
    fn string(&mut self) -> Option<(&'de [u8], bool)> {
        self.eat(b'"')?;
        let start = self.at;
        let (len, ascii) = string_len(self.bytes.get(start..)?)?;
        self.at = start + len + 1;
        Some((&self.bytes[start..start + len], ascii))
    }

    /// A string as serde_json reads it into a `str`: checked for UTF-8.
    fn text(&mut self) -> Option<&'de str> {
        std::str::from_utf8(self.string()?.0).ok()
    }

    /// An integer with no sign, fraction, exponent or leading zero that fits 19 digits (so it
    /// fits a `u64`): the time claims serde reads as `u64` without refusing.
    fn uint(&mut self) -> Option<u64> {
        let (digits, n) = self.digits()?;
        (digits <= 19).then_some(n)
    }

    /// JSON's digits of an integer from here: at least one, and no leading zero. How many,
    /// and their value (wrapping: a caller that wants it bounds the count).
    fn digits(&mut self) -> Option<(usize, u64)> {
        let start = self.at;
        let mut n = 0u64;
        while let Some(&d @ b'0'..=b'9') = self.bytes.get(self.at) {
            n = n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.bytes[start] == b'0';
        (digits > 0 && !leading_zero).then_some((digits, n))
    }

    /// Any value, checked as serde_json checks a value it ignores, but for what is left to
    /// serde: escapes, fractions and exponents, nesting deeper than [`MAX_DEPTH`].
    fn value(&mut self, depth: u8) -> Option<()> {
        match *self.bytes.get(self.at)? {
            b'"' => self.string().map(drop),
            b'{' => self.nested(depth, b'}', |at| {
                at.string()?;
                at.space();
                at.eat(b':')?;
                at.space();
                at.value(depth + 1)
            }),
            b'[' => self.nested(depth, b']', |at| at.value(depth + 1)),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            _ => {
                self.eat(b'-');
                self.digits().map(drop)
            }
        }
    }

    /// An object or an array: `item` reads one member or element.
    fn nested(
        &mut self,
        depth: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.space();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            self.space();
            if self.eat(b',').is_none() {
                return self.eat(close);
            }
            self.space();
        }
    }

    fn word(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }
}

/// How many bytes of `bytes` come before its first `"`, and whether they are all ASCII;
/// `None` when a backslash or a control byte comes first, or there is no `"`.
///
/// Claim strings are most of a real payload (Better Auth's user: names, e-mail, dates, URLs).
/// Eight bytes at a time, with the classic bit test for a byte below a bound, takes 1,300
/// instructions off the decision for a Better Auth token (40,517 with SHA-256 in software),
/// and adds 15 to the benchmark token's, whose strings fit a word. [`string_len_bytewise`]
/// states the rule plainly; a test holds the two to the same answer for every byte at every
/// position.
#[inline(always)]
fn string_len(bytes: &[u8]) -> Option<(usize, bool)> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of `w` that is below `n` (n <= 0x80). A byte's borrow can
    // flag the bytes above it, but the lowest flagged byte is always a true one.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let mut at = 0;
    let mut high = 0;
    while let Some(&word) = bytes.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(word);
        let stops = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if stops != 0 {
            // Little-endian: the lowest flagged bit is the first stop byte.
            let i = stops.trailing_zeros() as usize / 8;
            high |= w & HIGH & ((1 << (8 * i)) - 1);
            return (word[i] == b'"').then_some((at + i, high == 0));
        }
        high |= w & HIGH;
        at += 8;
    }
    let (len, ascii) = string_len_bytewise(&bytes[at..])?;
    Some((at + len, ascii && high == 0))
}

/// [`string_len`] a byte at a time: for the last few bytes, and the rule stated plainly.
fn string_len_bytewise(bytes: &[u8]) -> Option<(usize, bool)> {
    let mut ascii = true;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => return Some((i, ascii)),
            b'\\' | 0..0x20 => return None,
            b => ascii &= b.is_ascii(),
        }
    }
    None
}

#[cfg(test)]
#[path = "plain_claims_tests.rs"]
mod tests;
