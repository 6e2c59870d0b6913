//! A path's segments, split once per request with no allocation for a usual path.

use smallvec::SmallVec;

use super::PathError;

/// Segments held on the stack; a path with more spills onto the heap.
const ON_STACK: usize = 16;

/// The segments of a path, in order.
pub(super) type Segments<'a> = SmallVec<[&'a str; ON_STACK]>;

/// Splits `/a/b/c[/]` into segments; one trailing `/` is allowed, other empty segments are not.
pub(super) fn split_segments(path: &str) -> Result<Segments<'_>, PathError> {
    let mut segments = Segments::new();
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
