//! Lowering of the Winograd F(2×2, 3×3) and F(4×4, 3×3) forms ([`crate::winograd::Form`],
//! written by `rules/winograd.rules`): the input transform's Conv, the layout nodes and the
//! MatMul of the products, and the ConvTranspose of the output transform run as one `k_wino`
//! call (its first const argument the size m; transforms by additions and small multiplies,
//! products on `k_mm`); the layout nodes are never run.

use super::conv::ConvGeometry;
use super::linalg::mm_generics;
use super::{nums, Arg, Elem, EmitError, Home, Lowerer};
use crate::graph::NodeId;

impl Lowerer<'_> {
    /// Lowers Conv `id` (of geometry `geo`) with the rest of its Winograd form as one `k_wino`
    /// call; `false` (and nothing lowered) when it does not start one.
    pub(super) fn winograd(&mut self, id: NodeId, geo: &ConvGeometry) -> Result<bool, EmitError> {
        let Some(form) = self.winograd.get(&id).cloned() else { return Ok(false) };
        let (c, k, [th, tw], p) = (form.c, form.k, form.tiles, form.size.products());
        let ct = self.graph.node(form.output);
        let out = ct.outputs[0];
        let mut bias = match ct.inputs.get(2).copied().flatten() {
            Some(b) => self.const_values(Some(b), "the bias")?,
            None => vec![0.0; k],
        };
        let u = self.const_values(Some(form.filter), "the transformed filter")?;
        let oshape = self.shape(out)?;
        let (oh, ow) = (oshape[2], oshape[3]);
        let out = self.fuse_bias(out, &oshape, 1, &mut bias);
        let (clamp, out) = self.fuse_clamp(out);
        let [lo, hi] = clamp.args();
        let xb = self.read(self.input(id, 0)?)?;
        let src = self.pad_input(geo, xb, Elem::F32, "0.0")?;
        let (ub, bb) = (self.add_weight(u), self.add_weight(bias));
        let tb = block_rows(th, tw);
        // `k_wino`'s `v`: its P blocks of c × tb·tw values `m_wino_vs` apart (16 values more).
        let v = self.new_buf(p * (c * tb * tw + 16), Home::Arena);
        let m = self.new_buf(p * k * tb * tw, Home::Arena);
        let yb = self.define(out)?;
        let (_, pw) = geo.padded();
        let mut generics = nums(&[form.size.m(), c, k, th, tw, tb, tb * tw, pw, oh, ow]);
        generics.extend(mm_generics(&[], tb * tw));
        self.typed_step(
            "k_wino",
            &[],
            generics,
            vec![Arg::Read(src), Arg::Read(ub), Arg::Read(bb), Arg::Write(v), Arg::Write(m), Arg::Write(yb), lo, hi],
        );
        let rest: Vec<NodeId> = form.nodes().skip(1).collect();
        self.program.fused += rest.len();
        self.skipped.extend(rest);
        Ok(true)
    }
}

/// Tile rows per block of `k_wino` (of `th` rows of `tw` tiles): the fewest that give the
/// products at least [`BLOCK_COLUMNS`] columns (all rows when fewer). Blocks keep the
/// transformed tiles and the products in the cache, and the arena small: whole planes of them
/// outgrew the L2 cache (the larger ResNet's 32×32 layers: 16 × 40 × 256 floats each).
pub(super) fn block_rows(th: usize, tw: usize) -> usize {
    BLOCK_COLUMNS.div_ceil(tw).min(th)
}

/// The products' column count that [`block_rows`] aims for: one 16-column panel of the `k_mm`
/// microkernel. Measured with `scripts/step-times.sh` (ResNet-8 and the larger ResNet with
/// `--rules rules/winograd.rules`, 2026-12-06, Zen 3): 16 columns ran every layer as fast as 32
/// or faster (ResNet-8's 16-channel 32×32 layers 51 µs against 53, native), and 64 slower (77).
const BLOCK_COLUMNS: usize = 16;

#[cfg(test)]
mod tests {
    #[test]
    fn blocks_have_at_least_16_columns_or_all_rows() {
        assert_eq!(super::block_rows(16, 16), 1);
        assert_eq!(super::block_rows(8, 8), 2);
        assert_eq!(super::block_rows(4, 4), 4);
        assert_eq!(super::block_rows(4, 2), 4);
        assert_eq!(super::block_rows(3, 5), 3);
        assert_eq!(super::block_rows(9, 5), 4);
    }
}
