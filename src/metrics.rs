//! Decision counters: one lock-free counter per [`Reason`], cheap enough for the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::response::Reason;

/// Counts decisions by reason.
#[derive(Debug)]
pub struct Counters {
    by_reason: Box<[AtomicU64]>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            by_reason: Reason::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Counters {
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

    /// Every non-zero counter, in [`Reason::ALL`] order.
    pub fn snapshot(&self) -> Vec<(Reason, u64)> {
        Reason::ALL
            .iter()
            .map(|r| (*r, self.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let c = Counters::default();
        c.record(Reason::Owner);
        c.record(Reason::Owner);
        c.record(Reason::Expired);
        assert_eq!(c.get(Reason::Owner), 2);
        assert_eq!(c.get(Reason::NotOwner), 0);
        assert_eq!(c.snapshot(), vec![(Reason::Owner, 2), (Reason::Expired, 1)]);
    }
}
