//! Operators gos-opt does not interpret: carried through unchanged with every attribute and
//! subgraph; their output types come from the file's value_info or from tract's analysis.

use super::{Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::TensorType;

/// An op that no rule matches and that export writes back exactly as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Opaque {
    /// ONNX domain (`""` for the default).
    pub domain: String,
    /// ONNX op_type.
    pub op_type: String,
    /// Attributes as read (subgraphs carried serialized).
    pub attrs: Attrs,
}

impl Operator for Opaque {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Opaque { domain: p.domain.to_string(), op_type: p.op_type.to_string(), attrs: p.attrs.clone() })
    }
    fn onnx_name(&self) -> &str {
        &self.op_type
    }
    /// Opaque types are never inferred here: the importer takes them from value_info or tract.
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Err(OpError::Unsupported(format!("output types of unknown op '{}'", self.op_type)))
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        self.attrs.clone()
    }
}
