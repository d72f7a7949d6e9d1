//! Every suite model under `../shared/models` round-trips: import → export → tract on its test
//! sets. The exported model must agree with tract on the original (default
//! [`TolerancePolicy`]: f32 abs 1e-4 + rel 1e-4) and with the outputs stored beside the model
//! (the same policy, so large-magnitude outputs get relative slack; 1e-3 for the mlperf-tiny
//! outputs, which come from TFLite). Stored outputs judge gos-opt only when tract on the
//! original reproduces them; otherwise a note is printed (tract's int8 hybrid_vit and vit_tiny
//! QDQ results differ from onnxruntime's).
//!
//! Dynamic inputs (ppocr, `model_batchN.onnx`) get their shape from the test set, as
//! `--input-shape` would give it. Models with `com.microsoft` ops (the int8 QOperator models)
//! are skipped with a printed notice when tract cannot run the original.

mod common;

use common::{round_trip, shared_dir, types_of};
use gos_opt::tensor::TensorType;
use gos_opt::verify::{
    check_expected, io_names, load_test_sets, random_sets, verify, Figures, InputSet, RandomSpec, Tolerance,
    TolerancePolicy, TractModel, VerifyReport,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One model file to round-trip.
struct Case {
    /// Label in messages (`mlperf-tiny/dscnn_kws`).
    label: String,
    /// The ONNX file.
    path: PathBuf,
    /// Which `output_K_{suffix}.pb` holds its expected outputs (`None`: `output_K.pb`).
    suffix: Option<&'static str>,
    /// Tolerance of f32 outputs against the stored outputs.
    stored_tol: Tolerance,
    /// Whether tract gets the test set's input types when loading the original. Not for the
    /// `model_batchN.onnx` files: their value_info repeats the symbolic batch `N`, and tract
    /// cannot unify `N` with a fixed input shape (`Impossible to unify Sym(N) with Val(1)`),
    /// so tract runs that original with `N` symbolic.
    fix_types: bool,
}

/// What a round trip measured.
struct Row {
    label: String,
    sets: usize,
    vs_original: VerifyReport,
    vs_expected: Option<VerifyReport>,
    tract_vs_expected: Option<VerifyReport>,
}

/// f32 tolerance against stored outputs made by onnxruntime (ppocr, mnist-8, trained-tiny,
/// int8): the default.
const ORT_TOL: Tolerance = Tolerance::new(1e-4, 1e-4);
/// f32 tolerance against the mlperf-tiny stored outputs, which come from the original TFLite
/// models (other kernels, and the TFLite → ONNX conversion in between): dscnn_kws's softmax
/// differs from TFLite by up to 8.2e-4 on its random test sets in tract, with or without gos-opt.
const TFLITE_TOL: Tolerance = Tolerance::new(1e-3, 1e-3);

fn figures_line(f: &Figures) -> String {
    let top1 = f.top1.map(|t| format!(", top-1 {}/{}", t.agree, t.rows)).unwrap_or_default();
    let cos = f.cosine.map(|c| format!(", cos {c:.6}")).unwrap_or_default();
    format!("max abs {:.2e}, max rel {:.2e}{cos}{top1}", f.max_abs, f.max_rel)
}

fn report_line(r: &VerifyReport) -> String {
    let figs: Vec<String> = r.outputs.iter().map(|o| format!("{}: {}", o.name, figures_line(&o.figures))).collect();
    format!("{} [{}]", if r.passed { "ok" } else { "FAILED" }, figs.join("; "))
}

/// Round-trips one model; `Ok(None)` when it is skipped (printed), `Err` on a failure.
fn run(case: &Case) -> Result<Option<Row>, String> {
    let dir = case.path.parent().ok_or("model has no directory")?;
    let bytes = std::fs::read(&case.path).map_err(|e| format!("cannot read: {e}"))?;
    let (declared, _) = io_names(&bytes).ok_or("not an ONNX model")?;
    let sets = load_test_sets(dir, case.suffix).map_err(|e| e.to_string())?;
    let inputs: Vec<InputSet> =
        sets.iter().map(|s| s.input_set(&declared)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    if inputs.is_empty() {
        return Err("no test sets".into());
    }
    let types = types_of(&inputs[0]);
    let tract_types = if case.fix_types { types.clone() } else { HashMap::new() };
    let original = match TractModel::load("original", &bytes, Some(dir), &tract_types) {
        Ok(m) => m,
        Err(e) => {
            let foreign = common::model_ops(&bytes).unwrap_or_default().iter().any(|op| !op.starts_with("ai.onnx::"));
            if foreign {
                println!("skipping {}: it has non-ONNX-domain ops and {e}", case.label);
                let shapes = types.iter().map(|(k, t)| (k.clone(), t.shape.clone())).collect();
                match round_trip(&case.path, shapes, &HashMap::new(), &[], false).result {
                    Ok(b) => println!("  (import → export alone succeeds: {} bytes)", b.len()),
                    Err(e) => println!("  (import → export alone fails too: {e})"),
                }
                return Ok(None);
            }
            return Err(e.to_string());
        }
    };
    let shapes = types.iter().map(|(k, t)| (k.clone(), t.shape.clone())).collect();
    let exported = round_trip(&case.path, shapes, &HashMap::new(), &[], false).result?;
    let vs_original =
        verify(&bytes, Some(dir), &exported, Some(dir), &inputs, &tract_types).map_err(|e| e.to_string())?;
    let with_expected: Vec<_> = inputs.iter().cloned().zip(sets.iter().map(|s| s.expected())).collect();
    let policy = TolerancePolicy { f32: case.stored_tol, ..TolerancePolicy::default() };
    let candidate = TractModel::load("exported", &exported, Some(dir), &types).map_err(|e| e.to_string())?;
    let vs_expected = check_expected(&candidate, &with_expected, &policy).map_err(|e| e.to_string())?;
    let tract_vs_expected = check_expected(&original, &with_expected, &policy).map_err(|e| e.to_string())?;
    Ok(Some(Row {
        label: case.label.clone(),
        sets: inputs.len(),
        vs_original,
        vs_expected: Some(vs_expected),
        tract_vs_expected: Some(tract_vs_expected),
    }))
}

/// Round-trips a model without stored outputs on seeded random inputs in `[lo, hi]`.
fn run_random(label: &str, path: &Path, types: HashMap<String, TensorType>, range: (f64, f64)) -> Result<Row, String> {
    let dir = path.parent().ok_or("model has no directory")?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let spec = RandomSpec { seed: 1, float_range: range, ..RandomSpec::default() };
    let inputs = random_sets(&types, &spec, 3).map_err(|e| e.to_string())?;
    let shapes = types.iter().map(|(k, t)| (k.clone(), t.shape.clone())).collect();
    let exported = round_trip(path, shapes, &HashMap::new(), &[], false).result?;
    let vs_original = verify(&bytes, Some(dir), &exported, Some(dir), &inputs, &types).map_err(|e| e.to_string())?;
    Ok(Row { label: label.into(), sets: inputs.len(), vs_original, vs_expected: None, tract_vs_expected: None })
}

/// Prints every row and fails the test when a model failed or disagreed.
fn finish(family: &str, results: Vec<(String, Result<Option<Row>, String>)>) {
    let mut failures = Vec::new();
    for (label, r) in results {
        match r {
            Ok(None) => {}
            Ok(Some(row)) => {
                println!("{} ({} sets)", row.label, row.sets);
                println!("  exported vs tract(original): {}", report_line(&row.vs_original));
                if let Some(e) = &row.vs_expected {
                    println!("  exported vs stored outputs:  {}", report_line(e));
                }
                if let Some(e) = &row.tract_vs_expected {
                    println!("  tract(original) vs stored:   {}", report_line(e));
                }
                if !row.vs_original.passed {
                    failures.push(format!("{label}: exported vs original: {}", row.vs_original.summary()));
                }
                // Stored outputs judge gos-opt only where tract itself reproduces them.
                let tract_agrees = row.tract_vs_expected.as_ref().is_some_and(|t| t.passed);
                match row.vs_expected.filter(|e| !e.passed) {
                    Some(e) if tract_agrees => failures.push(format!("{label}: exported vs stored outputs: {}", e.summary())),
                    Some(_) => println!("  note: tract on the original disagrees with the stored outputs; only the round trip is judged"),
                    None => {}
                }
            }
            Err(e) => {
                println!("{label}: FAILED: {e}");
                failures.push(format!("{label}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{family}: {} model(s) failed:\n{}", failures.len(), failures.join("\n"));
}

fn float_case(label: String, path: PathBuf) -> Case {
    Case { label, path, suffix: None, stored_tol: ORT_TOL, fix_types: true }
}

fn run_cases(cases: Vec<Case>) -> Vec<(String, Result<Option<Row>, String>)> {
    cases.into_iter().map(|c| (c.label.clone(), run(&c))).collect()
}

#[test]
fn mlperf_tiny() {
    let Some(shared) = shared_dir() else { return };
    let root = shared.join("models/mlperf-tiny/onnx");
    let cases = [
        "dscnn_kws",
        "fc_autoencoder_ad01",
        "mobilenetv1_025_vww96",
        "resnet8_cifar10_pretrainedResnet",
        "resnet_large_cifar10",
    ]
    .into_iter()
    .map(|m| Case { stored_tol: TFLITE_TOL, ..float_case(format!("mlperf-tiny/{m}"), root.join(m).join("model.onnx")) })
    .collect();
    finish("mlperf-tiny", run_cases(cases));
}

#[test]
fn mnist8() {
    let Some(shared) = shared_dir() else { return };
    let root = shared.join("models/mnist-8");
    let mut results = run_cases(vec![float_case("mnist-8/model".into(), root.join("model.onnx"))]);
    // pytorch.onnx (an MLP on 1x784 in [0, 1]) has no test sets of its own: random inputs.
    let path = root.join("pytorch.onnx");
    let types = std::fs::read(&path).ok().and_then(|b| io_names(&b)).map(|(inputs, _)| {
        inputs.into_iter().map(|n| (n, TensorType::new(gos_opt::tensor::DType::F32, vec![1, 784]))).collect()
    });
    let r = match types {
        Some(types) => run_random("mnist-8/pytorch", &path, types, (0.0, 1.0)).map(Some),
        None => Err("cannot read pytorch.onnx".into()),
    };
    results.push(("mnist-8/pytorch".into(), r));
    finish("mnist-8", results);
}

#[test]
fn ppocr() {
    let Some(shared) = shared_dir() else { return };
    let root = shared.join("models/ppocr");
    let cases =
        ["cls", "rec"].into_iter().map(|m| float_case(format!("ppocr/{m}"), root.join(m).join("model.onnx"))).collect();
    finish("ppocr", run_cases(cases));
}

#[test]
fn trained_tiny() {
    let Some(shared) = shared_dir() else { return };
    let root = shared.join("models/trained-tiny");
    let mut cases = Vec::new();
    for m in ["cnn_small", "hybrid_vit", "vit_tiny"] {
        cases.push(float_case(format!("trained-tiny/{m}"), root.join(m).join("model.onnx")));
        let batch_n = float_case(format!("trained-tiny/{m} (batchN, N=1)"), root.join(m).join("model_batchN.onnx"));
        cases.push(Case { fix_types: false, ..batch_n });
    }
    finish("trained-tiny", run_cases(cases));
}

fn int8_cases(shared: &Path, format: &'static str) -> Vec<Case> {
    common::suite::INT8_MODELS
        .iter()
        .map(|m| Case {
            label: format!("int8/{m} ({format})"),
            path: shared.join("models/int8").join(m).join(format!("model_{format}.onnx")),
            suffix: Some(format),
            stored_tol: ORT_TOL,
            fix_types: true,
        })
        .collect()
}

#[test]
fn int8_qdq() {
    let Some(shared) = shared_dir() else { return };
    finish("int8 qdq", run_cases(int8_cases(&shared, "qdq")));
}

#[test]
fn int8_qop() {
    let Some(shared) = shared_dir() else { return };
    finish("int8 qop", run_cases(int8_cases(&shared, "qop")));
}
