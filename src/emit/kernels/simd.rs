// Run-time dispatch of the explicit-SIMD kernels: which instruction sets the x86-64 CPU running
// the module offers (and its OS saves the registers of), read once with `cpuid` and `xgetbv`
// through `core::arch` and cached, so that a module built for baseline x86-64 takes the AVX2
// path where the CPU has it. Other targets compile none of it and run the portable kernels.
// (`include!`d by the unit tests into the scope of `math.rs`, the root of the kernels' modules.)

/// Whether the CPU has AVX2 and FMA and the OS saves the YMM registers: CPUID leaf 1 (FMA,
/// OSXSAVE, AVX), leaf 7 (AVX2), and XCR0's SSE and AVX state bits. Checked once, then cached;
/// a build with both features enabled skips the check.
#[cfg(target_arch = "x86_64")]
fn x86_avx2_fma() -> bool {
    use core::sync::atomic::AtomicU8;
    static STATE: AtomicU8 = AtomicU8::new(0);
    if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
        return true;
    }
    x86_cached(&STATE, || {
        use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
        // SAFETY: every x86-64 CPU has CPUID; XGETBV runs only when OSXSAVE says the OS enabled it.
        unsafe {
            let leaf1 = __cpuid(1);
            let bit = |reg: u32, b: u32| reg >> b & 1 == 1;
            let (fma, osxsave, avx) = (bit(leaf1.ecx, 12), bit(leaf1.ecx, 27), bit(leaf1.ecx, 28));
            let avx2 = __cpuid(0).eax >= 7 && bit(__cpuid_count(7, 0).ebx, 5);
            fma && osxsave && avx && avx2 && _xgetbv(0) & 6 == 6
        }
    })
}

/// Whether the CPU has AVX512F and the OS saves the opmask and ZMM registers ([`x86_avx512`]).
/// Checked once, then cached; a build with the feature enabled skips the check.
#[cfg(target_arch = "x86_64")]
fn x86_avx512f() -> bool {
    use core::sync::atomic::AtomicU8;
    static STATE: AtomicU8 = AtomicU8::new(0);
    if cfg!(target_feature = "avx512f") {
        return true;
    }
    // Leaf 7 EBX bit 16: AVX512F.
    x86_cached(&STATE, || x86_avx512(1 << 16, 0))
}

/// Whether CPUID leaf 7 (subleaf 0) sets every bit of `ebx` in EBX and of `ecx` in ECX, and the
/// OS saves the registers AVX-512 code uses: leaf 1's OSXSAVE, then XCR0's bits 1, 2 (SSE,
/// AVX), 5, 6 and 7 (opmask, ZMM0-15 upper halves, ZMM16-31).
#[cfg(target_arch = "x86_64")]
fn x86_avx512(ebx: u32, ecx: u32) -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    // SAFETY: every x86-64 CPU has CPUID; XGETBV runs only when OSXSAVE says the OS enabled it.
    unsafe {
        let osxsave = __cpuid(1).ecx >> 27 & 1 == 1;
        let leaf7 = if __cpuid(0).eax >= 7 { Some(__cpuid_count(7, 0)) } else { None };
        let has = leaf7.is_some_and(|l| l.ebx & ebx == ebx && l.ecx & ecx == ecx);
        osxsave && has && _xgetbv(0) & 0xe6 == 0xe6
    }
}

/// `check()`'s answer, computed once and cached in `state` (0: not checked yet, 1: no, 2: yes).
#[cfg(target_arch = "x86_64")]
fn x86_cached(state: &core::sync::atomic::AtomicU8, check: impl FnOnce() -> bool) -> bool {
    use core::sync::atomic::Ordering;
    match state.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = check();
            state.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

/// Whether the CPU has AVX512F, AVX512BW and AVX512-VNNI and the OS saves the opmask and ZMM
/// registers ([`x86_avx512`]). Checked once, then cached; a build with the features enabled
/// skips the check.
#[cfg(target_arch = "x86_64")]
fn x86_vnni() -> bool {
    use core::sync::atomic::AtomicU8;
    static STATE: AtomicU8 = AtomicU8::new(0);
    if cfg!(all(target_feature = "avx512f", target_feature = "avx512bw", target_feature = "avx512vnni")) {
        return true;
    }
    // Leaf 7 EBX bits 16 and 30: AVX512F, AVX512BW; ECX bit 11: AVX512-VNNI.
    x86_cached(&STATE, || x86_avx512(1 << 16 | 1 << 30, 1 << 11))
}

/// Runs `f`, compiled for AVX2 and FMA where the x86-64 CPU has them (checked at run time): the
/// compiler vectorizes the loops inlined into `f` with eight-lane registers. It contracts no
/// product and sum into an FMA, so the results are the portable code's, bit for bit. Pass the
/// closure marked `#[inline(always)]`: a large closure is otherwise compiled on its own, for
/// the baseline CPU, and only called from the AVX2 function (the plain build's depthwise
/// convolutions ran in SSE registers, 2.5× slower than the native build's).
#[inline(always)]
fn avx2_or_portable(f: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    if x86_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA.
        unsafe { avx2_call(f) };
        return;
    }
    f()
}

/// Calls `f` from a function compiled for AVX2 and FMA, into which it is inlined.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_call(f: impl FnOnce()) {
    f()
}

// 32-bit Arm with the DSP extension (Cortex-M4/M7 with FPU: the `eabihf` bare-metal targets;
// `target_feature = "dsp"` is not visible to `cfg` on stable Rust). Each wrapper is one
// instruction that the compiler schedules freely (`pure`, `nomem`).

/// SXTB16: bytes 0 and 2 of `x` sign-extended into two 16-bit lanes (`ROR8`: bytes 1 and 3).
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
#[inline(always)]
fn arm_sxtb16<const ROR8: bool>(x: u32) -> u32 {
    let r: u32;
    // SAFETY: SXTB16 only computes a register from a register.
    unsafe {
        if ROR8 {
            core::arch::asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack));
        } else {
            core::arch::asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack));
        }
    }
    r
}

/// SMLAD: `acc + a.lo · b.lo + a.hi · b.hi` on signed 16-bit lanes, two multiply-accumulates in
/// one single-cycle instruction.
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
#[inline(always)]
fn arm_smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: SMLAD only computes a register from registers.
    unsafe {
        core::arch::asm!(
            "smlad {r}, {a}, {b}, {acc}",
            r = lateout(reg) r,
            a = in(reg) a,
            b = in(reg) b,
            acc = in(reg) acc,
            options(pure, nomem, nostack)
        );
    }
    r
}
