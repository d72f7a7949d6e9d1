//! Pooling: MaxPool, AveragePool, GlobalAveragePool.
//! STUB: to be implemented.

use super::{Attrs, Kernel, OpError, OpResult, Parser};
use crate::tensor::TensorType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolKind { Max, Average }

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {}

impl Kernel for Pool {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "MaxPool"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("MaxPool".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalPool {}

impl Kernel for GlobalPool {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "GlobalAveragePool"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("GlobalAveragePool".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}
