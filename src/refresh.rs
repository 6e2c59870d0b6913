//! Background refreshes of key material: the JWKS URL (periodic, early on an unknown `kid`,
//! keeping the last good keys through an outage) and the secret file (re-read on change).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};
use uid_gate_core::Authorizer;
use uid_gate_core::config::{Reload, SecretSet, reload_secret_file};
use uid_gate_core::jwks::refresh;

use crate::metrics::Metrics;

/// The least time between two JWKS fetches triggered by unknown `kid`s.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(refresh::MIN_REFETCH_SECS);
/// How soon a failed JWKS fetch is tried again (at most `UIDGATE_JWKS_REFRESH_SECS`).
const JWKS_RETRY: Duration = Duration::from_secs(refresh::RETRY_SECS);

/// Where and how often to fetch a JWKS, and whom to tell.
pub struct JwksSource {
    /// The JWKS URL.
    pub url: String,
    /// TLS settings for https URLs.
    pub tls: Arc<tokio_rustls::rustls::ClientConfig>,
    /// The refresh interval.
    pub every: Duration,
    /// Notified when a token names an unknown `kid`.
    pub miss: Arc<Notify>,
    /// Set to true after each successful fetch.
    pub loaded: watch::Sender<bool>,
}

/// Fetches the JWKS now, then every `every`, and early (rate-limited) when a token names an
/// unknown `kid`. A failed fetch keeps the last good keys: a JWKS outage never empties them.
pub async fn refresh_jwks_forever(
    source: JwksSource,
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) {
    let JwksSource {
        url,
        tls,
        every,
        miss,
        loaded,
    } = source;
    tokio::pin!(stop);
    loop {
        let fetched_at = tokio::time::Instant::now();
        let wait = match fetch_jwks(&url, &tls, &authorizer, &metrics).await {
            true => {
                loaded.send_replace(true);
                every
            }
            false => every.min(JWKS_RETRY),
        };
        tokio::select! {
            () = tokio::time::sleep_until(fetched_at + wait) => {}
            () = miss.notified() => {
                tokio::select! {
                    () = tokio::time::sleep_until(fetched_at + JWKS_MIN_REFETCH) => {}
                    () = &mut stop => return,
                }
            }
            () = &mut stop => return,
        }
    }
}

async fn fetch_jwks(
    url: &str,
    tls: &Arc<tokio_rustls::rustls::ClientConfig>,
    authorizer: &Authorizer,
    metrics: &Metrics,
) -> bool {
    let result = crate::jwks_fetch::fetch(url, tls, Duration::from_secs(refresh::TIMEOUT_SECS))
        .await
        .and_then(|json| uid_gate_core::jwks::JwksKeys::from_json(&json).map_err(Into::into));
    match result {
        Ok(keys) => {
            let n = keys.len();
            authorizer.verifier().replace_jwks(keys);
            metrics.jwks_refreshed(n);
            debug!(keys = n, "JWKS refreshed");
            true
        }
        Err(e) => {
            metrics.jwks_refresh_failed();
            warn!(error = %e, keys = authorizer.verifier().jwks_key_count(), "JWKS refresh failed; keeping the last good keys");
            false
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

/// Re-reads the secret file every `every` until `stop` completes.
pub async fn reload_secrets_forever(
    path: std::path::PathBuf,
    mut current: SecretSet,
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                reload_secrets(&path, &authorizer, &metrics, &mut current);
            }
            () = &mut stop => return,
        }
    }
}
