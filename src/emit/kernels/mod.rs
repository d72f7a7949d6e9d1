//! The kernel library of generated modules: generic Rust functions whose const parameters (shapes,
//! strides, kernel sizes) are fixed at each call, so the compiler specializes every layer with
//! constant loop bounds it can unroll and vectorize. A module carries only the kernels and math
//! functions its model uses.

mod elementwise;
mod layout;
mod linalg;
mod math;
mod norm;
mod quant;

/// Every kernel and math function: name, source, and the names it calls.
const LIBRARY: &[(&str, &str, &[&str])] = &[
    ("k_mm", linalg::MM, &[]),
    ("k_bmm", linalg::BMM, &["k_mm"]),
    ("k_pad2d", linalg::PAD2D, &[]),
    ("k_conv", linalg::CONV, &[]),
    ("k_dw", linalg::DW, &[]),
    ("k_map", elementwise::MAP, &[]),
    ("k_map_ip", elementwise::MAP_IP, &[]),
    ("k_bin", elementwise::BIN, &[]),
    ("k_bin_ip", elementwise::BIN_IP, &[]),
    ("k_softmax", norm::SOFTMAX, &["m_exp"]),
    ("k_layernorm", norm::LAYERNORM, &["m_sqrt"]),
    ("k_affine", norm::AFFINE, &[]),
    ("k_affine_ip", norm::AFFINE_IP, &[]),
    ("k_reduce", norm::REDUCE, &[]),
    ("k_pool", norm::POOL, &[]),
    ("k_quant", quant::QUANT, &["m_rte"]),
    ("k_quant_ip", quant::QUANT_IP, &["m_rte"]),
    ("QIn", quant::Q_IN, &[]),
    ("QOut", quant::Q_OUT, &[]),
    ("k_quant_to", quant::QUANT_TO, &["QOut"]),
    ("k_dequant", quant::DEQUANT, &["QIn"]),
    ("k_qmm", quant::QMM, &["QIn", "QOut"]),
    ("k_qmmf", quant::QMMF, &["QIn", "QOut"]),
    ("k_qconv", quant::QCONV, &["QIn", "QOut"]),
    ("k_qdw", quant::QDW, &["QOut"]),
    ("k_widen_pad", quant::WIDEN_PAD, &["QIn"]),
    ("k_copy", layout::COPY, &[]),
    ("k_fill", layout::FILL, &[]),
    ("m_rte", math::RTE, &[]),
    ("m_pow2i", math::POW2I, &[]),
    ("m_exp", math::EXP, &["m_rte", "m_pow2i"]),
    ("m_ln", math::LN, &[]),
    ("m_sqrt", math::SQRT, &[]),
    ("m_erf", math::ERF, &["m_exp"]),
    ("m_tanh", math::TANH, &["m_exp"]),
    ("m_pow", math::POW, &["m_exp", "m_ln", "m_rte"]),
];

/// The sources of `names` and everything they call, each once, in library order.
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
    LIBRARY.iter().filter(|(name, _, _)| wanted.contains(name)).map(|(_, src, _)| *src).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_dependency_is_in_the_library() {
        for (name, src, deps) in super::LIBRARY {
            let defined = [format!("fn {name}"), format!("trait {name}")];
            assert!(defined.iter().any(|d| src.contains(d)), "{name} is not defined by its source");
            for d in *deps {
                assert!(super::LIBRARY.iter().any(|(n, _, _)| n == d), "{name} needs unknown {d}");
            }
        }
    }
}
