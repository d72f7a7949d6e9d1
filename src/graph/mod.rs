//! The typed dataflow graph: nodes are operators, values are tensors with a dtype and a static
//! shape, weights live in a constant pool. Holds no protobuf types.

mod value;

pub mod fold;
pub mod qdq;
pub mod upgrade;
pub use value::{ConstOrigin, Value, ValueId, ValueKind};

use crate::ops::Op;
use crate::tensor::{Tensor, TensorType};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use std::collections::HashMap;
use std::sync::Arc;

/// Index of a node in a [`Graph`].
pub type NodeId = NodeIndex;

/// Errors found in a graph's structure or types.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Nodes depend on each other in a loop.
    #[error("the graph has a cycle through node '{node}' ({op})")]
    Cycle { node: String, op: String },
    /// A node reads a tensor nothing defines.
    #[error("node '{node}' ({op}) reads tensor '{tensor}', which no node, input or initializer defines")]
    Undefined { node: String, op: String, tensor: String },
    /// Two producers claim one tensor name.
    #[error("tensor '{tensor}' is defined twice (second time by '{node}')")]
    Redefined { node: String, tensor: String },
    /// A graph output names an undefined tensor.
    #[error("graph output '{0}' is not defined by any node, input or initializer")]
    UndefinedOutput(String),
    /// Shape or type inference failed for a node.
    #[error("node '{node}' ({op}): {cause}")]
    Node { node: String, op: String, cause: String },
}

/// The IR version that goes with an opset (ONNX's release table).
pub fn ir_version_for(opset: i64) -> i64 {
    match opset {
        ..=8 => 4,
        9 => 5,
        10 => 6,
        11 => 6,
        12..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

/// Model-level facts that travel from import to export unchanged.
#[derive(Clone, Debug, Default)]
pub struct ModelMeta {
    /// `ModelProto.ir_version`.
    pub ir_version: i64,
    /// Operator sets as (domain, version); the default domain is `""`.
    pub opset_imports: Vec<(String, i64)>,
    /// `ModelProto.producer_name`.
    pub producer_name: String,
    /// `ModelProto.producer_version`.
    pub producer_version: String,
    /// `ModelProto.domain`.
    pub domain: String,
    /// `ModelProto.model_version`.
    pub model_version: i64,
    /// `ModelProto.doc_string`.
    pub doc_string: String,
    /// `metadata_props` in file order.
    pub metadata_props: Vec<(String, String)>,
    /// Model-local functions, training info and other parts gos-opt carries but does not
    /// interpret, as serialized protobuf messages keyed by their field number.
    pub carried: Vec<(u32, Vec<u8>)>,
    /// `GraphProto.name`.
    pub graph_name: String,
    /// `GraphProto.doc_string`.
    pub graph_doc_string: String,
    /// Graph-level messages carried unchanged (sparse initializers, quantization annotations).
    pub graph_carried: Vec<(u32, Vec<u8>)>,
}

impl ModelMeta {
    /// The version of the default (`ai.onnx`) operator set.
    pub fn opset(&self) -> i64 {
        self.opset_imports.iter().find(|(d, _)| d.is_empty() || d == "ai.onnx").map(|(_, v)| *v).unwrap_or(1)
    }

    /// Sets (or adds) a metadata property.
    pub fn set_metadata(&mut self, key: &str, value: &str) {
        match self.metadata_props.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.metadata_props.push((key.to_string(), value.to_string())),
        }
    }
}

/// One operator application.
#[derive(Clone, Debug)]
pub struct Node {
    /// `NodeProto.name` (may be empty in the file; import names unnamed nodes).
    pub name: String,
    /// The operator with its attributes parsed.
    pub op: Op,
    /// Inputs exactly as in ONNX, `None` for an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    /// Outputs exactly as in ONNX (an omitted optional output has an unused value).
    pub outputs: Vec<ValueId>,
    /// `NodeProto.doc_string`.
    pub doc_string: String,
}

/// A model: nodes, values, graph inputs and outputs, and model metadata.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Nodes and data dependencies (an edge per consumed value, labelled with the value).
    pub dag: StableDiGraph<Node, ValueId>,
    /// Every tensor, indexed by [`ValueId`].
    pub values: Vec<Value>,
    /// Graph inputs that are fed at run time, in file order.
    pub inputs: Vec<ValueId>,
    /// Graph outputs, in file order.
    pub outputs: Vec<ValueId>,
    /// Model metadata.
    pub meta: ModelMeta,
    by_name: HashMap<String, ValueId>,
}

impl Graph {
    /// An empty graph with the given metadata.
    pub fn new(meta: ModelMeta) -> Graph {
        Graph { meta, ..Default::default() }
    }

    /// The value with this name, if any.
    pub fn value_by_name(&self, name: &str) -> Option<ValueId> {
        self.by_name.get(name).copied()
    }

    /// The value behind an id.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.index()]
    }

    /// The value behind an id, mutably.
    pub fn value_mut(&mut self, id: ValueId) -> &mut Value {
        &mut self.values[id.index()]
    }

    /// Adds a value; its name must be new.
    pub fn add_value(&mut self, value: Value) -> ValueId {
        let id = ValueId::new(self.values.len());
        self.by_name.insert(value.name.clone(), id);
        self.values.push(value);
        id
    }

    /// Adds a constant value to the pool.
    pub fn add_const(&mut self, name: &str, tensor: Arc<Tensor>, origin: ConstOrigin) -> ValueId {
        let ty = Some(tensor.ttype());
        self.add_value(Value { name: name.into(), ty, kind: ValueKind::Const { tensor, origin }, ..Value::default() })
    }

    /// A name not used by any value, built from `base`.
    pub fn fresh_name(&self, base: &str) -> String {
        if !self.by_name.contains_key(base) {
            return base.to_string();
        }
        (1..).map(|i| format!("{base}_{i}")).find(|n| !self.by_name.contains_key(n)).expect("infinite names")
    }

    /// Adds a node whose input and output values exist; outputs record it as their producer.
    pub fn add_node(&mut self, node: Node) -> Result<NodeId, GraphError> {
        let outputs = node.outputs.clone();
        let inputs: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        let name = node.name.clone();
        let id = self.dag.add_node(node);
        for out in outputs {
            let v = &mut self.values[out.index()];
            if !matches!(v.kind, ValueKind::Unset) {
                return Err(GraphError::Redefined { node: name, tensor: v.name.clone() });
            }
            v.kind = ValueKind::Node { node: id };
        }
        for input in inputs {
            if let ValueKind::Node { node: producer } = self.values[input.index()].kind {
                self.dag.add_edge(producer, id, input);
            }
        }
        Ok(id)
    }

    /// Removes a node; its outputs become unset.
    pub fn remove_node(&mut self, id: NodeId) -> Option<Node> {
        let node = self.dag.remove_node(id)?;
        for out in &node.outputs {
            self.values[out.index()].kind = ValueKind::Unset;
        }
        Some(node)
    }

    /// The node behind an id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.dag[id]
    }

    /// Nodes in a topological order that follows file order where dependencies allow.
    pub fn topo_order(&self) -> Result<Vec<NodeId>, GraphError> {
        // Kahn's algorithm with the smallest index first keeps the original order stable.
        let mut indegree: HashMap<NodeId, usize> = HashMap::new();
        for id in self.dag.node_indices() {
            indegree.insert(id, self.dag.neighbors_directed(id, petgraph::Incoming).count());
        }
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<NodeId>> =
            indegree.iter().filter(|(_, &d)| d == 0).map(|(&id, _)| std::cmp::Reverse(id)).collect();
        let mut order = Vec::with_capacity(indegree.len());
        while let Some(std::cmp::Reverse(id)) = ready.pop() {
            order.push(id);
            for next in self.dag.neighbors_directed(id, petgraph::Outgoing) {
                let d = indegree.get_mut(&next).expect("neighbour is a node");
                *d -= 1;
                if *d == 0 {
                    ready.push(std::cmp::Reverse(next));
                }
            }
        }
        if order.len() != indegree.len() {
            let stuck = indegree.iter().filter(|(_, &d)| d > 0).map(|(&id, _)| id).min().expect("a stuck node");
            let node = &self.dag[stuck];
            return Err(GraphError::Cycle { node: node.name.clone(), op: node.op.onnx_name().to_string() });
        }
        Ok(order)
    }

    /// The static type of a value, if known.
    pub fn ty(&self, id: ValueId) -> Option<&TensorType> {
        self.values[id.index()].ty.as_ref()
    }

    /// The constant behind a value, if it is one.
    pub fn constant(&self, id: ValueId) -> Option<&Arc<Tensor>> {
        match &self.values[id.index()].kind {
            ValueKind::Const { tensor, .. } => Some(tensor),
            _ => None,
        }
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.dag.node_count()
    }

    /// Per value, the nodes that read it.
    pub fn readers(&self) -> HashMap<ValueId, Vec<NodeId>> {
        let mut readers: HashMap<ValueId, Vec<NodeId>> = HashMap::new();
        for id in self.dag.node_indices() {
            for v in self.dag[id].inputs.iter().flatten() {
                readers.entry(*v).or_default().push(id);
            }
        }
        readers
    }

    /// Per value: whether a node reads it or it is a graph output.
    pub fn used_values(&self) -> Vec<bool> {
        let mut used = vec![false; self.values.len()];
        for n in self.dag.node_indices() {
            for v in self.dag[n].inputs.iter().flatten() {
                used[v.index()] = true;
            }
        }
        for v in &self.outputs {
            used[v.index()] = true;
        }
        used
    }
}
