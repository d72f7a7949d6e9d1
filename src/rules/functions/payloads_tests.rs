//! One test per payload, literal and op function.

use super::super::testing::{call, call_ints, o, t};
use super::*;
use crate::ir::WindowSpec;
use crate::ops::*;
use crate::tensor::DType;

fn lit_of(name: &str, args: &[IrData]) -> f64 {
    call(name, args).unwrap_or_else(|e| panic!("@{name}: {e}")).lit.expect("a literal").0
}

fn op_of(name: &str, args: &[IrData]) -> Op {
    match call(name, args).unwrap_or_else(|e| panic!("@{name}: {e}")).payload {
        Some(Payload::Op(p)) => p.op().clone(),
        other => panic!("@{name} gave {other:?}"),
    }
}

fn einsum_of(name: &str, args: &[IrData]) -> String {
    match call(name, args).unwrap().payload {
        Some(Payload::Einsum(e)) => e,
        other => panic!("@{name} gave {other:?}"),
    }
}

fn slice_of(name: &str, args: &[IrData]) -> SliceSpec {
    match call(name, args).unwrap_or_else(|e| panic!("@{name}: {e}")).payload {
        Some(Payload::Slice(s)) => s,
        other => panic!("@{name} gave {other:?}"),
    }
}

fn ti(dtype: DType, shape: &[usize]) -> IrData {
    IrData::tensor(TensorType::new(dtype, shape.to_vec()), true)
}

#[test]
fn leakyrelu_alpha() {
    assert_eq!(lit_of("leakyrelu_alpha", &[o(Op::LeakyRelu(LeakyRelu { alpha: 0.1 }))]), 0.1f32 as f64);
    assert!(call("leakyrelu_alpha", &[o(Op::MatMul(MatMul))]).is_err());
}

#[test]
fn hardsigmoid_alpha_and_beta() {
    let h = o(Op::HardSigmoid(HardSigmoid { alpha: 0.2, beta: 0.5 }));
    assert_eq!(lit_of("hardsigmoid_alpha", std::slice::from_ref(&h)), 0.2f32 as f64);
    assert_eq!(lit_of("hardsigmoid_beta", &[h]), 0.5);
}

#[test]
fn clip_min_and_max() {
    let c = o(Op::Clip(Clip { min: Some(-1.5), max: None }));
    assert_eq!(lit_of("clip_min", std::slice::from_ref(&c)), -1.5);
    assert_eq!(lit_of("clip_max", &[c]), f64::INFINITY);
    assert_eq!(lit_of("clip_min", &[o(Op::Clip(Clip { min: None, max: Some(6.0) }))]), f64::NEG_INFINITY);
}

#[test]
fn gemm_alpha_beta_and_einsum() {
    let g = Gemm { alpha: 0.5, beta: 2.0, trans_a: false, trans_b: true };
    assert_eq!(lit_of("gemm_alpha", &[o(Op::Gemm(g.clone()))]), 0.5);
    assert_eq!(lit_of("gemm_beta", &[o(Op::Gemm(g.clone()))]), 2.0);
    assert_eq!(einsum_of("gemm_einsum", &[o(Op::Gemm(g.clone()))]), "ik,jk->ij");
    assert_eq!(einsum_of("gemm_einsum", &[o(Op::Gemm(Gemm { trans_a: true, trans_b: false, ..g }))]), "ki,kj->ij");
}

#[test]
fn bn_eps() {
    let bn = BatchNorm { epsilon: 1e-3, momentum: 0.9, spatial: true };
    assert_eq!(lit_of("bn_eps", &[o(Op::BatchNorm(bn.clone()))]), 1e-3f32 as f64);
    assert!(call("bn_eps", &[o(Op::BatchNorm(BatchNorm { spatial: false, ..bn }))]).is_err());
}

fn layernorm(n_outputs: usize) -> IrData {
    o(Op::LayerNorm(LayerNorm { axis: -2, epsilon: 1e-5, stash_type: DType::F32, n_outputs }))
}

#[test]
fn layernorm_eps_and_axes() {
    assert_eq!(lit_of("layernorm_eps", &[layernorm(1)]), 1e-5f32 as f64);
    assert_eq!(call_ints("layernorm_axes", &[layernorm(1), t(&[2, 3, 4])]), vec![1, 2]);
    assert!(call("layernorm_axes", &[layernorm(3), t(&[2, 3, 4])]).is_err());
}

fn pad(mode: PadMode, pads: Vec<i64>) -> IrData {
    o(Op::Pad(Pad { mode, pads, value: 2.5, axes: None }))
}

#[test]
fn pad_value_and_pads() {
    assert_eq!(lit_of("pad_value", &[pad(PadMode::Constant, vec![0, 1, 2, 3])]), 2.5);
    assert!(call("pad_value", &[pad(PadMode::Edge, vec![0, 1, 2, 3])]).is_err());
    assert_eq!(call_ints("pad_pads", &[pad(PadMode::Constant, vec![0, 1, 2, 3]), t(&[2, 2])]), vec![0, 1, 2, 3]);
    assert!(call("pad_pads", &[pad(PadMode::Constant, vec![0, -1, 2, 3]), t(&[2, 2])]).is_err());
    assert!(call("pad_pads", &[pad(PadMode::Reflect, vec![0, 1, 2, 3]), t(&[2, 2])]).is_err());
}

#[test]
fn unary_and_binary_ops() {
    for (name, kind) in [
        ("relu_op", UnaryKind::Relu),
        ("sigmoid_op", UnaryKind::Sigmoid),
        ("tanh_op", UnaryKind::Tanh),
        ("exp_op", UnaryKind::Exp),
        ("sqrt_op", UnaryKind::Sqrt),
    ] {
        assert_eq!(op_of(name, &[]), Op::Unary(Unary { kind }), "@{name}");
        assert!(call(name, &[t(&[1])]).is_err());
    }
    assert_eq!(op_of("add_op", &[]), Op::Binary(Binary::new(BinaryKind::Add)));
    assert_eq!(op_of("mul_op", &[]), Op::Binary(Binary::new(BinaryKind::Mul)));
}

#[test]
fn matmul_einsum_and_op() {
    let e = |a: &[usize], b: &[usize]| matmul_spec(a, b);
    assert_eq!(e(&[2, 3], &[3, 4]).unwrap(), "mk,kn->mn");
    assert_eq!(e(&[3], &[3, 4]).unwrap(), "k,kn->n");
    assert_eq!(e(&[5, 2, 3], &[3]).unwrap(), "amk,k->am");
    assert_eq!(e(&[2, 3], &[7, 3, 4]).unwrap(), "mk,akn->amn");
    assert_eq!(e(&[6, 5, 2, 3], &[5, 3, 4]).unwrap(), "abmk,bkn->abmn");
    assert!(e(&[6, 1, 2, 3], &[5, 3, 4]).is_err());
    assert!(e(&[2, 2, 3], &[3, 3, 4]).is_err());
    assert!(e(&[2, 3], &[4, 4]).is_err());
    assert_eq!(einsum_of("matmul_einsum", &[t(&[2, 3]), t(&[3, 4])]), "mk,kn->mn");
    let spec = payload(Payload::Einsum("mk,kn->mn".into()));
    assert_eq!(op_of("matmul_op", &[spec, t(&[2, 3]), t(&[3, 4])]), Op::MatMul(MatMul));
    let dot = payload(Payload::Einsum("k,k->".into()));
    assert!(call("matmul_op", &[dot, t(&[3]), t(&[3])]).is_err());
    let other = payload(Payload::Einsum("mk,kn->nm".into()));
    assert!(call("matmul_op", &[other, t(&[2, 3]), t(&[3, 4])]).is_err());
}

#[test]
fn matmul_zero_point_shapes() {
    assert_eq!(call_ints("matmul_zp_a_shape", &[t(&[4, 3]), t(&[])]), Vec::<i64>::new());
    assert_eq!(call_ints("matmul_zp_a_shape", &[t(&[2, 4, 3]), t(&[4])]), vec![4, 1]);
    assert!(call("matmul_zp_a_shape", &[t(&[4, 3]), t(&[3])]).is_err());
    assert_eq!(call_ints("matmul_zp_b_shape", &[t(&[3, 5]), t(&[5])]), vec![5]);
    assert_eq!(call_ints("matmul_zp_b_shape", &[t(&[3, 5]), t(&[1])]), Vec::<i64>::new());
}

#[test]
fn out_shape() {
    let r = o(Op::Reshape(Reshape { shape: vec![-1, 2], allowzero: false }));
    assert_eq!(call_ints("out_shape", &[r, t(&[3, 4])]), vec![6, 2]);
    let conv = o(Op::Conv(Conv { attrs: ConvAttrs { group: 1, ..ConvAttrs::default() } }));
    assert_eq!(call_ints("out_shape", &[conv, t(&[1, 2, 5, 5]), t(&[4, 2, 3, 3])]), vec![1, 4, 3, 3]);
    let split = o(Op::Split(Split { axis: 0, split: None, num_outputs: None, n_outputs: 2 }));
    assert!(call("out_shape", &[split, t(&[4])]).is_err());
}

#[test]
fn channel_shapes() {
    assert_eq!(call_ints("out_channel_shape", &[t(&[8, 3, 3, 3]), t(&[8])]), vec![8, 1, 1]);
    assert_eq!(call_ints("out_channel_shape", &[t(&[8, 3, 3, 3]), t(&[])]), Vec::<i64>::new());
    assert!(call("out_channel_shape", &[t(&[8, 3, 3, 3]), t(&[3])]).is_err());
    assert_eq!(call_ints("weight_channel_shape", &[t(&[8, 3, 3, 3]), t(&[8])]), vec![8, 1, 1, 1]);
    assert_eq!(call_ints("channel_shape", &[t(&[2, 5, 7, 7])]), vec![5, 1, 1]);
    assert!(call("channel_shape", &[t(&[5])]).is_err());
}

#[test]
fn spatial_axes_shape_and_dtype_of() {
    assert_eq!(call_ints("spatial_axes", &[t(&[1, 3, 4, 4])]), vec![2, 3]);
    assert_eq!(call_ints("shape_of", &[t(&[1, 3, 4])]), vec![1, 3, 4]);
    assert_eq!(call("dtype_of", &[ti(DType::I8, &[2])]).unwrap().payload, Some(Payload::DType(DType::I8)));
}

#[test]
fn softmax_axes() {
    let s = |axis, flatten_trailing| o(Op::Softmax(Softmax { axis, flatten_trailing }));
    assert_eq!(call_ints("softmax_axes", &[s(-1, false), t(&[2, 3, 4])]), vec![2]);
    assert_eq!(call_ints("softmax_axes", &[s(1, true), t(&[2, 3, 4])]), vec![1, 2]);
    assert!(call("softmax_axes", &[s(3, false), t(&[2, 3, 4])]).is_err());
}

#[test]
fn reduce_axes() {
    let r = |axes: Option<Vec<i64>>, noop| {
        o(Op::Reduce(Reduce { kind: ReduceKind::Sum, axes, keepdims: true, noop_with_empty_axes: noop }))
    };
    assert_eq!(call_ints("reduce_axes", &[r(Some(vec![-1, 0]), false), t(&[2, 3, 4])]), vec![0, 2]);
    assert_eq!(call_ints("reduce_axes", &[r(None, false), t(&[2, 3])]), vec![0, 1]);
    assert_eq!(call_ints("reduce_axes", &[r(None, true), t(&[2, 3])]), Vec::<i64>::new());
}

#[test]
fn transpose_perm_and_op() {
    let tr = |perm| o(Op::Transpose(Transpose { perm }));
    assert_eq!(call_ints("transpose_perm", &[tr(None), t(&[2, 3, 4])]), vec![2, 1, 0]);
    assert_eq!(call_ints("transpose_perm", &[tr(Some(vec![1, 0, 2])), t(&[2, 3, 4])]), vec![1, 0, 2]);
    assert_eq!(op_of("transpose_op", &[ints(vec![0, 2, 1])]), Op::Transpose(Transpose { perm: Some(vec![0, 2, 1]) }));
}

#[test]
fn concat_axis() {
    assert_eq!(call_ints("concat_axis", &[o(Op::Concat(Concat { axis: -1 })), t(&[2, 3])]), vec![1]);
    assert!(call("concat_axis", &[o(Op::Concat(Concat { axis: 2 })), t(&[2, 3])]).is_err());
}

#[test]
fn slice_spec() {
    let sl = |starts, ends, axes, steps| o(Op::Slice(Slice { starts, ends, axes, steps }));
    // x[1:, ::-2] on a 4x5 input.
    let s =
        slice_of("slice_spec", &[sl(vec![1, -1], vec![100, -100], Some(vec![0, 1]), Some(vec![1, -2])), t(&[4, 5])]);
    assert_eq!(s, SliceSpec { axes: vec![0, 1], begins: vec![1, 4], ends: vec![4, -6], steps: vec![1, -2] });
    // A whole-axis slice is left out.
    let s = slice_of("slice_spec", &[sl(vec![0], vec![i64::MAX], None, None), t(&[4, 5])]);
    assert!(s.axes.is_empty());
}

#[test]
fn split_slice() {
    let sp = o(Op::Split(Split { axis: 1, split: Some(vec![1, 3]), num_outputs: None, n_outputs: 2 }));
    let s = slice_of("split_slice", &[sp.clone(), t(&[2, 4]), literal(1.0)]);
    assert_eq!(s, SliceSpec { axes: vec![1], begins: vec![1], ends: vec![4], steps: vec![1] });
    assert!(call("split_slice", &[sp, t(&[2, 4]), literal(2.0)]).is_err());
}

#[test]
fn cast_dtype_and_op() {
    let c = o(Op::Cast(Cast { to: DType::I8, saturate: None }));
    assert_eq!(call("cast_dtype", &[c]).unwrap().payload, Some(Payload::DType(DType::I8)));
    assert!(call("cast_dtype", &[o(Op::Cast(Cast { to: DType::Str, saturate: None }))]).is_err());
    assert_eq!(
        op_of("cast_op", &[payload(Payload::DType(DType::F32))]),
        Op::Cast(Cast { to: DType::F32, saturate: None })
    );
}

#[test]
fn quant_axis() {
    let q = |axis, block_size| {
        o(Op::QuantizeLinear(QuantizeLinear { axis, saturate: true, block_size, output_dtype: None, precision: None }))
    };
    assert_eq!(call_ints("quant_axis", &[q(-1, 0), t(&[2, 3])]), vec![1]);
    assert_eq!(call_ints("quant_axis", &[q(1, 0), t(&[])]), Vec::<i64>::new());
    assert!(call("quant_axis", &[q(1, 2), t(&[2, 4])]).is_err());
    let d = o(Op::DequantizeLinear(DequantizeLinear { axis: 0, block_size: 0, output_dtype: None }));
    assert_eq!(call_ints("quant_axis", &[d, t(&[2, 3])]), vec![0]);
}

#[test]
fn lrn_window_shapes_and_attributes() {
    let l = o(Op::Lrn(Lrn { size: 4, alpha: 0.5, beta: 0.75, bias: 2.0 }));
    assert_eq!(call_ints("lrn_cols_shape", &[t(&[2, 5, 3, 4])]), vec![2, 1, 5, 12]);
    let w = call("lrn_window", &[l.clone(), t(&[2, 5, 3, 4])]).unwrap().payload;
    let want = WindowSpec { kernel: vec![4, 1], strides: vec![1, 1], pads: vec![1, 0, 2, 0], dilations: vec![1, 1] };
    assert_eq!(w, Some(Payload::Window(want)));
    assert_eq!(lit_of("lrn_alpha_over_size", std::slice::from_ref(&l)), 0.125);
    assert_eq!(lit_of("lrn_bias", std::slice::from_ref(&l)), 2.0);
    assert_eq!(lit_of("lrn_beta", &[l]), 0.75);
}
