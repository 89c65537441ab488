//! Stopping a run from outside (Ctrl-C, SIGTERM, an embedder's shutdown):
//! the graph stops reading, every checkpoint already acknowledged stays
//! committed, and the run is recorded as `interrupted`.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// A handle shared by whoever may stop a run and the runs it may stop.
/// Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicI32>);

impl Interrupt {
    /// A handle nobody has triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every run holding this handle to stop; `signal` is the signal
    /// number that asked (any non-zero value otherwise). The first wins.
    pub fn trigger(&self, signal: i32) {
        let _ = self
            .0
            .compare_exchange(0, signal.max(1), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The signal that triggered it, if it was.
    pub fn signal(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Why a run stopped, for messages.
    pub fn reason(&self) -> String {
        match self.signal() {
            Some(2) => "interrupted (SIGINT)".into(),
            Some(15) => "interrupted (SIGTERM)".into(),
            Some(s) => format!("interrupted (signal {s})"),
            None => "interrupted".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_wins() {
        let i = Interrupt::new();
        assert_eq!(i.signal(), None);
        let j = i.clone();
        j.trigger(15);
        i.trigger(2);
        assert_eq!(i.signal(), Some(15));
        assert_eq!(i.reason(), "interrupted (SIGTERM)");
    }
}
