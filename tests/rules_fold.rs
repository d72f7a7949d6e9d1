//! `rules/fold.rules` in egg style: a start e-graph (hand-built kernels, or a lowered model),
//! saturated with the shipped exact rules, must hold the folded form in the start's class.

use egg::{Id, Pattern, Runner, Searcher};
use gos_opt::ir::{kernel_symbol, InputRef, Ir, IrAnalysis, IrGraph, OpPayload, Payload};
use gos_opt::ops::{BatchNorm, Binary, BinaryKind, Conv, ConvAttrs, Op};
use gos_opt::rules::{Functions, RuleSet};
use gos_opt::tensor::{DType, Tensor, TensorType};
use std::path::Path;
use std::sync::Arc;

fn saturate(egraph: IrGraph) -> IrGraph {
    let rules = RuleSet::load(&[], &Functions).expect("the shipped rules load");
    Runner::default().with_egraph(egraph).with_iter_limit(4).with_node_limit(20_000).run(&rules.rewrites(false)).egraph
}

/// Whether `goal` (a pattern) matches the class `root`.
fn holds(egraph: &IrGraph, root: Id, goal: &str) -> bool {
    let p: Pattern<Ir> = goal.parse().unwrap_or_else(|e| panic!("{goal}: {e}"));
    p.search_eclass(egraph, root).is_some()
}

fn kernel(egraph: &mut IrGraph, op: Op, inputs: &[Id]) -> Id {
    let symbol = kernel_symbol(op.onnx_name());
    let payload = egraph.add(Ir::Payload(Payload::Op(OpPayload::new(op))));
    egraph.add(Ir::Kernel(symbol, std::iter::once(payload).chain(inputs.iter().copied()).collect()))
}

/// `$x: f32[1,2,5,5]`, constants %0 = w f32[3,2,3,3], %1..%4 = gamma, beta, mean, var (f32[3]),
/// %5 = a conv bias f32[3].
fn conv_bn_graph() -> (IrGraph, Vec<Id>) {
    let mut a = IrAnalysis { functions: Arc::new(Functions), ..IrAnalysis::default() };
    a.inputs.insert("x".into(), TensorType::new(DType::F32, vec![1, 2, 5, 5]));
    a.consts.insert(0, Arc::new(Tensor::f32(vec![3, 2, 3, 3], (0..54).map(|i| i as f32 / 10.0).collect())));
    for k in 1..=5 {
        a.consts.insert(k, Arc::new(Tensor::f32(vec![3], vec![0.5 * k as f32, 1.0, 2.0])));
    }
    let mut g = IrGraph::new(a);
    let x = g.add(Ir::Input(InputRef("x".into())));
    let ids: Vec<Id> = (0..=5).map(|k| g.add(Ir::Const(gos_opt::ir::ConstRef(k)))).collect();
    let conv = || Op::Conv(Conv { attrs: ConvAttrs { group: 1, ..ConvAttrs::default() } });
    let bn = || Op::BatchNorm(BatchNorm { epsilon: 1e-5, momentum: 0.9, spatial: true });
    let c = kernel(&mut g, conv(), &[x, ids[0]]);
    let cb = kernel(&mut g, conv(), &[x, ids[0], ids[5]]);
    let roots = vec![
        kernel(&mut g, bn(), &[c, ids[1], ids[2], ids[3], ids[4]]),
        kernel(&mut g, bn(), &[cb, ids[1], ids[2], ids[3], ids[4]]),
        kernel(&mut g, Op::Binary(Binary::new(BinaryKind::Add)), &[cb, cb]),
    ];
    (g, roots)
}

#[test]
fn conv_batchnorm_folds_into_the_conv() {
    let (g, roots) = conv_bn_graph();
    let g = saturate(g);
    assert!(holds(
        &g,
        roots[0],
        "(Conv ?a ?x (@scale_out_channels ?w (@bn_scale ?bo ?g ?v)) (@bn_shift ?bo ?g ?be ?m ?v))"
    ));
    assert!(holds(&g, roots[1], "(Conv ?a ?x (@scale_out_channels ?w (@bn_scale ?bo ?g ?v)) (add (mul ?b (@bn_scale ?bo ?g ?v)) (@bn_shift ?bo ?g ?be ?m ?v)))"));
}

#[test]
fn two_convs_of_one_input_added_become_one() {
    let (g, roots) = conv_bn_graph();
    let g = saturate(g);
    assert!(holds(&g, roots[2], "(Conv ?a ?x (add ?w ?w) (add ?b ?b))"));
}

#[test]
fn mnist_conv_bias_add_fuses_into_the_conv() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist-8/model.onnx");
    let graph = gos_opt::onnx::import(&path, &Default::default()).unwrap();
    let mut analysis = gos_opt::ir::analysis_for(&graph);
    analysis.functions = Arc::new(Functions);
    let lowered = gos_opt::ir::lower_with(&graph, analysis).unwrap();
    let g = saturate(lowered.egraph);
    let fused: Pattern<Ir> = "(Conv ?a ?x ?w (@channel_vec ?t ?w))".parse().unwrap();
    assert_eq!(fused.search(&g).len(), 2, "both MNIST convs take their Add as bias");
    let gemm: Pattern<Ir> = "(Gemm ?a ?x ?w ?t)".parse().unwrap();
    assert_eq!(gemm.search(&g).len(), 1, "the final MatMul + Add becomes a Gemm");
}

/// `$x: f32[1,2,6,6]`; a 3×3 conv 2 → 8 then a 1×1 conv 8 → 3 (a projection: merged, with
/// biases and without), and a 3×3 conv 2 → 2 then a 1×1 conv 2 → 8 (an expansion: the merge
/// would cost more multiply-accumulates and is not offered).
#[test]
fn a_conv_then_a_cheaper_pointwise_conv_compose_into_one() {
    let mut a = IrAnalysis { functions: Arc::new(Functions), ..IrAnalysis::default() };
    a.inputs.insert("x".into(), TensorType::new(DType::F32, vec![1, 2, 6, 6]));
    let shapes: [&[usize]; 6] = [&[8, 2, 3, 3], &[8], &[3, 8, 1, 1], &[3], &[2, 2, 3, 3], &[8, 2, 1, 1]];
    for (k, shape) in (0u32..).zip(shapes) {
        let n: usize = shape.iter().product();
        a.consts.insert(k, Arc::new(Tensor::f32(shape.to_vec(), (0..n).map(|i| (i % 7) as f32 - 3.0).collect())));
    }
    let mut g = IrGraph::new(a);
    let x = g.add(Ir::Input(InputRef("x".into())));
    let c: Vec<Id> = (0..6).map(|k| g.add(Ir::Const(gos_opt::ir::ConstRef(k)))).collect();
    let conv = || Op::Conv(Conv { attrs: ConvAttrs { group: 1, pads: vec![1; 4], ..ConvAttrs::default() } });
    let pointwise = || Op::Conv(Conv { attrs: ConvAttrs { group: 1, ..ConvAttrs::default() } });
    let first = kernel(&mut g, conv(), &[x, c[0], c[1]]);
    let projection = kernel(&mut g, pointwise(), &[first, c[2], c[3]]);
    let first_nobias = kernel(&mut g, conv(), &[x, c[0]]);
    let projection_nobias = kernel(&mut g, pointwise(), &[first_nobias, c[2]]);
    let narrow = kernel(&mut g, conv(), &[x, c[4]]);
    let expansion = kernel(&mut g, pointwise(), &[narrow, c[5]]);
    let g = saturate(g);
    let merged = "(Conv ?a ?x (@conv_pointwise_w ?a1 ?a2 ?w1 ?w2) (@conv_pointwise_b ?a2 ?w2 ?b1 ?b2))";
    assert!(holds(&g, projection, merged));
    let merged_nobias = "(Conv ?a ?x (@conv_pointwise_w ?a1 ?a2 ?w1 ?w2))";
    assert!(holds(&g, projection_nobias, merged_nobias));
    assert!(!holds(&g, expansion, merged_nobias));
}
