//! Winograd F(2×2, 3×3) and F(4×4, 3×3) end to end (issue 12, item 4): gos-opt rewrites 3×3
//! stride-1 convolutions into a Winograd form (`rules/winograd.rules`) where the cost model finds
//! it cheaper, the written ONNX model verifies against the original in tract, and the Rust back
//! end runs each form as `k_wino` (transforms around `k_mm`). The generated modules are
//! compiled, run, and compared with tract on the original model: within 1e-4 absolute or
//! relative. Models: a small one built here (odd sizes, so the last tiles are cropped; a
//! convolution without bias; a Relu fused after one) and the shared float ResNet-8 and
//! ResNet-large, on whose 32×32 layers `host` takes F4. Extraction's choice of direct, F2 or F4
//! per target is checked against the cost model's own prices of each.

mod common;

use common::emitted::{agree, compile};
use common::{shared_dir, target_dir, types_of};
use gos_opt::emit::{self, EmitReport};
use gos_opt::graph::{ConstOrigin, Graph, ModelMeta, Node, Value, ValueId, ValueKind};
use gos_opt::onnx::{import, ImportOptions};
use gos_opt::ops::{Conv, ConvAttrs, Op, Unary, UnaryKind};
use gos_opt::tensor::{DType, Tensor, TensorType};
use gos_opt::verify::{io_names, load_test_sets, InputSet, TractModel};
use gos_opt::winograd::Size;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");

/// Deterministic values in [-0.5, 0.5).
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919 + seed * 104729) % 1000) as f32 / 1000.0 - 0.5).collect()
}

/// Adds a float value of `shape` to `g`.
fn value(g: &mut Graph, name: &str, shape: Vec<usize>, kind: ValueKind) -> ValueId {
    g.add_value(Value { name: name.into(), ty: Some(TensorType::new(DType::F32, shape)), kind, ..Value::default() })
}

/// Adds a float weight of `shape` (values from `seed`) to `g`.
fn weight(g: &mut Graph, name: &str, shape: Vec<usize>, seed: usize) -> ValueId {
    let n = shape.iter().product();
    g.add_const(name, Arc::new(Tensor::f32(shape, values(n, seed))), ConstOrigin::Derived)
}

/// `x [1, 24, 17, 19] → Conv 3×3 pads 1 (16, bias) → Relu → Conv 3×3 no pads (24, no bias) → y`
/// (each layer's transformed filter and transform weights fit the fold budget, the bytes of the
/// model's weights).
fn small_model() -> Graph {
    let meta = ModelMeta { ir_version: 8, opset_imports: vec![(String::new(), 13)], ..ModelMeta::default() };
    let mut g = Graph::new(meta);
    let x = value(&mut g, "x", vec![1, 24, 17, 19], ValueKind::Input);
    let (a, r) = (
        value(&mut g, "a", vec![1, 16, 17, 19], ValueKind::Unset),
        value(&mut g, "r", vec![1, 16, 17, 19], ValueKind::Unset),
    );
    let y = value(&mut g, "y", vec![1, 24, 15, 17], ValueKind::Unset);
    let (w1, b1, w2) = (
        weight(&mut g, "w1", vec![16, 24, 3, 3], 1),
        weight(&mut g, "b1", vec![16], 2),
        weight(&mut g, "w2", vec![24, 16, 3, 3], 3),
    );
    g.inputs.push(x);
    g.outputs.push(y);
    let mut node = |name: &str, op: Op, inputs: Vec<Option<ValueId>>, out: ValueId| {
        g.add_node(Node { name: name.into(), op, inputs, outputs: vec![out], doc_string: String::new() })
            .expect("node");
    };
    let conv = |pads: Vec<usize>| Op::Conv(Conv { attrs: ConvAttrs { pads, ..ConvAttrs::default() } });
    node("conv1", conv(vec![1, 1, 1, 1]), vec![Some(x), Some(w1), Some(b1)], a);
    node("relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(a)], r);
    node("conv2", conv(vec![]), vec![Some(r), Some(w2)], y);
    g
}

/// The Winograd rules (not in the shipped set: added only to exact runs that emit Rust).
const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/winograd.rules");

/// Optimizes `model` for `host` with gos-opt and the Winograd rules (exact mode, verified
/// against the original) into `dir/model.opt.onnx`.
fn optimize(model: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the module's directory");
    let out = dir.join("model.opt.onnx");
    let status = Command::new(BIN)
        .arg(model)
        .args(["--target", "host", "-q", "--rules", RULES, "-o"])
        .arg(&out)
        .status()
        .expect("run gos-opt");
    assert!(status.success(), "gos-opt failed (or did not verify) on {}", model.display());
    out
}

/// The forms of each size in `graph`: `[F2, F4]`.
fn sizes(graph: &Graph) -> [usize; 2] {
    let forms = gos_opt::winograd::forms(graph);
    Size::ALL.map(|s| forms.values().filter(|f| f.size == s).count())
}

/// Emits the optimized model into `dir` and checks that it has `forms` Winograd forms of each
/// size (`[F2, F4]`), each run by `k_wino`.
fn emit_optimized(optimized: &Path, set: &InputSet, dir: &Path, forms: [usize; 2]) -> EmitReport {
    let shapes = types_of(set).into_iter().map(|(k, t)| (k, t.shape)).collect();
    let graph = import(optimized, &ImportOptions { input_shapes: shapes, ..Default::default() }).expect("import");
    assert_eq!(sizes(&graph), forms, "{}", optimized.display());
    let forms = forms[0] + forms[1];
    let report = emit::emit_rust(&graph, dir).expect("emit");
    assert!(report.kernels.iter().any(|k| k == "k_wino"), "{report:?}");
    let source = std::fs::read_to_string(dir.join("model.rs")).expect("model.rs");
    assert_eq!(source.matches("k_wino::<").count(), forms, "one k_wino call per form");
    report
}

/// One model to run: its module, the original model, its input sets.
struct Case {
    ident: String,
    original: Vec<u8>,
    dir: Option<PathBuf>,
    sets: Vec<InputSet>,
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_f64_vec().expect("numeric").into_iter().map(|v| v as f32).collect()
}

#[test]
fn winograd_forms_run_as_k_wino_and_agree_with_tract() {
    let root = target_dir().join("emit-winograd");
    let src = root.join("src");
    std::fs::create_dir_all(&src).expect("create target/emit-winograd");
    let mut cases = Vec::new();
    // The small model, on two random inputs.
    let small = root.join("small.onnx");
    let bytes = gos_opt::onnx::export_bytes(&small_model()).expect("export");
    std::fs::write(&small, &bytes).expect("write the small model");
    let sets: Vec<InputSet> = (0..2)
        .map(|k| HashMap::from([("x".to_string(), Tensor::f32(vec![1, 24, 17, 19], values(24 * 17 * 19, 10 + k)))]))
        .collect();
    let optimized = optimize(&small, &src.join("small"));
    emit_optimized(&optimized, &sets[0], &src.join("small"), [2, 0]);
    cases.push(Case { ident: "small".into(), original: bytes, dir: None, sets });
    // The shared float ResNets on their test sets: every stride-1 3×3 convolution (5 of 9), the
    // three at 32×32 by F4 on `host`, the others by F2 (ResNet-8) or by F4 at 16×16 and F2 at
    // 8×8 (ResNet-large, 80 and 160 channels).
    let shared = shared_dir();
    for (ident, folder, forms) in
        [("resnet8", "resnet8_cifar10_pretrainedResnet", [2, 3]), ("resnet_large", "resnet_large_cifar10", [1, 4])]
    {
        let Some(shared) = &shared else { break };
        let path = shared.join("models/mlperf-tiny/onnx").join(folder).join("model.onnx");
        let dir = path.parent().expect("dir").to_path_buf();
        let bytes = std::fs::read(&path).expect("model");
        let (declared, _) = io_names(&bytes).expect("ONNX");
        let sets: Vec<InputSet> = load_test_sets(&dir, None)
            .expect("test sets")
            .iter()
            .map(|s| s.input_set(&declared).expect("inputs"))
            .collect();
        let optimized = optimize(&path, &src.join(ident));
        emit_optimized(&optimized, &sets[0], &src.join(ident), forms);
        cases.push(Case { ident: ident.into(), original: bytes, dir: Some(dir), sets });
    }
    let idents: Vec<String> = cases.iter().map(|c| c.ident.clone()).collect();
    let runner = compile(&root, &idents, &[]).unwrap_or_else(|e| panic!("{e}"));
    let io = root.join("io");
    std::fs::create_dir_all(&io).expect("create io");
    let (mut jobs, mut expected) = (String::new(), Vec::new());
    for case in &cases {
        let tract = TractModel::load(&case.ident, &case.original, case.dir.as_deref(), &types_of(&case.sets[0]))
            .expect("tract loads the original");
        for (k, set) in case.sets.iter().enumerate() {
            let x = f32s(&set[&tract.input_names()[0]]);
            let reference = f32s(&tract.run(k, set).expect("tract runs")[0]);
            let (input, output) =
                (io.join(format!("{}_{k}.in", case.ident)), io.join(format!("{}_{k}.out", case.ident)));
            std::fs::write(&input, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).expect("write input");
            let _ = writeln!(jobs, "{} {} {}", case.ident, input.display(), output.display());
            expected.push((format!("{} set {k}", case.ident), reference, output));
        }
    }
    let job_file = io.join("jobs");
    std::fs::write(&job_file, &jobs).expect("write jobs");
    let run = Command::new(&runner).arg(&job_file).output().expect("run the generated code");
    assert!(run.status.success(), "the generated code failed: {}", String::from_utf8_lossy(&run.stderr));
    let mut failures = Vec::new();
    for (label, reference, output) in expected {
        let bytes = std::fs::read(&output).expect("output");
        let actual: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let (abs, rel, ok) = agree(&reference, &actual);
        println!("{label}: vs tract on the original: max abs {abs:.2e}, max rel {rel:.2e}");
        if !ok {
            failures.push(format!("{label}: max abs {abs:.2e}, max rel {rel:.2e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The number of Winograd forms in the ONNX model at `path`.
fn forms_in(path: &Path) -> usize {
    gos_opt::winograd::forms(&import(path, &ImportOptions::default()).expect("import")).len()
}

/// Exact runs that emit Rust take the Winograd rules without `--rules` (the written model is the
/// module's, and `k_wino` runs it); runs that write only ONNX keep the convolutions, which other
/// runtimes run faster than the form's generic ops.
#[test]
fn emitting_rust_adds_the_winograd_rules_and_writing_onnx_alone_does_not() {
    let root = target_dir().join("emit-winograd-default");
    std::fs::create_dir_all(&root).expect("create target/emit-winograd-default");
    let model = root.join("small.onnx");
    std::fs::write(&model, gos_opt::onnx::export_bytes(&small_model()).expect("export")).expect("write the model");
    let run = |extra: &[&str], out: &Path| {
        let status = Command::new(BIN)
            .arg(&model)
            .args(["--target", "host", "-q", "-o"])
            .arg(out)
            .args(extra)
            .status()
            .expect("run gos-opt");
        assert!(status.success(), "gos-opt failed with {extra:?}");
    };
    let rust = root.join("rust");
    let (with, without) = (root.join("with.onnx"), root.join("without.onnx"));
    run(&["--emit-rust", rust.to_str().expect("utf-8 path")], &with);
    run(&[], &without);
    assert_eq!(forms_in(&with), 2, "both convolutions in the Winograd form");
    let source = std::fs::read_to_string(rust.join("model.rs")).expect("model.rs");
    assert_eq!(source.matches("k_wino::<").count(), 2, "one k_wino call per form");
    assert_eq!(forms_in(&without), 0, "no Winograd form without --emit-rust");
}

/// `rules/winograd.rules` without the rules of `drop` (the header and every other rule kept),
/// written to `dir/<name>-winograd.rules` (a file whose name ends in `winograd.rules` replaces
/// the built-in Winograd rules of a run that emits Rust).
fn rules_without(drop: Size, dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(RULES).expect("the Winograd rules");
    let kept: Vec<&str> = text
        .split("\n\n")
        .filter(|chunk| {
            let rule = chunk.lines().find_map(|l| l.strip_prefix("(rule ")).and_then(|l| l.split(' ').next());
            rule.and_then(gos_opt::winograd::rule_size) != Some(drop)
        })
        .collect();
    let path = dir.join(format!("{name}-winograd.rules"));
    std::fs::write(&path, kept.join("\n\n")).expect("write the rules");
    path
}

/// `x [1, 32, 16, 16] → Conv 3×3 pads 1 (32, bias) → Conv 3×3 stride 2 (160) → y`: ResNet-8's
/// 16×16 layer, then a strided layer (never Winograd) whose weights make the fold budget (the
/// bytes of the model's weights) hold F4's largest constant, its input transform (166 KB).
fn layer_model() -> Graph {
    let meta = ModelMeta { ir_version: 8, opset_imports: vec![(String::new(), 13)], ..ModelMeta::default() };
    let mut g = Graph::new(meta);
    let x = value(&mut g, "x", vec![1, 32, 16, 16], ValueKind::Input);
    let a = value(&mut g, "a", vec![1, 32, 16, 16], ValueKind::Unset);
    let y = value(&mut g, "y", vec![1, 160, 7, 7], ValueKind::Unset);
    let (w, b, w2) = (
        weight(&mut g, "w", vec![32, 32, 3, 3], 4),
        weight(&mut g, "b", vec![32], 5),
        weight(&mut g, "w2", vec![160, 32, 3, 3], 6),
    );
    g.inputs.push(x);
    g.outputs.push(y);
    let conv = |pads: Vec<usize>, strides: Vec<usize>| {
        Op::Conv(Conv { attrs: ConvAttrs { pads, strides, ..ConvAttrs::default() } })
    };
    for (name, op, inputs, out) in [
        ("conv", conv(vec![1, 1, 1, 1], vec![]), vec![Some(x), Some(w), Some(b)], a),
        ("strided", conv(vec![], vec![2, 2]), vec![Some(a), Some(w2)], y),
    ] {
        g.add_node(Node { name: name.into(), op, inputs, outputs: vec![out], doc_string: String::new() })
            .expect("node");
    }
    g
}

/// Runs gos-opt on `model` for `target` emitting Rust (with `rules` in place of the built-in
/// Winograd rules when given): the predicted latency after optimization (from its summary line
/// `predicted T latency A ms -> B ms`) and the forms of each size it wrote.
fn priced(model: &Path, target: &str, rules: Option<&Path>, dir: &Path) -> (f64, [usize; 2]) {
    let out = dir.join("model.opt.onnx");
    let mut cmd = Command::new(BIN);
    cmd.arg(model).args(["--target", target, "-o"]).arg(&out).arg("--emit-rust").arg(dir);
    if let Some(r) = rules {
        cmd.arg("--rules").arg(r);
    }
    let run = cmd.output().expect("run gos-opt");
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "gos-opt for {target}: {text}");
    let line = text.lines().find(|l| l.starts_with("predicted ")).expect("a prediction line");
    let after = line.split("-> ").nth(1).and_then(|t| t.split(' ').next()).and_then(|v| v.parse().ok());
    (after.expect("the predicted latency after"), sizes(&import(&out, &ImportOptions::default()).expect("import")))
}

/// Extraction chooses per target among the direct convolution, F2 and F4 by the cost model's
/// prices: on ResNet-8's 16×16, 32-channel layer, runs allowed only F2 or only F4 give the
/// model's predicted latency with that form (or direct, when that is cheaper), and the run
/// allowed both takes the cheapest of them. On `host` that is F2 (rows of 4 F4 tiles are too
/// short for the vector path, so F4's transforms are priced one lane at a time), on `rpi3` and
/// `cortex-m4` F4 (4× fewer multiplies than direct, 1.8× fewer than F2, scalar transforms on
/// both sides).
#[test]
fn extraction_takes_the_cheapest_form_per_target() {
    let root = target_dir().join("emit-winograd-choice");
    std::fs::create_dir_all(&root).expect("create target/emit-winograd-choice");
    let model = root.join("layer.onnx");
    std::fs::write(&model, gos_opt::onnx::export_bytes(&layer_model()).expect("export")).expect("write the model");
    let (f2_only, f4_only) = (rules_without(Size::F4, &root, "f2"), rules_without(Size::F2, &root, "f4"));
    for (target, want) in [("host", [1, 0]), ("rpi3", [0, 1]), ("cortex-m4", [0, 1])] {
        let dir = |n: &str| root.join(format!("{target}-{n}"));
        let (f2, f2_forms) = priced(&model, target, Some(&f2_only), &dir("f2"));
        let (f4, f4_forms) = priced(&model, target, Some(&f4_only), &dir("f4"));
        let (both, chosen) = priced(&model, target, None, &dir("both"));
        println!("{target}: predicted F2 {f2} ms {f2_forms:?}, F4 {f4} ms {f4_forms:?}, both {both} ms {chosen:?}");
        assert_eq!((f2_forms, f4_forms), ([1, 0], [0, 1]), "{target}: each form alone beats direct");
        let cheapest = if f2 < f4 { [1, 0] } else { [0, 1] };
        assert_eq!(chosen, cheapest, "{target}: the cheaper form is chosen");
        assert_eq!(both, f2.min(f4), "{target}: the run with both is priced as the cheaper");
        assert_eq!(chosen, want, "{target}");
    }
}

/// A run whose F4-size rule does not verify still writes the model: the pipeline searches again
/// without F4 rules. The rule here (named as an F4 rule, in a user's Winograd rule file) drops a
/// convolution's bias, cheaper and wrong; the model's one convolution (stride 2, never Winograd)
/// has a bias, so the first search's model fails verification and the second, without the rule,
/// is written and verified.
#[test]
fn an_f4_rule_that_does_not_verify_falls_back() {
    let root = target_dir().join("emit-winograd-fallback");
    std::fs::create_dir_all(&root).expect("create target/emit-winograd-fallback");
    let meta = ModelMeta { ir_version: 8, opset_imports: vec![(String::new(), 13)], ..ModelMeta::default() };
    let mut g = Graph::new(meta);
    let x = value(&mut g, "x", vec![1, 4, 9, 9], ValueKind::Input);
    let y = value(&mut g, "y", vec![1, 8, 4, 4], ValueKind::Unset);
    let (w, b) = (weight(&mut g, "w", vec![8, 4, 3, 3], 7), weight(&mut g, "b", vec![8], 8));
    g.inputs.push(x);
    g.outputs.push(y);
    let op = Op::Conv(Conv { attrs: ConvAttrs { strides: vec![2, 2], ..ConvAttrs::default() } });
    let node = Node {
        name: "conv".into(),
        op,
        inputs: vec![Some(x), Some(w), Some(b)],
        outputs: vec![y],
        doc_string: String::new(),
    };
    g.add_node(node).expect("node");
    let model = root.join("strided.onnx");
    std::fs::write(&model, gos_opt::onnx::export_bytes(&g).expect("export")).expect("write the model");
    let rules = root.join("wrong-winograd.rules");
    let text = ";; wrong on purpose: drops the bias\n(rule conv3x3-winograd-f4-wrong exact\n  (Conv ?op ?x ?w ?b) => (Conv ?op ?x ?w))\n";
    std::fs::write(&rules, text).expect("write the rules");
    // The Conv's inputs in the model written with `extra` options, and the report's retries.
    let conv_inputs = |extra: &[&str]| {
        let (out, report) = (root.join("strided.opt.onnx"), root.join("strided.report.json"));
        let run = Command::new(BIN)
            .arg(&model)
            .args(["--target", "host", "--rules"])
            .arg(&rules)
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg("--report")
            .arg(&report)
            .output();
        let run = run.expect("run gos-opt");
        let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
        assert!(run.status.success(), "the model is written: {text}");
        let written = import(&out, &ImportOptions::default()).expect("import");
        let conv = written.dag.node_indices().map(|n| written.node(n)).find(|n| matches!(n.op, Op::Conv(_)));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).expect("the report")).expect("JSON report");
        let retries: Vec<String> = report["retries"]
            .as_array()
            .map(|r| r.iter().map(|r| format!("{} / {}", r["without"], r["cause"])).collect())
            .unwrap_or_default();
        (conv.expect("a Conv").inputs.iter().flatten().count(), retries)
    };
    let (inputs, retries) = conv_inputs(&["--no-verify"]);
    assert_eq!(inputs, 2, "unverified, the first search's wrong model is written");
    assert!(retries.is_empty(), "no retry without verification: {retries:?}");
    let (inputs, retries) = conv_inputs(&[]);
    assert_eq!(inputs, 3, "verified: the model of the search without the F4 rule, bias kept");
    assert_eq!(retries.len(), 1, "one search repeated, and the report says so: {retries:?}");
    assert!(retries[0].starts_with("\"F(4x4,3x3)\" / \"verification"), "{retries:?}");
}

/// A quantized (QDQ) model keeps its 3×3 convolutions on the integer kernels: no float Winograd
/// form replaces a DequantizeLinear → Conv → QuantizeLinear group (the cost model prices the
/// group as direct 8-bit multiply-adds, not as the integer Winograd kernel that runs it, and
/// took float F(4×4, 3×3) for four of the int8 larger ResNet's layers before F4 was kept out of
/// quantized models).
#[test]
fn quantized_models_keep_their_integer_convolutions() {
    let Some(shared) = shared_dir() else { return };
    let model = shared.join("models/int8/resnet_large_cifar10/model_qdq.onnx");
    let root = target_dir().join("emit-winograd-int8");
    let rust = root.join("rust");
    std::fs::create_dir_all(&rust).expect("create target/emit-winograd-int8");
    let out = root.join("model.opt.onnx");
    let status = Command::new(BIN)
        .arg(&model)
        .args(["--target", "host", "-q", "--emit-rust", rust.to_str().expect("utf-8 path"), "-o"])
        .arg(&out)
        .status()
        .expect("run gos-opt");
    assert!(status.success(), "gos-opt failed on {}", model.display());
    assert_eq!(forms_in(&out), 0, "no float Winograd form in the quantized model");
    let source = std::fs::read_to_string(rust.join("model.rs")).expect("model.rs");
    assert_eq!(source.matches("k_wino::<").count(), 0, "no float Winograd kernel");
    assert!(source.matches("k_qwino::<").count() >= 5, "the stride-1 3×3 layers on the integer Winograd kernel");
}
