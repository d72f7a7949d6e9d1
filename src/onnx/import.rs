//! ModelProto → [`Graph`]: metadata, constants, typed values, parsed ops, folded shape operands.

use super::attr::attr_from_proto;
use super::tensor::tensor_from_proto;
use super::{ImportError, ImportOptions, MAX_IR_VERSION, MAX_OPSET, MIN_IR_VERSION, MIN_OPSET};
use crate::graph::{fold, ConstOrigin, Graph, GraphError, ModelMeta, Node, Value, ValueId, ValueKind};
use crate::ops::{Attrs, InputInfo, Op, OpError, Parser};
use crate::tensor::{shape_string, DType, Tensor, TensorType};
use onnx_protobuf::{GraphProto, Message, ModelProto, NodeProto, TypeProto};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// Field numbers of ModelProto / GraphProto parts that are carried unread.
const MODEL_FUNCTIONS: u32 = 25;
const MODEL_TRAINING_INFO: u32 = 20;
const GRAPH_SPARSE_INITIALIZER: u32 = 15;
const GRAPH_QUANT_ANNOTATION: u32 = 14;

/// A readable label for a node in errors: its name, or its first output when unnamed.
pub(crate) fn node_label(n: &NodeProto) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        format!("<unnamed, output '{}'>", n.output.first().map(String::as_str).unwrap_or(""))
    }
}

/// Parses model bytes and builds the graph.
pub fn import_bytes(bytes: &[u8], base_dir: Option<&Path>, opts: &ImportOptions) -> Result<Graph, ImportError> {
    if bytes.is_empty() {
        return Err(ImportError::NotOnnx("the file is empty".into()));
    }
    let proto = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| ImportError::NotOnnx(format!("not a valid ONNX protobuf ({e})")))?;
    let graph_proto = proto.graph.as_ref().ok_or_else(|| ImportError::NotOnnx("the model has no graph".into()))?;
    if proto.ir_version == 0 && proto.opset_import.is_empty() {
        return Err(ImportError::NotOnnx("no ir_version and no opset_import: not an ONNX model".into()));
    }
    if !(MIN_IR_VERSION..=MAX_IR_VERSION).contains(&proto.ir_version) {
        return Err(ImportError::IrVersion(proto.ir_version));
    }
    let meta = read_meta(&proto, graph_proto)?;
    let opset = meta.opset();
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(ImportError::Opset(opset));
    }
    let mut importer =
        Importer { graph: Graph::new(meta), base_dir, opts, bytes, tract: None, opset, folded: Vec::new() };
    importer.constants(graph_proto)?;
    importer.inputs(graph_proto)?;
    let value_info = value_info_types(graph_proto);
    importer.nodes(graph_proto, &value_info)?;
    importer.outputs(graph_proto, &value_info)?;
    fold::prune_folded(&mut importer.graph, &importer.folded);
    Ok(importer.graph)
}

fn carried<M: Message>(field: u32, items: &[M]) -> Result<Vec<(u32, Vec<u8>)>, ImportError> {
    items
        .iter()
        .map(|m| m.write_to_bytes().map(|b| (field, b)).map_err(|e| ImportError::NotOnnx(e.to_string())))
        .collect()
}

fn read_meta(p: &ModelProto, g: &GraphProto) -> Result<ModelMeta, ImportError> {
    let mut carried_model = carried(MODEL_FUNCTIONS, &p.functions)?;
    carried_model.extend(carried(MODEL_TRAINING_INFO, &p.training_info)?);
    let mut graph_carried = carried(GRAPH_SPARSE_INITIALIZER, &g.sparse_initializer)?;
    graph_carried.extend(carried(GRAPH_QUANT_ANNOTATION, &g.quantization_annotation)?);
    Ok(ModelMeta {
        ir_version: p.ir_version,
        opset_imports: p.opset_import.iter().map(|o| (o.domain.clone(), o.version)).collect(),
        producer_name: p.producer_name.clone(),
        producer_version: p.producer_version.clone(),
        domain: p.domain.clone(),
        model_version: p.model_version,
        doc_string: p.doc_string.clone(),
        metadata_props: p.metadata_props.iter().map(|e| (e.key.clone(), e.value.clone())).collect(),
        carried: carried_model,
        graph_name: g.name.clone(),
        graph_doc_string: g.doc_string.clone(),
        graph_carried,
    })
}

/// A declared type: element type and dims (`None` for a symbolic or missing dimension).
#[derive(Clone, Debug)]
struct Declared {
    dtype: Option<DType>,
    dims: Option<Vec<(Option<usize>, Option<String>)>>,
}

impl Declared {
    fn from_proto(t: &TypeProto) -> Option<Declared> {
        if !t.has_tensor_type() {
            return None;
        }
        let tt = t.tensor_type();
        let dims = tt.shape.as_ref().map(|s| {
            s.dim
                .iter()
                .map(|d| {
                    let v = if d.has_dim_value() && d.dim_value() >= 0 { Some(d.dim_value() as usize) } else { None };
                    let p = if d.has_dim_param() { Some(d.dim_param().to_string()) } else { None };
                    (v, p)
                })
                .collect()
        });
        Some(Declared { dtype: DType::from_onnx(tt.elem_type), dims })
    }

    fn static_type(&self) -> Option<TensorType> {
        let dims = self.dims.as_ref()?.iter().map(|(v, _)| *v).collect::<Option<Vec<_>>>()?;
        Some(TensorType::new(self.dtype?, dims))
    }

    fn describe(&self) -> String {
        match &self.dims {
            None => "unknown rank".into(),
            Some(d) => {
                let parts: Vec<String> = d
                    .iter()
                    .map(|(v, p)| match (v, p) {
                        (Some(v), _) => v.to_string(),
                        (None, Some(p)) => p.clone(),
                        (None, None) => "?".into(),
                    })
                    .collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }
}

fn value_info_types(g: &GraphProto) -> HashMap<String, (Option<TensorType>, Vec<u8>)> {
    g.value_info
        .iter()
        .chain(&g.output)
        .filter_map(|vi| {
            let ty = vi.type_.as_ref()?;
            let st = Declared::from_proto(ty).and_then(|d| d.static_type());
            Some((vi.name.clone(), (st, ty.write_to_bytes().ok()?)))
        })
        .collect()
}

struct Importer<'a> {
    graph: Graph,
    base_dir: Option<&'a Path>,
    opts: &'a ImportOptions,
    bytes: &'a [u8],
    /// Types tract inferred, computed the first time an opaque op needs them.
    tract: Option<Result<HashMap<String, TensorType>, String>>,
    opset: i64,
    /// Inputs of nodes folded into constants, pruned at the end when unused.
    folded: Vec<ValueId>,
}

impl Importer<'_> {
    fn constants(&mut self, g: &GraphProto) -> Result<(), ImportError> {
        let listed: HashSet<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
        for init in &g.initializer {
            if self.graph.value_by_name(&init.name).is_some() {
                return Err(GraphError::Redefined { node: "initializer".into(), tensor: init.name.clone() }.into());
            }
            let tensor = Arc::new(tensor_from_proto(init, self.base_dir)?);
            let origin = ConstOrigin::Initializer {
                also_input: listed.contains(init.name.as_str()),
                doc_string: init.doc_string.clone(),
            };
            self.graph.add_const(&init.name, tensor, origin);
        }
        for (name, tensor) in &self.opts.frozen_inputs {
            if self.graph.value_by_name(name).is_none() {
                self.graph.add_const(name, Arc::new(tensor.clone()), ConstOrigin::Derived);
            }
        }
        Ok(())
    }

    fn inputs(&mut self, g: &GraphProto) -> Result<(), ImportError> {
        for vi in &g.input {
            if let Some(id) = self.graph.value_by_name(&vi.name) {
                // An initializer listed as input (IR < 4) or a frozen input: a constant.
                self.graph.value_mut(id).doc_string = vi.doc_string.clone();
                continue;
            }
            let declared = vi.type_.as_ref().and_then(Declared::from_proto);
            let mut value = Value {
                name: vi.name.clone(),
                kind: ValueKind::Input,
                doc_string: vi.doc_string.clone(),
                ..Value::default()
            };
            match declared {
                None => value.onnx_type = vi.type_.as_ref().and_then(|t| t.write_to_bytes().ok()),
                Some(d) => {
                    value.dim_params = d.dims.iter().flatten().map(|(_, p)| p.clone()).collect();
                    value.ty = Some(self.input_type(&vi.name, &d)?);
                }
            }
            let id = self.graph.add_value(value);
            self.graph.inputs.push(id);
        }
        Ok(())
    }

    fn input_type(&self, name: &str, d: &Declared) -> Result<TensorType, ImportError> {
        let dtype = d
            .dtype
            .ok_or_else(|| ImportError::Tensor { name: name.into(), cause: "input has no element type".into() })?;
        if let Some(given) = self.opts.input_shapes.get(name) {
            if let Some(dims) = &d.dims {
                let clash =
                    dims.len() != given.len() || dims.iter().zip(given).any(|((v, _), g)| v.is_some_and(|v| v != *g));
                if clash {
                    return Err(ImportError::InputShape {
                        input: name.into(),
                        cause: format!(
                            "--input-shape {} does not fit the declared {}",
                            shape_string(given),
                            d.describe()
                        ),
                    });
                }
            }
            return Ok(TensorType::new(dtype, given.clone()));
        }
        d.static_type().ok_or_else(|| ImportError::DynamicInput { input: name.into(), dims: d.describe() })
    }

    fn nodes(
        &mut self,
        g: &GraphProto,
        value_info: &HashMap<String, (Option<TensorType>, Vec<u8>)>,
    ) -> Result<(), ImportError> {
        for idx in proto_topo_order(g, &self.graph)? {
            let n = &g.node[idx];
            if (n.domain.is_empty() || n.domain == "ai.onnx") && n.op_type == "Constant" {
                self.constant_node(n)?;
            } else {
                self.node(n, value_info)?;
            }
        }
        Ok(())
    }

    fn constant_node(&mut self, n: &NodeProto) -> Result<(), ImportError> {
        let fail = |cause: String| ImportError::Node { node: node_label(n), op: "Constant".into(), cause };
        let attr = n.attribute.first().ok_or_else(|| fail("no value attribute".into()))?;
        let tensor = match (attr.name.as_str(), attr_from_proto(attr, self.base_dir)?) {
            ("value", crate::ops::Attr::Tensor(t)) => t,
            ("value_float", crate::ops::Attr::Float(f)) => Tensor::f32(vec![], vec![f]),
            ("value_floats", crate::ops::Attr::Floats(v)) => Tensor::f32(vec![v.len()], v),
            ("value_int", crate::ops::Attr::Int(i)) => Tensor::i64(vec![], vec![i]),
            ("value_ints", crate::ops::Attr::Ints(v)) => Tensor::i64(vec![v.len()], v),
            ("value_string", crate::ops::Attr::String(s)) => {
                Tensor::new(vec![], crate::tensor::TensorData::Str(vec![s]))
            }
            ("value_strings", crate::ops::Attr::Strings(v)) => {
                Tensor::new(vec![v.len()], crate::tensor::TensorData::Str(v))
            }
            (other, _) => return Err(fail(format!("value attribute '{other}' is not supported"))),
        };
        let out = n.output.first().ok_or_else(|| fail("no output".into()))?;
        let origin = ConstOrigin::ConstantNode { node: n.name.clone(), doc_string: n.doc_string.clone() };
        self.graph.add_const(out, Arc::new(tensor), origin);
        Ok(())
    }

    fn node(
        &mut self,
        n: &NodeProto,
        value_info: &HashMap<String, (Option<TensorType>, Vec<u8>)>,
    ) -> Result<(), ImportError> {
        let attrs: Attrs = n
            .attribute
            .iter()
            .map(|a| Ok((a.name.clone(), attr_from_proto(a, self.base_dir)?)))
            .collect::<Result<_, ImportError>>()?;
        let inputs: Vec<Option<ValueId>> =
            n.input.iter().map(|name| if name.is_empty() { None } else { self.graph.value_by_name(name) }).collect();
        let opset = match n.domain.as_str() {
            "" | "ai.onnx" => self.opset,
            d => self.graph.meta.opset_imports.iter().find(|(dom, _)| dom == d).map(|(_, v)| *v).unwrap_or(1),
        };
        let op = self.parse_op(n, &attrs, &inputs, opset)?;
        let types = self.output_types(n, &op, &inputs, value_info)?;
        let mut outputs = Vec::with_capacity(n.output.len());
        for (i, name) in n.output.iter().enumerate() {
            let (ty, onnx_type) = match types.get(i) {
                Some(t) => (t.clone(), None),
                None => (None, None),
            };
            let onnx_type =
                onnx_type.or_else(|| if ty.is_none() { value_info.get(name).map(|(_, b)| b.clone()) } else { None });
            let in_value_info = value_info.contains_key(name);
            outputs.push(self.graph.add_value(Value {
                name: name.clone(),
                ty,
                onnx_type,
                in_value_info,
                ..Value::default()
            }));
        }
        let node = Node { name: n.name.clone(), op, inputs, outputs, doc_string: n.doc_string.clone() };
        self.graph.add_node(node)?;
        Ok(())
    }

    /// Parses the op; when a shape-deciding operand is computed by other nodes, folds that
    /// computation to a constant and parses again. An operand that only feeds values
    /// ([`crate::ops::feeds_values_only`]) and is known only at run time makes the node opaque.
    fn parse_op(
        &mut self,
        n: &NodeProto,
        attrs: &Attrs,
        inputs: &[Option<ValueId>],
        opset: i64,
    ) -> Result<Op, ImportError> {
        let fail =
            |cause: OpError| ImportError::Node { node: node_label(n), op: n.op_type.clone(), cause: cause.to_string() };
        loop {
            let infos: Vec<Option<InputInfo>> = inputs
                .iter()
                .map(|v| {
                    v.map(|id| {
                        let value = self.graph.value(id);
                        InputInfo {
                            name: &value.name,
                            ty: value.ty.as_ref(),
                            constant: self.graph.constant(id).map(|t| &**t),
                        }
                    })
                })
                .collect();
            let parser = Parser {
                op_type: &n.op_type,
                domain: &n.domain,
                opset,
                attrs,
                inputs: infos,
                n_outputs: n.output.len(),
            };
            match Op::parse(&parser) {
                Ok(op) => return Ok(op),
                Err(OpError::NonConstOperand { index, name }) => {
                    let id = inputs[index].expect("a non-constant operand is present");
                    let values_only = n.domain.is_empty() && crate::ops::feeds_values_only(&n.op_type, opset, index);
                    let opaque = || {
                        let (domain, op_type) = (n.domain.clone(), n.op_type.clone());
                        Ok(Op::Opaque(crate::ops::Opaque { domain, op_type, attrs: attrs.clone() }))
                    };
                    match self.graph.value(id).kind {
                        ValueKind::Node { .. } => {}
                        ValueKind::Input if values_only => return opaque(),
                        ValueKind::Input => {
                            return Err(ImportError::RuntimeOperand {
                                node: node_label(n),
                                op: n.op_type.clone(),
                                input: name,
                            })
                        }
                        _ => return Err(fail(OpError::NonConstOperand { index, name })),
                    }
                    if let Err(cause) = fold::materialize(&mut self.graph, id, &mut self.folded) {
                        if values_only {
                            return opaque();
                        }
                        return Err(ImportError::Node {
                            node: node_label(n),
                            op: n.op_type.clone(),
                            cause: format!("input {index} ('{name}') decides the output shape but cannot be computed at import: {cause}"),
                        });
                    }
                }
                Err(e) => return Err(fail(e)),
            }
        }
    }

    fn output_types(
        &mut self,
        n: &NodeProto,
        op: &Op,
        inputs: &[Option<ValueId>],
        value_info: &HashMap<String, (Option<TensorType>, Vec<u8>)>,
    ) -> Result<Vec<Option<TensorType>>, ImportError> {
        if op.is_opaque() {
            let mut types = Vec::new();
            for name in &n.output {
                let known = value_info.get(name).and_then(|(t, _)| t.clone());
                types.push(match known {
                    Some(t) => Some(t),
                    None => self.tract_type(name).map_err(|cause| ImportError::Node {
                        node: node_label(n),
                        op: n.op_type.clone(),
                        cause: format!(
                            "gos-opt does not interpret this op and types its outputs with tract, which cannot load the file: {cause}"
                        ),
                    })?,
                });
            }
            return Ok(types);
        }
        let mut in_types = Vec::with_capacity(inputs.len());
        for (i, v) in inputs.iter().enumerate() {
            in_types.push(match v {
                None => None,
                Some(id) => Some(self.graph.ty(*id).ok_or_else(|| self.untyped(n, &n.input[i], *id))?),
            });
        }
        let types = op.infer(&in_types).map_err(|e| ImportError::Node {
            node: node_label(n),
            op: n.op_type.clone(),
            cause: e.to_string(),
        })?;
        Ok(types.into_iter().map(Some).collect())
    }

    fn untyped(&self, n: &NodeProto, tensor: &str, id: ValueId) -> ImportError {
        let producer = match self.graph.value(id).kind {
            ValueKind::Node { node } => {
                let p = self.graph.node(node);
                format!("'{}' ({})", p.name, p.op.onnx_name())
            }
            _ => "an input".into(),
        };
        ImportError::Node {
            node: node_label(n),
            op: n.op_type.clone(),
            cause: format!(
                "needs the type of '{tensor}', produced by {producer}, an op gos-opt does not interpret; neither value_info nor tract's analysis gives its static type"
            ),
        }
    }

    /// The type tract's analysis gives the tensor `name` (computed once per import); an error
    /// when tract cannot load the file.
    fn tract_type(&mut self, name: &str) -> Result<Option<TensorType>, String> {
        let types = self.tract.get_or_insert_with(|| {
            let fixed: HashMap<String, TensorType> = self
                .graph
                .inputs
                .iter()
                .filter_map(|&id| Some((self.graph.value(id).name.clone(), self.graph.ty(id)?.clone())))
                .collect();
            crate::tract::infer_types(self.bytes, self.base_dir, &fixed).map_err(|e| e.0)
        });
        types.as_ref().map(|m| m.get(name).cloned()).map_err(Clone::clone)
    }

    fn outputs(
        &mut self,
        g: &GraphProto,
        value_info: &HashMap<String, (Option<TensorType>, Vec<u8>)>,
    ) -> Result<(), ImportError> {
        for vi in &g.output {
            let id = self.graph.value_by_name(&vi.name).ok_or_else(|| GraphError::UndefinedOutput(vi.name.clone()))?;
            let value = self.graph.value_mut(id);
            value.doc_string = vi.doc_string.clone();
            if value.ty.is_none() && value.onnx_type.is_none() {
                value.onnx_type = value_info.get(&vi.name).map(|(_, b)| b.clone());
            }
            self.graph.outputs.push(id);
        }
        Ok(())
    }
}

/// Node indices of the proto graph in a topological order that keeps file order where it can;
/// reports cycles and reads of undefined tensors.
fn proto_topo_order(g: &GraphProto, graph: &Graph) -> Result<Vec<usize>, ImportError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for out in n.output.iter().filter(|o| !o.is_empty()) {
            if producer.insert(out, i).is_some() || graph.value_by_name(out).is_some() {
                return Err(GraphError::Redefined { node: node_label(n), tensor: out.clone() }.into());
            }
        }
    }
    let mut indegree = vec![0usize; g.node.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); g.node.len()];
    for (i, n) in g.node.iter().enumerate() {
        for input in n.input.iter().filter(|x| !x.is_empty()) {
            match producer.get(input.as_str()) {
                Some(&p) => {
                    indegree[i] += 1;
                    users[p].push(i);
                }
                None if graph.value_by_name(input).is_some() => {}
                None => {
                    return Err(GraphError::Undefined {
                        node: node_label(n),
                        op: n.op_type.clone(),
                        tensor: input.clone(),
                    }
                    .into())
                }
            }
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> =
        (0..g.node.len()).filter(|&i| indegree[i] == 0).map(std::cmp::Reverse).collect();
    let mut order = Vec::with_capacity(g.node.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                ready.push(std::cmp::Reverse(u));
            }
        }
    }
    if order.len() < g.node.len() {
        let stuck = (0..g.node.len()).find(|&i| indegree[i] > 0).expect("a node on the cycle");
        let n = &g.node[stuck];
        return Err(GraphError::Cycle { node: node_label(n), op: n.op_type.clone() }.into());
    }
    Ok(order)
}
