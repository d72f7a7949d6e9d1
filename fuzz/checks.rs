//! What each fuzz target checks, shared by the targets (`fuzz/fuzz_targets/*.rs`) and the
//! regression test (`tests/fuzz_regressions.rs`, which runs every file kept in
//! `tests/fuzz-regressions/<target>/` through [`TARGETS`]).
//!
//! A check returns normally when gos-opt handles the input (an error result is a handled
//! input) and panics when it does not: a panic anywhere below (gos-opt, tract, protobuf), an
//! overflow (the fuzz build has debug assertions), or a property that does not hold.
// Each fuzz target uses one check; the regression test uses the table.
#![allow(dead_code)]

use gos_opt::graph::{Graph, ValueId, ValueKind};
use gos_opt::onnx::{export_bytes, import_bytes, parse_input_shape, ImportOptions};
use onnx_protobuf::{Message, ModelProto};
use std::sync::OnceLock;

/// A target's check: returns on a handled input, panics otherwise.
pub type Check = fn(&[u8]);

/// The targets by name (the fuzz target's name and its regression directory's name).
pub const TARGETS: &[(&str, Check)] =
    &[("onnx_roundtrip", onnx_roundtrip), ("rules", rules), ("input_shape", input_shape), ("profile", profile)];

/// The ONNX importer on arbitrary bytes; when they import, the graph exports, the export
/// imports again, and the two imports are the same graph ([`summary`]).
pub fn onnx_roundtrip(data: &[u8]) {
    let opts = ImportOptions::default();
    let Ok(first) = import_bytes(data, None, &opts) else { return };
    let bytes = export_bytes(&first).unwrap_or_else(|e| panic!("an imported graph does not export: {e}"));
    let second =
        import_bytes(&bytes, None, &opts).unwrap_or_else(|e| panic!("the exported model does not import again: {e}"));
    assert_eq!(summary(&first), summary(&second), "import → export → import changed the graph");
}

/// The rule-file loader on arbitrary text; rules that load also build their egg rewrites and
/// their listing (what `gos-opt rules list` prints).
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let functions = gos_opt::rules::Functions;
    let Ok(set) = gos_opt::rules::RuleSet::from_text("fuzz.rules", text, &functions) else { return };
    assert_eq!(set.rewrites(true).len(), set.rules.len());
    assert_eq!(set.listing().len(), set.rules.len());
    assert!(set.to_text().ends_with(" approx)\n"));
}

/// `--input-shape` arguments, one a line, parsed as the CLI parses them and then given to the
/// import (and export) of mnist-8 with every input dimension made symbolic, so that any
/// shape reaches the ops' shape inference.
pub fn input_shape(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut opts = ImportOptions::default();
    for spec in text.lines() {
        let Ok((name, dims)) = parse_input_shape(spec) else { return };
        assert!(!name.is_empty() && spec.starts_with(&name), "{spec:?} parsed to name {name:?}");
        opts.input_shapes.insert(name, dims);
    }
    let Ok(graph) = import_bytes(dynamic_mnist(), None, &opts) else { return };
    export_bytes(&graph).unwrap_or_else(|e| panic!("an imported graph does not export: {e}"));
}

/// Profile TOML on arbitrary text; a profile that parses writes back ([`Profile::to_toml`])
/// to text that parses to the same profile.
///
/// [`Profile::to_toml`]: gos_opt::cost::Profile::to_toml
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(profile) = gos_opt::cost::Profile::parse(text, "fuzz.toml") else { return };
    let written = profile.to_toml(|path| format!("figure {path}"));
    let back = gos_opt::cost::Profile::parse(&written, "written.toml")
        .unwrap_or_else(|e| panic!("the written profile does not parse: {e}\n{written}"));
    assert_eq!(back, profile, "the written profile reads back different\n{written}");
}

/// The bundled mnist-8 with every dimension of its input symbolic (`d0`, `d1`, ...).
fn dynamic_mnist() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut model =
            ModelProto::parse_from_bytes(include_bytes!("../models/mnist-8/model.onnx")).expect("mnist-8 parses");
        let graph = model.graph.as_mut().expect("mnist-8 has a graph");
        for input in &mut graph.input {
            let tensor = input.type_.as_mut().expect("typed input").mut_tensor_type();
            for (i, dim) in tensor.shape.as_mut().expect("shaped input").dim.iter_mut().enumerate() {
                dim.set_dim_param(format!("d{i}"));
            }
        }
        model.write_to_bytes().expect("a parsed model serializes")
    })
}

/// What "the same graph" means for the round trip: the graph inputs and outputs in order,
/// the nodes (as a sorted list, since export may reorder them) with their names, ops and
/// attributes, and the values they read and write, each by name with its type, the ONNX
/// type carried for non-tensor values, and where it comes from (a graph input, a constant
/// with its data, a node). Model metadata outside the graph (IR version, opset imports) too.
/// Values that nothing reads (an unused `Constant` node's output) are not part of it: export
/// writes only what the graph uses, except initializers.
#[derive(Debug, PartialEq)]
pub struct Summary {
    ir_version: i64,
    opset_imports: Vec<(String, i64)>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    nodes: Vec<String>,
}

/// The [`Summary`] of a graph.
pub fn summary(graph: &Graph) -> Summary {
    let value = |id: ValueId| {
        let v = graph.value(id);
        let kind = match &v.kind {
            ValueKind::Input => "input".to_string(),
            ValueKind::Const { tensor, .. } => format!("const {tensor:?}"),
            ValueKind::Node { .. } => "node".to_string(),
            ValueKind::Unset => "unset".to_string(),
        };
        format!("{:?}: {:?} {:?} {kind}", v.name, v.ty, v.onnx_type)
    };
    let mut nodes: Vec<String> = graph
        .topo_order()
        .expect("an imported graph is acyclic")
        .into_iter()
        .map(|id| {
            let n = graph.node(id);
            let inputs: Vec<String> = n.inputs.iter().map(|i| i.map(value).unwrap_or_default()).collect();
            let outputs: Vec<String> = n.outputs.iter().map(|&o| value(o)).collect();
            format!("{:?} {:?} reads {inputs:?} writes {outputs:?}", n.name, n.op)
        })
        .collect();
    nodes.sort();
    Summary {
        ir_version: graph.meta.ir_version,
        opset_imports: graph.meta.opset_imports.clone(),
        inputs: graph.inputs.iter().map(|&id| value(id)).collect(),
        outputs: graph.outputs.iter().map(|&id| value(id)).collect(),
        nodes,
    }
}
