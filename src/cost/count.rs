//! Work per ONNX kernel: operation counts from the op's semantics and its input and output
//! types, and the bytes it moves. The counts are per element (a vector instruction on four
//! lanes is four operations); profiles divide by the lanes.

use super::{OpClass, OpCounts, Precision, Work};
use crate::ops::{BinaryKind, Op, PoolKind, ReduceKind, ResizeMode, UnaryKind, VariadicKind};
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

/// The requantization of `n` accumulators (scale, round, add the zero point, saturate).
fn requantize(t: &mut Tally, n: u64) {
    t.on(DType::F32, OpClass::Mul, n);
    t.on(DType::F32, OpClass::Add, 2 * n);
    t.on(DType::I32, OpClass::Compare, 2 * n);
}

/// Whether a convolution is depthwise (one input channel per group).
fn is_depthwise(w: Option<&TensorType>, group: usize) -> bool {
    group > 1 && w.is_some_and(|w| w.shape.get(1) == Some(&1))
}

/// Bytes of the im2col buffer a CPU convolution packs (written once, read once) for a
/// convolution that is neither pointwise nor depthwise; 0 otherwise.
fn packing_bytes(x: Option<&TensorType>, w: Option<&TensorType>, y: Option<&TensorType>, group: usize) -> u64 {
    let (Some(x), Some(w), Some(y)) = (x, w, y) else { return 0 };
    let kernel: u64 = w.shape.iter().skip(2).map(|&d| d as u64).product();
    if kernel <= 1 || is_depthwise(Some(w), group) || y.shape.len() < 2 {
        return 0;
    }
    let cin = x.shape.get(1).copied().unwrap_or(1) as u64;
    let spatial: u64 = y.shape.iter().skip(2).map(|&d| d as u64).product();
    let batch = y.shape[0] as u64;
    let elem = x.dtype.bits().unwrap_or(32).div_ceil(8) as u64;
    2 * batch * cin * kernel * spatial * elem
}

/// The work of one ONNX kernel from its input types (`None` for an omitted input) and output
/// types.
pub fn kernel_work(op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> Work {
    let x = inputs.first().copied().flatten();
    let y = outputs.first();
    let n = numel(y);
    let n_in = numel(x);
    let dt = y.or(x).map(|t| t.dtype).unwrap_or(DType::F32);
    let x_dt = x.map(|t| t.dtype).unwrap_or(dt);
    let input = |i: usize| inputs.get(i).copied().flatten();
    let io = bytes_of(inputs.iter().flatten().copied()) + bytes_of(outputs);
    let mut t = Tally::default();
    let mut bytes = io;
    let mut packing = 0;
    let macs = || op.macs(inputs, outputs);
    match op {
        Op::Conv(c) if is_depthwise(input(1), c.attrs.group) => {
            t.on_scalar(x_dt, OpClass::Fma, macs());
            if input(2).is_some() {
                t.on(dt, OpClass::Add, n);
            }
        }
        Op::Conv(c) => {
            t.on(x_dt, OpClass::Fma, macs());
            if input(2).is_some() {
                t.on(dt, OpClass::Add, n);
            }
            packing = packing_bytes(x, input(1), y, c.attrs.group);
        }
        Op::ConvTranspose(_) => {
            t.on(x_dt, OpClass::Fma, macs());
            if input(2).is_some() {
                t.on(dt, OpClass::Add, n);
            }
        }
        Op::Gemm(g) => {
            t.on(x_dt, OpClass::Fma, macs());
            if g.alpha != 1.0 {
                t.on(dt, OpClass::Mul, n);
            }
            if input(2).is_some() {
                t.on(dt, OpClass::Add, n);
                if g.beta != 1.0 {
                    t.on(dt, OpClass::Mul, n);
                }
            }
        }
        Op::MatMul(_) | Op::MatMulInteger(_) => t.on(x_dt, OpClass::Fma, macs()),
        Op::QLinearMatMul(_) => {
            t.on(x_dt, OpClass::Fma, macs());
            requantize(&mut t, n);
        }
        Op::QLinearConv(c) => {
            t.on(x_dt, OpClass::Fma, macs());
            if input(8).is_some() {
                t.on(DType::I32, OpClass::Add, n);
            }
            requantize(&mut t, n);
            packing = packing_bytes(x, input(3), y, c.attrs.group);
        }
        Op::ConvInteger(c) => {
            t.on(x_dt, OpClass::Fma, macs());
            packing = packing_bytes(x, input(1), y, c.attrs.group);
        }
        Op::Unary(u) => match u.kind {
            UnaryKind::Abs | UnaryKind::Neg => t.on(dt, OpClass::Add, n),
            UnaryKind::Relu => t.on(dt, OpClass::Compare, n),
            UnaryKind::Sqrt | UnaryKind::Reciprocal => t.on(dt, OpClass::Divide, n),
            UnaryKind::Exp | UnaryKind::Log | UnaryKind::Erf | UnaryKind::Sigmoid | UnaryKind::Tanh => {
                t.on(dt, OpClass::Transcendental, n)
            }
            // x/2 * (1 + erf(x/√2)) or its tanh form: one transcendental, three multiplies, an add
            UnaryKind::Gelu | UnaryKind::GeluTanh => {
                t.on(dt, OpClass::Transcendental, n);
                t.on(dt, OpClass::Mul, 3 * n);
                t.on(dt, OpClass::Add, n);
            }
            // x * clip(x/6 + 1/2, 0, 1)
            UnaryKind::HardSwish => {
                t.on(dt, OpClass::Fma, n);
                t.on(dt, OpClass::Mul, n);
                t.on(dt, OpClass::Compare, 2 * n);
            }
        },
        Op::Binary(b) => match b.kind {
            BinaryKind::Add | BinaryKind::Sub => t.on(dt, OpClass::Add, n),
            BinaryKind::Mul => t.on(dt, OpClass::Mul, n),
            BinaryKind::Div => t.on(dt, OpClass::Divide, n),
            BinaryKind::Pow => t.on(dt, OpClass::Transcendental, n),
            BinaryKind::PRelu => {
                t.on(dt, OpClass::Compare, n);
                t.on(dt, OpClass::Mul, n);
            }
        },
        Op::Variadic(v) => {
            let k = inputs.iter().flatten().count().saturating_sub(1) as u64;
            let class = match v.kind {
                VariadicKind::Sum => OpClass::Add,
                VariadicKind::Max | VariadicKind::Min => OpClass::Compare,
            };
            t.on(dt, class, k * n);
        }
        Op::Clip(_) => t.on(dt, OpClass::Compare, 2 * n),
        Op::LeakyRelu(_) => {
            t.on(dt, OpClass::Compare, n);
            t.on(dt, OpClass::Mul, n);
        }
        Op::HardSigmoid(_) => {
            t.on(dt, OpClass::Fma, n);
            t.on(dt, OpClass::Compare, 2 * n);
        }
        // max, x - max, exp, sum, one reciprocal per row, scale.
        Op::Softmax(s) => {
            let rank = y.map(|y| y.shape.len()).unwrap_or(1) as i64;
            let axis = (if s.axis < 0 { s.axis + rank } else { s.axis }).clamp(0, (rank - 1).max(0)) as usize;
            let row: u64 = match y {
                Some(y) if s.flatten_trailing => y.shape[axis.min(y.shape.len())..].iter().map(|&d| d as u64).product(),
                Some(y) => y.shape.get(axis).copied().unwrap_or(1) as u64,
                None => 1,
            };
            t.on_scalar(dt, OpClass::Compare, n);
            t.on_scalar(dt, OpClass::Add, n);
            t.on(dt, OpClass::Add, n);
            t.on(dt, OpClass::Transcendental, n);
            t.on(dt, OpClass::Mul, n);
            t.on(dt, OpClass::Divide, n / row.max(1));
        }
        Op::Cast(_) => t.on(dt, OpClass::Add, n),
        // Inference form: one scale and shift per element.
        Op::BatchNorm(_) => t.on(dt, OpClass::Fma, n),
        // mean, subtract, variance, one rsqrt per row, normalize, scale and shift.
        Op::LayerNorm(l) => {
            let rank = x.map(|x| x.shape.len()).unwrap_or(1) as i64;
            let axis = (if l.axis < 0 { l.axis + rank } else { l.axis }).clamp(0, rank) as usize;
            let row: u64 =
                x.map(|x| x.shape[axis.min(x.shape.len())..].iter().map(|&d| d as u64).product()).unwrap_or(1);
            t.on_scalar(dt, OpClass::Add, n);
            t.on_scalar(dt, OpClass::Fma, n);
            t.on(dt, OpClass::Add, n);
            t.on(dt, OpClass::Fma, n);
            t.on(dt, OpClass::Mul, n);
            t.on(dt, OpClass::Divide, n / row.max(1));
        }
        // Sum of squares over `size` channels, a power and a divide per element.
        Op::Lrn(l) => {
            t.on_scalar(dt, OpClass::Fma, n * l.size as u64);
            t.on(dt, OpClass::Transcendental, n);
            t.on(dt, OpClass::Divide, n);
        }
        Op::Reduce(r) => match r.kind {
            ReduceKind::Sum => t.on_scalar(dt, OpClass::Add, n_in),
            ReduceKind::Max => t.on_scalar(dt, OpClass::Compare, n_in),
            ReduceKind::Mean => {
                t.on_scalar(dt, OpClass::Add, n_in);
                t.on(dt, OpClass::Mul, n);
            }
        },
        Op::Pool(p) => {
            let k: u64 = p.window.kernel_shape.iter().flatten().map(|&d| d as u64).product();
            match p.kind {
                PoolKind::Max => t.on_scalar(dt, OpClass::Compare, n * k),
                PoolKind::Average => {
                    t.on_scalar(dt, OpClass::Add, n * k);
                    t.on(dt, OpClass::Mul, n);
                }
            }
        }
        Op::GlobalPool(g) => match g.kind {
            PoolKind::Max => t.on_scalar(dt, OpClass::Compare, n_in),
            PoolKind::Average => {
                t.on_scalar(dt, OpClass::Add, n_in);
                t.on(dt, OpClass::Mul, n);
            }
        },
        // Views and metadata: nothing computed, nothing copied.
        Op::Reshape(_)
        | Op::Flatten(_)
        | Op::Squeeze(_)
        | Op::Unsqueeze(_)
        | Op::Identity(_)
        | Op::Dropout(_)
        | Op::Shape(_) => bytes = 0,
        Op::ConstantOfShape(_) => bytes = bytes_of(outputs),
        // Copies: what is read is what is written.
        Op::Slice(_) | Op::Gather(_) => bytes = 2 * bytes_of(outputs),
        Op::Transpose(_) | Op::Concat(_) | Op::Split(_) | Op::Pad(_) => {}
        Op::Resize(r) => {
            let resized = match (x, y) {
                (Some(x), Some(y)) => x.shape.iter().zip(&y.shape).filter(|(a, b)| a != b).count() as u32,
                _ => 0,
            };
            match r.mode {
                ResizeMode::Nearest => {}
                ResizeMode::Linear => t.on(dt, OpClass::Fma, n * 2u64.pow(resized)),
                ResizeMode::Cubic => t.on(dt, OpClass::Fma, n * 4u64.pow(resized)),
            }
        }
        // x / scale (a multiply by the reciprocal), round, add the zero point, saturate.
        Op::QuantizeLinear(_) => {
            t.on(x_dt, OpClass::Mul, n);
            t.on(x_dt, OpClass::Add, 2 * n);
            t.on(DType::I32, OpClass::Compare, 2 * n);
        }
        // (x - zero_point) * scale.
        Op::DequantizeLinear(_) => {
            t.on(dt, OpClass::Add, n);
            t.on(dt, OpClass::Mul, n);
        }
        // Unknown semantics: only the bytes it reads and writes.
        Op::Opaque(_) => {}
    }
    t.work(bytes + packing, bytes)
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
