//! What a node does before a target prices it: operation counts per element precision and
//! operation class ([`OpCounts`]), the bytes it moves ([`Work`]), and the [`Counter`] each op
//! counts its own work into (`crate::ops::Operator::work`). The counts are per element (a vector
//! instruction on four lanes is four operations); `crate::cost` divides them by a profile's
//! lanes and rates. This module sits below both `ops` and `cost`, which is why it names neither.

use crate::tensor::{DType, TensorType};
use serde::Serialize;

/// The element precisions a profile gives figures for; other element types map onto one of
/// them ([`precision_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit float (also f16/bf16, computed in f32, and f64 at twice the count).
    F32,
    /// 32-bit integer (also u32, and 64-bit integers at twice the count).
    I32,
    /// 16-bit integer (also u16).
    I16,
    /// 8-bit integer (also u8 and bool).
    I8,
}

impl Precision {
    /// Every precision, in table order.
    pub const ALL: [Precision; 4] = [Precision::F32, Precision::I32, Precision::I16, Precision::I8];

    /// The TOML key (`f32`, `i32`, `i16`, `i8`).
    pub fn key(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::I32 => "i32",
            Precision::I16 => "i16",
            Precision::I8 => "i8",
        }
    }
}

/// The classes of primitive operations a profile gives throughput and energy for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpClass {
    /// Multiply.
    Mul,
    /// Add, subtract, negate and other one-cycle arithmetic (conversions, rounding).
    Add,
    /// Fused multiply-add (one multiply-accumulate; for integers the widening MAC).
    Fma,
    /// Shift by a constant (for floats, a multiply by a power of two).
    Shift,
    /// Compare, min, max, select (ReLU, clipping, max-pooling).
    Compare,
    /// exp, log, tanh, sigmoid, erf, pow (one evaluation each).
    Transcendental,
    /// Divide, reciprocal, square root.
    Divide,
}

impl OpClass {
    /// Every class, in table order.
    pub const ALL: [OpClass; 7] = [
        OpClass::Mul,
        OpClass::Add,
        OpClass::Fma,
        OpClass::Shift,
        OpClass::Compare,
        OpClass::Transcendental,
        OpClass::Divide,
    ];

    /// The TOML key (`mul`, `add`, ...).
    pub fn key(self) -> &'static str {
        match self {
            OpClass::Mul => "mul",
            OpClass::Add => "add",
            OpClass::Fma => "fma",
            OpClass::Shift => "shift",
            OpClass::Compare => "compare",
            OpClass::Transcendental => "transcendental",
            OpClass::Divide => "divide",
        }
    }
}

/// Element operations per precision and class (one count per element, not per vector).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts([[u64; 7]; 4]);

impl OpCounts {
    /// The count of one class at one precision.
    pub fn get(&self, p: Precision, c: OpClass) -> u64 {
        self.0[p as usize][c as usize]
    }

    /// Adds `n` operations (saturating).
    pub fn add(&mut self, p: Precision, c: OpClass, n: u64) {
        let slot = &mut self.0[p as usize][c as usize];
        *slot = slot.saturating_add(n);
    }

    /// Removes and returns the count of class `c` at precision `p`.
    pub fn take(&mut self, p: Precision, c: OpClass) -> u64 {
        std::mem::take(&mut self.0[p as usize][c as usize])
    }

    /// The count of one class over all precisions.
    pub fn total(&self, c: OpClass) -> u64 {
        Precision::ALL.iter().fold(0u64, |acc, &p| acc.saturating_add(self.get(p, c)))
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &OpCounts) {
        for p in Precision::ALL {
            for c in OpClass::ALL {
                self.add(p, c, other.get(p, c));
            }
        }
    }

    /// Whether every count is zero.
    pub fn is_empty(&self) -> bool {
        self.0.iter().flatten().all(|&n| n == 0)
    }
}

impl Serialize for OpCounts {
    /// `{"f32": {"fma": 1024, ...}, ...}` with only the non-zero counts.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use std::collections::BTreeMap;
        let mut map: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        for p in Precision::ALL {
            for c in OpClass::ALL {
                if self.get(p, c) > 0 {
                    map.entry(p.key()).or_default().insert(c.key(), self.get(p, c));
                }
            }
        }
        map.serialize(s)
    }
}

/// What one node does, before a profile prices it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Work {
    /// Operation counts that vectorize.
    pub ops: OpCounts,
    /// Operation counts that run one lane at a time (sequential reductions, windows).
    pub scalar: OpCounts,
    /// Bytes read and written (inputs, outputs, and packing buffers).
    pub bytes: u64,
    /// Bytes that must stay resident for the traffic to hit a cache level (inputs and outputs;
    /// a packing buffer is streamed in cache-sized panels and does not count). It picks the
    /// memory level, whose bandwidth and energy per byte price all of `bytes`.
    pub working_set: u64,
    /// Whether the node runs as a kernel of its own (and pays the per-kernel overhead).
    pub kernel: bool,
}

impl Work {
    /// No work at all (leaves, weight-only classes).
    pub fn none() -> Work {
        Work::default()
    }

    /// Adds what a kernel's store does to each of its `n` outputs when it computes the clamp
    /// (one compare) and the requantization ([`Counter::requantize`]) of the nodes after it.
    pub fn fused_store(&mut self, n: u64, clamped: bool, requantized: bool) {
        if clamped {
            self.ops.add(Precision::F32, OpClass::Compare, n);
        }
        if requantized {
            requantize(&mut self.ops, n);
        }
    }
}

/// The work of an integer add ([`crate::graph::qdq`]'s, the back end's `k_qadd`): per element
/// each 8-bit input less its zero point (an i32 add, widening), converted to f32 and scaled (an
/// f32 add and multiply), the two summed, then the store's clamp and requantization
/// ([`Work::fused_store`]); the inputs read and the output written as 8-bit integers, one kernel.
pub fn integer_add_work(inputs: [&TensorType; 2], written: &TensorType, clamped: bool) -> Work {
    let n = written.numel() as u64;
    let mut t = Tally::default();
    t.on(DType::I32, OpClass::Add, 2 * n);
    t.on(DType::F32, OpClass::Add, 3 * n);
    t.on(DType::F32, OpClass::Mul, 2 * n);
    let bytes = bytes_of(inputs.into_iter().chain([written]));
    let mut work = t.work(bytes, bytes);
    work.fused_store(n, clamped, true);
    work
}

/// The requantization of `n` accumulators (scale, round, add the zero point, saturate).
fn requantize(ops: &mut OpCounts, n: u64) {
    ops.add(Precision::F32, OpClass::Mul, n);
    ops.add(Precision::F32, OpClass::Add, 2 * n);
    ops.add(Precision::I32, OpClass::Compare, 2 * n);
}

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
        requantize(&mut self.tally.vector, n);
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

#[cfg(test)]
mod tests {
    use super::*;

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
