//! Quantized convolutions on wide targets (`k_qconv4`, `k_qconv1`): the packed layout of
//! four input channels to a pixel against sixteen output channels, and convolutions of a single
//! input channel with pixels in the vector lanes. The integer kernels' planning and their other
//! forms are in `quant.rs`.

use super::conv::ConvGeometry;
use super::quant::{Fusion, Prepared, Terms};
use super::{nums, Arg, BufId, Elem, EmitError, Home, Lowerer, Weight};
use crate::graph::NodeId;
use crate::ops::Op;

impl Lowerer<'_> {
    /// A quantized convolution with one group and `i8` weights as `k_qconv4`: the padded input
    /// packed four channels to a pixel and offset to `u8` by `shift` (`k_qpack`), the weights
    /// packed `[MP/16][CQ][KH][KW][16][4]` (zero past `M` and `cin`), the offsets
    /// `-(zx + shift) · Σ w`, the scales and biases padded to `MP` with zeros. When fewer
    /// groups of four channels hold the input's channels times the kernel's columns than the
    /// channels alone times the columns (one input channel: a quarter), each channel is
    /// unfolded into one per kernel column ([`fold_columns`]) and the kernel is one column wide;
    /// where the output's rows are then too short for the pixels-in-lanes tiles (under 16
    /// pixels) and the strides equal, into one per kernel row too, and the convolution is a
    /// 1×1 one on the output's pixels as one row (DS-CNN's first layer, 10 × 4 at stride 2 on
    /// rows of 5: 7.4 → 1.9 µs and 0.1 of packing, step-times native, 2026-12-07). An unpadded
    /// 1×1 convolution at the same stride along both axes packs only the pixels it reads and
    /// runs as a 1×1 convolution at stride 1.
    pub(super) fn packed_conv(
        &mut self,
        geo: &ConvGeometry,
        p: &Prepared,
        xb: BufId,
        f: &Fusion,
        t: Terms,
        shift: i64,
    ) -> Result<(), EmitError> {
        let ConvGeometry { cin, m, kh, kw, sh, sw, dh, dw, oh, ow, .. } = *geo;
        let (xt, yt, rq) = (f.xq.elem.rust(), Self::out_type(f), Self::requant(f));
        let (ph, pw) = geo.padded();
        let src = self.pad_input(geo, xb, f.xq.elem, &format!("{}{}", f.xq.zero, xt))?;
        let fold = if (cin * kw).div_ceil(4) < cin.div_ceil(4) * kw { kw } else { 1 };
        // Unfolded columns on output rows too short for the pixels-in-lanes tiles (DS-CNN's
        // first layer: rows of 5) unfold the kernel's rows too, at equal strides: a 1×1
        // convolution on `cin · kh · kw` channels over the output's pixels as one row.
        let rows = if fold > 1 && ow < 16 && oh * ow >= 16 && sh == sw { kh } else { 1 };
        let (cin, kw, dw, pwf) = (cin * fold, kw / fold, if fold > 1 { 1 } else { dw }, pw - (fold - 1) * dw);
        let (cin, kh) = (cin * rows, kh / rows);
        let (cq, mp, taps) = (cin.div_ceil(4), m.div_ceil(16) * 16, kh * kw);
        // A 1×1 convolution at stride `sh` along both axes, unpadded, packs the pixels it reads:
        // then a pointwise convolution; so does one whose rows are unfolded, at stride `sh`.
        let step = if (kh == 1 && kw == 1 && sh == sw && geo.pads == [0; 4]) || rows > 1 { sh } else { 1 };
        // Room for the input packed as u16, as `k_qpack` packs it for the AVX2 kernel.
        let pixels = if rows > 1 { oh * ow } else { ph * pwf };
        let packed = self.new_typed_buf(cq * pixels * 8, Elem::U8, Home::Arena);
        // Unfolded or subsampled rows are read one at a time; otherwise each channel as one row.
        let dims = match (fold, step) {
            (1, 1) => [cin, 1, ph * pw, 1, 1, 1, 1, 1],
            (1, _) => [cin, ph, pw, 1, 1, step, 1, 1],
            _ => [geo.cin, ph, pw, fold, geo.dw, step, rows, dh],
        };
        self.typed_step("k_qpack", &[xt], nums(&dims), vec![Arg::Read(src), Arg::Write(packed)]);
        let mut wp = vec![0i8; mp * cq * taps * 4];
        // Unfolded rows and columns take the weights in their order, `[M][C][KH][KW]`.
        let values = if rows > 1 { p.values.clone() } else { fold_columns(&p.values, geo, fold) };
        for (i, &v) in values.iter().enumerate() {
            let (mi, c, tap) = (i / (cin * taps), i / taps % cin, i % taps);
            wp[(((mi / 16) * cq + c / 4) * taps + tap) * 64 + (mi % 16) * 4 + c % 4] = v as i8;
        }
        let wb = self.add_typed_weight(Weight::I8(wp));
        let mut off: Vec<i32> = t.off.iter().zip(&p.sums).map(|(&o, &s)| (o as i64 - shift * s) as i32).collect();
        off.resize(mp, 0);
        let (mut mul, mut bias) = (t.mul, t.bias);
        mul.resize(mp, 0.0);
        bias.resize(mp, 0.0);
        let terms = self.terms(Terms { off, mul, bias }, true);
        let yb = self.define(f.out)?;
        let mut args = vec![Arg::Read(packed), Arg::Read(wb)];
        args.extend(terms);
        args.extend([Arg::Write(yb), Arg::Code(rq)]);
        // A 1×1 convolution's pixels as one row, so that all but the last few go in whole tiles.
        let (ph, pwf, oh, ow, sh, sw) = match (geo.pointwise(), step) {
            (true, _) => (1, ph * pw, 1, oh * ow, 1, 1),
            (_, 2..) => (1, oh * ow, 1, oh * ow, 1, 1),
            _ if rows > 1 => (1, oh * ow, 1, oh * ow, 1, 1),
            _ => (ph, pwf, oh, ow, sh, sw),
        };
        self.typed_step("k_qconv4", &[yt], nums(&[cq, ph, pwf, m, mp, oh, ow, kh, kw, sh, sw, dh, dw]), args);
        Ok(())
    }

    /// A quantized convolution of one input channel at stride and dilation 1 as `k_qconv1`:
    /// the padded image as it is, the weights `[M][KH][⌈KW/2⌉][2]` `i16` (kernel columns in
    /// pairs, zero past `KW`), the offsets `-zx · Σ w`, the scales and biases. A MaxPool the
    /// plan runs on its integers ([`Fusion::pool`]) is fused into it when its windows are 2 × 2
    /// at stride 2 and tile the output, and no scale is negative (the store is then
    /// non-decreasing in the sum): the kernel defines the QuantizeLinear's output after the
    /// pool, and the pool is skipped.
    pub(super) fn one_channel_conv(
        &mut self,
        geo: &ConvGeometry,
        p: &Prepared,
        xb: BufId,
        f: &Fusion,
        t: Terms,
    ) -> Result<(), EmitError> {
        let ConvGeometry { m, kh, kw, oh, ow, .. } = *geo;
        let (xt, yt, rq) = (f.xq.elem.rust(), Self::out_type(f), Self::requant(f));
        let (ph, pw) = geo.padded();
        let src = self.pad_input(geo, xb, f.xq.elem, &format!("{}{}", f.xq.zero, xt))?;
        let kp = kw.div_ceil(2);
        let mut wp = vec![0i16; m * kh * kp * 2];
        for (i, &v) in p.values.iter().enumerate() {
            let (mi, r, c) = (i / (kh * kw), i / kw % kh, i % kw);
            wp[((mi * kh + r) * kp + c / 2) * 2 + c % 2] =
                i16::try_from(v).expect("8-bit weights minus their zero point");
        }
        let pooled = f.pool.filter(|&(pool, _)| self.pool_of_two(pool, oh, ow) && t.mul.iter().all(|&s| s >= 0.0));
        let (window, out) = match pooled {
            Some((pool, q)) => {
                self.skipped.insert(pool);
                self.program.fused += 1;
                (2, q)
            }
            None => (1, f.out),
        };
        let wb = self.add_typed_weight(Weight::I16(wp));
        let terms = self.terms(t, true);
        let yb = self.define(out)?;
        let mut args = vec![Arg::Read(src), Arg::Read(wb)];
        args.extend(terms);
        args.extend([Arg::Write(yb), Arg::Code(rq)]);
        self.typed_step("k_qconv1", &[xt, yt], nums(&[ph, pw, m, oh, ow, kh, kw, window]), args);
        Ok(())
    }

    /// Whether `pool` takes the largest of 2 × 2 windows at stride 2 without padding that tile
    /// its `oh × ow` input (both even).
    fn pool_of_two(&self, pool: NodeId, oh: usize, ow: usize) -> bool {
        let Op::Pool(p) = &self.graph.node(pool).op else { return false };
        let kernel = [2, 2];
        p.window.kernel_shape.as_deref() == Some(&kernel[..])
            && oh.is_multiple_of(2)
            && ow.is_multiple_of(2)
            && p.window.window(&[oh, ow], &kernel, p.ceil_mode).is_ok_and(|w| {
                w.strides == [2, 2]
                    && w.pads.iter().all(|&p| p == 0)
                    && w.dilations.iter().all(|&d| d == 1)
                    && w.output == [oh / 2, ow / 2]
            })
    }
}

/// What makes an input of type `elem` `u8` for the packed kernels (`k_qpack`): 128 for `i8`, 0
/// for `u8`; none for wider types.
pub(super) fn packed_shift(elem: Elem) -> Option<i64> {
    match elem {
        Elem::I8 => Some(128),
        Elem::U8 => Some(0),
        _ => None,
    }
}

/// The weights `values` (`[M][C][KH][KW]`) of `geo` as those of a convolution on `C · fold`
/// channels (channel `c · fold + k` the input shifted left by `k` columns, `k < fold = KW`) one
/// column wide: `[M][C · KW][KH]`; unchanged when `fold` is 1.
fn fold_columns(values: &[i32], geo: &ConvGeometry, fold: usize) -> Vec<i32> {
    if fold == 1 {
        return values.to_vec();
    }
    let (c, kh, kw) = (geo.cin, geo.kh, geo.kw);
    let mut out = vec![0; values.len()];
    for (i, &v) in values.iter().enumerate() {
        let (mi, ci, r, k) = (i / (c * kh * kw), i / (kh * kw) % c, i / kw % kh, i % kw);
        out[((mi * c + ci) * kw + k) * kh + r] = v;
    }
    out
}
