//! The crate's own rayon pool, created lazily (never at import: `fork` after a pool start hangs).
//!
//! Size: `HIDDENCONVEX_NUM_THREADS` if set to a positive integer (capped at [`max_threads`]), else
//! the available parallelism (an invalid value falls back to it; the bindings warn).
//! [`set_num_threads`] replaces the pool (used by tests that check results do not depend on the
//! thread count). Results must never depend on the thread count: chunk work by problem index,
//! seed each chunk from the problem index, and reduce floats in a fixed order.

use std::sync::{Arc, OnceLock, RwLock};

use crate::error::{Error, Result};

/// Environment variable that sets the pool size.
pub const NUM_THREADS_ENV: &str = "HIDDENCONVEX_NUM_THREADS";

static POOL: OnceLock<RwLock<Option<Arc<rayon::ThreadPool>>>> = OnceLock::new();

fn slot() -> &'static RwLock<Option<Arc<rayon::ThreadPool>>> {
    POOL.get_or_init(|| RwLock::new(None))
}

/// Number of CPUs available to the process (1 when unknown).
fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Largest pool size: max(64, 4 × CPUs). Larger pools only oversubscribe the machine (each
/// thread reserves a stack; 10^4 threads exhaust memory or thread limits).
pub fn max_threads() -> usize {
    (4 * cpus()).max(64)
}

/// How `HIDDENCONVEX_NUM_THREADS` was read: the thread count it gives and, when the value was
/// not used as given, why (an invalid value falls back to the CPU count, a value above
/// [`max_threads`] is capped). The bindings turn the message into a warning.
pub fn env_num_threads() -> (usize, Option<String>) {
    let Ok(raw) = std::env::var(NUM_THREADS_ENV) else {
        return (cpus(), None);
    };
    match raw.trim().parse::<u128>() {
        Ok(n) if n >= 1 && n <= max_threads() as u128 => (n as usize, None),
        Ok(n) if n >= 1 => (
            max_threads(),
            Some(format!(
                "{NUM_THREADS_ENV}={n} exceeds the maximum of {} threads (max(64, 4 x CPUs)); \
                 using {} threads",
                max_threads(),
                max_threads()
            )),
        ),
        _ => (
            cpus(),
            Some(format!(
                "{NUM_THREADS_ENV}={raw:?} is not a positive integer; using the CPU count ({})",
                cpus()
            )),
        ),
    }
}

/// The thread count the pool has or will have when first used.
pub(crate) fn default_num_threads() -> usize {
    env_num_threads().0
}

fn build(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("hiddenconvex-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| Error::Numerical(format!("could not start the thread pool: {e}")))
}

/// The pool, created on first use.
pub fn pool() -> Result<Arc<rayon::ThreadPool>> {
    if let Some(p) = slot().read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(p.clone());
    }
    let mut guard = slot().write().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(p.clone());
    }
    let p = build(default_num_threads())?;
    *guard = Some(p.clone());
    Ok(p)
}

/// Number of threads of the pool (creating it if needed).
pub fn num_threads() -> usize {
    match slot().read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(p) => p.current_num_threads(),
        None => default_num_threads(),
    }
}

/// Replace the pool by one of `n` threads (`n >= 1`). Runs already started keep their pool.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("n", "the thread count must be at least 1"));
    }
    if n > max_threads() {
        return Err(Error::invalid(
            "n",
            format!(
                "the thread count must be at most {} (max(64, 4 x CPUs)), got {n}",
                max_threads()
            ),
        ));
    }
    let p = build(n)?;
    *slot().write().unwrap_or_else(|e| e.into_inner()) = Some(p);
    Ok(())
}

/// Run `f` inside the pool (so rayon's parallel iterators in `f` use it).
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool()?.install(f))
}

thread_local! {
    /// Set while [`serial`] runs on this thread.
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` on the calling thread with every [`should_parallelize`] decision in it answered
/// "no", so it never touches the pool (short work: waking the pool costs more than the work).
/// Results are the same as in the pool (they never depend on the thread count).
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SERIAL.with(|s| s.replace(true)));
    f()
}

/// Whether a problem of `work` units should go parallel: above `threshold`, more than one thread,
/// and not inside [`serial`]. Callers expose `threshold` as a parameter (no magic numbers).
pub(crate) fn should_parallelize(work: usize, threshold: usize) -> bool {
    work >= threshold && !SERIAL.with(|s| s.get()) && num_threads() > 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn pool_runs_and_resizes() {
        set_num_threads(2).unwrap();
        assert_eq!(num_threads(), 2);
        let s: u64 = install(|| (0..1000u64).into_par_iter().sum()).unwrap();
        assert_eq!(s, 499_500);
        assert!(set_num_threads(0).is_err());
        assert!(set_num_threads(max_threads() + 1).is_err());
        assert!(set_num_threads(20_000).is_err());
    }

    #[test]
    fn serial_never_parallelizes_and_restores() {
        let flag = || SERIAL.with(|s| s.get());
        assert!(!flag());
        serial(|| {
            assert!(!should_parallelize(10, 1));
            serial(|| assert!(!should_parallelize(10, 1)));
            assert!(flag());
        });
        assert!(!flag());
    }
}
