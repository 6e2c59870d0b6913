//! Background refreshes of key material, on the core's schedule ([`uid_gate_core::refresh`]):
//! this module only does the I/O it asks for (fetch the JWKS URL, re-read the secret file),
//! sleeps until the next turn, and counts and logs each outcome.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uid_gate_core::config::Reload;
use uid_gate_core::host::HostKit;
use uid_gate_core::refresh::FETCH_TIMEOUT;

use crate::metrics::Metrics;

/// Where to fetch a JWKS, on which schedule, and whom to tell.
pub struct JwksSource {
    /// The JWKS URL.
    pub url: String,
    /// TLS settings for https URLs.
    pub tls: Arc<tokio_rustls::rustls::ClientConfig>,
    /// Notified when a token names an unknown `kid`, to wake the loop early.
    pub miss: Arc<Notify>,
    /// Set to true after each successful fetch.
    pub loaded: watch::Sender<bool>,
}

/// Fetches the JWKS whenever the kit's schedule says so (at once, every interval, early after
/// an unknown `kid`, soon after a failure) until `stop` completes. `start` is the kit's clock.
pub async fn refresh_jwks_forever(
    source: JwksSource,
    kit: Arc<HostKit>,
    start: Instant,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) {
    let JwksSource {
        url,
        tls,
        miss,
        loaded,
    } = source;
    let Some(schedule) = kit.jwks().cloned() else {
        return;
    };
    tokio::pin!(stop);
    loop {
        if kit.jwks_start(start.elapsed()) {
            let document = crate::jwks_fetch::fetch(&url, &tls, FETCH_TIMEOUT)
                .await
                .map_err(|e| e.to_string());
            let outcome =
                kit.jwks_fetched(start.elapsed(), document.as_deref().map_err(Clone::clone));
            report_jwks(outcome, &kit, &metrics, &loaded);
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
    kit: &HostKit,
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
            warn!(error = %e, keys = kit.authorizer().verifier().jwks_key_count(), "JWKS refresh failed; keeping the last good keys");
        }
    }
}

/// Re-reads the secret file (the kit's rule), then counts and logs the outcome.
pub fn reload_secrets(kit: &HostKit, metrics: &Metrics) -> Reload {
    let outcome = kit.reload_secret_file();
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

/// Re-reads the secret file on the kit's turns until `stop` completes. `start` is the kit's
/// clock.
pub async fn reload_secrets_forever(
    kit: Arc<HostKit>,
    start: Instant,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    while let Some(wait) = kit.reload_wait(start.elapsed()) {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut stop => return,
        }
        if kit.reload_due(start.elapsed()) {
            reload_secrets(&kit, &metrics);
        }
    }
}
