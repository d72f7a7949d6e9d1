//! The kernel library of generated modules: generic Rust functions whose const parameters (shapes,
//! strides, kernel sizes) are fixed at each call, so the compiler specializes every layer with
//! constant loop bounds it can unroll and vectorize. A module carries only the kernels and math
//! functions its model uses.
//!
//! The kernels are ordinary `no_std` Rust in this directory, one file per family. The writer
//! takes items from them by name ([`sources`]); this crate compiles them as modules under test
//! (`math` at the root, the others below it so that they see the items they call, as the
//! generated module's single scope does), so that rustfmt, clippy and unit tests see them.

#[cfg(test)]
#[allow(dead_code)] // the generated modules call every item; the unit tests here call some
mod math;

const CONV: &str = include_str!("conv.rs");
const CONV_NEON: &str = include_str!("conv_neon.rs");
const CONV_PX: &str = include_str!("conv_px.rs");
const CONV_AVX512: &str = include_str!("conv_avx512.rs");
const DW: &str = include_str!("dw.rs");
const DW_AVX512: &str = include_str!("dw_avx512.rs");
const ELEMENTWISE: &str = include_str!("elementwise.rs");
const LAYOUT: &str = include_str!("layout.rs");
const LINALG: &str = include_str!("linalg.rs");
const MATH: &str = include_str!("math.rs");
const MM_AVX2: &str = include_str!("mm_avx2.rs");
const MM_NEON: &str = include_str!("mm_neon.rs");
const MM_AVX512: &str = include_str!("mm_avx512.rs");
const NORM: &str = include_str!("norm.rs");
const QADD: &str = include_str!("qadd.rs");
const QARM: &str = include_str!("qarm.rs");
const QCONV1: &str = include_str!("qconv1.rs");
const QDW: &str = include_str!("qdw.rs");
const QDW_AVX2: &str = include_str!("qdw_avx2.rs");
const QDW_AVX512: &str = include_str!("qdw_avx512.rs");
const QDW_PAIRS: &str = include_str!("qdw_pairs.rs");
const QPACK: &str = include_str!("qpack.rs");
const QPACK_IN: &str = include_str!("qpack_in.rs");
const QPACK_NEON: &str = include_str!("qpack_neon.rs");
const QPW: &str = include_str!("qpw.rs");
const QPW_AVX512: &str = include_str!("qpw_avx512.rs");
const QUANT: &str = include_str!("quant.rs");
const QWINO: &str = include_str!("qwino.rs");
const QWINO_X86: &str = include_str!("qwino_x86.rs");
const SHIFTADD: &str = include_str!("shiftadd.rs");
const SIMD: &str = include_str!("simd.rs");
const SOFTMAX_Q8: &str = include_str!("softmax_q8.rs");
const WINOGRAD: &str = include_str!("winograd.rs");
const WINO_AVX512: &str = include_str!("wino_avx512.rs");
const WINO4: &str = include_str!("wino4.rs");
const WINO4_X86: &str = include_str!("wino4_x86.rs");

/// Every item of the library: its name, the source file holding it, and the items it calls.
/// Items are emitted in this order.
const LIBRARY: &[(&str, &str, &[&str])] = &[
    ("k_mm", LINALG, &["k_mm_portable", "k_mm_avx512", "x86_avx512f", "k_mm_avx2", "x86_avx2_fma", "k_mm_neon"]),
    ("k_mm_portable", LINALG, &["k_mm_rows"]),
    ("k_mm_rows", LINALG, &["m_clamp"]),
    ("k_mm_avx512", MM_AVX512, &["k_mm_avx512_tile"]),
    ("k_mm_avx512_tile", MM_AVX512, &[]),
    ("k_mm_avx2", MM_AVX2, &["k_mm_avx2_tile", "k_mm_avx2_dots"]),
    ("k_mm_avx2_dots", MM_AVX2, &["m_clamp"]),
    ("k_mm_avx2_tile", MM_AVX2, &[]),
    ("k_mm_neon", MM_NEON, &["k_mm_neon_tile"]),
    ("k_mm_neon_tile", MM_NEON, &[]),
    ("k_bmm", LINALG, &["k_mm"]),
    (
        "k_wino",
        WINOGRAD,
        &[
            "k_wino_input",
            "k_wino_products",
            "k_wino_output",
            "k_wino4_in_avx512",
            "k_wino4_products_avx512",
            "k_wino4_out_avx512",
            "x86_avx512f",
        ],
    ),
    (
        "k_wino_output",
        WINOGRAD,
        &[
            "k_wino_out",
            "k_wino4_out",
            "k_wino_out_avx512",
            "k_wino4_out_avx512",
            "k_wino4_out_avx2",
            "x86_avx512f",
            "x86_avx2_fma",
            "avx2_or_portable",
        ],
    ),
    ("k_wino_products", WINOGRAD, &["k_mm", "k_wino_products_avx2", "k_wino_tile", "x86_avx512f", "m_wino_vs"]),
    ("k_wino_products_avx2", WINOGRAD, &["m_wino_vs"]),
    ("m_wino_vs", WINOGRAD, &[]),
    ("k_wino_tile", WINOGRAD, &[]),
    (
        "k_wino_input",
        WINOGRAD,
        &[
            "k_wino_in",
            "k_wino_in_avx512",
            "x86_avx512f",
            "k_wino_in_avx2",
            "k_wino4_in",
            "x86_avx2_fma",
            "avx2_or_portable",
            "m_wino_vs",
        ],
    ),
    ("k_wino_in_avx512", WINO_AVX512, &["m_wino_vs"]),
    ("k_wino_in_avx2", WINOGRAD, &["m_wino_vs"]),
    ("k_wino_in", WINOGRAD, &["m_wino_vs"]),
    ("k_wino_out", WINOGRAD, &["m_clamp"]),
    ("k_wino_out_avx512", WINO_AVX512, &["k_wino_crop"]),
    ("k_wino_crop", WINO_AVX512, &[]),
    ("k_wino4_in", WINO4, &["m_bt6", "m_wino_vs"]),
    ("k_wino4_out", WINO4, &["m_at6_rows", "m_clamp"]),
    ("m_bt6", WINO4, &["m_bt6_by"]),
    ("m_bt6_by", WINO4, &[]),
    ("m_at6_by", WINO4, &[]),
    ("m_at6_rows", WINO4, &[]),
    ("k_wino4_in_avx512", WINO4_X86, &["m_bt6_avx512"]),
    ("k_wino4_out_avx512", WINO4_X86, &["m_at6_avx512", "k_wino_crop"]),
    ("k_wino4_products_avx512", WINO4_X86, &["k_wino4_tile"]),
    ("k_wino4_tile", WINO4_X86, &[]),
    ("m_bt6_avx512", WINO4_X86, &["m_bt6_by"]),
    ("m_at6_avx512", WINO4_X86, &["m_at6_by"]),
    ("k_wino4_out_avx2", WINO4_X86, &["m_at6_avx2", "k_wino_crop"]),
    ("m_at6_avx2", WINO4_X86, &["m_at6_by"]),
    ("k_pad2d", CONV, &[]),
    (
        "k_conv",
        CONV,
        &[
            "k_conv_tiles",
            "k_conv_px_avx512",
            "x86_avx512f",
            "k_conv_avx2",
            "k_conv_px_avx2",
            "x86_avx2_fma",
            "avx2_or_portable",
            "m_clamp",
            "k_conv_neon",
        ],
    ),
    ("k_conv_neon", CONV_NEON, &["k_conv_neon_tile"]),
    ("k_conv_neon_tile", CONV_NEON, &[]),
    ("k_conv_px_avx512", CONV_AVX512, &["k_conv_px512_tile"]),
    ("k_conv_px512_tile", CONV_AVX512, &[]),
    ("k_conv_px_avx2", CONV_PX, &["k_conv_px_tile"]),
    ("k_conv_px_tile", CONV_PX, &[]),
    ("k_conv_avx2", CONV, &["k_conv_avx2_tile"]),
    ("k_conv_avx2_tile", CONV, &[]),
    ("k_conv_tiles", CONV, &[]),
    ("k_dw", DW, &["k_dw_planes", "avx2_or_portable", "k_dw_avx512", "x86_avx512f"]),
    ("k_dw_avx512", DW_AVX512, &["k_dw512_sums"]),
    ("k_dw512_sums", DW_AVX512, &["k_dw512_flat", "k_dw512_rows"]),
    ("k_dw512_lanes", DW_AVX512, &[]),
    ("k_dw512_flat", DW_AVX512, &["k_dw512_lanes", "k_dw512_flat_step"]),
    ("k_dw512_flat_step", DW_AVX512, &["k_dw512_lanes"]),
    ("k_dw512_rows", DW_AVX512, &["k_dw512_lanes"]),
    ("k_dw_planes", DW, &["k_dw_place", "k_dw_rows", "k_dw_flat"]),
    ("k_dw_phase", DW, &[]),
    ("k_dw_place", DW, &["k_dw_phase"]),
    ("k_dw_rows", DW, &["k_dw_phase", "m_clamp"]),
    ("k_dw_flat", DW, &["m_clamp"]),
    ("k_map", ELEMENTWISE, &[]),
    ("k_map_ip", ELEMENTWISE, &[]),
    ("k_bin", ELEMENTWISE, &["m_clamp"]),
    ("k_bin_ip", ELEMENTWISE, &["m_clamp"]),
    ("k_softmax", NORM, &["m_exp"]),
    ("k_softmax2", NORM, &["m_exp2_poly"]),
    ("m_exp2_poly", NORM, &[]),
    ("k_softmax_q8", SOFTMAX_Q8, &["QIn", "m_exp"]),
    ("k_layernorm", NORM, &["m_sqrt"]),
    ("k_affine", NORM, &["m_clamp"]),
    ("k_affine_ip", NORM, &["m_clamp"]),
    ("k_reduce", NORM, &[]),
    ("k_pool", NORM, &["k_pool_global"]),
    ("k_pool_global", NORM, &["k_pool_global_avx2", "x86_avx2_fma"]),
    ("k_pool_global_avx2", NORM, &[]),
    ("k_quant", QUANT, &["m_rte", "m_clamp"]),
    ("k_quant_ip", QUANT, &["m_rte", "m_clamp"]),
    ("QIn", QUANT, &[]),
    ("Requant", QUANT, &[]),
    ("QOut", QUANT, &["Requant", "m_quantize", "m_clamp", "m_byte", "m_levels"]),
    ("m_byte", QUANT, &[]),
    ("m_quantize", QUANT, &["Requant", "m_clamp"]),
    ("m_requant", QUANT, &["QOut", "Requant"]),
    ("m_requant8", QUANT, &["QOut", "Requant", "m_requant8_of", "m_scaled8", "m_levels8"]),
    ("Requant8", QUANT, &[]),
    ("m_requant8_of", QUANT, &["Requant", "Requant8", "m_scaled_bounds"]),
    ("m_scaled8", QUANT, &[]),
    ("m_levels8", QUANT, &["Requant8"]),
    ("m_pack32", QUANT, &["QOut"]),
    ("m_requant16", QUANT, &["QOut", "Requant", "m_levels16", "m_put16"]),
    ("m_levels16", QUANT, &["QOut", "Requant", "m_scaled_bounds"]),
    ("m_put16", QUANT, &["QOut", "Requant"]),
    ("m_scaled_bounds", QUANT, &["Requant"]),
    ("m_levels", QUANT, &["Requant"]),
    ("m_store", QUANT, &["m_requant", "m_steps", "Requant"]),
    ("m_steps", QUANT, &["QOut"]),
    ("k_quant_to", QUANT, &["QOut", "k_quant_to_avx2", "x86_avx2_fma"]),
    ("k_quant_to_avx2", QUANT, &["QOut", "Requant", "m_requant8_of", "m_levels8", "m_pack32"]),
    ("k_dequant", QUANT, &["QIn", "avx2_or_portable"]),
    ("k_qadd", QADD, &["QIn", "QOut", "Requant", "k_qadd_avx2", "x86_avx2_fma", "avx2_or_portable"]),
    ("k_qadd_avx2", QADD, &["QIn", "QOut", "Requant", "m_requant8_of", "m_levels8", "m_pack32"]),
    ("k_qmaxpool", QUANT, &["k_qmaxpool_pairs"]),
    ("k_qmaxpool_pairs", QUANT, &[]),
    ("k_qmm", LINALG, &["QIn", "QOut", "k_qmm_rows", "k_qmm_rows_f32", "avx2_or_portable", "k_qmm_dsp"]),
    ("k_qmm_rows_f32", LINALG, &["QIn", "QOut"]),
    ("k_qmm_dsp", LINALG, &["QIn", "QOut", "m_requant", "k_qmm_dsp_tile"]),
    ("k_qmm_dsp_tile", LINALG, &["QIn", "arm_smlad", "arm_sxtb16"]),
    ("k_qmm_rows", LINALG, &["QIn", "QOut", "m_store"]),
    ("k_qmmf", LINALG, &["QIn", "QOut", "k_qmmf_rows", "avx2_or_portable"]),
    ("k_qmmf_rows", LINALG, &["QIn", "QOut"]),
    ("k_qconv", CONV, &["QIn", "QOut", "m_store", "k_conv_tiles", "avx2_or_portable", "k_qconv_dsp"]),
    ("k_qconv_dsp", QARM, &["QIn", "QOut", "m_store", "k_qconv_dsp_tile"]),
    ("k_qconv_dsp_tile", QARM, &["arm_smlad", "arm_sxtb16"]),
    (
        "k_qdw",
        QDW,
        &[
            "QIn",
            "QOut",
            "k_qdw_portable",
            "k_qdw_pairs",
            "k_qdw_scratch",
            "k_qdw_small",
            "k_qdw_avx2",
            "k_qdw_span",
            "k_qdw_avx512",
            "k_qdw512_floats",
            "k_qdw_pad",
            "x86_avx2_fma",
            "x86_avx512f",
            "avx2_or_portable",
        ],
    ),
    ("k_qdw_place", QDW, &[]),
    ("k_qdw_pad", QDW, &["k_qdw_place"]),
    ("k_qdw_scratch", QDW_PAIRS, &[]),
    ("k_qdw_pairs", QDW_PAIRS, &["QIn", "QOut", "m_requant8", "k_qdw_place", "k_qdw_scratch"]),
    ("k_qdw_span", QDW_AVX2, &[]),
    ("k_qdw_small", QDW_AVX2, &["QIn", "QOut", "m_requant"]),
    ("k_qdw_avx2", QDW_AVX2, &["QIn", "QOut", "m_requant", "k_qdw_load"]),
    ("k_qdw_load", QDW_AVX2, &[]),
    ("k_qdw512_floats", QDW_AVX512, &[]),
    (
        "k_qdw_avx512",
        QDW_AVX512,
        &["QIn", "QOut", "m_levels16", "k_dw512_sums", "k_qdw512_floats", "k_qdw512_widen", "k_qdw512_put"],
    ),
    ("k_qdw512_widen", QDW_AVX512, &["QIn"]),
    ("k_qdw512_put", QDW_AVX512, &["QOut", "Requant", "m_put16"]),
    ("k_qdw_portable", QDW, &["QIn", "QOut", "m_store", "k_qdw_place"]),
    ("k_widen_pad", CONV, &["QIn"]),
    ("k_qconv1", QCONV1, &["QIn", "QOut", "k_qconv1_portable", "k_qconv1_avx2", "x86_avx2_fma", "avx2_or_portable"]),
    ("k_qconv1_portable", QCONV1, &["QIn", "QOut", "m_requant"]),
    ("k_qconv1_avx2", QCONV1, &["k_qconv1_avx2_group"]),
    ("k_qconv1_avx2_group", QCONV1, &["QIn", "QOut", "m_requant8", "k_qconv1_avx2_tile"]),
    ("k_qconv1_avx2_tile", QCONV1, &["QIn"]),
    ("k_qpack", QPACK_IN, &["k_qpack_as", "k_qconv4_wide"]),
    ("k_qpack_as", QPACK_IN, &["QIn", "k_qpack_row"]),
    ("k_qpack_row", QPACK_IN, &["QIn"]),
    ("k_qconv4_wide", QPACK_IN, &["x86_vnni", "x86_avx2_fma"]),
    (
        "k_qconv4",
        QPACK,
        &[
            "QOut",
            "m_requant",
            "k_qconv4_portable",
            "k_qconv4_vnni",
            "k_qconv4_px512",
            "x86_vnni",
            "k_qconv4_avx2",
            "k_qconv4_wide",
            "k_qconv4_px",
            "avx2_or_portable",
            "k_qconv4_neon",
        ],
    ),
    ("k_qconv4_neon", QPACK_NEON, &["QOut", "k_qconv4_store", "k_qconv4_neon_tile", "k_qconv4_sdot_init"]),
    ("k_qconv4_neon_tile", QPACK_NEON, &["k_qconv4_sdot_tap", "k_qconv4_smlal_tap"]),
    ("k_qconv4_sdot_init", QPACK_NEON, &["a64_sdot"]),
    ("a64_sdot", QPACK_NEON, &[]),
    ("k_qconv4_sdot_tap", QPACK_NEON, &["a64_sdot"]),
    ("k_qconv4_smlal_tap", QPACK_NEON, &[]),
    (
        "k_qconv4_px",
        QPW,
        &["QOut", "m_requant8", "m_requant8_of", "m_scaled8", "m_levels8", "m_pack32", "k_qconv4_px_tile"],
    ),
    ("k_qconv4_px_tile", QPW, &[]),
    ("k_qconv4_px512", QPW_AVX512, &["QOut", "m_requant16", "k_qconv4_px512_tile"]),
    ("k_qconv4_px512_tile", QPW_AVX512, &[]),
    ("k_qconv4_portable", QPACK, &["QOut", "m_requant"]),
    ("k_qconv4_store", QPACK, &["QOut", "m_requant"]),
    ("k_qconv4_vnni", QPACK, &["QOut", "k_qconv4_store", "k_qconv4_vnni_tile"]),
    ("k_qconv4_avx2", QPACK, &["QOut", "k_qconv4_store8", "k_qconv4_avx2_tile"]),
    ("k_qconv4_store8", QPACK, &["QOut", "k_qconv4_store", "m_requant8"]),
    ("k_qconv4_avx2_tile", QPACK, &[]),
    ("k_qconv4_vnni_tile", QPACK, &[]),
    (
        "k_qwino",
        QWINO,
        &["QIn", "QOut", "Requant", "k_qwino_input", "k_qwino_products", "k_qwino_out", "avx2_or_portable"],
    ),
    ("k_qwino_input", QWINO, &["QIn", "k_qwino_in", "k_qwino_in_avx2", "x86_avx2_fma", "avx2_or_portable"]),
    ("k_qwino_in", QWINO, &["QIn"]),
    ("k_qwino_in_avx2", QWINO, &["QIn"]),
    (
        "k_qwino_products",
        QWINO,
        &["k_qwino_products_vnni", "x86_vnni", "k_qwino_products_avx2", "k_qwino_mm", "x86_avx2_fma"],
    ),
    ("k_qwino_products_vnni", QWINO_X86, &["k_qwino_panels", "k_qwino_tile512"]),
    ("k_qwino_tile512", QWINO_X86, &[]),
    ("k_qwino_mm", QWINO, &[]),
    ("k_qwino_products_avx2", QWINO, &["k_qwino_panels", "k_qwino_tile"]),
    ("k_qwino_panels", QWINO, &[]),
    ("k_qwino_tile", QWINO, &[]),
    ("k_qwino_out", QWINO, &["QOut", "Requant", "k_qwino_rows", "k_qwino_rows_avx2", "x86_avx2_fma"]),
    ("k_qwino_rows", QWINO, &["QOut", "Requant", "m_requant"]),
    ("k_qwino_rows_avx2", QWINO_X86, &["QOut", "Requant", "m_requant8"]),
    ("SaWord", SHIFTADD, &[]),
    ("k_sa_valid", SHIFTADD, &["SaWord"]),
    ("k_sa_valid_shared", SHIFTADD, &["SaWord", "k_sa_valid"]),
    ("k_sa_terms", SHIFTADD, &["SaWord"]),
    ("k_sa_run", SHIFTADD, &["SaWord", "k_sa_terms"]),
    ("k_sa_share", SHIFTADD, &["SaWord", "k_sa_pairs"]),
    ("k_sa_pairs", SHIFTADD, &["SaWord"]),
    ("k_sa_pixel", SHIFTADD, &["SaWord", "k_sa_share", "k_sa_run"]),
    ("k_saconv", SHIFTADD, &["QOut", "m_store", "SaWord", "k_sa_valid", "k_sa_run"]),
    ("k_samm", SHIFTADD, &["QOut", "m_store", "SaWord", "k_sa_valid", "k_sa_run"]),
    ("k_saconv_shared", SHIFTADD, &["QOut", "m_store", "SaWord", "k_sa_valid_shared", "k_sa_pixel"]),
    ("k_samm_shared", SHIFTADD, &["QOut", "m_store", "SaWord", "k_sa_valid_shared", "k_sa_pixel"]),
    ("k_copy", LAYOUT, &[]),
    ("k_fill", LAYOUT, &[]),
    ("m_rte", MATH, &[]),
    ("m_clamp", MATH, &[]),
    ("m_pow2i", MATH, &[]),
    ("m_exp", MATH, &["m_rte", "m_pow2i"]),
    ("m_ln", MATH, &[]),
    ("m_sqrt", MATH, &[]),
    ("m_erf", MATH, &["m_exp"]),
    ("m_tanh", MATH, &["m_exp"]),
    ("m_pow", MATH, &["m_exp", "m_ln", "m_rte"]),
    ("x86_avx2_fma", SIMD, &["x86_cached"]),
    ("x86_avx512f", SIMD, &["x86_cached", "x86_avx512"]),
    ("x86_vnni", SIMD, &["x86_cached", "x86_avx512"]),
    ("x86_avx512", SIMD, &[]),
    ("x86_cached", SIMD, &[]),
    ("avx2_or_portable", SIMD, &["avx2_call", "x86_avx2_fma"]),
    ("avx2_call", SIMD, &[]),
    ("arm_sxtb16", SIMD, &[]),
    ("arm_smlad", SIMD, &[]),
];

/// The items `names` and everything they call, each once, in library order.
pub fn sources(names: &std::collections::BTreeSet<&'static str>) -> Vec<&'static str> {
    let mut wanted: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    loop {
        let before = wanted.len();
        for (name, _, deps) in LIBRARY {
            if wanted.contains(name) {
                wanted.extend(deps.iter().copied());
            }
        }
        if wanted.len() == before {
            break;
        }
    }
    LIBRARY.iter().filter(|(name, _, _)| wanted.contains(name)).filter_map(|(name, src, _)| item(src, name)).collect()
}

/// How the lines that start an item begin.
const ITEM_STARTS: [&str; 4] = ["fn ", "unsafe fn ", "struct ", "trait "];

/// The text of the top-level item `name` in `src`: a `fn`, `struct` or `trait` with the doc
/// comments and attributes above it (for a trait, with the `impl`s of it that follow), up to
/// its closing `}` at the start of a line.
fn item(src: &'static str, name: &str) -> Option<&'static str> {
    let starts = |line: &str| {
        ITEM_STARTS.iter().any(|kw| {
            line.strip_prefix(kw)
                .is_some_and(|rest| rest.starts_with(name) && !ident(rest[name.len()..].chars().next()))
        })
    };
    let lines = line_spans(src);
    let at = lines.iter().position(|&(a, b)| starts(&src[a..b]))?;
    let mut first = at;
    while first > 0 && is_preamble(&src[lines[first - 1].0..lines[first - 1].1]) {
        first -= 1;
    }
    let mut last = close(src, &lines, at)?;
    // A trait's implementations follow it.
    let implements = format!("impl {name} for ");
    loop {
        let mut next = last + 1;
        while next < lines.len() && src[lines[next].0..lines[next].1].is_empty() {
            next += 1;
        }
        let mut head = next;
        while head < lines.len() && is_preamble(&src[lines[head].0..lines[head].1]) {
            head += 1;
        }
        match lines.get(head) {
            Some(&(a, b)) if src[a..b].starts_with(&implements) => last = close(src, &lines, head)?,
            _ => break,
        }
    }
    Some(&src[lines[first].0..lines[last].1])
}

/// Whether `c` continues an identifier.
fn ident(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// A line that belongs to the item below it: a doc comment or an attribute.
fn is_preamble(line: &str) -> bool {
    line.starts_with("///") || line.starts_with("#[")
}

/// The line of the `}` closing the item that starts on line `at`.
fn close(src: &str, lines: &[(usize, usize)], at: usize) -> Option<usize> {
    (at..lines.len()).find(|&i| &src[lines[i].0..lines[i].1] == "}")
}

/// Start and end (without the newline) of every line.
fn line_spans(src: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 0;
    for line in src.split('\n') {
        spans.push((at, at + line.len()));
        at += line.len() + 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::{item, ITEM_STARTS, LIBRARY};

    #[test]
    fn every_item_and_dependency_is_in_the_library() {
        for (name, src, deps) in LIBRARY {
            assert!(item(src, name).is_some(), "{name} is not defined by its source");
            for d in *deps {
                assert!(LIBRARY.iter().any(|(n, _, _)| n == d), "{name} needs unknown {d}");
            }
        }
    }

    #[test]
    fn every_item_of_the_sources_is_in_the_library() {
        for src in [
            super::CONV,
            super::CONV_NEON,
            super::CONV_PX,
            super::CONV_AVX512,
            super::DW,
            super::DW_AVX512,
            super::ELEMENTWISE,
            super::LAYOUT,
            super::LINALG,
            super::MATH,
            super::MM_AVX2,
            super::MM_NEON,
            super::MM_AVX512,
            super::NORM,
            super::QADD,
            super::QARM,
            super::QCONV1,
            super::QDW,
            super::QDW_AVX2,
            super::QDW_AVX512,
            super::QDW_PAIRS,
            super::QPACK,
            super::QPACK_IN,
            super::QPACK_NEON,
            super::QPW,
            super::QPW_AVX512,
            super::QUANT,
            super::QWINO,
            super::QWINO_X86,
            super::SHIFTADD,
            super::SIMD,
            super::SOFTMAX_Q8,
            super::WINOGRAD,
            super::WINO_AVX512,
            super::WINO4,
            super::WINO4_X86,
        ] {
            for line in src.lines() {
                let name = ITEM_STARTS.iter().find_map(|kw| line.strip_prefix(kw));
                let Some(name) = name.map(|n| n.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or(n))
                else {
                    continue;
                };
                assert!(
                    LIBRARY.iter().any(|(n, s, _)| *n == name && std::ptr::eq(*s, src)),
                    "{name} is not in the library"
                );
            }
        }
    }

    #[test]
    fn an_item_comes_with_its_docs_and_a_trait_with_its_impls() {
        let mm = item(super::LINALG, "k_mm").expect("k_mm");
        assert!(mm.starts_with("/// `y[M][N] = a[M][K]") && mm.ends_with('}') && !mm.contains("fn k_mm_rows"));
        let qin = item(super::QUANT, "QIn").expect("QIn");
        assert!(qin.contains("trait QIn") && qin.contains("impl QIn for i16") && !qin.contains("Requant"));
    }
}
