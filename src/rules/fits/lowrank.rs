//! Structure families: data-aware low rank (`lrconv`: a Conv as a conv to `r` channels then a
//! 1×1; `lrlinear`: a Gemm or MatMul through `r` columns; `sepconv`: a k×k conv as k×1 then 1×k)
//! and channel pruning with a least-squares refit of the consumer (`prune`). The rank or the
//! channels kept are a fraction of the layer's, given as a literal argument; a fraction that
//! saves no multiply-accumulates is no alternative. Numerics: [`crate::fit::lowrank`],
//! [`crate::fit::separable`], [`crate::fit::prune`].

use super::{array, op, samples, tensor, Family, FitArg, FitOut, FitOutputs};
use crate::fit::lowrank::{conv_map, Layout, WhitenedSvd};
use crate::fit::patches::{conv_patches, sample_rows, Moments, RowCap};
use crate::fit::prune::{prune_inputs, select_channels};
use crate::fit::separable::{split_geometry, SeparableSvd};
use crate::fit::Samples;
use crate::ir::{OpPayload, Payload};
use crate::ops::{Conv, ConvAttrs, MatMul, Op};
use ndarray::{ArrayD, Ix2};

/// The structure families.
pub(super) const FAMILIES: &[Family] = &[
    Family { name: "lrconv", outputs: &["w1", "w2", "op1", "op2"], fit: low_rank_conv },
    Family { name: "lrlinear", outputs: &["w1", "w2", "op1"], fit: low_rank_linear },
    Family { name: "sepconv", outputs: &["w1", "w2", "op1", "op2"], fit: separable_conv },
    Family { name: "prune", outputs: &["w1", "b1", "w2", "b2"], fit: prune },
];

fn fraction(args: &[FitArg], i: usize) -> Result<f64, String> {
    match args.get(i) {
        Some(FitArg::Literal(f)) if *f > 0.0 && *f < 1.0 => Ok(*f),
        _ => Err(format!("argument {i} is not a fraction in (0, 1)")),
    }
}

/// `max(1, round(fraction · n))`.
fn part(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).round() as usize).clamp(1, n)
}

fn conv_op(attrs: ConvAttrs) -> FitOut {
    FitOut::Payload(Payload::Op(OpPayload::new(Op::Conv(Conv { attrs }))))
}

fn conv_attrs<'a>(args: &[FitArg<'a>], i: usize) -> Result<&'a ConvAttrs, String> {
    match op(args, i)? {
        Op::Conv(c) if c.attrs.group == 1 => Ok(&c.attrs),
        Op::Conv(_) => Err("a grouped convolution has no low-rank form here".into()),
        other => Err(format!("{} is not a Conv", other.onnx_name())),
    }
}

/// The moments of a conv's input patches.
fn patch_moments(x: &Samples, attrs: &ConvAttrs, kernel: &[usize]) -> Result<Moments, String> {
    let p = conv_patches(x, attrs, kernel, RowCap::default()).map_err(|e| e.to_string())?;
    Moments::of(p.groups[0].view()).map_err(|e| e.to_string())
}

/// `[x, w, op, fraction]`: a group-1 Conv as a conv with the original geometry to `r` channels
/// then a 1×1 conv (the bias stays with the caller's second conv).
fn low_rank_conv(args: &[FitArg]) -> Result<FitOutputs, String> {
    let (x, w, attrs, f) = (samples(args, 0)?, array(args, 1)?, conv_attrs(args, 2)?, fraction(args, 3)?);
    let map = conv_map(&w).map_err(|e| e.to_string())?;
    let (o, k) = map.dim();
    let rank = part(f, o.min(k));
    if rank * (o + k) >= o * k {
        return Err(format!("rank {rank} of a {o}×{k} map saves no multiply-accumulates"));
    }
    let moments = patch_moments(x, attrs, &w.shape()[2..])?;
    let svd = WhitenedSvd::new(map.view(), None, &moments).map_err(|e| e.to_string())?;
    let (w1, w2) = svd.factors(rank).and_then(|f| f.as_convs(w.shape())).map_err(|e| e.to_string())?;
    let first = ConvAttrs { kernel_shape: None, ..attrs.clone() };
    Ok(FitOutputs::from([
        ("w1", FitOut::Tensor(tensor(w1))),
        ("w2", FitOut::Tensor(tensor(w2))),
        ("op1", conv_op(first)),
        ("op2", conv_op(ConvAttrs::default())),
    ]))
}

/// `[x, w, op, fraction]`: a Gemm (alpha 1, A untransposed) or a 2-D MatMul through `r` columns:
/// the first layer a MatMul `[in, r]`, the second the original op with its own weight layout.
fn low_rank_linear(args: &[FitArg]) -> Result<FitOutputs, String> {
    let (x, w, f) = (samples(args, 0)?, array(args, 1)?, fraction(args, 3)?);
    let layout = match op(args, 2)? {
        Op::Gemm(g) if g.alpha == 1.0 && !g.trans_a => {
            if g.trans_b {
                Layout::OutIn
            } else {
                Layout::InOut
            }
        }
        Op::MatMul(_) => Layout::InOut,
        other => return Err(format!("no low-rank form for {}", other.onnx_name())),
    };
    let w2d = w.into_dimensionality::<Ix2>().map_err(|_| "the weight is not 2-D".to_string())?;
    let map = layout.to_map(w2d.view());
    let (o, k) = map.dim();
    let rank = part(f, o.min(k));
    if rank < 2 {
        // A rank-1 product is a degenerate layer (tract's axis merging fails on it).
        return Err(format!("rank {rank} of a {o}×{k} map is too thin"));
    }
    if rank * (o + k) >= o * k {
        return Err(format!("rank {rank} of a {o}×{k} map saves no multiply-accumulates"));
    }
    let rows = sample_rows(x, RowCap::default()).map_err(|e| e.to_string())?;
    let moments = Moments::of(rows.view()).map_err(|e| e.to_string())?;
    let factors =
        WhitenedSvd::new(map.view(), None, &moments).and_then(|s| s.factors(rank)).map_err(|e| e.to_string())?;
    let first = Layout::InOut.from_map(factors.first.view());
    let second = layout.from_map(factors.second.view());
    Ok(FitOutputs::from([
        ("w1", FitOut::Tensor(tensor(first.into_dyn()))),
        ("w2", FitOut::Tensor(tensor(second.into_dyn()))),
        ("op1", FitOut::Payload(Payload::Op(OpPayload::new(Op::MatMul(MatMul))))),
    ]))
}

/// `[x, w, op, fraction]`: a 2-D group-1 k×k Conv as a kh×1 conv to `r` channels then a 1×kw
/// conv.
fn separable_conv(args: &[FitArg]) -> Result<FitOutputs, String> {
    let (x, w, attrs, f) = (samples(args, 0)?, array(args, 1)?, conv_attrs(args, 2)?, fraction(args, 3)?);
    let &[o, c, kh, kw] = w.shape() else { return Err("not a 2-D convolution".into()) };
    if kh < 2 || kw < 2 {
        return Err("a kernel with a side of 1 is already separable".into());
    }
    let rank = part(f, (c * kh).min(o * kw));
    if rank * (c * kh + o * kw) >= o * c * kh * kw {
        return Err(format!("rank {rank} saves no multiply-accumulates"));
    }
    let (first, second) = split_geometry(attrs, &x.shape()[2..], &w.shape()[2..]).map_err(|e| e.to_string())?;
    let moments = patch_moments(x, attrs, &w.shape()[2..])?;
    let sep = SeparableSvd::new(&w, None, &moments).and_then(|s| s.factors(rank)).map_err(|e| e.to_string())?;
    Ok(FitOutputs::from([
        ("w1", FitOut::Tensor(tensor(sep.vertical))),
        ("w2", FitOut::Tensor(tensor(sep.horizontal))),
        ("op1", conv_op(first)),
        ("op2", conv_op(second)),
    ]))
}

/// `[h, w1, b1, w2, b2, op2, fraction, op1]`: keep that fraction of the channels between a producer
/// Conv (`w1`, `b1`) and its consumer (a group-1 Conv or a Gemm/MatMul `op2` with `w2`, `b2`),
/// whose input `h` is the producer's output after a per-channel activation: the consumer is
/// refit on the kept channels by least squares, the producer sliced to them.
fn prune(args: &[FitArg]) -> Result<FitOutputs, String> {
    let (h, w1, b1, w2, b2, f) =
        (samples(args, 0)?, array(args, 1)?, array(args, 2)?, array(args, 3)?, array(args, 4)?, fraction(args, 6)?);
    match op(args, 7)? {
        Op::Conv(c) if c.attrs.group == 1 => {}
        _ => return Err("the producer is not a group-1 Conv".into()),
    }
    let channels = w1.shape()[0];
    let keep = part(f, channels);
    if keep == channels {
        return Err(format!("{f} of {channels} channels keeps them all"));
    }
    let b2 = ndarray::Array1::from(b2.iter().copied().collect::<Vec<f32>>());
    let (weight, moments, out_axis) = match op(args, 5)? {
        Op::Conv(c) if c.attrs.group == 1 => (w2.clone(), patch_moments(h, &c.attrs, &w2.shape()[2..])?, None),
        Op::Gemm(g) if g.alpha == 1.0 && !g.trans_a && h.ndim() == 2 => {
            let layout = if g.trans_b { Layout::OutIn } else { Layout::InOut };
            let map = layout.to_map(w2.clone().into_dimensionality::<Ix2>().map_err(|e| e.to_string())?.view());
            let rows = sample_rows(h, RowCap::default()).map_err(|e| e.to_string())?;
            (map.into_dyn(), Moments::of(rows.view()).map_err(|e| e.to_string())?, Some(layout))
        }
        other => return Err(format!("no pruning refit for a {} consumer", other.onnx_name())),
    };
    let pruned = prune_inputs(&weight, Some(b2.view()), &moments, keep).map_err(|e| e.to_string())?;
    let w2_new = match out_axis {
        None => pruned.weight,
        Some(layout) => {
            let map = pruned.weight.into_dimensionality::<Ix2>().map_err(|e| e.to_string())?;
            layout.from_map(map.view()).into_dyn()
        }
    };
    let slice = |t: &ArrayD<f32>| select_channels(t, 0, &pruned.kept).map_err(|e| e.to_string());
    let b1 = ndarray::Array1::from(b1.iter().copied().collect::<Vec<f32>>()).into_dyn();
    Ok(FitOutputs::from([
        ("w1", FitOut::Tensor(tensor(slice(&w1)?))),
        ("b1", FitOut::Tensor(tensor(slice(&b1)?))),
        ("w2", FitOut::Tensor(tensor(w2_new))),
        ("b2", FitOut::Tensor(tensor(pruned.bias.into_dyn()))),
    ]))
}
