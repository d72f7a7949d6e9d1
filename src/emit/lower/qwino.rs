//! Lowering of quantized 3×3, stride-1 convolutions to integer Winograd F(2×2, 3×3)
//! (`k_qwino`, `kernels/qwino.rs`) on the wide targets that take the packed integer kernels:
//! exact, so its outputs are the direct kernel's (`k_qconv4`) bit for bit.

use super::conv::ConvGeometry;
use super::quant::{Fusion, Prepared, Terms};
use super::winograd::block_rows;
use super::{nums, Arg, BufId, Elem, EmitError, Home, Lowerer, Weight};
use crate::winograd::TILE;

impl Lowerer<'_> {
    /// A quantized convolution that [`integer_winograd`] accepts as one `k_qwino` call: the
    /// input padded with its zero point to whole tiles (`2·⌈OH/2⌉ + 2` by `2·⌈OW/2⌉ + 2`),
    /// the transformed filter `(2G) g (2G)ᵀ` (`[16][M][⌈C/2⌉][2]` `i16`), the direct kernels'
    /// offsets `-zx · Σ w`, scales and biases, and scratch for a block of tile rows
    /// ([`block_rows`], as the float `k_wino`'s).
    pub(super) fn winograd_conv(
        &mut self,
        geo: &ConvGeometry,
        p: &Prepared,
        xb: BufId,
        f: &Fusion,
        t: Terms,
    ) -> Result<(), EmitError> {
        let ConvGeometry { cin, m, oh, ow, .. } = *geo;
        let (xt, yt, rq) = (f.xq.elem.rust(), Self::out_type(f), Self::requant(f));
        let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
        // Tiles past an odd output read one more row or column: padding, whose sums are cropped.
        let [pt, pl, pb, pr] = geo.pads;
        let whole = ConvGeometry { pads: [pt, pl, pb + 2 * th - oh, pr + 2 * tw - ow], ..*geo };
        let src = self.pad_input(&whole, xb, f.xq.elem, &format!("{}{}", f.xq.zero, xt))?;
        let u = self.add_typed_weight(Weight::I16(filter(&p.values, m, cin)));
        let terms = self.terms(t, true);
        let tb = block_rows(th, tw);
        let (cp, bs) = (cin.div_ceil(2), (tb * tw).next_multiple_of(8));
        let v = self.new_typed_buf(TILE * cp * bs * 2, Elem::I16, Home::Arena);
        let sums = self.new_typed_buf(TILE * m * bs, Elem::I32, Home::Arena);
        let yb = self.define(f.out)?;
        let mut args = vec![Arg::Read(src), Arg::Read(u)];
        args.extend(terms);
        args.extend([Arg::Write(v), Arg::Write(sums), Arg::Write(yb), Arg::Code(rq)]);
        self.typed_step("k_qwino", &[xt, yt], nums(&[cin, m, th, tw, tb, bs, 2 * tw + 2, oh, ow]), args);
        Ok(())
    }
}

/// Whether a quantized convolution of geometry `geo` with `i8` weights `values` (`[M][C][3][3]`,
/// zero points taken off) on 8-bit inputs (`i8` when `signed`) runs as integer Winograd: one
/// group, 3×3, stride and dilation 1, 4 times every channel's largest sum `Σ |w| · 255` (128
/// for `i8` inputs) fits `i32`, so that the wrapping sums of `k_qwino` are exact, and rows of
/// tiles that its AVX2 input transform takes (at least 8 tiles, or 4 in blocks of an even
/// number of rows: outputs at least 15 wide, or 7 or 8).
///
/// Measured (`scripts/step-times.sh`, Zen 3 with AVX2, fastest of 300 calls, 2026-12-07): on
/// int8 ResNet-8 it paid on every layer, down to 3 input channels: the 3-channel input layer
/// 14.5–15.5 µs native against `k_qconv4`'s 18.8–24.9 in interleaved runs of both (18.7 against
/// 24.7 plain), the 16-, 32- and 64-channel layers about 27, 21 and 24 µs against 43, 37 and
/// 36. On cnn_small's 8-channel 14 × 14 layer (rows of 7 tiles, the portable input
/// transform, and a third of the tile rows computed twice by the overlapping last block) it
/// took 9.5 µs against 5.3. A single input channel keeps `k_qconv1`, which is chosen before.
pub(super) fn integer_winograd(geo: &ConvGeometry, values: &[i32], signed: bool) -> bool {
    let shape = (geo.g, geo.kh, geo.kw, geo.sh, geo.sw, geo.dh, geo.dw);
    let tw = geo.ow.div_ceil(2);
    let rows = tw >= 8 || tw == 4 && block_rows(geo.oh.div_ceil(2), tw).is_multiple_of(2);
    let largest = if signed { 128 } else { 255 };
    shape == (1, 3, 3, 1, 1, 1, 1)
        && rows
        && values
            .chunks(geo.cin * 9)
            .all(|w| 4 * w.iter().map(|v| v.unsigned_abs() as i64).sum::<i64>() * largest <= i32::MAX as i64)
}

/// `(2G) g (2G)ᵀ` of the weights `values` (`[K][C][3][3]`), `G` Winograd's filter transform (`4·U`
/// of [`crate::winograd::filter_transform`], exact in f64: `G`'s entries are halves), laid
/// out `[16][K][⌈C/2⌉][2]` with the channels in pairs (zero past `C`). Every entry is at most
/// `9 · 128` in magnitude.
fn filter(values: &[i32], k: usize, c: usize) -> Vec<i16> {
    let g: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    let cp = c.div_ceil(2);
    let mut out = vec![0i16; TILE * k * cp * 2];
    for (i, u) in crate::winograd::filter_transform(crate::winograd::Size::F2, &g, k, c).into_iter().enumerate() {
        let (f, ki, ci) = (i / (k * c), i / c % k, i % c);
        out[((f * k + ki) * cp + ci / 2) * 2 + ci % 2] = (4.0 * u) as i16;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{integer_winograd, ConvGeometry};

    /// The rule: shapes whose tile rows the AVX2 input transform takes, sums that fit.
    #[test]
    fn winograd_where_it_measured_faster_and_is_exact() {
        let geo = |cin: usize, h: usize, w: usize| ConvGeometry {
            cin,
            m: 1,
            g: 1,
            h,
            wd: w,
            kh: 3,
            kw: 3,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            pads: [1; 4],
            oh: h,
            ow: w,
        };
        let w = |cin: usize| vec![-128; cin * 9];
        assert!(integer_winograd(&geo(16, 32, 32), &w(16), false));
        assert!(integer_winograd(&geo(3, 31, 15), &w(3), true));
        assert!(integer_winograd(&geo(64, 8, 8), &w(64), false), "4 tile rows of 4");
        assert!(!integer_winograd(&geo(8, 14, 14), &w(8), false), "rows of 7 tiles");
        assert!(!integer_winograd(&geo(8, 6, 8), &w(8), false), "3 tile rows of 4");
        let mut strided = geo(16, 32, 32);
        strided.sw = 2;
        assert!(!integer_winograd(&strided, &w(16), false));
        // 4 · 128 · 9 · 2000 · 255 ≥ 2^31 (u8 inputs), 4 · 128 · 9 · 2000 · 128 < 2^31 (i8).
        assert!(!integer_winograd(&geo(2000, 16, 16), &w(2000), false));
        assert!(integer_winograd(&geo(2000, 16, 16), &w(2000), true));
    }

    /// `(2G) g (2G)ᵀ` of a filter that is 1 at one tap: the outer product of `2G`'s column.
    #[test]
    fn the_filter_transform_is_integer() {
        let mut g = vec![0; 2 * 9];
        g[9 + 4] = 1; // channel 1, centre tap: 2G's middle column is [0, 1, -1, 0]
        g[0] = -128; // channel 0, top left: [2, 1, 1, 0] · -128
        let u = super::filter(&g, 1, 2);
        let col = [[0, 1, -1, 0], [2, 1, 1, 0]];
        for f in 0..16 {
            assert_eq!(u[f * 2 + 1], col[0][f / 4] * col[0][f % 4], "{f}");
            assert_eq!(u[f * 2], -128 * col[1][f / 4] * col[1][f % 4], "{f}");
        }
    }
}
