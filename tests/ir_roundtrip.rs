//! Lower → extract → lift with no rules reproduces every model: the same nodes (names, ops,
//! attributes, inputs, outputs), initializers, inputs and outputs.

mod common;

use gos_opt::ir::{lift, lower};
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
