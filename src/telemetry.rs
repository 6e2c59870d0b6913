//! Logging: JSON lines (default) or text on stdout, filtered by `RUST_LOG`.
//!
//! Every decision is logged, so log lines are on the hot path. They are formatted on the
//! request's thread into a shared buffer, and a background thread writes that buffer to
//! stdout every few milliseconds: a check never waits on write(2) or on a slow log reader.
//! The buffer is bounded; past the bound the writer flushes inline, which slows requests
//! down rather than dropping log lines.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// How often the background thread writes buffered lines.
const FLUSH_EVERY: Duration = Duration::from_millis(10);
/// Buffered bytes past which a writer flushes inline (back-pressure instead of loss).
const MAX_BUFFERED: usize = 4 << 20;

/// Installs the global subscriber writing to stdout through a [`LogSink`]. Keep the returned
/// guard alive: dropping it writes whatever is still buffered. `None` if a subscriber was
/// already installed (tests).
pub fn init(format: LogFormat, filter: &str) -> Option<LogGuard> {
    let filter = EnvFilter::try_new(filter)
        .unwrap_or_else(|_| EnvFilter::new(crate::config::RUST_LOG.default.unwrap_or_default()));
    let (sink, guard) = LogSink::spawn(Box::new(std::io::stdout()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
            .is_ok(),
        LogFormat::Text => builder.with_ansi(false).try_init().is_ok(),
    };
    installed.then_some(guard)
}

struct Shared {
    /// Lines formatted but not written yet. Lock order: `buf`, then `out`.
    buf: Mutex<Buf>,
    out: Mutex<Box<dyn Write + Send>>,
    wake: Condvar,
}

struct Buf {
    bytes: Vec<u8>,
    closed: bool,
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain bytes behind: keep logging.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Writes `batch`, taking the output lock before the buffer lock is released, so batches
    /// reach the output in the order they were buffered.
    fn write_batch(&self, buf: MutexGuard<'_, Buf>, batch: &[u8]) {
        let mut out = lock(&self.out);
        drop(buf);
        // Logging must never take the service down; a closed stdout loses lines.
        let _ = out.write_all(batch);
        let _ = out.flush();
    }
}

/// A buffered, background-flushed log destination (a tracing `MakeWriter`).
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

/// Flushes and stops the background writer when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogSink {
    /// Starts the background writer for `out`.
    pub fn spawn(out: Box<dyn Write + Send>) -> (LogSink, LogGuard) {
        let shared = Arc::new(Shared {
            buf: Mutex::new(Buf {
                bytes: Vec::with_capacity(64 << 10),
                closed: false,
            }),
            out: Mutex::new(out),
            wake: Condvar::new(),
        });
        let bg = shared.clone();
        let thread = std::thread::Builder::new()
            .name("uid-gate-log".into())
            .spawn(move || {
                let mut spare = Vec::with_capacity(64 << 10);
                let mut buf = lock(&bg.buf);
                loop {
                    if !buf.bytes.is_empty() {
                        // Swap in an empty buffer of the same capacity, write the full one
                        // with the buffer lock released.
                        std::mem::swap(&mut buf.bytes, &mut spare);
                        bg.write_batch(buf, &spare);
                        spare.clear();
                        buf = lock(&bg.buf);
                    }
                    if buf.closed {
                        return;
                    }
                    buf = bg
                        .wake
                        .wait_timeout(buf, FLUSH_EVERY)
                        .map_or_else(|e| e.into_inner().0, |(g, _)| g);
                }
            })
            .ok();
        (
            LogSink {
                shared: shared.clone(),
            },
            LogGuard { shared, thread },
        )
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        lock(&self.shared.buf).closed = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Whatever is left (or everything, if the thread never started).
        let mut buf = lock(&self.shared.buf);
        let rest = std::mem::take(&mut buf.bytes);
        self.shared.write_batch(buf, &rest);
    }
}

/// The per-event writer handed to tracing; appends to the shared buffer.
pub struct SinkWriter<'a> {
    sink: &'a LogSink,
}

impl Write for SinkWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let shared = &self.sink.shared;
        let mut buf = lock(&shared.buf);
        buf.bytes.extend_from_slice(bytes);
        if buf.closed || buf.bytes.len() >= MAX_BUFFERED {
            let batch = std::mem::take(&mut buf.bytes);
            shared.write_batch(buf, &batch);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = SinkWriter<'a>;
    fn make_writer(&'a self) -> SinkWriter<'a> {
        SinkWriter { sink: self }
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
    use super::*;

    /// A `Write` whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("capture").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_sink_writes_every_line_in_order_by_itself_and_on_drop() {
        let out = Capture::default();
        let (sink, guard) = LogSink::spawn(Box::new(out.clone()));
        for i in 0..1000 {
            sink.make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .expect("write");
        }
        // The background thread flushes without being asked: all 1000 lines reach the
        // output while the guard is still alive (they are far below the size that forces a
        // flush from the writer itself).
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert!(
            expected.len() < MAX_BUFFERED,
            "the test must not trip the size flush"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().expect("capture").len() < expected.len()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            String::from_utf8(out.0.lock().expect("capture").clone()).expect("utf8"),
            expected,
            "the background writer did not flush within 5 s"
        );
        sink.make_writer().write_all(b"last\n").expect("write");
        drop(guard);
        let text = String::from_utf8(out.0.lock().expect("capture").clone()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1001);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[999], "line 999");
        assert_eq!(lines[1000], "last");
    }

    #[test]
    fn sanitize_cuts_and_replaces() {
        assert_eq!(sanitize("/api/u1", 64), "/api/u1");
        assert_eq!(sanitize("/a\nb", 64), "/a\u{fffd}b");
        assert_eq!(sanitize("/abcdef", 4), "/abc…");
        assert_eq!(sanitize("/éé", 2), "/…");
    }
}
