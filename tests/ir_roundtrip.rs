//! Lower → extract → lift with no rules reproduces every model: the same nodes (names, ops,
//! attributes, inputs, outputs), initializers, inputs and outputs.

mod common;

use gos_opt::ir::lower;
use gos_opt::lift::lift;
use gos_opt::onnx::{export, import, ImportOptions};
use onnx_protobuf::{Message, ModelProto};
use std::path::{Path, PathBuf};

/// Every node as bytes, sorted: node order may change, nothing else may.
fn canonical(m: &ModelProto) -> (Vec<Vec<u8>>, Vec<String>, Vec<String>, Vec<String>) {
    let g = m.graph.as_ref().expect("a graph");
    let mut nodes: Vec<Vec<u8>> = g.node.iter().map(|n| n.write_to_bytes().expect("serializes")).collect();
    nodes.sort();
    let mut inits: Vec<String> = g.initializer.iter().map(|t| t.name.clone()).collect();
    inits.sort();
    let names = |v: &[onnx_protobuf::ValueInfoProto]| v.iter().map(|x| x.name.clone()).collect::<Vec<_>>();
    (nodes, inits, names(&g.input), names(&g.output))
}

fn round_trip(path: &Path, opts: &ImportOptions) {
    let graph = import(path, opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let direct = export(&graph).expect("exports");
    let lowered = lower(&graph).expect("lowers");
    let extractor = egg::Extractor::new(&lowered.egraph, egg::AstSize);
    let (_, expr) = extractor.find_best(lowered.root);
    let lifted =
        lift(&lowered.egraph, &expr, &graph, &lowered.origins).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let via_egraph = export(&lifted).expect("exports");
    assert_eq!(canonical(&via_egraph), canonical(&direct), "{} changed through the e-graph", path.display());
}

#[test]
fn bundled_models_survive_the_egraph() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for m in ["resnet8/model.onnx", "mnist-8/model.onnx"] {
        round_trip(&root.join(m), &ImportOptions::default());
    }
}

#[test]
fn shared_models_survive_the_egraph() {
    let Some(shared) = common::shared_dir() else { return };
    let models = shared.join("models");
    let mut paths: Vec<(PathBuf, ImportOptions)> = Vec::new();
    for entry in ["mlperf-tiny/onnx", "trained-tiny"] {
        for dir in std::fs::read_dir(models.join(entry)).expect("model folder").flatten() {
            if dir.path().join("model.onnx").exists() {
                paths.push((dir.path().join("model.onnx"), ImportOptions::default()));
            }
        }
    }
    paths.push((models.join("mnist-8/pytorch.onnx"), ImportOptions::default()));
    for dir in std::fs::read_dir(models.join("int8")).expect("int8 folder").flatten() {
        if dir.path().join("model_qdq.onnx").exists() {
            paths.push((dir.path().join("model_qdq.onnx"), ImportOptions::default()));
        }
    }
    for (name, shape) in [("cls", vec![1, 3, 48, 192]), ("rec", vec![1, 3, 48, 320])] {
        let mut opts = ImportOptions::default();
        opts.input_shapes.insert("x".into(), shape);
        paths.push((models.join("ppocr").join(name).join("model.onnx"), opts));
    }
    for (path, opts) in &paths {
        round_trip(path, opts);
    }
}

/// Saturates a bundled model with `rules`, extracts under `cost`, lifts, and checks with tract
/// that the result computes what the original computes; returns the lifted graph.
fn rewrite_and_check(
    rel: &str,
    rules: &[egg::Rewrite<gos_opt::ir::Ir, gos_opt::ir::IrAnalysis>],
    cost: &dyn gos_opt::search::NodeCost,
) -> gos_opt::graph::Graph {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(rel);
    let graph = import(&path, &ImportOptions::default()).expect("imports");
    let lowered = lower(&graph).expect("lowers");
    let (egraph, _) =
        gos_opt::search::saturate(lowered.egraph, lowered.root, rules, &gos_opt::search::Limits::default());
    let best = gos_opt::search::extract_dag(&egraph, lowered.root, cost).expect("extracts");
    let lifted = lift(&egraph, &best.expr, &graph, &lowered.origins).expect("lifts");
    let original = std::fs::read(&path).unwrap();
    let rewritten = gos_opt::onnx::export_bytes(&lifted).unwrap();
    let types: std::collections::HashMap<String, gos_opt::tensor::TensorType> =
        graph.inputs.iter().map(|&id| (graph.value(id).name.clone(), graph.ty(id).unwrap().clone())).collect();
    let sets = gos_opt::verify::random_sets(&types, &gos_opt::verify::RandomSpec::with_seed(7), 2).unwrap();
    let report = gos_opt::verify::verify(&original, path.parent(), &rewritten, path.parent(), &sets, &types).unwrap();
    assert!(report.passed, "{}", report.summary());
    lifted
}

/// Kernels cost 10, everything else 1: extraction prefers primitives where rules offer them.
struct PreferPrimitives;
impl gos_opt::search::NodeCost for PreferPrimitives {
    fn node_cost(&self, egraph: &gos_opt::ir::IrGraph, class: egg::Id, node: &gos_opt::ir::Ir) -> f64 {
        if !gos_opt::ir::is_exportable(node, egraph[class].data.weight_only) {
            f64::INFINITY
        } else if matches!(node, gos_opt::ir::Ir::Kernel(..)) {
            10.0
        } else {
            1.0
        }
    }
}

#[test]
fn primitives_lift_to_onnx_ops() {
    let relu_to_max: Vec<egg::Rewrite<_, _>> = vec![egg::rewrite!("relu-to-max"; "(Relu ?op ?x)" => "(max ?x 0)")];
    let lifted = rewrite_and_check("mnist-8/model.onnx", &relu_to_max, &PreferPrimitives);
    let ops: Vec<&str> = lifted.dag.node_indices().map(|n| lifted.node(n).op.onnx_name()).collect();
    assert!(ops.contains(&"Max") && !ops.contains(&"Relu"), "{ops:?}");
}

#[test]
fn weight_only_computations_fold_into_constants() {
    use egg::Language;
    use gos_opt::ir::Ir;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist-8/model.onnx");
    let graph = import(&path, &ImportOptions::default()).expect("imports");
    let mut lowered = lower(&graph).expect("lowers");
    let (_, expr) = egg::Extractor::new(&lowered.egraph, egg::AstSize).find_best(lowered.root);
    // Every convolution weight w becomes (neg (neg w)): weight-only, folded back at emission.
    let mut rewritten: egg::RecExpr<Ir> = egg::RecExpr::default();
    let mut map = Vec::new();
    for node in expr.as_ref() {
        let mut node = node.clone().map_children(|c| map[usize::from(c)]);
        if let Ir::Kernel(sym, ch) = &mut node {
            if sym.as_str() == "Conv" {
                let inner = rewritten.add(Ir::Neg(ch[2]));
                ch[2] = rewritten.add(Ir::Neg(inner));
            }
        }
        map.push(rewritten.add(node));
    }
    let root = lowered.egraph.add_expr(&rewritten);
    lowered.egraph.rebuild();
    let lifted = lift(&lowered.egraph, &rewritten, &graph, &lowered.origins).expect("lifts");
    let folded = lifted
        .values
        .iter()
        .filter(|v| v.name.starts_with("gos_folded") && matches!(v.kind, gos_opt::graph::ValueKind::Const { .. }))
        .count();
    assert_eq!(folded, 2, "both convolution weights are folded constants");
    assert!(lowered.egraph[root].data.types.is_empty(), "the root joins outputs");
    // The folded model computes what the original computes.
    let original = std::fs::read(&path).unwrap();
    let bytes = gos_opt::onnx::export_bytes(&lifted).unwrap();
    let types: std::collections::HashMap<String, gos_opt::tensor::TensorType> =
        [("Input3".to_string(), gos_opt::tensor::TensorType::new(gos_opt::tensor::DType::F32, vec![1, 1, 28, 28]))]
            .into();
    let sets = gos_opt::verify::random_sets(&types, &gos_opt::verify::RandomSpec::with_seed(3), 2).unwrap();
    let report = gos_opt::verify::verify(&original, path.parent(), &bytes, path.parent(), &sets, &types).unwrap();
    assert!(report.passed, "{}", report.summary());
}
