//! Approx mode end to end through the command line: the written model is re-run in tract on
//! the held-out samples and its labelled accuracy checked against the labels and the report; the
//! budget decides what is written (exit 3 otherwise); `--pareto` writes non-dominated variants.

mod common;

use gos_opt::approx::data::{load, DataSpec, Dataset};
use gos_opt::tensor::{DType, TensorType};
use gos_opt::verify::TractModel;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");
const MNIST8: &str = "models/mnist-8/model.onnx";
const CALIB: &str = "models/mnist-8/calib/t10k-1000-images-idx3-ubyte.gz";
const LABELS: &str = "models/mnist-8/calib/t10k-1000-labels-idx1-ubyte.gz";

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("approx").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creates the scratch directory");
    dir
}

fn gos_opt(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().expect("the binary runs");
    (out.status.code().expect("exited normally"), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the report is written")).expect("JSON")
}

/// Labelled top-1 accuracy (percent) of `model` in tract on `data`.
fn accuracy(model: &Path, data: &Dataset) -> f64 {
    let bytes = std::fs::read(model).expect("the model is written");
    let types: HashMap<String, TensorType> = data.samples[0].iter().map(|(k, t)| (k.clone(), t.ttype())).collect();
    let tract = TractModel::load("approx", &bytes, model.parent(), &types).expect("tract loads the approximate model");
    let labels = data.labels.as_ref().expect("labels");
    let right = data
        .samples
        .iter()
        .zip(labels)
        .enumerate()
        .filter(|(i, (sample, &label))| {
            let y = tract.run(*i, sample).expect("tract runs it");
            let scores = y[0].as_f32().expect("float scores");
            let top = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
            top as i64 == label
        })
        .count();
    100.0 * right as f64 / data.len() as f64
}

/// The bundled MNIST images as mnist-8 reads them (raw pixels): calibration and held-out halves.
fn bundled_split() -> (Dataset, Dataset) {
    let x = TensorType::new(DType::F32, vec![1, 1, 28, 28]);
    let spec: DataSpec = CALIB.parse().unwrap();
    let labels: DataSpec = LABELS.parse().unwrap();
    load(&spec, Some(&labels), &[("Input3".into(), x)], 255.0).expect("the bundled data loads").split_interleaved()
}

#[test]
fn mnist8_on_the_bundled_data_is_cheaper_within_the_accuracy_budget() {
    let dir = scratch("mnist8");
    let (out, json) = (dir.join("m.onnx"), dir.join("r.json"));
    let before = std::fs::read(MNIST8).unwrap();
    let (code, stderr) = gos_opt(&[
        MNIST8,
        "--target",
        "rpi3",
        "--mode",
        "approx",
        "--calib",
        CALIB,
        "--labels",
        LABELS,
        "--data-scale",
        "255",
        "--budget",
        "acc=0.5",
        "-o",
        out.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(MNIST8).unwrap(), before, "the input is never modified");
    let a = &report(&json)["approx"];
    let held = &a["result"]["heldout"];
    let original = a["original"]["heldout"]["accuracy"].as_f64().unwrap();
    // The report's held-out accuracy is what tract measures on the labels of the held-out half.
    let (_, heldout) = bundled_split();
    assert_eq!(held["samples"].as_u64(), Some(heldout.len() as u64));
    let measured = accuracy(&out, &heldout);
    assert!((measured - held["accuracy"].as_f64().unwrap()).abs() < 1e-9, "{measured} vs {held}");
    assert!(measured >= original - 0.5, "accuracy {measured} % against the original's {original} %");
    assert!(a["budget_used"].as_f64().unwrap() <= 1.0);
    // Something was replaced, and it pays on the target.
    assert!(!a["applied"].as_array().unwrap().is_empty());
    assert!(a["cost"]["speedup_vs_exact"].as_f64().unwrap() > 1.5, "{}", a["cost"]);
    // Each layer quantized to int8 alone (weights rounded to least output error, bias
    // corrected) moves the outputs by less than 0.5 % on the calibration half (measured:
    // 0.0008–0.0035 relative L2; onnxruntime's whole int8 mnist-8 model: 0.0108, its PROVENANCE).
    let int8: Vec<&serde_json::Value> = a["sensitivity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"].as_str().is_some_and(|n| n.ends_with("-int8") || n.ends_with("-int8-minmax")))
        .collect();
    assert_eq!(int8.len(), 5, "two convolutions by two ranges, one Gemm");
    for row in int8 {
        let rel = row["calibration"]["rel_l2"].as_f64().unwrap();
        assert!(rel < 0.005, "{} at {}: relative error {rel}", row["rule"], row["node"]);
    }
}

#[test]
fn a_budget_the_held_out_data_breaks_writes_nothing_and_exits_3() {
    let dir = scratch("over");
    let out = dir.join("m.onnx");
    // Held-out data unlike the calibration digits (noise, from a fixed LCG): what selection
    // accepted on digits breaks a relative-error budget there.
    let noise = dir.join("noise.f32");
    let mut state = 12345u32;
    let bytes: Vec<u8> = (0..50 * 784)
        .flat_map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 8) as f32 / (1u32 << 24) as f32).powi(3).to_le_bytes()
        })
        .collect();
    std::fs::write(&noise, bytes).unwrap();
    let calib = format!("{CALIB}@0..200");
    let args = [MNIST8, "--target", "rpi3", "--mode", "approx", "--calib", &calib, "--data-scale", "255"];
    let eval = ["--eval", noise.to_str().unwrap(), "--budget", "rel=0.08", "-o", out.to_str().unwrap()];
    let (code, stderr) = gos_opt(&[&args[..], &eval[..]].concat());
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("breaks the budget rel=0.08 on the held-out data"), "{stderr}");
    assert!(!out.exists(), "nothing is written over budget");
    // Labels are needed for an accuracy budget.
    let out = dir.join("unlabelled.onnx");
    let (code, stderr) = gos_opt(&[&args[..], &["--budget", "acc=0.5", "-o", out.to_str().unwrap()]].concat());
    assert_ne!(code, 0);
    assert!(stderr.contains("label"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn pareto_5_on_cnn_small_writes_5_non_dominated_variants() {
    let Some(shared) = common::shared_dir() else { return };
    let e = shared.join("data/mnist-eval-2000");
    let (x, y) = (e.join("x.f32").display().to_string(), e.join("y.u8").display().to_string());
    let dir = scratch("pareto");
    let (out, json) = (dir.join("cs.onnx"), dir.join("r.json"));
    let model = shared.join("models/trained-tiny/cnn_small/model.onnx");
    let (code, stderr) = gos_opt(&[
        model.to_str().unwrap(),
        "--target",
        "rpi3",
        "--mode",
        "approx",
        "--calib",
        &format!("{x}@0..1000"),
        "--labels",
        &format!("{y}@0..1000"),
        "--eval",
        &format!("{x}@1000..2000"),
        "--eval-labels",
        &format!("{y}@1000..2000"),
        "--budget",
        "acc=0.5",
        "--pareto",
        "5",
        "-o",
        out.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let a = &report(&json)["approx"];
    let points = a["front"]["points"].as_array().unwrap();
    let written: Vec<&serde_json::Value> = points.iter().filter(|p| p["file"].is_string()).collect();
    assert_eq!(written.len(), 5, "{points:?}");
    let axes =
        |p: &serde_json::Value| ["cost", "calibration_used", "calibration_rel_l2"].map(|k| p[k].as_f64().unwrap());
    for p in &written {
        assert!(Path::new(p["file"].as_str().unwrap()).is_file());
        assert!(p["heldout_used"].as_f64().unwrap() <= 1.0);
        for q in &written {
            let (a, b) = (axes(p), axes(q));
            let dominates = a.iter().zip(&b).all(|(x, y)| x <= y) && a.iter().zip(&b).any(|(x, y)| x < y);
            assert!(!dominates, "{p} dominates {q}");
        }
    }
    // The hypervolume is the area the points dominate in (cost ratio, budget used) up to (1, 1).
    let pts: Vec<(f64, f64)> =
        points.iter().map(|p| (p["cost_ratio"].as_f64().unwrap(), p["calibration_used"].as_f64().unwrap())).collect();
    let hv = a["front"]["hypervolume"].as_f64().unwrap();
    assert!((hv - gos_opt::approx::select::hypervolume(&pts)).abs() < 1e-12);
    assert!(hv > 0.0);
    // Held-out accuracy on the labels stays within the budget.
    let (orig, result) =
        (a["original"]["heldout"]["accuracy"].as_f64().unwrap(), a["result"]["heldout"]["accuracy"].as_f64().unwrap());
    assert!(result >= orig - 0.5, "{result} vs {orig}");
}
