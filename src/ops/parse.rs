//! The view of a node that op parsers read: attributes with ONNX defaults, and constant operands.

use super::{Attr, Attrs, OpError, OpResult};
use crate::tensor::{Tensor, TensorType};

/// What a parser knows about one input.
#[derive(Clone, Copy, Debug, Default)]
pub struct InputInfo<'a> {
    /// The tensor name.
    pub name: &'a str,
    /// Its static type, when known.
    pub ty: Option<&'a TensorType>,
    /// Its contents, when it is a constant.
    pub constant: Option<&'a Tensor>,
}

/// A node as op parsers see it.
#[derive(Clone, Debug)]
pub struct Parser<'a> {
    /// ONNX op_type.
    pub op_type: &'a str,
    /// ONNX domain (`""` for the default).
    pub domain: &'a str,
    /// Version of the operator set the node's domain imports.
    pub opset: i64,
    /// Attributes in file order.
    pub attrs: &'a Attrs,
    /// Inputs; `None` for an omitted optional input.
    pub inputs: Vec<Option<InputInfo<'a>>>,
    /// Number of outputs the node declares.
    pub n_outputs: usize,
}

impl<'a> Parser<'a> {
    /// The raw attribute, if present.
    pub fn attr(&self, name: &str) -> Option<&'a Attr> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    fn bad(name: &str, cause: impl Into<String>) -> OpError {
        OpError::BadAttr { name: name.into(), cause: cause.into() }
    }

    /// An int attribute, if present.
    pub fn int_opt(&self, name: &str) -> OpResult<Option<i64>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Int(i)) => Ok(Some(*i)),
            Some(a) => Err(Self::bad(name, format!("expected int, found {}", a.kind()))),
        }
    }

    /// An int attribute with a default.
    pub fn int(&self, name: &str, default: i64) -> OpResult<i64> {
        Ok(self.int_opt(name)?.unwrap_or(default))
    }

    /// A float attribute, if present.
    pub fn float_opt(&self, name: &str) -> OpResult<Option<f32>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Float(f)) => Ok(Some(*f)),
            Some(Attr::Int(i)) => Ok(Some(*i as f32)),
            Some(a) => Err(Self::bad(name, format!("expected float, found {}", a.kind()))),
        }
    }

    /// A float attribute with a default.
    pub fn float(&self, name: &str, default: f32) -> OpResult<f32> {
        Ok(self.float_opt(name)?.unwrap_or(default))
    }

    /// An ints attribute, if present.
    pub fn ints_opt(&self, name: &str) -> OpResult<Option<Vec<i64>>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(a) => Err(Self::bad(name, format!("expected ints, found {}", a.kind()))),
        }
    }

    /// A floats attribute, if present.
    pub fn floats_opt(&self, name: &str) -> OpResult<Option<Vec<f32>>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Floats(v)) => Ok(Some(v.clone())),
            Some(a) => Err(Self::bad(name, format!("expected floats, found {}", a.kind()))),
        }
    }

    /// A string attribute with a default.
    pub fn string(&self, name: &str, default: &str) -> OpResult<String> {
        match self.attr(name) {
            None => Ok(default.to_string()),
            Some(Attr::String(s)) => Ok(String::from_utf8_lossy(s).into_owned()),
            Some(a) => Err(Self::bad(name, format!("expected string, found {}", a.kind()))),
        }
    }

    /// A tensor attribute, if present.
    pub fn tensor_opt(&self, name: &str) -> OpResult<Option<&'a Tensor>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Tensor(t)) => Ok(Some(t)),
            Some(a) => Err(Self::bad(name, format!("expected tensor, found {}", a.kind()))),
        }
    }

    /// Input `i`, if present (an empty name in ONNX means omitted).
    pub fn input(&self, i: usize) -> Option<&InputInfo<'a>> {
        self.inputs.get(i).and_then(|x| x.as_ref())
    }

    /// The constant value of operand input `i`; `Ok(None)` when the input is omitted, an error
    /// when it is present but not constant.
    pub fn operand(&self, i: usize) -> OpResult<Option<&'a Tensor>> {
        match self.input(i) {
            None => Ok(None),
            Some(info) => match info.constant {
                Some(t) => Ok(Some(t)),
                None => Err(OpError::NonConstOperand { index: i, name: info.name.to_string() }),
            },
        }
    }

    /// Operand input `i` read as integers (axes, shapes, pads).
    pub fn operand_ints(&self, i: usize) -> OpResult<Option<Vec<i64>>> {
        match self.operand(i)? {
            None => Ok(None),
            Some(t) => t
                .to_i64_vec()
                .map(Some)
                .ok_or_else(|| OpError::Type(format!("input {i} must be numeric, found {}", t.dtype))),
        }
    }

    /// Operand input `i` read as floats (scales, clip bounds).
    pub fn operand_floats(&self, i: usize) -> OpResult<Option<Vec<f64>>> {
        match self.operand(i)? {
            None => Ok(None),
            Some(t) => t
                .to_f64_vec()
                .map(Some)
                .ok_or_else(|| OpError::Type(format!("input {i} must be numeric, found {}", t.dtype))),
        }
    }

    /// Integers from an attribute (older opsets) or else from operand input `i` (newer ones).
    pub fn ints_attr_or_operand(&self, name: &str, i: usize) -> OpResult<Option<Vec<i64>>> {
        match self.ints_opt(name)? {
            Some(v) => Ok(Some(v)),
            None => self.operand_ints(i),
        }
    }
}

/// Builds attribute lists without noise: `push_int(&mut attrs, "axis", 1)`.
pub(crate) fn push(attrs: &mut Attrs, name: &str, value: Attr) {
    attrs.push((name.to_string(), value));
}
