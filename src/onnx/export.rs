//! [`Graph`] → ModelProto: names, doc strings, metadata, opset imports, value_info and carried
//! parts kept; constants written back as initializers or Constant nodes, as they were read.

use super::attr::attr_to_proto;
use super::tensor::tensor_to_proto;
use crate::graph::{ConstOrigin, Graph, GraphError, ValueId, ValueKind};
use crate::tensor::TensorType;
use onnx_protobuf::{
    type_proto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TypeProto,
    ValueInfoProto,
};
use protobuf::MessageField;

fn type_proto(ty: &TensorType) -> TypeProto {
    let mut t = type_proto::Tensor::new();
    t.elem_type = ty.dtype.onnx_code();
    let mut shape = onnx_protobuf::TensorShapeProto::new();
    for &d in &ty.shape {
        let mut dim = onnx_protobuf::tensor_shape_proto::Dimension::new();
        dim.set_dim_value(d as i64);
        shape.dim.push(dim);
    }
    t.shape = MessageField::some(shape);
    let mut tp = TypeProto::new();
    tp.set_tensor_type(t);
    tp
}

fn value_info(graph: &Graph, id: ValueId) -> ValueInfoProto {
    let v = graph.value(id);
    let mut vi = ValueInfoProto::new();
    vi.name = v.name.clone();
    vi.doc_string = v.doc_string.clone();
    if let Some(ty) = &v.ty {
        vi.type_ = MessageField::some(type_proto(ty));
    } else if let Some(bytes) = &v.onnx_type {
        vi.type_ = TypeProto::parse_from_bytes(bytes).ok().into();
    }
    vi
}

fn constant_node(name: &str, node_name: &str, doc: &str, graph: &Graph, id: ValueId) -> NodeProto {
    let tensor = graph.constant(id).expect("constant_node is called on constants");
    let mut n = NodeProto::new();
    n.name = node_name.to_string();
    n.op_type = "Constant".into();
    n.doc_string = doc.to_string();
    n.output.push(name.to_string());
    n.attribute.push(attr_to_proto("value", &crate::ops::Attr::Tensor((**tensor).clone())));
    n
}

/// Builds the ModelProto for a graph.
pub fn export(graph: &Graph) -> Result<ModelProto, GraphError> {
    let meta = &graph.meta;
    let mut g = GraphProto::new();
    g.name = meta.graph_name.clone();
    g.doc_string = meta.graph_doc_string.clone();
    let opset = meta.opset();

    // Inputs: runtime inputs, then initializers the file also listed as inputs (IR < 4).
    g.input = graph.inputs.iter().map(|&id| value_info(graph, id)).collect();
    let mut emitted_const = vec![false; graph.values.len()];
    for (i, v) in graph.values.iter().enumerate() {
        if let ValueKind::Const { tensor, origin } = &v.kind {
            match origin {
                ConstOrigin::Initializer { also_input, doc_string } => {
                    let mut t = tensor_to_proto(&v.name, tensor);
                    t.doc_string = doc_string.clone();
                    g.initializer.push(t);
                    if *also_input {
                        g.input.push(value_info(graph, ValueId::new(i)));
                    }
                    emitted_const[i] = true;
                }
                ConstOrigin::Derived => {
                    g.initializer.push(tensor_to_proto(&v.name, tensor));
                    emitted_const[i] = true;
                }
                ConstOrigin::ConstantNode { .. } => {}
            }
        }
    }

    // Constant nodes go right before their first reader, so the node list stays topological.
    let emit_constant = |g: &mut GraphProto, id: ValueId, emitted: &mut Vec<bool>| {
        if emitted[id.index()] {
            return;
        }
        if let ValueKind::Const { origin: ConstOrigin::ConstantNode { node, doc_string }, .. } = &graph.value(id).kind {
            g.node.push(constant_node(&graph.value(id).name, node, doc_string, graph, id));
            emitted[id.index()] = true;
        }
    };
    for id in graph.topo_order()? {
        let node = graph.node(id);
        for input in node.inputs.iter().flatten() {
            emit_constant(&mut g, *input, &mut emitted_const);
        }
        let mut n = NodeProto::new();
        n.name = node.name.clone();
        n.op_type = node.op.onnx_name().to_string();
        n.domain = node.op.domain().to_string();
        n.doc_string = node.doc_string.clone();
        n.input = node.inputs.iter().map(|v| v.map(|id| graph.value(id).name.clone()).unwrap_or_default()).collect();
        n.output = node.outputs.iter().map(|&id| graph.value(id).name.clone()).collect();
        n.attribute = node.op.attributes(opset).iter().map(|(name, a)| attr_to_proto(name, a)).collect();
        g.node.push(n);
        // Intermediate values keep the file's value_info, and opaque ops' outputs always
        // carry their types so downstream tools need not guess.
        for &out in &node.outputs {
            let v = graph.value(out);
            let typed = v.ty.is_some() || v.onnx_type.is_some();
            if !v.name.is_empty() && typed && !graph.outputs.contains(&out) && (v.in_value_info || node.op.is_opaque())
            {
                g.value_info.push(value_info(graph, out));
            }
        }
    }
    for &id in &graph.outputs {
        emit_constant(&mut g, id, &mut emitted_const);
        g.output.push(value_info(graph, id));
    }
    for (field, bytes) in &meta.graph_carried {
        match *field {
            15 => g.sparse_initializer.push(Message::parse_from_bytes(bytes).expect("carried sparse initializer")),
            _ => g.quantization_annotation.push(Message::parse_from_bytes(bytes).expect("carried annotation")),
        }
    }

    let mut m = ModelProto::new();
    m.ir_version = meta.ir_version;
    m.producer_name = meta.producer_name.clone();
    m.producer_version = meta.producer_version.clone();
    m.domain = meta.domain.clone();
    m.model_version = meta.model_version;
    m.doc_string = meta.doc_string.clone();
    m.opset_import = meta
        .opset_imports
        .iter()
        .map(|(d, v)| {
            let mut o = OperatorSetIdProto::new();
            o.domain = d.clone();
            o.version = *v;
            o
        })
        .collect();
    m.metadata_props = meta
        .metadata_props
        .iter()
        .map(|(k, v)| {
            let mut e = StringStringEntryProto::new();
            e.key = k.clone();
            e.value = v.clone();
            e
        })
        .collect();
    for (field, bytes) in &meta.carried {
        match *field {
            25 => m.functions.push(Message::parse_from_bytes(bytes).expect("carried function")),
            _ => m.training_info.push(Message::parse_from_bytes(bytes).expect("carried training info")),
        }
    }
    m.graph = MessageField::some(g);
    Ok(m)
}

/// Serializes a graph to ONNX bytes.
pub fn export_bytes(graph: &Graph) -> Result<Vec<u8>, GraphError> {
    let m = export(graph)?;
    Ok(m.write_to_bytes().expect("an in-memory ModelProto serializes"))
}
