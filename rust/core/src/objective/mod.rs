//! Native objectives on a flat float64 parameter vector: value and analytic gradient.
//! (Issue: convexity diagnostics.)
