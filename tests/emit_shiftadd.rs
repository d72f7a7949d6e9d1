//! The shift-add back end (issue 13, item 3): a quantized contraction whose weights are
//! digit-coded runs as shift-add kernels (`k_saconv`, `k_samm`, and with partials shared across
//! the output channels `k_saconv_shared`, `k_samm_shared`) and computes bit for bit what
//! the multiply kernels compute. Small QDQ models built here (convolutions 3×3, strided and
//! padded, depthwise, grouped and dilated, 1×1; Gemm; MatMul; negative weights and all-zero
//! channels) and the shared int8 QDQ models are emitted coded and plain, compiled together, run,
//! and compared with each other (bit for bit) and with tract (within one quantization step;
//! the stored onnxruntime outputs where tract disagrees with them).
//! A coded module also builds for ARMv6-M (`thumbv6m-none-eabi`) with no multiply instruction
//! in the shift-add loops.

mod common;

use common::emitted::{agree, compile, one_step};
use common::{shared_dir, target_dir, types_of};
use gos_opt::emit::{self, EmitOptions, EmitReport};
use gos_opt::graph::{ConstOrigin, Graph, ValueKind};
use gos_opt::onnx::{import, import_bytes, ImportOptions};
use gos_opt::tensor::{DType, Tensor, TensorType};
use gos_opt::verify::{io_names, load_test_sets, InputSet, TractModel};
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto, GraphProto, Message,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");

/// The shift-add kernels.
const SHIFT_ADD: [&str; 4] = ["k_saconv", "k_samm", "k_saconv_shared", "k_samm_shared"];

/// Whether a module shares partials across output channels (MCM).
fn shares_partials(r: &EmitReport) -> bool {
    r.kernels.iter().any(|k| k == "k_saconv_shared" || k == "k_samm_shared")
}

/// Whether a module runs layers as shift-add kernels (the report counts them; its kernel list
/// names them).
fn uses_shift_add(r: &EmitReport) -> bool {
    let named = r.kernels.iter().any(|k| SHIFT_ADD.contains(&k.as_str()));
    assert_eq!(named, r.shift_add_kernels > 0, "{r:?}");
    named
}

// --- Small QDQ models -------------------------------------------------------------------------

/// A contraction of a small QDQ model: `x → Q → DQ → op(DQ(w), bias) [→ Relu] → Q → DQ → y`.
struct Small {
    name: &'static str,
    /// Conv, Gemm (B transposed) or MatMul.
    op: &'static str,
    x: Vec<i64>,
    w: Vec<i64>,
    /// Conv attributes: pads (top, left, bottom, right), strides, dilations, group.
    pads: [i64; 4],
    strides: [i64; 2],
    dilations: [i64; 2],
    group: i64,
    relu: bool,
    /// Input zero point: `Some(z)` for uint8, else int8 with zero point −5.
    unsigned: Option<u8>,
}

impl Small {
    fn conv(name: &'static str, x: [i64; 4], w: [i64; 4]) -> Small {
        Small {
            name,
            op: "Conv",
            x: x.to_vec(),
            w: w.to_vec(),
            pads: [0; 4],
            strides: [1, 1],
            dilations: [1, 1],
            group: 1,
            relu: false,
            unsigned: Some(128),
        }
    }

    fn matrix(name: &'static str, op: &'static str, x: [i64; 2], w: [i64; 2]) -> Small {
        Small { op, x: x.to_vec(), w: w.to_vec(), ..Small::conv(name, [0; 4], [0; 4]) }
    }

    /// Output channels and the weight axis they lie along.
    fn channels(&self) -> (usize, i64) {
        match self.op {
            "MatMul" => (self.w[1] as usize, 1),
            _ => (self.w[0] as usize, 0),
        }
    }

    /// The model as ONNX, its weights marked digit-coded when `coded`.
    fn model(&self, coded: bool) -> Vec<u8> {
        let (m, axis) = self.channels();
        let n: usize = self.w.iter().product::<i64>() as usize;
        // Weights over all of [-128, 127] with many zeros, the extremes, and channel 1 all zero.
        let per = n / m;
        let mut w: Vec<i8> = (0..n).map(|i| if i % 5 == 2 { 0 } else { ((i * 89 + 31) % 256) as u8 as i8 }).collect();
        (w[0], w[n - 1]) = (-128, 127);
        for (i, v) in w.iter_mut().enumerate() {
            let ch = if axis == 0 { i / per } else { i % m };
            if ch == 1 {
                *v = 0;
            }
        }
        let mut wt = tensor("w", DataType::INT8, &self.w, w.iter().map(|&v| v as u8).collect());
        if coded {
            wt.doc_string = gos_opt::shiftadd::CODED.into();
        }
        let (xzt, xz) = match self.unsigned {
            Some(z) => (DataType::UINT8, z),
            None => (DataType::INT8, (-5i8) as u8),
        };
        let mut inits = vec![
            wt,
            floats("sx", &[], &[0.02]),
            tensor("zx", xzt, &[], vec![xz]),
            floats("sw", &[m as i64], &(0..m).map(|c| 0.002 + 0.0007 * (c % 4) as f32).collect::<Vec<_>>()),
            tensor("zw", DataType::INT8, &[m as i64], vec![0; m]),
            floats("sy", &[], &[0.05]),
            tensor("zy", DataType::UINT8, &[], vec![100]),
        ];
        let mut contraction = node(self.op, &["xd", "wd"], &["c"]);
        if self.op != "MatMul" {
            inits.push(floats("b", &[m as i64], &(0..m).map(|c| c as f32 * 0.1 - 0.3).collect::<Vec<_>>()));
            contraction.input.push("b".into());
        }
        if self.op == "Conv" {
            contraction.attribute.extend([
                ints_attr("pads", &[self.pads[0], self.pads[1], self.pads[2], self.pads[3]]),
                ints_attr("strides", &self.strides),
                ints_attr("dilations", &self.dilations),
                int_attr("group", self.group),
            ]);
        }
        if self.op == "Gemm" {
            contraction.attribute.push(int_attr("transB", 1));
        }
        let mut dqw = node("DequantizeLinear", &["w", "sw", "zw"], &["wd"]);
        dqw.attribute.push(int_attr("axis", axis));
        let act = if self.relu { "r" } else { "c" };
        let mut nodes = vec![
            node("QuantizeLinear", &["x", "sx", "zx"], &["xq"]),
            node("DequantizeLinear", &["xq", "sx", "zx"], &["xd"]),
            dqw,
            contraction,
        ];
        if self.relu {
            nodes.push(node("Relu", &["c"], &["r"]));
        }
        nodes.push(node("QuantizeLinear", &[act, "sy", "zy"], &["yq"]));
        nodes.push(node("DequantizeLinear", &["yq", "sy", "zy"], &["y"]));
        let mut g = GraphProto::new();
        g.name = self.name.into();
        g.node = nodes;
        g.initializer = inits;
        g.input.push(value("x", &self.x));
        g.output.push(value("y", &[]));
        let mut model = ModelProto::new();
        model.ir_version = 8;
        let mut opset = OperatorSetIdProto::new();
        opset.version = 17;
        model.opset_import.push(opset);
        model.graph = protobuf::MessageField::some(g);
        model.write_to_bytes().expect("serializes")
    }

    /// Seeded inputs over the quantized range and beyond it (saturating).
    fn inputs(&self, seed: u64) -> InputSet {
        let n = self.x.iter().product::<i64>() as usize;
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let data = (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) % 6001) as f32 / 1000.0 - 3.0
            })
            .collect();
        let shape = self.x.iter().map(|&d| d as usize).collect();
        [("x".to_string(), Tensor::f32(shape, data))].into_iter().collect()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.name = format!("{op}_{}", outputs[0]);
    n.op_type = op.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n
}

fn tensor(name: &str, ty: DataType, dims: &[i64], raw: Vec<u8>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = ty as i32;
    t.dims = dims.to_vec();
    t.raw_data = raw;
    t
}

fn floats(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    tensor(name, DataType::FLOAT, dims, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = v.to_vec();
    a
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = v;
    a
}

/// A float tensor's value info (shape left to inference when `dims` is empty).
fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    let mut t = type_proto::Tensor::new();
    t.elem_type = DataType::FLOAT as i32;
    if !dims.is_empty() {
        let mut shape = TensorShapeProto::new();
        for &d in dims {
            let mut dim = onnx_protobuf::tensor_shape_proto::Dimension::new();
            dim.set_dim_value(d);
            shape.dim.push(dim);
        }
        t.shape = protobuf::MessageField::some(shape);
    }
    let mut tp = TypeProto::new();
    tp.set_tensor_type(t);
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = protobuf::MessageField::some(tp);
    v
}

fn small_models() -> Vec<Small> {
    let conv = Small::conv;
    vec![
        Small { pads: [1; 4], relu: true, ..conv("conv3x3_pad", [1, 3, 9, 7], [5, 3, 3, 3]) },
        Small {
            pads: [1, 0, 1, 2],
            strides: [2, 2],
            unsigned: None,
            ..conv("conv3x3_stride2_int8", [1, 4, 10, 11], [6, 4, 3, 3])
        },
        Small { pads: [1; 4], group: 6, relu: true, ..conv("depthwise", [1, 6, 8, 9], [6, 1, 3, 3]) },
        Small {
            pads: [2, 1, 2, 1],
            dilations: [2, 1],
            group: 2,
            ..conv("grouped_dilated", [1, 4, 6, 7], [6, 2, 3, 3])
        },
        conv("pointwise", [1, 8, 5, 3], [7, 8, 1, 1]),
        Small { relu: true, ..Small::matrix("gemm", "Gemm", [3, 20], [10, 20]) },
        Small { unsigned: None, ..Small::matrix("matmul", "MatMul", [5, 12], [12, 9]) },
        // Enough channels for pairs of taps to recur: partials shared (names ending `_shared`).
        Small { pads: [1; 4], strides: [2, 1], ..conv("conv3x3_shared", [1, 4, 9, 8], [24, 4, 3, 3]) },
        Small { unsigned: None, ..Small::matrix("gemm_shared", "Gemm", [2, 40], [32, 40]) },
    ]
}

// --- Running emitted modules ------------------------------------------------------------------

/// Writes each job's input, runs them all with `runner`, returns the outputs in job order.
fn run_jobs(runner: &Path, io: &Path, jobs: &[(String, Vec<f32>)]) -> Vec<Vec<f32>> {
    std::fs::create_dir_all(io).expect("create io");
    let mut list = String::new();
    for (k, (ident, x)) in jobs.iter().enumerate() {
        let (i, o) = (io.join(format!("{k}.in")), io.join(format!("{k}.out")));
        std::fs::write(&i, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).expect("write input");
        let _ = writeln!(list, "{ident} {} {}", i.display(), o.display());
    }
    let file = io.join("jobs");
    std::fs::write(&file, list).expect("write jobs");
    let run = Command::new(runner).arg(&file).output().expect("run the generated code");
    assert!(run.status.success(), "the generated code failed: {}", String::from_utf8_lossy(&run.stderr));
    (0..jobs.len())
        .map(|k| {
            let bytes = std::fs::read(io.join(format!("{k}.out"))).expect("output");
            bytes.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        })
        .collect()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_f64_vec().expect("numeric").into_iter().map(|v| v as f32).collect()
}

/// Bit-for-bit equality of the coded and plain outputs, and agreement of the coded ones with
/// the reference (tract) within `step` (one quantization step of the output): a float evaluation may round a
/// value within float error of a rounding boundary the other way.
fn judge(label: &str, coded: &[f32], plain: &[f32], reference: &[f32], step: f64) -> Result<(), String> {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if bits(coded) != bits(plain) {
        let first = coded.iter().zip(plain).position(|(a, b)| a.to_bits() != b.to_bits());
        return Err(format!("{label}: coded and plain outputs differ (first at {first:?})"));
    }
    let (abs, _, ok) = agree(reference, coded);
    let (off, within) = one_step(reference, coded, step);
    println!("{label}: coded = plain bit for bit; vs reference max abs {abs:.2e}, {off} value(s) one step off");
    if ok || within {
        Ok(())
    } else {
        Err(format!("{label}: more than one quantization step from the reference (max abs {abs:.2e})"))
    }
}

#[test]
fn small_models_run_shift_add_kernels_bit_for_bit() {
    let root = target_dir().join("emit-shiftadd/small");
    let src = root.join("src");
    let mut idents = Vec::new();
    let mut jobs = Vec::new();
    let mut references = Vec::new();
    for model in small_models() {
        for coded in [true, false] {
            let ident = format!("{}_{}", model.name, if coded { "coded" } else { "plain" });
            let bytes = model.model(coded);
            let shapes = [("x".to_string(), model.x.iter().map(|&d| d as usize).collect())].into();
            let graph = import_bytes(&bytes, None, &ImportOptions { input_shapes: shapes, ..Default::default() })
                .unwrap_or_else(|e| panic!("{ident}: import: {e}"));
            // The plain module as for cortex-m0plus: plain int8 layouts (`k_qconv`, not the
            // packed one) storing through tables of steps; the coded one with the float formula
            // (the shared models below check the other way round): equal bits check both.
            let options = EmitOptions { integer_requant: !coded, narrow_int8: !coded, ..EmitOptions::default() };
            let r = emit::emit_rust_with(&graph, &src.join(&ident), &options)
                .unwrap_or_else(|e| panic!("{ident}: emit: {e}"));
            assert_eq!(r.integer_kernels, 1, "{ident}: the contraction runs as an integer kernel");
            assert_eq!(r.shift_add_kernels, usize::from(coded), "{ident}");
            // One table where the output is integers (a QuantizeLinear follows).
            assert!(r.step_tables <= usize::from(!coded), "{ident}");
            assert_eq!(uses_shift_add(&r), coded, "{ident}: kernels {:?}", r.kernels);
            // Partials are shared where they pay (at least in the `_shared` models), and never
            // across groups.
            if coded && model.name.ends_with("_shared") {
                assert!(shares_partials(&r), "{ident}: kernels {:?}", r.kernels);
            }
            if !coded || model.group > 1 {
                assert!(!shares_partials(&r), "{ident}: kernels {:?}", r.kernels);
            }
            idents.push(ident.clone());
            for seed in 0..3 {
                jobs.push((ident.clone(), f32s(&model.inputs(seed)["x"])));
            }
        }
        let types: HashMap<String, TensorType> =
            [("x".to_string(), TensorType::new(DType::F32, model.x.iter().map(|&d| d as usize).collect()))].into();
        let tract = TractModel::load(model.name, &model.model(false), None, &types).expect("tract loads");
        for seed in 0..3 {
            references.push(f32s(&tract.run(seed, &model.inputs(seed as u64)).expect("tract runs")[0]));
        }
    }
    let runner = compile(&root, &idents, &[]).unwrap_or_else(|e| panic!("{e}"));
    let outputs = run_jobs(&runner, &root.join("io"), &jobs);
    // Jobs: per model, 3 coded then 3 plain.
    let mut failures = Vec::new();
    for (k, model) in small_models().iter().enumerate() {
        for seed in 0..3 {
            let (coded, plain) = (&outputs[6 * k + seed], &outputs[6 * k + 3 + seed]);
            let label = format!("{} set {seed}", model.name);
            failures.extend(judge(&label, coded, plain, &references[3 * k + seed], 0.05).err());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// --- Shared int8 models -----------------------------------------------------------------------

/// `graph` with the digit-coded marks taken off its constants.
fn uncoded(mut graph: Graph) -> Graph {
    for v in &mut graph.values {
        if let ValueKind::Const { origin: ConstOrigin::Initializer { doc_string, .. }, .. } = &mut v.kind {
            doc_string.clear();
        }
    }
    graph
}

/// The quantization step of the DequantizeLinear nearest the first output (on the first-input
/// path back from it).
fn output_step(graph: &Graph) -> Option<f64> {
    let mut at = graph.outputs.first().copied();
    while let Some(v) = at {
        let ValueKind::Node { node } = graph.value(v).kind else { break };
        let n = graph.node(node);
        if matches!(n.op, gos_opt::ops::Op::DequantizeLinear(_)) {
            return n.inputs.get(1).copied().flatten().and_then(|s| graph.constant(s)).and_then(|t| t.scalar_f64());
        }
        at = n.inputs.first().copied().flatten();
    }
    None
}

/// `gos-opt MODEL --target cortex-m0plus -o DIR/model.onnx --emit-rust DIR`: the optimized
/// model and its (coded) module.
fn optimize_for_m0plus(model: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create dir");
    let out = dir.join("optimized.onnx");
    let status = Command::new(BIN)
        .arg(model)
        .args(["--target", "cortex-m0plus", "-q", "--no-verify", "-o"])
        .arg(&out)
        .arg("--emit-rust")
        .arg(dir)
        .status()
        .expect("run gos-opt");
    assert!(status.success(), "gos-opt failed on {}", model.display());
    out
}

#[test]
fn shared_int8_models_run_shift_add_kernels_bit_for_bit() {
    let Some(shared) = shared_dir() else { return };
    let root = target_dir().join("emit-shiftadd/shared");
    let src = root.join("src");
    let (mut idents, mut jobs, mut expected) = (Vec::new(), Vec::new(), Vec::new());
    let mut sharing = 0;
    // Every one has layers the cortex-m0plus target codes.
    for name in common::suite::INT8_MODELS {
        let path = shared.join("models/int8").join(name).join("model_qdq.onnx");
        let dir = path.parent().expect("dir");
        let bytes = std::fs::read(&path).expect("model");
        let (declared, _) = io_names(&bytes).expect("ONNX");
        let test_sets = load_test_sets(dir, Some("qdq")).expect("test sets");
        let sets: Vec<InputSet> = test_sets.iter().map(|s| s.input_set(&declared).expect("inputs")).collect();
        let ident = name.replace('-', "_").to_lowercase();
        let coded_id = format!("{ident}_coded");
        let optimized = optimize_for_m0plus(&path, &src.join(&coded_id));
        let shapes = types_of(&sets[0]).into_iter().map(|(k, t)| (k, t.shape)).collect();
        let graph = import(&optimized, &ImportOptions { input_shapes: shapes, ..Default::default() })
            .expect("import the optimized model");
        // Integer stores (tables of steps) in the coded module, as gos-opt emits it for
        // cortex-m0plus; the float formula in the plain one.
        let options = EmitOptions { integer_requant: true, ..EmitOptions::default() };
        let coded = emit::generate(&graph, &options).expect("emit coded");
        assert!(uses_shift_add(&coded.report), "{name}: the cortex-m0plus module has shift-add kernels");
        sharing += usize::from(shares_partials(&coded.report));
        assert!(coded.report.step_tables > 0, "{name}: the module stores through tables of steps");
        // A weights budget one byte short of every table: some layers keep the float store, and
        // the weights fit.
        let budget = coded.report.weights_bytes - 1;
        let fitted = emit::generate(&graph, &EmitOptions { weights_budget: Some(budget), ..options }).expect("emit");
        let f = &fitted.report;
        assert!(f.weights_bytes <= budget && f.step_tables_left_out > 0, "{name}: {f:?}");
        assert_eq!(f.step_tables + f.step_tables_left_out, coded.report.step_tables, "{name}");
        let (r, weights) = (&coded.report, coded.weights.as_ref().map_or(0, Vec::len));
        println!(
            "int8/{name}: {} of {} integer kernels shift-add; weights {} B ({weights} B in weights.bin)",
            r.shift_add_kernels, r.integer_kernels, r.weights_bytes
        );
        let plain_id = format!("{ident}_plain");
        let step = output_step(&graph).expect("a quantized output");
        let plain = emit::emit_rust(&uncoded(graph), &src.join(&plain_id)).expect("emit plain");
        assert!(!uses_shift_add(&plain), "{name}: the plain module multiplies");
        let types = types_of(&sets[0]);
        let tract = TractModel::load(name, &bytes, Some(dir), &types).expect("tract loads");
        for (k, set) in sets.iter().enumerate() {
            let x = f32s(&set[&tract.input_names()[0]]);
            jobs.push((coded_id.clone(), x.clone()));
            jobs.push((plain_id.clone(), x));
            let mut reference = f32s(&tract.run(k, set).expect("tract runs")[0]);
            // Where tract disagrees with the stored (onnxruntime) outputs (the int8 ViTs), those
            // judge, as in tests/emit.rs.
            if let Some(stored) = test_sets[k].expected().into_iter().next().map(|t| f32s(&t)) {
                if !agree(&stored, &reference).2 {
                    println!("int8/{name} set {k}: tract disagrees with the stored outputs, which judge");
                    reference = stored;
                }
            }
            expected.push((format!("int8/{name} set {k}"), reference, step));
        }
        idents.extend([coded_id, plain_id]);
    }
    assert!(sharing > 0, "some shared model's module shares partials across channels");
    let runner = compile(&root, &idents, &[]).unwrap_or_else(|e| panic!("{e}"));
    let outputs = run_jobs(&runner, &root.join("io"), &jobs);
    let failures: Vec<String> = expected
        .iter()
        .enumerate()
        .filter_map(|(k, (label, reference, step))| {
            judge(label, &outputs[2 * k], &outputs[2 * k + 1], reference, *step).err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// --- ARMv6-M ----------------------------------------------------------------------------------

/// Builds `dir/model.rs` for `thumbv6m-none-eabi` with a bare-metal wrapper (as
/// `shared/tools/cortexm/wrapper.rs` has it) into an object file; `None` (printed) when the
/// target is not installed.
fn build_thumbv6m(dir: &Path) -> Option<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().expect("rustc");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib/thumbv6m-none-eabi").is_dir() {
        println!("skipping the ARMv6-M build: `rustup target add thumbv6m-none-eabi` first");
        return None;
    }
    let wrapper = "#![no_std]\n#[path = \"model.rs\"]\nmod model;\n\n\
        /// Runs the model on raw pointers.\n///\n/// # Safety\n/// The pointers hold the model's lengths.\n\
        #[no_mangle]\npub unsafe extern \"C\" fn entry(inp: *const f32, out: *mut f32, arena: *mut f32) {\n\
        \x20   let i = unsafe { core::slice::from_raw_parts(inp, model::INPUT_LEN) };\n\
        \x20   let o = unsafe { core::slice::from_raw_parts_mut(out, model::OUTPUT_LEN) };\n\
        \x20   let a = unsafe { core::slice::from_raw_parts_mut(arena, model::ARENA_LEN) };\n\
        \x20   model::run(i, o, a);\n}\n\n\
        #[panic_handler]\nfn panic(_: &core::panic::PanicInfo) -> ! {\n    loop {}\n}\n";
    std::fs::write(dir.join("wrapper.rs"), wrapper).expect("write wrapper");
    let obj = dir.join("wrapper.o");
    let out = Command::new(&rustc)
        .args(["--edition", "2021", "--target", "thumbv6m-none-eabi", "-C", "opt-level=s", "-C", "panic=abort"])
        .args(["-D", "warnings", "--crate-type", "lib", "--emit", "obj", "-o"])
        .arg(&obj)
        .arg(dir.join("wrapper.rs"))
        .output()
        .expect("rustc");
    assert!(
        out.status.success(),
        "the coded module does not build for ARMv6-M:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(obj)
}

/// The instructions of every function whose symbol contains `name`, from `llvm-objdump`.
fn disassembly(obj: &Path, name: &str) -> Option<Vec<String>> {
    let out = Command::new("llvm-objdump").args(["-d", "--no-show-raw-insn"]).arg(obj).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut inside = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.ends_with(">:") {
            inside = line.contains(name);
        } else if inside && !line.trim().is_empty() {
            lines.push(line.to_string());
        }
    }
    Some(lines)
}

#[test]
fn a_coded_module_builds_for_armv6m_without_multiplies_in_its_loops() {
    let dir = target_dir().join("emit-shiftadd/thumbv6m");
    // The model whose module shares partials: both inner functions are checked.
    let model = small_models().into_iter().find(|m| m.name == "conv3x3_shared").expect("the shared conv");
    let bytes = model.model(true);
    let shapes = [("x".to_string(), model.x.iter().map(|&d| d as usize).collect())].into();
    let graph =
        import_bytes(&bytes, None, &ImportOptions { input_shapes: shapes, ..Default::default() }).expect("import");
    let r = emit::emit_rust(&graph, &dir).expect("emit");
    assert!(uses_shift_add(&r) && shares_partials(&r), "{:?}", r.kernels);
    let Some(obj) = build_thumbv6m(&dir) else { return };
    for function in ["k_sa_run", "k_sa_share"] {
        let Some(body) = disassembly(&obj, function) else {
            println!("skipping the instruction check: llvm-objdump not found");
            return;
        };
        assert!(!body.is_empty(), "{function} is a function of the object");
        let muls: Vec<&String> = body.iter().filter(|l| l.contains("\tmul")).collect();
        assert!(muls.is_empty(), "{function} multiplies: {muls:?}");
        println!("{function} on ARMv6-M: {} instructions, no MULS", body.len());
    }
}
