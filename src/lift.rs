//! Lifting `RecExpr → Graph`, the way back from the e-graph (`crate::ir` lowers a graph into
//! it): kernel e-nodes become nodes again, named as their source node when their e-class came
//! from one (see [`Origins`]), freshly named otherwise; weight-only computations are folded by
//! gos-opt's evaluator ([`crate::interp`]), which is why this stage sits above both.

use crate::graph::{ConstOrigin, Graph, GraphError, Node, NodeId, Value, ValueId, ValueKind};
use crate::interp::{Interpreter, Value as Evaluated};
use crate::ir::{fold_budget, folds, primitive_op, program_classes, subexpr, Arg, Ir, IrGraph, Origins, Payload};
use egg::{Id, Language, RecExpr};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Lifting failures.
#[derive(Debug, thiserror::Error)]
pub enum LiftError {
    /// The expression contains a node with no ONNX form.
    #[error("'{0}' has no ONNX form")]
    NoOnnxForm(String),
    /// The expression is malformed (a bug in a rule or the extractor).
    #[error("malformed expression: {0}")]
    Malformed(String),
    /// A weight-only computation could not be evaluated.
    #[error("folding weights: {0}")]
    Fold(String),
    /// The rebuilt graph is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// What one expression node stands for in the graph being built.
#[derive(Clone, Debug)]
enum Lifted {
    /// Tensor values (one per output).
    Values(Vec<ValueId>),
    /// An omitted input.
    Absent,
    /// A payload or literal (consumed by its parent).
    Leaf,
}

/// Rebuilds a graph from an extracted expression whose root is `outputs`. `source` is the graph
/// that was lowered (its metadata, inputs and constant pool are reused).
pub fn lift(egraph: &IrGraph, expr: &RecExpr<Ir>, source: &Graph, origins: &Origins) -> Result<Graph, LiftError> {
    lift_classes(egraph, expr, &program_classes(egraph, expr), source, origins)
}

/// [`lift`] for a program whose node classes are given (an extraction's `classes`): the form an
/// extraction with redirects needs, whose nodes may read a class other than the one their
/// e-node reads.
pub fn lift_classes(
    egraph: &IrGraph,
    expr: &RecExpr<Ir>,
    node_classes: &[Id],
    source: &Graph,
    origins: &Origins,
) -> Result<Graph, LiftError> {
    let mut graph = source.clone();
    for id in source.dag.node_indices() {
        graph.remove_node(id);
    }
    let origin_of: HashMap<Id, NodeId> =
        origins.nodes.iter().map(|&(class, node)| (egraph.find(class), node)).collect();
    let mut used_origins: HashSet<NodeId> = HashSet::new();
    let mut classes: Vec<Id> = Vec::with_capacity(expr.as_ref().len());
    let mut lifted: Vec<Lifted> = Vec::with_capacity(expr.as_ref().len());
    let mut fresh = 0usize;
    let no_inputs = HashMap::new();
    let interpreter = Interpreter::new(&egraph.analysis, &no_inputs).with_opset(source.meta.opset());
    // Folding creates weights up to the budget; a function call has no other form, so it folds
    // regardless (extraction keeps the ones larger than the budget out).
    let mut unfolded = fold_budget(source);
    for (index, enode) in expr.as_ref().iter().enumerate() {
        let class = node_classes.get(index).copied().filter(|&c| c != Id::from(usize::MAX));
        classes.push(class.unwrap_or(Id::from(usize::MAX)));
        let bytes = |c: Id| egraph[c].data.ty().map_or(0, |t| t.bytes() as u64);
        let fits = |c: Id| matches!(enode, Ir::Fun(..)) || bytes(c) <= unfolded;
        if let Some(c) = class.filter(|&c| egraph[c].data.weight_only && folds(enode) && fits(c)) {
            unfolded = unfolded.saturating_sub(bytes(c));
            // A computation on weights only: evaluated now, emitted as a constant.
            let sub = subexpr(expr, Id::from(index));
            let tensor = match interpreter.eval(&sub) {
                Ok(Evaluated::Tensor(t)) => t,
                Ok(other) => return Err(LiftError::Malformed(format!("weight-only class {c} evaluates to {other:?}"))),
                Err(e) => return Err(LiftError::Fold(e.to_string())),
            };
            let name = graph.fresh_name("gos_folded");
            let origin = match enode {
                // Digit-coded weights say so in the file, for the back end's shift-add kernels.
                Ir::Fun(f, _) if &*f.0 == crate::shiftadd::FUNCTION => {
                    ConstOrigin::Initializer { also_input: false, doc_string: crate::shiftadd::CODED.into() }
                }
                _ => ConstOrigin::Derived,
            };
            lifted.push(Lifted::Values(vec![graph.add_const(&name, Arc::new(tensor), origin)]));
            continue;
        }
        let child = |c: &Id| &lifted[usize::from(*c)];
        let value = |c: &Id| -> Result<Option<ValueId>, LiftError> {
            match child(c) {
                Lifted::Values(v) if v.len() == 1 => Ok(Some(v[0])),
                Lifted::Absent => Ok(None),
                other => Err(LiftError::Malformed(format!("expected one tensor, found {other:?}"))),
            }
        };
        let item = match enode {
            Ir::Absent => Lifted::Absent,
            Ir::Lit(_) | Ir::Payload(_) => Lifted::Leaf,
            Ir::Input(name) => {
                let v = graph
                    .value_by_name(&name.0)
                    .ok_or_else(|| LiftError::Malformed(format!("unknown input {name}")))?;
                Lifted::Values(vec![v])
            }
            Ir::Const(c) => Lifted::Values(vec![ValueId::new(c.0 as usize)]),
            Ir::Get([i, k]) => {
                let idx = expr[*i].clone();
                let Ir::Lit(l) = idx else { return Err(LiftError::Malformed("get without a literal index".into())) };
                match child(k) {
                    Lifted::Values(v) => Lifted::Values(vec![*v
                        .get(l.0 as usize)
                        .ok_or_else(|| LiftError::Malformed("get index past the outputs".into()))?]),
                    other => return Err(LiftError::Malformed(format!("get of {other:?}"))),
                }
            }
            Ir::Outputs(outs) => {
                graph.outputs = outs
                    .iter()
                    .map(|c| value(c)?.ok_or_else(|| LiftError::Malformed("an output is absent".into())))
                    .collect::<Result<_, _>>()?;
                Lifted::Leaf
            }
            Ir::Kernel(_, ch) | Ir::Opaque(ch) => {
                let (first, inputs) =
                    ch.split_first().ok_or_else(|| LiftError::Malformed("kernel without payload".into()))?;
                // The op is a payload leaf, or computed by a payload function (`@relu_op`): the
                // class's facts hold it either way.
                let payload = match &expr[*first] {
                    Ir::Payload(p) => Some(p),
                    _ => egraph
                        .lookup(expr[*first].clone().map_children(|c| classes[usize::from(c)]))
                        .and_then(|c| egraph[c].data.payload.as_ref()),
                };
                let Some(Payload::Op(op)) = payload else {
                    return Err(LiftError::Malformed("kernel payload is not an op".into()));
                };
                let mut inputs = inputs.iter().map(value).collect::<Result<Vec<_>, _>>()?;
                // A reduction a rule built with its axes in the op takes them as the input its
                // opset expects them in (ReduceSum from 13, ReduceMax and ReduceMean from 18).
                if let crate::ops::Op::Reduce(r) = op.op() {
                    if let (Some(axes), [_]) = (&r.axes, &inputs[..]) {
                        if source.meta.opset() >= r.kind.axes_input_since() {
                            let name = graph.fresh_name("gos_axes");
                            let axes = Arc::new(crate::tensor::Tensor::i64(vec![axes.len()], axes.clone()));
                            inputs.push(Some(graph.add_const(&name, axes, ConstOrigin::Derived)));
                        }
                    }
                }
                let class = class.ok_or_else(|| LiftError::Malformed(format!("{enode} is not in the e-graph")))?;
                let data = &egraph[class].data;
                let origin = origin_of.get(&class).copied().filter(|n| used_origins.insert(*n));
                let (name, doc_string, outputs) =
                    identity(&mut graph, source, origin, op.op().onnx_name(), &data.types, &mut fresh);
                let node = Node { name, op: op.op().clone(), inputs, outputs: outputs.clone(), doc_string };
                graph.add_node(node)?;
                Lifted::Values(outputs)
            }
            other => {
                let dtype = class.and_then(|c| egraph[c].data.ty().map(|t| t.dtype));
                let Some((op, args)) = dtype.and_then(|d| primitive_op(other, expr, d)) else {
                    return Err(LiftError::NoOnnxForm(other.to_string()));
                };
                let mut inputs = Vec::with_capacity(args.len());
                for a in args {
                    inputs.push(Some(match a {
                        Arg::Child(c) => value(&c)?.ok_or_else(|| LiftError::Malformed("absent operand".into()))?,
                        Arg::Tensor(t) => {
                            let name = graph.fresh_name("gos_const");
                            graph.add_const(&name, Arc::new(t), ConstOrigin::Derived)
                        }
                    }));
                }
                let ty = class.and_then(|c| egraph[c].data.ty().cloned());
                // The class's source node names it when it had one output (a Transpose and a
                // Reshape merged into one Reshape keeps the Reshape's name and output).
                let origin = class
                    .and_then(|c| origin_of.get(&c).copied())
                    .filter(|&n| source.node(n).outputs.len() == 1 && used_origins.insert(n));
                let (name, doc_string, outputs) =
                    identity(&mut graph, source, origin, op.onnx_name(), &[ty], &mut fresh);
                graph.add_node(Node { name, op, inputs, outputs: outputs.clone(), doc_string })?;
                Lifted::Values(outputs)
            }
        };
        lifted.push(item);
    }
    drop_dead_weight_kernels(&mut graph);
    // Constants a rewrite made dead are dropped.
    let used = graph.used_values();
    for (i, v) in graph.values.iter_mut().enumerate() {
        if !used[i] && matches!(v.kind, ValueKind::Const { .. }) {
            v.kind = ValueKind::Unset;
        }
    }
    Ok(graph)
}

/// The name, doc string and output values of a lifted node: its source node's (whose outputs
/// it takes over), or fresh ones `gos_OP_N` typed `types` when it has no source node.
fn identity(
    graph: &mut Graph,
    source: &Graph,
    origin: Option<NodeId>,
    op: &str,
    types: &[Option<crate::tensor::TensorType>],
    fresh: &mut usize,
) -> (String, String, Vec<ValueId>) {
    if let Some(n) = origin {
        let src = source.node(n);
        for &o in &src.outputs {
            graph.value_mut(o).kind = ValueKind::Unset;
        }
        return (src.name.clone(), src.doc_string.clone(), src.outputs.clone());
    }
    *fresh += 1;
    let base = graph.fresh_name(&format!("gos_{op}_{fresh}"));
    let outputs = types
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            let name = graph.fresh_name(&format!("{base}_out{i}"));
            graph.add_value(Value { name, ty: ty.clone(), ..Value::default() })
        })
        .collect();
    (base, String::new(), outputs)
}

/// Removes kernels on weights whose outputs nothing reads any more: a Reshape of a bias that a
/// fold turned into a constant is lifted before the fold is evaluated, and stays behind.
/// Opaque nodes and nodes reading run-time values are never removed.
fn drop_dead_weight_kernels(graph: &mut Graph) {
    loop {
        let used = graph.used_values();
        let dead: Vec<NodeId> = graph
            .dag
            .node_indices()
            .filter(|&id| {
                let node = &graph.dag[id];
                !node.op.is_opaque()
                    && node.outputs.iter().all(|o| !used[o.index()])
                    && node.inputs.iter().flatten().all(|&v| graph.constant(v).is_some())
            })
            .collect();
        if dead.is_empty() {
            return;
        }
        for id in dead {
            graph.remove_node(id);
        }
    }
}
