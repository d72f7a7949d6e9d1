//! Window payloads of convolutions and pools: the im2col geometry (`@conv_window`,
//! `@pool_window`), the contraction of a convolution (`@conv_einsum`, grouped forms) and the
//! kernel axes a pool reduces.

use super::{arity, dims, ints, op, payload, ty, Function};
use crate::ir::{IrData, Payload, WindowSpec};
use crate::ops::{ConvAttrs, Op, Pool, PoolKind};
use crate::tensor::TensorType;

type R = Result<IrData, String>;

/// Kernel-position letters and output-position letters of an einsum, per spatial axis.
const KERNEL: &[u8] = b"ijk";
const OUTPUT: &[u8] = b"xyz";

fn conv_attrs(o: &Op) -> Result<&ConvAttrs, String> {
    match o {
        Op::Conv(c) => Ok(&c.attrs),
        Op::ConvInteger(c) => Ok(&c.attrs),
        Op::QLinearConv(c) => Ok(&c.attrs),
        other => Err(format!("expected a convolution, found {}", other.onnx_name())),
    }
}

/// The convolution's attributes, x, w and its spatial rank, checked to fit.
fn conv_args<'a>(a: &[&'a IrData]) -> Result<(&'a ConvAttrs, &'a TensorType, &'a TensorType, usize), String> {
    arity(a, 3)?;
    let attrs = conv_attrs(op(a, 0)?)?;
    let (x, w) = (ty(a, 1)?, ty(a, 2)?);
    attrs.conv_output(&x.shape, &w.shape).map_err(|e| e.to_string())?;
    let s = x.shape.len() - 2;
    if s > KERNEL.len() {
        return Err(format!("{s} spatial axes"));
    }
    Ok((attrs, x, w, s))
}

fn letters(set: &[u8], s: usize) -> String {
    set[..s].iter().map(|&c| c as char).collect()
}

fn conv_window(a: &[&IrData]) -> R {
    let (attrs, x, w, _) = conv_args(a)?;
    let win = attrs.window(&x.shape[2..], &w.shape[2..], false).map_err(|e| e.to_string())?;
    Ok(payload(Payload::Window(WindowSpec {
        kernel: win.kernel,
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
    })))
}

fn conv_einsum(a: &[&IrData]) -> R {
    let (attrs, _, _, s) = conv_args(a)?;
    if attrs.group != 1 {
        return Err(format!("group {} (see @conv_group_einsum)", attrs.group));
    }
    let (k, o) = (letters(KERNEL, s), letters(OUTPUT, s));
    Ok(payload(Payload::Einsum(format!("nc{k}{o},mc{k}->nm{o}"))))
}

fn conv_group_einsum(a: &[&IrData]) -> R {
    let (attrs, _, _, s) = conv_args(a)?;
    if attrs.group == 1 {
        return Err("group 1 (see @conv_einsum)".into());
    }
    let (k, o) = (letters(KERNEL, s), letters(OUTPUT, s));
    Ok(payload(Payload::Einsum(format!("ngc{k}{o},gmc{k}->ngm{o}"))))
}

fn conv_group_cols_shape(a: &[&IrData]) -> R {
    let (attrs, x, w, _) = conv_args(a)?;
    let g = attrs.group;
    let win = attrs.window(&x.shape[2..], &w.shape[2..], false).map_err(|e| e.to_string())?;
    let mut shape = vec![x.shape[0], g, x.shape[1] / g];
    shape.extend(&win.kernel);
    shape.extend(&win.output);
    Ok(ints(dims(&shape)))
}

fn conv_group_w_shape(a: &[&IrData]) -> R {
    let (attrs, _, w, _) = conv_args(a)?;
    let g = attrs.group;
    let mut shape = vec![g, w.shape[0] / g];
    shape.extend(&w.shape[1..]);
    Ok(ints(dims(&shape)))
}

fn window_kernel_axes(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let rank = ty(a, 0)?.shape.len() as i64;
    Ok(ints((2..rank).collect()))
}

/// A pool's window on an input of spatial shape `spatial`, with the end padding grown so that
/// the primitive's floor-rounded output size matches ceil_mode's; also the overhang (the
/// growth) per axis.
pub(crate) fn pool_geometry(p: &Pool, spatial: &[usize]) -> Result<(WindowSpec, Vec<usize>, Vec<usize>), String> {
    if p.n_outputs != 1 {
        return Err("MaxPool with an Indices output".into());
    }
    let kernel = p.window.kernel_shape.as_deref().ok_or("a pool without kernel_shape")?;
    let win = p.window.window(spatial, kernel, p.ceil_mode).map_err(|e| e.to_string())?;
    let n = spatial.len();
    let mut pads = win.pads.clone();
    let mut overhang = vec![0; n];
    for i in 0..n {
        let extent = (win.output[i] - 1) * win.strides[i] + win.dilations[i] * (win.kernel[i] - 1) + 1;
        let padded = spatial[i] + win.pads[i] + win.pads[n + i];
        overhang[i] = extent.saturating_sub(padded);
        pads[n + i] += overhang[i];
    }
    let spec = WindowSpec { kernel: win.kernel, strides: win.strides, pads, dilations: win.dilations };
    Ok((spec, overhang, win.output))
}

fn pool_args<'a>(a: &[&'a IrData]) -> Result<(&'a Pool, &'a TensorType), String> {
    arity(a, 2)?;
    match (op(a, 0)?, ty(a, 1)?) {
        (Op::Pool(p), x) if x.shape.len() >= 3 => Ok((p, x)),
        (Op::Pool(_), x) => Err(format!("pooling {x}, which has no spatial axis")),
        (other, _) => Err(format!("expected a pool, found {}", other.onnx_name())),
    }
}

fn pool_window(a: &[&IrData]) -> R {
    let (p, x) = pool_args(a)?;
    Ok(payload(Payload::Window(pool_geometry(p, &x.shape[2..])?.0)))
}

fn pool_window_uniform(a: &[&IrData]) -> R {
    let (p, x) = pool_args(a)?;
    let (spec, overhang, _) = pool_geometry(p, &x.shape[2..])?;
    let padded = spec.pads.iter().any(|&q| q > 0);
    if p.kind != PoolKind::Average || overhang.iter().any(|&o| o > 0) || (padded && !p.count_include_pad) {
        return Err("windows count different numbers of elements".into());
    }
    Ok(payload(Payload::Window(spec)))
}

/// Lists functions by their Rust name.
macro_rules! table {
    ($($name:ident),* $(,)?) => {
        /// The functions of this file.
        pub(crate) const FUNCTIONS: &[Function] = &[$(Function { name: stringify!($name), infer: $name, eval: None }),*];
    };
}

table!(
    conv_window,
    conv_einsum,
    conv_group_einsum,
    conv_group_cols_shape,
    conv_group_w_shape,
    window_kernel_axes,
    pool_window,
    pool_window_uniform,
);

#[cfg(test)]
mod tests {
    use super::super::testing::{call, call_ints, o, t};
    use super::*;
    use crate::ops::{AutoPad, Conv, ConvInteger};

    fn conv(attrs: ConvAttrs) -> IrData {
        o(Op::Conv(Conv { attrs }))
    }

    fn window_of(name: &str, args: &[IrData]) -> WindowSpec {
        match call(name, args).unwrap_or_else(|e| panic!("@{name}: {e}")).payload {
            Some(Payload::Window(w)) => w,
            other => panic!("@{name} gave {other:?}"),
        }
    }

    fn einsum_of(name: &str, args: &[IrData]) -> String {
        match call(name, args).unwrap_or_else(|e| panic!("@{name}: {e}")).payload {
            Some(Payload::Einsum(e)) => e,
            other => panic!("@{name} gave {other:?}"),
        }
    }

    fn pool(
        kind: PoolKind,
        kernel: Vec<usize>,
        strides: Vec<usize>,
        pads: Vec<usize>,
        ceil: bool,
        cip: bool,
    ) -> IrData {
        let window = ConvAttrs { kernel_shape: Some(kernel), strides, pads, group: 1, ..ConvAttrs::default() };
        o(Op::Pool(Pool { kind, window, ceil_mode: ceil, count_include_pad: cip, column_major: false, n_outputs: 1 }))
    }

    #[test]
    fn conv_window() {
        let same =
            conv(ConvAttrs { strides: vec![2, 2], auto_pad: AutoPad::SameUpper, group: 1, ..ConvAttrs::default() });
        let w = window_of("conv_window", &[same, t(&[1, 3, 6, 6]), t(&[4, 3, 3, 3])]);
        assert_eq!(
            w,
            WindowSpec { kernel: vec![3, 3], strides: vec![2, 2], pads: vec![0, 0, 1, 1], dilations: vec![1, 1] }
        );
        let plain = conv(ConvAttrs { group: 1, ..ConvAttrs::default() });
        assert!(call("conv_window", &[plain, t(&[1, 3, 6, 6]), t(&[4, 2, 3, 3])]).is_err());
    }

    #[test]
    fn conv_einsum() {
        let c1 = conv(ConvAttrs { group: 1, ..ConvAttrs::default() });
        assert_eq!(einsum_of("conv_einsum", &[c1.clone(), t(&[1, 3, 6, 6]), t(&[4, 3, 3, 3])]), "ncijxy,mcij->nmxy");
        assert_eq!(einsum_of("conv_einsum", &[c1, t(&[1, 3, 6]), t(&[4, 3, 3])]), "ncix,mci->nmx");
        let c2 = conv(ConvAttrs { group: 2, ..ConvAttrs::default() });
        assert!(call("conv_einsum", &[c2, t(&[1, 4, 6, 6]), t(&[4, 2, 3, 3])]).is_err());
        let ci = o(Op::ConvInteger(ConvInteger { attrs: ConvAttrs { group: 1, ..ConvAttrs::default() } }));
        assert_eq!(einsum_of("conv_einsum", &[ci, t(&[1, 3, 6, 6]), t(&[4, 3, 3, 3])]), "ncijxy,mcij->nmxy");
    }

    #[test]
    fn conv_group_einsum() {
        let c2 = conv(ConvAttrs { group: 2, ..ConvAttrs::default() });
        assert_eq!(einsum_of("conv_group_einsum", &[c2, t(&[1, 4, 6, 6]), t(&[6, 2, 3, 3])]), "ngcijxy,gmcij->ngmxy");
        let c1 = conv(ConvAttrs { group: 1, ..ConvAttrs::default() });
        assert!(call("conv_group_einsum", &[c1, t(&[1, 4, 6, 6]), t(&[6, 4, 3, 3])]).is_err());
    }

    #[test]
    fn conv_group_cols_and_w_shapes() {
        let c2 = conv(ConvAttrs { group: 2, ..ConvAttrs::default() });
        let args = [c2, t(&[1, 4, 6, 6]), t(&[6, 2, 3, 3])];
        assert_eq!(call_ints("conv_group_cols_shape", &args), vec![1, 2, 2, 3, 3, 4, 4]);
        assert_eq!(call_ints("conv_group_w_shape", &args), vec![2, 3, 2, 3, 3]);
    }

    #[test]
    fn window_kernel_axes() {
        assert_eq!(call_ints("window_kernel_axes", &[t(&[1, 3, 5, 5])]), vec![2, 3]);
        assert_eq!(call_ints("window_kernel_axes", &[t(&[1, 3, 5])]), vec![2]);
    }

    #[test]
    fn pool_window_grows_the_end_padding_for_ceil_mode() {
        // 4x4, kernel 3, stride 2, ceil_mode: 2x2 outputs need a padded extent of 5.
        let p = pool(PoolKind::Max, vec![3, 3], vec![2, 2], vec![], true, false);
        let w = window_of("pool_window", &[p, t(&[1, 1, 4, 4])]);
        assert_eq!(w.pads, vec![0, 0, 1, 1]);
        let indices = match pool(PoolKind::Max, vec![2], vec![], vec![], false, false).payload {
            Some(Payload::Op(op)) => match op.op() {
                Op::Pool(p) => Op::Pool(Pool { n_outputs: 2, ..p.clone() }),
                _ => unreachable!(),
            },
            _ => unreachable!(),
        };
        assert!(call("pool_window", &[o(indices), t(&[1, 1, 4])]).is_err());
    }

    #[test]
    fn pool_window_uniform() {
        let plain = pool(PoolKind::Average, vec![2, 2], vec![2, 2], vec![], false, false);
        assert!(call("pool_window_uniform", &[plain, t(&[1, 1, 4, 4])]).is_ok());
        let padded = pool(PoolKind::Average, vec![3, 3], vec![], vec![1, 1, 1, 1], false, false);
        assert!(call("pool_window_uniform", &[padded, t(&[1, 1, 4, 4])]).is_err());
        let counted = pool(PoolKind::Average, vec![3, 3], vec![], vec![1, 1, 1, 1], false, true);
        assert!(call("pool_window_uniform", &[counted, t(&[1, 1, 4, 4])]).is_ok());
        let ceil = pool(PoolKind::Average, vec![3, 3], vec![2, 2], vec![], true, true);
        assert!(call("pool_window_uniform", &[ceil, t(&[1, 1, 4, 4])]).is_err());
    }
}
