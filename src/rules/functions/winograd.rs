//! Functions of the Winograd rules (`conv3x3-winograd-f2` and `-f4` in `rules/winograd.rules`):
//! the ops and reshape targets of the F(m×m, 3×3) form of a 3×3 convolution, and its constant
//! tensors ([`crate::winograd`]). Each is one function generic over `M` (2 or 4, the output
//! block's side), registered as `@wino_*` for F2 and `@wino4_*` for F4. Everything fails
//! unless the convolution is 2-D, 3×3, stride 1, dilation 1, group 1 on floats, so the rules
//! fire on those only.

use super::weights::{tensor_arg, values, weight};
use super::{arity, ints, op, op_result, ty, Function};
use crate::ir::{FnArg, IrData};
use crate::ops::{AutoPad, Conv, ConvAttrs, ConvTranspose, MatMul, Op};
use crate::tensor::{Tensor, TensorType};
use crate::winograd::{filter_transform, input_weight, output_weight, Size, Tiles};

type R = Result<IrData, String>;

/// The algorithm whose output blocks are `M × M`.
const fn size<const M: usize>() -> Size {
    match M {
        2 => Size::F2,
        4 => Size::F4,
        _ => panic!("Winograd F(m, 3) for m = 2 or 4 only"),
    }
}

/// Errors unless `w` is a float `[K, C, 3, 3]` weight shape; gives `(K, C)`.
fn kernel_dims(w: &TensorType) -> Result<(usize, usize), String> {
    match w.shape[..] {
        [k, c, 3, 3] if w.dtype.is_float() => Ok((k, c)),
        _ => Err(format!("a {w} weight is not a float 3×3 kernel")),
    }
}

/// The tiling of Conv `o` on `x` with weights `w` by `size`, when it is one Winograd computes.
fn tiles(o: &Op, x: &TensorType, w: &TensorType, size: Size) -> Result<Tiles, String> {
    let Op::Conv(c) = o else { return Err(format!("expected a Conv, found {}", o.onnx_name())) };
    let (_, cin) = kernel_dims(w)?;
    let ones = |v: &[usize]| v.iter().all(|&d| d == 1);
    if c.attrs.group.max(1) != 1 || !ones(&c.attrs.strides) || !ones(&c.attrs.dilations) {
        return Err("not a stride-1, dilation-1 convolution of group 1".into());
    }
    if x.shape.len() != 4 || x.shape[1] != cin || x.dtype != w.dtype {
        return Err(format!("input {x} does not match weight {w}"));
    }
    let win = c.attrs.window(&x.shape[2..], &[3, 3], false).map_err(|e| e.to_string())?;
    let pads = [win.pads[0], win.pads[1], win.pads[2], win.pads[3]];
    Tiles::new(x.shape[2], x.shape[3], pads, size).ok_or_else(|| "empty output".into())
}

/// Op, input and weight of arguments `(op x w)`, and their tiling by `size`.
fn conv_args<'a>(a: &[&'a IrData], size: Size) -> Result<(&'a TensorType, &'a TensorType, Tiles), String> {
    arity(a, 3)?;
    let (x, w) = (ty(a, 1)?, weight(a, 2)?);
    Ok((x, w, tiles(op(a, 0)?, x, w, size)?))
}

/// `@wino_in_op op x w` (`@wino4_in_op`): the input transform's Conv (group C, n×n, stride m,
/// padded so that every tile is whole).
fn wino_in_op<const M: usize>(a: &[&IrData]) -> R {
    let (x, _, t) = conv_args(a, size::<M>())?;
    let n = M + 2;
    let attrs = ConvAttrs {
        kernel_shape: Some(vec![n, n]),
        strides: vec![M, M],
        pads: t.input_pads(x.shape[2], x.shape[3]).to_vec(),
        dilations: Vec::new(),
        group: x.shape[1],
        auto_pad: AutoPad::NotSet,
    };
    Ok(op_result(Op::Conv(Conv { attrs })))
}

/// `@wino_v_shape op x w` (`@wino4_v_shape`): the transformed input as `[N, C, P, tiles]`.
fn wino_v_shape<const M: usize>(a: &[&IrData]) -> R {
    let (x, _, t) = conv_args(a, size::<M>())?;
    let p = size::<M>().products() as i64;
    Ok(ints(vec![x.shape[0] as i64, x.shape[1] as i64, p, t.count() as i64]))
}

/// `@wino_m_shape op x w` (`@wino4_m_shape`): the products as `[N, P·K, tile rows, tile
/// columns]`.
fn wino_m_shape<const M: usize>(a: &[&IrData]) -> R {
    let (x, w, t) = conv_args(a, size::<M>())?;
    let k = (size::<M>().products() * w.shape[0]) as i64;
    Ok(ints(vec![x.shape[0] as i64, k, t.tiles[0] as i64, t.tiles[1] as i64]))
}

/// `@wino_out_op op x w` (`@wino4_out_op`): the output transform's ConvTranspose (group K,
/// m×m, stride m, end pads cropping the tiles past the output).
fn wino_out_op<const M: usize>(a: &[&IrData]) -> R {
    let (_, w, t) = conv_args(a, size::<M>())?;
    let [ch, cw] = t.crop();
    let attrs = ConvAttrs {
        kernel_shape: Some(vec![M, M]),
        strides: vec![M, M],
        pads: vec![0, 0, ch, cw],
        dilations: Vec::new(),
        group: w.shape[0],
        auto_pad: AutoPad::NotSet,
    };
    Ok(op_result(Op::ConvTranspose(ConvTranspose { attrs, output_padding: Vec::new(), output_shape: None })))
}

/// `@wino_matmul_op`: the MatMul of the products (of either size).
fn wino_matmul_op(a: &[&IrData]) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::MatMul(MatMul)))
}

/// A constant of the form: its shape and its values from weight `g` (`[K, C, 3, 3]`), by size.
struct Constant {
    shape: fn(Size, usize, usize) -> Vec<usize>,
    values: fn(Size, usize, usize, &[f64]) -> Vec<f64>,
}

const BT: Constant =
    Constant { shape: |s, _, c| vec![s.products() * c, 1, s.n(), s.n()], values: |s, _, c, _| input_weight(s, c) };
const U: Constant =
    Constant { shape: |s, k, c| vec![s.products(), k, c], values: |s, k, c, g| filter_transform(s, g, k, c) };
const AT: Constant =
    Constant { shape: |s, k, _| vec![s.products() * k, 1, s.m(), s.m()], values: |s, k, _, _| output_weight(s, k) };

fn constant_type(a: &[&IrData], make: Constant, size: Size) -> R {
    arity(a, 1)?;
    let w = weight(a, 0)?;
    let (k, c) = kernel_dims(w)?;
    Ok(IrData::tensor(TensorType::new(w.dtype, (make.shape)(size, k, c)), true))
}

fn constant_eval(args: &[FnArg], make: Constant, size: Size) -> Result<Tensor, String> {
    arity(args, 1)?;
    let w = tensor_arg(args, 0)?;
    let (k, c) = kernel_dims(&w.ttype())?;
    let v = (make.values)(size, k, c, &values(w)?);
    Tensor::from_f64(w.dtype, (make.shape)(size, k, c), &v).ok_or_else(|| "unsupported type".into())
}

/// `@wino_bt w` (`@wino4_bt`): the input transform's weights `[P·C, 1, n, n]` (entries 0, ±1;
/// for F4 up to ±25).
fn wino_bt<const M: usize>(a: &[&IrData]) -> R {
    constant_type(a, BT, size::<M>())
}

fn wino_bt_eval<const M: usize>(args: &[FnArg]) -> Result<Tensor, String> {
    constant_eval(args, BT, size::<M>())
}

/// `@wino_filter w` (`@wino4_filter`): the transformed filter `U = G g Gᵀ` as `[P, K, C]`.
fn wino_filter<const M: usize>(a: &[&IrData]) -> R {
    constant_type(a, U, size::<M>())
}

fn wino_filter_eval<const M: usize>(args: &[FnArg]) -> Result<Tensor, String> {
    constant_eval(args, U, size::<M>())
}

/// `@wino_at w` (`@wino4_at`): the output transform's weights `[P·K, 1, m, m]` (entries 0, ±1;
/// for F4 up to ±64).
fn wino_at<const M: usize>(a: &[&IrData]) -> R {
    constant_type(a, AT, size::<M>())
}

fn wino_at_eval<const M: usize>(args: &[FnArg]) -> Result<Tensor, String> {
    constant_eval(args, AT, size::<M>())
}

pub(crate) const FUNCTIONS: &[Function] = &[
    Function { name: "wino_in_op", infer: wino_in_op::<2>, eval: None },
    Function { name: "wino_v_shape", infer: wino_v_shape::<2>, eval: None },
    Function { name: "wino_m_shape", infer: wino_m_shape::<2>, eval: None },
    Function { name: "wino_out_op", infer: wino_out_op::<2>, eval: None },
    Function { name: "wino_matmul_op", infer: wino_matmul_op, eval: None },
    Function { name: Size::F2.input_weight_fn(), infer: wino_bt::<2>, eval: Some(wino_bt_eval::<2>) },
    Function { name: Size::F2.filter_fn(), infer: wino_filter::<2>, eval: Some(wino_filter_eval::<2>) },
    Function { name: Size::F2.output_weight_fn(), infer: wino_at::<2>, eval: Some(wino_at_eval::<2>) },
    Function { name: "wino4_in_op", infer: wino_in_op::<4>, eval: None },
    Function { name: "wino4_v_shape", infer: wino_v_shape::<4>, eval: None },
    Function { name: "wino4_m_shape", infer: wino_m_shape::<4>, eval: None },
    Function { name: "wino4_out_op", infer: wino_out_op::<4>, eval: None },
    Function { name: Size::F4.input_weight_fn(), infer: wino_bt::<4>, eval: Some(wino_bt_eval::<4>) },
    Function { name: Size::F4.filter_fn(), infer: wino_filter::<4>, eval: Some(wino_filter_eval::<4>) },
    Function { name: Size::F4.output_weight_fn(), infer: wino_at::<4>, eval: Some(wino_at_eval::<4>) },
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::ir::Payload;
    use crate::ops::{AutoPad, Conv, ConvAttrs, Op};

    fn conv(strides: Vec<usize>, pads: Vec<usize>, group: usize) -> Op {
        Op::Conv(Conv { attrs: ConvAttrs { strides, pads, group, ..ConvAttrs::default() } })
    }

    #[test]
    fn shapes_and_ops_of_a_padded_conv() {
        let (x, w) = (t(&[1, 3, 5, 5]), w(&[8, 3, 3, 3]));
        let o = o(conv(vec![], vec![1, 1, 1, 1], 1));
        assert_eq!(call_ints("wino_v_shape", &[o.clone(), x.clone(), w.clone()]), vec![1, 3, 16, 9]);
        assert_eq!(call_ints("wino_m_shape", &[o.clone(), x.clone(), w.clone()]), vec![1, 128, 3, 3]);
        let Some(Payload::Op(p)) = call("wino_in_op", &[o.clone(), x.clone(), w.clone()]).unwrap().payload else {
            panic!()
        };
        let Op::Conv(c) = p.op() else { panic!() };
        assert_eq!((c.attrs.group, c.attrs.pads.clone(), c.attrs.strides.clone()), (3, vec![1, 1, 2, 2], vec![2, 2]));
        let Some(Payload::Op(p)) = call("wino_out_op", &[o, x, w.clone()]).unwrap().payload else { panic!() };
        let Op::ConvTranspose(ct) = p.op() else { panic!() };
        assert_eq!((ct.attrs.group, ct.attrs.pads.clone()), (8, vec![0, 0, 1, 1]));
        assert_eq!(call("wino_filter", std::slice::from_ref(&w)).unwrap().ty().unwrap().shape, vec![16, 8, 3]);
        assert_eq!(call("wino_bt", std::slice::from_ref(&w)).unwrap().ty().unwrap().shape, vec![48, 1, 4, 4]);
        assert_eq!(call("wino_at", &[w]).unwrap().ty().unwrap().shape, vec![128, 1, 2, 2]);
    }

    #[test]
    fn refuses_strides_groups_other_kernels_and_same_padding_is_resolved() {
        let x = t(&[1, 4, 6, 6]);
        let strided = o(conv(vec![2, 2], vec![], 1));
        assert!(call("wino_in_op", &[strided, x.clone(), w(&[4, 4, 3, 3])]).is_err());
        assert!(call("wino_in_op", &[o(conv(vec![], vec![], 2)), x.clone(), w(&[4, 2, 3, 3])]).is_err());
        assert!(call("wino_in_op", &[o(conv(vec![], vec![], 1)), x.clone(), w(&[4, 4, 5, 5])]).is_err());
        assert!(call("wino_in_op", &[o(conv(vec![], vec![], 1)), x.clone(), t(&[4, 4, 3, 3])]).is_err());
        let same = Op::Conv(Conv { attrs: ConvAttrs { auto_pad: AutoPad::SameUpper, ..ConvAttrs::default() } });
        assert_eq!(call_ints("wino_m_shape", &[o(same), x, w(&[4, 4, 3, 3])]), vec![1, 64, 3, 3]);
    }
}
