//! Multiplication → shift/add (issue 13): the extractor marks a quantized model's weights for
//! shift-add kernels exactly where multiplies are dear, and the marked model computes the same.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");

/// Optimizes `model` for `target` (extra arguments after it); returns the parsed report and the
/// output model's bytes.
fn optimize(model: &Path, target: &str, extra: &[&str], tag: &str) -> (Value, Vec<u8>) {
    optimize_with(model, &[&["--target", target], extra].concat(), tag)
}

/// [`optimize`] with the target given among `args`.
fn optimize_with(model: &Path, args: &[&str], tag: &str) -> (Value, Vec<u8>) {
    let dir = common::target_dir().join("shiftadd-test");
    std::fs::create_dir_all(&dir).unwrap();
    let (out, report) = (dir.join(format!("{tag}.onnx")), dir.join(format!("{tag}.json")));
    let status = Command::new(BIN)
        .arg(model)
        .args(["-q", "-o"])
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "{tag}: gos-opt failed");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (report, std::fs::read(&out).unwrap())
}

/// The layers of a report's optimized model that run as shift-add kernels.
fn shift_add_layers(report: &Value) -> Vec<&Value> {
    report["after"]["nodes"].as_array().unwrap().iter().filter(|n| !n["cost"]["shift_add"].is_null()).collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn processors_choose_shift_add_only_with_the_small_multiplier() {
    let Some(shared) = common::shared_dir() else { return };
    let model = shared.join("models/int8/mnist-8/model_qdq.onnx");
    let md = common::target_dir().join("shiftadd-test/mnist-m0plus.md");
    let (m0, bytes) = optimize(&model, "cortex-m0plus", &["--report", md.to_str().unwrap()], "mnist-m0plus");
    let md = std::fs::read_to_string(md).unwrap();
    let table = md.split("## Shift-add layers").nth(1).expect("the Markdown report lists the shift-add layers");
    assert_eq!(
        table.lines().filter(|l| l.starts_with("| Convolution") || l.starts_with("| Times")).count(),
        3,
        "{table}"
    );
    let layers = shift_add_layers(&m0);
    // Both convolutions and the final Gemm: multiplies take 32 cycles there.
    assert_eq!(layers.len(), 3, "{layers:#?}");
    for l in &layers {
        let sa = &l["cost"]["shift_add"];
        let digits = sa["digits_per_weight"].as_f64().unwrap();
        assert!(digits > 0.5 && digits < 4.0, "{digits}");
        assert!(sa["multiply_latency_s"].as_f64().unwrap() > l["cost"]["latency_s"].as_f64().unwrap());
        assert!(sa["additions"].as_u64().unwrap() > sa["multiplications"].as_u64().unwrap());
    }
    let (before, after) =
        (m0["before"]["cost"]["latency_s"].as_f64().unwrap(), m0["after"]["cost"]["latency_s"].as_f64().unwrap());
    // Priced as the kernels' instructions (shiftadd::TERM_INSTRUCTIONS per digit), the saving
    // is about 1.7x; the emulated Cortex-M0+ measures less (README, "Multiplication → shift/add").
    assert!(after < before * 0.75, "predicted {before} -> {after}");
    assert_eq!(m0["verified"], Value::Bool(true));
    assert!(contains(&bytes, gos_opt::shiftadd::CODED), "the coded weights say so in the file");
    // One-cycle multipliers keep the multiply kernels, also on a Cortex-M0+ built with one.
    for target in ["cortex-m4", "rpi3", "host"] {
        let (r, bytes) = optimize(&model, target, &[], &format!("mnist-{target}"));
        assert!(shift_add_layers(&r).is_empty(), "{target}");
        assert!(!contains(&bytes, gos_opt::shiftadd::CODED), "{target}");
    }
    let fast = common::target_dir().join("shiftadd-test/m0plus-fast-multiplier.toml");
    let source = gos_opt::cost::shipped_source("cortex-m0plus").unwrap();
    std::fs::write(&fast, source.replace("multiplier_cycles = 32 ", "multiplier_cycles = 1 ")).unwrap();
    let (r, bytes) = optimize_with(&model, &["--target-file", fast.to_str().unwrap()], "mnist-m0plus-fast");
    assert!(shift_add_layers(&r).is_empty());
    assert!(!contains(&bytes, gos_opt::shiftadd::CODED));
}

#[test]
fn coded_model_computes_what_the_original_computes() {
    let Some(shared) = common::shared_dir() else { return };
    let model = shared.join("models/int8/dscnn_kws/model_qdq.onnx");
    let (r, _) = optimize(&model, "cortex-m0plus", &[], "dscnn-m0plus");
    assert!(shift_add_layers(&r).len() >= 5);
    // Verification compared every output with the original's on the model's test sets.
    assert_eq!(r["verified"], Value::Bool(true));
    assert_eq!(r["verification"]["method"], "tract");
    assert_eq!(r["verification"]["passed"], Value::Bool(true));
    // Bit for bit: the weights are the same integers.
    for out in r["verification"]["outputs"].as_array().unwrap() {
        assert_eq!(out["figures"]["max_abs"].as_f64(), Some(0.0), "{out}");
    }
}

#[test]
fn a_datapath_adds_digits_instead_of_multiplying_every_int8_contraction() {
    let Some(shared) = common::shared_dir() else { return };
    // asic45 prices a contraction as a datapath's adders and multipliers, each as wide as its
    // sum (targets/asic45.toml, [shift_add]): every convolution and Gemm runs shift-add.
    for (model, contractions, most) in [("mnist-8", 3, 0.75), ("dscnn_kws", 10, 0.85)] {
        let path = shared.join(format!("models/int8/{model}/model_qdq.onnx"));
        let (r, bytes) = optimize(&path, "asic45", &["--objective", "energy"], &format!("{model}-asic45"));
        let layers = shift_add_layers(&r);
        assert_eq!(layers.len(), contractions, "{model}: {layers:#?}");
        for l in &layers {
            assert!(["Conv", "Gemm", "MatMul"].contains(&l["op"].as_str().unwrap()), "{l}");
            let sa = &l["cost"]["shift_add"];
            let energy = l["cost"]["energy_pj"].as_f64().unwrap();
            assert!(sa["multiply_energy_pj"].as_f64().unwrap() > energy, "{model}: {l}");
            assert!(sa["additions"].as_u64().unwrap() > sa["multiplications"].as_u64().unwrap());
        }
        let energy = |side: &str| r[side]["cost"]["energy_pj"].as_f64().unwrap();
        // The memory traffic, the same in both forms, bounds the saving (README).
        assert!(energy("after") < most * energy("before"), "{model}: {} -> {}", energy("before"), energy("after"));
        assert!(contains(&bytes, gos_opt::shiftadd::CODED));
        assert_eq!(r["verified"], Value::Bool(true));
        for out in r["verification"]["outputs"].as_array().unwrap() {
            assert_eq!(out["figures"]["max_abs"].as_f64(), Some(0.0), "{model}: {out}");
        }
    }
}
