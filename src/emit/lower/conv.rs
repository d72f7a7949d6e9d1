//! Lowering of float convolutions: a 1×1 convolution is a matrix product, a depthwise one its
//! own kernel (which pads each plane itself), the rest a direct convolution over register tiles
//! of output channels and pixels; its pads are added by a copy into a scratch buffer.

use super::linalg::{mm_generics, PerTarget};
use super::{nums, Arg, BufId, Elem, EmitError, Home, Lowerer};
use crate::graph::NodeId;

impl Lowerer<'_> {
    /// The geometry of a Conv node (1-D convolutions as 2-D ones of height 1).
    pub(super) fn conv_geometry(&self, id: NodeId, c: &crate::ops::Conv) -> Result<ConvGeometry, EmitError> {
        let xshape = self.shape(self.input(id, 0)?)?;
        let wshape = self.shape(self.input(id, 1)?)?;
        if xshape.len() != 4 && xshape.len() != 3 {
            return Err(self.unsupported(format!("{}-D convolution", xshape.len().saturating_sub(2))));
        }
        if xshape[0] != 1 {
            return Err(self.unsupported("a batch larger than 1"));
        }
        let (h, wd) = if xshape.len() == 4 { (xshape[2], xshape[3]) } else { (1, xshape[2]) };
        let (kh, kw) = if wshape.len() == 4 { (wshape[2], wshape[3]) } else { (1, wshape[2]) };
        let win = self.check(c.attrs.window(&xshape[2..], &wshape[2..], false))?;
        let two = |v: &[usize], i: usize, one: usize| if v.len() == 2 { v[i] } else { one };
        let pads = if win.pads.len() == 4 {
            [win.pads[0], win.pads[1], win.pads[2], win.pads[3]]
        } else {
            [0, win.pads[0], 0, win.pads[1]]
        };
        let (cin, m, g) = (xshape[1], wshape[0], c.attrs.group.max(1));
        Ok(ConvGeometry {
            cin,
            m,
            g,
            h,
            wd,
            kh,
            kw,
            sh: two(&win.strides, 0, 1),
            sw: *win.strides.last().unwrap_or(&1),
            dh: two(&win.dilations, 0, 1),
            dw: *win.dilations.last().unwrap_or(&1),
            pads,
            oh: two(&win.output, 0, 1),
            ow: *win.output.last().unwrap_or(&1),
        })
    }

    pub(super) fn conv(&mut self, id: NodeId, c: &crate::ops::Conv) -> Result<(), EmitError> {
        let geo = self.conv_geometry(id, c)?;
        if self.winograd(id, &geo)? {
            return Ok(());
        }
        let node = self.graph.node(id);
        let x = self.input(id, 0)?;
        let wt = self
            .constant(node.inputs.get(1).copied().flatten())
            .ok_or_else(|| self.unsupported("weights computed at run time"))?;
        let w = self.const_f32(wt)?;
        let ConvGeometry { cin, m, g, h, wd, kh, kw, sh, sw, dh, dw, oh, ow, .. } = geo;
        let mut bias = match node.inputs.get(2).copied().flatten() {
            Some(b) => self.const_values(Some(b), "the bias")?,
            None => vec![0.0; m],
        };
        let out = node.outputs[0];
        let oshape = self.shape(out)?;
        let out = self.fuse_bias(out, &oshape, 1, &mut bias);
        let (clamp, out) = self.fuse_clamp(out);
        let [lo, hi] = clamp.args();
        let xb = self.read(x)?;
        let bb = self.add_weight(bias);
        if geo.pointwise() {
            let wb = self.add_weight(w);
            let yb = self.define(out)?;
            let generics = mm_generics(&[m, cin, h * wd, 1], h * wd);
            self.typed_step(
                "k_mm",
                &[],
                generics,
                vec![Arg::Read(wb), Arg::Read(xb), Arg::Read(bb), Arg::Write(yb), lo, hi],
            );
            return Ok(());
        }
        let (ph, pw) = geo.padded();
        if geo.depthwise() {
            // The kernel pads each channel's plane into one of two scratch planes itself,
            // phase-split when the stride along the rows is above 1.
            let [pt, pl, ..] = geo.pads;
            let wb = self.add_weight(w);
            let scratch = if ph != h || pw != wd || sw > 1 {
                Arg::Write(self.new_typed_buf(2 * ph * pw, Elem::F32, Home::Arena))
            } else {
                Arg::Code("&mut []".into())
            };
            let yb = self.define(out)?;
            self.step(
                "k_dw",
                vec![cin, h, wd, ph, pw, pt, pl, oh, ow, kh, kw, sh, sw, dh, dw],
                vec![Arg::Read(xb), Arg::Read(wb), Arg::Read(bb), scratch, Arg::Write(yb), lo, hi],
            );
            return Ok(());
        }
        let src = self.pad_input(&geo, xb, Elem::F32, "0.0")?;
        let yb = self.define(out)?;
        let (mb, pb) = conv_tile(m / g, ow);
        let wb = self.add_weight(conv_blocks(&w, &geo, mb));
        let mut generics = nums(&[g, cin / g, ph, pw, m / g, oh, ow, kh, kw, sh, sw, dh, dw, mb]);
        generics.extend([conv_sub_tile(mb), pb.to_string()]);
        self.typed_step(
            "k_conv",
            &[],
            generics,
            vec![Arg::Read(src), Arg::Read(wb), Arg::Read(bb), Arg::Write(yb), lo, hi],
        );
        Ok(())
    }

    /// The input of a convolution with its pads added (a new arena buffer filled with `fill`
    /// around), or `xb` itself when there are none.
    pub(super) fn pad_input(
        &mut self,
        geo: &ConvGeometry,
        xb: BufId,
        elem: Elem,
        fill: &str,
    ) -> Result<BufId, EmitError> {
        let [pt, pl, pb, pr] = geo.pads;
        if pt + pl + pb + pr == 0 {
            return Ok(xb);
        }
        let (ph, pw) = geo.padded();
        let scratch = self.new_typed_buf(geo.cin * ph * pw, elem, Home::Arena);
        self.typed_step(
            "k_pad2d",
            &["_"],
            nums(&[geo.cin, geo.h, geo.wd, ph, pw, pt, pl]),
            vec![Arg::Read(xb), Arg::Write(scratch), Arg::Code(fill.into())],
        );
        Ok(scratch)
    }
}

/// The output channels a direct convolution sums at a time within its `mb`-channel weight
/// blocks: all `mb` on wide targets, a divisor of `mb` of at most 16 with SSE and at most 8 on
/// scalar targets (two pixels' sums must stay in registers).
pub(super) fn conv_sub_tile(mb: usize) -> String {
    let divisor = |max: usize| (1..=max.min(mb)).rev().find(|&d| mb.is_multiple_of(d)).unwrap_or(1);
    PerTarget { wide: mb, sse: divisor(16), scalar: divisor(8) }.expr()
}

/// The register tile of a direct convolution with `mg` output channels per group and `ow`
/// output columns: two pixels (one when the row has one) by `mb` channels, the largest
/// divisor of `mg` that is a multiple of 8 and at most 48 (six 8-lane vectors per pixel), or
/// `mg` itself when it is at most 48. Two-pixel tiles measured best across the shared models'
/// layers with AVX2 (wider tiles were erratic: LLVM sometimes vectorizes across the pixels).
pub(super) fn conv_tile(mg: usize, ow: usize) -> (usize, usize) {
    let pb = ow.clamp(1, 2);
    if mg <= 48 {
        return (mg, pb);
    }
    let mb = (8..=48).rev().step_by(8).find(|&mb| mg.is_multiple_of(mb)).unwrap_or(mg);
    (mb, pb)
}

/// The geometry of a 2-D convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct ConvGeometry {
    pub(super) cin: usize,
    pub(super) m: usize,
    pub(super) g: usize,
    pub(super) h: usize,
    pub(super) wd: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) sh: usize,
    pub(super) sw: usize,
    pub(super) dh: usize,
    pub(super) dw: usize,
    /// Top, left, bottom, right.
    pub(super) pads: [usize; 4],
    pub(super) oh: usize,
    pub(super) ow: usize,
}

impl ConvGeometry {
    /// A 1×1 convolution without stride, pads or groups: a matrix product.
    pub(super) fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pads == [0; 4] && self.g == 1
    }

    /// One filter per channel.
    pub(super) fn depthwise(&self) -> bool {
        self.g == self.cin && self.m == self.cin
    }

    /// Height and width with the pads.
    pub(super) fn padded(&self) -> (usize, usize) {
        (self.h + self.pads[0] + self.pads[2], self.wd + self.pads[1] + self.pads[3])
    }
}

/// Convolution weights `[M][CG][KH][KW]` laid out `[G][MG/MB][CG][KH][KW][MB]` for the direct
/// convolution's `MB`-channel tiles.
pub(super) fn conv_blocks<T: Copy + Default>(w: &[T], geo: &ConvGeometry, mb: usize) -> Vec<T> {
    let (g, mg, cg, kh, kw) = (geo.g, geo.m / geo.g, geo.cin / geo.g, geo.kh, geo.kw);
    let mut out = vec![T::default(); w.len()];
    for gi in 0..g {
        for mi in 0..mg {
            let (blk, m) = (mi / mb, mi % mb);
            for ci in 0..cg {
                for a in 0..kh {
                    for b in 0..kw {
                        let to = ((((gi * (mg / mb) + blk) * cg + ci) * kh + a) * kw + b) * mb + m;
                        out[to] = w[(((gi * mg + mi) * cg + ci) * kh + a) * kw + b];
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::conv_tile;

    #[test]
    fn conv_tiles_fit_the_registers() {
        for (mg, ow) in [(3, 32), (8, 48), (16, 32), (40, 32), (64, 8), (80, 16), (160, 8), (256, 3), (7, 5)] {
            let (mb, pb) = conv_tile(mg, ow);
            assert_eq!(mg % mb, 0, "{mg}: {mb}");
            assert!(pb >= 1 && pb <= ow.max(1));
            assert!(mb <= 48 || mb == mg, "{mg}/{ow}: {mb}x{pb}");
        }
        assert_eq!(conv_tile(160, 8), (40, 2));
        assert_eq!(conv_tile(64, 8), (32, 2));
    }
}
