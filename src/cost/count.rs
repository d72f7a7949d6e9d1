//! Work per ONNX kernel: the [`Counter`] each op counts its operations and bytes into, from its
//! input and output types (the counting itself lives with the op, `crate::ops::Operator::work`).
//! The counts are per element (a vector instruction on four lanes is four operations); profiles
//! divide by the lanes.

use super::{OpClass, OpCounts, Precision, Work};
use crate::ops::Op;
use crate::tensor::{DType, TensorType};

/// The profile precision an element type is computed at, and how many operations of that
/// precision one element operation costs (64-bit types: two).
pub fn precision_of(dtype: DType) -> (Precision, u64) {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => (Precision::F32, 1),
        DType::F64 => (Precision::F32, 2),
        DType::I32 | DType::U32 => (Precision::I32, 1),
        DType::I64 | DType::U64 => (Precision::I32, 2),
        DType::I16 | DType::U16 => (Precision::I16, 1),
        DType::I8 | DType::U8 | DType::Bool | DType::Str | DType::Other(_) => (Precision::I8, 1),
    }
}

/// Counts operations by element type: those that vectorize, and those that run one lane at a
/// time.
#[derive(Default)]
pub(crate) struct Tally {
    pub vector: OpCounts,
    pub scalar: OpCounts,
}

impl Tally {
    /// Adds `n` vectorizable operations of class `c` on elements of type `dtype`.
    pub fn on(&mut self, dtype: DType, c: OpClass, n: u64) {
        let (p, factor) = precision_of(dtype);
        self.vector.add(p, c, n.saturating_mul(factor));
    }

    /// Adds `n` operations that run one lane at a time: a reduction along an axis (its IEEE
    /// order keeps a compiled loop sequential) or a depthwise or pooling window.
    pub fn on_scalar(&mut self, dtype: DType, c: OpClass, n: u64) {
        let (p, factor) = precision_of(dtype);
        self.scalar.add(p, c, n.saturating_mul(factor));
    }

    /// The work of these counts.
    pub fn work(self, bytes: u64, working_set: u64) -> Work {
        Work { ops: self.vector, scalar: self.scalar, bytes, working_set, kernel: true }
    }
}

/// Bytes of the given tensors.
pub(crate) fn bytes_of<'a>(types: impl IntoIterator<Item = &'a TensorType>) -> u64 {
    types.into_iter().map(|t| t.bytes() as u64).sum()
}

fn numel(t: Option<&TensorType>) -> u64 {
    t.map(|t| t.numel() as u64).unwrap_or(0)
}

/// The work of a two-operand contraction in einsum notation (`ab,bc->ac`): one multiply-
/// accumulate per point of the product of all letter sizes. When the right operand is a
/// digit plane (every value in {-1, 0, 1}; `digits` = (non-zeros, elements)), each product is
/// an add or a subtract of the other operand and zero digits are skipped, so the count becomes
/// `MACs × non-zeros / elements` adds and no multiply.
pub fn dot_work(a: &TensorType, b: &TensorType, out: &TensorType, spec: &str, digits: Option<(u64, u64)>) -> Work {
    let ins = spec.split("->").next().unwrap_or("");
    let (sa, sb) = ins.split_once(',').unwrap_or((ins, ""));
    let mut sizes = std::collections::BTreeMap::new();
    for (letters, t) in [(sa, a), (sb, b)] {
        for (c, &d) in letters.chars().zip(&t.shape) {
            sizes.insert(c, d as u64);
        }
    }
    let macs = sizes.values().fold(1u64, |acc, &d| acc.saturating_mul(d));
    let mut t = Tally::default();
    match digits {
        Some((nnz, elements)) => {
            let adds = if elements == 0 { 0 } else { (macs as u128 * nnz as u128 / elements as u128) as u64 };
            t.on(a.dtype, OpClass::Add, adds);
        }
        None => t.on(a.dtype, OpClass::Fma, macs),
    }
    let bytes = bytes_of([a, b, out]);
    t.work(bytes, bytes)
}

/// What an op's [`crate::ops::Operator::work`] counts into: the op's input types (`None` for an
/// omitted input) and output types, the operations counted so far, and the bytes it moves (by
/// default every input and output once).
pub struct Counter<'a> {
    /// Input types, `None` for an omitted optional input.
    pub inputs: &'a [Option<&'a TensorType>],
    /// Output types.
    pub outputs: &'a [TensorType],
    tally: Tally,
    /// Bytes the kernel moves; every input and output once unless the op says otherwise (a
    /// view moves nothing, a copy what it writes twice).
    pub bytes: u64,
    /// Bytes of scratch the kernel packs (written once, read once) beyond its inputs and
    /// outputs; they add to the bytes moved but not to the working set.
    packing: u64,
}

impl<'a> Counter<'a> {
    /// An empty count for a kernel with these input and output types.
    pub fn new(inputs: &'a [Option<&'a TensorType>], outputs: &'a [TensorType]) -> Counter<'a> {
        let bytes = bytes_of(inputs.iter().flatten().copied()) + bytes_of(outputs);
        Counter { inputs, outputs, tally: Tally::default(), bytes, packing: 0 }
    }

    /// Input `i`'s type, if present.
    pub fn input(&self, i: usize) -> Option<&'a TensorType> {
        self.inputs.get(i).copied().flatten()
    }

    /// The first output's type.
    pub fn output(&self) -> Option<&'a TensorType> {
        self.outputs.first()
    }

    /// Elements of the first output.
    pub fn n(&self) -> u64 {
        numel(self.output())
    }

    /// Elements of the first input.
    pub fn n_in(&self) -> u64 {
        numel(self.input(0))
    }

    /// The element type results are computed in: the first output's (or input's).
    pub fn dtype(&self) -> DType {
        self.output().or(self.input(0)).map(|t| t.dtype).unwrap_or(DType::F32)
    }

    /// The element type of the first input (the operand of a contraction).
    pub fn input_dtype(&self) -> DType {
        self.input(0).map(|t| t.dtype).unwrap_or_else(|| self.dtype())
    }

    /// Adds `n` vectorizable operations of class `c` on elements of type `dtype`.
    pub fn on(&mut self, dtype: DType, c: OpClass, n: u64) {
        self.tally.on(dtype, c, n);
    }

    /// Adds `n` operations that run one lane at a time: a reduction along an axis (its IEEE
    /// order keeps a compiled loop sequential) or a depthwise or pooling window.
    pub fn on_scalar(&mut self, dtype: DType, c: OpClass, n: u64) {
        self.tally.on_scalar(dtype, c, n);
    }

    /// The requantization of `n` accumulators (scale, round, add the zero point, saturate).
    pub fn requantize(&mut self, n: u64) {
        self.on(DType::F32, OpClass::Mul, n);
        self.on(DType::F32, OpClass::Add, 2 * n);
        self.on(DType::I32, OpClass::Compare, 2 * n);
    }

    /// Whether a convolution whose weight is input `weight` is depthwise (one input channel
    /// per group).
    pub fn is_depthwise(&self, weight: usize, group: usize) -> bool {
        group > 1 && self.input(weight).is_some_and(|w| w.shape.get(1) == Some(&1))
    }

    /// Counts the im2col buffer a CPU convolution packs (written once, read once) for a
    /// convolution, with its weight at input `weight`, that is neither pointwise nor depthwise.
    pub fn im2col(&mut self, weight: usize, group: usize) {
        let (Some(x), Some(w), Some(y)) = (self.input(0), self.input(weight), self.output()) else { return };
        let kernel: u64 = w.shape.iter().skip(2).map(|&d| d as u64).product();
        if kernel <= 1 || self.is_depthwise(weight, group) || y.shape.len() < 2 {
            return;
        }
        let cin = x.shape.get(1).copied().unwrap_or(1) as u64;
        let spatial: u64 = y.shape.iter().skip(2).map(|&d| d as u64).product();
        let batch = y.shape[0] as u64;
        let elem = x.dtype.bits().unwrap_or(32).div_ceil(8) as u64;
        self.packing = 2 * batch * cin * kernel * spatial * elem;
    }

    /// The work counted: the bytes moved (packing included) and the working set (packing
    /// excluded).
    pub fn finish(self) -> Work {
        self.tally.work(self.bytes + self.packing, self.bytes)
    }
}

/// The work of one ONNX kernel from its input types (`None` for an omitted input) and output
/// types: what the op's own [`crate::ops::Operator::work`] counts.
pub fn kernel_work(op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> Work {
    let mut c = Counter::new(inputs, outputs);
    op.work(&mut c);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Conv, ConvAttrs};

    fn conv(group: usize, x: &[usize], w: &[usize]) -> Work {
        let op = Op::Conv(Conv { attrs: ConvAttrs { group, ..ConvAttrs::default() } });
        let (x, w) = (TensorType::new(DType::F32, x.to_vec()), TensorType::new(DType::F32, w.to_vec()));
        let y = op.infer(&[Some(&x), Some(&w)]).unwrap();
        kernel_work(&op, &[Some(&x), Some(&w)], &y)
    }

    #[test]
    fn depthwise_and_pointwise_are_group_and_kernel_cases() {
        // Depthwise 3x3 over 8 channels of 10x10 (valid: 8x8 out): 8 x 64 x 9 MACs, one lane.
        let dw = conv(8, &[1, 8, 10, 10], &[8, 1, 3, 3]);
        assert_eq!(dw.scalar.get(Precision::F32, OpClass::Fma), 8 * 64 * 9);
        assert_eq!(dw.ops.get(Precision::F32, OpClass::Fma), 0);
        assert_eq!(dw.bytes, dw.working_set, "no im2col buffer");
        // Pointwise 8 -> 16: 16 x 100 x 8 MACs, vectorized, no im2col buffer either.
        let pw = conv(1, &[1, 8, 10, 10], &[16, 8, 1, 1]);
        assert_eq!(pw.ops.get(Precision::F32, OpClass::Fma), 16 * 100 * 8);
        assert_eq!(pw.bytes, pw.working_set);
        // A dense 3x3 packs its patches.
        let dense = conv(1, &[1, 8, 10, 10], &[16, 8, 3, 3]);
        assert_eq!(dense.bytes - dense.working_set, 2 * 8 * 9 * 64 * 4);
    }

    #[test]
    fn int8_contractions_count_at_int8_and_64_bit_types_twice() {
        let a = TensorType::new(DType::I8, vec![2, 3]);
        let b = TensorType::new(DType::I8, vec![3, 4]);
        let y = TensorType::new(DType::I8, vec![2, 4]);
        assert_eq!(dot_work(&a, &b, &y, "ab,bc->ac", None).ops.get(Precision::I8, OpClass::Fma), 24);
        assert_eq!(precision_of(DType::F64), (Precision::F32, 2));
        assert_eq!(precision_of(DType::U8), (Precision::I8, 1));
    }
}
