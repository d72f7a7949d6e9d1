//! The cost model's arithmetic, pinned by hand-computed figures, and its command line:
//! shipped profiles, `targets`, `inspect --target`, `calibrate` and `--target-file`.

use gos_opt::cost::{self, Bottleneck, MemLevel, OpClass, Precision, Profile};
use gos_opt::ir::{Ir, IrAnalysis, IrGraph, OpPayload, Payload};
use gos_opt::ops::{AutoPad, Binary, BinaryKind, Conv, ConvAttrs, Op, Transpose};
use gos_opt::search::{node_cost, objective_cost};
use gos_opt::tensor::{DType, Tensor, TensorType};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

mod common;

/// A totally ordered cost for egg.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
struct Cost(f64);

/// egg's tree cost over [`objective_cost`]: a node's figure plus its children's. The pipeline
/// extracts DAGs (`gos_opt::search`); this prices single nodes in isolation for the tests.
struct IrCost<'a> {
    profile: &'a Profile,
    objective: cost::Objective,
    egraph: &'a IrGraph,
}

impl<'a> IrCost<'a> {
    fn new(profile: &'a Profile, objective: cost::Objective, egraph: &'a IrGraph) -> IrCost<'a> {
        IrCost { profile, objective, egraph }
    }
}

impl egg::CostFunction<Ir> for IrCost<'_> {
    type Cost = Cost;
    fn cost<C: FnMut(egg::Id) -> Cost>(&mut self, enode: &Ir, mut costs: C) -> Cost {
        use egg::Language;
        let own = objective_cost(self.profile, self.objective, enode, self.egraph);
        enode.fold(Cost(own), |acc, id| Cost(acc.0 + costs(id).0))
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");

fn f32t(shape: &[usize]) -> TensorType {
    TensorType::new(DType::F32, shape.to_vec())
}

fn gos_opt(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).envs(env.iter().copied()).output().expect("the binary runs");
    (
        out.status.code().expect("exited normally"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cost");
    std::fs::create_dir_all(&dir).expect("creates the scratch directory");
    dir.join(name)
}

/// An e-graph over inputs `$x` of type `x` and the given constants `%0, %1, ...`.
fn egraph(x: TensorType, consts: Vec<Tensor>) -> IrGraph {
    let mut a = IrAnalysis::default();
    a.inputs.insert("x".into(), x);
    for (i, t) in consts.into_iter().enumerate() {
        a.consts.insert(i as u32, Arc::new(t));
    }
    IrGraph::new(a)
}

/// The root e-node of `expr` added to `g`.
fn add(g: &mut IrGraph, expr: &str) -> (egg::Id, Ir) {
    let id = g.add_expr(&expr.parse().unwrap_or_else(|e| panic!("{expr}: {e:?}")));
    (id, g[id].nodes[0].clone())
}

#[test]
fn conv3x3_macs_and_rpi3_cycles_are_hand_computed() {
    let rpi3 = cost::load_target("rpi3").unwrap();
    // The figures the hand computation below uses.
    assert_eq!(rpi3.clock_hz, 1.2e9);
    assert_eq!(rpi3.simd[Precision::F32 as usize], 4.0);
    assert_eq!(rpi3.throughput[Precision::F32 as usize][OpClass::Fma as usize], 0.5);
    assert_eq!(rpi3.throughput[Precision::F32 as usize][OpClass::Add as usize], 0.5);
    assert_eq!((rpi3.l1.size, rpi3.l2.size, rpi3.l2.bandwidth), (32768, 524_288, 4.8e9));
    assert_eq!(rpi3.kernel_overhead_cycles, 1000.0);

    // 16 -> 16 channels, 3x3, pad 1, on 32x32, with a bias.
    let attrs = ConvAttrs { pads: vec![1, 1, 1, 1], group: 1, auto_pad: AutoPad::NotSet, ..ConvAttrs::default() };
    let conv = Op::Conv(Conv { attrs });
    let (x, w, b) = (f32t(&[1, 16, 32, 32]), f32t(&[16, 16, 3, 3]), f32t(&[16]));
    let y = conv.infer(&[Some(&x), Some(&w), Some(&b)]).unwrap().remove(0);
    assert_eq!(y.shape, [1, 16, 32, 32]);
    let c = cost::kernel_cost(&rpi3, &conv, &[Some(&x), Some(&w), Some(&b)], &[y]);

    // MACs: 16 out channels x 32x32 outputs x 16 in channels x 3x3 = 2,359,296, as FMAs.
    assert_eq!(c.ops.get(Precision::F32, OpClass::Fma), 2_359_296);
    assert_eq!(c.ops.get(Precision::F32, OpClass::Add), 16 * 32 * 32); // the bias
                                                                       // Compute: 4 lanes x 0.5 Q-form FMLA per cycle = 2 per cycle: 1,179,648 + 8,192 cycles.
    assert_eq!(c.compute_cycles, 1_187_840.0);
    // Bytes: x 65,536 + w 9,216 + b 64 + y 65,536 = 140,352, plus the im2col buffer written and
    // read: 2 x 16 x 9 x 1024 x 4 = 1,179,648. The working set (140,352) fits in L2:
    // 1,320,000 B / 4.8e9 B/s x 1.2e9 Hz = 330,000 cycles. Compute-bound.
    assert_eq!(c.bytes, 1_320_000);
    assert_eq!(c.level, MemLevel::L2);
    assert!((c.memory_cycles - 330_000.0).abs() < 1e-6, "{}", c.memory_cycles);
    assert_eq!(c.bottleneck, Bottleneck::Compute);
    // max(1,187,840, 330,000) + 1,000 overhead = 1,188,840 cycles = 990.7 us at 1.2 GHz.
    assert_eq!(c.cycles, 1_188_840.0);
    assert!((c.latency_s - 990.7e-6).abs() < 1e-12, "{}", c.latency_s);
}

#[test]
fn a_digit_plane_contraction_counts_adds_not_multiplies() {
    let rpi3 = cost::load_target("rpi3").unwrap();
    // Two CSD digit planes of a 8x3 weight (10 and 6 non-zero digits) and an ordinary weight.
    let plane = |nnz: usize| {
        let v: Vec<f32> = (0..24).map(|i| if i < nnz { [1.0, -1.0][i % 2] } else { 0.0 }).collect();
        Tensor::f32(vec![8, 3], v)
    };
    let dense = Tensor::f32(vec![8, 3], (0..24).map(|i| i as f32 * 0.5 - 3.0).collect());
    let mut g = egraph(f32t(&[4, 8]), vec![plane(10), plane(6), dense]);

    let (_, dot) = add(&mut g, "(dot #einsum:ab,bc->ac $x %0)");
    let c = node_cost(&rpi3, &dot, &g);
    // x[4,8] . D[8,3]: 4 x 10 non-zero digits = 40 adds (or subtracts), no multiply.
    assert_eq!(c.ops.total(OpClass::Add), 40);
    assert_eq!(c.ops.total(OpClass::Fma) + c.ops.total(OpClass::Mul), 0);

    let (_, dot) = add(&mut g, "(dot #einsum:ab,bc->ac $x %2)");
    assert_eq!(node_cost(&rpi3, &dot, &g).ops.total(OpClass::Fma), 4 * 8 * 3);

    // The shift-add form of x . W with W = 2 D0 + D1: every node of
    // (add (shl (dot x D0) 1) (dot x D1)) together.
    let (root, _) = add(&mut g, "(add (shl (dot #einsum:ab,bc->ac $x %0) 1) (dot #einsum:ab,bc->ac $x %1))");
    let mut total = cost::OpCounts::default();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        let node = g[id].nodes[0].clone();
        total.merge(&node_cost(&rpi3, &node, &g).ops);
        stack.extend(egg::Language::children(&node).iter().copied());
    }
    assert_eq!(total.total(OpClass::Add), 4 * 10 + 4 * 6 + 4 * 3); // two planes + the final add
    assert_eq!(total.total(OpClass::Shift), 4 * 3);
    assert_eq!(total.total(OpClass::Mul) + total.total(OpClass::Fma), 0);
}

#[test]
fn a_large_elementwise_add_is_memory_bound() {
    let rpi3 = cost::load_target("rpi3").unwrap();
    let add = Op::Binary(Binary { kind: BinaryKind::Add, legacy: None });
    let t = f32t(&[1, 64, 56, 56]);
    let c = cost::kernel_cost(&rpi3, &add, &[Some(&t), Some(&t)], std::slice::from_ref(&t));
    // 3 x 802,816 B from DRAM at 3.6 GB/s = 802,816 cycles against 200,704 adds / 2 per cycle.
    assert_eq!(c.level, MemLevel::Dram);
    assert!((c.memory_cycles - 802_816.0).abs() < 1e-6);
    assert_eq!(c.compute_cycles, 100_352.0);
    assert_eq!(c.bottleneck, Bottleneck::Memory);
}

#[test]
fn a_weight_only_subtree_costs_nothing() {
    let rpi3 = cost::load_target("rpi3").unwrap();
    let w = Tensor::f32(vec![4, 8], vec![0.5; 32]);
    let mut g = egraph(f32t(&[2, 4]), vec![w.clone(), w]);
    let (_, mul) = add(&mut g, "(mul %0 %1)");
    assert_eq!(node_cost(&rpi3, &mul, &g), cost::Estimate::zero());

    // A Transpose kernel of a weight: zero, also to the extractor's cost function.
    let mut expr = egg::RecExpr::<Ir>::default();
    let op = Op::Transpose(Transpose { perm: Some(vec![1, 0]) });
    let p = expr.add(Ir::Payload(Payload::Op(OpPayload::new(op))));
    let c = expr.add(Ir::Const(gos_opt::ir::ConstRef(0)));
    expr.add(Ir::Kernel(gos_opt::ir::kernel_symbol("Transpose"), vec![p, c].into()));
    let root = g.add_expr(&expr);
    assert!(g[root].data.weight_only);
    let node = g[root].nodes[0].clone();
    assert_eq!(node_cost(&rpi3, &node, &g).latency_s, 0.0);
    let (best, _) = egg::Extractor::new(&g, IrCost::new(&rpi3, cost::Objective::Latency, &g)).find_best(root);
    assert_eq!(best.0, 0.0);

    // On a run-time input, a primitive with an ONNX op (mul) has a finite price; one without an
    // ONNX form (rsqrt) costs infinitely much to the extractor.
    let (x_mul, _) = add(&mut g, "(mul $x 2)");
    let (best, _) = egg::Extractor::new(&g, IrCost::new(&rpi3, cost::Objective::Latency, &g)).find_best(x_mul);
    assert!(best.0.is_finite() && best.0 > 0.0);
    let (x_rsqrt, _) = add(&mut g, "(rsqrt $x)");
    let (best, _) = egg::Extractor::new(&g, IrCost::new(&rpi3, cost::Objective::Latency, &g)).find_best(x_rsqrt);
    assert!(best.0.is_infinite());
}

#[test]
fn the_extractor_prices_a_lowered_model_and_lifts_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/resnet8/model.onnx");
    let graph = gos_opt::onnx::import(&path, &Default::default()).unwrap();
    let lowered = gos_opt::ir::lower(&graph).unwrap();
    for target in ["rpi3", "asic45"] {
        let p = cost::load_target(target).unwrap();
        for objective in [cost::Objective::Latency, cost::Objective::Energy] {
            let ex = egg::Extractor::new(&lowered.egraph, IrCost::new(&p, objective, &lowered.egraph));
            let (best, expr) = ex.find_best(lowered.root);
            assert!(best.0.is_finite() && best.0 > 0.0, "{target} {objective}: {best:?}");
            gos_opt::lift::lift(&lowered.egraph, &expr, &graph, &lowered.origins).unwrap();
        }
    }
}

#[test]
fn every_shipped_profile_parses_and_every_number_has_a_source() {
    assert_eq!(
        cost::target_names(),
        ["rpi3", "rpi4", "redmi-note-7s", "cortex-m4", "cortex-m7", "cortex-m0plus", "asic45", "host"]
    );
    for shipped in cost::SHIPPED {
        let p = cost::load_target(shipped.name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.name, shipped.name);
        for (i, line) in shipped.text.lines().enumerate() {
            let Some((_, value)) = line.split_once('=') else { continue };
            if line.trim_start().starts_with('#') || !value.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            let comment = line.split_once('#').map(|(_, c)| c.trim()).unwrap_or("");
            assert!(
                comment.len() >= 8,
                "targets/{}.toml:{}: a figure without its source (or `estimate`): {line}",
                shipped.name,
                i + 1
            );
        }
    }
}

#[test]
fn profile_errors_name_the_file_and_the_field() {
    let rpi3 = cost::shipped_source("rpi3").unwrap();
    let path = scratch("broken.toml");
    std::fs::write(&path, rpi3.replace("clock_hz = 1.2e9", "clock_hz = \"fast\"")).unwrap();
    let err = cost::load_file(&path).unwrap_err().to_string();
    assert_eq!(err, format!("{}: clock_hz: must be a number, found string", path.display()));
    std::fs::write(&path, rpi3.replace("[memory.l2]", "[memory.l3]")).unwrap();
    let err = cost::load_file(&path).unwrap_err().to_string();
    assert!(err.ends_with("memory.l2.size: missing"), "{err}");
    std::fs::write(&path, rpi3.replace("fma = 0.25", "fma = 0.25\nfmadd = 1")).unwrap();
    let err = cost::load_file(&path).unwrap_err().to_string();
    assert!(err.contains("throughput.i8.fmadd: unknown field (known here: add, compare, divide"), "{err}");

    let (code, _, stderr) =
        gos_opt(&["inspect", "models/resnet8/model.onnx", "--target-file", path.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("throughput.i8.fmadd"), "{stderr}");
    let (code, _, stderr) = gos_opt(&["inspect", "models/resnet8/model.onnx", "--target", "rpi5"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown target 'rpi5' (known: rpi3, rpi4"), "{stderr}");
}

#[test]
fn targets_lists_all_seven_and_shows_one() {
    let (code, stdout, stderr) = gos_opt(&["targets"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["rpi3", "rpi4", "redmi-note-7s", "cortex-m4", "cortex-m7", "cortex-m0plus", "asic45", "host"]);
    assert!(stdout.lines().all(|l| l.split_whitespace().count() > 2), "every target has a description");
    let (code, stdout, _) = gos_opt(&["targets", "show", "rpi3"], &[]);
    assert_eq!(code, 0);
    assert_eq!(stdout, cost::shipped_source("rpi3").unwrap());
    let (code, _, stderr) = gos_opt(&["targets", "show", "rpi5"], &[]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn inspect_on_rpi3_per_layer_latency_sums_to_the_total() {
    let (code, stdout, stderr) = gos_opt(&["inspect", "models/resnet8/model.onnx", "--target", "rpi3", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    let sum = |key: &str| nodes.iter().map(|n| n["cost"][key].as_f64().unwrap()).sum::<f64>();
    let total = v["cost"]["latency_s"].as_f64().unwrap();
    assert!(total > 0.0 && (sum("latency_s") - total).abs() <= 1e-12 * total, "{} vs {total}", sum("latency_s"));
    let energy = v["cost"]["energy_pj"].as_f64().unwrap();
    assert!((sum("energy_pj") - energy).abs() <= 1e-9 * energy);
    assert_eq!(v["cost"]["target"], "rpi3");
    assert!(nodes.iter().all(|n| ["compute", "memory", "none"].contains(&n["cost"]["bottleneck"].as_str().unwrap())));
    // Without a target the output is what it was.
    let (_, plain, _) = gos_opt(&["inspect", "models/resnet8/model.onnx", "--json"], &[]);
    assert!(!plain.contains("latency_s"));
}

/// `inspect --target T --json`'s total predicted latency (s) and energy (pJ) of a model.
fn predicted(model: &Path, target: &str) -> (f64, f64) {
    let (code, stdout, stderr) = gos_opt(&["inspect", model.to_str().unwrap(), "--target", target, "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    (v["cost"]["latency_s"].as_f64().unwrap(), v["cost"]["energy_pj"].as_f64().unwrap())
}

#[test]
fn a_qdq_model_is_priced_as_the_integer_kernels_it_runs_as() {
    let Some(shared) = common::shared_dir() else { return };
    let float = shared.join("models/mlperf-tiny/onnx/resnet8_cifar10_pretrainedResnet/model.onnx");
    let int8 = shared.join("models/int8/resnet8_cifar10_pretrainedResnet/model_qdq.onnx");
    // rpi3 multiplies 8-bit integers at twice the f32 rate (16 lanes at 0.25 per cycle against
    // 4 at 0.5), and the DequantizeLinear of activations is absorbed into the kernels.
    let ((fl, _), (ql, _)) = (predicted(&float, "rpi3"), predicted(&int8, "rpi3"));
    assert!(ql < 0.7 * fl, "int8 {ql} s vs float {fl} s");
    // asic45: an 8-bit multiply-accumulate costs a fraction of an f32 one.
    let ((_, fe), (_, qe)) = (predicted(&float, "asic45"), predicted(&int8, "asic45"));
    assert!(qe < 0.5 * fe, "int8 {qe} pJ vs float {fe} pJ");
}

/// The residual joins of the int8 ResNet-8 (`DequantizeLinear` of two 8-bit tensors, Add,
/// `QuantizeLinear`) are priced as the integer adds the back end runs: each Add reads its two
/// 8-bit inputs and writes 8-bit integers (3 bytes an element, not the float path's 12 plus its
/// dequantizations and quantization), and the nodes around it cost nothing.
#[test]
fn a_qdq_residual_join_is_priced_as_one_integer_add() {
    let Some(shared) = common::shared_dir() else { return };
    let int8 = shared.join("models/int8/resnet8_cifar10_pretrainedResnet/model_qdq.onnx");
    let (code, stdout, stderr) = gos_opt(&["inspect", int8.to_str().unwrap(), "--target", "rpi3", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    let adds: Vec<_> = nodes.iter().filter(|n| n["op"] == "Add").collect();
    assert_eq!(adds.len(), 3);
    for add in adds {
        let out = add["outputs"][0].as_str().unwrap();
        let numel: u64 = out.split(' ').next().unwrap().split('x').map(|d| d.parse::<u64>().unwrap()).product();
        assert_eq!(add["cost"]["bytes"].as_u64(), Some(3 * numel), "{out}");
    }
    let costs = |n: &&serde_json::Value| n["cost"]["latency_s"].as_f64().unwrap() > 0.0;
    let op = |o: &'static str| move |n: &&serde_json::Value| n["op"] == o;
    assert_eq!(
        nodes.iter().filter(op("QuantizeLinear")).filter(costs).count(),
        3,
        "the input's, and the two after AveragePool and Transpose"
    );
    // Only the DequantizeLinear nodes read by float ops (AveragePool, Transpose) are computed:
    // the Softmax's is part of its exp-table kernel, and the float path also had the six the
    // joins read.
    assert_eq!(nodes.iter().filter(op("DequantizeLinear")).filter(costs).count(), 2);
    // 3.026 ms with the joins in float (two dequantizations, a float Add, a quantization each).
    let latency = v["cost"]["latency_s"].as_f64().unwrap();
    assert!(latency < 2.98e-3, "{latency} s");
}

#[test]
fn calibrate_writes_a_profile_that_target_file_loads() {
    let path = scratch("host.toml");
    let _ = std::fs::remove_file(&path);
    let (code, _, stderr) = gos_opt(&["calibrate", "-o", path.to_str().unwrap()], &[(cost::calibrate::QUICK_ENV, "1")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("calibrate: throughput f32 fma"), "progress on stderr: {stderr}");
    let host = cost::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(host, cost::load_target("rpi3").unwrap());
    assert_eq!(host.name, "host");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("measured by gos-opt calibrate on 20"), "{text}");
    let (code, stdout, stderr) =
        gos_opt(&["inspect", "models/resnet8/model.onnx", "--target-file", path.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("predicted on host:"), "{stdout}");
}
