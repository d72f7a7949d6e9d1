//! Functions of the Winograd rule (`conv3x3-winograd-f2` in `rules/winograd.rules`): the ops and
//! reshape targets of the F(2×2, 3×3) form of a 3×3 convolution, and its constant tensors
//! ([`crate::winograd`]). Everything fails unless the convolution is 2-D, 3×3, stride 1,
//! dilation 1, group 1 on floats, so the rule fires on those only.

use super::weights::{tensor_arg, values, weight};
use super::{arity, ints, op, op_result, ty, Function};
use crate::ir::{FnArg, IrData};
use crate::ops::{AutoPad, Conv, ConvAttrs, ConvTranspose, MatMul, Op};
use crate::tensor::{Tensor, TensorType};
use crate::winograd::{
    filter_transform, input_weight, output_weight, Tiles, FILTER, INPUT_WEIGHT, OUTPUT_WEIGHT, TILE,
};

type R = Result<IrData, String>;

/// Errors unless `w` is a float `[K, C, 3, 3]` weight shape; gives `(K, C)`.
fn kernel_dims(w: &TensorType) -> Result<(usize, usize), String> {
    match w.shape[..] {
        [k, c, 3, 3] if w.dtype.is_float() => Ok((k, c)),
        _ => Err(format!("a {w} weight is not a float 3×3 kernel")),
    }
}

/// The tiling of Conv `o` on `x` with weights `w`, when it is one Winograd F(2, 3) computes.
fn tiles(o: &Op, x: &TensorType, w: &TensorType) -> Result<Tiles, String> {
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
    Tiles::new(x.shape[2], x.shape[3], pads).ok_or_else(|| "empty output".into())
}

/// Op, input and weight of arguments `(op x w)`, and their tiling.
fn conv_args<'a>(a: &[&'a IrData]) -> Result<(&'a TensorType, &'a TensorType, Tiles), String> {
    arity(a, 3)?;
    let (x, w) = (ty(a, 1)?, weight(a, 2)?);
    Ok((x, w, tiles(op(a, 0)?, x, w)?))
}

/// `@wino_in_op op x w`: the input transform's Conv (group C, 4×4, stride 2, padded so that
/// every tile is whole).
fn wino_in_op(a: &[&IrData]) -> R {
    let (x, _, t) = conv_args(a)?;
    let attrs = ConvAttrs {
        kernel_shape: Some(vec![4, 4]),
        strides: vec![2, 2],
        pads: t.input_pads(x.shape[2], x.shape[3]).to_vec(),
        dilations: Vec::new(),
        group: x.shape[1],
        auto_pad: AutoPad::NotSet,
    };
    Ok(op_result(Op::Conv(Conv { attrs })))
}

/// `@wino_v_shape op x w`: the transformed input as `[N, C, 16, tiles]`.
fn wino_v_shape(a: &[&IrData]) -> R {
    let (x, _, t) = conv_args(a)?;
    Ok(ints(vec![x.shape[0] as i64, x.shape[1] as i64, TILE as i64, t.count() as i64]))
}

/// `@wino_m_shape op x w`: the products as `[N, 16·K, tile rows, tile columns]`.
fn wino_m_shape(a: &[&IrData]) -> R {
    let (x, w, t) = conv_args(a)?;
    let k = (TILE * w.shape[0]) as i64;
    Ok(ints(vec![x.shape[0] as i64, k, t.tiles[0] as i64, t.tiles[1] as i64]))
}

/// `@wino_out_op op x w`: the output transform's ConvTranspose (group K, 2×2, stride 2, end
/// pads cropping the tiles past the output).
fn wino_out_op(a: &[&IrData]) -> R {
    let (_, w, t) = conv_args(a)?;
    let [ch, cw] = t.crop();
    let attrs = ConvAttrs {
        kernel_shape: Some(vec![2, 2]),
        strides: vec![2, 2],
        pads: vec![0, 0, ch, cw],
        dilations: Vec::new(),
        group: w.shape[0],
        auto_pad: AutoPad::NotSet,
    };
    Ok(op_result(Op::ConvTranspose(ConvTranspose { attrs, output_padding: Vec::new(), output_shape: None })))
}

/// `@wino_matmul_op`: the MatMul of the 16 products.
fn wino_matmul_op(a: &[&IrData]) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::MatMul(MatMul)))
}

/// A constant of the form: its shape and its values from weight `g` (`[K, C, 3, 3]`).
struct Constant {
    shape: fn(usize, usize) -> Vec<usize>,
    values: fn(usize, usize, &[f64]) -> Vec<f64>,
}

const BT: Constant = Constant { shape: |_, c| vec![TILE * c, 1, 4, 4], values: |_, c, _| input_weight(c) };
const U: Constant = Constant { shape: |k, c| vec![TILE, k, c], values: |k, c, g| filter_transform(g, k, c) };
const AT: Constant = Constant { shape: |k, _| vec![TILE * k, 1, 2, 2], values: |k, _, _| output_weight(k) };

fn constant_type(a: &[&IrData], make: Constant) -> R {
    arity(a, 1)?;
    let w = weight(a, 0)?;
    let (k, c) = kernel_dims(w)?;
    Ok(IrData::tensor(TensorType::new(w.dtype, (make.shape)(k, c)), true))
}

fn constant_eval(args: &[FnArg], make: Constant) -> Result<Tensor, String> {
    arity(args, 1)?;
    let w = tensor_arg(args, 0)?;
    let (k, c) = kernel_dims(&w.ttype())?;
    let v = (make.values)(k, c, &values(w)?);
    Tensor::from_f64(w.dtype, (make.shape)(k, c), &v).ok_or_else(|| "unsupported type".into())
}

/// `@wino_bt w`: the input transform's weights `[16·C, 1, 4, 4]` (entries 0 and ±1).
fn wino_bt(a: &[&IrData]) -> R {
    constant_type(a, BT)
}

fn wino_bt_eval(args: &[FnArg]) -> Result<Tensor, String> {
    constant_eval(args, BT)
}

/// `@wino_filter w`: the transformed filter `U = G g Gᵀ` as `[16, K, C]`.
fn wino_filter(a: &[&IrData]) -> R {
    constant_type(a, U)
}

fn wino_filter_eval(args: &[FnArg]) -> Result<Tensor, String> {
    constant_eval(args, U)
}

/// `@wino_at w`: the output transform's weights `[16·K, 1, 2, 2]` (entries 0 and ±1).
fn wino_at(a: &[&IrData]) -> R {
    constant_type(a, AT)
}

fn wino_at_eval(args: &[FnArg]) -> Result<Tensor, String> {
    constant_eval(args, AT)
}

pub(crate) const FUNCTIONS: &[Function] = &[
    Function { name: "wino_in_op", infer: wino_in_op, eval: None },
    Function { name: "wino_v_shape", infer: wino_v_shape, eval: None },
    Function { name: "wino_m_shape", infer: wino_m_shape, eval: None },
    Function { name: "wino_out_op", infer: wino_out_op, eval: None },
    Function { name: "wino_matmul_op", infer: wino_matmul_op, eval: None },
    Function { name: INPUT_WEIGHT, infer: wino_bt, eval: Some(wino_bt_eval) },
    Function { name: FILTER, infer: wino_filter, eval: Some(wino_filter_eval) },
    Function { name: OUTPUT_WEIGHT, infer: wino_at, eval: Some(wino_at_eval) },
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
