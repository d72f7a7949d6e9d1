//! Payloads of ConvTranspose as a convolution: zeros inserted between the input's elements
//! (`stride - 1` per gap, by reshape, pad, reshape and slice), the padding `dilation·(k−1) − pads`
//! (plus output_padding at the end) as a window, and a contraction with the spatially flipped
//! weight whose channel axes are swapped by the einsum. Explicit pads (auto_pad NOTSET or VALID)
//! only; `output_shape` and SAME padding fail, leaving the rule unfired.

use super::{arity, dims, ints, op, payload, ty, Function};
use crate::ir::{IrData, Payload, SliceSpec, WindowSpec};
use crate::ops::{AutoPad, ConvTranspose, Op};
use crate::tensor::TensorType;

type R = Result<IrData, String>;

/// Kernel-position letters and output-position letters of an einsum, per spatial axis.
const KERNEL: &[u8] = b"ijk";
const OUTPUT: &[u8] = b"xyz";

/// One spatial axis of a transposed convolution seen as a convolution.
struct Axis {
    /// Input size.
    size: usize,
    /// Stride (the zero-inserted length is `(size − 1)·stride + 1`).
    stride: usize,
    /// Kernel size.
    kernel: usize,
    /// Dilation.
    dilation: usize,
    /// Padding of the zero-inserted input: `dilation·(k−1) − pad_begin`, may be negative.
    begin: i64,
    /// `dilation·(k−1) − pad_end + output_padding`, may be negative.
    end: i64,
}

/// The geometry of a ConvTranspose on x and w: its group and spatial axes.
struct Geometry {
    group: usize,
    axes: Vec<Axis>,
}

fn list(values: &[usize], n: usize, default: usize, name: &str) -> Result<Vec<usize>, String> {
    match values.len() {
        0 => Ok(vec![default; n]),
        l if l == n => Ok(values.to_vec()),
        l => Err(format!("{name} has {l} values for {n} axes")),
    }
}

fn geometry(c: &ConvTranspose, x: &TensorType, w: &TensorType) -> Result<Geometry, String> {
    Op::ConvTranspose(c.clone()).infer(&[Some(x), Some(w)]).map_err(|e| e.to_string())?;
    let n = x.shape.len() - 2;
    if n > KERNEL.len() {
        return Err(format!("{n} spatial axes"));
    }
    if c.output_shape.is_some() {
        return Err("output_shape is not decomposed".into());
    }
    let kernel = w.shape[2..].to_vec();
    if c.attrs.kernel_shape.as_ref().is_some_and(|k| *k != kernel) {
        return Err("kernel_shape differs from the weight's".into());
    }
    let strides = list(&c.attrs.strides, n, 1, "strides")?;
    let dilations = list(&c.attrs.dilations, n, 1, "dilations")?;
    let pads = match c.attrs.auto_pad {
        AutoPad::NotSet => list(&c.attrs.pads, 2 * n, 0, "pads")?,
        AutoPad::Valid => vec![0; 2 * n],
        other => return Err(format!("auto_pad {} is not decomposed", other.onnx_name())),
    };
    let out_pad = list(&c.output_padding, n, 0, "output_padding")?;
    let mut axes = Vec::with_capacity(n);
    for i in 0..n {
        let extent = (dilations[i] * (kernel[i].max(1) - 1)) as i64;
        let a = Axis {
            size: x.shape[2 + i],
            stride: strides[i],
            kernel: kernel[i],
            dilation: dilations[i],
            begin: extent - pads[i] as i64,
            end: extent - pads[n + i] as i64 + out_pad[i] as i64,
        };
        // The trimmed zero-inserted input must keep at least one element.
        let (b, e) = trim(&a);
        if e <= b || a.stride == 0 || a.dilation == 0 {
            return Err(format!("spatial axis {i} trims away the whole input"));
        }
        axes.push(a);
    }
    Ok(Geometry { group: c.attrs.group, axes })
}

/// The kept range of the zero-inserted axis: negative padding trims it.
fn trim(a: &Axis) -> (i64, i64) {
    let len = ((a.size - 1) * a.stride + 1) as i64;
    ((-a.begin).max(0), len + a.end.min(0))
}

/// The ConvTranspose op, x, w and their geometry.
fn args<'a>(a: &[&'a IrData]) -> Result<(&'a TensorType, &'a TensorType, Geometry), String> {
    arity(a, 3)?;
    let Op::ConvTranspose(c) = op(a, 0)? else {
        return Err(format!("expected ConvTranspose, found {}", op(a, 0)?.onnx_name()));
    };
    let (x, w) = (ty(a, 1)?, ty(a, 2)?);
    let g = geometry(c, x, w)?;
    Ok((x, w, g))
}

fn letters(set: &[u8], s: usize) -> String {
    set[..s].iter().map(|&c| c as char).collect()
}

/// `@convt_expand_shape op x w`: x as `[N, C, H, 1, W, 1, ...]`.
fn convt_expand_shape(a: &[&IrData]) -> R {
    let (x, _, g) = args(a)?;
    let mut shape = x.shape[..2].to_vec();
    for ax in &g.axes {
        shape.extend([ax.size, 1]);
    }
    Ok(ints(dims(&shape)))
}

/// `@convt_expand_pads op x w`: `stride − 1` zeros after every element (on the size-1 axes).
fn convt_expand_pads(a: &[&IrData]) -> R {
    let (_, _, g) = args(a)?;
    let r = 2 + 2 * g.axes.len();
    let mut pads = vec![0; 2 * r];
    for (i, ax) in g.axes.iter().enumerate() {
        pads[r + 3 + 2 * i] = ax.stride as i64 - 1;
    }
    Ok(ints(pads))
}

/// `@convt_dilated_shape op x w`: `[N, C, H·stride, W·stride, ...]`.
fn convt_dilated_shape(a: &[&IrData]) -> R {
    let (x, _, g) = args(a)?;
    let mut shape = x.shape[..2].to_vec();
    shape.extend(g.axes.iter().map(|ax| ax.size * ax.stride));
    Ok(ints(dims(&shape)))
}

/// `@convt_trim op x w`: the zero-inserted input without its trailing `stride − 1` zeros, less
/// what negative padding removes.
fn convt_trim(a: &[&IrData]) -> R {
    let (_, _, g) = args(a)?;
    let (begins, ends) = g.axes.iter().map(trim).unzip();
    let n = g.axes.len();
    Ok(payload(Payload::Slice(SliceSpec { axes: (2..2 + n).collect(), begins, ends, steps: vec![1; n] })))
}

/// `@convt_window op x w`: stride 1, the op's dilations, padding `dilation·(k−1) − pads`.
fn convt_window(a: &[&IrData]) -> R {
    let (_, _, g) = args(a)?;
    let mut pads: Vec<usize> = g.axes.iter().map(|ax| ax.begin.max(0) as usize).collect();
    pads.extend(g.axes.iter().map(|ax| ax.end.max(0) as usize));
    Ok(payload(Payload::Window(WindowSpec {
        kernel: g.axes.iter().map(|ax| ax.kernel).collect(),
        strides: vec![1; g.axes.len()],
        pads,
        dilations: g.axes.iter().map(|ax| ax.dilation).collect(),
    })))
}

/// `@convt_flip op x w`: the weight reversed along every spatial axis.
fn convt_flip(a: &[&IrData]) -> R {
    let (_, _, g) = args(a)?;
    let n = g.axes.len();
    Ok(payload(Payload::Slice(SliceSpec {
        axes: (2..2 + n).collect(),
        begins: vec![-1; n],
        ends: g.axes.iter().map(|ax| -(ax.kernel as i64) - 1).collect(),
        steps: vec![-1; n],
    })))
}

/// `@convt_einsum op x w` (group 1): windows `[N, C, k..., o...]` with the weight `[C, M, k...]`.
fn convt_einsum(a: &[&IrData]) -> R {
    let (_, _, g) = args(a)?;
    if g.group != 1 {
        return Err(format!("group {} (see @convt_group_einsum)", g.group));
    }
    let (k, o) = (letters(KERNEL, g.axes.len()), letters(OUTPUT, g.axes.len()));
    Ok(payload(Payload::Einsum(format!("nc{k}{o},cm{k}->nm{o}"))))
}

/// `@convt_group_einsum op x w` (group > 1): windows `[N, g, C/g, k..., o...]` with the weight
/// `[g, C/g, M/g, k...]`.
fn convt_group_einsum(a: &[&IrData]) -> R {
    let (_, _, g) = args(a)?;
    if g.group == 1 {
        return Err("group 1 (see @convt_einsum)".into());
    }
    let (k, o) = (letters(KERNEL, g.axes.len()), letters(OUTPUT, g.axes.len()));
    Ok(payload(Payload::Einsum(format!("ngc{k}{o},gcm{k}->ngm{o}"))))
}

/// `@convt_group_cols_shape op x w`: the windows `[N, C, k..., o...]` as `[N, g, C/g, ...]`.
fn convt_group_cols_shape(a: &[&IrData]) -> R {
    let (x, _, g) = args(a)?;
    let mut shape = vec![x.shape[0], g.group, x.shape[1] / g.group];
    shape.extend(g.axes.iter().map(|ax| ax.kernel));
    for ax in &g.axes {
        let (b, e) = trim(ax);
        let padded = (e - b) + ax.begin.max(0) + ax.end.max(0);
        shape.push((padded - (ax.dilation * (ax.kernel.max(1) - 1)) as i64) as usize);
    }
    Ok(ints(dims(&shape)))
}

/// `@convt_group_w_shape op x w`: the weight `[C, M/g, k...]` as `[g, C/g, M/g, k...]`.
fn convt_group_w_shape(a: &[&IrData]) -> R {
    let (_, w, g) = args(a)?;
    let mut shape = vec![g.group, w.shape[0] / g.group];
    shape.extend(&w.shape[1..]);
    Ok(ints(dims(&shape)))
}

/// `@convt_bias_shape op x w`: the bias `[M]` as `[M, 1...]` along the output's channel axis.
fn convt_bias_shape(a: &[&IrData]) -> R {
    let (_, w, g) = args(a)?;
    let m = w.shape[1] * g.group;
    Ok(ints(std::iter::once(m as i64).chain(std::iter::repeat_n(1, g.axes.len())).collect()))
}

/// The functions of this file.
pub(crate) const FUNCTIONS: &[Function] = &[
    Function { name: "convt_expand_shape", infer: convt_expand_shape, eval: None },
    Function { name: "convt_expand_pads", infer: convt_expand_pads, eval: None },
    Function { name: "convt_dilated_shape", infer: convt_dilated_shape, eval: None },
    Function { name: "convt_trim", infer: convt_trim, eval: None },
    Function { name: "convt_window", infer: convt_window, eval: None },
    Function { name: "convt_flip", infer: convt_flip, eval: None },
    Function { name: "convt_einsum", infer: convt_einsum, eval: None },
    Function { name: "convt_group_einsum", infer: convt_group_einsum, eval: None },
    Function { name: "convt_group_cols_shape", infer: convt_group_cols_shape, eval: None },
    Function { name: "convt_group_w_shape", infer: convt_group_w_shape, eval: None },
    Function { name: "convt_bias_shape", infer: convt_bias_shape, eval: None },
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::ops::ConvAttrs;

    fn convt(group: usize, output_shape: Option<Vec<usize>>) -> Op {
        let attrs = ConvAttrs {
            kernel_shape: None,
            strides: vec![2, 2],
            pads: vec![1, 1, 1, 1],
            dilations: vec![],
            group,
            auto_pad: AutoPad::NotSet,
        };
        Op::ConvTranspose(ConvTranspose { attrs, output_padding: vec![1, 1], output_shape })
    }

    #[test]
    fn zero_insertion_padding_and_flip() {
        let args = [o(convt(1, None)), t(&[1, 2, 3, 3]), w(&[2, 4, 3, 3])];
        assert_eq!(call_ints("convt_expand_shape", &args), vec![1, 2, 3, 1, 3, 1]);
        assert_eq!(call_ints("convt_expand_pads", &args), vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(call_ints("convt_dilated_shape", &args), vec![1, 2, 6, 6]);
        let Some(Payload::Slice(trim)) = call("convt_trim", &args).unwrap().payload else { panic!("no slice") };
        assert_eq!((trim.axes, trim.begins, trim.ends), (vec![2, 3], vec![0, 0], vec![5, 5]));
        // dilation·(k−1) − pads = 1 before, + output_padding = 2 after: (5 + 3 − 2) = 6 outputs,
        // ONNX's (3 − 1)·2 + 3 + 1 − 2.
        let Some(Payload::Window(win)) = call("convt_window", &args).unwrap().payload else { panic!("no window") };
        assert_eq!((win.pads, win.strides, win.kernel), (vec![1, 1, 2, 2], vec![1, 1], vec![3, 3]));
        let Some(Payload::Slice(flip)) = call("convt_flip", &args).unwrap().payload else { panic!("no slice") };
        assert_eq!((flip.begins, flip.ends, flip.steps), (vec![-1, -1], vec![-4, -4], vec![-1, -1]));
        let Some(Payload::Einsum(e)) = call("convt_einsum", &args).unwrap().payload else { panic!("no einsum") };
        assert_eq!(e, "ncijxy,cmij->nmxy");
        assert!(call("convt_group_einsum", &args).is_err());
        assert_eq!(call_ints("convt_bias_shape", &args), vec![4, 1, 1]);
    }

    #[test]
    fn groups_and_unsupported_attributes() {
        let args = [o(convt(2, None)), t(&[1, 4, 3, 3]), w(&[4, 3, 3, 3])];
        assert!(call("convt_einsum", &args).is_err());
        assert_eq!(call_ints("convt_group_cols_shape", &args), vec![1, 2, 2, 3, 3, 6, 6]);
        assert_eq!(call_ints("convt_group_w_shape", &args), vec![2, 2, 3, 3, 3]);
        assert_eq!(call_ints("convt_bias_shape", &args), vec![6, 1, 1]);
        let fixed = [o(convt(1, Some(vec![6, 6]))), t(&[1, 2, 3, 3]), w(&[2, 4, 3, 3])];
        assert!(call("convt_window", &fixed).unwrap_err().contains("output_shape"));
    }
}
