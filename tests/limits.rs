//! Run limits (issue 14, item 6): `--max-memory` refuses a model declaring a tensor larger than
//! the limit before allocating it; `--time-limit` bounds the whole run; the same input and
//! flags give the same bytes in every mode.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");
const MNIST8: &str = "models/mnist-8/model.onnx";
const CALIB: &str = "models/mnist-8/calib/t10k-1000-images-idx3-ubyte.gz";

struct Run {
    code: i32,
    stderr: String,
}

fn gos_opt(args: &[&str]) -> Run {
    let out = Command::new(BIN).args(args).output().expect("the binary runs");
    Run { code: out.status.code().expect("exited normally"), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// A model `y = Relu(x)` whose input is declared `float[dims]`.
fn relu_model(dims: &[i64]) -> Vec<u8> {
    use onnx_protobuf::{type_proto, Message, ModelProto, NodeProto, OperatorSetIdProto, TypeProto, ValueInfoProto};
    let value = |name: &str| {
        let mut t = type_proto::Tensor::new();
        t.elem_type = 1;
        let shape = t.shape.mut_or_insert_default();
        for &d in dims {
            let mut dim = onnx_protobuf::tensor_shape_proto::Dimension::new();
            dim.set_dim_value(d);
            shape.dim.push(dim);
        }
        let mut ty = TypeProto::new();
        ty.set_tensor_type(t);
        let mut v = ValueInfoProto::new();
        v.name = name.into();
        v.type_ = Some(ty).into();
        v
    };
    let mut n = NodeProto::new();
    n.op_type = "Relu".into();
    n.input.push("x".into());
    n.output.push("y".into());
    let mut m = ModelProto::new();
    m.ir_version = 8;
    let mut opset = OperatorSetIdProto::new();
    opset.version = 17;
    m.opset_import.push(opset);
    let g = m.graph.mut_or_insert_default();
    g.node.push(n);
    g.input.push(value("x"));
    g.output.push(value("y"));
    m.write_to_bytes().unwrap()
}

fn one_error_line(run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "'{needle}' not in {}", lines[0]);
}

#[test]
fn tensors_over_max_memory_are_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.onnx");
    // 2^40 floats: 4 TiB, refused by the default limit (4 GiB) with the tensor named.
    std::fs::write(&huge, relu_model(&[1 << 20, 1 << 20])).unwrap();
    let out = dir.path().join("o.onnx");
    let args = [huge.to_str().unwrap(), "--target", "rpi3", "-q", "-o", out.to_str().unwrap()];
    let run = gos_opt(&args);
    one_error_line(
        &run,
        1,
        "input 'x' (float 1048576x1048576) would take 4398046511104 bytes, more than --max-memory 4294967296",
    );
    assert!(!out.exists());
    // A weight over a small limit: mnist-8's largest initializer is 10 x 256 floats (10240 B).
    let run = gos_opt(&[MNIST8, "--target", "rpi3", "-q", "-o", out.to_str().unwrap(), "--max-memory", "8K"]);
    one_error_line(&run, 1, "more than --max-memory 8192 bytes");
    assert!(run.stderr.contains("initializer '"), "{}", run.stderr);
    assert!(!out.exists());
    // Within the limit the model is written; a bad size is a usage error.
    let run = gos_opt(&[MNIST8, "--target", "rpi3", "-q", "-o", out.to_str().unwrap(), "--max-memory", "64M"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = gos_opt(&[MNIST8, "--target", "rpi3", "-q", "--max-memory", "4X"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("unknown size suffix"), "{}", run.stderr);
}

#[test]
fn time_limit_bounds_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.onnx");
    let run = gos_opt(&[MNIST8, "--target", "rpi3", "-q", "-o", out.to_str().unwrap(), "--time-limit", "0"]);
    one_error_line(&run, 1, "--time-limit of 0.0 s exceeded while importing; nothing written");
    assert!(!out.exists());
}

/// Runs gos-opt twice with `args` and returns the two outputs' bytes.
fn twice(dir: &Path, name: &str, args: &[&str]) -> [Vec<u8>; 2] {
    [0, 1].map(|i| {
        let out = dir.join(format!("{name}-{i}.onnx"));
        let run = gos_opt(&[args, &["-q", "-o", out.to_str().unwrap()]].concat());
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        std::fs::read(&out).unwrap()
    })
}

#[test]
fn every_mode_writes_the_same_bytes_twice() {
    let dir = tempfile::tempdir().unwrap();
    let base = [MNIST8, "--target", "rpi3"];
    let calib = format!("{CALIB}@0..100");
    let approx = ["--mode", "approx", "--calib", &calib, "--data-scale", "255", "--budget", "rel=0.1"];
    for (name, extra) in [("none", &["--mode", "none"][..]), ("exact", &[][..]), ("approx", &approx[..])] {
        let [a, b] = twice(dir.path(), name, &[&base[..], extra].concat());
        assert!(a == b, "{name}: two runs wrote different bytes");
    }
}
