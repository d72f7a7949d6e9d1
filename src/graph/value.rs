//! Values: the tensors flowing between nodes, and where each comes from.

use super::NodeId;
use crate::tensor::{Tensor, TensorType};
use std::sync::Arc;

/// Index of a value in a [`super::Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(u32);

impl ValueId {
    /// The id of the `i`-th value.
    pub fn new(i: usize) -> ValueId {
        ValueId(u32::try_from(i).expect("fewer than 2^32 values"))
    }

    /// Position in [`super::Graph::values`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How a constant was written in the source file, so export can write it the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstOrigin {
    /// A `graph.initializer`; `also_input` when the file also lists it as a graph input
    /// (IR < 4 style), which export repeats.
    Initializer {
        /// Also listed in `graph.input`.
        also_input: bool,
        /// `TensorProto.doc_string`.
        doc_string: String,
    },
    /// The output of a `Constant` node with this name and doc string.
    ConstantNode {
        /// The Constant node's name.
        node: String,
        /// Its doc string.
        doc_string: String,
    },
    /// Made by gos-opt (folding, rewriting): exported as an initializer.
    Derived,
}

/// Where a value's contents come from.
#[derive(Clone, Debug, Default)]
pub enum ValueKind {
    /// Fed at run time (a graph input).
    Input,
    /// A constant in the pool.
    Const {
        /// The data (shared: rewrites may reference one weight many times).
        tensor: Arc<Tensor>,
        /// How the file wrote it.
        origin: ConstOrigin,
    },
    /// Output of a node.
    Node {
        /// The producer.
        node: NodeId,
    },
    /// Not (or no longer) defined: an unused optional output, or a removed value.
    #[default]
    Unset,
}

/// A named tensor.
#[derive(Clone, Debug, Default)]
pub struct Value {
    /// The tensor name, unique in the graph.
    pub name: String,
    /// Static type, when known (always known for values a supported op reads).
    pub ty: Option<TensorType>,
    /// The ONNX `TypeProto` of a value that is not a plain tensor (a sequence, a map...),
    /// serialized, carried for export.
    pub onnx_type: Option<Vec<u8>>,
    /// Where the contents come from.
    pub kind: ValueKind,
    /// `ValueInfoProto.doc_string`, when the file had one.
    pub doc_string: String,
    /// Whether the file listed this value in `graph.value_info` (export repeats it).
    pub in_value_info: bool,
    /// Symbolic dimension names from the file (`N`, `batch`), by axis, kept for reports.
    pub dim_params: Vec<Option<String>>,
}
