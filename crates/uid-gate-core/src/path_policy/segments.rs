//! A request target read once: its path's bytes checked and its segments split in one pass,
//! with no allocation for a usual path.

use smallvec::SmallVec;

use super::{PathError, escaped};

/// Segments held on the stack (an API path has fewer); a path with more spills onto the heap.
const ON_STACK: usize = 8;

/// The segments of a path, in order.
pub(super) type Segments<'a> = SmallVec<[&'a str; ON_STACK]>;

/// A safe path's segments, and whether any of them holds a `%` (only then does a comparison
/// need to decode: a path without one compares its bytes as they are).
#[derive(Default)]
pub(super) struct Path<'a> {
    pub(super) segments: Segments<'a>,
    pub(super) encoded: bool,
}

/// Bytes that need a look: controls, non-ASCII, `#`, `%`, `/`, `;`, `?`, `\`. Every other
/// byte is part of a segment as it is.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b < 0x20 || b >= 0x7f || matches!(b as u8, b'#' | b'%' | b'/' | b';' | b'?' | b'\\');
        b += 1;
    }
    t
};

/// Reads the path of a request target (`path[?query]`; the query is not judged).
///
/// Byte rules first, in the order the bytes come: controls (raw or encoded), non-ASCII, `#`,
/// `\`, `;`, a bad or encoded separator or dot. Then segment rules, the first in the path
/// deciding: `/a/b/c[/]` with one trailing `/` allowed and no other empty segment, no `.` or
/// `..`. The path is filled in place (returned, its segments would be copied once more).
pub(super) fn scan<'a>(target: &'a str, path: &mut Path<'a>) -> Result<(), PathError> {
    let bytes = target.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotOriginForm);
    }
    let segments = &mut path.segments;
    // A segment rule broken: reported only if no byte rule is, wherever that byte is.
    let mut segment_error = None;
    let mut start = 1;
    let mut end = bytes.len();
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if !SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        match b {
            b'/' => {
                // Both ends sit next to an ASCII `/`, so `get` finds char boundaries.
                let segment = target.get(start..i).unwrap_or_default();
                if segment_error.is_none() {
                    segment_error = segment_rule(segment);
                }
                segments.push(segment);
                start = i + 1;
            }
            b'?' => {
                end = i;
                break;
            }
            b'%' => {
                escape(bytes, i)?;
                path.encoded = true;
                i += 2;
            }
            b'#' => return Err(PathError::Fragment),
            b'\\' => return Err(PathError::Backslash),
            b';' => return Err(PathError::PathParameter),
            b if b >= 0x80 => return Err(PathError::NonAscii),
            _ => return Err(PathError::ControlByte),
        }
        i += 1;
    }
    // The last segment; empty only after a trailing `/` (or for `/` itself), which is allowed.
    let last = target.get(start..end).unwrap_or_default();
    if !last.is_empty() {
        if segment_error.is_none() {
            segment_error = segment_rule(last);
        }
        segments.push(last);
    }
    segment_error.map_or(Ok(()), Err)
}

/// The rule for the `%` at `bytes[i]`: two hex digits, naming no separator, dot or control.
fn escape(bytes: &[u8], i: usize) -> Result<(), PathError> {
    match escaped(bytes, i).ok_or(PathError::BadPercentEncoding)? {
        b'/' | b'\\' => Err(PathError::EncodedSeparator),
        b'.' => Err(PathError::EncodedDot),
        d if d < 0x20 || d == 0x7f => Err(PathError::ControlByte),
        _ => Ok(()),
    }
}

/// The rule for one segment between two slashes, or the last one.
fn segment_rule(segment: &str) -> Option<PathError> {
    match segment {
        "" => Some(PathError::EmptySegment),
        "." | ".." => Some(PathError::DotSegment),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_path_keeps_every_segment_in_order() {
        for n in [0, 1, ON_STACK - 1, ON_STACK, ON_STACK + 1, 3 * ON_STACK] {
            let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
            let path = format!("/{}", names.join("/"));
            // ("/" + "/" is an empty segment.)
            let trailing = if n == 0 {
                path.clone()
            } else {
                format!("{path}/")
            };
            for target in [path.clone(), trailing, format!("{path}?q=/a/b")] {
                let read = read(&target).expect("a path");
                assert_eq!(&*read.segments, names.as_slice(), "{target}");
                assert!(!read.encoded, "{target}");
            }
        }
    }

    #[test]
    fn an_escape_anywhere_in_the_path_marks_it_encoded_but_not_in_the_query() {
        for (target, encoded) in [
            ("/%61pi/bob", true),
            ("/api/bob/x%20y", true),
            ("/api/bob%41", true),
            ("/api/bob?x=%41", false),
            ("/api/bob", false),
        ] {
            assert_eq!(read(target).map(|p| p.encoded), Ok(encoded), "{target}");
        }
    }

    /// The one-pass reader against the rules stated one at a time: every byte at every place
    /// of a short path, so no byte's class or rule order can drift.
    #[test]
    fn one_pass_agrees_with_the_rules_one_at_a_time() {
        let chars = (0u8..=0x7f).map(char::from).chain(['\u{80}', 'é', 'ｕ']);
        let fillers = ["", "a", "%41", "%2e", ".", "..", "/", "//", "?x", "%2F"];
        for c in chars {
            for before in fillers {
                for after in fillers {
                    for target in [
                        format!("/{before}{c}{after}"),
                        format!("/x/{before}/{c}{after}/y"),
                        format!("{c}/{before}"),
                    ] {
                        assert_eq!(
                            read(&target).map(|p| p.segments.to_vec()),
                            reference(&target),
                            "{target:?}"
                        );
                    }
                }
            }
        }
    }

    fn read(target: &str) -> Result<Path<'_>, PathError> {
        let mut path = Path::default();
        scan(target, &mut path).map(|()| path)
    }

    /// The rules one at a time, as they were first written: the query cut off, then every
    /// byte of the path, then the segments.
    fn reference(target: &str) -> Result<Vec<&str>, PathError> {
        let path = target.split('?').next().unwrap_or_default();
        let bytes = path.as_bytes();
        if bytes.first() != Some(&b'/') {
            return Err(PathError::NotOriginForm);
        }
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b if b < 0x20 || b == 0x7f => return Err(PathError::ControlByte),
                b if b >= 0x80 => return Err(PathError::NonAscii),
                b'#' => return Err(PathError::Fragment),
                b'\\' => return Err(PathError::Backslash),
                b';' => return Err(PathError::PathParameter),
                b'%' => {
                    // The escape's own rule is shared (the path tests check it at its bounds).
                    escape(bytes, i)?;
                    i += 2;
                }
                _ => {}
            }
            i += 1;
        }
        let rest = &path[1..];
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return if path.len() == 1 {
                Ok(Vec::new())
            } else {
                Err(PathError::EmptySegment)
            };
        }
        rest.split('/')
            .map(|s| match s {
                "" => Err(PathError::EmptySegment),
                "." | ".." => Err(PathError::DotSegment),
                s => Ok(s),
            })
            .collect()
    }
}
