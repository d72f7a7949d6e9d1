//! gos-opt: rewrites neural-network operators into cheaper equivalents for small devices.
//!
//! The pipeline ([`pipeline::run`], shared by the CLI and the build step [`build`]; see
//! `ARCHITECTURE.md`):
//!
//! 1. [`onnx`] imports a model into a [`graph::Graph`] of [`ops`] (one file per operator
//!    family), with [`tensor`] values;
//! 2. [`ir`] lowers the graph into an e-graph of mathematical primitives, where [`rules`]
//!    (data in `rules/`) rewrite it and [`search`] saturates and extracts the cheapest program
//!    under the [`cost`] model of a target (which prices the [`work`] each op counts); in `--mode approx`, [`approx`] chooses approximate
//!    replacements under an accuracy budget, with their numerics in [`fit`]; [`shiftadd`]
//!    writes integer weights as digit planes, which the cost model prices as additions;
//! 3. [`lift`] turns the program back into a graph, [`onnx`] exports it, [`verify`] checks it
//!    against the original, and only then is it written ([`fsutil`]), with a [`report`] and,
//!    on request, a `no_std` Rust module from [`emit`].
//!
//! Beside the pipeline: [`inspect`] (per-layer figures), [`guard`] (panics caught at stage
//! boundaries), [`tract`](mod@tract) (the tract runtime, on which verification runs models)
//! and [`interp`] (gos-opt's own evaluator of IR expressions, which checks rules).
//!
//! Words used with one meaning throughout: an *op* is an ONNX operator as parsed
//! ([`ops::Op`]); a *kernel* is one op applied as a unit: an `Ir::Kernel` node of the e-graph,
//! priced by [`cost::kernel_work`], run alone by [`interp::run_kernel`], and implemented in the
//! Rust back end by a kernel function ([`emit`]); a *primitive* is a mathematical instruction of
//! the IR; *lowering* turns something into a form closer to the machine (a graph into IR in
//! [`ir`], an op into kernel calls in [`emit`]); *verifying* checks a written model against its
//! original ([`verify`]) or a rule on drawn instances (`gos-opt rules verify`, [`rules`]).
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
pub mod lift;
pub mod onnx;
pub mod ops;
pub mod pipeline;
pub mod report;
pub mod rules;
pub mod search;
pub mod shiftadd;
pub mod softermax;
pub mod softmax8;
pub mod tensor;
pub mod tract;
pub mod verify;
pub mod winograd;
pub mod work;

#[cfg(test)]
mod layering;
