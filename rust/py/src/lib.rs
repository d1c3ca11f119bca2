//! `hiddenconvex._core`: the thin bindings. Each capability module converts its inputs, runs the
//! core through [`detach::run`] (GIL released, Ctrl-C, progress), and repackages the outputs.
//! Users import `hiddenconvex`, never this module.

use pyo3::prelude::*;

/// mimalloc: the solvers allocate and free many short-lived n × B work arrays per iteration;
/// glibc's allocator returns them to the OS and page-faults them back in every time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod arrangement;
mod convex;
mod detach;
mod errors;
mod hessian;
mod midpoint;
mod objective;
mod spectra;
mod wedge;

/// Number of threads the core's pool uses (`HIDDENCONVEX_NUM_THREADS`, else the CPU count).
#[pyfunction]
fn thread_count() -> usize {
    hiddenconvex_core::parallel::num_threads()
}

/// Largest allowed thread count (max(64, 4 × CPUs)).
#[pyfunction]
fn max_thread_count() -> usize {
    hiddenconvex_core::parallel::max_threads()
}

/// Why `HIDDENCONVEX_NUM_THREADS` is not used as given (invalid or capped), or None.
#[pyfunction]
fn _thread_env_warning() -> Option<String> {
    hiddenconvex_core::parallel::env_num_threads().1
}

/// Whether every value of a float64 array (any shape, any strides) is finite: the boundary's
/// finiteness check (`hiddenconvex._validation`), one pass without temporaries.
#[pyfunction]
fn _all_finite(a: numpy::PyReadonlyArrayDyn<'_, f64>) -> bool {
    match a.as_slice() {
        Ok(s) => s.iter().all(|x| x.is_finite()),
        Err(_) => a.as_array().iter().all(|x| x.is_finite()),
    }
}

/// Replace the core's thread pool by one of `n` threads.
#[pyfunction]
fn set_thread_count(n: usize) -> PyResult<()> {
    hiddenconvex_core::parallel::set_num_threads(n).map_err(|e| errors::PyCoreError(e).into())
}

/// Sleep for `seconds` in the core, checking for cancellation every millisecond (never with
/// `checks=False`: a core loop that ignores Ctrl-C): a probe of the GIL-release / Ctrl-C
/// machinery used by the test suite.
#[pyfunction]
#[pyo3(signature = (seconds, progress=None, checks=true))]
fn _sleep_interruptible(
    py: Python<'_>,
    seconds: f64,
    progress: Option<Bound<'_, PyAny>>,
    checks: bool,
) -> PyResult<f64> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(errors::invalid("seconds", "must be a finite number >= 0"));
    }
    detach::run(py, progress.as_ref(), move |ctl| {
        let start = std::time::Instant::now();
        let steps = (seconds * 1000.0).ceil() as u64;
        ctl.set_total(steps);
        for _ in 0..steps {
            if checks {
                ctl.check()?;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
            ctl.advance(1);
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

/// Panic inside the core (through [`detach::run`]) with `message`: a probe of the panic path
/// (a `HiddenConvexError` "internal error", nothing printed on stderr) used by the test suite.
#[pyfunction]
fn _panic_probe(py: Python<'_>, message: String) -> PyResult<()> {
    detach::run(py, None, move |_ctl| -> hiddenconvex_core::Result<()> {
        panic!("{message}")
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    detach::install_quiet_panic_hook();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(set_thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(_all_finite, m)?)?;
    m.add_function(wrap_pyfunction!(max_thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(_thread_env_warning, m)?)?;
    m.add_function(wrap_pyfunction!(_sleep_interruptible, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_probe, m)?)?;
    arrangement::register(m)?;
    objective::register(m)?;
    hessian::register(m)?;
    midpoint::register(m)?;
    convex::register(m)?;
    spectra::register(m)?;
    wedge::register(m)?;
    // pyo3 fills `__all__` as functions are added; this private module exports nothing by `*`,
    // and the stubs (checked by stubtest) then need no list to keep in sync.
    m.delattr("__all__")?;
    Ok(())
}
