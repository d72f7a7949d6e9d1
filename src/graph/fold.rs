//! Constant folding of shape computations.
pub fn fold_constants() {}
