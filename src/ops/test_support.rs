//! Helpers shared by the op families' unit tests.

use super::{Attrs, Parser};
use crate::tensor::{DType, TensorType};

/// A single-output node of `op_type` at `opset` with these attributes and no inputs.
pub fn parser<'a>(op_type: &'a str, opset: i64, attrs: &'a Attrs) -> Parser<'a> {
    Parser { op_type, domain: "", opset, attrs, inputs: Vec::new(), n_outputs: 1 }
}

/// A tensor type.
pub fn t(dtype: DType, shape: &[usize]) -> TensorType {
    TensorType::new(dtype, shape.to_vec())
}
