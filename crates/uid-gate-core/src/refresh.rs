//! When a host fetches the JWKS URL or re-reads the secret file, and what it keeps: the
//! schedule every host follows (the server, the Python package, the Envoy module), stated
//! once. Hosts do only the I/O it asks for and report the outcome back.
//!
//! Time is the host's clock as a [`Duration`] since any fixed start it chooses (a monotonic
//! `Instant`, or Unix time); the schedule only compares and adds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::jwks::{JwksError, JwksKeys};
use crate::verify::Verifier;

/// The least time between two fetches triggered by tokens with an unknown `kid`.
pub const MIN_REFETCH: Duration = Duration::from_secs(2);
/// How soon a failed fetch is tried again (at most the refresh interval).
pub const RETRY: Duration = Duration::from_secs(5);
/// How long one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS document accepted.
pub const MAX_BYTES: usize = 1_048_576; // 1 MiB

/// Why a JWKS fetch left the keys in force as they were.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The host could not fetch it (connection, timeout, a status other than 200).
    #[error("fetching the JWKS failed: {0}")]
    Fetch(String),
    /// The document is over [`MAX_BYTES`].
    #[error("the JWKS is over 1 MiB")]
    TooLarge,
    /// The document holds no usable key.
    #[error(transparent)]
    Keys(#[from] JwksError),
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// When to fetch a JWKS URL: at once, then every `every`, early (at most every
/// [`MIN_REFETCH`]) after a token names an unknown `kid`, and [`RETRY`] after a failure. At
/// most one fetch is in flight; a failed or unusable fetch keeps the last good keys.
#[derive(Debug)]
pub struct JwksSchedule {
    every: Duration,
    /// Host time (ms) at which the next periodic fetch is due; 0: at once.
    next_ms: AtomicU64,
    /// Host time (ms) at which the last fetch ended.
    last_ms: AtomicU64,
    kid_miss: AtomicBool,
    in_flight: AtomicBool,
}

impl JwksSchedule {
    /// A schedule whose first fetch is due at once.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            next_ms: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
            kid_miss: AtomicBool::new(false),
            in_flight: AtomicBool::new(false),
        }
    }

    /// A token named a `kid` the keys lack: fetch early. Cheap, for the request path.
    pub fn unknown_kid(&self) {
        self.kid_miss.store(true, Ordering::Relaxed);
    }

    /// Makes a fetch due at once (an operator's or a test's "refresh now").
    pub fn expire(&self) {
        self.next_ms.store(0, Ordering::Relaxed);
    }

    /// How long from `now` until a fetch is due (zero: now).
    pub fn wait(&self, now: Duration) -> Duration {
        let mut due = self.next_ms.load(Ordering::Relaxed);
        if self.kid_miss.load(Ordering::Relaxed) {
            let early = self
                .last_ms
                .load(Ordering::Relaxed)
                .saturating_add(ms(MIN_REFETCH));
            due = due.min(early);
        }
        Duration::from_millis(due.saturating_sub(ms(now)))
    }

    /// Claims the fetch when one is due: `true` means the caller fetches now and reports with
    /// [`JwksSchedule::fetched`]. Safe from any thread; only one caller wins.
    pub fn start(&self, now: Duration) -> bool {
        let claimed = self.wait(now).is_zero()
            && self
                .in_flight
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
        if claimed {
            // A miss seen from here on is against the keys this fetch may replace: it
            // stays and can ask again after MIN_REFETCH.
            self.kid_miss.store(false, Ordering::Relaxed);
        }
        claimed
    }

    /// The fetch ended with `document` (the body of a 200 answer) or why it failed. Usable
    /// keys replace those in force; anything else keeps them. Returns how many keys came in.
    pub fn fetched(
        &self,
        now: Duration,
        document: Result<&[u8], String>,
        verifier: &Verifier,
    ) -> Result<usize, RefreshError> {
        let outcome = document
            .map_err(RefreshError::Fetch)
            .and_then(|body| {
                if body.len() > MAX_BYTES {
                    return Err(RefreshError::TooLarge);
                }
                Ok(JwksKeys::from_json(body)?)
            })
            .map(|keys| {
                let n = keys.len();
                verifier.replace_jwks(keys);
                n
            });
        let next = if outcome.is_ok() {
            self.every
        } else {
            self.every.min(RETRY)
        };
        let now = ms(now);
        self.last_ms.store(now, Ordering::Relaxed);
        self.next_ms
            .store(now.saturating_add(ms(next)), Ordering::Relaxed);
        self.in_flight.store(false, Ordering::Release);
        outcome
    }
}

/// When to re-read the secret file: every `every`, by one caller at a time. What a re-read
/// keeps is [`crate::config::reload_secret_file`]'s rule.
#[derive(Debug)]
pub struct ReloadSchedule {
    every: Duration,
    next_ms: AtomicU64,
}

impl ReloadSchedule {
    /// A schedule whose first re-read is due `every` after `now` (the file was just read).
    pub fn new(every: Duration, now: Duration) -> Self {
        Self {
            every,
            next_ms: AtomicU64::new(ms(now).saturating_add(ms(every))),
        }
    }

    /// Whether the caller re-reads the file now; only one caller wins each turn.
    pub fn due(&self, now: Duration) -> bool {
        let due = self.next_ms.load(Ordering::Relaxed);
        let now = ms(now);
        now >= due
            && self
                .next_ms
                .compare_exchange(
                    due,
                    now.saturating_add(ms(self.every)),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// How long from `now` until the next re-read is due (zero: now).
    pub fn wait(&self, now: Duration) -> Duration {
        Duration::from_millis(self.next_ms.load(Ordering::Relaxed).saturating_sub(ms(now)))
    }
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;
