//! The plain reader against the serde path: wherever it answers, the same claims.

use proptest::prelude::*;

use super::super::claims::{Claims, with_serde};
use super::{read, string_len, string_len_bytewise};

/// The plain reader's claims, or `None` where it leaves the payload to serde.
fn plain<'de>(payload: &'de [u8], uid: &[String], kept: &[String]) -> Option<Claims<'de>> {
    let mut claims = Claims::slots(uid.len(), kept.len());
    read(payload, uid, kept, &mut claims).map(|()| claims)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Payloads as issuers write them: the reader must answer for each (a reader that gave every
/// payload to serde would pass the differential test below), with serde's claims.
#[test]
fn reads_the_payloads_issuers_write() {
    let payloads = [
        // The benchmark's token, and uid-gate mint's.
        r#"{"uid":"alice","iat":1799999990,"exp":1800000900}"#,
        // Better Auth's jwt plugin: the whole user, then iat, exp, iss, aud, sub.
        r#"{"name":"Alice Liddell","email":"alice@example.com","emailVerified":true,"image":null,"createdAt":"2026-11-30T09:12:44.120Z","updatedAt":"2026-11-30T09:12:44.120Z","id":"usr_8f14e45fceea167a","iat":1799999990,"exp":1800000900,"iss":"https://app.example.com","aud":"https://app.example.com","sub":"usr_8f14e45fceea167a"}"#,
        // The admin plugin's fields on the user.
        r#"{"id":"u3","role":"user","banned":false,"banReason":null,"banExpires":null,"sub":"u3","exp":1800000900}"#,
        // The organization plugin's claims kept for a scope, and a non-ASCII name.
        r#"{"sub":"u1","org":{"id":"org_1","slug":"acme","role":"admin"},"role":["member","owner"],"name":"Zoë","exp":1800000900}"#,
        // Spaces, as Python's json.dumps writes them; negative and zero numbers.
        "{ \"sub\" : \"u2\", \"exp\" : 1800000900, \"nbf\" : 0, \"n\" : -0, \"m\" : [ ], \"o\" : { } }\n",
        "{}",
    ];
    let uid = names(&["uid", "sub"]);
    let kept = names(&["org", "role"]);
    for payload in payloads {
        let plain = plain(payload.as_bytes(), &uid, &kept);
        assert!(plain.is_some(), "left to serde: {payload}");
        assert_eq!(
            plain,
            with_serde(payload.as_bytes(), &uid, &kept).ok(),
            "{payload}"
        );
    }
}

/// The reader recurses into nested values: a deep nest of arrays or objects is given to
/// serde_json (which skips it without recursing) before it can exhaust the stack.
#[test]
fn leaves_a_deep_nest_to_serde() {
    let levels = 1 << 18;
    let arrays = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels));
    let uid = names(&["uid", "sub"]);
    for nest in [arrays, objects] {
        let deep = format!(r#"{{"sub":"u1","exp":7,"x":{nest}}}"#);
        assert!(plain(deep.as_bytes(), &uid, &[]).is_none());
        assert!(with_serde(deep.as_bytes(), &uid, &[]).is_ok());
    }
}

/// The word-at-a-time scan against the byte loop: every byte value at every position of
/// strings up to three words long, after ASCII and after non-ASCII bytes, and with a second
/// stop byte after the first (a borrow from a stop byte can flag the bytes above it).
#[test]
fn strings_end_where_the_byte_loop_says() {
    for filler in [b'a', 0xC3] {
        for len in 0..26 {
            for at in 0..len {
                for byte in 0..=u8::MAX {
                    for then in [b'a', b'"', 0x01, 0x80] {
                        let mut bytes = vec![filler; len];
                        bytes[at] = byte;
                        if at + 1 < len {
                            bytes[at + 1] = then;
                        }
                        assert_eq!(string_len(&bytes), string_len_bytewise(&bytes), "{bytes:?}");
                    }
                }
            }
        }
    }
}

/// Claim names: the configured ones, the registered ones, others, and names serde reads
/// differently from their bytes (escapes) or refuses (raw control bytes).
const NAMES: &[&str] = &[
    "uid", "sub", "exp", "iat", "nbf", "iss", "aud", "org", "role", "x",
];
#[rustfmt::skip]
const ODD_NAMES: &[&str] = &["", "ui", "uidd", r"u\u0069d", r#"e\"x"#, "é", "\u{1}", " exp", BAD];

/// The kept claims' values: serde_json reads them into a `Value`, which checks UTF-8.
#[rustfmt::skip]
const KEPT: [&[&str]; 2] = [
    &[r#""admin""#, r#"["member","owner"]"#, r#"{"id":"o1","role":"admin"}"#, "null", "7"],
    &["\"\u{e000}\"", "[\"\u{e000}\"]", "{\"\u{e000}\":1}", "1.5", r#""\u00e9""#],
];

/// Stands for a byte that is not UTF-8 (a `&str` cannot hold one): each is replaced by 0xFF.
const BAD: &str = "\u{e000}";

/// Values that each kind of claim may take, so that most payloads are read by the plain
/// reader: strings (uid, sub, iss, aud), time claims, and any value for the others; and for
/// each kind, values it must leave to serde, or that serde refuses.
#[rustfmt::skip]
const STRINGS: [&[&str]; 2] = [
    &[r#""alice""#, r#""é""#, r#""u 1""#],
    &[r#""""#, "\"\u{85}\"", "\"\u{7f}\"", "\"a\u{e000}\"", "7", "null", r#"["a"]"#],
];
#[rustfmt::skip]
const TIMES: [&[&str]; 2] = [
    &["0", "7", "1800000900", "9999999999999999999"],
    &["", "-", "01", "-1", "-0", "18446744073709551615", "18446744073709551616", "10000000000000000000",
      "1.5", "1e3", r#""7""#],
];
#[rustfmt::skip]
const VALUES: [&[&str]; 2] = [
    &[r#""alice""#, "-0", "-12", "1800000900", "true", "false", "null", "[]", "[1,2]",
      r#"["a",{"b":null}]"#, "{}", r#"{"a":[1]}"#, "[ 1 , { } ]"],
    &["", r#""a\"b""#, r#""\u0000""#, "\"\u{1}\"", "\"tab\t\"", r#""unterminated"#, "00", "-01",
      "-", "99999999999999999999999", "1.", "1E+3", "-2.5e-3", "tru", "nul", "True", "[1,]",
      r#"{"a"}"#, r#"{"a":1,}"#, "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", r#"{"a":"\n"}"#,
      "[01]", "[1.5]", "{\"a\":\"\u{1}\"}", "{1:2}", "[true false]", "[-]", "[\"\u{e000}\"]"],
];

/// JSON's whitespace, mostly none, and now and then a space JSON does not allow.
fn space() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        12 => Just(""),
        4 => prop::sample::select(&[" ", "\n", "\t", "\r", "  "][..]),
        1 => prop::sample::select(&["\u{a0}", "\u{b}", "\u{c}"][..]),
    ]
}

/// A name, and mostly a value of its kind, now and then an odd one.
fn member() -> impl Strategy<Value = String> {
    let name = prop_oneof![20 => prop::sample::select(NAMES), 1 => prop::sample::select(ODD_NAMES)];
    (name, space(), space()).prop_flat_map(|(name, a, b)| {
        let [fitting, odd] = match name {
            "uid" | "sub" | "iss" | "aud" => STRINGS,
            "exp" | "iat" | "nbf" => TIMES,
            "org" | "role" => KEPT,
            _ => VALUES,
        };
        let value = prop_oneof![
            20 => prop::sample::select(fitting).prop_map(str::to_owned),
            3 => prop::sample::select(odd).prop_map(str::to_owned),
            2 => prop::sample::select(VALUES[0]).prop_map(str::to_owned),
            2 => prop::sample::select(VALUES[1]).prop_map(str::to_owned),
            3 => long_string(),
            // Deeper than serde_json reads (128).
            1 => Just(format!("{}1{}", "[".repeat(130), "]".repeat(130))),
        ];
        value.prop_map(move |value| format!("\"{name}\"{a}:{b}{value}"))
    })
}

/// A string longer than the reader's eight-byte steps, mostly plain, now and then with a byte
/// that is not ASCII or not UTF-8, a control byte or an escape somewhere in it.
fn long_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        30 => Just("a"),
        1 => prop::sample::select(&["é", BAD, "\u{1}", "\u{1f}", "\u{7f}", "\\n", "\\\"", " "][..]),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| format!("\"{}\"", p.concat()))
}

prop_compose! {
    /// An object of claims, now and then altered after: a byte replaced, inserted or cut off.
    fn payload()(members in prop::collection::vec(member(), 0..6),
                 space in space(), edit in 0..12u8,
                 at in any::<prop::sample::Index>(), byte in any::<u8>()) -> Vec<u8> {
        let text = format!("{space}{{{}}}{space}", members.join(","));
        // No value holds a NUL byte: each stands for BAD until it is made 0xFF.
        let mut bytes = text.replace(BAD, "\u{0}").into_bytes();
        bytes.iter_mut().filter(|b| **b == 0).for_each(|b| *b = 0xFF);
        let i = at.index(bytes.len());
        match edit {
            0 => bytes[i] = byte,
            1 => bytes.insert(i, byte),
            2 => bytes.truncate(i),
            _ => {}
        }
        bytes
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000)
    ))]

    /// Wherever the plain reader answers, serde reads the same claims; where serde refuses,
    /// the plain reader does not answer.
    #[test]
    fn answers_only_as_serde_does(payload in payload(), kept in any::<bool>()) {
        let uid = names(&["uid", "sub"]);
        let kept = if kept { names(&["org", "role"]) } else { Vec::new() };
        if let Some(plain) = plain(&payload, &uid, &kept) {
            prop_assert_eq!(Some(plain), with_serde(&payload, &uid, &kept).ok(),
                "{}", String::from_utf8_lossy(&payload));
        }
    }
}
