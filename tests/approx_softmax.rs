//! Softmax in base 2 (`rules/approx/softmax.rules`) end to end: a small model (scaled logits →
//! Softmax, attention's shape), built here, run through `--mode approx` under a
//! relative-error budget on random data. The Softmax is replaced by the base-2 form (the
//! report's applied rewrite and the written model's ops say so); the written model loads in
//! tract and agrees with the original on held-out samples within the form's fitted error; the
//! cost model prices the form as one kernel, below Softmax; and the Rust back end runs it as
//! one `k_softmax2` call whose outputs agree with tract on the written model.

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
/// Rows (heads × queries).
const ROWS: usize = 8;
/// Their length (keys).
const KEYS: usize = 49;

/// `p = Softmax(3·x, axis -1)` with `x` `[1, ROWS, KEYS]`, opset 17.
fn model() -> Graph {
    let meta = ModelMeta { ir_version: 8, opset_imports: vec![(String::new(), 17)], ..ModelMeta::default() };
    let mut g = Graph::new(meta);
    let value = |g: &mut Graph, name: &str, shape: Vec<usize>, kind| {
        g.add_value(Value { name: name.into(), ty: Some(TensorType::new(DType::F32, shape)), kind, ..Value::default() })
    };
    let x = value(&mut g, "x", vec![1, ROWS, KEYS], ValueKind::Input);
    g.inputs.push(x);
    let scale = g.add_const("scale", Arc::new(Tensor::f32(vec![], vec![3.0])), ConstOrigin::Derived);
    let (s, p) = (
        value(&mut g, "s", vec![1, ROWS, KEYS], ValueKind::Unset),
        value(&mut g, "p", vec![1, ROWS, KEYS], ValueKind::Unset),
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

/// `n` samples of `[ROWS, KEYS]` values, normal (Box–Muller on a fixed LCG), as raw f32.
fn samples(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((state >> 8) as f64 + 0.5) / (1u32 << 24) as f64
    };
    (0..n * ROWS * KEYS)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

/// The output of the model in `bytes` on every sample, run in tract.
fn outputs(bytes: &[u8], values: &[f32]) -> Vec<Vec<f32>> {
    let ty = TensorType::new(DType::F32, vec![1, ROWS, KEYS]);
    let model =
        TractModel::load("softmax", bytes, None, &HashMap::from([("x".to_string(), ty)])).expect("tract loads it");
    values
        .chunks(ROWS * KEYS)
        .enumerate()
        .map(|(i, row)| {
            let inputs = HashMap::from([("x".to_string(), Tensor::f32(vec![1, ROWS, KEYS], row.to_vec()))]);
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

#[test]
fn softmax_becomes_base2_within_its_fitted_error_and_runs_as_one_kernel() {
    let dir = target_dir().join("approx-softmax");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let original = gos_opt::onnx::export_bytes(&model()).expect("the model exports");
    let held = samples(40, 7);
    let budget = 0.02;
    let (written_bytes, report) =
        common::approx_rpi3(BIN, &dir, &original, &samples(40, 3), &held, &format!("rel={budget}"));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let a = &report["approx"];
    let applied = a["applied"].as_array().expect("applied rewrites");
    assert!(applied.iter().any(|r| r["rule"] == "softmax-base2" && r["family"] == "softmax"), "{applied:?}");

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
    let (reference, approx) = (outputs(&original, &held), outputs(&written_bytes, &held));
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
    let root = dir.join("emit");
    let module = root.join("src").join("softmax2");
    let report = gos_opt::emit::emit_rust(&written, &module).expect("the result emits as Rust");
    assert!(report.kernels.iter().any(|k| k == "k_softmax2"), "{report:?}");
    let source = std::fs::read_to_string(module.join("model.rs")).unwrap();
    assert_eq!(source.matches("k_softmax2::<").count(), 1);
    let runner = compile(&root, &["softmax2".to_string()], &[]).unwrap_or_else(|e| panic!("{e}"));
    let (input, output, jobs) = (root.join("x.f32"), root.join("y.f32"), root.join("jobs"));
    write_f32(&input, &held);
    std::fs::write(&jobs, format!("softmax2 {} {}\n", input.display(), output.display())).unwrap();
    let run = Command::new(&runner).arg(&jobs).output().expect("run the generated code");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let actual: Vec<f32> =
        std::fs::read(&output).unwrap().chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let expected: Vec<f32> = approx.concat();
    let (abs, rel, ok) = agree(&expected, &actual);
    assert!(ok, "generated code against tract on the written model: max abs {abs:.2e}, max rel {rel:.2e}");
}
