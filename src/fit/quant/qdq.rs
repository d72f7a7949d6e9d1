//! ONNX's linear quantization of a float tensor, exactly as QuantizeLinear and DequantizeLinear
//! compute it, and the scale and zero point of a real range (onnxruntime's `compute_scale_zp`).

use super::super::Samples;

/// The 8-bit type of a quantized activation, with how its range is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QType {
    /// `uint8`, asymmetric: `[rmin, rmax]` onto `[0, 255]`, zero point in `[0, 255]`.
    U8,
    /// `int8`, symmetric: `[-m, m]` onto `[-127, 127]`, zero point 0.
    I8,
}

impl QType {
    /// The integers QuantizeLinear saturates to: `[0, 255]` or `[-128, 127]`.
    pub fn saturation(self) -> (i32, i32) {
        match self {
            QType::U8 => (0, 255),
            QType::I8 => (-128, 127),
        }
    }

    /// The integers a range is mapped onto (onnxruntime's `get_qmin_qmax_for_qType`; symmetric
    /// int8 leaves -128 out so that the grid is symmetric).
    fn mapped(self) -> (i32, i32) {
        match self {
            QType::U8 => (0, 255),
            QType::I8 => (-127, 127),
        }
    }
}

/// A zero point, in its ONNX type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroPoint {
    /// A `uint8` zero point.
    U8(u8),
    /// An `int8` zero point.
    I8(i8),
}

impl ZeroPoint {
    /// The zero point as an integer.
    pub fn value(self) -> i32 {
        match self {
            ZeroPoint::U8(z) => i32::from(z),
            ZeroPoint::I8(z) => i32::from(z),
        }
    }

    /// Its type.
    pub fn qtype(self) -> QType {
        match self {
            ZeroPoint::U8(_) => QType::U8,
            ZeroPoint::I8(_) => QType::I8,
        }
    }
}

/// The per-tensor quantization of an activation: `q = saturate(round(x / scale) + zero_point)`,
/// `x ≈ (q - zero_point) · scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    /// The scale (positive, finite).
    pub scale: f32,
    /// The zero point, whose type is the quantized tensor's.
    pub zero_point: ZeroPoint,
}

impl QParams {
    /// QuantizeLinear of one value: `x / scale` in f32, rounded half to even, plus the zero
    /// point, saturated to the type's range. NaN gives the zero point.
    pub fn quantize(&self, x: f32) -> i32 {
        let (lo, hi) = self.zero_point.qtype().saturation();
        let r = (x / self.scale).round_ties_even();
        if r.is_nan() {
            return self.zero_point.value();
        }
        // Saturate in f64 before the cast: `r` may be far outside the i32 range.
        (f64::from(r) + f64::from(self.zero_point.value())).clamp(f64::from(lo), f64::from(hi)) as i32
    }

    /// DequantizeLinear of one integer: `(q - zero_point) · scale` in f32.
    pub fn dequantize(&self, q: i32) -> f32 {
        (q - self.zero_point.value()) as f32 * self.scale
    }

    /// QuantizeLinear then DequantizeLinear of every sample: what the next layer reads after
    /// a QDQ pair (for example the quantized input of a bias correction).
    pub fn fake_quantize(&self, x: &Samples) -> Samples {
        x.mapv(|v| self.dequantize(self.quantize(v)))
    }

    /// The real values that quantize without saturating, `[(qmin - z)·s, (qmax - z)·s]`.
    pub fn representable(&self) -> (f64, f64) {
        let (lo, hi) = self.zero_point.qtype().saturation();
        let (z, s) = (f64::from(self.zero_point.value()), f64::from(self.scale));
        ((f64::from(lo) - z) * s, (f64::from(hi) - z) * s)
    }
}

/// The scale and zero point mapping `[rmin, rmax]` onto `qtype`, as onnxruntime's
/// `quant_utils.compute_scale_zp` does: the range is widened to contain 0 (so that 0 is exact);
/// int8 makes it symmetric (`[-m, m]` onto `[-127, 127]`, zero point 0); uint8 maps it onto
/// `[0, 255]` with zero point `round(0 - rmin / scale)` (half to even, as numpy rounds). A range
/// narrower than the smallest normal f32 gets scale 1 and zero point 0. A NaN bound counts as 0,
/// an infinite one as the largest finite f32.
pub fn compute_scale_zp(rmin: f32, rmax: f32, qtype: QType) -> QParams {
    let (qmin, qmax) = qtype.mapped();
    let finite = |v: f32| if v.is_nan() { 0.0 } else { v };
    let (mut rmin, mut rmax) =
        (f64::from(finite(rmin).clamp(f32::MIN, 0.0)), f64::from(finite(rmax).clamp(0.0, f32::MAX)));
    if qtype == QType::I8 {
        let m = rmin.abs().max(rmax.abs());
        (rmin, rmax) = (-m, m);
    }
    let scale = (rmax - rmin) / f64::from(qmax - qmin);
    if scale < f64::from(f32::MIN_POSITIVE) {
        let zero_point = match qtype {
            QType::U8 => ZeroPoint::U8(0),
            QType::I8 => ZeroPoint::I8(0),
        };
        return QParams { scale: 1.0, zero_point };
    }
    let zero_point = match qtype {
        // rmin ≤ 0 ≤ rmax keeps the zero point within [0, 255].
        QType::U8 => ZeroPoint::U8((f64::from(qmin) - rmin / scale).round_ties_even().clamp(0.0, 255.0) as u8),
        QType::I8 => ZeroPoint::I8(0),
    };
    QParams { scale: scale as f32, zero_point }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_half_to_even_and_saturates() {
        let i8 = QParams { scale: 1.0, zero_point: ZeroPoint::I8(0) };
        let got: Vec<i32> = [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(|x| i8.quantize(x)).to_vec();
        assert_eq!(got, vec![0, 2, 2, 4, 0, -2, -2, 2, 3]);
        // Saturation is at the type's ends, -128 included.
        assert_eq!((i8.quantize(1e9), i8.quantize(-1e9), i8.quantize(-128.4)), (127, -128, -128));
        assert_eq!(i8.quantize(f32::NAN), 0);
        // The zero point is added after rounding: 0.5 → 0, then + 3.
        let u8 = QParams { scale: 0.5, zero_point: ZeroPoint::U8(3) };
        assert_eq!([0.25, 0.75, -1.75, -100.0, 1e30].map(|x| u8.quantize(x)), [3, 5, 0, 0, 255]);
        assert_eq!(u8.dequantize(5), 1.0);
        assert_eq!(u8.representable(), (-1.5, 126.0));
    }

    #[test]
    fn fake_quantize_is_quantize_then_dequantize() {
        let q = QParams { scale: 0.1, zero_point: ZeroPoint::U8(10) };
        let x = ndarray::arr1(&[-2.0f32, -0.04, 0.26, 30.0]).into_dyn();
        let got = q.fake_quantize(&x);
        // -2.0 saturates at q = 0, i.e. -1.0.
        let want = [-1.0f32, 0.0, 0.3, 24.5];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got} vs {want:?}");
        }
    }

    #[test]
    fn scale_and_zero_point_as_onnxruntime() {
        // [0, 6] (after ReLU6) in uint8: zero point 0, scale 6/255.
        let relu6 = compute_scale_zp(0.0, 6.0, QType::U8);
        assert_eq!(relu6, QParams { scale: (6.0f64 / 255.0) as f32, zero_point: ZeroPoint::U8(0) });
        // [-1, 3] in uint8: scale 4/255, zero point round(255/4) = round(63.75) = 64.
        let asym = compute_scale_zp(-1.0, 3.0, QType::U8);
        assert_eq!(asym, QParams { scale: (4.0f64 / 255.0) as f32, zero_point: ZeroPoint::U8(64) });
        // A range that does not contain 0 is widened to it.
        assert_eq!(compute_scale_zp(2.0, 3.0, QType::U8).zero_point, ZeroPoint::U8(0));
        assert_eq!(compute_scale_zp(-3.0, -2.0, QType::U8).zero_point, ZeroPoint::U8(255));
        // int8 is symmetric: [-3, 2] → m = 3 onto ±127.
        assert_eq!(
            compute_scale_zp(-3.0, 2.0, QType::I8),
            QParams { scale: (3.0f64 / 127.0) as f32, zero_point: ZeroPoint::I8(0) }
        );
        // No range: scale 1.
        assert_eq!(compute_scale_zp(0.0, 0.0, QType::U8), QParams { scale: 1.0, zero_point: ZeroPoint::U8(0) });
        assert_eq!(compute_scale_zp(f32::NAN, 1.0, QType::I8), compute_scale_zp(0.0, 1.0, QType::I8));
        let huge = compute_scale_zp(f32::NEG_INFINITY, f32::INFINITY, QType::U8);
        assert_eq!(huge, QParams { scale: (2.0 * f64::from(f32::MAX) / 255.0) as f32, zero_point: ZeroPoint::U8(128) });
    }

    #[test]
    fn zero_is_exact() {
        for (lo, hi) in [(-0.37f32, 5.1f32), (-7.0, 0.01), (-1e-3, 1e3)] {
            for t in [QType::U8, QType::I8] {
                let q = compute_scale_zp(lo, hi, t);
                assert_eq!(q.dequantize(q.quantize(0.0)), 0.0);
            }
        }
    }
}
