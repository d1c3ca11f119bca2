//! Cancellation and progress for long runs.
//!
//! The bindings run a core function on a worker thread with the GIL released and poll, from the
//! calling thread, for Ctrl-C (then call [`Control::cancel`]) and for progress (read with
//! [`Control::progress`]). Core loops call [`Control::check`] often enough (every few ms of work)
//! that cancellation is prompt, and [`Control::advance`] to report work done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Shared cancellation flag and progress counters. Cheap to check from any thread.
#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
}

impl Control {
    /// A fresh control: not cancelled, no progress, unknown total (0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the run to stop; the next [`Control::check`] returns [`Error::Interrupted`].
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`Control::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` once cancelled, else `Ok(())`.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Declare the total amount of work (units are the caller's: chambers, iterations, pairs).
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Add `n` units of work done.
    #[inline]
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Set the work done to `n` (for iterative solvers that report their iteration).
    pub fn set_done(&self, n: u64) {
        self.done.store(n, Ordering::Relaxed);
    }

    /// `(done, total)`; total is 0 when unknown.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_seen_by_check() {
        let c = Control::new();
        assert!(c.check().is_ok());
        c.advance(3);
        c.set_total(10);
        assert_eq!(c.progress(), (3, 10));
        c.cancel();
        assert_eq!(c.check(), Err(Error::Interrupted));
    }
}
