//! The command line as users' scripts see it: exit codes, one-line errors on bad input, atomic
//! output that never overwrites the input, and `inspect`.

use onnx_protobuf::{
    tensor_proto::DataType, type_proto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");

fn bundled(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(rel)
}

struct Run {
    code: i32,
    stderr: String,
    stdout: String,
}

fn gos_opt(args: &[&str]) -> Run {
    let out = Command::new(BIN).args(args).output().expect("the binary runs");
    Run {
        code: out.status.code().expect("exited normally, not by a signal"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Asserts a clean failure: the exit code, one line of error on stderr containing `needle`.
fn assert_error(run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "stderr: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "panicked: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line of error, got: {}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(lines[0].contains(needle), "'{needle}' not in: {}", lines[0]);
}

fn tensor_type(dims: &[i64], params: &[&str]) -> TypeProto {
    let mut t = type_proto::Tensor::new();
    t.elem_type = DataType::FLOAT as i32;
    let mut shape = TensorShapeProto::new();
    for (i, &d) in dims.iter().enumerate() {
        let mut dim = onnx_protobuf::tensor_shape_proto::Dimension::new();
        match params.get(i) {
            Some(p) if !p.is_empty() => dim.set_dim_param(p.to_string()),
            _ => dim.set_dim_value(d),
        }
        shape.dim.push(dim);
    }
    t.shape = protobuf::MessageField::some(shape);
    let mut tp = TypeProto::new();
    tp.set_tensor_type(t);
    tp
}

fn value(name: &str, ty: TypeProto) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = protobuf::MessageField::some(ty);
    v
}

fn node(name: &str, op: &str, domain: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.name = name.into();
    n.op_type = op.into();
    n.domain = domain.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n
}

/// A model with input `x` (1x4 float unless `input` says otherwise), the given nodes and
/// initializers, and output `y`.
fn model(input: TypeProto, nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> Vec<u8> {
    let mut g = GraphProto::new();
    g.name = "test".into();
    g.input.push(value("x", input));
    g.output.push(value("y", tensor_type(&[1, 4], &[])));
    g.node = nodes;
    g.initializer = initializers;
    let mut m = ModelProto::new();
    m.ir_version = 8;
    let mut opset = OperatorSetIdProto::new();
    opset.version = 17;
    m.opset_import.push(opset);
    m.graph = protobuf::MessageField::some(g);
    m.write_to_bytes().expect("serializes")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("temp file");
    path.display().to_string()
}

#[test]
fn bad_files_get_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = std::fs::read(bundled("mnist-8/model.onnx")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.onnx", Vec::new(), "the file is empty"),
        ("truncated.onnx", mnist[..mnist.len() / 2].to_vec(), "not a valid ONNX protobuf"),
        ("random.onnx", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(), "not"),
    ];
    for (name, bytes, needle) in cases {
        let path = write(dir.path(), name, &bytes);
        assert_error(&gos_opt(&[&path, "--target", "rpi3"]), 1, needle);
        assert_error(&gos_opt(&["inspect", &path]), 1, needle);
    }
}

#[test]
fn broken_graphs_name_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let f = || tensor_type(&[1, 4], &[]);
    let cycle = model(
        f(),
        vec![
            node("a", "Add", "", &["x", "b_out"], &["a_out"]),
            node("b", "Relu", "", &["a_out"], &["b_out"]),
            node("c", "Relu", "", &["b_out"], &["y"]),
        ],
        vec![],
    );
    let undefined = model(f(), vec![node("n1", "Add", "", &["x", "ghost"], &["y"])], vec![]);
    let mut short = TensorProto::new();
    short.name = "w".into();
    short.data_type = DataType::FLOAT as i32;
    short.dims = vec![1, 4];
    short.float_data = vec![1.0, 2.0];
    let bad_init = model(f(), vec![node("add", "Add", "", &["x", "w"], &["y"])], vec![short]);
    let untyped = model(
        f(),
        vec![node("mystery", "Frobnicate", "com.example", &["x"], &["m"]), node("act", "Relu", "", &["m"], &["y"])],
        vec![],
    );
    let dynamic = model(tensor_type(&[1, 4], &["batch", ""]), vec![node("r", "Relu", "", &["x"], &["y"])], vec![]);
    let cases = [
        ("cycle.onnx", cycle, "cycle"),
        ("undefined.onnx", undefined, "'n1' (Add) reads tensor 'ghost'"),
        ("bad_init.onnx", bad_init, "tensor 'w': holds 2 values but its shape [1, 4] needs 4"),
        ("untyped.onnx", untyped, "'act' (Relu): needs the type of 'm'"),
        ("dynamic.onnx", dynamic, "input 'x' has dynamic dimensions [batch, 4]: give its shape with --input-shape"),
    ];
    for (name, bytes, needle) in cases {
        let path = write(dir.path(), name, &bytes);
        assert_error(&gos_opt(&[&path, "--target", "rpi3"]), 1, needle);
    }
    // The dynamic model works once its shape is given.
    let path = dir.path().join("dynamic.onnx").display().to_string();
    let run = gos_opt(&[&path, "--target", "rpi3", "--input-shape", "x=1x4", "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(dir.path().join("dynamic.opt.onnx").exists());
}

#[test]
fn output_never_overwrites_the_input_and_bad_paths_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mnist.onnx");
    std::fs::copy(bundled("mnist-8/model.onnx"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let input_s = input.display().to_string();
    assert_error(&gos_opt(&[&input_s, "--target", "rpi3", "-o", &input_s]), 1, "is the input model");
    // A path under a regular file cannot be created, even by root.
    let blocked = dir.path().join("mnist.onnx").join("out.onnx").display().to_string();
    assert_error(&gos_opt(&[&input_s, "--target", "rpi3", "-o", &blocked]), 1, "cannot write");
    let missing_dir = dir.path().join("no/such/dir/out.onnx").display().to_string();
    assert_error(&gos_opt(&[&input_s, "--target", "rpi3", "-o", &missing_dir]), 1, "cannot write");
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input was modified");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind: {leftovers:?}");
}

#[test]
fn usage_errors_exit_2() {
    let model = bundled("mnist-8/model.onnx").display().to_string();
    assert_eq!(gos_opt(&[&model]).code, 2, "missing --target");
    assert_eq!(gos_opt(&[&model, "--target", "rpi3", "--mode", "fast"]).code, 2);
    assert_error(&gos_opt(&[&model, "--target", "pdp11"]), 2, "unknown target 'pdp11'");
    assert_error(&gos_opt(&[&model, "--target", "rpi3", "--input-shape", "x=1xq"]), 2, "is not a whole number");
}

#[test]
fn round_trip_writes_a_verified_model_with_metadata_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("resnet8.onnx");
    std::fs::copy(bundled("resnet8/model.onnx"), &input).unwrap();
    let report = dir.path().join("r.json");
    let (input, report) = (input.display().to_string(), report.display().to_string());
    let run = gos_opt(&[&input, "--target", "rpi3", "--mode", "none", "--report", &report]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.path().join("resnet8.opt.onnx");
    let m = ModelProto::parse_from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let meta: Vec<(String, String)> = m.metadata_props.iter().map(|e| (e.key.clone(), e.value.clone())).collect();
    assert!(meta.contains(&("gos-opt.target".into(), "rpi3".into())), "{meta:?}");
    assert!(meta.iter().any(|(k, _)| k == "gos-opt.version"));
    let original = ModelProto::parse_from_bytes(&std::fs::read(&input).unwrap()).unwrap();
    let names = |m: &ModelProto| m.graph.node.iter().map(|n| (n.name.clone(), n.op_type.clone())).collect::<Vec<_>>();
    assert_eq!(names(&m), names(&original), "node for node");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["verification"]["passed"], true);
}

#[test]
fn inspect_counts_resnet8_macs() {
    let model = bundled("resnet8/model.onnx").display().to_string();
    let run = gos_opt(&["inspect", &model, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let macs = json["total_macs"].as_u64().unwrap() as f64;
    // MLPerf Tiny publishes 12.50 M MACs for ResNet-8.
    assert!((macs / 12.50e6 - 1.0).abs() <= 0.02, "ResNet-8 MACs {macs}");
    assert_eq!(json["nodes"].as_array().unwrap().len(), 24);
    assert!(json["opaque_ops"].as_array().unwrap().is_empty());
    let text = gos_opt(&["inspect", &model]);
    assert!(text.stdout.contains("24 nodes"), "{}", text.stdout);
}

#[test]
fn inspect_matches_published_mlperf_tiny_macs() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/mlperf-tiny/onnx");
    if !shared.is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    // Published figures (shared/anchors/HARDWARE.md); gos-opt must be within 2%.
    for (model, published) in [
        ("dscnn_kws", 2.66e6),
        ("mobilenetv1_025_vww96", 7.49e6),
        ("resnet8_cifar10_pretrainedResnet", 12.50e6),
        ("fc_autoencoder_ad01", 0.264e6),
        ("resnet_large_cifar10", 76.5e6),
    ] {
        let path = shared.join(model).join("model.onnx").display().to_string();
        let run = gos_opt(&["inspect", &path, "--json"]);
        assert_eq!(run.code, 0, "{model}: {}", run.stderr);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let macs = json["total_macs"].as_u64().unwrap() as f64;
        assert!((macs / published - 1.0).abs() <= 0.02, "{model}: {macs} MACs vs published {published}");
    }
}

#[test]
fn external_data_is_read_beside_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = ModelProto::parse_from_bytes(&std::fs::read(bundled("mnist-8/model.onnx")).unwrap()).unwrap();
    let graph = m.graph.as_mut().unwrap();
    // Move every initializer's data into one file, as large models do.
    let mut blob = Vec::new();
    for init in graph.initializer.iter_mut() {
        let proto = gos_opt::onnx::tensor_from_proto(init, None).unwrap();
        let raw = gos_opt::onnx::tensor_to_proto(&init.name, &proto).raw_data;
        let entry = |k: &str, v: String| {
            let mut e = onnx_protobuf::StringStringEntryProto::new();
            e.key = k.into();
            e.value = v;
            e
        };
        init.external_data = vec![
            entry("location", "weights.bin".into()),
            entry("offset", blob.len().to_string()),
            entry("length", raw.len().to_string()),
        ];
        init.data_location = protobuf::EnumOrUnknown::from_i32(1);
        init.float_data.clear();
        init.raw_data.clear();
        blob.extend(raw);
    }
    std::fs::write(dir.path().join("weights.bin"), &blob).unwrap();
    let path = write(dir.path(), "external.onnx", &m.write_to_bytes().unwrap());
    let run = gos_opt(&[&path, "--target", "rpi3", "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A location that leaves the model's folder is refused.
    m.graph.as_mut().unwrap().initializer[0].external_data[0].value = "../weights.bin".into();
    let escaping = write(dir.path(), "escaping.onnx", &m.write_to_bytes().unwrap());
    assert_error(&gos_opt(&[&escaping, "--target", "rpi3"]), 1, "must be relative and stay beside the model");
}

#[test]
fn unknown_ops_pass_through_with_their_attributes() {
    let dir = tempfile::tempdir().unwrap();
    // Selu is not interpreted by gos-opt but tract runs it: it must come out unchanged.
    let mut selu = node("act", "Selu", "", &["x"], &["y"]);
    let mut alpha = onnx_protobuf::AttributeProto::new();
    alpha.name = "alpha".into();
    alpha.f = 1.5;
    alpha.type_ = protobuf::EnumOrUnknown::new(onnx_protobuf::attribute_proto::AttributeType::FLOAT);
    selu.attribute.push(alpha);
    let path = write(dir.path(), "selu.onnx", &model(tensor_type(&[1, 4], &[]), vec![selu.clone()], vec![]));
    let run = gos_opt(&[&path, "--target", "rpi3", "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = ModelProto::parse_from_bytes(&std::fs::read(dir.path().join("selu.opt.onnx")).unwrap()).unwrap();
    assert_eq!(out.graph.node.len(), 1);
    assert_eq!(out.graph.node[0], selu);
    let inspect = gos_opt(&["inspect", &path]);
    assert!(inspect.stdout.contains("opaque ops (passed through unchanged): Selu"), "{}", inspect.stdout);
}

#[test]
fn exact_mode_saturates_extracts_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mnist.onnx");
    std::fs::copy(bundled("mnist-8/model.onnx"), &input).unwrap();
    let report = dir.path().join("r.json");
    // Exact is the default mode.
    let run = gos_opt(&[
        &input.display().to_string(),
        "--target",
        "rpi3",
        "--iter-limit",
        "10",
        "--report",
        &report.display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("predicted rpi3 latency") && run.stderr.contains("e-graph:"), "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["mode"], "exact");
    assert_eq!(json["verification"]["passed"], true);
    // Per rule: applied and whether it survives; per original node: its fate.
    let rules = json["search"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), json["search"]["applied"].as_object().unwrap().len());
    assert!(rules.iter().any(|r| r["survives"] == true), "{rules:?}");
    let fates = json["search"]["fates"].as_array().unwrap();
    assert_eq!(fates.len() as u64, json["nodes_before"].as_u64().unwrap());
    let known = ["kept", "rewritten", "merged", "removed"];
    assert!(fates.iter().all(|f| known.contains(&f["fate"].as_str().unwrap())), "{fates:?}");
    let search = &json["search"];
    assert!(search["iterations"].as_u64().unwrap() <= 10, "{search}");
    assert!(search["nodes"].as_u64().unwrap() > 0 && search["classes"].as_u64().unwrap() > 0);
    assert!(json["nodes_after"].as_u64().unwrap() <= json["nodes_before"].as_u64().unwrap());
    assert!(search["applied"].as_object().is_some_and(|a| !a.is_empty()), "{search}");
    // The report's numbers add up: per-layer predicted latency sums to each model's total.
    for side in ["before", "after"] {
        let model = &json[side];
        let layers: f64 =
            model["nodes"].as_array().unwrap().iter().map(|n| n["cost"]["latency_s"].as_f64().unwrap()).sum();
        let total = model["cost"]["latency_s"].as_f64().unwrap();
        assert!((layers - total).abs() <= 1e-12 + 1e-9 * total, "{side}: {layers} vs {total}");
        assert_eq!(model["nodes"].as_array().unwrap().len() as u64, json[format!("nodes_{side}")].as_u64().unwrap());
    }
    // The same run reported for a person.
    let markdown = dir.path().join("r.md");
    let run = gos_opt(&[
        &input.display().to_string(),
        "--target",
        "rpi3",
        "--mode",
        "exact",
        "-q",
        "--report",
        &markdown.display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&markdown).unwrap();
    assert!(text.starts_with("# gos-opt report") && text.contains("| predicted latency (ms) |"), "{text}");
    assert!(
        text.contains("| rule | applied | survives in the program |") && text.contains("## What became of each node")
    );
    assert!(run.stderr.is_empty(), "-q prints nothing: {}", run.stderr);
}

#[test]
fn emit_rust_writes_the_module_and_reports_its_arena() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mnist.onnx");
    std::fs::copy(bundled("mnist-8/model.onnx"), &input).unwrap();
    let (rust, report) = (dir.path().join("rust"), dir.path().join("r.json"));
    let run = gos_opt(&[
        &input.display().to_string(),
        "--target",
        "cortex-m4",
        "--emit-rust",
        &rust.display().to_string(),
        "--report",
        &report.display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let source = std::fs::read_to_string(rust.join("model.rs")).unwrap();
    for item in
        ["pub const INPUT_LEN: usize", "pub const OUTPUT_LEN: usize", "pub const ARENA_LEN: usize", "pub fn run("]
    {
        assert!(source.contains(item), "model.rs lacks {item}");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let arena = json["rust"]["arena_bytes"].as_u64().unwrap();
    assert!(arena > 0 && arena <= json["rust"]["unplanned_bytes"].as_u64().unwrap(), "{}", json["rust"]);
    assert!(source.contains(&format!("ARENA_LEN: usize = {}", arena / 4)), "the module's arena is the reported one");
}

#[test]
fn emit_rust_runs_quantized_models_on_integer_kernels() {
    let Some(shared) = common::shared_dir() else { return };
    let model = shared.join("models/int8/mnist-8/model_qdq.onnx");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mnist_qdq.onnx");
    std::fs::copy(&model, &input).unwrap();
    for (kind, integer_kernels) in [("integer", 3), ("float", 0)] {
        let (rust, report) = (dir.path().join(kind), dir.path().join(format!("{kind}.json")));
        let run = gos_opt(&[
            &input.display().to_string(),
            "--target",
            "cortex-m4",
            "-q",
            "--emit-rust",
            &rust.display().to_string(),
            "--emit-quantized",
            kind,
            "--report",
            &report.display().to_string(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        // Two convolutions and the classifier.
        assert_eq!(json["rust"]["integer_kernels"], integer_kernels, "{kind}: {}", json["rust"]);
        let source = std::fs::read_to_string(rust.join("model.rs")).unwrap();
        assert_eq!(source.contains(": [i8; "), integer_kernels > 0, "{kind}: 8-bit weights");
        assert_eq!(source.contains("k_qconv::<u8, i8, u8, "), integer_kernels > 0, "{kind}: u8 in, i8 weights, u8 out");
    }
}

#[test]
fn operands_that_only_feed_values_may_come_at_run_time() {
    // Clip's upper bound as a graph input, and as a value computed from the input: neither
    // decides a shape, so the model is optimized (Relu(Relu(x)) → Relu(x)) and verified, and
    // both Clips pass through untouched.
    let dir = tempfile::tempdir().unwrap();
    let mut keep = onnx_protobuf::AttributeProto::new();
    keep.name = "keepdims".into();
    keep.type_ = onnx_protobuf::attribute_proto::AttributeType::INT.into();
    keep.i = 0;
    let mut max = node("max", "ReduceMax", "", &["x"], &["m"]);
    max.attribute.push(keep);
    let nodes = vec![
        node("r1", "Relu", "", &["x"], &["a"]),
        node("r2", "Relu", "", &["a"], &["b"]),
        max,
        node("c1", "Clip", "", &["b", "", "m"], &["c"]),
        node("c2", "Clip", "", &["c", "", "hi"], &["y"]),
    ];
    let mut m = ModelProto::parse_from_bytes(&model(tensor_type(&[1, 4], &[]), nodes, vec![])).unwrap();
    m.graph.as_mut().unwrap().input.push(value("hi", tensor_type(&[], &[])));
    let input = write(dir.path(), "m.onnx", &m.write_to_bytes().unwrap());
    let out = dir.path().join("m.opt.onnx").display().to_string();
    let report = dir.path().join("r.json").display().to_string();
    let run = gos_opt(&[&input, "--target", "rpi3", "-o", &out, "--report", &report, "--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let written = ModelProto::parse_from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let mut ops: Vec<&str> = written.graph.node.iter().map(|n| n.op_type.as_str()).collect();
    ops.sort_unstable();
    assert_eq!(ops, ["Clip", "Clip", "ReduceMax", "Relu"]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["verification"]["passed"], true, "{json}");
    // A shape-deciding operand fed at run time is still refused, by name.
    let nodes = vec![node("r", "Reshape", "", &["x", "shape"], &["y"])];
    let mut m = ModelProto::parse_from_bytes(&model(tensor_type(&[1, 4], &[]), nodes, vec![])).unwrap();
    let mut shape = tensor_type(&[2], &[]);
    shape.mut_tensor_type().elem_type = DataType::INT64 as i32;
    m.graph.as_mut().unwrap().input.push(value("shape", shape));
    let input = write(dir.path(), "r.onnx", &m.write_to_bytes().unwrap());
    assert_error(
        &gos_opt(&[&input, "--target", "rpi3", "-o", &out]),
        1,
        "graph input 'shape' decides the output shape",
    );
}

#[test]
fn weights_built_by_constant_of_shape_are_kept_not_written_out() {
    // W = ConstantOfShape([4, 4096], 0.01) is 64 KiB as a constant, far more than the model
    // holds: exact mode keeps the node, so the output stays the input's size.
    let dir = tempfile::tempdir().unwrap();
    let mut shape = TensorProto::new();
    shape.name = "shape".into();
    shape.data_type = DataType::INT64 as i32;
    shape.dims = vec![2];
    shape.int64_data = vec![4, 4096];
    let mut fill = TensorProto::new();
    fill.data_type = DataType::FLOAT as i32;
    fill.dims = vec![1];
    fill.float_data = vec![0.01];
    let mut value = onnx_protobuf::AttributeProto::new();
    value.name = "value".into();
    value.type_ = onnx_protobuf::attribute_proto::AttributeType::TENSOR.into();
    value.t = protobuf::MessageField::some(fill);
    let mut cos = node("w", "ConstantOfShape", "", &["shape"], &["W"]);
    cos.attribute.push(value);
    let nodes = vec![cos, node("r1", "Relu", "", &["x"], &["a"]), node("mm", "MatMul", "", &["a", "W"], &["y"])];
    let mut m = ModelProto::parse_from_bytes(&model(tensor_type(&[1, 4], &[]), nodes, vec![shape])).unwrap();
    m.graph.as_mut().unwrap().output[0] = self::value("y", tensor_type(&[1, 4096], &[]));
    let bytes = m.write_to_bytes().unwrap();
    let input = write(dir.path(), "cos.onnx", &bytes);
    let out = dir.path().join("cos.opt.onnx");
    let run = gos_opt(&[&input, "--target", "rpi3", "-o", &out.display().to_string(), "--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let written = std::fs::read(&out).unwrap();
    assert!(written.len() <= 2 * bytes.len(), "{} bytes written from {}", written.len(), bytes.len());
    let ops: Vec<String> =
        ModelProto::parse_from_bytes(&written).unwrap().graph.node.iter().map(|n| n.op_type.clone()).collect();
    assert!(ops.contains(&"ConstantOfShape".to_string()), "{ops:?}");
}
