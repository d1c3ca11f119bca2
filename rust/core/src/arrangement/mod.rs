//! Activation chambers of the central hyperplane arrangement {u : x_i · u = 0} of the rows of X.
//! (Issue: foundation + chambers.)
