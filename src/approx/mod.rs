//! Approximate operator replacement (`--mode approx`): cheaper forms of operators that are not
//! equal to the original, chosen per layer under a measured accuracy budget.
//!
//! The fitting functions that compute an approximate rule's new weights from the layer's
//! weights and its calibration activations live in [`fit`].

pub mod fit;
