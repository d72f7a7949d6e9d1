//! ONNX files ⇄ [`Graph`]: import (per-op attribute parsing, opset handling, external data,
//! shape folding) and export (names, doc strings, metadata, opsets and value_info kept).

mod attr;
mod export;
mod import;
mod tensor;

pub use export::{export, export_bytes};
pub use import::import_bytes;
pub use tensor::{read_tensor_file, tensor_from_proto, tensor_to_proto, MAX_ELEMENTS};

use crate::graph::{Graph, GraphError};
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// Oldest IR version read.
pub const MIN_IR_VERSION: i64 = 3;
/// Newest IR version read.
pub const MAX_IR_VERSION: i64 = 14;
/// Oldest default-domain opset read.
pub const MIN_OPSET: i64 = 6;
/// Newest default-domain opset read.
pub const MAX_OPSET: i64 = 28;

/// Why a model could not be imported.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: String },
    /// The bytes are not an ONNX model.
    #[error("not an ONNX model: {0}")]
    NotOnnx(String),
    /// The IR version is outside what gos-opt reads.
    #[error("IR version {0} is not supported (gos-opt reads IR versions {MIN_IR_VERSION} to {MAX_IR_VERSION})")]
    IrVersion(i64),
    /// The default-domain opset is outside what gos-opt reads.
    #[error("opset {0} is not supported (gos-opt reads ai.onnx opsets {MIN_OPSET} to {MAX_OPSET})")]
    Opset(i64),
    /// A graph input has symbolic or unknown dimensions and no `--input-shape`.
    #[error("input '{input}' has dynamic dimensions {dims}: give its shape with --input-shape {input}=DIMS (for example {input}=1x3x224x224)")]
    DynamicInput { input: String, dims: String },
    /// An `--input-shape` does not fit the input.
    #[error("input '{input}': {cause}")]
    InputShape { input: String, cause: String },
    /// A tensor's data is malformed.
    #[error("tensor '{name}': {cause}")]
    Tensor { name: String, cause: String },
    /// A node could not be parsed or typed.
    #[error("node '{node}' ({op}): {cause}")]
    Node { node: String, op: String, cause: String },
    /// A graph input decides a node's output shape (a Reshape target fed at run time); gos-opt
    /// needs shapes fixed at import ([`ImportOptions::frozen_inputs`] pins such inputs).
    #[error("node '{node}' ({op}): graph input '{input}' decides the output shape, but gos-opt needs shapes fixed at import")]
    RuntimeOperand { node: String, op: String, input: String },
    /// The graph's structure is broken.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// How to import a model.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Static shapes for graph inputs, by name (`--input-shape NAME=DIMS`).
    pub input_shapes: HashMap<String, Vec<usize>>,
    /// Graph inputs to treat as constants with these values (the conformance harness pins
    /// inputs that decide shapes, since gos-opt works on static shapes).
    pub frozen_inputs: HashMap<String, Tensor>,
}

/// Reads and imports a model file; external data resolves beside it.
pub fn import(path: &Path, opts: &ImportOptions) -> Result<Graph, ImportError> {
    let bytes =
        std::fs::read(path).map_err(|e| ImportError::Io { path: path.display().to_string(), cause: e.to_string() })?;
    import_bytes(&bytes, path.parent(), opts)
}

/// Parses `NAME=1x3x48x320` (the `--input-shape` syntax).
pub fn parse_input_shape(spec: &str) -> Result<(String, Vec<usize>), String> {
    let (name, dims) = spec.rsplit_once('=').ok_or_else(|| format!("'{spec}' is not NAME=DIMS (e.g. x=1x3x48x320)"))?;
    let dims = dims
        .split(['x', ','])
        .map(|d| d.trim().parse::<usize>().map_err(|_| format!("'{spec}': dimension '{d}' is not a whole number")))
        .collect::<Result<Vec<_>, _>>()?;
    if name.is_empty() {
        return Err(format!("'{spec}' has no input name"));
    }
    Ok((name.to_string(), dims))
}
