//! gos-opt's own graph evaluator, the second reference when tract cannot load or run a model:
//! a [`Graph`] runs node by node on concrete inputs. Each node goes, in order, through the
//! op's own evaluation ([`crate::ops::Op::eval`]), a one-node tract model
//! ([`crate::interp::run_kernel`], which often works for a node when the whole model does not
//! load), and its decomposition into IR primitives (the shipped exact rules, the cheapest
//! kernel-free form) evaluated by [`crate::interp::Interpreter`]. `If` runs the branch its
//! condition takes; other default-domain ops gos-opt does not interpret run as one-node tract
//! models; ops of other domains are an error.

use crate::graph::{Graph, Node, ValueId};
use crate::interp::{kernel_graph, run_kernel, run_opaque, InterpError, Interpreter, KernelGraph, KernelInput};
use crate::ir::Ir;
use crate::ops::Op;
use crate::tensor::Tensor;
use egg::{CostFunction, Extractor, Id, Language, Rewrite};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Saturation of a single node's decomposition: a few iterations reach every primitive form.
const DECOMPOSE_LIMITS: crate::search::Limits =
    crate::search::Limits { nodes: 20_000, iterations: 6, time: std::time::Duration::from_secs(5) };

/// Runs graphs node by node (see the module documentation).
pub struct GraphEvaluator {
    rewrites: Vec<Rewrite<Ir, crate::ir::IrAnalysis>>,
}

impl GraphEvaluator {
    /// An evaluator decomposing kernels with the shipped exact rules.
    pub fn new() -> Result<GraphEvaluator, InterpError> {
        let rules = crate::rules::RuleSet::load(&[], &crate::rules::Functions)
            .map_err(|e| InterpError::Malformed(format!("the shipped rules do not load: {e}")))?;
        Ok(GraphEvaluator { rewrites: rules.rewrites(false) })
    }

    /// The graph's outputs, in order, for these input values (by graph input name).
    pub fn eval(&self, graph: &Graph, inputs: &HashMap<String, Tensor>) -> Result<Vec<Tensor>, InterpError> {
        self.eval_cut(graph, inputs, &mut Cut::default(), None)
    }

    /// [`eval`](Self::eval) with the graph cut at some nodes: a node listed in `cut.supplied`
    /// (by [`cut_key`]) takes those outputs instead of running, and an opaque node that cannot
    /// run takes `sample`'s outputs when `sample` is given (then listed in `cut.supplied`).
    /// Every cut node's inputs are recorded in `cut.taps`, in evaluation order.
    pub fn eval_cut(
        &self,
        graph: &Graph,
        inputs: &HashMap<String, Tensor>,
        cut: &mut Cut,
        sample: Option<Sampler>,
    ) -> Result<Vec<Tensor>, InterpError> {
        let mut env: HashMap<ValueId, Arc<Tensor>> = HashMap::new();
        for &id in &graph.inputs {
            let name = &graph.value(id).name;
            let t = inputs.get(name).ok_or_else(|| InterpError::UnknownInput(name.clone()))?;
            env.insert(id, Arc::new(t.clone()));
        }
        let order = graph.topo_order().map_err(|e| InterpError::Malformed(e.to_string()))?;
        for id in order {
            let node = graph.node(id);
            // A plain evaluation (nothing supplied, nothing to sample) names no node.
            let cutting = sample.is_some() || !cut.supplied.is_empty();
            let key = if cutting { cut_key(graph, node) } else { String::new() };
            let outs = match cut.supplied.get(&key) {
                Some(outs) => outs.clone(),
                None => match (self.node(graph, node, &env), sample) {
                    (Ok(outs), _) => outs,
                    (Err(e), Some(sample)) if matches!(node.op, Op::Opaque(_)) => {
                        let outs = sample(graph, node).map_err(|s| {
                            in_node(node, InterpError::Unsupported(format!("{e}; its outputs cannot be sampled: {s}")))
                        })?;
                        cut.supplied.insert(key.clone(), outs.clone());
                        outs
                    }
                    (Err(e), _) => return Err(in_node(node, e)),
                },
            };
            if cutting && cut.supplied.contains_key(&key) {
                let given = node.inputs.iter().map(|v| v.map(|v| lookup(graph, &env, v).map(|t| (*t).clone())));
                cut.taps.push((key, given.map(Option::transpose).collect::<Result<_, _>>()?));
            }
            for (&v, t) in node.outputs.iter().zip(outs) {
                env.insert(v, Arc::new(t));
            }
        }
        graph.outputs.iter().map(|&v| lookup(graph, &env, v).map(|t| (*t).clone())).collect::<Result<Vec<_>, _>>()
    }

    /// One node's outputs.
    fn node(
        &self,
        graph: &Graph,
        node: &Node,
        env: &HashMap<ValueId, Arc<Tensor>>,
    ) -> Result<Vec<Tensor>, InterpError> {
        let inputs: Vec<Option<(Arc<Tensor>, bool)>> = node
            .inputs
            .iter()
            .map(|v| v.map(|v| Ok((lookup(graph, env, v)?, graph.constant(v).is_some()))).transpose())
            .collect::<Result<_, InterpError>>()?;
        let kernel_inputs: Vec<KernelInput> = inputs
            .iter()
            .map(|i| match i {
                None => KernelInput::Absent,
                Some((t, true)) => KernelInput::Const((**t).clone()),
                Some((t, false)) => KernelInput::Runtime((**t).clone()),
            })
            .collect();
        let opset = graph.meta.opset().max(node.op.min_opset());
        if let Op::Opaque(o) = &node.op {
            if o.domain.is_empty() && o.op_type == "If" {
                return self.branch(graph, o, &inputs, env);
            }
            return run_opaque(&node.op, &kernel_inputs, opset, node.outputs.len());
        }
        let tensors: Vec<Option<&Tensor>> = inputs.iter().map(|i| i.as_ref().map(|(t, _)| &**t)).collect();
        if let Some(Ok(outs)) = node.op.eval(&tensors) {
            return Ok(outs);
        }
        match run_kernel(&node.op, &kernel_inputs, opset) {
            Ok(outs) => Ok(outs),
            Err(kernel) => self.decomposed(&node.op, &kernel_inputs, opset).map_err(|prims| {
                InterpError::Unsupported(format!("tract cannot run it alone ({kernel}) nor its primitives ({prims})"))
            }),
        }
    }

    /// The node through its cheapest kernel-free form under the exact rules.
    fn decomposed(&self, op: &Op, inputs: &[KernelInput], opset: i64) -> Result<Vec<Tensor>, InterpError> {
        let KernelGraph { graph, feeds, .. } = kernel_graph(op, inputs, opset)?;
        let mut analysis = crate::ir::analysis_for(&graph);
        analysis.functions = Arc::new(crate::rules::Functions);
        let lowered = crate::ir::lower_with(&graph, analysis).map_err(|e| InterpError::Malformed(e.to_string()))?;
        let (egraph, _) = crate::search::saturate(lowered.egraph, lowered.root, &self.rewrites, &DECOMPOSE_LIMITS);
        let (cost, expr) = Extractor::new(&egraph, Primitives).find_best(lowered.root);
        if cost >= KERNEL_COST {
            return Err(InterpError::Unsupported(format!("no decomposition of {} into primitives", op.onnx_name())));
        }
        Ok(Interpreter::new(&egraph.analysis, &feeds).with_opset(opset).eval(&expr)?.into_tensors())
    }

    /// An `If`: the branch its condition takes, with the values it reads from outside.
    fn branch(
        &self,
        graph: &Graph,
        op: &crate::ops::Opaque,
        inputs: &[Option<(Arc<Tensor>, bool)>],
        env: &HashMap<ValueId, Arc<Tensor>>,
    ) -> Result<Vec<Tensor>, InterpError> {
        let cond = inputs
            .first()
            .and_then(|i| i.as_ref())
            .and_then(|(t, _)| t.scalar_f64())
            .ok_or_else(|| InterpError::Type("If needs a one-element condition".into()))?;
        let name = if cond != 0.0 { "then_branch" } else { "else_branch" };
        let body = op
            .attrs
            .iter()
            .find_map(|(n, a)| match a {
                crate::ops::Attr::Carried(bytes) if n == name => Some(bytes),
                _ => None,
            })
            .ok_or_else(|| InterpError::Malformed(format!("If without {name}")))?;
        let (bytes, outer) = branch_model(graph, body, env)?;
        let sub = crate::onnx::import_bytes(&bytes, None, &crate::onnx::ImportOptions::default())
            .map_err(|e| InterpError::Unsupported(format!("{name}: {e}")))?;
        self.eval(&sub, &outer).map_err(|e| InterpError::Unsupported(format!("{name}: {e}")))
    }
}

/// The value of `v`: computed, fed, or a constant.
fn lookup(graph: &Graph, env: &HashMap<ValueId, Arc<Tensor>>, v: ValueId) -> Result<Arc<Tensor>, InterpError> {
    env.get(&v)
        .cloned()
        .or_else(|| graph.constant(v).cloned())
        .ok_or_else(|| InterpError::Malformed(format!("value '{}' has no value yet", graph.value(v).name)))
}

/// Draws the outputs of a node nothing can run (for [`GraphEvaluator::eval_cut`]).
pub type Sampler<'a> = &'a dyn Fn(&Graph, &Node) -> Result<Vec<Tensor>, String>;

/// Where [`GraphEvaluator::eval_cut`] cuts a graph: outputs supplied per node, and the inputs
/// each cut node received.
#[derive(Clone, Debug, Default)]
pub struct Cut {
    /// Per node ([`cut_key`]): the outputs it takes instead of running.
    pub supplied: HashMap<String, Vec<Tensor>>,
    /// Per cut node, in evaluation order: its key and its inputs (`None`: an absent input).
    pub taps: Vec<(String, Vec<Option<Tensor>>)>,
}

/// A node's identity across an original and its optimized graph: its name and its output names
/// (a node passed through keeps both; ONNX node names alone may be empty or repeated).
pub fn cut_key(graph: &Graph, node: &Node) -> String {
    let outs: Vec<&str> = node.outputs.iter().map(|&v| graph.value(v).name.as_str()).collect();
    format!("{} '{}' -> {}", node.op.onnx_name(), node.name, outs.join(", "))
}

fn in_node(node: &Node, e: InterpError) -> InterpError {
    InterpError::Kernel { op: format!("{} '{}'", node.op.onnx_name(), node.name), cause: e.to_string() }
}

/// A kernel's cost for [`Primitives`]: no primitive form comes near it.
const KERNEL_COST: f64 = 1e12;

/// Extraction cost preferring any primitive form to a kernel.
struct Primitives;

impl CostFunction<Ir> for Primitives {
    type Cost = f64;
    fn cost<C: FnMut(Id) -> f64>(&mut self, enode: &Ir, mut costs: C) -> f64 {
        let own = if matches!(enode, Ir::Kernel(..) | Ir::Opaque(_)) { KERNEL_COST } else { 1.0 };
        enode.fold(own, |sum, id| sum + costs(id))
    }
}

/// A model of one `If` branch (a serialized `AttributeProto` holding a graph): the values it
/// reads from the enclosing graph become graph inputs, returned with their values.
fn branch_model(
    graph: &Graph,
    attribute: &[u8],
    env: &HashMap<ValueId, Arc<Tensor>>,
) -> Result<(Vec<u8>, HashMap<String, Tensor>), InterpError> {
    use onnx_protobuf::{AttributeProto, Message, ModelProto, OperatorSetIdProto};
    let bad = |cause: String| InterpError::Malformed(format!("If branch: {cause}"));
    let attr = AttributeProto::parse_from_bytes(attribute).map_err(|e| bad(e.to_string()))?;
    let mut body = attr.g.into_option().ok_or_else(|| bad("not a graph".into()))?;
    let mut defined: HashSet<String> = body.initializer.iter().map(|t| t.name.clone()).collect();
    defined.extend(body.input.iter().map(|i| i.name.clone()));
    defined.extend(body.node.iter().flat_map(|n| n.output.iter().cloned()));
    let mut outer = HashMap::new();
    let reads = body.node.iter().flat_map(|n| n.input.iter()).chain(body.output.iter().map(|o| &o.name));
    for name in reads {
        if name.is_empty() || defined.contains(name) || outer.contains_key(name) {
            continue;
        }
        let v = graph.value_by_name(name).ok_or_else(|| bad(format!("reads '{name}', defined nowhere")))?;
        outer.insert(name.clone(), (*lookup(graph, env, v)?).clone());
    }
    let mut names: Vec<&String> = outer.keys().collect();
    names.sort();
    for name in names {
        body.input.push(value_info(name, &outer[name]));
    }
    let mut model = ModelProto::new();
    model.ir_version = graph.meta.ir_version;
    for (domain, version) in &graph.meta.opset_imports {
        let mut o = OperatorSetIdProto::new();
        o.domain = domain.clone();
        o.version = *version;
        model.opset_import.push(o);
    }
    model.graph = Some(body).into();
    Ok((model.write_to_bytes().map_err(|e| bad(e.to_string()))?, outer))
}

/// A `ValueInfoProto` of a concrete tensor.
fn value_info(name: &str, t: &Tensor) -> onnx_protobuf::ValueInfoProto {
    use onnx_protobuf::{tensor_shape_proto::Dimension, type_proto, TensorShapeProto, TypeProto, ValueInfoProto};
    let mut shape = TensorShapeProto::new();
    for &d in &t.shape {
        let mut dim = Dimension::new();
        dim.set_dim_value(d as i64);
        shape.dim.push(dim);
    }
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = t.dtype.onnx_code();
    tensor.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.set_tensor_type(tensor);
    let mut vi = ValueInfoProto::new();
    vi.name = name.into();
    vi.type_ = Some(ty).into();
    vi
}
