//! Cancellation and progress for long runs.
//!
//! The bindings run a core function on a worker thread with the GIL released and poll, from the
//! calling thread, for Ctrl-C (then call [`Control::cancel`]) and for progress (read with
//! [`Control::progress`]). Core loops call [`Control::check`] often enough (every few ms of work)
//! that cancellation is prompt, and [`Control::advance`] to report work done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Shared cancellation flag and progress counters. Cheap to check from any thread.
#[derive(Debug, Default)]
pub struct Control {
    /// Shared so that a solver taking a `'static` callback (Clarabel's termination callback)
    /// can watch it too.
    cancelled: Arc<AtomicBool>,
    done: AtomicU64,
    total: AtomicU64,
    /// Work done before the current stage (see [`Control::begin_stage`]).
    base: AtomicU64,
    /// Budget of [`Control::spend`] (0: none) and the amount spent.
    budget: AtomicU64,
    spent: AtomicU64,
    /// Test builds: checks seen, and the check at which the control cancels itself (0: never).
    #[cfg(test)]
    checks: AtomicU64,
    #[cfg(test)]
    trip_at: AtomicU64,
    #[cfg(test)]
    sites: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
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

    /// Test builds: a control that cancels itself at its `k`-th check ([`Control::check`] or
    /// [`Control::is_cancelled`], counted over all threads), a deterministic stand-in for a
    /// Ctrl-C landing anywhere in a run.
    #[cfg(test)]
    pub(crate) fn cancelled_at_check(k: u64) -> Self {
        let c = Self::new();
        c.trip_at.store(k, Ordering::Relaxed);
        c
    }

    /// Test builds: the number of checks made so far.
    #[cfg(test)]
    pub(crate) fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// Test builds: the source files the checks made so far were called from.
    #[cfg(test)]
    pub(crate) fn check_sites(&self) -> Vec<&'static str> {
        self.sites
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    #[cfg(test)]
    #[track_caller]
    fn count_check(&self) {
        if let Ok(mut s) = self.sites.lock() {
            s.insert(std::panic::Location::caller().file());
        }
        let k = self.checks.fetch_add(1, Ordering::Relaxed) + 1;
        if k == self.trip_at.load(Ordering::Relaxed) {
            self.cancel();
        }
    }

    /// Whether [`Control::cancel`] was called.
    #[cfg_attr(any(test, feature = "gaptrace"), track_caller)]
    pub fn is_cancelled(&self) -> bool {
        #[cfg(feature = "gaptrace")]
        gaptrace::mark(std::panic::Location::caller());
        #[cfg(test)]
        self.count_check();
        self.cancelled.load(Ordering::Relaxed)
    }

    /// A handle on the cancellation flag, for callbacks that must own what they read.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancelled)
    }

    /// `Err(Interrupted)` once cancelled, else `Ok(())`.
    #[inline]
    #[cfg_attr(any(test, feature = "gaptrace"), track_caller)]
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Start a stage of a composite run (a solver run after another on the same control): the
    /// stage's [`Control::set_done`] and [`Control::set_total`] count from the work done so
    /// far, so the reported progress never goes back.
    pub(crate) fn begin_stage(&self) {
        self.base
            .store(self.done.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Declare the total amount of work (units are the caller's: chambers, iterations, pairs),
    /// counted from the start of the current stage.
    pub fn set_total(&self, total: u64) {
        let base = self.base.load(Ordering::Relaxed);
        self.total
            .store(base.saturating_add(total), Ordering::Relaxed);
    }

    /// Add `n` units of work done.
    #[inline]
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Set the work done in the current stage to `n` (for iterative solvers that report their
    /// iteration).
    pub(crate) fn set_done(&self, n: u64) {
        let base = self.base.load(Ordering::Relaxed);
        self.done.store(base.saturating_add(n), Ordering::Relaxed);
    }

    /// Set a budget for [`Control::spend`] (0 removes it).
    pub(crate) fn set_budget(&self, budget: u64) {
        self.spent.store(0, Ordering::Relaxed);
        self.budget.store(budget, Ordering::Relaxed);
    }

    /// Spend `n` units of the budget: `Some(budget)` once the total spent exceeds it (the caller
    /// then stops with its own error), `None` otherwise or without a budget.
    #[inline]
    pub(crate) fn spend(&self, n: u64) -> Option<u64> {
        let b = self.budget.load(Ordering::Relaxed);
        if b == 0 {
            return None;
        }
        let before = self.spent.fetch_add(n, Ordering::Relaxed);
        (before.saturating_add(n) > b).then_some(b)
    }

    /// `(done, total)`; total is 0 when unknown.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// Developer tool (feature `gaptrace`, never in a wheel): the longest stretches of work between
/// two consecutive cancellation checks on a thread, keyed by the two checks' call sites.
///
/// Ctrl-C waits for the next check, so the longest such stretch bounds the latency (plus the
/// binding's poll and hand-back, measured by `rust/py/src/detach.rs`). Every check made while
/// [`gaptrace::start`] is active records the thread CPU time (robust to a loaded machine) and
/// the wall time since the same thread's previous check; [`gaptrace::report`] lists the largest.
/// A thread's first check after `start` opens its record (no gap is counted before it); callers
/// may [`gaptrace::mark`] the start and end of a run by hand.
#[cfg(feature = "gaptrace")]
pub mod gaptrace {
    use std::cell::Cell;
    use std::collections::HashMap;
    use std::panic::Location;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Mutex;

    /// Recording under way, and its number (a thread's mark from an earlier one opens anew).
    static ON: AtomicBool = AtomicBool::new(false);
    static GEN: AtomicU64 = AtomicU64::new(0);
    /// (from, to) → (largest CPU gap, its wall gap, count, total CPU), seconds.
    type Gaps =
        HashMap<(&'static Location<'static>, &'static Location<'static>), (f64, f64, u64, f64)>;
    static GAPS: Mutex<Option<Gaps>> = Mutex::new(None);
    /// Gaps shorter than this (s) are not recorded.
    const MIN_GAP: f64 = 2e-4;

    thread_local! {
        static LAST: Cell<(u64, f64, f64, Option<&'static Location<'static>>)> =
            const { Cell::new((0, 0.0, 0.0, None)) };
    }

    fn clock(id: libc::clockid_t) -> f64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }

    /// `CLOCK_MONOTONIC` in seconds (Python's `time.perf_counter` on Linux).
    pub fn monotonic() -> f64 {
        clock(libc::CLOCK_MONOTONIC)
    }

    /// Start a recording (clears the previous one).
    pub fn start() {
        *GAPS.lock().unwrap_or_else(|e| e.into_inner()) = Some(HashMap::new());
        GEN.fetch_add(1, Ordering::Relaxed);
        ON.store(true, Ordering::Relaxed);
    }

    /// Stop recording; the gaps stay until the next [`start`].
    pub fn stop() {
        ON.store(false, Ordering::Relaxed);
    }

    /// A check at `at` on this thread (called by every check while recording).
    #[inline]
    pub fn mark(at: &'static Location<'static>) {
        if ON.load(Ordering::Relaxed) {
            mark_slow(GEN.load(Ordering::Relaxed), at);
        }
    }

    #[cold]
    fn mark_slow(gen: u64, at: &'static Location<'static>) {
        let (cpu, wall) = (clock(libc::CLOCK_THREAD_CPUTIME_ID), monotonic());
        let (g0, c0, w0, from) = LAST.with(|l| l.replace((gen, cpu, wall, Some(at))));
        let Some(from) = from.filter(|_| g0 == gen) else {
            return;
        };
        let gap = cpu - c0;
        if gap < MIN_GAP {
            return;
        }
        let mut m = GAPS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = m.as_mut() {
            let e = m.entry((from, at)).or_insert((0.0, 0.0, 0, 0.0));
            if gap > e.0 {
                e.0 = gap;
                e.1 = wall - w0;
            }
            e.2 += 1;
            e.3 += gap;
        }
    }

    fn short(l: &Location) -> String {
        let f = l.file();
        let f = f.rsplit("src/").next().unwrap_or(f);
        format!("{f}:{}", l.line())
    }

    /// The `top` largest gaps, one line each: largest CPU gap (its wall time), count, total,
    /// `from -> to` call sites.
    pub fn report(top: usize) -> String {
        let m = GAPS.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = m.iter().flatten().collect();
        v.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
        let mut s = String::new();
        for ((from, to), (cpu, wall, n, tot)) in v.into_iter().take(top) {
            s += &format!(
                "gap cpu {:8.2} ms (wall {:8.2})  n {n:7}  sum {:9.1} ms  {} -> {}\n",
                cpu * 1e3,
                wall * 1e3,
                tot * 1e3,
                short(from),
                short(to)
            );
        }
        s
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

    #[test]
    fn stages_count_on_from_the_work_done() {
        // two solvers in a row, each reporting its own iteration count: the second stage's
        // counts start where the first ended, so the progress never goes back
        let c = Control::new();
        c.begin_stage();
        c.set_total(200);
        c.set_done(11);
        assert_eq!(c.progress(), (11, 200));
        c.begin_stage();
        c.set_total(200);
        c.set_done(1);
        assert_eq!(c.progress(), (12, 211));
        c.advance(2);
        c.set_done(14);
        assert_eq!(c.progress(), (25, 211));
    }
}
