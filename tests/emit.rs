//! The Rust back end against tract: every shared model without opaque ops is emitted as Rust,
//! all modules are compiled together as one `#![no_std]` library with `-D warnings` (one rustc
//! call, in `target/emit-check`), a small runner executes them on the models' test sets (with an
//! arena filled with NaN, so a read of a tensor nobody wrote shows), and the outputs are compared
//! with tract on the original model: each value within 1e-4 absolute or 1e-4 relative.
//!
//! Models with `com.microsoft` ops (the int8 QOperator models) must fail with an error naming
//! the opaque nodes.

mod common;

use common::emitted::{compile, judge, last_step};
use common::{shared_dir, target_dir, types_of};
use gos_opt::emit::{self, EmitError, EmitOptions, EmitReport, Quantized};
use gos_opt::onnx::{import, ImportOptions};
use gos_opt::tensor::{DType, Tensor, TensorType};
use gos_opt::verify::{io_names, load_test_sets, random_sets, InputSet, RandomSpec, TractModel};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Models the back end cannot do yet, with the reason (printed, not failed).
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// One model to emit and run.
struct Case {
    /// Label in messages.
    label: String,
    /// Rust identifier of its module.
    ident: String,
    path: PathBuf,
    /// Input sets (test sets, or seeded random inputs).
    inputs: Vec<InputSet>,
    /// The first stored output of each set (onnxruntime's), when there is one.
    stored: Vec<Option<Tensor>>,
    /// How quantized nodes are computed.
    quantized: Quantized,
}

fn ident(label: &str) -> String {
    let s: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    format!("m_{}", s.split_whitespace().collect::<Vec<_>>().join("_"))
}

fn case_from_test_sets(label: &str, path: PathBuf, suffix: Option<&str>) -> Result<Case, String> {
    let dir = path.parent().ok_or("no directory")?;
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (declared, _) = io_names(&bytes).ok_or("not ONNX")?;
    let sets = load_test_sets(dir, suffix).map_err(|e| e.to_string())?;
    let inputs =
        sets.iter().map(|s| s.input_set(&declared)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    if inputs.is_empty() {
        return Err("no test sets".into());
    }
    let stored = sets.iter().map(|s| s.expected().into_iter().next()).collect();
    Ok(Case { label: label.into(), ident: ident(label), path, inputs, stored, quantized: Quantized::Integer })
}

/// Every shared model without opaque ops.
fn cases(shared: &Path) -> Vec<Result<Case, (String, String)>> {
    let m = shared.join("models");
    let mut out = Vec::new();
    let mut push = |label: String, r: Result<Case, String>| out.push(r.map_err(|e| (label, e)));
    for name in [
        "dscnn_kws",
        "fc_autoencoder_ad01",
        "mobilenetv1_025_vww96",
        "resnet8_cifar10_pretrainedResnet",
        "resnet_large_cifar10",
    ] {
        let label = format!("mlperf-tiny/{name}");
        push(
            label.clone(),
            case_from_test_sets(&label, m.join("mlperf-tiny/onnx").join(name).join("model.onnx"), None),
        );
    }
    push("mnist-8/model".into(), case_from_test_sets("mnist-8/model", m.join("mnist-8/model.onnx"), None));
    let pytorch = m.join("mnist-8/pytorch.onnx");
    let r = std::fs::read(&pytorch).map_err(|e| e.to_string()).and_then(|b| {
        let (names, _) = io_names(&b).ok_or("not ONNX")?;
        let types: HashMap<String, TensorType> =
            names.into_iter().map(|n| (n, TensorType::new(DType::F32, vec![1, 784]))).collect();
        let spec = RandomSpec { seed: 1, float_range: (0.0, 1.0), ..RandomSpec::default() };
        let inputs = random_sets(&types, &spec, 3).map_err(|e| e.to_string())?;
        let stored = vec![None; inputs.len()];
        Ok(Case {
            label: "mnist-8/pytorch".into(),
            ident: ident("mnist-8/pytorch"),
            path: pytorch.clone(),
            inputs,
            stored,
            quantized: Quantized::Integer,
        })
    });
    push("mnist-8/pytorch".into(), r);
    for name in ["cls", "rec"] {
        let label = format!("ppocr/{name}");
        push(label.clone(), case_from_test_sets(&label, m.join("ppocr").join(name).join("model.onnx"), None));
    }
    for name in ["cnn_small", "hybrid_vit", "vit_tiny"] {
        let label = format!("trained-tiny/{name}");
        push(label.clone(), case_from_test_sets(&label, m.join("trained-tiny").join(name).join("model.onnx"), None));
    }
    let label = "int8/cnn_small (qdq, pooled before quantizing)";
    let case = case_from_test_sets(label, m.join("int8/cnn_small/model_qdq.onnx"), Some("qdq"))
        .and_then(|c| Ok(Case { path: pooled_before_quantizing(&c.path)?, stored: vec![None; c.inputs.len()], ..c }));
    push(label.into(), case);
    for name in common::suite::INT8_MODELS {
        let path = m.join("int8").join(name).join("model_qdq.onnx");
        let label = format!("int8/{name} (qdq)");
        push(label.clone(), case_from_test_sets(&label, path.clone(), Some("qdq")));
        // The same with float kernels on dequantized values.
        let label = format!("int8/{name} (qdq, float kernels)");
        let case = case_from_test_sets(&label, path, Some("qdq"));
        push(label, case.map(|c| Case { quantized: Quantized::Float, ..c }));
    }
    out
}

/// cnn_small's int8 model without the QuantizeLinear/DequantizeLinear pairs after its second
/// convolution and pool, written to `target/emit-check`: a float MaxPool and Flatten between an
/// integer kernel and its QuantizeLinear (the form approx mode writes), which the back end runs
/// on the integers.
fn pooled_before_quantizing(path: &Path) -> Result<PathBuf, String> {
    let mut g = import(path, &ImportOptions::default()).map_err(|e| e.to_string())?;
    for name in ["relu2_out", "pool2_out"] {
        let node = |g: &gos_opt::graph::Graph, op: &str| {
            g.dag.node_indices().find(|&n| g.node(n).name == format!("{name}_{op}")).ok_or(format!("no {name}_{op}"))
        };
        let (q, dq) = (node(&g, "QuantizeLinear")?, node(&g, "DequantizeLinear")?);
        let (from, to) = (g.node(q).inputs[0], g.node(dq).outputs[0]);
        let readers: Vec<_> = g.dag.node_indices().filter(|&n| g.node(n).inputs.contains(&Some(to))).collect();
        for r in readers {
            let mut n = g.remove_node(r).expect("a reader");
            n.inputs.iter_mut().filter(|v| **v == Some(to)).for_each(|v| *v = from);
            g.add_node(n).map_err(|e| e.to_string())?;
        }
        g.remove_node(q);
        g.remove_node(dq);
    }
    let out = target_dir().join("emit-check/cnn_small_pooled.onnx");
    std::fs::create_dir_all(out.parent().expect("dir")).map_err(|e| e.to_string())?;
    std::fs::write(&out, gos_opt::onnx::export_bytes(&g).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Imports a case with the static shapes of its first input set and emits it into `dir`; with
/// the quantization step of the last quantized tensor before the first output (a value one step
/// off there moves the output by at most about one step: Softmax, reshapes and the
/// DequantizeLinear itself do not amplify it).
fn emit_case(case: &Case, dir: &Path) -> Result<(EmitReport, Option<f64>), String> {
    let shapes = types_of(&case.inputs[0]).into_iter().map(|(k, t)| (k, t.shape)).collect();
    let opts = ImportOptions { input_shapes: shapes, ..ImportOptions::default() };
    let graph = import(&case.path, &opts).map_err(|e| e.to_string())?;
    let step = last_step(&graph);
    let options = EmitOptions { quantized: case.quantized, ..EmitOptions::default() };
    emit::emit_rust_with(&graph, dir, &options).map(|r| (r, step)).map_err(|e| e.to_string())
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_f64_vec().expect("numeric").into_iter().map(|v| v as f32).collect()
}

#[test]
fn generated_code_agrees_with_tract_on_every_shared_model() {
    let Some(shared) = shared_dir() else { return };
    let root = target_dir().join("emit-check");
    let src = root.join("src");
    std::fs::create_dir_all(&src).expect("create target/emit-check");
    let mut failures = Vec::new();
    let mut emitted = Vec::new();
    for case in cases(&shared) {
        let case = match case {
            Ok(c) => c,
            Err((label, e)) => {
                failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        let gap = KNOWN_GAPS.iter().find(|(l, _)| *l == case.label);
        match emit_case(&case, &src.join(&case.ident)) {
            Ok((r, step)) => {
                assert!(r.arena_bytes <= r.unplanned_bytes, "{}: arena larger than its tensors", case.label);
                println!(
                    "{}: {} steps, arena {} B (unplanned {} B), weights {} B{}, {} fused, {} in place, {} aliases",
                    case.label,
                    r.steps,
                    r.arena_bytes,
                    r.unplanned_bytes,
                    r.weights_bytes,
                    if r.weights_bin.is_some() { " in weights.bin" } else { "" },
                    r.fused,
                    r.in_place,
                    r.aliases
                );
                if case.quantized == Quantized::Float {
                    assert_eq!(r.integer_kernels, 0, "{}: integer kernels under float kernels", case.label);
                }
                // Integer sums are exact; a float evaluation can round a value near a rounding
                // boundary the other way: within one step of the quantized output.
                let step = step.filter(|_| r.integer_kernels > 0);
                emitted.push((case, step));
            }
            Err(e) if gap.is_some() => println!("known gap: {}: {} ({e})", case.label, gap.expect("some").1),
            Err(e) => failures.push(format!("{}: cannot emit: {e}", case.label)),
        }
    }
    let idents: Vec<String> = emitted.iter().map(|(c, _)| c.ident.clone()).collect();
    // The several-inputs-and-outputs form is compiled too (no shared model has it).
    emit::emit_rust(&multi_io_graph(), &src.join("m_multi_io")).expect("emit the two-input graph");
    let runner = compile(&root, &idents, &["m_multi_io"]).unwrap_or_else(|e| panic!("{e}"));
    // Inputs, references and jobs.
    let io = root.join("io");
    std::fs::create_dir_all(&io).expect("create io");
    let mut jobs = String::new();
    let mut expected = Vec::new();
    for (case, step) in &emitted {
        let dir = case.path.parent().expect("dir");
        let bytes = std::fs::read(&case.path).expect("model");
        let types = types_of(&case.inputs[0]);
        let tract = match TractModel::load("original", &bytes, Some(dir), &types) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{}: tract cannot load the original: {e}", case.label));
                continue;
            }
        };
        for (k, set) in case.inputs.iter().enumerate() {
            let name = &tract.input_names()[0];
            let x = f32s(&set[name]);
            let reference = match tract.run(k, set) {
                Ok(mut out) => f32s(&out.remove(0)),
                Err(e) => {
                    failures.push(format!("{}: tract cannot run set {k}: {e}", case.label));
                    continue;
                }
            };
            let (input, output) =
                (io.join(format!("{}_{k}.in", case.ident)), io.join(format!("{}_{k}.out", case.ident)));
            std::fs::write(&input, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).expect("write input");
            let _ = writeln!(jobs, "{} {} {}", case.ident, input.display(), output.display());
            let stored = case.stored[k].as_ref().map(f32s);
            expected.push((case.label.clone(), k, reference, stored, output, *step));
        }
    }
    let job_file = io.join("jobs");
    std::fs::write(&job_file, &jobs).expect("write jobs");
    let run = Command::new(&runner).arg(&job_file).output().expect("run the generated code");
    assert!(run.status.success(), "the generated code failed: {}", String::from_utf8_lossy(&run.stderr));
    for (label, k, reference, stored, output, step) in expected {
        let bytes = std::fs::read(&output).expect("output");
        let actual: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let (ok, line) = judge(&reference, stored.as_deref(), &actual, step);
        println!("{label} set {k}: {line}");
        if !ok {
            failures.push(format!("{label} set {k}: {line}"));
        }
    }
    for (label, pixel) in [("int8/cnn_small (qdq)", 1.0), ("int8/mnist-8 (qdq)", 255.0)] {
        match emitted.iter().find(|(c, _)| c.label == label) {
            Some((case, _)) => failures.extend(labelled_mnist(&shared, &runner, &io, case, pixel).err()),
            None => failures.push(format!("{label}: not emitted")),
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

/// The int8 MNIST models on integer kernels against tract on the 2,000 labelled evaluation
/// images (`shared/data/mnist-eval-2000`, pixels times `pixel`): the generated code must be as
/// accurate (within one image) and predict the same digit for at least 99.5% of the images.
fn labelled_mnist(shared: &Path, runner: &Path, io: &Path, case: &Case, pixel: f32) -> Result<(), String> {
    let data = shared.join("data/mnist-eval-2000");
    let read = |f: &str| std::fs::read(data.join(f)).map_err(|e| format!("{}: {f}: {e}", case.label));
    let (xb, labels) = (read("x.f32")?, read("y.u8")?);
    let x: Vec<f32> = xb.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * pixel).collect();
    let (input, output) = (io.join(format!("{}_mnist.in", case.ident)), io.join(format!("{}_mnist.out", case.ident)));
    std::fs::write(&input, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).map_err(|e| e.to_string())?;
    let jobs = io.join(format!("{}_mnist.jobs", case.ident));
    std::fs::write(&jobs, format!("{} {} {}\n", case.ident, input.display(), output.display()))
        .map_err(|e| e.to_string())?;
    let run = Command::new(runner).arg(&jobs).output().map_err(|e| e.to_string())?;
    if !run.status.success() {
        return Err(format!("{}: the generated code failed: {}", case.label, String::from_utf8_lossy(&run.stderr)));
    }
    let y: Vec<f32> = std::fs::read(&output)
        .map_err(|e| e.to_string())?
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let argmax = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap_or(0);
    let bytes = std::fs::read(&case.path).map_err(|e| e.to_string())?;
    let types = types_of(&case.inputs[0]);
    let tract = TractModel::load("int8", &bytes, case.path.parent(), &types).map_err(|e| e.to_string())?;
    let name = tract.input_names()[0].clone();
    let shape = types[&name].shape.clone();
    let image = shape.iter().product::<usize>();
    let (mut ours, mut theirs, mut same) = (0, 0, 0);
    for (k, (img, &label)) in x.chunks(image).zip(&labels).enumerate() {
        let set: InputSet = [(name.clone(), Tensor::f32(shape.clone(), img.to_vec()))].into_iter().collect();
        let reference = f32s(&tract.run(k, &set).map_err(|e| e.to_string())?[0]);
        let (a, b) = (argmax(&y[k * 10..(k + 1) * 10]), argmax(&reference));
        ours += usize::from(a == label as usize);
        theirs += usize::from(b == label as usize);
        same += usize::from(a == b);
    }
    let n = labels.len();
    println!(
        "{}: labelled MNIST ({n} images): generated {:.2}%, tract {:.2}%, same digit {:.2}%",
        case.label,
        100.0 * ours as f64 / n as f64,
        100.0 * theirs as f64 / n as f64,
        100.0 * same as f64 / n as f64
    );
    if ours + 1 < theirs || same * 1000 < n * 995 {
        return Err(format!("{}: labelled MNIST: {ours} vs tract {theirs} right, {same} of {n} the same", case.label));
    }
    Ok(())
}

/// A graph `x → op → y` on `[1, 4, 2, 2]` floats.
fn one_node_graph(name: &str, op: gos_opt::ops::Op) -> gos_opt::graph::Graph {
    use gos_opt::graph::{Graph, ModelMeta, Node, Value, ValueKind};
    let mut g = Graph::new(ModelMeta::default());
    let ty = TensorType::new(DType::F32, vec![1, 4, 2, 2]);
    let x = g.add_value(Value { name: "x".into(), ty: Some(ty.clone()), kind: ValueKind::Input, ..Value::default() });
    let y = g.add_value(Value { name: "y".into(), ty: Some(ty), ..Value::default() });
    g.inputs.push(x);
    g.outputs.push(y);
    g.add_node(Node { name: name.into(), op, inputs: vec![Some(x)], outputs: vec![y], doc_string: String::new() })
        .expect("add node");
    g
}

/// `z = relu(x + y)`, `w = x · 2` on `[1, 4, 2, 2]` floats: two inputs, two outputs.
fn multi_io_graph() -> gos_opt::graph::Graph {
    use gos_opt::graph::{ConstOrigin, Graph, ModelMeta, Node, Value, ValueKind};
    use gos_opt::ops::{Binary, BinaryKind, Op, Unary, UnaryKind};
    let mut g = Graph::new(ModelMeta::default());
    let ty = TensorType::new(DType::F32, vec![1, 4, 2, 2]);
    let value = |g: &mut Graph, name: &str, kind: ValueKind| {
        g.add_value(Value { name: name.into(), ty: Some(ty.clone()), kind, ..Value::default() })
    };
    let (x, y) = (value(&mut g, "x", ValueKind::Input), value(&mut g, "y", ValueKind::Input));
    let (s, z, w) = (
        value(&mut g, "s", ValueKind::Unset),
        value(&mut g, "z", ValueKind::Unset),
        value(&mut g, "w", ValueKind::Unset),
    );
    let two = g.add_const("two", std::sync::Arc::new(Tensor::f32(vec![1], vec![2.0])), ConstOrigin::Derived);
    g.inputs = vec![x, y];
    g.outputs = vec![z, w];
    let mut node = |name: &str, op: Op, inputs: Vec<Option<gos_opt::graph::ValueId>>, out| {
        g.add_node(Node { name: name.into(), op, inputs, outputs: vec![out], doc_string: String::new() })
            .expect("node");
    };
    node("add", Op::Binary(Binary::new(BinaryKind::Add)), vec![Some(x), Some(y)], s);
    node("relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(s)], z);
    node("double", Op::Binary(Binary::new(BinaryKind::Mul)), vec![Some(x), Some(two)], w);
    g
}

#[test]
fn opaque_ops_fail_with_their_names() {
    use gos_opt::ops::{Op, Opaque};
    let op = Op::Opaque(Opaque { domain: "com.microsoft".into(), op_type: "QGemm".into(), attrs: Vec::new() });
    let err = emit::generate(&one_node_graph("fc1", op), &EmitOptions::default())
        .map(|_| ())
        .expect_err("opaque ops cannot be emitted");
    assert!(matches!(err, EmitError::Opaque { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("'fc1' (com.microsoft::QGemm)"), "{msg}");
}

#[test]
fn an_op_without_a_kernel_fails_with_the_node_and_op() {
    use gos_opt::ops::{Lrn, Op};
    let lrn = Op::Lrn(Lrn { size: 3, alpha: 1e-4, beta: 0.75, bias: 1.0 });
    let err = emit::generate(&one_node_graph("norm1", lrn), &EmitOptions::default())
        .map(|_| ())
        .expect_err("LRN has no kernel");
    let msg = err.to_string();
    assert!(msg.contains("'norm1'") && msg.contains("LRN"), "{msg}");
}

/// A MaxPool or Flatten between a DequantizeLinear and a QuantizeLinear of the same quantization
/// (cnn_small's `Relu → Q → DQ → MaxPool → Q` and `DQ → Flatten → Q`) runs on the integers: the
/// first pool in the one-channel kernel's store, the second as `k_qmaxpool`, the Flatten as an
/// alias; nothing is dequantized but the logits. (The test above checks the outputs.)
#[test]
fn pools_and_reshapes_between_equal_quantizations_stay_integer() {
    let Some(shared) = shared_dir() else { return };
    let path = shared.join("models/int8/cnn_small/model_qdq.onnx");
    let source = |path: &Path| {
        let graph = import(path, &ImportOptions::default()).unwrap();
        let options = EmitOptions { quantized: Quantized::Integer, ..EmitOptions::default() };
        emit::generate(&graph, &options).unwrap().source
    };
    let calls = |source: &str, kernel: &str| source.matches(&format!("{kernel}::<")).count();
    let qdq = source(&path);
    assert!(qdq.contains("k_qconv1::<u8, u8, 30, 30, 8, 28, 28, 3, 3, 2>"), "the first pool fused");
    let counts = |s: &str| ["k_qmaxpool", "k_pool", "k_dequant", "k_quant_to"].map(|k| calls(s, k));
    assert_eq!(counts(&qdq), [1, 0, 1, 1]);
    // Pool and Flatten between the second convolution and its QuantizeLinear: the same.
    assert_eq!(counts(&source(&pooled_before_quantizing(&path).unwrap())), [1, 0, 1, 1]);
}

/// The int8 convolutions of a QDQ model run on the packed layout (`k_qconv4`, VNNI on x86-64)
/// unless the module is for a core with narrow integer vectors (`narrow_int8`), which the
/// pipeline sets from the target: cortex-m4 keeps the plain kernels its DSP paths read (with
/// `arm_dsp`, in their SMLAD layouts), rpi3 takes the packed one.
#[test]
fn int8_convolutions_are_packed_except_for_narrow_targets() {
    let Some(shared) = shared_dir() else { return };
    let path = shared.join("models/int8/mnist-8/model_qdq.onnx");
    let graph = import(&path, &ImportOptions::default()).unwrap();
    let source = |narrow_int8, arm_dsp| {
        let options = EmitOptions { quantized: Quantized::Integer, narrow_int8, arm_dsp, ..EmitOptions::default() };
        emit::generate(&graph, &options).unwrap().source
    };
    assert!(source(false, false).contains("k_qconv4::<"), "wide targets take the packed kernel");
    let narrow = source(true, false);
    assert!(!narrow.contains("k_qconv4::<") && narrow.contains("k_qconv::<"), "narrow targets keep k_qconv");
    // With the DSP extension: 5x5 convolutions in pairs of channels (`MB` 2, read by SMLAD),
    // the single-row Gemm on its transposed `i8` weights (`k_qmm::<i8, u8, ..>`, 10 rows).
    let dsp = source(true, true);
    assert!(dsp.contains("k_qconv::<u8, i8, u8, 1, 1, 32, 32, 8, 28, 28, 5, 5, 1, 1, 1, 1, 2, "), "pairs");
    assert!(dsp.contains("k_qmm::<i8, u8, u8, 10, 256, 1, 1, "), "transposed Gemm");
    assert!(!narrow.contains("k_qmm::<i8, u8, u8, 10, 256, 1, 1, "), "only on DSP targets");
    let dir = tempfile::tempdir().unwrap();
    for (target, packed) in [("cortex-m4", false), ("rpi3", true)] {
        let out = dir.path().join(target);
        let status = Command::new(env!("CARGO_BIN_EXE_gos-opt"))
            .arg(&path)
            .args(["--target", target, "--mode", "none", "-q", "-o"])
            .arg(out.join("model.onnx"))
            .arg("--emit-rust")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "{target}");
        let module = std::fs::read_to_string(out.join("model.rs")).unwrap();
        assert_eq!(module.contains("k_qconv4::<"), packed, "{target}");
    }
}

/// The residual joins of the int8 ResNets (`DequantizeLinear(a) + DequantizeLinear(b) →
/// QuantizeLinear`) run as one integer add each (`k_qadd`), with no float Add left. (The test
/// above checks the modules' outputs against tract and onnxruntime's.)
#[test]
fn residual_joins_of_int8_resnets_are_integer_adds() {
    let Some(shared) = shared_dir() else { return };
    for name in ["resnet8_cifar10_pretrainedResnet", "resnet_large_cifar10"] {
        let graph =
            import(&shared.join("models/int8").join(name).join("model_qdq.onnx"), &ImportOptions::default()).unwrap();
        let options = EmitOptions { quantized: Quantized::Integer, ..EmitOptions::default() };
        let source = emit::generate(&graph, &options).unwrap().source;
        let calls = |kernel: &str| source.matches(&format!("{kernel}::<")).count();
        assert_eq!((calls("k_qadd"), calls("k_bin"), calls("k_bin_ip")), (3, 0, 0), "{name}");
    }
}

/// `x → Q(u8) → DQ` and `x·(-0.7) → Q(i8) → DQ` summed, through a Relu, into `Q(u8)`, and that
/// sum's DequantizeLinear plus the first again into `Q(i8)`, dequantized as the output, on
/// `[1, 4, 8, 8]` floats: two integer adds (one from `u8` and `i8` into `u8` with a ReLU, one
/// from two `u8` into `i8`), the first DequantizeLinear read by both.
fn residual_qdq_graph() -> gos_opt::graph::Graph {
    use gos_opt::graph::{ConstOrigin, Graph, ModelMeta, Node, Value, ValueId, ValueKind};
    use gos_opt::ops::{Binary, BinaryKind, DequantizeLinear, Op, QuantizeLinear, Unary, UnaryKind};
    use gos_opt::tensor::TensorData;
    let mut g = Graph::new(ModelMeta::default());
    let shape = vec![1, 4, 8, 8];
    let x = g.add_value(Value {
        name: "x".into(),
        ty: Some(TensorType::new(DType::F32, shape.clone())),
        kind: ValueKind::Input,
        ..Value::default()
    });
    g.inputs.push(x);
    let mut k = 0;
    let mut node = |g: &mut Graph, op: Op, inputs: &[ValueId], dtype: DType| {
        k += 1;
        let y = g.add_value(Value {
            name: format!("v{k}"),
            ty: Some(TensorType::new(dtype, shape.clone())),
            ..Value::default()
        });
        let node = Node {
            name: format!("n{k}"),
            op,
            inputs: inputs.iter().map(|&v| Some(v)).collect(),
            outputs: vec![y],
            doc_string: String::new(),
        };
        g.add_node(node).expect("node");
        y
    };
    let constant = |g: &mut Graph, name: &str, data: TensorData| {
        g.add_const(name, std::sync::Arc::new(Tensor::new(vec![], data)), ConstOrigin::Derived)
    };
    let q = || {
        Op::QuantizeLinear(QuantizeLinear {
            axis: 1,
            saturate: true,
            block_size: 0,
            output_dtype: None,
            precision: None,
        })
    };
    let dq = || Op::DequantizeLinear(DequantizeLinear { axis: 1, block_size: 0, output_dtype: None });
    let add = || Op::Binary(Binary::new(BinaryKind::Add));
    // (scale, zero point) of x, y, the first sum and the second.
    let mut quant = |name: &str, s: f32, z: TensorData| {
        (constant(&mut g, &format!("{name}_s"), TensorData::F32(vec![s])), constant(&mut g, &format!("{name}_z"), z))
    };
    let (sx, zx) = quant("x", 0.5, TensorData::U8(vec![10]));
    let (sy, zy) = quant("y", 0.25, TensorData::I8(vec![0]));
    let (s1, z1) = quant("s1", 0.5, TensorData::U8(vec![0]));
    let (s2, z2) = quant("s2", 0.5, TensorData::I8(vec![-125]));
    let c = constant(&mut g, "c", TensorData::F32(vec![-0.7]));
    let qx = node(&mut g, q(), &[x, sx, zx], DType::U8);
    let dx = node(&mut g, dq(), &[qx, sx, zx], DType::F32);
    let y = node(&mut g, Op::Binary(Binary::new(BinaryKind::Mul)), &[x, c], DType::F32);
    let qy = node(&mut g, q(), &[y, sy, zy], DType::I8);
    let dy = node(&mut g, dq(), &[qy, sy, zy], DType::F32);
    let sum1 = node(&mut g, add(), &[dx, dy], DType::F32);
    let r1 = node(&mut g, Op::Unary(Unary { kind: UnaryKind::Relu }), &[sum1], DType::F32);
    let q1 = node(&mut g, q(), &[r1, s1, z1], DType::U8);
    let d1 = node(&mut g, dq(), &[q1, s1, z1], DType::F32);
    let sum2 = node(&mut g, add(), &[d1, dx], DType::F32);
    let q2 = node(&mut g, q(), &[sum2, s2, z2], DType::I8);
    let out = node(&mut g, dq(), &[q2, s2, z2], DType::F32);
    g.outputs.push(out);
    g
}

/// The integer adds of [`residual_qdq_graph`] compute the float path's integers bit for bit:
/// the module with them (`k_qadd`) and the one with float kernels (dequantize, add, clamp and
/// quantize one after another, on integers held in f32) give the same output bits on 64 inputs
/// whose values saturate both ends of the inputs' quantizations and of the second sum's, and
/// whose first sums land on ties (scales 0.5 and 0.25 into 0.5: rounded half to even).
#[test]
fn integer_adds_give_the_float_paths_integers() {
    let root = target_dir().join("emit-qadd");
    let src = root.join("src");
    let graph = residual_qdq_graph();
    let mut idents = Vec::new();
    for (ident, quantized, adds) in [("m_qadd_integer", Quantized::Integer, 2), ("m_qadd_float", Quantized::Float, 0)] {
        let options = EmitOptions { quantized, ..EmitOptions::default() };
        emit::emit_rust_with(&graph, &src.join(ident), &options).unwrap();
        let source = std::fs::read_to_string(src.join(ident).join("model.rs")).unwrap();
        assert_eq!(source.matches("k_qadd::<").count(), adds, "{ident}");
        assert_eq!(source.contains("k_bin"), adds == 0, "{ident}: a float Add");
        idents.push(ident.to_string());
    }
    let runner = compile(&root, &idents, &[]).unwrap_or_else(|e| panic!("{e}"));
    let io = root.join("io");
    std::fs::create_dir_all(&io).expect("create io");
    // x in [-60, 140): `x / 0.5 + 10` and `-0.7·x / 0.25` overflow both ends of u8 and i8.
    let x: Vec<f32> = (0..64 * 256).map(|i| ((i * 7919) % 2000) as f32 * 0.1 - 60.0 + (i % 3) as f32 * 0.013).collect();
    let input = io.join("x.in");
    std::fs::write(&input, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).expect("write input");
    let mut jobs = String::new();
    for ident in &idents {
        let _ = writeln!(jobs, "{ident} {} {}", input.display(), io.join(format!("{ident}.out")).display());
    }
    std::fs::write(io.join("jobs"), &jobs).expect("write jobs");
    let run = Command::new(&runner).arg(io.join("jobs")).output().expect("run the generated code");
    assert!(run.status.success(), "the generated code failed: {}", String::from_utf8_lossy(&run.stderr));
    let read = |ident: &str| std::fs::read(io.join(format!("{ident}.out"))).expect("output");
    let (integer, float) = (read(&idents[0]), read(&idents[1]));
    assert_eq!(integer.len(), x.len() * 4);
    assert!(integer == float, "the integer adds' output differs from the float path's");
    // Both ends of the output's i8 levels are reached: the saturated sums are compared too.
    let levels: Vec<f32> =
        integer.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) / 0.5 - 125.0).collect();
    let (lo, hi) = levels.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert_eq!((lo.round(), hi.round()), (-128.0, 127.0));
}
