//! `gos-opt calibrate`: measures this machine and writes its profile. Throughput per operation
//! class and precision comes from loops the compiler vectorizes (with AVX2 and FMA when the CPU
//! has them) streaming L1-resident operands, `y[i] = op(x[i], z[i])` (for fma
//! `y[i] += x[i] * z[i]`): the sustained rate of a kernel, not the register-blocked peak;
//! bandwidth from streaming (read one buffer, write another) L1-, L2- and DRAM-sized footprints;
//! the per-kernel overhead from running chains of tiny MatMuls with tract. Each figure is the
//! best of several timed runs (other processes only ever slow a run down).

use super::{Cache, OpClass, Precision, Profile};
use crate::graph::{Graph, ModelMeta, Node, Value, ValueKind};
use crate::ops::{MatMul, Op};
use crate::tensor::{DType, Tensor, TensorType};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long to measure.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// A few milliseconds per figure instead of about a hundred (for tests; the figures are noisy).
    pub quick: bool,
}

/// The environment variable that turns on [`Options::quick`] from the command line.
pub const QUICK_ENV: &str = "GOS_OPT_CALIBRATE_QUICK";

/// Runs `f` (which does `work` operations per call) until `budget` is spent; the best rate seen,
/// operations per second.
fn best_rate(budget: Duration, work: u64, mut f: impl FnMut()) -> f64 {
    f(); // warm caches, fault pages in
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0;
    while runs < 3 || start.elapsed() < budget {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
        if runs >= 10_000 {
            break;
        }
    }
    work as f64 / best.max(1e-9)
}

/// An element type the throughput loops run on.
trait Elem: Copy + Default + PartialOrd + 'static {
    fn from_index(i: usize) -> Self;
    fn mul(self, o: Self) -> Self;
    fn add(self, o: Self) -> Self;
    fn fma(self, o: Self, acc: Self, fused: bool) -> Self;
    fn shift(self) -> Self;
    fn div(self, o: Self) -> Self;
    fn transcendental(self, lut: &[Self]) -> Self;
}

/// `tanh` as a rational function with one division (the form vectorized runtimes use).
#[inline(always)]
fn tanh_rational(x: f32) -> f32 {
    let x = x.clamp(-7.9, 7.9);
    let x2 = x * x;
    let p = x2
        * (x2
            * (x2 * (x2 * (x2 * (x2 * -2.760_768_5e-16 + 2.000_188e-13) + -8.604_672e-11) + 5.122_297e-8)
                + 1.485_722_4e-5)
            + 6.372_619_3e-4)
        + 4.893_524_6e-3;
    let q = x2 * (x2 * (x2 * 1.198_258_4e-6 + 1.185_347e-4) + 2.268_434_6e-3) + 4.893_525e-3;
    x * p / q
}

macro_rules! int_elem {
    ($t:ty) => {
        impl Elem for $t {
            #[inline(always)]
            fn from_index(i: usize) -> Self {
                (i % 13 + 1) as $t
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn fma(self, o: Self, acc: Self, _fused: bool) -> Self {
                acc.wrapping_add(self.wrapping_mul(o))
            }
            #[inline(always)]
            fn shift(self) -> Self {
                self << 3
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self / o
            }
            #[inline(always)]
            fn transcendental(self, lut: &[Self]) -> Self {
                // Quantized activations are table lookups; 32-bit values go through f32.
                if lut.is_empty() {
                    (tanh_rational(self as f32) * 64.0) as $t
                } else {
                    lut[(self as usize) & (lut.len() - 1)]
                }
            }
        }
    };
}
int_elem!(i32);
int_elem!(i16);
int_elem!(i8);

impl Elem for f32 {
    #[inline(always)]
    fn from_index(i: usize) -> Self {
        (i % 13) as f32 * 0.25 + 0.5
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        self * o
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self + o
    }
    #[inline(always)]
    fn fma(self, o: Self, acc: Self, fused: bool) -> Self {
        if fused {
            self.mul_add(o, acc)
        } else {
            self * o + acc
        }
    }
    #[inline(always)]
    fn shift(self) -> Self {
        self * 8.0
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        self / o
    }
    #[inline(always)]
    fn transcendental(self, _lut: &[Self]) -> Self {
        tanh_rational(self)
    }
}

/// `reps` passes of `y = op(x, z)` over L1-resident slices (`fused`: the CPU has FMA).
#[inline(always)]
fn elementwise<T: Elem>(class: OpClass, x: &[T], z: &[T], y: &mut [T], lut: &[T], reps: usize, fused: bool) {
    for _ in 0..reps {
        let (x, z) = (black_box(x), black_box(z));
        let y = black_box(&mut *y);
        let pairs = y.iter_mut().zip(x.iter().zip(z));
        match class {
            OpClass::Mul => pairs.for_each(|(y, (&a, &b))| *y = a.mul(b)),
            OpClass::Add => pairs.for_each(|(y, (&a, &b))| *y = a.add(b)),
            OpClass::Shift => pairs.for_each(|(y, (&a, _))| *y = a.shift()),
            OpClass::Compare => pairs.for_each(|(y, (&a, &b))| *y = if a > b { a } else { b }),
            OpClass::Divide => pairs.for_each(|(y, (&a, &b))| *y = a.div(b)),
            OpClass::Transcendental => pairs.for_each(|(y, (&a, _))| *y = a.transcendental(lut)),
            OpClass::Fma => pairs.for_each(|(y, (&a, &b))| *y = a.fma(b, *y, fused)),
        }
    }
}

/// `dst = src + 1`: what a kernel does to memory, reading its input and writing its output.
#[inline(always)]
fn stream(src: &[u32], dst: &mut [u32]) {
    for (d, &s) in black_box(dst).iter_mut().zip(black_box(src)) {
        *d = s.wrapping_add(1);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The same loops compiled with AVX2 and FMA, for CPUs that have them.
    use super::*;
    #[target_feature(enable = "avx2,fma")]
    pub fn elementwise<T: Elem>(class: OpClass, x: &[T], z: &[T], y: &mut [T], lut: &[T], reps: usize) {
        super::elementwise(class, x, z, y, lut, reps, true)
    }
    #[target_feature(enable = "avx2,fma")]
    pub fn stream(src: &[u32], dst: &mut [u32]) {
        super::stream(src, dst)
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[allow(unreachable_code)]
    false
}

/// Elements per pass of the elementwise loops (three buffers stay in a 32 KiB L1 for f32).
const N: usize = 2048;

/// Operations per second for one class at one element type.
fn throughput<T: Elem>(class: OpClass, budget: Duration) -> f64 {
    let avx2 = has_avx2();
    let x: Vec<T> = (0..N).map(T::from_index).collect();
    let z: Vec<T> = (0..N).map(|i| T::from_index(i + 5)).collect();
    let mut y = vec![T::default(); N];
    let bits = std::mem::size_of::<T>() * 8;
    let lut: Vec<T> = if bits <= 16 { (0..1usize << bits).map(T::from_index).collect() } else { Vec::new() };
    let reps = 16;
    best_rate(budget, (reps * N) as u64, || {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { avx2::elementwise(class, &x, &z, &mut y, &lut, reps) };
            return;
        }
        elementwise(class, &x, &z, &mut y, &lut, reps, false);
    })
}

/// Bandwidth (bytes read plus bytes written per second) streaming a footprint of `bytes`.
fn bandwidth(bytes: usize, budget: Duration) -> f64 {
    let src: Vec<u32> = (0..bytes / 8).map(|i| i as u32).collect();
    let mut dst = vec![0u32; src.len()];
    let avx2 = has_avx2();
    let passes = (1 << 22) / bytes.max(1) + 1;
    best_rate(budget, (passes * src.len() * 8) as u64, || {
        for _ in 0..passes {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe { avx2::stream(&src, &mut dst) };
                continue;
            }
            stream(&src, &mut dst);
        }
    })
}

/// A chain of `k` MatMuls `[1,16] x [16,16]` as ONNX bytes.
fn matmul_chain(k: usize) -> Vec<u8> {
    let meta = ModelMeta { ir_version: 8, opset_imports: vec![(String::new(), 13)], ..ModelMeta::default() };
    let mut g = Graph::new(meta);
    let ty = TensorType::new(DType::F32, vec![1, 16]);
    let value = |name: String, kind| Value { name, ty: Some(ty.clone()), kind, ..Value::default() };
    let mut prev = g.add_value(value("x".into(), ValueKind::Input));
    g.inputs.push(prev);
    let w = Tensor::f32(vec![16, 16], (0..256).map(|i| if i % 17 == 0 { 1.0 } else { 0.0 }).collect());
    let w = g.add_const(
        "w",
        std::sync::Arc::new(w),
        crate::graph::ConstOrigin::Initializer { also_input: false, doc_string: String::new() },
    );
    for i in 0..k {
        let y = g.add_value(value(format!("y{i}"), ValueKind::Unset));
        let node = Node {
            name: format!("mm{i}"),
            op: Op::MatMul(MatMul),
            inputs: vec![Some(prev), Some(w)],
            outputs: vec![y],
            doc_string: String::new(),
        };
        g.add_node(node).expect("a fresh chain is well-formed");
        prev = y;
    }
    g.outputs.push(prev);
    crate::onnx::export_bytes(&g).expect("a fresh chain exports")
}

/// Seconds per run of a model.
fn run_time(bytes: &[u8], budget: Duration) -> Result<f64, String> {
    let types = std::collections::HashMap::new();
    let model = crate::tract::Runnable::new(bytes, None, &types).map_err(|e| e.to_string())?;
    let x = [Tensor::f32(vec![1, 16], vec![0.5; 16])];
    let mut err = None;
    let rate = best_rate(budget, 1, || {
        if let Err(e) = model.run(&x) {
            err = Some(e.to_string());
        }
    });
    err.map_or(Ok(1.0 / rate), Err)
}

/// CPU model, clock (Hz, where the OS says) and cache sizes (L1 data, L2) from Linux.
fn machine() -> (String, Option<f64>, Option<u64>, Option<u64>) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        cpuinfo.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string())
    };
    let model = field("model name").or_else(|| field("Hardware")).unwrap_or_else(|| std::env::consts::ARCH.into());
    let mhz = field("cpu MHz").and_then(|v| v.parse::<f64>().ok()).filter(|v| *v > 0.0);
    let mut sizes = [None, None];
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).map(|s| s.trim().to_string()).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size")) else { continue };
        let bytes = size.strip_suffix('K').and_then(|k| k.parse::<u64>().ok()).map(|k| k * 1024);
        match (level.as_str(), kind.as_str()) {
            ("1", "Data") => sizes[0] = bytes,
            ("2", _) => sizes[1] = bytes,
            _ => {}
        }
    }
    (model, mhz.map(|m| m * 1e6), sizes[0], sizes[1])
}

/// `v` to four significant digits (the measurements are not more precise than that).
fn sig4(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// Measures this machine. `progress` receives one line per step.
pub fn calibrate(opts: &Options, progress: &mut dyn FnMut(&str)) -> Result<Profile, String> {
    let budget = Duration::from_millis(if opts.quick { 3 } else { 150 });
    let (model, clock, l1_size, l2_size) = machine();
    let clock_hz = clock.unwrap_or(1e9);
    let avx2 = has_avx2();
    let wide = if avx2 { 2.0 } else { 1.0 };
    // 128-bit vectors (SSE2, NEON), 256-bit with AVX2.
    let simd = [4.0 * wide, 4.0 * wide, 8.0 * wide, 16.0 * wide];
    let mut rates = [[0.0; 7]; 4];
    for p in Precision::ALL {
        for c in OpClass::ALL {
            progress(&format!("throughput {} {}", p.key(), c.key()));
            let ops_per_s = match p {
                Precision::F32 => throughput::<f32>(c, budget),
                Precision::I32 => throughput::<i32>(c, budget),
                Precision::I16 => throughput::<i16>(c, budget),
                Precision::I8 => throughput::<i8>(c, budget),
            };
            rates[p as usize][c as usize] = sig4(ops_per_s / clock_hz / simd[p as usize]);
        }
    }
    let l1 = l1_size.unwrap_or(32 * 1024);
    let l2 = l2_size.unwrap_or(512 * 1024).max(l1 * 2);
    let dram_buffer = if opts.quick { 8 << 20 } else { 64 << 20 };
    progress("bandwidth L1");
    let l1_bw = bandwidth(l1 as usize / 2, budget);
    progress("bandwidth L2");
    let l2_bw = bandwidth(l2 as usize / 2, budget);
    progress("bandwidth DRAM");
    let dram_bw = bandwidth(dram_buffer, budget * 2);
    progress("per-kernel overhead (tract)");
    let (short, long) = (1, 9);
    let t_short = run_time(&matmul_chain(short), budget * 2)?;
    let t_long = run_time(&matmul_chain(long), budget * 2)?;
    let per_kernel = ((t_long - t_short) / (long - short) as f64).max(1e-8);
    let asic = super::load_target("asic45").map_err(|e| e.to_string())?;
    let cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    Ok(Profile {
        name: "host".into(),
        description: format!("this machine ({model}), single thread"),
        clock_hz,
        cores,
        threads: 1,
        multiplier_cycles: None,
        simd,
        throughput: rates,
        l1: Cache { size: l1, bandwidth: sig4(l1_bw) },
        l2: Cache { size: l2, bandwidth: sig4(l2_bw) },
        dram_bandwidth: sig4(dram_bw),
        kernel_overhead_cycles: sig4(per_kernel * clock_hz),
        energy: asic.energy,
        shift_add: super::ShiftAddForm::Kernel,
    })
}

/// The profile as TOML with a comment on every figure saying how it was obtained.
pub fn render(profile: &Profile, date: &str) -> String {
    let by = format!("measured by gos-opt calibrate on {date}");
    let comment = |path: &str| -> String {
        match path.split('.').next().unwrap_or("") {
            "clock_hz" => format!("{by} (read from /proc/cpuinfo 'cpu MHz'; 1 GHz nominal when absent)"),
            "cores" => format!("{by} (available parallelism)"),
            "threads" => "modelling choice: single-threaded kernels".into(),
            "simd" => format!("{by} (detected vector width: AVX2 256-bit, else 128-bit)"),
            "throughput" => format!("{by} (best of timed vectorized loops)"),
            "memory" if path.ends_with("size") => format!("{by} (read from /sys/devices/system/cpu/cpu0/cache)"),
            "memory" => format!("{by} (streaming: bytes read + written per second)"),
            "overhead" => format!("{by} (tract: 9 vs 1 chained tiny MatMuls)"),
            "shift_add" => "modelling choice: a processor runs shift-add as the back end's kernel".into(),
            _ => "estimate: Horowitz 45 nm (ISSCC 2014) as in asic45, a proxy; calibrate cannot measure energy".into(),
        }
    };
    format!(
        "# host — this machine, written by `gos-opt calibrate` on {date}.\n# Load it with --target-file; \
         re-run calibrate to refresh it.\n{}",
        profile.to_toml(comment)
    )
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0)
            as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        let d = today();
        assert_eq!(d.len(), 10, "{d}");
        assert!(d.starts_with("20") && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-');
    }

    #[test]
    fn the_vectorized_loops_compute_what_they_claim() {
        let (x, z) = (vec![6i16; 8], vec![3i16; 8]);
        let mut y = vec![0i16; 8];
        elementwise(OpClass::Divide, &x, &z, &mut y, &[], 2, false);
        assert_eq!(y, vec![2; 8]);
        elementwise(OpClass::Fma, &x, &z, &mut y, &[], 2, false);
        assert_eq!(y, vec![38; 8]);
        let (x, z) = (vec![1.5f32; 8], vec![2.0f32; 8]);
        let mut y = vec![1.0f32; 8];
        elementwise(OpClass::Fma, &x, &z, &mut y, &[], 1, true);
        assert_eq!(y, vec![4.0; 8]);
        assert!((tanh_rational(0.5) - 0.5f32.tanh()).abs() < 1e-5);
    }

    #[test]
    fn the_rendered_profile_parses_with_a_comment_per_figure() {
        let p = super::super::load_target("rpi4").unwrap();
        let text = render(&p, "2026-01-02");
        assert_eq!(Profile::parse(&text, "host.toml").unwrap(), p);
        assert!(text.contains("bandwidth = 2.4e10 # measured by gos-opt calibrate on 2026-01-02"), "{text}");
    }
}
