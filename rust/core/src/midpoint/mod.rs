//! Midpoint-convexity sampling. (Issue: convexity diagnostics.)
