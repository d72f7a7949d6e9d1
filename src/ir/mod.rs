//! The e-graph IR: operators as mathematical instructions. Kernel nodes mirror the supported
//! ONNX ops, primitives are the math they decompose into, and the analysis tracks types,
//! payloads and which classes depend only on weights.

mod analysis;
pub mod infer;
mod lang;
mod lower;
mod onnx_form;
mod payload;

pub use analysis::{node_data, program_classes, ConstFns, FnArg, IrAnalysis, IrData, IrGraph, NoFunctions, Provenance};
pub use lang::{is_kernel_symbol, kernel_symbol, Ir};
pub use lower::{analysis_for, lower, lower_with, LowerError, Lowered, Origins};
pub use onnx_form::{fold_budget, folds, is_exportable, kernel_op, primitive_op, subexpr, Arg};
pub use payload::{ConstRef, FnRef, InputRef, Literal, OpPayload, Payload, SliceSpec, WindowSpec};
