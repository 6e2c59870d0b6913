//! Logging: JSON lines (default) or text on stdout, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Returns false if one was already installed (tests).
pub fn init(format: LogFormat, filter: &str) -> bool {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
            .is_ok(),
        LogFormat::Text => builder.with_ansi(false).try_init().is_ok(),
    }
}

/// A request-derived string made safe for a log line: at most `max` bytes, control
/// characters replaced, so a hostile path cannot forge or flood log lines.
pub fn sanitize(value: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let mut end = value.len().min(max);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &value[..end];
    if cut.len() == value.len() && !cut.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out: String = cut
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if end < value.len() {
        out.push('…');
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn sanitize_cuts_and_replaces() {
        assert_eq!(sanitize("/api/u1", 64), "/api/u1");
        assert_eq!(sanitize("/a\nb", 64), "/a\u{fffd}b");
        assert_eq!(sanitize("/abcdef", 4), "/abc…");
        assert_eq!(sanitize("/éé", 2), "/…");
    }
}
