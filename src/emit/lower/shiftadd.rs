//! Lowering of integer contractions whose weights are digit-coded ([`crate::shiftadd::CODED`],
//! [`super::quant::QuantConst::coded`]): the weights become digit programs
//! ([`DigitPrograms`], under the recoding [`Coding::choose`] picks for them) read by the
//! shift-add kernels `k_saconv` and `k_samm`, which add, subtract and shift instead of
//! multiplying. Everything else of the integer path is unchanged: the same padded input, the
//! same per-channel offsets, scales and biases, the same store (through a table of steps on
//! cores without a float unit, [`super::steps`]).
//!
//! Where partials shared across the output channels pay ([`crate::shiftadd::sharing_pays`],
//! the cost model's test, on the coding [`Coding::of_contraction`] finds: a convolution of one
//! group, a matrix product), the programs are those of [`Shared::find`] and the kernels
//! `k_saconv_shared` and `k_samm_shared`, which compute each partial once per pixel.

use super::conv::ConvGeometry;
use super::quant::{Fusion, Terms};
use super::{nums, Arg, BufId, EmitError, Lowerer, Weight};
use crate::shiftadd::mcm::Shared;
use crate::shiftadd::program::DigitPrograms;
use crate::shiftadd::{sharing_pays, Coding, Layout, MAX_PARTIALS, MIN_USES};

/// The programs of `values` (laid out as `layout`) with shared partials, where they pay: the
/// greedy run once here, its summary priced as the cost model prices
/// [`Coding::of_contraction`]'s (whose cache is keyed by the weights before the zero point is
/// taken off, so it would not spare the search).
fn shared(values: &[i32], layout: Layout) -> Option<Shared> {
    let channels = layout.channels(values)?;
    let coding = Coding::choose(values);
    let found = Shared::find(&channels, coding.recoding, MIN_USES, MAX_PARTIALS);
    let shared = Some(found.sharing()).filter(|s| s.partials > 0);
    sharing_pays(&Coding { shared, ..coding }).then_some(found)
}

impl Lowerer<'_> {
    /// `layout`, or [`Layout::Unshared`] when the module keeps unshared programs
    /// ([`crate::emit::EmitOptions::unshared_digits`]).
    fn share(&self, layout: Layout) -> Layout {
        if self.unshared_digits {
            Layout::Unshared
        } else {
            layout
        }
    }

    /// A quantized convolution (any kernel, stride, dilation and group) with digit-coded
    /// `values` (`[M][CG][KH][KW]`, zero points taken off): `k_saconv` on the input padded
    /// with its zero point, each channel's taps at their offsets in a group's padded input.
    pub(super) fn shift_add_conv(
        &mut self,
        geo: &ConvGeometry,
        values: &[i32],
        xb: BufId,
        f: &Fusion,
        t: Terms,
    ) -> Result<(), EmitError> {
        let ConvGeometry { cin, m, g, kh, kw, sh, sw, dh, dw, oh, ow, .. } = *geo;
        let (ph, pw) = geo.padded();
        let taps = cin / g * kh * kw;
        let channels: Vec<Vec<(u32, i32)>> = values
            .chunks(taps.max(1))
            .map(|w| {
                w.iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let (c, a, b) = (i / (kh * kw), i / kw % kh, i % kw);
                        (((c * ph + a * dh) * pw + b * dw) as u32, v)
                    })
                    .collect()
            })
            .collect();
        let xt = f.xq.elem.rust();
        let src = self.pad_input(geo, xb, f.xq.elem, &format!("{}{xt}", f.xq.zero))?;
        let sharing = if g == 1 { shared(values, self.share(Layout::Rows(m))) } else { None };
        if let Some(s) = sharing {
            let offsets: Vec<u32> = channels.first().map_or(Vec::new(), |c| c.iter().map(|&(at, _)| at).collect());
            let programs = DigitPrograms::encode_shared(&s, &offsets);
            let p = s.partials.len();
            let dims = [cin, ph, pw, m, oh, ow, sh, sw, taps, p, taps + p];
            return self.shift_add_step("k_saconv_shared", programs, src, f, t, &dims);
        }
        let programs = DigitPrograms::encode(&channels, Coding::choose(values).recoding);
        let dims = [g, cin / g, ph, pw, m / g, oh, ow, sh, sw];
        self.shift_add_step("k_saconv", programs, src, f, t, &dims)
    }

    /// `y[M][N] = x[M][K] · w[K][N]` (Gemm, MatMul) with digit-coded `values` (`[K][N]`, zero
    /// points taken off): `k_samm`, each column's program over a row of `x`.
    pub(super) fn shift_add_matrix(
        &mut self,
        [m, k, n]: [usize; 3],
        values: &[i32],
        xb: BufId,
        f: &Fusion,
        t: Terms,
    ) -> Result<(), EmitError> {
        if let Some(s) = shared(values, self.share(Layout::Columns(n))) {
            let programs = DigitPrograms::encode_shared(&s, &(0..k as u32).collect::<Vec<_>>());
            let p = s.partials.len();
            return self.shift_add_step("k_samm_shared", programs, xb, f, t, &[m, k, n, p, k + p]);
        }
        let columns: Vec<Vec<(u32, i32)>> =
            (0..n).map(|j| (0..k).map(|i| (i as u32, values[i * n + j])).collect()).collect();
        let programs = DigitPrograms::encode(&columns, Coding::choose(values).recoding);
        self.shift_add_step("k_samm", programs, xb, f, t, &[m, k, n])
    }

    /// The call of shift-add `kernel` on input `src` with `programs`, const arguments `dims`,
    /// then the planes.
    fn shift_add_step(
        &mut self,
        kernel: &'static str,
        programs: DigitPrograms,
        src: BufId,
        f: &Fusion,
        t: Terms,
        dims: &[usize],
    ) -> Result<(), EmitError> {
        let words = if programs.fits_u16() {
            Weight::U16(programs.words.iter().map(|&w| w as u16).collect())
        } else {
            Weight::U32(programs.words)
        };
        let pb = self.add_typed_weight(words);
        let mut args = vec![Arg::Read(src), Arg::Read(pb)];
        let steps = self.steps(&t, f);
        args.extend(self.terms(t, true));
        args.push(steps);
        let yb = self.define(f.out)?;
        args.extend([Arg::Write(yb), Arg::Code(Self::requant(f))]);
        let types = [f.xq.elem.rust(), self.program.bufs[pb].elem.rust(), Self::out_type(f)];
        let mut generics = nums(dims);
        generics.push(programs.planes.to_string());
        self.typed_step(kernel, &types, generics, args);
        self.program.shift_add_kernels += 1;
        Ok(())
    }
}
