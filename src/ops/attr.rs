//! ONNX attribute values, independent of protobuf.

use crate::tensor::Tensor;

/// One attribute value. Subgraphs and other messages gos-opt does not interpret are carried as
/// serialized protobuf bytes so that opaque nodes pass through unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// `f`.
    Float(f32),
    /// `i`.
    Int(i64),
    /// `s` (bytes).
    String(Vec<u8>),
    /// `t`.
    Tensor(Tensor),
    /// `floats`.
    Floats(Vec<f32>),
    /// `ints`.
    Ints(Vec<i64>),
    /// `strings`.
    Strings(Vec<Vec<u8>>),
    /// `tensors`.
    Tensors(Vec<Tensor>),
    /// An attribute gos-opt carries unread (a graph, sparse tensor, type proto, or lists of
    /// them, or an attribute reference inside a function): the whole serialized `AttributeProto`.
    Carried(Vec<u8>),
}

impl Attr {
    /// A short type name for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attr::Float(_) => "float",
            Attr::Int(_) => "int",
            Attr::String(_) => "string",
            Attr::Tensor(_) => "tensor",
            Attr::Floats(_) => "floats",
            Attr::Ints(_) => "ints",
            Attr::Strings(_) => "strings",
            Attr::Tensors(_) => "tensors",
            Attr::Carried(_) => "graph or other message",
        }
    }
}

/// A node's attributes in file order.
pub type Attrs = Vec<(String, Attr)>;
