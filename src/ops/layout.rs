//! Layout ops, which move elements without computing on them: Transpose, Concat, Split, Slice,
//! Pad and Gather. Each evaluates through one index map (output element k comes from element
//! `i` of input `s`) applied by [`take`], so every element type is handled by the same code.
//! (About 750 lines, over the usual 700: six ops share that index map, and splitting them
//! apart would copy it; the tests live in `layout_tests.rs`.)

use super::parse::push;
use super::{input, norm_axis, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{shape_string, DType, Tensor, TensorData, TensorType};
use crate::work::Counter;

/// Number of elements of `shape`, or an error when the product of its non-zero dimensions
/// overflows `usize` (so that, once this passes, no partial product of the shape overflows).
pub(crate) fn checked_numel(shape: &[usize]) -> OpResult<usize> {
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(1usize, |n, &d| n.checked_mul(d));
    match nonzero {
        Some(_) if shape.contains(&0) => Ok(0),
        Some(n) => Ok(n),
        None => Err(OpError::Type(format!("shape {} has too many elements", shape_string(shape)))),
    }
}

/// Largest tensor, in elements, that `eval` reads or builds; larger ones are left to run time.
pub(crate) const EVAL_LIMIT: usize = 1 << 26;

/// The element count of `shape` when `eval` may handle it (see [`EVAL_LIMIT`]).
pub(crate) fn eval_numel(shape: &[usize]) -> Option<usize> {
    checked_numel(shape).ok().filter(|&n| n <= EVAL_LIMIT)
}

/// Row-major strides (in elements) of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(shape[i + 1]);
    }
    s
}

/// Calls `f` with every multi-index of `shape` in row-major order (once for a scalar, never for
/// an empty shape).
pub(crate) fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    loop {
        f(&idx);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Normalizes a list of possibly negative axes against `rank`, rejecting duplicates.
pub(crate) fn norm_axes(axes: &[i64], rank: usize) -> OpResult<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = norm_axis(a, rank)?;
        if out.contains(&n) {
            return Err(OpError::Type(format!("axis {a} appears twice in {axes:?} (rank {rank})")));
        }
        out.push(n);
    }
    Ok(out)
}

/// Builds a tensor of `shape` whose element `k` is element `picks[k].1` of `sources[picks[k].0]`.
/// `None` when the sources differ in element type, an index is out of range of the stored data,
/// or the type is packed below a byte.
pub(crate) fn take(sources: &[&Tensor], shape: Vec<usize>, picks: &[(usize, usize)]) -> Option<Tensor> {
    let first = sources.first()?;
    if sources.iter().any(|t| t.dtype != first.dtype) {
        return None;
    }
    macro_rules! gather {
        ($($var:ident),*) => {
            match &first.data {
                $(TensorData::$var(_) => {
                    let vs = sources
                        .iter()
                        .map(|t| match &t.data { TensorData::$var(v) => Some(v), _ => None })
                        .collect::<Option<Vec<_>>>()?;
                    let out = picks.iter().map(|&(s, i)| vs.get(s)?.get(i).cloned()).collect::<Option<Vec<_>>>()?;
                    TensorData::$var(out)
                })*
                TensorData::Raw(_) => {
                    let bits = first.dtype.bits()?;
                    if bits % 8 != 0 {
                        return None;
                    }
                    let size = bits / 8;
                    let vs = sources
                        .iter()
                        .map(|t| match &t.data { TensorData::Raw(v) => Some(v), _ => None })
                        .collect::<Option<Vec<_>>>()?;
                    let mut out = Vec::with_capacity(picks.len() * size);
                    for &(s, i) in picks {
                        out.extend_from_slice(vs.get(s)?.get(i * size..(i + 1) * size)?);
                    }
                    return Some(Tensor::raw(first.dtype, shape, out));
                }
            }
        };
    }
    let data = gather!(F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str);
    Some(Tensor::new(shape, data))
}

/// Picks from a single source, in output order.
fn picks_from(indices: impl Iterator<Item = usize>) -> Vec<(usize, usize)> {
    indices.map(|i| (0, i)).collect()
}

/// The input types of `eval`'s tensors, for reusing `infer`.
fn types_of(inputs: &[Option<&Tensor>]) -> Vec<Option<TensorType>> {
    inputs.iter().map(|t| t.map(Tensor::ttype)).collect()
}

/// Borrowed view of [`types_of`]'s result.
fn refs(types: &[Option<TensorType>]) -> Vec<Option<&TensorType>> {
    types.iter().map(Option::as_ref).collect()
}

/// Permutes dimensions; `perm` defaults to reversing them.
#[derive(Clone, Debug, PartialEq)]
pub struct Transpose {
    /// Output dimension `i` is input dimension `perm[i]`; `None` reverses.
    pub perm: Option<Vec<i64>>,
}

impl Transpose {
    /// The permutation for an input of `rank`, validated.
    pub fn perm_for(&self, rank: usize) -> OpResult<Vec<usize>> {
        let Some(perm) = &self.perm else { return Ok((0..rank).rev().collect()) };
        let bad =
            || OpError::BadAttr { name: "perm".into(), cause: format!("{perm:?} is not a permutation of 0..{rank}") };
        if perm.len() != rank {
            return Err(bad());
        }
        let mut seen = vec![false; rank];
        let mut out = Vec::with_capacity(rank);
        for &p in perm {
            let p = usize::try_from(p).ok().filter(|&p| p < rank).ok_or_else(bad)?;
            if std::mem::replace(&mut seen[p], true) {
                return Err(bad());
            }
            out.push(p);
        }
        Ok(out)
    }
}

impl Operator for Transpose {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Transpose { perm: p.ints_opt("perm")? })
    }
    fn onnx_name(&self) -> &str {
        "Transpose"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        let perm = self.perm_for(x.shape.len())?;
        Ok(vec![TensorType::new(x.dtype, perm.iter().map(|&p| x.shape[p]).collect())])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if let Some(perm) = &self.perm {
            push(&mut attrs, "perm", Attr::Ints(perm.clone()));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        let n = eval_numel(&x.shape)?;
        let perm = match self.perm_for(x.shape.len()) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let out: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
        let src = strides(&x.shape);
        let mut picks = Vec::with_capacity(n);
        for_each_index(&out, |o| picks.push((0, o.iter().zip(&perm).map(|(&i, &p)| i * src[p]).sum())));
        Some(Ok(vec![take(&[x], out, &picks)?]))
    }
}

/// Joins inputs along `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    /// The axis as written (may be negative).
    pub axis: i64,
}

impl Operator for Concat {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Concat { axis: p.int_opt("axis")?.ok_or_else(|| OpError::MissingAttr("axis".into()))? })
    }
    fn onnx_name(&self) -> &str {
        "Concat"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let first = input(inputs, 0)?;
        let axis = norm_axis(self.axis, first.shape.len())?;
        let mut shape = first.shape.clone();
        shape[axis] = 0;
        for i in 0..inputs.len() {
            let t = input(inputs, i)?;
            let same_other_dims = t.shape.len() == first.shape.len()
                && t.shape.iter().zip(&first.shape).enumerate().all(|(d, (a, b))| d == axis || a == b);
            if t.dtype != first.dtype || !same_other_dims {
                return Err(OpError::Type(format!("cannot concatenate {t} with {first} along axis {}", self.axis)));
            }
            shape[axis] = shape[axis]
                .checked_add(t.shape[axis])
                .ok_or_else(|| OpError::Type("concatenated dimension overflows".into()))?;
        }
        checked_numel(&shape)?;
        Ok(vec![TensorType::new(first.dtype, shape)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        vec![("axis".into(), Attr::Int(self.axis))]
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let xs: Vec<&Tensor> = inputs.iter().copied().collect::<Option<_>>()?;
        let out = match self.infer(&refs(&types_of(inputs))) {
            Ok(mut t) => t.remove(0),
            Err(e) => return Some(Err(e)),
        };
        let n = eval_numel(&out.shape)?;
        let axis = norm_axis(self.axis, out.shape.len()).ok()?;
        let outer: usize = out.shape[..axis].iter().product();
        let inner: usize = out.shape[axis + 1..].iter().product();
        let mut picks = Vec::with_capacity(n);
        for o in 0..outer {
            for (k, x) in xs.iter().enumerate() {
                let block = x.shape[axis] * inner;
                picks.extend((o * block..(o + 1) * block).map(|i| (k, i)));
            }
        }
        Some(Ok(vec![take(&xs, out.shape, &picks)?]))
    }
}

/// Splits the input along `axis` into one output per declared output.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The axis as written (may be negative).
    pub axis: i64,
    /// Explicit part sizes (attribute `split` before opset 13, input 1 after); `None` splits
    /// evenly.
    pub split: Option<Vec<i64>>,
    /// Attribute `num_outputs` (opset 18+): parts of `ceil(dim / n)`, the last one smaller.
    pub num_outputs: Option<i64>,
    /// Number of outputs the node declares.
    pub n_outputs: usize,
}

impl Split {
    /// The size of each part when splitting a dimension of `dim`.
    pub fn sizes(&self, dim: usize) -> OpResult<Vec<usize>> {
        let n = self.n_outputs;
        if let Some(split) = &self.split {
            let sizes: Vec<usize> =
                split.iter().map(|&s| usize::try_from(s).ok()).collect::<Option<_>>().ok_or_else(|| {
                    OpError::BadAttr { name: "split".into(), cause: format!("negative part size in {split:?}") }
                })?;
            let total = sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s));
            if sizes.len() != n || total != Some(dim) {
                return Err(OpError::Type(format!(
                    "split sizes {split:?} must be {n} sizes summing to the split dimension {dim}"
                )));
            }
            return Ok(sizes);
        }
        if n == 0 {
            return Err(OpError::Type("Split declares no outputs".into()));
        }
        if dim.is_multiple_of(n) {
            return Ok(vec![dim / n; n]);
        }
        if self.num_outputs.is_none() {
            return Err(OpError::Type(format!("cannot split a dimension of {dim} into {n} equal parts")));
        }
        let part = dim / n + 1;
        let last = part.checked_mul(n - 1).and_then(|used| dim.checked_sub(used)).ok_or_else(|| {
            OpError::Type(format!("cannot split a dimension of {dim} into {n} parts of at most {part}"))
        })?;
        let mut sizes = vec![part; n];
        sizes[n - 1] = last;
        Ok(sizes)
    }
}

impl Operator for Split {
    fn parse(p: &Parser) -> OpResult<Self> {
        let split = p.ints_attr_or_operand("split", 1)?.filter(|s| !s.is_empty());
        let num_outputs = p.int_opt("num_outputs")?;
        if split.is_some() && num_outputs.is_some() {
            return Err(OpError::BadAttr { name: "num_outputs".into(), cause: "given together with split".into() });
        }
        if let Some(n) = num_outputs {
            if p.opset < 18 {
                // Not Split's before opset 18: kept, it would be dropped on export (a file
                // that changes on a round trip; found by fuzzing).
                return Err(OpError::BadAttr {
                    name: "num_outputs".into(),
                    cause: format!("an attribute of Split from opset 18; the model imports opset {}", p.opset),
                });
            }
            if usize::try_from(n).ok() != Some(p.n_outputs) {
                return Err(OpError::BadAttr {
                    name: "num_outputs".into(),
                    cause: format!("{n} but the node declares {} outputs", p.n_outputs),
                });
            }
        }
        Ok(Split { axis: p.int("axis", 0)?, split, num_outputs, n_outputs: p.n_outputs })
    }
    fn onnx_name(&self) -> &str {
        "Split"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        let axis = norm_axis(self.axis, x.shape.len())?;
        let sizes = self.sizes(x.shape[axis])?;
        Ok(sizes
            .into_iter()
            .map(|s| {
                let mut shape = x.shape.clone();
                shape[axis] = s;
                TensorType::new(x.dtype, shape)
            })
            .collect())
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.axis != 0 {
            push(&mut attrs, "axis", Attr::Int(self.axis));
        }
        match (&self.split, self.num_outputs) {
            (Some(split), _) if opset < 13 => push(&mut attrs, "split", Attr::Ints(split.clone())),
            (_, Some(n)) if opset >= 18 => push(&mut attrs, "num_outputs", Attr::Int(n)),
            _ => {}
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        eval_numel(&x.shape)?;
        let outs = match self.infer(&[Some(&x.ttype())]) {
            Ok(o) => o,
            Err(e) => return Some(Err(e)),
        };
        let axis = norm_axis(self.axis, x.shape.len()).ok()?;
        let outer: usize = x.shape[..axis].iter().product();
        let inner: usize = x.shape[axis + 1..].iter().product();
        let dim = x.shape[axis];
        let mut start = 0;
        let mut result = Vec::with_capacity(outs.len());
        for out in outs {
            let len = out.shape[axis];
            let picks = picks_from((0..outer).flat_map(|o| (o * dim + start) * inner..(o * dim + start + len) * inner));
            result.push(take(&[x], out.shape, &picks)?);
            start += len;
        }
        Some(Ok(result))
    }
}

/// Strided slices along some axes (attributes before opset 10, constant inputs after).
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    /// First index per sliced axis (negative counts from the end; clamped).
    pub starts: Vec<i64>,
    /// One past the last index per sliced axis (negative counts from the end; clamped).
    pub ends: Vec<i64>,
    /// The sliced axes; `None` means `0..starts.len()`.
    pub axes: Option<Vec<i64>>,
    /// Step per sliced axis (negative walks backwards, zero is invalid); `None` means all 1.
    pub steps: Option<Vec<i64>>,
}

impl Slice {
    /// For every dimension of `shape`: the first source index, the step and the output length.
    pub fn resolve(&self, shape: &[usize]) -> OpResult<Vec<(usize, i64, usize)>> {
        let n = self.starts.len();
        let lens_ok = self.ends.len() == n
            && self.axes.as_ref().is_none_or(|a| a.len() == n)
            && self.steps.as_ref().is_none_or(|s| s.len() == n);
        if !lens_ok {
            return Err(OpError::Type(format!(
                "Slice starts {:?}, ends {:?}, axes {:?} and steps {:?} differ in length",
                self.starts, self.ends, self.axes, self.steps
            )));
        }
        let axes = match &self.axes {
            Some(a) => norm_axes(a, shape.len())?,
            None if n <= shape.len() => (0..n).collect(),
            None => return Err(OpError::Type(format!("{n} slice starts for an input of {}", shape_string(shape)))),
        };
        let mut out: Vec<(usize, i64, usize)> = shape.iter().map(|&d| (0, 1, d)).collect();
        for (k, &axis) in axes.iter().enumerate() {
            let step = self.steps.as_ref().map_or(1, |s| s[k]);
            if step == 0 {
                return Err(OpError::Type(format!("Slice step for axis {axis} is 0")));
            }
            let d = shape[axis] as i128;
            let (mut s, mut e, st) = (self.starts[k] as i128, self.ends[k] as i128, step as i128);
            if s < 0 {
                s += d;
            }
            if e < 0 {
                e += d;
            }
            let len = if st > 0 {
                s = s.max(0).min(d);
                e = e.max(0).min(d);
                (e - s + st - 1).div_euclid(st)
            } else {
                s = s.max(0).min(d - 1);
                e = e.max(-1).min(d - 1);
                (s - e - st - 1).div_euclid(-st)
            };
            out[axis] = (s.max(0) as usize, step, len.max(0) as usize);
        }
        Ok(out)
    }
}

impl Operator for Slice {
    fn parse(p: &Parser) -> OpResult<Self> {
        if p.opset < 10 {
            let required = |name: &str| p.ints_opt(name)?.ok_or_else(|| OpError::MissingAttr(name.into()));
            return Ok(Slice {
                starts: required("starts")?,
                ends: required("ends")?,
                axes: p.ints_opt("axes")?,
                steps: None,
            });
        }
        let required = |i| p.operand_ints(i)?.ok_or(OpError::MissingInput(i));
        Ok(Slice { starts: required(1)?, ends: required(2)?, axes: p.operand_ints(3)?, steps: p.operand_ints(4)? })
    }
    fn onnx_name(&self) -> &str {
        "Slice"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        let dims = self.resolve(&x.shape)?;
        Ok(vec![TensorType::new(x.dtype, dims.iter().map(|d| d.2).collect())])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if opset < 10 {
            push(&mut attrs, "starts", Attr::Ints(self.starts.clone()));
            push(&mut attrs, "ends", Attr::Ints(self.ends.clone()));
            if let Some(axes) = &self.axes {
                push(&mut attrs, "axes", Attr::Ints(axes.clone()));
            }
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        eval_numel(&x.shape)?;
        let dims = match self.resolve(&x.shape) {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let out: Vec<usize> = dims.iter().map(|d| d.2).collect();
        let src = strides(&x.shape);
        let mut picks = Vec::with_capacity(checked_numel(&out).ok()?);
        for_each_index(&out, |o| {
            let i = o
                .iter()
                .zip(&dims)
                .zip(&src)
                .map(|((&i, &(s, st, _)), &stride)| (s as i64 + i as i64 * st) as usize * stride);
            picks.push((0, i.sum()));
        });
        Some(Ok(vec![take(&[x], out, &picks)?]))
    }
    /// A copy: what is read is what is written.
    fn work(&self, c: &mut Counter) {
        c.bytes = 2 * crate::work::bytes_of(c.outputs);
    }
}

/// How [`Pad`] fills the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PadMode {
    /// A constant value.
    Constant,
    /// Mirror without repeating the edge element.
    Reflect,
    /// Repeat the edge element.
    Edge,
    /// Wrap around (opset 19+).
    Wrap,
}

impl PadMode {
    /// The ONNX spelling.
    pub fn onnx_name(self) -> &'static str {
        match self {
            PadMode::Constant => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Edge => "edge",
            PadMode::Wrap => "wrap",
        }
    }
}

/// Pads (or, with negative pads, crops) the border of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Pad {
    /// Border fill.
    pub mode: PadMode,
    /// All begins then all ends, one per padded axis (attribute before opset 11, input 1 after).
    pub pads: Vec<i64>,
    /// The fill for [`PadMode::Constant`] (attribute `value` before opset 11, input 2 after).
    pub value: f64,
    /// The padded axes (input 3, opset 18+); `None` means every axis.
    pub axes: Option<Vec<i64>>,
}

impl Pad {
    /// Begin and end pads for every dimension of an input of `rank`.
    pub fn begins_ends(&self, rank: usize) -> OpResult<(Vec<i64>, Vec<i64>)> {
        let axes = match &self.axes {
            Some(a) => norm_axes(a, rank)?,
            None => (0..rank).collect(),
        };
        if self.pads.len() != 2 * axes.len() {
            return Err(OpError::Type(format!(
                "{} pads for {} padded axes (need two per axis)",
                self.pads.len(),
                axes.len()
            )));
        }
        let (mut begins, mut ends) = (vec![0; rank], vec![0; rank]);
        for (k, &a) in axes.iter().enumerate() {
            begins[a] = self.pads[k];
            ends[a] = self.pads[k + axes.len()];
        }
        Ok((begins, ends))
    }

    /// The output shape for an input of `shape`.
    pub fn output_shape(&self, shape: &[usize]) -> OpResult<Vec<usize>> {
        let (begins, ends) = self.begins_ends(shape.len())?;
        let mut out = Vec::with_capacity(shape.len());
        for (axis, &d) in shape.iter().enumerate() {
            let (b, e) = (begins[axis] as i128, ends[axis] as i128);
            let n = d as i128 + b + e;
            if n < 0 || n > usize::MAX as i128 {
                return Err(OpError::Type(format!(
                    "pads {b} and {e} leave no valid size for axis {axis} of {}",
                    shape_string(shape)
                )));
            }
            if d == 0 && n > 0 && self.mode != PadMode::Constant {
                return Err(OpError::Type(format!(
                    "{} padding of empty axis {axis} of {}",
                    self.mode.onnx_name(),
                    shape_string(shape)
                )));
            }
            out.push(n as usize);
        }
        checked_numel(&out)?;
        Ok(out)
    }

    /// The source position for output position `o` of an axis of size `d` padded by `b` in
    /// front (`None`: the fill value). Reflect and wrap repeat periodically, as numpy's `pad`.
    fn source(&self, o: usize, d: usize, b: i64) -> Option<usize> {
        let (p, d) = (o as i128 - b as i128, d as i128);
        let src = match self.mode {
            _ if (0..d).contains(&p) => p,
            PadMode::Constant => return None,
            PadMode::Edge => p.clamp(0, d - 1),
            PadMode::Wrap => p.rem_euclid(d),
            PadMode::Reflect if d == 1 => 0,
            PadMode::Reflect => {
                let m = p.rem_euclid(2 * (d - 1));
                if m >= d {
                    2 * (d - 1) - m
                } else {
                    m
                }
            }
        };
        Some(src as usize)
    }
}

impl Operator for Pad {
    fn parse(p: &Parser) -> OpResult<Self> {
        let mode = match p.string("mode", "constant")?.as_str() {
            "constant" => PadMode::Constant,
            "reflect" => PadMode::Reflect,
            "edge" => PadMode::Edge,
            "wrap" => PadMode::Wrap,
            other => {
                return Err(OpError::BadAttr { name: "mode".into(), cause: format!("unknown pad mode '{other}'") })
            }
        };
        if p.opset < 11 {
            let pads = match p.ints_opt("pads")? {
                Some(v) => v,
                None => p.ints_opt("paddings")?.ok_or_else(|| OpError::MissingAttr("pads".into()))?,
            };
            return Ok(Pad { mode, pads, value: p.float("value", 0.0)? as f64, axes: None });
        }
        let pads = p.operand_ints(1)?.ok_or(OpError::MissingInput(1))?;
        let value = p.operand_floats(2)?.and_then(|v| v.first().copied()).unwrap_or(0.0);
        Ok(Pad { mode, pads, value, axes: p.operand_ints(3)? })
    }
    fn onnx_name(&self) -> &str {
        "Pad"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        Ok(vec![TensorType::new(x.dtype, self.output_shape(&x.shape)?)])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.mode != PadMode::Constant {
            push(&mut attrs, "mode", Attr::String(self.mode.onnx_name().as_bytes().to_vec()));
        }
        if opset < 11 {
            push(&mut attrs, "pads", Attr::Ints(self.pads.clone()));
            if self.value != 0.0 {
                push(&mut attrs, "value", Attr::Float(self.value as f32));
            }
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        eval_numel(&x.shape)?;
        let (out, begins) = match (self.output_shape(&x.shape), self.begins_ends(x.shape.len())) {
            (Ok(out), Ok((begins, _))) => (out, begins),
            (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
        };
        let n = eval_numel(&out)?;
        // The fill is source 1, which only constant mode picks.
        let fill = match (self.mode, x.dtype) {
            (PadMode::Constant, DType::Str) => Some(Tensor::new(vec![1], TensorData::Str(vec![Vec::new()]))),
            (PadMode::Constant, dtype) => Some(Tensor::from_f64(dtype, vec![1], &[self.value])?),
            _ => None,
        };
        let sources: Vec<&Tensor> = std::iter::once(x).chain(fill.as_ref()).collect();
        let src = strides(&x.shape);
        let mut picks = Vec::with_capacity(n);
        for_each_index(&out, |o| {
            let i: Option<usize> =
                (0..o.len()).map(|a| self.source(o[a], x.shape[a], begins[a]).map(|j| j * src[a])).sum();
            picks.push(i.map_or((1, 0), |i| (0, i)));
        });
        Some(Ok(vec![take(&sources, out, &picks)?]))
    }
}

/// Picks entries of `data` along `axis` with an integer `indices` tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    /// The axis as written (may be negative).
    pub axis: i64,
}

impl Operator for Gather {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Gather { axis: p.int("axis", 0)? })
    }
    fn onnx_name(&self) -> &str {
        "Gather"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (data, indices) = (input(inputs, 0)?, input(inputs, 1)?);
        if !matches!(indices.dtype, DType::I32 | DType::I64) {
            return Err(OpError::Type(format!("Gather indices must be int32 or int64, found {}", indices.dtype)));
        }
        let axis = norm_axis(self.axis, data.shape.len())?;
        let shape: Vec<usize> =
            data.shape[..axis].iter().chain(&indices.shape).chain(&data.shape[axis + 1..]).copied().collect();
        checked_numel(&shape)?;
        Ok(vec![TensorType::new(data.dtype, shape)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.axis != 0 {
            push(&mut attrs, "axis", Attr::Int(self.axis));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let (data, indices) = (inputs.first().copied().flatten()?, inputs.get(1).copied().flatten()?);
        let out = match self.infer(&refs(&types_of(inputs))) {
            Ok(mut t) => t.remove(0),
            Err(e) => return Some(Err(e)),
        };
        eval_numel(&data.shape)?;
        eval_numel(&out.shape)?;
        let axis = norm_axis(self.axis, data.shape.len()).ok()?;
        let dim = data.shape[axis];
        let mut idx = Vec::new();
        for i in indices.to_i64_vec()? {
            let j = if i < 0 { i + dim as i64 } else { i };
            if j < 0 || j >= dim as i64 {
                return Some(Err(OpError::Type(format!(
                    "Gather index {i} is out of range for axis {} of size {dim} (data {})",
                    self.axis,
                    shape_string(&data.shape)
                ))));
            }
            idx.push(j as usize);
        }
        let outer: usize = data.shape[..axis].iter().product();
        let inner: usize = data.shape[axis + 1..].iter().product();
        let picks = picks_from(
            (0..outer).flat_map(|o| idx.iter().flat_map(move |&j| (o * dim + j) * inner..(o * dim + j + 1) * inner)),
        );
        Some(Ok(vec![take(&[data], out.shape, &picks)?]))
    }
    /// A copy: what is read is what is written.
    fn work(&self, c: &mut Counter) {
        c.bytes = 2 * crate::work::bytes_of(c.outputs);
    }
}

/// Helpers for the op tests in this family and its neighbours.
#[cfg(test)]
#[path = "layout_testing.rs"]
pub(crate) mod testing;

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
