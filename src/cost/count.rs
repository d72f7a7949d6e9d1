//! Work per ONNX kernel: a [`Counter`] handed to the op, which counts its own operations and
//! bytes into it (`crate::ops::Operator::work`; the vocabulary is `crate::work`'s).

use crate::ops::Op;
use crate::tensor::TensorType;
use crate::work::{Counter, Work};

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
    use crate::tensor::DType;
    use crate::work::{OpClass, Precision};

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
}
