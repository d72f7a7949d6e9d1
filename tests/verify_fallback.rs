//! Verification when tract cannot load a model (issue 14.3): gos-opt's own evaluator is the
//! second reference, and the report says which one was used; `--no-verify` writes an
//! unverified model that says so; `--mode none` of a model nothing can run is checked node for
//! node.

mod common;

use onnx_protobuf::{
    tensor_proto::DataType, type_proto, AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");

fn tensor_type(elem: DataType, dims: &[i64]) -> TypeProto {
    let mut t = type_proto::Tensor::new();
    t.elem_type = elem as i32;
    let mut shape = TensorShapeProto::new();
    for &d in dims {
        let mut dim = onnx_protobuf::tensor_shape_proto::Dimension::new();
        dim.set_dim_value(d);
        shape.dim.push(dim);
    }
    t.shape = protobuf::MessageField::some(shape);
    let mut tp = TypeProto::new();
    tp.set_tensor_type(t);
    tp
}

fn value(name: &str, elem: DataType, dims: &[i64]) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = protobuf::MessageField::some(tensor_type(elem, dims));
    v
}

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.name = outputs[0].to_string();
    n.op_type = op.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n
}

fn ints(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = DataType::INT64 as i32;
    t.dims = dims.to_vec();
    t.int64_data = values.to_vec();
    t
}

fn graph(inputs: Vec<ValueInfoProto>, nodes: Vec<NodeProto>, outputs: Vec<ValueInfoProto>) -> GraphProto {
    let mut g = GraphProto::new();
    g.name = "g".into();
    g.input = inputs;
    g.node = nodes;
    g.output = outputs;
    g
}

fn model(g: GraphProto, value_info: Vec<ValueInfoProto>) -> Vec<u8> {
    let mut g = g;
    g.value_info = value_info;
    let mut m = ModelProto::new();
    m.ir_version = 8;
    let mut opset = OperatorSetIdProto::new();
    opset.version = 17;
    m.opset_import.push(opset);
    m.graph = protobuf::MessageField::some(g);
    m.write_to_bytes().expect("serializes")
}

const F: DataType = DataType::FLOAT;

/// An `If` on `c = ReduceSum(x) > 0` (Greater: an op gos-opt does not interpret) whose then-branch is `x` flattened to rank 1 and whose else-branch is `x` as
/// it is (rank 2): tract refuses branches of different rank. Beside it, `z = Relu(Relu(x))`.
fn if_model() -> Vec<u8> {
    let mut flat = graph(vec![], vec![node("Reshape", &["x", "shape"], &["t"])], vec![value("t", F, &[4])]);
    flat.initializer.push(ints("shape", &[1], &[4]));
    let same = graph(vec![], vec![node("Identity", &["x"], &["e"])], vec![value("e", F, &[1, 4])]);
    let mut branch_if = node("If", &["c"], &["y"]);
    for (name, g) in [("then_branch", flat), ("else_branch", same)] {
        let mut a = AttributeProto::new();
        a.name = name.into();
        a.type_ = onnx_protobuf::attribute_proto::AttributeType::GRAPH.into();
        a.g = protobuf::MessageField::some(g);
        branch_if.attribute.push(a);
    }
    let mut g = graph(
        vec![value("x", F, &[1, 4])],
        vec![
            node("ReduceSum", &["x"], &["s"]),
            node("Greater", &["s", "zero"], &["c"]),
            branch_if,
            node("Relu", &["x"], &["a"]),
            node("Relu", &["a"], &["z"]),
        ],
        vec![value("y", F, &[1, 4]), value("z", F, &[1, 4])],
    );
    let mut zero = TensorProto::new();
    zero.name = "zero".into();
    zero.data_type = F as i32;
    zero.float_data = vec![0.0];
    g.initializer.push(zero);
    model(g, vec![value("c", DataType::BOOL, &[1, 1])])
}

/// BatchNormalization whose mean is a graph input and whose variance is computed (`exp(v)`).
fn batchnorm_model() -> Vec<u8> {
    let mut g = graph(
        vec![value("x", F, &[1, 3, 2, 2]), value("m", F, &[3]), value("v", F, &[3])],
        vec![
            node("Relu", &["x"], &["a"]),
            node("Relu", &["a"], &["r"]),
            node("Exp", &["v"], &["var"]),
            node("BatchNormalization", &["r", "g", "b", "m", "var"], &["y"]),
        ],
        vec![value("y", F, &[1, 3, 2, 2])],
    );
    for (name, vals) in [("g", [1.5f32, -0.5, 2.0]), ("b", [0.25f32, 0.0, -1.0])] {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.data_type = F as i32;
        t.dims = vec![3];
        t.float_data = vals.to_vec();
        g.initializer.push(t);
    }
    model(g, vec![])
}

/// MatMul of two 1-D vectors (a scalar result).
fn vector_matmul_model() -> Vec<u8> {
    let g = graph(
        vec![value("a", F, &[4]), value("b", F, &[4])],
        vec![node("Relu", &["a"], &["p"]), node("Relu", &["p"], &["q"]), node("MatMul", &["q", "b"], &["y"])],
        vec![value("y", F, &[])],
    );
    model(g, vec![])
}

struct Run {
    code: i32,
    stderr: String,
    report: serde_json::Value,
    output: Option<ModelProto>,
}

/// Runs the CLI on `bytes` (written as `name`) with `--report` and `args`.
fn run(dir: &Path, name: &str, bytes: &[u8], args: &[&str]) -> Run {
    let input = dir.join(name);
    std::fs::write(&input, bytes).unwrap();
    let (out, report) = (dir.join(format!("{name}.opt.onnx")), dir.join(format!("{name}.json")));
    let _ = std::fs::remove_file(&out);
    let result = Command::new(BIN)
        .arg(&input)
        .args(["--target", "rpi3", "-q", "-o"])
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .args(args)
        .output()
        .expect("the binary runs");
    Run {
        code: result.status.code().expect("exited normally"),
        stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
        report: std::fs::read(&report).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default(),
        output: std::fs::read(&out).ok().map(|b| ModelProto::parse_from_bytes(&b).expect("written ONNX parses")),
    }
}

fn metadata(m: &ModelProto, key: &str) -> Option<String> {
    m.metadata_props.iter().find(|e| e.key == key).map(|e| e.value.clone())
}

fn tract_loads(bytes: &[u8]) -> bool {
    gos_opt::verify::TractModel::load("original", bytes, None, &HashMap::new()).is_ok()
}

/// Each model tract cannot load is optimized in exact mode (a Relu of the two goes), written,
/// and verified by the interpreter on real outputs.
#[test]
fn models_tract_cannot_load_are_verified_by_the_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in
        [("if.onnx", if_model()), ("bn.onnx", batchnorm_model()), ("matmul1d.onnx", vector_matmul_model())]
    {
        let sub = dir.path().join(name.trim_end_matches(".onnx"));
        std::fs::create_dir(&sub).unwrap();
        if name == "if.onnx" {
            // Test sets beside the model take each branch once (their sums are > 0 and < 0).
            for (k, sign) in [1.0f32, -1.0].into_iter().enumerate() {
                let set = sub.join(format!("test_data_set_{k}"));
                std::fs::create_dir(&set).unwrap();
                let mut x = TensorProto::new();
                x.name = "x".into();
                x.data_type = F as i32;
                x.dims = vec![1, 4];
                x.float_data = [1.0, -2.0, 3.0, 0.5].map(|v| v * sign).to_vec();
                std::fs::write(set.join("input_0.pb"), x.write_to_bytes().unwrap()).unwrap();
            }
        }
        let r = run(&sub, name, &bytes, &[]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let v = &r.report["verification"];
        assert_eq!(v["method"], "interpreter", "{name}: tract ran it? {v}");
        assert_eq!(v["passed"], true, "{name}: {v}");
        assert_eq!(r.report["verified"], true);
        let sets = if name == "if.onnx" { 4 } else { 2 };
        assert_eq!(v["input_sets"].as_u64(), Some(sets), "{v}");
        let figures = &v["outputs"][0]["figures"];
        assert!(figures["max_abs"].is_number(), "{name}: no figures: {v}");
        assert_eq!(r.report["nodes_after"].as_u64().unwrap() + 1, r.report["nodes_before"].as_u64().unwrap());
        let out = r.output.expect("written");
        assert_eq!(metadata(&out, "gos-opt.verified").as_deref(), Some("true"));
        assert!(!tract_loads(&bytes), "{name}: tract loads it now; the test no longer tests the fallback");
    }
}

/// The evaluator computes what tract computes, on a real model, and sees a wrong candidate.
#[test]
fn the_interpreter_agrees_with_tract_and_catches_a_wrong_model() {
    use gos_opt::verify::{interpret, random_sets, RandomSpec, TolerancePolicy, TractModel};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist-8/model.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let graph = gos_opt::onnx::import_bytes(&bytes, None, &Default::default()).unwrap();
    let types: HashMap<_, _> =
        graph.inputs.iter().map(|&v| (graph.value(v).name.clone(), graph.ty(v).unwrap().clone())).collect();
    let sets = random_sets(&types, &RandomSpec::with_seed(5), 1).unwrap();
    let tract = TractModel::load("original", &bytes, None, &types).unwrap().run(0, &sets[0]).unwrap();
    let ours = gos_opt::verify::GraphEvaluator::new().unwrap().eval(&graph, &sets[0]).unwrap();
    let mut report = gos_opt::verify::VerifyReport::new("tract", &["y".to_string()]);
    report.add_set(&tract, &ours, &TolerancePolicy::default());
    assert!(report.passed, "{}", report.summary());
    assert!(report.outputs[0].figures.max_abs < 1e-3, "{:?}", report.outputs[0].figures);

    // The If takes the branch its computed condition says: rank 1 when sum(x) > 0, else rank 2.
    let g = gos_opt::onnx::import_bytes(&if_model(), None, &Default::default()).unwrap();
    let evaluator = gos_opt::verify::GraphEvaluator::new().unwrap();
    for (sign, shape) in [(1.0f32, vec![4]), (-1.0, vec![1, 4])] {
        let x = gos_opt::tensor::Tensor::f32(vec![1, 4], [1.0, -2.0, 3.0, 0.5].map(|v| v * sign).to_vec());
        let out = evaluator.eval(&g, &HashMap::from([("x".to_string(), x)])).unwrap();
        assert_eq!(out[0].shape, shape);
        assert_eq!(out[0].to_f64_vec().unwrap(), [1.0, -2.0, 3.0, 0.5].map(|v| f64::from(v * sign)));
        assert_eq!(out[1].to_f64_vec().unwrap(), [1.0, -2.0, 3.0, 0.5].map(|v| f64::from((v * sign).max(0.0))));
    }

    // The BN model against one whose shift is changed: the interpreter's verification fails.
    let bn = batchnorm_model();
    let mut wrong = ModelProto::parse_from_bytes(&bn).unwrap();
    wrong.graph.as_mut().unwrap().initializer[1].float_data[0] = 0.5;
    let wrong = wrong.write_to_bytes().unwrap();
    let [a, b] = [bn, wrong].map(|b| gos_opt::onnx::import_bytes(&b, None, &Default::default()).unwrap());
    let types: HashMap<_, _> = a.inputs.iter().map(|&v| (a.value(v).name.clone(), a.ty(v).unwrap().clone())).collect();
    let sets = random_sets(&types, &RandomSpec::with_seed(1), 2).unwrap();
    let same = interpret(&a, &a, &sets, &TolerancePolicy::default()).unwrap();
    assert!(same.passed && same.outputs[0].figures.max_abs == 0.0, "{}", same.summary());
    let differ = interpret(&a, &b, &sets, &TolerancePolicy::default()).unwrap();
    assert!(!differ.passed && differ.outputs[0].figures.max_abs > 0.1, "{}", differ.summary());
}

/// `--no-verify` writes the model, says `verified: false` in the report and the metadata.
#[test]
fn no_verify_writes_an_unverified_model_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), "bn.onnx", &batchnorm_model(), &["--no-verify"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report["verified"], false);
    assert_eq!(r.report["verification"]["method"], "none");
    assert_eq!(r.report["verification"]["input_sets"], 0);
    assert_eq!(metadata(&r.output.expect("written"), "gos-opt.verified").as_deref(), Some("false"));
}

/// `x → Relu → Relu → Mul(·, s) → Frobnicate (com.example) → Relu → Relu → Add(·, b) → y`:
/// an op neither reference computes between regions exact mode rewrites (a Relu of each pair
/// goes).
fn custom_op_model(s: f32, b: f32) -> Vec<u8> {
    let mut custom = node("Frobnicate", &["m"], &["f"]);
    custom.domain = "com.example".into();
    let mut g = graph(
        vec![value("x", F, &[1, 4])],
        vec![
            node("Relu", &["x"], &["r1"]),
            node("Relu", &["r1"], &["r2"]),
            node("Mul", &["r2", "s"], &["m"]),
            custom,
            node("Relu", &["f"], &["r3"]),
            node("Relu", &["r3"], &["r4"]),
            node("Add", &["r4", "b"], &["y"]),
        ],
        vec![value("y", F, &[1, 4])],
    );
    for (name, v) in [("s", s), ("b", b)] {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.data_type = F as i32;
        t.float_data = vec![v];
        g.initializer.push(t);
    }
    let mut m = ModelProto::parse_from_bytes(&model(g, vec![value("f", F, &[1, 4])])).unwrap();
    let mut custom_opset = OperatorSetIdProto::new();
    custom_opset.domain = "com.example".into();
    custom_opset.version = 1;
    m.opset_import.push(custom_opset);
    m.write_to_bytes().unwrap()
}

/// `--mode none` of a model with an op neither reference computes: the nodes are checked to be
/// the original's, byte for byte. Exact mode verifies the regions around it instead.
#[test]
fn mode_none_with_opaque_ops_is_checked_structurally() {
    let bytes = custom_op_model(2.0, 0.5);
    let m = ModelProto::parse_from_bytes(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), "custom.onnx", &bytes, &["--mode", "none"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report["verification"]["method"], "structural", "{}", r.report["verification"]);
    assert_eq!(r.report["verification"]["passed"], true);
    let out = r.output.expect("written");
    let protos = |m: &ModelProto| m.graph.node.iter().map(|n| n.write_to_bytes().unwrap()).collect::<Vec<_>>();
    assert_eq!(protos(&out), protos(&m));
}

/// Exact mode of a model with an op neither reference computes: both models run in the
/// evaluator cut at that op (its outputs drawn from its declared type, its inputs compared), the
/// rewritten regions on both sides verify, and the report names the cut node.
#[test]
fn exact_mode_verifies_the_regions_around_an_op_nothing_runs() {
    let bytes = custom_op_model(2.0, 0.5);
    assert!(!tract_loads(&bytes), "tract runs com.example ops now; the test no longer tests the cut");
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), "custom.onnx", &bytes, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = &r.report["verification"];
    assert_eq!(v["method"], "regions", "{v}");
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["cut_nodes"], serde_json::json!(["Frobnicate 'f' -> f"]), "{v}");
    // The graph output and the one input of the cut node, on the 2 random sets.
    let names: Vec<&str> = v["outputs"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["y", "input 0 of Frobnicate 'f' -> f"]);
    assert_eq!(v["input_sets"], 2);
    assert_eq!(r.report["nodes_before"], 7);
    assert_eq!(r.report["nodes_after"], 5, "a Relu of each pair goes");
    let out = r.output.expect("written");
    assert_eq!(metadata(&out, "gos-opt.verified").as_deref(), Some("true"));
}

/// The cut verification sees a wrong candidate on either side of the cut: a changed scale
/// before it (the cut node's input differs) and a changed bias after it (the output differs);
/// a candidate without the cut node fails too.
#[test]
fn the_cut_verification_catches_wrong_regions_on_both_sides() {
    use gos_opt::verify::{random_sets, regions, RandomSpec, TolerancePolicy};
    let import = |b: &[u8]| gos_opt::onnx::import_bytes(b, None, &Default::default()).unwrap();
    let original = import(&custom_op_model(2.0, 0.5));
    let types: HashMap<_, _> =
        original.inputs.iter().map(|&v| (original.value(v).name.clone(), original.ty(v).unwrap().clone())).collect();
    // Inputs away from zero, where the Relus pass them.
    let spec = RandomSpec { float_range: (0.5, 1.0), ..RandomSpec::with_seed(3) };
    let sets = random_sets(&types, &spec, 2).unwrap();
    let policy = TolerancePolicy::default();
    let same = regions(&original, &original, &sets, &policy).unwrap();
    assert!(same.passed, "{}", same.summary());
    assert!(same.summary().contains("around 1 node(s) nothing can run"), "{}", same.summary());
    let before = regions(&original, &import(&custom_op_model(2.5, 0.5)), &sets, &policy).unwrap();
    assert!(!before.passed && !before.outputs[1].passed && before.outputs[0].passed, "{before:?}");
    let after = regions(&original, &import(&custom_op_model(2.0, 0.75)), &sets, &policy).unwrap();
    assert!(!after.passed && !after.outputs[0].passed && after.outputs[1].passed, "{after:?}");
    let mut without = ModelProto::parse_from_bytes(&custom_op_model(2.0, 0.5)).unwrap();
    let g = without.graph.as_mut().unwrap();
    g.node.retain(|n| n.op_type != "Frobnicate");
    g.node[3].input[0] = "m".into();
    let err = regions(&original, &import(&without.write_to_bytes().unwrap()), &sets, &policy).unwrap();
    assert!(!err.passed && err.problems.iter().any(|p| p.contains("the candidate has no node Frobnicate")), "{err:?}");
}

/// QLinearMatMul with fp16 scales, which tract refuses (issue 14.3): gos-opt's evaluator
/// computes every ONNX conformance case's expected output exactly (fp16 and f32 scales, u8 and
/// i8, 2-D and 3-D), and exact mode writes the fp16 cases verified by it.
#[test]
fn qlinearmatmul_with_fp16_scales_is_interpreted_exactly() {
    let Some(shared) = common::shared_dir() else { return };
    let evaluator = gos_opt::verify::GraphEvaluator::new().unwrap();
    for rank in ["2D", "3D"] {
        for ty in ["uint8", "int8"] {
            for scale in ["float16", "float32"] {
                let name = format!("test_qlinearmatmul_{rank}_{ty}_{scale}");
                let dir = shared.join("conformance/onnx-node/node").join(&name);
                let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
                let graph = gos_opt::onnx::import_bytes(&bytes, None, &Default::default()).unwrap();
                for set in gos_opt::verify::load_test_sets(&dir, None).unwrap() {
                    let inputs = graph.inputs.iter().zip(&set.inputs);
                    let feeds = inputs.map(|(&v, (_, t))| (graph.value(v).name.clone(), t.clone())).collect();
                    let got = evaluator.eval(&graph, &feeds).unwrap();
                    assert_eq!(got[0], set.outputs[0].1, "{name}");
                }
                assert_eq!(tract_loads(&bytes), scale == "float32", "{name}: tract's support changed");
                if scale == "float16" {
                    let tmp = tempfile::tempdir().unwrap();
                    let r = run(tmp.path(), "q.onnx", &bytes, &[]);
                    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
                    assert_eq!(r.report["verification"]["method"], "interpreter", "{name}");
                    assert_eq!(r.report["verification"]["passed"], true, "{name}");
                }
            }
        }
    }
}
