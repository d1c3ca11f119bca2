//! Batched finite-difference Hessians. (Issue: convexity diagnostics.)
