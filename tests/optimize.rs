//! Exact optimization of every shared float model for rpi3, end to end through the pipeline
//! (import → saturate → extract → lift → verify with tract → write): each one verifies against
//! its original (test sets beside the model and seeded random inputs, f32 within 1e-4 absolute
//! plus 1e-4 relative), predicted latency never rises, the report's numbers add up, every
//! original node has a fate, and the recognitions the rule library promises happen (ppocr rec:
//! HardSwish and LayerNormalization, ≥ 30% fewer compute nodes; vit_tiny: GELU).

mod common;

use common::shared_dir;
use gos_opt::pipeline::{self, Mode, Options, Outcome};
use gos_opt::search::Fate;
use std::path::{Path, PathBuf};

/// The shared float models with the static input shape each needs (`--input-shape`).
const MODELS: &[(&str, Option<&str>)] = &[
    ("mlperf-tiny/onnx/dscnn_kws/model.onnx", None),
    ("mlperf-tiny/onnx/fc_autoencoder_ad01/model.onnx", None),
    ("mlperf-tiny/onnx/mobilenetv1_025_vww96/model.onnx", None),
    ("mlperf-tiny/onnx/resnet8_cifar10_pretrainedResnet/model.onnx", None),
    ("mlperf-tiny/onnx/resnet_large_cifar10/model.onnx", None),
    ("mnist-8/model.onnx", None),
    ("mnist-8/pytorch.onnx", None),
    ("ppocr/cls/model.onnx", Some("x=1x3x48x192")),
    ("ppocr/rec/model.onnx", Some("x=1x3x48x320")),
    ("trained-tiny/cnn_small/model.onnx", None),
    ("trained-tiny/hybrid_vit/model.onnx", None),
    ("trained-tiny/vit_tiny/model.onnx", None),
];

fn options(input: &Path, output: PathBuf, shape: Option<&str>) -> Options {
    let mut import = gos_opt::onnx::ImportOptions::default();
    if let Some(spec) = shape {
        let (name, dims) = gos_opt::onnx::parse_input_shape(spec).expect("a valid shape");
        import.input_shapes.insert(name, dims);
    }
    Options {
        input: input.to_path_buf(),
        output: Some(output),
        target: "rpi3".into(),
        target_file: None,
        objective: gos_opt::cost::Objective::Latency,
        mode: Mode::Exact,
        import,
        rules: Vec::new(),
        limits: gos_opt::search::Limits::default(),
        emit_rust: None,
        emit_options: Default::default(),
        approx: None,
        checks: Default::default(),
    }
}

fn count(outcome: &Outcome, op: &str) -> usize {
    outcome.after.nodes.iter().filter(|n| n.op == op).count()
}

/// Checks what every optimized model must satisfy; returns the outcome for model-specific checks.
fn optimize(shared: &Path, model: &str, shape: Option<&str>, out: &Path) -> Outcome {
    let input = shared.join("models").join(model);
    let opts = options(&input, out.join(model.replace('/', "_")), shape);
    let outcome = pipeline::run(&opts).unwrap_or_else(|e| panic!("{model}: {e}"));
    assert!(outcome.verification.passed, "{model}: {}", outcome.verification.summary());
    assert!(
        outcome.nodes_after <= outcome.nodes_before,
        "{model}: {} -> {}",
        outcome.nodes_before,
        outcome.nodes_after
    );
    let (before, after) = (outcome.before.cost.as_ref().unwrap(), outcome.after.cost.as_ref().unwrap());
    assert!(
        after.latency_s <= before.latency_s * (1.0 + 1e-9),
        "{model}: predicted latency rose: {before:?} -> {after:?}"
    );
    // The report's numbers add up: per-layer latencies sum to each side's total.
    for (side, inspection) in [("before", &outcome.before), ("after", &outcome.after)] {
        let layers: f64 = inspection.nodes.iter().map(|n| n.cost.as_ref().unwrap().latency_s).sum();
        let total = inspection.cost.as_ref().unwrap().latency_s;
        assert!((layers - total).abs() <= 1e-12 + 1e-9 * total, "{model} {side}: {layers} vs {total}");
    }
    let search = outcome.search.as_ref().expect("exact mode reports its search");
    // Every original node has a fate; kept and rewritten ones name a node of the written model.
    assert_eq!(search.fates.len(), outcome.nodes_before, "{model}: one fate per original node");
    let written: Vec<&str> = outcome.after.nodes.iter().map(|n| n.name.as_str()).collect();
    for f in &search.fates {
        if matches!(f.fate, Fate::Kept | Fate::Rewritten | Fate::Merged) {
            let into = f.into.as_deref().unwrap_or_else(|| panic!("{model}: {f:?} names no node"));
            assert!(written.contains(&into), "{model}: {f:?} names a node the written model lacks");
        }
    }
    // A rule that survives was applied; every applied rule is listed once.
    assert_eq!(search.rules.len(), search.applied.len(), "{model}");
    for r in &search.rules {
        assert_eq!(search.applied.get(&r.rule), Some(&r.applied), "{model}: {}", r.rule);
    }
    println!(
        "{model}: {} -> {} nodes, predicted rpi3 {:.4} -> {:.4} ms, {} ({} iterations), {}",
        outcome.nodes_before,
        outcome.nodes_after,
        before.latency_s * 1e3,
        after.latency_s * 1e3,
        search.stop_reason,
        search.iterations,
        outcome.verification.summary()
    );
    outcome
}

#[test]
fn every_shared_model_optimizes_for_rpi3_and_verifies() {
    let Some(shared) = shared_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    for &(model, shape) in MODELS {
        let outcome = optimize(&shared, model, shape, out.path());
        match model {
            "ppocr/rec/model.onnx" => {
                // 28 HardSwish spelled as Add/Clip/Mul/Div, 5 LayerNorms as 9 nodes each.
                assert_eq!(count(&outcome, "HardSwish"), 28, "ppocr rec");
                assert_eq!(count(&outcome, "LayerNormalization"), 5, "ppocr rec");
                assert!(
                    outcome.nodes_after * 10 <= outcome.nodes_before * 7,
                    "ppocr rec: {} -> {} nodes is less than 30% fewer",
                    outcome.nodes_before,
                    outcome.nodes_after
                );
            }
            "trained-tiny/vit_tiny/model.onnx" => {
                // The 3 GELUs are recognized; the Gelu kernel needs opset 20, beyond the raise
                // gos-opt makes (graph::upgrade::MAX_OPSET), so the Erf form is written.
                let search = outcome.search.as_ref().unwrap();
                assert_eq!(search.applied.get("gelu-recognize"), Some(&3), "vit_tiny");
                assert_eq!(count(&outcome, "Gelu"), 0, "vit_tiny");
            }
            "trained-tiny/cnn_small/model.onnx" => {
                assert_eq!(count(&outcome, "BatchNormalization"), 0, "cnn_small: BatchNorm folded")
            }
            _ => {}
        }
    }
}

#[test]
fn optimized_model_is_byte_identical_across_runs() {
    let Some(shared) = shared_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let input = shared.join("models/trained-tiny/hybrid_vit/model.onnx");
    let bytes: Vec<Vec<u8>> = (0..2)
        .map(|i| {
            let path = out.path().join(format!("run{i}.onnx"));
            pipeline::run(&options(&input, path.clone(), None)).expect("optimizes");
            std::fs::read(path).unwrap()
        })
        .collect();
    assert!(bytes[0] == bytes[1], "two runs wrote different bytes");
}
