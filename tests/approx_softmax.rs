//! Cheaper Softmaxes (`rules/approx/softmax.rules`) end to end: a small model (scaled logits →
//! Softmax, attention's shape), built here, run through `--mode approx` under a
//! relative-error budget on random data.
//!
//! - Base 2: on 8 rows (where the exp table below costs about what it saves), the Softmax is
//!   replaced by the base-2 form (the report's applied rewrite and the written
//!   model's ops say so); the written model loads in tract and agrees with the original on
//!   held-out samples within the form's fitted error; the cost model prices the form as one
//!   kernel, below Softmax; and the Rust back end runs it as one `k_softmax2` call whose
//!   outputs agree with tract on the written model.
//! - The exp table: on attention's 196 rows, the Softmax's input is quantized to 8 bits instead
//!   (`softmax-table8`); the written model runs in tract within the error the report
//!   measured, is priced below the original, and the Rust back end runs the DequantizeLinear →
//!   Softmax pair as one `k_softmax_q8` call on the integers, agreeing with tract.

mod common;

use common::emitted::{agree, compile};
use common::{target_dir, write_f32};
use gos_opt::fit::activation::fit_softermax;
use gos_opt::graph::{ConstOrigin, Graph, ModelMeta, Node, Value, ValueId, ValueKind};
use gos_opt::ops::{Binary, BinaryKind, Op, Softmax};
use gos_opt::tensor::{DType, Tensor, TensorType};
use gos_opt::verify::TractModel;
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");
/// Rows (heads × queries) of the base-2 case.
const ROWS: usize = 8;
/// Rows of the exp table's case: attention's 4 heads × 49 queries (on 8 rows, the table's
/// exps cost about what they save, and the base-2 form is cheaper).
const TABLE_ROWS: usize = 196;
/// Their length (keys).
const KEYS: usize = 49;

/// `p = Softmax(scale·x, axis -1)` with `x` `[1, rows, KEYS]`, opset 17.
fn model(rows: usize, scale: f32) -> Graph {
    let meta = ModelMeta { ir_version: 8, opset_imports: vec![(String::new(), 17)], ..ModelMeta::default() };
    let mut g = Graph::new(meta);
    let value = |g: &mut Graph, name: &str, shape: Vec<usize>, kind| {
        g.add_value(Value { name: name.into(), ty: Some(TensorType::new(DType::F32, shape)), kind, ..Value::default() })
    };
    let x = value(&mut g, "x", vec![1, rows, KEYS], ValueKind::Input);
    g.inputs.push(x);
    let scale = g.add_const("scale", Arc::new(Tensor::f32(vec![], vec![scale])), ConstOrigin::Derived);
    let (s, p) = (
        value(&mut g, "s", vec![1, rows, KEYS], ValueKind::Unset),
        value(&mut g, "p", vec![1, rows, KEYS], ValueKind::Unset),
    );
    g.outputs.push(p);
    let mut node = |name: &str, op: Op, inputs: &[ValueId], out: ValueId| {
        let inputs = inputs.iter().map(|&v| Some(v)).collect();
        g.add_node(Node { name: name.into(), op, inputs, outputs: vec![out], doc_string: String::new() })
            .expect("a well-formed node");
    };
    node("scores", Op::Binary(Binary::new(BinaryKind::Mul)), &[x, scale], s);
    node("softmax", Op::Softmax(Softmax { axis: -1, flatten_trailing: false }), &[s], p);
    g
}

/// `n` samples of `[rows, KEYS]` values, normal (Box–Muller on a fixed LCG), as raw f32.
fn samples(n: usize, rows: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((state >> 8) as f64 + 0.5) / (1u32 << 24) as f64
    };
    (0..n * rows * KEYS)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

/// The output of the model in `bytes` (of `rows` rows) on every sample, run in tract.
fn outputs(bytes: &[u8], values: &[f32], rows: usize) -> Vec<Vec<f32>> {
    let ty = TensorType::new(DType::F32, vec![1, rows, KEYS]);
    let model =
        TractModel::load("softmax", bytes, None, &HashMap::from([("x".to_string(), ty)])).expect("tract loads it");
    values
        .chunks(rows * KEYS)
        .enumerate()
        .map(|(i, row)| {
            let inputs = HashMap::from([("x".to_string(), Tensor::f32(vec![1, rows, KEYS], row.to_vec()))]);
            model.run(i, &inputs).expect("tract runs it")[0].as_f32().expect("float output").to_vec()
        })
        .collect()
}

fn import(bytes: &[u8]) -> Graph {
    gos_opt::onnx::import_bytes(bytes, None, &Default::default()).expect("the model imports")
}

fn rpi3_latency(graph: &Graph) -> f64 {
    let profile = gos_opt::cost::load_target("rpi3").unwrap();
    let inspection = gos_opt::inspect::inspect_on(graph, Some(&profile), gos_opt::cost::Objective::Latency).unwrap();
    inspection.cost.expect("priced").latency_s
}

/// One approx-mode run of a model on 40 calibration and 40 held-out samples.
struct Run {
    dir: std::path::PathBuf,
    original: Vec<u8>,
    held: Vec<f32>,
    written: Vec<u8>,
    /// The report's `approx` part.
    report: serde_json::Value,
}

/// Runs `graph` (of `rows` rows) through `--mode approx` on rpi3 under `rel=budget` in
/// `target/NAME`, and checks that `rule` (of the softmax family) was applied.
fn approx(name: &str, graph: &Graph, rows: usize, budget: f64, rule: &str) -> Run {
    let dir = target_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let original = gos_opt::onnx::export_bytes(graph).expect("the model exports");
    let held = samples(40, rows, 7);
    let (written, report) =
        common::approx_rpi3(BIN, &dir, &original, &samples(40, rows, 3), &held, &format!("rel={budget}"));
    let report: serde_json::Value = serde_json::from_str::<serde_json::Value>(&report).unwrap()["approx"].clone();
    let applied = report["applied"].as_array().expect("applied rewrites");
    assert!(applied.iter().any(|r| r["rule"] == rule && r["family"] == "softmax"), "{applied:?}");
    Run { dir, original, held, written, report }
}

#[test]
fn softmax_becomes_base2_within_its_fitted_error_and_runs_as_one_kernel() {
    let budget = 0.02;
    let Run { dir, original, held, written: written_bytes, report: a } =
        approx("approx-softmax", &model(ROWS, 3.0), ROWS, budget, "softmax-base2");

    // The written model: the base-2 form instead of Softmax, priced as one kernel below it.
    let written = import(&written_bytes);
    let ops: Vec<&str> = written.dag.node_indices().map(|n| written.node(n).op.onnx_name()).collect();
    assert!(!ops.contains(&"Softmax") && ops.contains(&"Gather") && ops.contains(&"Cast"), "{ops:?}");
    let forms = gos_opt::softermax::forms(&written);
    assert_eq!(forms.len(), 1, "{ops:?}");
    let form = forms.values().next().unwrap();
    assert_eq!((form.axis, form.poly.len()), (2, 3));
    assert!(rpi3_latency(&written) < rpi3_latency(&import(&original)));

    // Held out, in tract: each probability within the fitted error of Softmax's (twice the
    // polynomial's relative error, numerator and sum, plus 2^-H for a clipped term).
    let eps = fit_softermax(2).unwrap().max_rel_error;
    let (reference, approx) = (outputs(&original, &held, ROWS), outputs(&written_bytes, &held, ROWS));
    let mut worst = 0f64;
    for (r, y) in reference.iter().flatten().zip(approx.iter().flatten()) {
        let (r, y) = (f64::from(*r), f64::from(*y));
        assert!((y - r).abs() <= (2.0 * eps + 1e-5) * r + (-f64::from(form.hi)).exp2(), "{y} vs {r}");
        worst = worst.max((y - r).abs() / r.max(1e-6));
    }
    assert!(worst > 0.0, "something approximate was applied");
    let rel = a["result"]["heldout"]["rel_l2"].as_f64().unwrap();
    assert!(rel <= budget, "held-out relative error {rel}");

    // The Rust back end runs the form as one k_softmax2 call; its outputs agree with tract's
    // run of the written model (within 1e-4: the sum's order and a multiply by 1/Σ differ).
    let actual = run_emitted(&dir, "softmax2", &written, &held, "k_softmax2");
    let expected: Vec<f32> = approx.concat();
    let (abs, rel, ok) = agree(&expected, &actual);
    assert!(ok, "generated code against tract on the written model: max abs {abs:.2e}, max rel {rel:.2e}");
}

/// Emits `graph` as the Rust module `name` under `dir`, checks that it calls `kernel` once,
/// and runs it on `inputs`: its outputs.
fn run_emitted(dir: &std::path::Path, name: &str, graph: &Graph, inputs: &[f32], kernel: &str) -> Vec<f32> {
    let root = dir.join("emit");
    let module = root.join("src").join(name);
    let report = gos_opt::emit::emit_rust(graph, &module).expect("the result emits as Rust");
    assert!(report.kernels.iter().any(|k| k == kernel), "{report:?}");
    let source = std::fs::read_to_string(module.join("model.rs")).unwrap();
    assert_eq!(source.matches(&format!("{kernel}::<")).count(), 1);
    let runner = compile(&root, &[name.to_string()], &[]).unwrap_or_else(|e| panic!("{e}"));
    let (input, output, jobs) = (root.join("x.f32"), root.join("y.f32"), root.join("jobs"));
    write_f32(&input, inputs);
    std::fs::write(&jobs, format!("{name} {} {}\n", input.display(), output.display())).unwrap();
    let run = Command::new(&runner).arg(&jobs).output().expect("run the generated code");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    std::fs::read(&output).unwrap().chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// `sqrt(Σ‖y − r‖² / Σ‖r‖²)` over every value: the report's relative error.
fn rel_l2(reference: &[Vec<f32>], actual: &[Vec<f32>]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (r, y) in reference.iter().flatten().zip(actual.iter().flatten()) {
        num += (f64::from(*y) - f64::from(*r)).powi(2);
        den += f64::from(*r).powi(2);
    }
    (num / den).sqrt()
}

#[test]
fn softmax_of_attention_rows_reads_an_8_bit_input_and_runs_as_one_table_kernel() {
    let original_graph = model(TABLE_ROWS, 1.0);
    let budget = 0.05;
    let Run { dir, original, held, written: written_bytes, report: a } =
        approx("approx-softmax-table8", &original_graph, TABLE_ROWS, budget, "softmax-table8");

    // The written model: Softmax of the DequantizeLinear of 8-bit integers, one table kernel,
    // priced below the original.
    let written = import(&written_bytes);
    let ops: Vec<&str> = written.dag.node_indices().map(|n| written.node(n).op.onnx_name()).collect();
    assert!(ops.contains(&"Softmax") && ops.contains(&"QuantizeLinear") && !ops.contains(&"Gather"), "{ops:?}");
    let forms = gos_opt::softmax8::forms(&written);
    assert_eq!(forms.len(), 1, "{ops:?}");
    let form = forms.values().next().unwrap();
    assert_eq!(form.layout, [TABLE_ROWS, KEYS, 1]);
    assert_eq!(written.ty(form.q).map(|t| t.dtype), Some(DType::U8));
    assert!(rpi3_latency(&written) < rpi3_latency(&original_graph));

    // Held out, in tract: the relative error the report measured, within the budget, and each
    // probability within the input rounding's bound (each term moves by e^(±s/2), so the
    // ratio to Softmax's is within e^(±s)) in the rows where no value saturated.
    let (reference, approx) = (outputs(&original, &held, TABLE_ROWS), outputs(&written_bytes, &held, TABLE_ROWS));
    let rel = rel_l2(&reference, &approx);
    let measured = a["result"]["heldout"]["rel_l2"].as_f64().unwrap();
    assert!(rel > 0.0 && rel <= budget && (rel - measured).abs() <= 1e-4 * measured.max(1.0), "{rel} vs {measured}");
    let s = f64::from(form.scale);
    let zero = written.node(form.dq).inputs[2].and_then(|z| written.constant(z)).unwrap().to_f64_vec().unwrap()[0];
    let (lo, hi) = (-zero * s, (255.0 - zero) * s);
    let (reference, approx_all) = (reference.concat(), approx.concat());
    let rows = reference.chunks(KEYS).zip(approx_all.chunks(KEYS)).zip(held.chunks(KEYS));
    let mut checked = 0;
    for ((r_row, y_row), x_row) in rows {
        // The logits are the input (scale 1).
        if x_row.iter().any(|&v| f64::from(v) < lo - s / 2.0 || f64::from(v) > hi + s / 2.0) {
            continue;
        }
        checked += 1;
        for (r, y) in r_row.iter().zip(y_row) {
            let (r, y) = (f64::from(*r), f64::from(*y));
            assert!((y - r).abs() <= s.exp_m1() * r + 1e-6, "{y} vs {r} (scale {s})");
        }
    }
    assert!(checked > 0, "every row saturated");

    // The Rust back end runs the pair as one k_softmax_q8 call on the integers; its outputs
    // agree with tract's run of the written model (the same integers, then the table's
    // exponentials against tract's, the sum's order and a multiply by 1/Σ: within 1e-4).
    let actual = run_emitted(&dir, "softmax8", &written, &held, "k_softmax_q8");
    let (abs, rel, ok) = agree(&approx_all, &actual);
    assert!(ok, "generated code against tract on the written model: max abs {abs:.2e}, max rel {rel:.2e}");
}
