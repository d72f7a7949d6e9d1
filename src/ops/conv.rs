//! Convolution and transposed convolution (shared window attributes).
//! STUB: to be implemented.

use super::{Attrs, Kernel, OpError, OpResult, Parser};
use crate::tensor::TensorType;

pub struct ConvAttrs {}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {}

impl Kernel for Conv {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "Conv"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("Conv".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose {}

impl Kernel for ConvTranspose {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "ConvTranspose"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("ConvTranspose".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}
