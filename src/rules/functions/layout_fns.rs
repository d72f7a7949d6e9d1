//! Payload functions of `rules/layout.rules`: composed permutations, the reshape target of a
//! transpose that keeps the memory order, no-op checks for Slice and Pad, and a Pad folded into
//! the window of a following Conv or pool.

use super::{arity, dims, ints, ints_arg, lit_arg, literal, op, op_result, ty, Function};
use crate::ir::IrData;
use crate::ops::{Op, PadMode, PoolKind};

type R = Result<IrData, String>;

/// The functions of this file.
pub(super) const FUNCTIONS: &[Function] = &[
    Function { name: "perm_compose", infer: perm_compose, eval: None },
    Function { name: "transpose_reshape_shape", infer: transpose_reshape_shape, eval: None },
    Function { name: "slice_noop_shape", infer: slice_noop_shape, eval: None },
    Function { name: "pad_noop_shape", infer: pad_noop_shape, eval: None },
    Function { name: "pad_into_window", infer: pad_into_window, eval: None },
    Function { name: "pow2_log2", infer: pow2_log2, eval: None },
    Function { name: "pow2_of", infer: pow2_of, eval: None },
];

/// `(@pow2_log2 c)`: the literal k with `c = 2^k`, for a literal power of two with `|k| <= 64`
/// (the shift primitive's range); fails otherwise (negative, not a power of two, a constant).
fn pow2_log2(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let c = lit_arg(a, 0)?;
    let k = c.log2().round();
    if c > 0.0 && k.abs() <= 64.0 && 2f64.powi(k as i32) == c {
        Ok(literal(k))
    } else {
        Err(format!("{c} is not 2^k with |k| <= 64"))
    }
}

/// `(@pow2_of k)`: the literal `2^k` for an integer literal `|k| <= 64`; fails otherwise.
fn pow2_of(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let k = lit_arg(a, 0)?;
    if k.fract() == 0.0 && k.abs() <= 64.0 {
        Ok(literal(2f64.powi(k as i32)))
    } else {
        Err(format!("{k} is not an integer shift in -64..=64"))
    }
}

/// `(@perm_compose p q)`: the single permutation `r` with `transpose(r, x) =
/// transpose(p, transpose(q, x))`, i.e. `r[i] = q[p[i]]`.
fn perm_compose(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let (p, q) = (ints_arg(a, 0)?, ints_arg(a, 1)?);
    if p.len() != q.len() {
        return Err(format!("permutations of ranks {} and {}", p.len(), q.len()));
    }
    p.iter()
        .map(|&i| {
            usize::try_from(i).ok().and_then(|i| q.get(i).copied()).ok_or_else(|| format!("{p:?} is not a permutation"))
        })
        .collect::<Result<Vec<i64>, String>>()
        .map(ints)
}

/// `(@transpose_reshape_shape perm x)`: the transposed shape when `perm` moves only size-1 axes
/// (the other axes keep their relative order, so the row-major order of the elements is
/// unchanged and the transpose is a reshape); fails otherwise. An identity perm qualifies.
fn transpose_reshape_shape(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let (perm, x) = (ints_arg(a, 0)?, ty(a, 1)?);
    let mut seen = vec![false; x.shape.len()];
    let mut out = Vec::with_capacity(perm.len());
    let mut last: Option<usize> = None;
    for &p in perm {
        let p = usize::try_from(p).ok().filter(|&p| p < seen.len() && !seen[p]).ok_or("not a permutation")?;
        seen[p] = true;
        let d = x.shape[p];
        if d != 1 {
            if last.is_some_and(|l| l > p) {
                return Err("the transpose reorders axes of size > 1".into());
            }
            last = Some(p);
        }
        out.push(d);
    }
    if out.len() != x.shape.len() {
        return Err("not a permutation of the input's axes".into());
    }
    Ok(ints(dims(&out)))
}

/// `(@slice_noop_shape op x)`: x's shape when the Slice op takes every axis whole, in order
/// (start 0, step 1, full length); fails otherwise.
fn slice_noop_shape(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::Slice(s) = op(a, 0)? else { return Err("expected a Slice op".into()) };
    let x = ty(a, 1)?;
    let resolved = s.resolve(&x.shape).map_err(|e| e.to_string())?;
    if resolved.iter().zip(&x.shape).all(|(&(start, step, len), &d)| (start, step, len) == (0, 1, d)) {
        Ok(ints(dims(&x.shape)))
    } else {
        Err("the slice does not take every axis whole".into())
    }
}

/// `(@pad_noop_shape op x)`: x's shape when every pad of the Pad op is zero (any mode); fails
/// otherwise.
fn pad_noop_shape(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::Pad(p) = op(a, 0)? else { return Err("expected a Pad op".into()) };
    let x = ty(a, 1)?;
    let (b, e) = p.begins_ends(x.shape.len()).map_err(|e| e.to_string())?;
    if b.iter().chain(&e).all(|&v| v == 0) {
        Ok(ints(dims(&x.shape)))
    } else {
        Err("a pad is not zero".into())
    }
}

/// `(@pad_into_window pad window x)`: the Conv, AveragePool (count_include_pad) or MaxPool op
/// `window` with the constant pads of the Pad op `pad` (applied to `x`) added to its own. Fails
/// unless the Pad is constant mode, pads only spatial axes (2..) by non-negative amounts, and
/// fills with +0 (Conv, AveragePool with count_include_pad) or -inf (MaxPool with one output);
/// the window must have explicit pads (auto_pad NOTSET) and, for pools, no ceil_mode, and each
/// resulting pool pad must stay below the kernel size.
fn pad_into_window(a: &[&IrData]) -> R {
    arity(a, 3)?;
    let Op::Pad(p) = op(a, 0)? else { return Err("expected a Pad op".into()) };
    let x = ty(a, 2)?;
    let rank = x.shape.len();
    if p.mode != PadMode::Constant || rank < 3 {
        return Err("not a constant pad of a rank >= 3 input".into());
    }
    let (b, e) = p.begins_ends(rank).map_err(|e| e.to_string())?;
    if b[..2].iter().chain(&e[..2]).any(|&v| v != 0) || b.iter().chain(&e).any(|&v| v < 0) {
        return Err("the pad touches the batch or channel axis, or crops".into());
    }
    let spatial = rank - 2;
    let zero_fill = p.value.to_bits() == 0f64.to_bits();
    let mut window = op(a, 1)?.clone();
    let (attrs, kernel) = match &mut window {
        Op::Conv(c) if zero_fill => (&mut c.attrs, None),
        Op::Pool(pool)
            if !pool.ceil_mode
                && match pool.kind {
                    PoolKind::Average => pool.count_include_pad && zero_fill,
                    PoolKind::Max => pool.n_outputs == 1 && p.value == f64::NEG_INFINITY,
                } =>
        {
            let k = pool.window.kernel_shape.clone();
            (&mut pool.window, k)
        }
        _ => return Err("the window op or the fill value does not allow folding".into()),
    };
    if attrs.auto_pad != crate::ops::AutoPad::NotSet {
        return Err("the window op uses auto_pad".into());
    }
    let old = if attrs.pads.is_empty() { vec![0; 2 * spatial] } else { attrs.pads.clone() };
    if old.len() != 2 * spatial {
        return Err("the window op's pads do not fit the input's rank".into());
    }
    let mut pads = old;
    for i in 0..spatial {
        pads[i] += b[i + 2] as usize;
        pads[i + spatial] += e[i + 2] as usize;
    }
    if let Some(k) = kernel {
        if k.len() != spatial || (0..spatial).any(|i| pads[i] >= k[i] || pads[i + spatial] >= k[i]) {
            return Err("a pool pad would reach the kernel size".into());
        }
    }
    attrs.pads = pads;
    Ok(op_result(window))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ir::Payload;
    use crate::ops::{Conv, ConvAttrs, Pad, Pool};

    fn pad(pads: Vec<i64>, value: f64) -> IrData {
        o(Op::Pad(Pad { mode: PadMode::Constant, pads, value, axes: None }))
    }

    #[test]
    fn pow2_exponents() {
        assert_eq!(call("pow2_log2", &[literal(0.125)]).unwrap().lit.map(|l| l.0), Some(-3.0));
        assert!(call("pow2_log2", &[literal(3.0)]).is_err());
        assert!(call("pow2_log2", &[literal(-2.0)]).is_err());
        assert_eq!(call("pow2_of", &[literal(4.0)]).unwrap().lit.map(|l| l.0), Some(16.0));
        assert!(call("pow2_of", &[literal(0.5)]).is_err());
    }

    #[test]
    fn perm_compose_composes() {
        assert_eq!(call_ints("perm_compose", &[ints(vec![1, 2, 0]), ints(vec![2, 0, 1])]), vec![0, 1, 2]);
        assert_eq!(call_ints("perm_compose", &[ints(vec![1, 0, 2]), ints(vec![0, 2, 1])]), vec![2, 0, 1]);
        assert!(call("perm_compose", &[ints(vec![1, 0]), ints(vec![0, 1, 2])]).is_err());
    }

    #[test]
    fn transpose_reshape_shape_moves_only_unit_axes() {
        assert_eq!(call_ints("transpose_reshape_shape", &[ints(vec![1, 0, 2]), t(&[1, 3, 4])]), vec![3, 1, 4]);
        assert_eq!(call_ints("transpose_reshape_shape", &[ints(vec![0, 1]), t(&[2, 3])]), vec![2, 3]);
        assert!(call("transpose_reshape_shape", &[ints(vec![1, 0]), t(&[2, 3])]).is_err());
    }

    #[test]
    fn slice_and_pad_noops() {
        let p = pad(vec![0, 0, 0, 0], 0.0);
        assert_eq!(call_ints("pad_noop_shape", &[p, t(&[2, 3])]), vec![2, 3]);
        assert!(call("pad_noop_shape", &[pad(vec![0, 1, 0, 0], 0.0), t(&[2, 3])]).is_err());
        assert!(call("slice_noop_shape", &[pad(vec![0, 0], 0.0), t(&[2])]).is_err());
    }

    #[test]
    fn pad_folds_into_conv_and_pools() {
        let conv = o(Op::Conv(Conv { attrs: ConvAttrs { group: 1, ..ConvAttrs::default() } }));
        let r = call("pad_into_window", &[pad(vec![0, 0, 1, 2, 0, 0, 3, 4], 0.0), conv.clone(), t(&[1, 2, 5, 5])]);
        match r.unwrap().payload {
            Some(Payload::Op(o)) => match o.op() {
                Op::Conv(c) => assert_eq!(c.attrs.pads, vec![1, 2, 3, 4]),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert!(
            call("pad_into_window", &[pad(vec![0, 1, 1, 2, 0, 0, 3, 4], 0.0), conv.clone(), t(&[1, 2, 5, 5])]).is_err()
        );
        assert!(call("pad_into_window", &[pad(vec![0, 0, 1, 2, 0, 0, 3, 4], 1.0), conv, t(&[1, 2, 5, 5])]).is_err());
        let window = ConvAttrs { kernel_shape: Some(vec![3, 3]), group: 1, ..ConvAttrs::default() };
        let max = o(Op::Pool(Pool {
            kind: PoolKind::Max,
            window,
            ceil_mode: false,
            count_include_pad: false,
            column_major: false,
            n_outputs: 1,
        }));
        let neg = pad(vec![0, 0, 1, 1, 0, 0, 2, 2], f64::NEG_INFINITY);
        assert!(call("pad_into_window", &[neg, max.clone(), t(&[1, 2, 5, 5])]).is_ok());
        assert!(call(
            "pad_into_window",
            &[pad(vec![0, 0, 1, 1, 0, 0, 3, 3], f64::NEG_INFINITY), max, t(&[1, 2, 5, 5])]
        )
        .is_err());
    }
}
