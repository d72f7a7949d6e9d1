//! Scalar math for `no_std`: `core` has no `exp`, `ln`, `sqrt`, `erf` or `tanh` for `f32`, so
//! the generated module carries its own, accurate to a few ulp (erf: 1.5e-7 absolute), and only
//! the ones the model uses.

/// Rounds to the nearest integer, ties to even.
fn m_rte(x: f32) -> f32 {
    const BIG: f32 = 8388608.0; // 2^23: adding it leaves no fraction bits
    if x.is_nan() || x.abs() >= BIG {
        return x;
    }
    if x >= 0.0 {
        (x + BIG) - BIG
    } else {
        (x - BIG) + BIG
    }
}

/// `v` clamped to `[lo, hi]` by two comparisons, never a library call: `f32::max`/`min` are
/// `fmaxf`/`fminf` calls on cores without a float min/max instruction (Cortex-M4's FPv4), where
/// a compare and a conditional move cost a few cycles. The same value as `v.max(lo).min(hi)`
/// for every non-NaN `v` (also with `lo > hi`, giving `hi`, and NaN bounds, which clamp
/// nothing); a NaN `v` stays NaN (as ONNX Relu and Clip define it) where `max` gave `lo`.
#[inline(always)]
fn m_clamp(v: f32, lo: f32, hi: f32) -> f32 {
    let v = if v < lo { lo } else { v };
    if v > hi {
        hi
    } else {
        v
    }
}

/// `2^k` for `-126 <= k <= 127`.
fn m_pow2i(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

/// `e^x`: `x = k·ln 2 + r` with `|r| <= ln 2 / 2`, a degree-7 polynomial for `e^r`.
fn m_exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.72284 {
        return f32::INFINITY;
    }
    if x < -103.97208 {
        return 0.0;
    }
    let k = m_rte(x * core::f32::consts::LOG2_E);
    let r = (x - k * 0.693_145_75) - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let k = k as i32;
    let half = k / 2;
    p * m_pow2i(half) * m_pow2i(k - half)
}

/// `ln x`: `x = m·2^e` with `m` in `[√½, √2)`, `ln m = 2·atanh((m − 1)/(m + 1))` by its series.
fn m_ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return x;
    }
    let (x, bias) = if x < f32::MIN_POSITIVE { (x * 8388608.0, 23) } else { (x, 0) };
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127 - bias;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000) as f64;
    if m > core::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 / 11.0)))));
    (e as f64 * core::f64::consts::LN_2 + series) as f32
}

/// `√x`: a bit-level first guess and four Newton steps in f64.
fn m_sqrt(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 || x == f32::INFINITY {
        return x;
    }
    let xd = x as f64;
    let mut y = f32::from_bits((x.to_bits() >> 1) + 0x1fbd_1df5) as f64;
    for _ in 0..4 {
        y = 0.5 * (y + xd / y);
    }
    y as f32
}

/// `erf x` (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7).
fn m_erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let v = 1.0 - poly * m_exp(-a * a);
    if x < 0.0 {
        -v
    } else {
        v
    }
}

/// `tanh x` from `e^{2x}`, saturating beyond |x| = 9.
fn m_tanh(x: f32) -> f32 {
    if x > 9.0 {
        return 1.0;
    }
    if x < -9.0 {
        return -1.0;
    }
    let e = m_exp(2.0 * x);
    (e - 1.0) / (e + 1.0)
}

/// `x^y` as `e^{y·ln|x|}`, with the sign of a negative base raised to an odd integer.
fn m_pow(x: f32, y: f32) -> f32 {
    if y == 0.0 {
        return 1.0;
    }
    if x == 0.0 {
        return if y > 0.0 { 0.0 } else { f32::INFINITY };
    }
    if x < 0.0 {
        if m_rte(y) != y {
            return f32::NAN;
        }
        let v = m_exp(y * m_ln(-x));
        let half = y * 0.5;
        let odd = m_rte(half) != half;
        return if odd { -v } else { v };
    }
    m_exp(y * m_ln(x))
}

// The run-time check of the explicit-SIMD kernels, in this scope as in the generated module's.
include!("simd.rs");

// The other kernel files, compiled under test as child modules so that they see these functions
// (and, below `quant`, its element traits) as the generated module's single scope does.
#[path = "dw.rs"]
mod dw;
#[path = "elementwise.rs"]
mod elementwise;
#[path = "layout.rs"]
mod layout;
#[path = "norm.rs"]
mod norm;
#[path = "quant.rs"]
mod quant;

#[cfg(test)]
mod tests {
    use super::{m_erf, m_exp, m_ln, m_pow, m_rte, m_sqrt, m_tanh};

    /// Relative error of `got` against `want` (absolute near zero).
    fn err(got: f32, want: f64) -> f64 {
        (got as f64 - want).abs() / want.abs().max(1.0)
    }

    #[test]
    fn math_agrees_with_std() {
        assert_eq!([m_rte(0.5), m_rte(1.5), m_rte(-2.5), m_rte(2.6)], [0.0, 2.0, -2.0, 3.0]);
        for (x, want) in
            [(0.5, 0.520_499_877_813_046_5), (1.0, 0.842_700_792_949_714_9), (2.0, 0.995_322_265_018_952_7)]
        {
            assert!((m_erf(x) as f64 - want).abs() < 2e-7, "erf({x})");
        }
        for i in -400..=400 {
            let x = i as f32 * 0.05;
            let xd = x as f64;
            assert!(err(m_exp(x), xd.exp()) < 1e-6, "exp({x})");
            assert!(err(m_tanh(x), xd.tanh()) < 1e-6, "tanh({x})");
            // Odd by construction; at 0 both signs take the positive branch, whose value there
            // is the approximation's error (A&S 7.1.26: at most 1.5e-7).
            assert!((m_erf(x) + m_erf(-x)).abs() < if i == 0 { 3e-7 } else { 1e-7 }, "erf is odd ({x})");
            if x > 0.0 {
                assert!(err(m_ln(x), xd.ln()) < 1e-6, "ln({x})");
                assert!(err(m_sqrt(x), xd.sqrt()) < 1e-6, "sqrt({x})");
                assert!(err(m_pow(x, 1.5), xd.powf(1.5)) < 1e-5, "pow({x}, 1.5)");
            }
        }
    }
}
