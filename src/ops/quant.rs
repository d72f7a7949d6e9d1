//! Quantization: QuantizeLinear, DequantizeLinear, QLinearConv, ConvInteger.
//! STUB: to be implemented.

use super::{Attrs, Kernel, OpError, OpResult, Parser};
use crate::tensor::TensorType;


/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeLinear {}

impl Kernel for QuantizeLinear {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "QuantizeLinear"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("QuantizeLinear".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct DequantizeLinear {}

impl Kernel for DequantizeLinear {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "DequantizeLinear"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("DequantizeLinear".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct QLinearConv {}

impl Kernel for QLinearConv {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "QLinearConv"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("QLinearConv".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}

/// STUB.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvInteger {}

impl Kernel for ConvInteger {
    fn parse(p: &Parser) -> OpResult<Self> {
        Err(OpError::Unsupported(format!("{} is not implemented yet", p.op_type)))
    }
    fn onnx_name(&self) -> &str {
        "ConvInteger"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported("ConvInteger".into()))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
}
