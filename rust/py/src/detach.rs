//! The one chokepoint for heavy calls (polars' `enter_polars`).
//!
//! [`run`] releases the GIL, runs the core closure on a worker thread inside the crate's rayon
//! pool, and meanwhile, from the calling thread, every `POLL` re-attaches briefly to
//! - check for signals: Ctrl-C cancels the run ([`Control::cancel`]) and raises KeyboardInterrupt;
//! - call the optional `progress(done, total)` callable (an exception there cancels and is raised).
//!
//! On Ctrl-C the `KeyboardInterrupt` carries `_hc_stopped_early` (True when the core stopped at a
//! cancellation check, False when it had finished anyway) and `_hc_progress` `(done, total)`.
//!
//! Worker threads never touch Python. A panic in the core becomes `HiddenConvexError` ("internal
//! error"), never a `PanicException`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use hiddenconvex_core::{parallel, Control, Error as CoreError};
use pyo3::prelude::*;

use crate::errors::{package_error, PyCoreError};

/// How often the calling thread checks for signals while the core runs: a small share of the
/// 0.1 s Ctrl-C budget (re-attaching to check costs microseconds).
const POLL: Duration = Duration::from_millis(10);

/// Polls between two calls of the `progress` callable (every 50 ms at most).
const PROGRESS_EVERY: u32 = 5;

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The purge delay while heavy calls run (ms): far longer than an iteration, so a freed work
/// array is reused before the OS gets it back; the end of the last call purges at once.
const RETAIN_PURGE_DELAY_MS: std::os::raw::c_long = 10_000;

/// Heavy calls under way (see [`RetainPages`]) and the purge delay to restore after them.
static RETAINING: std::sync::Mutex<(usize, std::os::raw::c_long)> = std::sync::Mutex::new((0, 10));

/// While heavy calls run, freed memory stays with mimalloc for [`RETAIN_PURGE_DELAY_MS`]
/// instead of going back to the OS after 10 ms: the solvers free and reallocate their n × B work
/// arrays every iteration, and every page handed back was faulted in and zeroed by the kernel
/// again (12% of the CPU time of a (1000, 20, 1000) ReLU fit; page faults 119k → 12k). When the
/// last one ends, the delay is restored and `mi_collect(true)` purges what is still held (the
/// resident memory after such a fit: 236 MB before, 127 MB now).
struct RetainPages;

impl RetainPages {
    fn new() -> Self {
        if let Ok(mut g) = RETAINING.lock() {
            if g.0 == 0 {
                // SAFETY: plain option calls of the allocator this extension links
                unsafe {
                    g.1 = libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY);
                    libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, RETAIN_PURGE_DELAY_MS);
                }
            }
            g.0 += 1;
        }
        RetainPages
    }
}

impl Drop for RetainPages {
    fn drop(&mut self) {
        if let Ok(mut g) = RETAINING.lock() {
            g.0 = g.0.saturating_sub(1);
            if g.0 == 0 {
                // SAFETY: as above; mi_collect(true) hands the retained memory back
                unsafe {
                    libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, g.1);
                    libmimalloc_sys::mi_collect(true);
                }
            }
        }
    }
}

/// Where the last panic happened (file:line), recorded by the quiet panic hook.
static LAST_PANIC_AT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Replace the default panic hook (which prints "thread … panicked at …" lines on stderr) by one
/// that only records where the panic happened: every panic in this extension is caught and raised
/// as `HiddenConvexError("internal error … (at file:line)")`, so the message and location reach
/// the user once, in the exception, and a command-line tool prints one line. Installed once when
/// the module is imported.
pub fn install_quiet_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            if let Ok(mut g) = LAST_PANIC_AT.lock() {
                *g = at;
            }
        }));
    });
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let msg = if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    };
    match LAST_PANIC_AT.lock().ok().and_then(|mut g| g.take()) {
        Some(at) => format!("{msg} (at {at})"),
        None => msg,
    }
}

/// Run `f` inside the pool, turning a panic (in `f` or in the pool) into its message.
fn run_caught<T: Send>(
    f: impl FnOnce() -> hiddenconvex_core::Result<T> + Send,
) -> Result<hiddenconvex_core::Result<T>, String> {
    match catch_unwind(AssertUnwindSafe(|| {
        parallel::install(|| catch_unwind(AssertUnwindSafe(f)))
    })) {
        Ok(Ok(Ok(r))) => Ok(r),
        Ok(Ok(Err(p))) | Err(p) => Err(panic_message(p)),
        Ok(Err(e)) => Ok(Err(e)),
    }
}

fn internal(msg: String) -> PyErr {
    package_error(
        "HiddenConvexError",
        format!("internal error in the Rust core (please report): {msg}"),
    )
}

/// Run a long core computation with the GIL released, Ctrl-C and progress reporting.
pub fn run<T, F>(py: Python<'_>, progress: Option<&Bound<'_, PyAny>>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Control) -> hiddenconvex_core::Result<T> + Send,
{
    let progress: Option<Py<PyAny>> = progress
        .filter(|p| !p.is_none())
        .map(|p| p.clone().unbind());
    let ctl = Control::new();
    let ctl_ref = &ctl;
    #[cfg(feature = "gaptrace")]
    let trace = gaptrace::Trace::new();
    #[cfg(feature = "gaptrace")]
    let trace_ref = &trace;
    let _retain = RetainPages::new();
    let outcome: Result<hiddenconvex_core::Result<T>, PyErr> = py.detach(|| {
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel::<()>();
            let handle = s.spawn(move || {
                #[cfg(feature = "gaptrace")]
                let f = move |c: &Control| trace_ref.worker(move || f(c));
                let r = run_caught(|| f(ctl_ref));
                let _ = tx.send(());
                r
            });
            let mut py_err: Option<PyErr> = None;
            let mut last = (u64::MAX, u64::MAX);
            let mut polls = 0u32;
            loop {
                match rx.recv_timeout(POLL) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if py_err.is_some() {
                    continue; // already cancelling; wait for the worker to notice
                }
                let now = ctl_ref.progress();
                polls = polls.wrapping_add(1);
                let report = polls % PROGRESS_EVERY == 0;
                Python::attach(|py| {
                    if let Err(e) = py.check_signals() {
                        #[cfg(feature = "gaptrace")]
                        trace_ref.at(1);
                        ctl_ref.cancel();
                        py_err = Some(e);
                    } else if let Some(cb) = progress.as_ref().filter(|_| report) {
                        if now != last {
                            if let Err(e) = cb.call1(py, (now.0, now.1)) {
                                ctl_ref.cancel();
                                py_err = Some(e);
                            }
                        }
                    }
                });
                if report {
                    last = now;
                }
            }
            let joined = handle.join();
            #[cfg(feature = "gaptrace")]
            trace_ref.at(3);
            if let Some(e) = py_err {
                // Say on the exception whether the core stopped at a cancellation check (it
                // returned `Interrupted`) or had already finished its work, and how far it got:
                // the tests assert the interruption from these, not from a clock.
                let stopped = matches!(joined, Ok(Ok(Err(CoreError::Interrupted))));
                let (done, total) = ctl_ref.progress();
                Python::attach(|py| {
                    let v = e.value(py);
                    let _ = v.setattr("_hc_stopped_early", stopped);
                    let _ = v.setattr("_hc_progress", (done, total));
                });
                return Err(e);
            }
            match joined {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(msg)) => Err(internal(msg)),
                Err(p) => Err(internal(panic_message(p))),
            }
        })
    });
    #[cfg(feature = "gaptrace")]
    trace.finish(py);
    // A final progress call so a bar reaches its end.
    if let (Some(cb), Ok(Ok(_))) = (progress.as_ref(), outcome.as_ref()) {
        let (done, total) = ctl.progress();
        cb.call1(py, (done, total))?;
    }
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(PyCoreError(e).into()),
        Err(e) => Err(e),
    }
}

/// Developer tool (feature `gaptrace`, never in a wheel): with `HC_GAPTRACE` set, [`run`] records
/// the core's gaps between cancellation checks (`hiddenconvex_core::control::gaptrace`) and the
/// hand-back's timestamps, and prints to stderr one line
/// `GAPTRACE start <t> cancel <t> done <t> joined <t> return <t>` (`CLOCK_MONOTONIC` seconds,
/// Python's `time.perf_counter`; `-` for what did not happen: the Ctrl-C seen by the poll, the
/// core returning — its work and the drops of its buffers —, the worker joined, and `run`
/// handing back to Python after the allocator's purge) followed by the longest gaps.
#[cfg(feature = "gaptrace")]
mod gaptrace {
    use hiddenconvex_core::control::gaptrace as core_trace;
    use pyo3::Python;
    use std::sync::Mutex;

    pub struct Trace {
        on: bool,
        /// start, cancel, done, joined (monotonic seconds, NaN: not reached)
        t: Mutex<[f64; 4]>,
    }

    impl Trace {
        pub fn new() -> Self {
            let on = std::env::var_os("HC_GAPTRACE").is_some();
            if on {
                core_trace::start();
            }
            Trace {
                on,
                t: Mutex::new([core_trace::monotonic(), f64::NAN, f64::NAN, f64::NAN]),
            }
        }

        pub fn at(&self, i: usize) {
            if let Ok(mut t) = self.t.lock() {
                t[i] = core_trace::monotonic();
            }
        }

        /// Run the worker's closure between two marks (its first and last stretch count too).
        #[track_caller]
        pub fn worker<R>(&self, f: impl FnOnce() -> R) -> R {
            let here = std::panic::Location::caller();
            core_trace::mark(here);
            let r = f();
            core_trace::mark(here);
            self.at(2);
            r
        }

        pub fn finish(&self, _py: Python<'_>) {
            if !self.on {
                return;
            }
            core_trace::stop();
            let now = core_trace::monotonic();
            let t = self.t.lock().map(|t| *t).unwrap_or([f64::NAN; 4]);
            let f = |x: f64| {
                if x.is_finite() {
                    format!("{x:.6}")
                } else {
                    "-".into()
                }
            };
            eprintln!(
                "GAPTRACE start {} cancel {} done {} joined {} return {}\n{}",
                f(t[0]),
                f(t[1]),
                f(t[2]),
                f(t[3]),
                f(now),
                core_trace::report(15)
            );
        }
    }
}

/// Run a short core computation with the GIL released inside the crate's pool (the calling
/// thread waits; no polling, no progress), so the work may still go parallel. Use for calls that
/// finish in milliseconds; panics still become exceptions.
pub fn run_short<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Control) -> hiddenconvex_core::Result<T> + Send,
{
    let outcome = py.detach(|| {
        let ctl = Control::new();
        run_caught(|| f(&ctl))
    });
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(PyCoreError(e).into()),
        Err(msg) => Err(internal(msg)),
    }
}

/// Run bounded serial work with the GIL released on the calling thread itself: no hop into the
/// pool, no watcher thread, every parallel decision of the core answered "serial"
/// ([`parallel::serial`]). Nothing polls for Ctrl-C, so callers use it only for work bounded to a
/// few milliseconds (a single point's value or gradient, a small Hessian, a small spectrum);
/// KeyboardInterrupt is raised when the call returns. Panics still become exceptions.
pub fn run_inline<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Control) -> hiddenconvex_core::Result<T> + Send,
{
    let outcome = py.detach(|| {
        let ctl = Control::new();
        match catch_unwind(AssertUnwindSafe(|| parallel::serial(|| f(&ctl)))) {
            Ok(r) => Ok(r),
            Err(p) => Err(panic_message(p)),
        }
    });
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(PyCoreError(e).into()),
        Err(msg) => Err(internal(msg)),
    }
}
