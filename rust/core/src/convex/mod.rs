//! The convex reformulation of two-layer ReLU training and its solvers. (Issue: hidden convexity.)
