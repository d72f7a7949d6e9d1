//! Shape ops, which keep the elements in order and only change or read the shape: Reshape,
//! Flatten, Squeeze, Unsqueeze, Shape, ConstantOfShape, Identity and Dropout (inference).

use super::layout::{checked_numel, eval_numel, norm_axes, take};
use super::parse::push;
use super::{input, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{shape_string, DType, Tensor, TensorType};
use crate::work::Counter;

/// The same data under a new static shape: `eval` for every op here that does not move elements.
fn with_shape(x: &Tensor, out: OpResult<Vec<TensorType>>) -> Option<OpResult<Vec<Tensor>>> {
    eval_numel(&x.shape)?;
    Some(out.map(|mut t| vec![x.clone().reshaped(t.remove(0).shape)]))
}

/// Gives a tensor a new shape with the same number of elements.
#[derive(Clone, Debug, PartialEq)]
pub struct Reshape {
    /// Target shape: `-1` is inferred, `0` copies the input dimension unless `allowzero`.
    pub shape: Vec<i64>,
    /// Opset 14+: a `0` in `shape` is a real zero-sized dimension.
    pub allowzero: bool,
}

impl Reshape {
    /// The output shape for an input of shape `input`.
    pub fn output_shape(&self, input: &[usize]) -> OpResult<Vec<usize>> {
        let err =
            |why: &str| OpError::Type(format!("cannot reshape {} to {:?}: {why}", shape_string(input), self.shape));
        let mut out = Vec::with_capacity(self.shape.len());
        let mut inferred = None;
        for (i, &d) in self.shape.iter().enumerate() {
            match d {
                -1 if inferred.is_some() => return Err(err("more than one -1")),
                -1 => {
                    inferred = Some(i);
                    out.push(1);
                }
                0 if !self.allowzero => out.push(*input.get(i).ok_or_else(|| err("a 0 beyond the input's rank"))?),
                d => out.push(usize::try_from(d).map_err(|_| err("negative dimension"))?),
            }
        }
        if self.allowzero && inferred.is_some() && self.shape.contains(&0) {
            return Err(err("-1 together with 0 under allowzero"));
        }
        let total = checked_numel(input)?;
        let known = checked_numel(&out)?;
        match inferred {
            Some(i) if known == 0 => {
                return Err(err(&format!("-1 at position {i} is ambiguous next to a zero dimension")))
            }
            Some(i) if total % known == 0 => out[i] = total / known,
            None if known == total => {}
            _ => return Err(err(&format!("{total} elements do not fit"))),
        }
        Ok(out)
    }
}

impl Operator for Reshape {
    fn parse(p: &Parser) -> OpResult<Self> {
        let shape = p.ints_attr_or_operand("shape", 1)?.ok_or(OpError::MissingInput(1))?;
        Ok(Reshape { shape, allowzero: p.int("allowzero", 0)? != 0 })
    }
    fn onnx_name(&self) -> &str {
        "Reshape"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        Ok(vec![TensorType::new(x.dtype, self.output_shape(&x.shape)?)])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.allowzero && opset >= 14 {
            push(&mut attrs, "allowzero", Attr::Int(1));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        with_shape(x, self.infer(&[Some(&x.ttype())]))
    }
    /// A view: nothing computed, nothing copied.
    fn work(&self, c: &mut Counter) {
        c.bytes = 0;
    }
}

/// Flattens to 2-D: dimensions before `axis` and from `axis` on.
#[derive(Clone, Debug, PartialEq)]
pub struct Flatten {
    /// The split point as written, in `[-rank, rank]` (default 1).
    pub axis: i64,
}

impl Operator for Flatten {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Flatten { axis: p.int("axis", 1)? })
    }
    fn onnx_name(&self) -> &str {
        "Flatten"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        let rank = x.shape.len() as i64;
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis };
        if !(0..=rank).contains(&axis) {
            return Err(OpError::Type(format!(
                "Flatten axis {} is out of range for {}",
                self.axis,
                shape_string(&x.shape)
            )));
        }
        let (outer, inner) = x.shape.split_at(axis as usize);
        Ok(vec![TensorType::new(x.dtype, vec![checked_numel(outer)?, checked_numel(inner)?])])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.axis != 1 {
            push(&mut attrs, "axis", Attr::Int(self.axis));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        with_shape(x, self.infer(&[Some(&x.ttype())]))
    }
    /// A view: nothing computed, nothing copied.
    fn work(&self, c: &mut Counter) {
        c.bytes = 0;
    }
}

/// Removes size-1 dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Squeeze {
    /// The removed axes (attribute before opset 13, input 1 after); `None` removes every size-1
    /// dimension.
    pub axes: Option<Vec<i64>>,
}

impl Operator for Squeeze {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Squeeze { axes: p.ints_attr_or_operand("axes", 1)?.filter(|a| !a.is_empty()) })
    }
    fn onnx_name(&self) -> &str {
        "Squeeze"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        let shape = match &self.axes {
            None => x.shape.iter().copied().filter(|&d| d != 1).collect(),
            Some(axes) => {
                let axes = norm_axes(axes, x.shape.len())?;
                if let Some(&a) = axes.iter().find(|&&a| x.shape[a] != 1) {
                    return Err(OpError::Type(format!(
                        "cannot squeeze axis {a} of size {} in {}",
                        x.shape[a],
                        shape_string(&x.shape)
                    )));
                }
                x.shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
            }
        };
        Ok(vec![TensorType::new(x.dtype, shape)])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if let (Some(axes), true) = (&self.axes, opset < 13) {
            push(&mut attrs, "axes", Attr::Ints(axes.clone()));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        with_shape(x, self.infer(&[Some(&x.ttype())]))
    }
    /// A view: nothing computed, nothing copied.
    fn work(&self, c: &mut Counter) {
        c.bytes = 0;
    }
}

/// Inserts size-1 dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsqueeze {
    /// Positions of the new dimensions in the output (attribute before opset 13, input 1 after).
    pub axes: Vec<i64>,
}

impl Operator for Unsqueeze {
    fn parse(p: &Parser) -> OpResult<Self> {
        let axes = p.ints_attr_or_operand("axes", 1)?;
        let missing = if p.opset < 13 { OpError::MissingAttr("axes".into()) } else { OpError::MissingInput(1) };
        Ok(Unsqueeze { axes: axes.ok_or(missing)? })
    }
    fn onnx_name(&self) -> &str {
        "Unsqueeze"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        let rank = x.shape.len() + self.axes.len();
        let axes = norm_axes(&self.axes, rank)?;
        let mut dims = x.shape.iter();
        let shape = (0..rank).map(|i| if axes.contains(&i) { 1 } else { dims.next().copied().unwrap_or(1) }).collect();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if opset < 13 {
            push(&mut attrs, "axes", Attr::Ints(self.axes.clone()));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        with_shape(x, self.infer(&[Some(&x.ttype())]))
    }
    /// A view: nothing computed, nothing copied.
    fn work(&self, c: &mut Counter) {
        c.bytes = 0;
    }
}

/// The input's shape as a 1-D int64 tensor, optionally a `[start, end)` slice of it (opset 15+).
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// First dimension reported (negative counts from the end; clamped).
    pub start: i64,
    /// One past the last dimension reported (negative counts from the end; clamped); `None`
    /// means the rank.
    pub end: Option<i64>,
}

impl Shape {
    /// The reported dimension range for an input of `rank`.
    fn range(&self, rank: usize) -> std::ops::Range<usize> {
        let clamp = |i: i64| {
            let r = rank as i64;
            (if i < 0 { i.saturating_add(r) } else { i }).clamp(0, r) as usize
        };
        let (start, end) = (clamp(self.start), self.end.map_or(rank, clamp));
        start..end.max(start)
    }

    /// The output for an input of static type `input`; lets the importer fold `Shape` of a
    /// tensor that is not a constant.
    pub fn shape_of(&self, input: &TensorType) -> Tensor {
        let dims: Vec<i64> = input.shape[self.range(input.shape.len())].iter().map(|&d| d as i64).collect();
        Tensor::i64(vec![dims.len()], dims)
    }
}

impl Operator for Shape {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Shape { start: p.int("start", 0)?, end: p.int_opt("end")? })
    }
    fn onnx_name(&self) -> &str {
        "Shape"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        Ok(vec![TensorType::new(DType::I64, vec![self.range(x.shape.len()).len()])])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if opset >= 15 {
            if self.start != 0 {
                push(&mut attrs, "start", Attr::Int(self.start));
            }
            if let Some(end) = self.end {
                push(&mut attrs, "end", Attr::Int(end));
            }
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        Some(Ok(vec![self.shape_of(&x.ttype())]))
    }
    /// A view: nothing computed, nothing copied.
    fn work(&self, c: &mut Counter) {
        c.bytes = 0;
    }
}

/// A tensor of a given shape filled with one value.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    /// Output shape (constant input 0).
    pub shape: Vec<usize>,
    /// One-element tensor giving the element type and the fill (attribute `value`, default
    /// float 0).
    pub value: Tensor,
}

impl ConstantOfShape {
    /// ONNX's default `value`: a float32 zero of shape `[1]`.
    pub fn default_value() -> Tensor {
        Tensor::f32(vec![1], vec![0.0])
    }
}

impl Operator for ConstantOfShape {
    fn parse(p: &Parser) -> OpResult<Self> {
        let dims = p.operand_ints(0)?.ok_or(OpError::MissingInput(0))?;
        let shape = dims
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| OpError::Type(format!("ConstantOfShape shape {dims:?} has a negative dimension")))?;
        checked_numel(&shape)?;
        let value = p.tensor_opt("value")?.cloned().unwrap_or_else(Self::default_value);
        if checked_numel(&value.shape).ok() != Some(1) {
            return Err(OpError::BadAttr {
                name: "value".into(),
                cause: format!("must hold one element, has shape {}", shape_string(&value.shape)),
            });
        }
        Ok(ConstantOfShape { shape, value })
    }
    fn onnx_name(&self) -> &str {
        "ConstantOfShape"
    }
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Ok(vec![TensorType::new(self.value.dtype, self.shape.clone())])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.value != Self::default_value() {
            push(&mut attrs, "value", Attr::Tensor(self.value.clone()));
        }
        attrs
    }
    fn eval(&self, _inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let n = eval_numel(&self.shape)?;
        Some(Ok(vec![take(&[&self.value], self.shape.clone(), &vec![(0, 0); n])?]))
    }
    /// Writes its output.
    fn work(&self, c: &mut Counter) {
        c.bytes = crate::work::bytes_of(c.outputs);
    }
}

/// Output equals input.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity;

impl Operator for Identity {
    fn parse(_p: &Parser) -> OpResult<Self> {
        Ok(Identity)
    }
    fn onnx_name(&self) -> &str {
        "Identity"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Ok(vec![input(inputs, 0)?.clone()])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        Some(Ok(vec![inputs.first().copied().flatten()?.clone()]))
    }
    /// A view: nothing computed, nothing copied.
    fn work(&self, c: &mut Counter) {
        c.bytes = 0;
    }
}

/// Dropout at inference: the output is the input and the optional mask is all true.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    /// Drop ratio (attribute before opset 12, constant input 1 after; default 0.5); kept only to
    /// write it back.
    pub ratio: f32,
    /// Attribute `seed` (opset 12+), kept only to write it back.
    pub seed: Option<i64>,
    /// Opset 7–9: the mask has the input's element type instead of bool.
    pub legacy_mask: bool,
    /// Number of outputs the node declares (1, or 2 with the mask).
    pub n_outputs: usize,
}

impl Operator for Dropout {
    fn parse(p: &Parser) -> OpResult<Self> {
        let unsupported =
            |what: &str| OpError::Unsupported(format!("Dropout with {what} (only inference is supported)"));
        if p.opset < 7 && p.int("is_test", 0)? == 0 {
            return Err(unsupported("is_test=0"));
        }
        let ratio = if p.opset < 12 {
            p.float("ratio", 0.5)?
        } else {
            // At inference the ratio does not matter, so a ratio fed at run time is fine; in
            // training mode only ratio 0 (the identity) is supported, so it must be known.
            let training = p.operand_ints(2)?.is_some_and(|t| t.iter().any(|&v| v != 0));
            let ratio = match p.operand_floats(1) {
                Err(OpError::NonConstOperand { .. }) if !training => None,
                other => other?,
            };
            if training && !ratio.as_ref().is_some_and(|r| r.iter().all(|&v| v == 0.0)) {
                return Err(unsupported("training_mode true"));
            }
            ratio.and_then(|r| r.first().copied()).map_or(0.5, |r| r as f32)
        };
        let seed = if p.opset >= 12 { p.int_opt("seed")? } else { None };
        Ok(Dropout { ratio, seed, legacy_mask: p.opset < 10, n_outputs: p.n_outputs })
    }
    fn onnx_name(&self) -> &str {
        "Dropout"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        let mask = TensorType::new(if self.legacy_mask { x.dtype } else { DType::Bool }, x.shape.clone());
        Ok([x.clone(), mask].into_iter().take(self.n_outputs.max(1)).collect())
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if opset < 12 && self.ratio != 0.5 {
            push(&mut attrs, "ratio", Attr::Float(self.ratio));
        }
        if opset < 7 {
            push(&mut attrs, "is_test", Attr::Int(1));
        }
        if let (Some(seed), true) = (self.seed, opset >= 12) {
            push(&mut attrs, "seed", Attr::Int(seed));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        let mut out = vec![x.clone()];
        if self.n_outputs > 1 {
            let dtype = if self.legacy_mask { x.dtype } else { DType::Bool };
            out.push(Tensor::from_f64(dtype, x.shape.clone(), &vec![1.0; eval_numel(&x.shape)?])?);
        }
        Some(Ok(out))
    }
    /// A view: nothing computed, nothing copied.
    fn work(&self, c: &mut Counter) {
        c.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::testing::*;
    use super::super::{Cast, Concat, Gather, Slice};
    use super::*;

    fn infer1<K: Operator>(k: &K, shape: &[usize]) -> OpResult<Vec<usize>> {
        k.infer(&[Some(&TensorType::new(DType::F32, shape.to_vec()))]).map(|mut t| t.remove(0).shape)
    }

    #[test]
    fn reshape_spec_examples() {
        // ONNX reshape.py, input 2x3x4.
        let cases: &[(&[i64], &[usize])] = &[
            (&[4, 2, 3], &[4, 2, 3]),
            (&[2, 12], &[2, 12]),
            (&[24], &[24]),
            (&[2, -1, 2], &[2, 6, 2]),
            (&[-1, 2, 3, 4], &[1, 2, 3, 4]),
            (&[2, 0, 4, 1], &[2, 3, 4, 1]),
            (&[2, 0, 1, -1], &[2, 3, 1, 4]),
        ];
        for (shape, want) in cases {
            let r = Reshape { shape: shape.to_vec(), allowzero: false };
            assert_eq!(infer1(&r, &[2, 3, 4]).unwrap(), want.to_vec(), "{shape:?}");
        }
        // allowzero_reordered: 0x3x4 to [3, 4, 0] keeps the zero.
        let r = Reshape { shape: vec![3, 4, 0], allowzero: true };
        assert_eq!(infer1(&r, &[0, 3, 4]).unwrap(), vec![3, 4, 0]);
        assert!(infer1(&Reshape { allowzero: false, ..r.clone() }, &[0, 3, 4]).is_err());
        for bad in [&[-1, -1][..], &[5, 5], &[-1, 5], &[2, -2, 12]] {
            let err = infer1(&Reshape { shape: bad.to_vec(), allowzero: false }, &[2, 3, 4]).unwrap_err();
            assert!(matches!(&err, OpError::Type(m) if m.contains("2x3x4")), "{err}");
        }
        let x = Tensor::i64(vec![2, 3], (0..6).collect());
        let out = &run(&Reshape { shape: vec![3, -1], allowzero: false }, &[&x])[0];
        assert_eq!((out.shape.clone(), out.to_i64_vec().unwrap()), (vec![3, 2], (0..6).collect()));
    }

    #[test]
    fn reshape_reads_its_shape_input() {
        let shape = ints(&[0, -1]);
        let none = Attrs::new();
        let r: Reshape = round_trip(&parser("Reshape", 13, &none, vec![var(), cst(&shape)], 1));
        assert_eq!(r, Reshape { shape: vec![0, -1], allowzero: false });
        let a = vec![("allowzero".to_string(), Attr::Int(1))];
        let r: Reshape = round_trip(&parser("Reshape", 14, &a, vec![var(), cst(&shape)], 1));
        assert!(r.allowzero);
        let p = parser("Reshape", 13, &none, vec![var(), var()], 1);
        assert!(matches!(Reshape::parse(&p), Err(OpError::NonConstOperand { index: 1, .. })));
    }

    #[test]
    fn flatten_axes() {
        let x = [2, 3, 4, 5];
        assert_eq!(infer1(&Flatten { axis: 0 }, &x).unwrap(), vec![1, 120]);
        assert_eq!(infer1(&Flatten { axis: 2 }, &x).unwrap(), vec![6, 20]);
        assert_eq!(infer1(&Flatten { axis: -1 }, &x).unwrap(), vec![24, 5]);
        assert_eq!(infer1(&Flatten { axis: 4 }, &x).unwrap(), vec![120, 1]);
        assert!(infer1(&Flatten { axis: 5 }, &x).is_err());
    }

    #[test]
    fn squeeze_with_and_without_axes() {
        assert_eq!(infer1(&Squeeze { axes: Some(vec![0]) }, &[1, 3, 4, 5]).unwrap(), vec![3, 4, 5]);
        assert_eq!(infer1(&Squeeze { axes: Some(vec![-2]) }, &[1, 3, 1, 5]).unwrap(), vec![1, 3, 5]);
        assert_eq!(infer1(&Squeeze { axes: None }, &[1, 3, 1, 5]).unwrap(), vec![3, 5]);
        let err = infer1(&Squeeze { axes: Some(vec![1]) }, &[1, 3]).unwrap_err();
        assert!(matches!(&err, OpError::Type(m) if m.contains("1x3")), "{err}");
        assert!(infer1(&Squeeze { axes: Some(vec![0, -4]) }, &[1, 3, 1, 5]).is_err());
    }

    #[test]
    fn unsqueeze_positions() {
        assert_eq!(infer1(&Unsqueeze { axes: vec![0, 4] }, &[3, 4, 5]).unwrap(), vec![1, 3, 4, 5, 1]);
        assert_eq!(infer1(&Unsqueeze { axes: vec![5, 4, 2] }, &[3, 4, 5]).unwrap(), vec![3, 4, 1, 5, 1, 1]);
        assert_eq!(infer1(&Unsqueeze { axes: vec![-2] }, &[1, 3, 1, 5]).unwrap(), vec![1, 3, 1, 1, 5]);
        assert!(infer1(&Unsqueeze { axes: vec![1, 1] }, &[3]).is_err());
        assert!(infer1(&Unsqueeze { axes: vec![3] }, &[3]).is_err());
    }

    #[test]
    fn squeeze_unsqueeze_round_trip_at_11_and_13() {
        let axes = ints(&[0, 2]);
        let a = vec![("axes".to_string(), Attr::Ints(vec![0, 2]))];
        let none = Attrs::new();
        let s11: Squeeze = round_trip(&parser("Squeeze", 11, &a, vec![var()], 1));
        let s13: Squeeze = round_trip(&parser("Squeeze", 13, &none, vec![var(), cst(&axes)], 1));
        assert_eq!(s11, s13);
        assert_eq!(round_trip::<Squeeze>(&parser("Squeeze", 13, &none, vec![var()], 1)).axes, None);
        let u11: Unsqueeze = round_trip(&parser("Unsqueeze", 11, &a, vec![var()], 1));
        let u13: Unsqueeze = round_trip(&parser("Unsqueeze", 13, &none, vec![var(), cst(&axes)], 1));
        assert_eq!(u11, u13);
        assert_eq!(Unsqueeze::parse(&parser("Unsqueeze", 13, &none, vec![var()], 1)), Err(OpError::MissingInput(1)));
    }

    #[test]
    fn shape_start_end() {
        // ONNX shape.py on a 3x4x5 input.
        let x = TensorType::new(DType::F32, vec![3, 4, 5]);
        let cases: &[(i64, Option<i64>, &[i64])] = &[
            (0, None, &[3, 4, 5]),
            (1, None, &[4, 5]),
            (0, Some(1), &[3]),
            (-1, None, &[5]),
            (0, Some(-1), &[3, 4]),
            (1, Some(2), &[4]),
            (10, None, &[]),
            (0, Some(10), &[3, 4, 5]),
            (2, Some(1), &[]),
        ];
        for &(start, end, want) in cases {
            let s = Shape { start, end };
            let t = s.shape_of(&x);
            assert_eq!((t.shape.clone(), t.to_i64_vec().unwrap()), (vec![want.len()], want.to_vec()));
            assert_eq!(s.infer(&[Some(&x)]).unwrap()[0], t.ttype());
        }
        let a = vec![("start".to_string(), Attr::Int(1)), ("end".to_string(), Attr::Int(-1))];
        let s: Shape = round_trip(&parser("Shape", 15, &a, vec![var()], 1));
        assert_eq!(s, Shape { start: 1, end: Some(-1) });
        assert!(s.attributes(13).is_empty());
    }

    #[test]
    fn constant_of_shape_int64_fill() {
        let shape = ints(&[2, 3]);
        let a = vec![("value".to_string(), Attr::Tensor(Tensor::i64(vec![1], vec![7])))];
        let c: ConstantOfShape = round_trip(&parser("ConstantOfShape", 13, &a, vec![cst(&shape)], 1));
        let out = &run(&c, &[&shape])[0];
        assert_eq!((out.dtype, out.shape.clone()), (DType::I64, vec![2, 3]));
        assert_eq!(out.to_i64_vec().unwrap(), vec![7; 6]);
        // Default: float zeros, written back as nothing; an empty shape gives a scalar.
        let none = Attrs::new();
        let dims = ints(&[4, 3, 2]);
        let c: ConstantOfShape = round_trip(&parser("ConstantOfShape", 11, &none, vec![cst(&dims)], 1));
        assert!(c.attributes(11).is_empty());
        assert_eq!(run(&c, &[&dims])[0], Tensor::f32(vec![4, 3, 2], vec![0.0; 24]));
        let scalar = Tensor::i64(vec![0], vec![]);
        let c = ConstantOfShape::parse(&parser("ConstantOfShape", 11, &none, vec![cst(&scalar)], 1)).unwrap();
        assert_eq!(c.infer(&[None]).unwrap()[0], TensorType::new(DType::F32, vec![]));
        let negative = ints(&[2, -1]);
        assert!(ConstantOfShape::parse(&parser("ConstantOfShape", 11, &none, vec![cst(&negative)], 1)).is_err());
        let two = vec![("value".to_string(), Attr::Tensor(Tensor::i64(vec![2], vec![1, 2])))];
        let p = parser("ConstantOfShape", 11, &two, vec![cst(&shape)], 1);
        assert!(matches!(ConstantOfShape::parse(&p), Err(OpError::BadAttr { .. })));
    }

    #[test]
    fn dropout_is_identity_at_inference() {
        let x = Tensor::f32(vec![2], vec![1.0, -2.0]);
        let (ratio, off, on) = (
            Tensor::f32(vec![], vec![0.2]),
            Tensor::new(vec![], crate::tensor::TensorData::Bool(vec![false])),
            Tensor::new(vec![], crate::tensor::TensorData::Bool(vec![true])),
        );
        let none = Attrs::new();
        let d: Dropout = round_trip(&parser("Dropout", 13, &none, vec![var(), cst(&ratio), cst(&off)], 2));
        let outs = run(&d, &[&x]);
        assert_eq!(outs[0], x);
        assert_eq!(outs[1].data, crate::tensor::TensorData::Bool(vec![true, true]));
        assert_eq!(d.attributes(11), vec![("ratio".to_string(), Attr::Float(0.2))]);
        let at11: Dropout = round_trip(&parser("Dropout", 11, &d.attributes(11), vec![var()], 2));
        assert_eq!(at11, d);
        let training = vec![var(), cst(&ratio), cst(&on)];
        assert!(matches!(Dropout::parse(&parser("Dropout", 13, &none, training, 1)), Err(OpError::Unsupported(_))));
        let runtime_mode = vec![var(), cst(&ratio), var()];
        assert!(matches!(
            Dropout::parse(&parser("Dropout", 13, &none, runtime_mode, 1)),
            Err(OpError::NonConstOperand { index: 2, .. })
        ));
        assert!(Dropout::parse(&parser("Dropout", 13, &none, vec![var(), var()], 1)).is_ok());
        let legacy = Dropout::parse(&parser("Dropout", 7, &none, vec![var()], 2)).unwrap();
        assert_eq!(legacy.infer(&[Some(&x.ttype())]).unwrap()[1].dtype, DType::F32);
        assert_eq!(Identity.infer(&[Some(&x.ttype())]).unwrap(), vec![x.ttype()]);
        assert_eq!(run(&Identity, &[&x]), vec![x]);
    }

    #[test]
    fn folds_a_shape_chain() {
        // ppocr-style: Shape → Gather → Cast → Unsqueeze → Concat → Reshape, all on constants.
        let x = TensorType::new(DType::F32, vec![1, 3, 32, 100]);
        let shape = Shape { start: 0, end: None }.shape_of(&x);
        let batch = &run(&Gather { axis: 0 }, &[&shape, &Tensor::i64(vec![], vec![0])])[0];
        let batch = &run(&Cast { to: DType::I64, saturate: None }, &[batch])[0];
        let batch = &run(&Unsqueeze { axes: vec![0] }, &[batch])[0];
        let width = &run(&Slice { starts: vec![-1], ends: vec![i64::MAX], axes: None, steps: None }, &[&shape])[0];
        let target = &run(&Concat { axis: 0 }, &[batch, &ints(&[-1]), width])[0];
        assert_eq!(target.to_i64_vec().unwrap(), vec![1, -1, 100]);
        let none = Attrs::new();
        let r = Reshape::parse(&parser("Reshape", 13, &none, vec![var(), cst(target)], 1)).unwrap();
        assert_eq!(r.infer(&[Some(&x)]).unwrap()[0].shape, vec![1, 96, 100]);
    }
}
