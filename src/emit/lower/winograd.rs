//! Lowering of the Winograd F(2×2, 3×3) form ([`crate::winograd::Form`], written by
//! `rules/winograd.rules`): its input transform's Conv, the layout nodes and the MatMul of the 16
//! products, and the ConvTranspose of the output transform run as one `k_wino` call
//! (transforms by additions only, products on `k_mm`); the layout nodes are never run.

use super::conv::ConvGeometry;
use super::linalg::mm_generics;
use super::{nums, Arg, Elem, EmitError, Home, Lowerer};
use crate::graph::NodeId;
use crate::winograd::TILE;

impl Lowerer<'_> {
    /// Lowers Conv `id` (of geometry `geo`) with the rest of its Winograd form as one `k_wino`
    /// call; `false` (and nothing lowered) when it does not start one.
    pub(super) fn winograd(&mut self, id: NodeId, geo: &ConvGeometry) -> Result<bool, EmitError> {
        let Some(form) = self.winograd.get(&id).cloned() else { return Ok(false) };
        let (c, k, [th, tw]) = (form.c, form.k, form.tiles);
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
        let v = self.new_buf(TILE * c * th * tw, Home::Arena);
        let m = self.new_buf(TILE * k * th * tw, Home::Arena);
        let yb = self.define(out)?;
        let (_, pw) = geo.padded();
        let mut generics = nums(&[c, k, th, tw, th * tw, pw, oh, ow]);
        generics.extend(mm_generics(&[], th * tw));
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
