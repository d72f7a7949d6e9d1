//! Kernel nodes through tract: a one-node ONNX model built from the op and its inputs
//! (constant inputs become initializers, the others graph inputs), exported and run.

use super::InterpError;
use crate::graph::{ConstOrigin, Graph, ModelMeta, Node, Value, ValueKind};
use crate::ops::Op;
use crate::tensor::{Tensor, TensorType};
use crate::tract::Runnable;
use std::collections::HashMap;
use std::sync::Arc;

/// One input of a kernel run.
#[derive(Clone, Debug)]
pub enum KernelInput {
    /// An omitted optional input.
    Absent,
    /// A value known before run time (written as an initializer; ops whose operand decides a
    /// shape need this).
    Const(Tensor),
    /// A value fed at run time.
    Runtime(Tensor),
}

/// A one-node model of `op` on `inputs`, declaring `opset`: constant inputs are initializers
/// (`c{i}`), runtime inputs graph inputs (`x{i}`, returned with their values by name), the
/// outputs `y{k}` typed by the op's inference (also returned).
pub fn kernel_graph(op: &Op, inputs: &[KernelInput], opset: i64) -> Result<KernelGraph, InterpError> {
    if op.is_opaque() {
        return Err(InterpError::Unsupported(format!("opaque op {}", op.onnx_name())));
    }
    one_node(op, inputs, opset, None)
}

/// [`kernel_graph`] for any op: with `untyped` outputs (an op gos-opt does not interpret, whose
/// output types tract infers), or typed by the op's inference when `None`.
fn one_node(op: &Op, inputs: &[KernelInput], opset: i64, untyped: Option<usize>) -> Result<KernelGraph, InterpError> {
    let fail = |cause: String| InterpError::Kernel { op: op.onnx_name().to_string(), cause };
    let meta = ModelMeta {
        ir_version: crate::graph::ir_version_for(opset),
        opset_imports: vec![(String::new(), opset)],
        producer_name: "gos-opt interp".into(),
        graph_name: "kernel".into(),
        ..ModelMeta::default()
    };
    let mut graph = Graph::new(meta);
    let mut node_inputs = Vec::with_capacity(inputs.len());
    let mut feeds = HashMap::new();
    let mut types = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let (id, ty) = match input {
            KernelInput::Absent => (None, None),
            KernelInput::Const(t) => {
                let id = graph.add_const(&format!("c{i}"), Arc::new(t.clone()), ConstOrigin::Derived);
                (Some(id), Some(t.ttype()))
            }
            KernelInput::Runtime(t) => {
                let name = format!("x{i}");
                let value =
                    Value { name: name.clone(), ty: Some(t.ttype()), kind: ValueKind::Input, ..Value::default() };
                let id = graph.add_value(value);
                graph.inputs.push(id);
                feeds.insert(name, t.clone());
                (Some(id), Some(t.ttype()))
            }
        };
        node_inputs.push(id);
        types.push(ty);
    }
    let out_types = match untyped {
        Some(_) => Vec::new(),
        None => op.infer(&types.iter().map(Option::as_ref).collect::<Vec<_>>()).map_err(|e| fail(e.to_string()))?,
    };
    let outputs: Vec<_> = (0..untyped.unwrap_or(out_types.len()))
        .map(|k| graph.add_value(Value { name: format!("y{k}"), ty: out_types.get(k).cloned(), ..Value::default() }))
        .collect();
    let node = Node {
        name: "node".into(),
        op: op.clone(),
        inputs: node_inputs,
        outputs: outputs.clone(),
        doc_string: String::new(),
    };
    graph.add_node(node).map_err(|e| fail(e.to_string()))?;
    graph.outputs = outputs;
    Ok(KernelGraph { graph, feeds, out_types })
}

/// A one-node model ([`kernel_graph`]) with the values of its runtime inputs.
pub struct KernelGraph {
    /// The model.
    pub graph: Graph,
    /// Runtime input values by graph input name.
    pub feeds: HashMap<String, Tensor>,
    /// The inferred output types.
    pub out_types: Vec<TensorType>,
}

/// Runs `op` on `inputs` with tract, the model declaring `opset`; one tensor per output.
pub fn run_kernel(op: &Op, inputs: &[KernelInput], opset: i64) -> Result<Vec<Tensor>, InterpError> {
    run(op, kernel_graph(op, inputs, opset)?)
}

/// Runs a default-domain op gos-opt does not interpret (`Greater`, `Where`, ...) on `inputs`
/// with tract, as a one-node model declaring `opset` with `outputs` outputs whose types tract
/// infers.
pub fn run_opaque(op: &Op, inputs: &[KernelInput], opset: i64, outputs: usize) -> Result<Vec<Tensor>, InterpError> {
    if !op.domain().is_empty() && op.domain() != "ai.onnx" {
        return Err(InterpError::Unsupported(format!("op {} of domain {}", op.onnx_name(), op.domain())));
    }
    run(op, one_node(op, inputs, opset, Some(outputs))?)
}

/// Runs a one-node model with tract, checking the outputs against the inferred types.
fn run(op: &Op, kernel: KernelGraph) -> Result<Vec<Tensor>, InterpError> {
    let fail = |cause: String| InterpError::Kernel { op: op.onnx_name().to_string(), cause };
    let KernelGraph { graph, mut feeds, out_types } = kernel;
    let bytes = crate::onnx::export_bytes(&graph).map_err(|e| fail(e.to_string()))?;
    // tract's dependencies are built with overflow checks in dev builds: an integer overflow
    // inside a kernel panics; `crate::tract` turns that into an error, a failed run here.
    let runnable = Runnable::new(&bytes, None, &HashMap::new()).map_err(|e| fail(e.to_string()))?;
    let ordered: Vec<Tensor> = runnable
        .input_names
        .iter()
        .map(|n| feeds.remove(n).ok_or_else(|| fail(format!("tract asks for an unknown input '{n}'"))))
        .collect::<Result<_, _>>()?;
    let results = runnable.run(&ordered).map_err(|e| fail(e.to_string()))?;
    for (r, ty) in results.iter().zip(&out_types) {
        if r.ttype() != *ty {
            return Err(fail(format!("tract returned {} where {} was inferred", r.ttype(), ty)));
        }
    }
    Ok(results)
}
