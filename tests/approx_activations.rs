//! Activation approximations (`rules/approx/activation.rules`) end to end: a small model with an
//! Erf-form GELU, a SiLU, a Tanh and a Sigmoid, built here, run through `--mode approx` under a
//! relative-error budget on random data. Its smooth activations are replaced (the report's
//! applied rewrites and the written model's ops say so), the written model loads in tract and
//! stays within the budget on held-out samples re-run here, and the Rust back end has a kernel
//! for every op of it. The target cost model prices each hard form below the activation it
//! replaces.

mod common;

use gos_opt::cost::{self, Objective};
use gos_opt::graph::{ConstOrigin, Graph, ModelMeta, Node, Value, ValueId, ValueKind};
use gos_opt::ops::{Binary, BinaryKind, Clip, HardSigmoid, Op, Unary, UnaryKind};
use gos_opt::tensor::{DType, Tensor, TensorType};
use gos_opt::verify::TractModel;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");
/// Features per sample.
const WIDTH: usize = 256;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("approx_activations").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creates the scratch directory");
    dir
}

fn unary(kind: UnaryKind) -> Op {
    Op::Unary(Unary { kind })
}

fn binary(kind: BinaryKind) -> Op {
    Op::Binary(Binary::new(kind))
}

/// `y = σ(2·tanh(silu(gelu(1.5·x) - 0.25)))` on `[1, WIDTH]` floats, the GELU in PyTorch's Erf
/// export (`x·(erf(x/√2) + 1)·0.5`), opset 17.
fn model() -> Graph {
    let meta = ModelMeta { ir_version: 8, opset_imports: vec![(String::new(), 17)], ..ModelMeta::default() };
    let mut g = Graph::new(meta);
    let ty = TensorType::new(DType::F32, vec![1, WIDTH]);
    let x = g.add_value(Value { name: "x".into(), ty: Some(ty.clone()), kind: ValueKind::Input, ..Value::default() });
    g.inputs.push(x);
    let scalar = |g: &mut Graph, name: &str, v: f32| {
        g.add_const(name, Arc::new(Tensor::f32(vec![], vec![v])), ConstOrigin::Derived)
    };
    let (k, r2, one, half, shift, two) = (
        scalar(&mut g, "c_k", 1.5),
        scalar(&mut g, "c_sqrt2", std::f32::consts::SQRT_2),
        scalar(&mut g, "c_one", 1.0),
        scalar(&mut g, "c_half", 0.5),
        scalar(&mut g, "c_shift", -0.25),
        scalar(&mut g, "c_two", 2.0),
    );
    let node = |g: &mut Graph, name: &str, op: Op, inputs: &[ValueId]| -> ValueId {
        let out = g.add_value(Value { name: format!("{name}_out"), ty: Some(ty.clone()), ..Value::default() });
        let inputs = inputs.iter().map(|&v| Some(v)).collect();
        g.add_node(Node { name: name.into(), op, inputs, outputs: vec![out], doc_string: String::new() })
            .expect("a well-formed node");
        out
    };
    let a = node(&mut g, "scale", binary(BinaryKind::Mul), &[x, k]);
    let d = node(&mut g, "gelu_div", binary(BinaryKind::Div), &[a, r2]);
    let e = node(&mut g, "gelu_erf", unary(UnaryKind::Erf), &[d]);
    let p = node(&mut g, "gelu_add", binary(BinaryKind::Add), &[e, one]);
    let m = node(&mut g, "gelu_mul", binary(BinaryKind::Mul), &[a, p]);
    let gelu = node(&mut g, "gelu_half", binary(BinaryKind::Mul), &[m, half]);
    let b = node(&mut g, "shift", binary(BinaryKind::Add), &[gelu, shift]);
    let s = node(&mut g, "silu_sigmoid", unary(UnaryKind::Sigmoid), &[b]);
    let silu = node(&mut g, "silu_mul", binary(BinaryKind::Mul), &[b, s]);
    let t = node(&mut g, "tanh", unary(UnaryKind::Tanh), &[silu]);
    let t2 = node(&mut g, "double", binary(BinaryKind::Mul), &[t, two]);
    let y = node(&mut g, "sigmoid", unary(UnaryKind::Sigmoid), &[t2]);
    g.outputs.push(y);
    g
}

/// `n` samples of `WIDTH` values, normal with standard deviation 1.2 (Box–Muller on a fixed
/// LCG), as raw little-endian f32.
fn samples(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((state >> 8) as f64 + 0.5) / (1u32 << 24) as f64
    };
    (0..n * WIDTH)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            (1.2 * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

/// The model's output on every sample, run in tract.
fn outputs(bytes: &[u8], values: &[f32]) -> Vec<Vec<f32>> {
    let ty = TensorType::new(DType::F32, vec![1, WIDTH]);
    let types = HashMap::from([("x".to_string(), ty)]);
    let model = TractModel::load("activations", bytes, None, &types).expect("tract loads the model");
    values
        .chunks(WIDTH)
        .enumerate()
        .map(|(i, row)| {
            let inputs = HashMap::from([("x".to_string(), Tensor::f32(vec![1, WIDTH], row.to_vec()))]);
            model.run(i, &inputs).expect("tract runs it")[0].as_f32().expect("float output").to_vec()
        })
        .collect()
}

fn op_types(bytes: &[u8]) -> Vec<String> {
    let g = gos_opt::onnx::import_bytes(bytes, None, &Default::default()).expect("the written model imports");
    g.topo_order().expect("a DAG").into_iter().map(|n| g.node(n).op.onnx_name().to_string()).collect()
}

#[test]
fn smooth_activations_are_replaced_within_the_budget_and_the_result_runs() {
    let dir = scratch("model");
    let original = gos_opt::onnx::export_bytes(&model()).expect("the model exports");
    let held = samples(200, 7);
    let budget = 0.05;
    let (written, report) =
        common::approx_rpi3(BIN, &dir, &original, &samples(200, 3), &held, &format!("rel={budget}"));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let a = &report["approx"];

    // Activations were replaced, by this family's rules.
    let applied = a["applied"].as_array().expect("applied rewrites");
    let rules: Vec<&str> =
        applied.iter().filter(|r| r["family"] == "activation").map(|r| r["rule"].as_str().unwrap()).collect();
    assert!(rules.len() >= 3, "{applied:?}");
    assert!(a["cost"]["speedup_vs_exact"].as_f64().unwrap() > 1.0, "{}", a["cost"]);
    let ops = op_types(&written);
    let transcendental =
        |ops: &[String]| ops.iter().filter(|o| ["Erf", "Sigmoid", "Tanh"].contains(&o.as_str())).count();
    assert!(transcendental(&ops) < transcendental(&op_types(&original)), "{ops:?}");

    // Within the budget on the held-out samples, re-measured in tract against the original.
    let (reference, approx) = (outputs(&original, &held), outputs(&written, &held));
    let (mut num, mut den) = (0f64, 0f64);
    for (r, y) in reference.iter().zip(&approx) {
        for (&r, &y) in r.iter().zip(y) {
            num += (f64::from(y) - f64::from(r)).powi(2);
            den += f64::from(r).powi(2);
        }
    }
    let rel = (num / den).sqrt();
    assert!(rel <= budget, "held-out relative error {rel}");
    let reported = a["result"]["heldout"]["rel_l2"].as_f64().unwrap();
    assert!((rel - reported).abs() < 1e-4, "{rel} vs the report's {reported}");
    assert!(rel > 0.0, "something approximate was applied");

    // The Rust back end has a kernel for every op of the result.
    let graph = gos_opt::onnx::import_bytes(&written, None, &Default::default()).unwrap();
    gos_opt::emit::generate(&graph, &gos_opt::emit::EmitOptions::default()).expect("the result emits as Rust");
}

#[test]
fn hard_forms_are_cheaper_than_the_activations_they_replace() {
    let y = TensorType::new(DType::F32, vec![1, 64, 56, 56]);
    let ins = [Some(&y)];
    let outs = [y.clone()];
    let hard_sigmoid = Op::HardSigmoid(HardSigmoid { alpha: 0.2, beta: 0.5 });
    let clip = Op::Clip(Clip { min: Some(-1.0), max: Some(1.0) });
    for target in ["rpi3", "cortex-m4"] {
        let profile = cost::load_target(target).unwrap();
        let price = |op: &Op| cost::kernel_cost(&profile, op, &ins, &outs).objective(Objective::Latency);
        let sigmoid = price(&unary(UnaryKind::Sigmoid));
        assert!(price(&hard_sigmoid) < sigmoid / 4.0, "{target}: HardSigmoid against Sigmoid");
        assert!(price(&clip) < price(&unary(UnaryKind::Tanh)) / 4.0, "{target}: Clip against Tanh");
        assert!(price(&unary(UnaryKind::HardSwish)) < sigmoid, "{target}: HardSwish against Sigmoid");
        // x·HardSigmoid(x) (two kernels) against the Erf form of GELU (Div, Erf, Add, Mul, Mul).
        let mul = price(&binary(BinaryKind::Mul));
        let erf_form = price(&binary(BinaryKind::Div)) + price(&unary(UnaryKind::Erf)) + 3.0 * mul;
        assert!(price(&hard_sigmoid) + mul < erf_form / 2.0, "{target}: hard GELU against its Erf form");
    }
}
