//! gos-opt: rewrites neural-network operators into cheaper equivalents for small devices.
//!
//! The pipeline (see `ARCHITECTURE.md`): [`onnx`] imports a model into a [`graph::Graph`],
//! [`verify`] checks a rewritten model against the original with tract.
#![warn(missing_docs)]

pub mod approx;
pub mod build;
pub mod cost;
pub mod emit;
pub mod fit;
pub mod fsutil;
pub mod graph;
pub mod guard;
pub mod inspect;
pub mod interp;
pub mod ir;
pub mod onnx;
pub mod ops;
pub mod pipeline;
pub mod reference;
pub mod report;
pub mod rules;
pub mod search;
pub mod tensor;
pub mod verify;
