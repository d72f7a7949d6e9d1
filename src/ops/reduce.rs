//! Reductions: ReduceMean, ReduceMax, ReduceSum.
//! STUB: to be implemented.

use super::{Attrs, Kernel, OpError, OpResult, Parser};
use crate::tensor::TensorType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceKind { Mean, Max, Sum }

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {}

impl Kernel for Reduce {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "ReduceMean"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("ReduceMean".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}
