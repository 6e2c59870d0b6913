//! Background refreshes of key material, on the core's schedule ([`uid_gate_core::refresh`]):
//! this module only does the I/O it asks for (fetch the JWKS URL, re-read the secret file),
//! sleeps until the next turn, and counts and logs each outcome.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uid_gate_core::Authorizer;
use uid_gate_core::config::{Reload, SecretSet, reload_secret_file};
use uid_gate_core::refresh::{FETCH_TIMEOUT, JwksSchedule, ReloadSchedule};

use crate::metrics::Metrics;

/// Where to fetch a JWKS, on which schedule, and whom to tell.
pub struct JwksSource {
    /// The JWKS URL.
    pub url: String,
    /// TLS settings for https URLs.
    pub tls: Arc<tokio_rustls::rustls::ClientConfig>,
    /// When to fetch; the unknown-`kid` hook marks it too.
    pub schedule: Arc<JwksSchedule>,
    /// Notified when a token names an unknown `kid`, to wake the loop early.
    pub miss: Arc<Notify>,
    /// Set to true after each successful fetch.
    pub loaded: watch::Sender<bool>,
}

/// Fetches the JWKS whenever the schedule says so (at once, every interval, early after an
/// unknown `kid`, soon after a failure) until `stop` completes.
pub async fn refresh_jwks_forever(
    source: JwksSource,
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) {
    let JwksSource {
        url,
        tls,
        schedule,
        miss,
        loaded,
    } = source;
    let start = Instant::now();
    tokio::pin!(stop);
    loop {
        if schedule.start(start.elapsed()) {
            let document = crate::jwks_fetch::fetch(&url, &tls, FETCH_TIMEOUT)
                .await
                .map_err(|e| e.to_string());
            let outcome = schedule.fetched(
                start.elapsed(),
                document.as_deref().map_err(Clone::clone),
                authorizer.verifier(),
            );
            report_jwks(outcome, &authorizer, &metrics, &loaded);
        }
        let wait = schedule.wait(start.elapsed());
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            // A miss moves the turn earlier (to the floor after the last fetch): sleep until
            // then, deaf to further misses, so a flood of unknown kids wakes this once.
            () = miss.notified() => {
                tokio::select! {
                    () = tokio::time::sleep(schedule.wait(start.elapsed())) => {}
                    () = &mut stop => return,
                }
            }
            () = &mut stop => return,
        }
    }
}

fn report_jwks(
    outcome: Result<usize, uid_gate_core::refresh::RefreshError>,
    authorizer: &Authorizer,
    metrics: &Metrics,
    loaded: &watch::Sender<bool>,
) {
    match outcome {
        Ok(n) => {
            loaded.send_replace(true);
            metrics.jwks_refreshed(n);
            debug!(keys = n, "JWKS refreshed");
        }
        Err(e) => {
            metrics.jwks_refresh_failed();
            warn!(error = %e, keys = authorizer.verifier().jwks_key_count(), "JWKS refresh failed; keeping the last good keys");
        }
    }
}

/// Re-reads the secret file (see [`reload_secret_file`]), then counts and logs the outcome.
pub fn reload_secrets(
    path: &std::path::Path,
    authorizer: &Authorizer,
    metrics: &Metrics,
    current: &mut SecretSet,
) -> Reload {
    let outcome = reload_secret_file(path, authorizer.verifier(), current);
    match &outcome {
        Reload::Unchanged => {}
        Reload::Applied(keys) => {
            metrics.secret_reloaded(*keys);
            info!(keys, "secret file changed; new secrets in force");
        }
        Reload::Refused(e) => {
            metrics.secret_reload_failed();
            // ConfigError never contains secret bytes, only lengths and the path.
            warn!(error = %e, "secret file changed but was refused; keeping the previous secrets");
        }
    }
    outcome
}

/// Re-reads the secret file on the schedule's turns (every `every`) until `stop` completes.
pub async fn reload_secrets_forever(
    path: std::path::PathBuf,
    mut current: SecretSet,
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    let start = Instant::now();
    let schedule = ReloadSchedule::new(every, start.elapsed());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = tokio::time::sleep(schedule.wait(start.elapsed())) => {}
            () = &mut stop => return,
        }
        if schedule.due(start.elapsed()) {
            reload_secrets(&path, &authorizer, &metrics, &mut current);
        }
    }
}
