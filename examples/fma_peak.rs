//! The core's fp32 multiply-add peak, measured (issue 12: "the larger ResNet reaches at least
//! 60 % of the core's measured fp32 FMA peak"): one thread runs independent chains of vector
//! FMAs (enough chains to cover the FMA latency on every port), best of several timed runs, for
//! each instruction set the CPU has, and the integer counterpart the int8 kernels use without
//! VNNI (`vpmaddwd`, 16 products of 16-bit pairs summed into 8 i32 lanes, then `vpaddd`). With
//! `--macs N --us T` it also states what share of each peak a model of N multiply-accumulates
//! run in T µs reaches.
//!
//! ```text
//! cargo run --release --example fma_peak -- [--macs 76470000 --us 2508]
//! ```

use std::hint::black_box;
use std::time::Instant;

/// FMAs per chain per timed call.
const ITERS: u64 = 20_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| {
            v.parse::<f64>().unwrap_or_else(|e| {
                eprintln!("error: {name} {v}: {e}");
                std::process::exit(2)
            })
        })
    };
    let model = arg("--macs").zip(arg("--us"));
    let peaks = peaks();
    if peaks.is_empty() {
        eprintln!("error: no vector FMA on this CPU (x86-64 with FMA needed)");
        std::process::exit(1);
    }
    for (isa, lanes, chains, seconds) in peaks {
        let macs_per_s = (ITERS * chains * lanes) as f64 / seconds;
        print!(
            "{isa}: {:.1} GFLOP/s ({:.2} G multiply-adds/s, {chains} chains of {lanes} per instruction)",
            2e-9 * macs_per_s,
            1e-9 * macs_per_s
        );
        if let Some((macs, us)) = model {
            let achieved = macs / (us * 1e-6);
            print!("; the model: {:.1} GFLOP/s, {:.0} % of this peak", 2e-9 * achieved, 100.0 * achieved / macs_per_s);
        }
        println!();
    }
}

/// Per instruction set the CPU has: its name, f32 lanes, chains and the best time of a call.
fn peaks() -> Vec<(&'static str, u64, u64, f64)> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            out.push(("AVX2+FMA (8 lanes)", 8, 12, best(|| unsafe { x86::avx2(ITERS) })));
            // SAFETY: the CPU has AVX2.
            out.push(("AVX2 vpmaddwd+vpaddd (i16 pairs, 16 products)", 16, 12, best(|| unsafe { x86::madd(ITERS) })));
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            out.push(("AVX-512F (16 lanes)", 16, 12, best(|| unsafe { x86::avx512(ITERS) })));
        }
    }
    out
}

/// The best of five timed calls, in seconds.
fn best(mut f: impl FnMut() -> f32) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// 12 independent chains of `iters` 8-lane FMAs each.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(iters: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..std::hint::black_box(iters) {
            for c in acc.iter_mut() {
                *c = _mm256_fmadd_ps(*c, a, b);
            }
        }
        let mut sum = _mm256_setzero_ps();
        for c in acc {
            sum = _mm256_add_ps(sum, c);
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
        lanes.iter().sum()
    }

    /// 12 independent chains of `iters` `vpmaddwd` (16 products of 16-bit pairs, summed in
    /// pairs into 8 i32 lanes) each added to its chain by `vpaddd`: the chain feeds the product,
    /// so nothing is hoisted, and 12 chains cover the 4-cycle dependency on every port.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn madd(iters: u64) -> f32 {
        let w = _mm256_set1_epi16(3);
        let mut acc: [__m256i; 12] = core::array::from_fn(|i| _mm256_set1_epi32(i as i32));
        for _ in 0..std::hint::black_box(iters) {
            for c in acc.iter_mut() {
                *c = _mm256_add_epi32(*c, _mm256_madd_epi16(*c, w));
            }
        }
        let mut sum = _mm256_setzero_si256();
        for c in acc {
            sum = _mm256_add_epi32(sum, c);
        }
        _mm256_extract_epi32::<0>(sum) as f32
    }

    /// 12 independent chains of `iters` 16-lane FMAs each.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(iters: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); 12];
        for _ in 0..std::hint::black_box(iters) {
            for c in acc.iter_mut() {
                *c = _mm512_fmadd_ps(*c, a, b);
            }
        }
        let mut sum = _mm512_setzero_ps();
        for c in acc {
            sum = _mm512_add_ps(sum, c);
        }
        _mm512_reduce_add_ps(sum)
    }
}
