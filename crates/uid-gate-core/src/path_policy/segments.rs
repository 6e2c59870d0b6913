//! A path's segments, split once per request with no allocation for a usual path.

use std::ops::Deref;

use super::PathError;

/// Segments held on the stack; a path with more spills into a `Vec`.
const ON_STACK: usize = 16;

/// The segments of a path, in order.
pub(super) struct Segments<'a> {
    first: [&'a str; ON_STACK],
    len: usize,
    all: Vec<&'a str>,
}

impl<'a> Deref for Segments<'a> {
    type Target = [&'a str];

    fn deref(&self) -> &[&'a str] {
        if self.len <= ON_STACK {
            &self.first[..self.len]
        } else {
            &self.all
        }
    }
}

impl<'a> Segments<'a> {
    fn push(&mut self, segment: &'a str) {
        if self.len < ON_STACK {
            self.first[self.len] = segment;
        } else {
            if self.len == ON_STACK {
                self.all.extend_from_slice(&self.first);
            }
            self.all.push(segment);
        }
        self.len += 1;
    }
}

/// Splits `/a/b/c[/]` into segments; one trailing `/` is allowed, other empty segments are not.
pub(super) fn split_segments(path: &str) -> Result<Segments<'_>, PathError> {
    let mut segments = Segments {
        first: [""; ON_STACK],
        len: 0,
        all: Vec::new(),
    };
    let rest = path.get(1..).unwrap_or_default();
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        // "/" or "//": the root has no segments; "//" is an empty segment.
        return if path.len() == 1 {
            Ok(segments)
        } else {
            Err(PathError::EmptySegment)
        };
    }
    for s in rest.split('/') {
        match s {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => segments.push(s),
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_path_keeps_every_segment_in_order() {
        for n in [0, 1, ON_STACK - 1, ON_STACK, ON_STACK + 1, 3 * ON_STACK] {
            let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
            let path = format!("/{}", names.join("/"));
            let segments = split_segments(&path).expect("a path");
            assert_eq!(&*segments, names.as_slice(), "{n} segments");
        }
    }
}
