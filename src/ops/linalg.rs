//! Matrix products: Gemm, MatMul and their integer and quantized forms.
//! STUB: to be implemented.

use super::{Attrs, Kernel, OpError, OpResult, Parser};
use crate::tensor::TensorType;


/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {}

impl Kernel for Gemm {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "Gemm"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("Gemm".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMul {}

impl Kernel for MatMul {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "MatMul"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("MatMul".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMulInteger {}

impl Kernel for MatMulInteger {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "MatMulInteger"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("MatMulInteger".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct QLinearMatMul {}

impl Kernel for QLinearMatMul {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "QLinearMatMul"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("QLinearMatMul".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}
