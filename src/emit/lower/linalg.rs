//! Lowering of matrix products: Gemm (constant B, folded with alpha and beta) and MatMul (one
//! product, or a batched one), with the column blocks of the register tiles chosen per target.

use super::layout::broadcast_strides;
use super::{nums, Arg, EmitError, Lowerer};
use crate::graph::NodeId;

impl Lowerer<'_> {
    pub(super) fn gemm(&mut self, id: NodeId, gm: &crate::ops::Gemm) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let (a, b) = (self.input(id, 0)?, self.input(id, 1)?);
        let (ashape, bshape) = (self.shape(a)?, self.shape(b)?);
        let (m, k) = if gm.trans_a { (ashape[1], ashape[0]) } else { (ashape[0], ashape[1]) };
        let n = if gm.trans_b { bshape[0] } else { bshape[1] };
        if gm.trans_a && m != 1 && k != 1 {
            return Err(self.unsupported("transA on a runtime matrix"));
        }
        if self.graph.constant(a).is_some() {
            return Err(self.unsupported("a constant A with a runtime B"));
        }
        let bt = self.constant(Some(b)).ok_or_else(|| self.unsupported("a runtime B"))?;
        let bv = self.const_f32(bt)?;
        let mut w = vec![0f32; k * n];
        for kk in 0..k {
            for nn in 0..n {
                let v = if gm.trans_b { bv[nn * k + kk] } else { bv[kk * n + nn] };
                w[kk * n + nn] = v * gm.alpha;
            }
        }
        let (bias_kind, mut bias) = match node.inputs.get(2).copied().flatten() {
            None => (2, vec![0.0; n]),
            Some(c) => {
                let ct = self.constant(Some(c)).ok_or_else(|| self.unsupported("a runtime C"))?;
                let cv = self.const_f32(ct)?;
                let cshape = ct.ttype().shape;
                let full = expand(&cv, &cshape, &[m, n])
                    .ok_or_else(|| self.unsupported("C does not broadcast to the output"))?;
                let full: Vec<f32> = full.iter().map(|v| v * gm.beta).collect();
                if m == 1 || full.chunks(n).all(|row| row == &full[..n]) {
                    (2, full[..n].to_vec())
                } else {
                    (3, full)
                }
            }
        };
        let out = node.outputs[0];
        let out = if bias_kind == 2 { self.fuse_bias(out, &[m, n], 1, &mut bias) } else { out };
        let (clamp, out) = self.fuse_clamp(out);
        let [lo, hi] = clamp.args();
        let ab = self.read(a)?;
        let wb = self.add_weight(w);
        let bb = self.add_weight(bias);
        let yb = self.define(out)?;
        let generics = mm_generics(&[m, k, n, bias_kind], n);
        self.typed_step(
            "k_mm",
            &[],
            generics,
            vec![Arg::Read(ab), Arg::Read(wb), Arg::Read(bb), Arg::Write(yb), lo, hi],
        );
        Ok(())
    }

    pub(super) fn matmul(&mut self, id: NodeId) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let (a, b) = (self.input(id, 0)?, self.input(id, 1)?);
        let (mut ashape, mut bshape) = (self.shape(a)?, self.shape(b)?);
        if ashape.len() == 1 {
            ashape.insert(0, 1);
        }
        if bshape.len() == 1 {
            bshape.push(1);
        }
        let (m, k) = (ashape[ashape.len() - 2], ashape[ashape.len() - 1]);
        let n = bshape[bshape.len() - 1];
        let abatch: usize = ashape[..ashape.len() - 2].iter().product();
        let bbatch: usize = bshape[..bshape.len() - 2].iter().product();
        let out = node.outputs[0];
        let oshape = self.shape(out)?;
        let batch: usize = oshape.iter().product::<usize>() / (m * n).max(1);
        if bbatch == 1 {
            // One right-hand matrix: all of A's rows in one product.
            let mut bias = vec![0f32; n];
            let out = match oshape.len() {
                0 => out, // a dot product of two vectors: no axis to fold a bias along
                rank => self.fuse_bias(out, &oshape, rank - 1, &mut bias),
            };
            let (clamp, out) = self.fuse_clamp(out);
            let [lo, hi] = clamp.args();
            let ab = self.read(a)?;
            let wb = self.read(b)?;
            let bb = self.add_weight(bias);
            let yb = self.define(out)?;
            let generics = mm_generics(&[abatch * m, k, n, 2], n);
            self.typed_step(
                "k_mm",
                &[],
                generics,
                vec![Arg::Read(ab), Arg::Read(wb), Arg::Read(bb), Arg::Write(yb), lo, hi],
            );
            return Ok(());
        }
        let sa = if abatch == 1 {
            0
        } else if abatch == batch {
            m * k
        } else {
            return Err(self.unsupported("partly broadcast batch dimensions"));
        };
        let sb =
            if bbatch == batch { k * n } else { return Err(self.unsupported("partly broadcast batch dimensions")) };
        let (clamp, out) = self.fuse_clamp(out);
        let [lo, hi] = clamp.args();
        let ab = self.read(a)?;
        let bb = self.read(b)?;
        let yb = self.define(out)?;
        self.program.kernels.insert("k_mm");
        let generics = mm_generics(&[batch, m, k, n, sa, sb], n);
        self.typed_step("k_bmm", &[], generics, vec![Arg::Read(ab), Arg::Read(bb), Arg::Write(yb), lo, hi]);
        Ok(())
    }
}

/// `data` of shape `from` broadcast to `to`; `None` when it does not broadcast.
fn expand(data: &[f32], from: &[usize], to: &[usize]) -> Option<Vec<f32>> {
    if from.len() > to.len() {
        return None;
    }
    let lead = to.len() - from.len();
    if from.iter().enumerate().any(|(i, &d)| d != 1 && d != to[i + lead]) {
        return None;
    }
    let st = broadcast_strides(from, to);
    let n: usize = to.iter().product();
    let mut idx = vec![0usize; to.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(data[idx.iter().zip(&st).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..to.len()).rev() {
            idx[d] += 1;
            if idx[d] < to[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(out)
}

/// A const argument the compiler picks for the target it compiles for, so that one generated
/// module keeps its register tiles in registers everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PerTarget {
    /// AVX (16 registers of 8 f32) or AArch64 NEON (32 of 4).
    pub(super) wide: usize,
    /// x86 without AVX (16 registers of 4 f32).
    pub(super) sse: usize,
    /// Targets without float vectors (32-bit Arm such as Cortex-M4F/M7, RISC-V: 32 scalar
    /// float registers).
    pub(super) scalar: usize,
}

impl PerTarget {
    /// The Rust const expression: a number when all agree, else a `cfg!` choice (with no two
    /// branches alike).
    pub(super) fn expr(self) -> String {
        const WIDE: &str = "any(target_feature = \"avx\", target_arch = \"aarch64\")";
        const X86: &str = "any(target_arch = \"x86\", target_arch = \"x86_64\")";
        let PerTarget { wide, sse, scalar } = self;
        if wide == sse && sse == scalar {
            wide.to_string()
        } else if wide == sse {
            format!("{{ if cfg!(any({WIDE}, {X86})) {{ {wide} }} else {{ {scalar} }} }}")
        } else if sse == scalar {
            format!("{{ if cfg!({WIDE}) {{ {wide} }} else {{ {sse} }} }}")
        } else if wide == scalar {
            format!("{{ if cfg!(all({X86}, not(target_feature = \"avx\"))) {{ {sse} }} else {{ {wide} }} }}")
        } else {
            format!("{{ if cfg!({WIDE}) {{ {wide} }} else if cfg!({X86}) {{ {sse} }} else {{ {scalar} }} }}")
        }
    }
}

/// The const arguments of a matrix product kernel: `dims`, then the column blocks for `n`
/// columns ([`mm_blocks`]).
pub(super) fn mm_generics(dims: &[usize], n: usize) -> Vec<String> {
    let mut generics = nums(dims);
    generics.extend(mm_blocks(n));
    generics
}

/// Column blocks of a matrix product with `n` columns, as the `NB4` and `NB1` arguments: for
/// blocks of four rows 16 columns on wide targets (eight 8-lane or sixteen 4-lane registers of
/// sums), 8 with SSE, 4 on scalar targets; for single rows 64, 32 and 8. Each dividing `n`
/// where a block of at least half that size does (the last block, which overlaps the one before
/// when it does not, then recomputes no columns), and never above `n`.
fn mm_blocks(n: usize) -> [String; 2] {
    let pick = |max: usize| {
        if n <= max {
            n
        } else {
            (max / 2..=max).rev().find(|&b| n.is_multiple_of(b)).unwrap_or(max)
        }
    };
    [
        PerTarget { wide: pick(16), sse: pick(8), scalar: pick(4) }.expr(),
        PerTarget { wide: pick(64), sse: pick(32), scalar: pick(8) }.expr(),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::conv::conv_sub_tile;
    use super::{mm_blocks, PerTarget};

    #[test]
    fn tiles_follow_the_target_registers() {
        assert_eq!(PerTarget { wide: 8, sse: 8, scalar: 8 }.expr(), "8");
        let expr = PerTarget { wide: 48, sse: 16, scalar: 8 }.expr();
        assert!(expr.contains("target_feature = \"avx\"") && expr.contains("{ 48 }") && expr.ends_with("{ 8 } }"));
        assert_eq!(conv_sub_tile(48), expr);
        // 40 channels: divisors 10 (SSE) and 8 (scalar).
        assert!(conv_sub_tile(40).contains("{ 10 }"));
        // Blocks never exceed the columns and divide them where they can.
        assert_eq!(mm_blocks(5), [PerTarget { wide: 5, sse: 5, scalar: 4 }.expr(), "5".to_string()]);
        assert!(mm_blocks(2304)[0].contains("{ 16 }") && mm_blocks(2304)[0].contains("{ 8 }"));
    }
}
