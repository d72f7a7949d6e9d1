//! Lowering `Graph → EGraph`: every node becomes a kernel e-node (its op as the payload child,
//! its ONNX inputs as the other children), multi-output nodes are read through `get`, and the
//! graph outputs are joined under one `outputs` root. Names stay outside the e-graph, in
//! [`Origins`], so that identical computations share a class and lifting can restore names.

use super::analysis::{IrAnalysis, IrGraph};
use super::lang::{kernel_symbol, Ir};
use super::payload::{ConstRef, InputRef, Literal, OpPayload, Payload};
use crate::graph::{Graph, GraphError, NodeId, ValueId, ValueKind};
use egg::Id;
use std::collections::HashMap;

/// Which source node each kernel e-class came from (classes as they were when added; look
/// them up through `egraph.find`).
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// Kernel class → source node.
    pub nodes: Vec<(Id, NodeId)>,
}

/// A lowered model.
#[derive(Debug)]
pub struct Lowered {
    /// The e-graph.
    pub egraph: IrGraph,
    /// The `outputs` root.
    pub root: Id,
    /// Source nodes of kernel classes.
    pub origins: Origins,
}

/// Lowering failures.
#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    /// The graph's structure is broken.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A value has no definition.
    #[error("value '{0}' is read but never defined")]
    Undefined(String),
}

/// The analysis for a graph: its constant pool and input types.
pub fn analysis_for(graph: &Graph) -> IrAnalysis {
    let mut a = IrAnalysis::default();
    for (i, v) in graph.values.iter().enumerate() {
        if let ValueKind::Const { tensor, .. } = &v.kind {
            a.consts.insert(i as u32, tensor.clone());
        }
    }
    for &id in &graph.inputs {
        if let Some(t) = graph.ty(id) {
            a.inputs.insert(graph.value(id).name.as_str().into(), t.clone());
        }
    }
    a
}

/// Lowers a graph into a fresh e-graph (no constant functions known).
pub fn lower(graph: &Graph) -> Result<Lowered, LowerError> {
    lower_with(graph, analysis_for(graph))
}

/// Lowers a graph into a fresh e-graph with the given analysis (from [`analysis_for`], with
/// the constant-function table the rules need).
pub fn lower_with(graph: &Graph, analysis: IrAnalysis) -> Result<Lowered, LowerError> {
    let mut egraph = IrGraph::new(analysis);
    let mut origins = Origins::default();
    let mut classes: HashMap<ValueId, Id> = HashMap::new();
    let value_class = |egraph: &mut IrGraph, classes: &HashMap<ValueId, Id>, v: ValueId| -> Result<Id, LowerError> {
        let value = graph.value(v);
        match &value.kind {
            ValueKind::Input => Ok(egraph.add(Ir::Input(InputRef(value.name.as_str().into())))),
            ValueKind::Const { .. } => Ok(egraph.add(Ir::Const(ConstRef(v.index() as u32)))),
            ValueKind::Node { .. } => classes.get(&v).copied().ok_or_else(|| LowerError::Undefined(value.name.clone())),
            ValueKind::Unset => Err(LowerError::Undefined(value.name.clone())),
        }
    };
    for nid in graph.topo_order()? {
        let node = graph.node(nid);
        let payload = if node.op.is_opaque() {
            let types = node.outputs.iter().map(|&o| graph.ty(o).cloned()).collect();
            OpPayload::with_outputs(node.op.clone(), types)
        } else {
            OpPayload::new(node.op.clone())
        };
        let mut children = vec![egraph.add(Ir::Payload(Payload::Op(payload)))];
        for input in &node.inputs {
            children.push(match input {
                None => egraph.add(Ir::Absent),
                Some(v) => value_class(&mut egraph, &classes, *v)?,
            });
        }
        let enode = if node.op.is_opaque() {
            Ir::Opaque(children.into())
        } else {
            Ir::Kernel(kernel_symbol(node.op.onnx_name()), children.into())
        };
        let class = egraph.add(enode);
        origins.nodes.push((class, nid));
        if node.outputs.len() == 1 {
            classes.insert(node.outputs[0], class);
        } else {
            for (i, &out) in node.outputs.iter().enumerate() {
                let index = egraph.add(Ir::Lit(Literal(i as f64)));
                classes.insert(out, egraph.add(Ir::Get([index, class])));
            }
        }
    }
    let outputs =
        graph.outputs.iter().map(|&v| value_class(&mut egraph, &classes, v)).collect::<Result<Vec<_>, _>>()?;
    let root = egraph.add(Ir::Outputs(outputs.into()));
    egraph.rebuild();
    Ok(Lowered { egraph, root, origins })
}
