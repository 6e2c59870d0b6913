//! Metrics: decisions by reason, a check-latency histogram and secret reloads, all lock-free
//! counters cheap enough for the hot path, rendered in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::response::Reason;

/// Upper bounds of the latency buckets, in seconds (a check takes microseconds).
const BUCKETS: [f64; 11] = [
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
];

/// Everything uid-gate counts.
#[derive(Debug)]
pub struct Metrics {
    by_reason: Box<[AtomicU64]>,
    /// One counter per bucket plus +Inf (not cumulative; summed when rendered).
    latency_buckets: Box<[AtomicU64]>,
    latency_sum_ns: AtomicU64,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
    keys: AtomicU64,
    jwks_refreshes: AtomicU64,
    jwks_refresh_errors: AtomicU64,
    jwks_keys: AtomicU64,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            by_reason: Reason::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            latency_buckets: (0..=BUCKETS.len()).map(|_| AtomicU64::new(0)).collect(),
            latency_sum_ns: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            reload_errors: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            jwks_refreshes: AtomicU64::new(0),
            jwks_refresh_errors: AtomicU64::new(0),
            jwks_keys: AtomicU64::new(0),
            ready: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// Counts one decision.
    pub fn record(&self, reason: Reason) {
        if let Some(c) = self.by_reason.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many decisions had `reason`.
    pub fn get(&self, reason: Reason) -> u64 {
        self.by_reason
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every non-zero decision counter, in [`Reason::ALL`] order.
    pub fn snapshot(&self) -> Vec<(Reason, u64)> {
        Reason::ALL
            .iter()
            .map(|r| (*r, self.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Records how long one decision took.
    pub fn observe_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = self.latency_buckets.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// A secret file change was applied; `keys` secrets are now accepted.
    pub fn secret_reloaded(&self, keys: usize) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.set_keys(keys);
    }

    /// A secret file change was refused (the previous secrets stay in force).
    pub fn secret_reload_failed(&self) {
        self.reload_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// How many secrets verify tokens.
    pub fn set_keys(&self, keys: usize) {
        self.keys.store(keys as u64, Ordering::Relaxed);
    }

    /// Applied secret reloads and refused ones.
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloads.load(Ordering::Relaxed),
            self.reload_errors.load(Ordering::Relaxed),
        )
    }

    /// A JWKS fetch succeeded; `keys` keys are in force.
    pub fn jwks_refreshed(&self, keys: usize) {
        self.jwks_refreshes.fetch_add(1, Ordering::Relaxed);
        self.jwks_keys.store(keys as u64, Ordering::Relaxed);
    }

    /// A JWKS fetch failed; the last good keys stay in force.
    pub fn jwks_refresh_failed(&self) {
        self.jwks_refresh_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// JWKS fetches that succeeded and that failed.
    pub fn jwks_refreshes(&self) -> (u64, u64) {
        (
            self.jwks_refreshes.load(Ordering::Relaxed),
            self.jwks_refresh_errors.load(Ordering::Relaxed),
        )
    }

    /// Marks the service ready (serving) or not (starting, draining).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the service is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 << 10);
        // Writing to a String cannot fail.
        let _ = self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP uidgate_decisions_total Check decisions by outcome, HTTP status and reason."
        )?;
        writeln!(out, "# TYPE uidgate_decisions_total counter")?;
        for r in Reason::ALL {
            let status = r.http_status();
            let decision = if status == 200 { "allow" } else { "deny" };
            writeln!(
                out,
                "uidgate_decisions_total{{decision=\"{decision}\",status=\"{status}\",reason=\"{}\"}} {}",
                r.code(),
                self.get(*r)
            )?;
        }
        writeln!(
            out,
            "# HELP uidgate_check_duration_seconds Time to decide one Check, excluding network I/O."
        )?;
        writeln!(out, "# TYPE uidgate_check_duration_seconds histogram")?;
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Ordering::Relaxed);
            writeln!(
                out,
                "uidgate_check_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            )?;
        }
        cumulative += self.latency_buckets[BUCKETS.len()].load(Ordering::Relaxed);
        writeln!(
            out,
            "uidgate_check_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        )?;
        let sum = self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        writeln!(out, "uidgate_check_duration_seconds_sum {sum}")?;
        writeln!(out, "uidgate_check_duration_seconds_count {cumulative}")?;
        let (reloads, errors) = self.reloads();
        writeln!(
            out,
            "# HELP uidgate_secret_reloads_total Secret file changes applied without a restart."
        )?;
        writeln!(out, "# TYPE uidgate_secret_reloads_total counter")?;
        writeln!(out, "uidgate_secret_reloads_total {reloads}")?;
        writeln!(
            out,
            "# HELP uidgate_secret_reload_errors_total Secret file changes refused; the previous secrets stay in force."
        )?;
        writeln!(out, "# TYPE uidgate_secret_reload_errors_total counter")?;
        writeln!(out, "uidgate_secret_reload_errors_total {errors}")?;
        writeln!(
            out,
            "# HELP uidgate_secret_keys Secrets currently accepted for verification."
        )?;
        writeln!(out, "# TYPE uidgate_secret_keys gauge")?;
        writeln!(
            out,
            "uidgate_secret_keys {}",
            self.keys.load(Ordering::Relaxed)
        )?;
        let (jwks_ok, jwks_err) = self.jwks_refreshes();
        writeln!(
            out,
            "# HELP uidgate_jwks_refreshes_total JWKS fetches that succeeded."
        )?;
        writeln!(out, "# TYPE uidgate_jwks_refreshes_total counter")?;
        writeln!(out, "uidgate_jwks_refreshes_total {jwks_ok}")?;
        writeln!(
            out,
            "# HELP uidgate_jwks_refresh_errors_total JWKS fetches that failed; the last good keys stay in force."
        )?;
        writeln!(out, "# TYPE uidgate_jwks_refresh_errors_total counter")?;
        writeln!(out, "uidgate_jwks_refresh_errors_total {jwks_err}")?;
        writeln!(
            out,
            "# HELP uidgate_jwks_keys JWKS keys currently accepted."
        )?;
        writeln!(out, "# TYPE uidgate_jwks_keys gauge")?;
        writeln!(
            out,
            "uidgate_jwks_keys {}",
            self.jwks_keys.load(Ordering::Relaxed)
        )?;
        writeln!(
            out,
            "# HELP uidgate_ready 1 while serving, 0 while starting or draining."
        )?;
        writeln!(out, "# TYPE uidgate_ready gauge")?;
        writeln!(out, "uidgate_ready {}", u8::from(self.is_ready()))?;
        writeln!(out, "# HELP uidgate_build_info Build information.")?;
        writeln!(out, "# TYPE uidgate_build_info gauge")?;
        writeln!(
            out,
            "uidgate_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let c = Metrics::default();
        c.record(Reason::Owner);
        c.record(Reason::Owner);
        c.record(Reason::Expired);
        assert_eq!(c.get(Reason::Owner), 2);
        assert_eq!(c.get(Reason::NotOwner), 0);
        assert_eq!(c.snapshot(), vec![(Reason::Owner, 2), (Reason::Expired, 1)]);
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record(Reason::Owner);
        m.record(Reason::NotOwner);
        m.observe_latency(Duration::from_micros(3));
        m.observe_latency(Duration::from_micros(30));
        m.observe_latency(Duration::from_secs(1));
        m.secret_reloaded(2);
        m.secret_reload_failed();
        m.set_ready(true);
        let text = m.render();
        for line in [
            r#"uidgate_decisions_total{decision="allow",status="200",reason="owner"} 1"#,
            r#"uidgate_decisions_total{decision="deny",status="403",reason="not_owner"} 1"#,
            r#"uidgate_decisions_total{decision="deny",status="401",reason="expired"} 0"#,
            r#"uidgate_decisions_total{decision="deny",status="400",reason="dot_segment"} 0"#,
            r#"uidgate_check_duration_seconds_bucket{le="0.000005"} 1"#,
            r#"uidgate_check_duration_seconds_bucket{le="0.00005"} 2"#,
            r#"uidgate_check_duration_seconds_bucket{le="0.01"} 2"#,
            r#"uidgate_check_duration_seconds_bucket{le="+Inf"} 3"#,
            "uidgate_check_duration_seconds_count 3",
            "uidgate_secret_reloads_total 1",
            "uidgate_secret_reload_errors_total 1",
            "uidgate_secret_keys 2",
            "uidgate_ready 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
