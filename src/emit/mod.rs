//! The Rust back end: writes a self-contained `no_std` Rust module computing a model.
//!
//! [`generate`] folds what is constant, lowers the graph to kernel calls specialized to each
//! layer's shapes ([`lower`]), plans one arena for the intermediate tensors ([`plan`]) and
//! writes the module ([`writer`]); [`emit_rust`] writes `model.rs` (and `weights.bin` for large
//! weights) into a directory. The module's contract, for one input and one output:
//!
//! ```text
//! pub const INPUT_LEN: usize;  pub const OUTPUT_LEN: usize;  pub const ARENA_LEN: usize;
//! pub fn run(input: &[f32], output: &mut [f32], arena: &mut [f32]);
//! ```
//!
//! With several inputs or outputs, `INPUT_LENS: [usize; N]`, `OUTPUT_LENS: [usize; M]` and
//! `run(inputs: [&[f32]; N], outputs: [&mut [f32]; M], arena: &mut [f32])`, in graph order.

pub mod kernels;
pub mod lower;
pub mod plan;
pub mod requant;
pub mod writer;

use crate::graph::{ConstOrigin, Graph, GraphError, ValueKind};
use crate::ops::Op;
use crate::tensor::{DType, Tensor};
use lower::quant::{QuantConst, QuantConsts};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Weights larger than this (bytes) go to `weights.bin`, embedded with `include_bytes!`, instead
/// of array literals (which compile slowly).
pub const WEIGHTS_FILE_THRESHOLD: usize = 64 * 1024;

/// Why Rust could not be emitted.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The model has ops gos-opt does not interpret.
    #[error("cannot emit Rust: the model has ops gos-opt does not interpret: {nodes}")]
    Opaque { nodes: String },
    /// A node has no kernel in the Rust back end.
    #[error("cannot emit Rust for node '{node}' ({op}): {reason}")]
    Unsupported { node: String, op: String, reason: String },
    /// The graph is malformed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The memory plan is wrong (a bug).
    #[error("internal error in the memory plan: {0}")]
    Plan(String),
    /// Writing the files failed.
    #[error("cannot write {path}: {cause}")]
    Write { path: String, cause: String },
}

/// How the module computes quantized (QDQ) convolutions and matrix products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantized {
    /// 8-bit integer tensors, integer weights and kernels with exact integer sums (in i32, or in
    /// f32 where every partial sum stays below 2^24): the exact result of the graph's arithmetic. A float evaluation of the graph (tract, onnxruntime) can differ
    /// from it by one quantization step where a value lies within float rounding error of a
    /// rounding boundary.
    #[default]
    Integer,
    /// Float kernels on dequantized values, as the graph is written (integers held in f32).
    Float,
}

/// Options of the Rust back end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// How quantized nodes are computed.
    pub quantized: Quantized,
    /// The module is for a core whose integer vectors hold fewer than 16 bytes (a
    /// microcontroller): int8 convolutions keep the plain weight layout that its tuned kernels
    /// read (SMLAD on Cortex-M4, shift-add), instead of the packed layout of `k_qconv4`, whose
    /// 16-channel tiles pay on x86-64 (VNNI) and wide SIMD. The pipeline sets it from the
    /// target's `simd.i8` lanes.
    pub narrow_int8: bool,
    /// With `narrow_int8`: the core has the Armv7E-M DSP extension (SMLAD, two 16-bit
    /// multiply-accumulates per instruction; Cortex-M4/M7): k×k int8 convolutions keep their
    /// weights in pairs of output channels and single-row int8 Gemms their weights transposed,
    /// the layouts its SMLAD kernels read (`qarm.rs`). The pipeline sets it for narrow targets
    /// with four int8 lanes.
    pub arm_dsp: bool,
    /// The module is for a core without a float unit (its f32 arithmetic is a library of
    /// calls): integer kernels with integer outputs store their sums through tables of steps
    /// ([`requant`]), integer comparisons giving the float formula's result exactly. The
    /// pipeline sets it for targets whose f32 multiply runs below 0.1 per cycle.
    pub integer_requant: bool,
    /// Digit-coded (shift-add) contractions keep one program per output channel, without the
    /// partials shared across channels that they otherwise take where sharing pays: the
    /// pipeline sets it for targets whose cost model does not search sharing
    /// ([`crate::shiftadd::searches_sharing`]), so that the module runs what was priced.
    pub unshared_digits: bool,
    /// With `integer_requant`: the bytes the module's weights may take (the target's flash).
    /// Each table costs up to 148 bytes per output channel; when they do not all fit, the layers
    /// that store the most values per table byte get theirs, as long as the weights fit, and
    /// the others keep the float store. `None`: no limit.
    pub weights_budget: Option<usize>,
}

/// What was emitted: sizes for the report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EmitReport {
    /// The module written (`DIR/model.rs`), when written to disk.
    pub model_rs: Option<PathBuf>,
    /// The weights file, when the weights went to one.
    pub weights_bin: Option<PathBuf>,
    /// f32 elements of the arena (`ARENA_LEN`).
    pub arena_len: usize,
    /// Bytes of the arena.
    pub arena_bytes: usize,
    /// Bytes the intermediate tensors would take without the memory plan (each its own slot).
    pub unplanned_bytes: usize,
    /// Bytes of weights (f32, and 8-bit for quantized weights under integer kernels).
    pub weights_bytes: usize,
    /// Bytes of Rust source.
    pub source_bytes: usize,
    /// Kernel calls in `run`.
    pub steps: usize,
    /// Nodes fused into another node's kernel (activations, bias adds).
    pub fused: usize,
    /// Elementwise steps that overwrite their input.
    pub in_place: usize,
    /// Reshape-like nodes that cost nothing (aliases).
    pub aliases: usize,
    /// Conv, Gemm and MatMul nodes computed by integer kernels.
    pub integer_kernels: usize,
    /// Of those, the ones whose digit-coded weights run as shift-add kernels.
    pub shift_add_kernels: usize,
    /// Integer kernels that store through a table of steps ([`requant`]) instead of the float
    /// formula.
    pub step_tables: usize,
    /// Layers that could store through a table but keep the float store: their tables did not
    /// fit [`EmitOptions::weights_budget`].
    pub step_tables_left_out: usize,
    /// Kernels and math functions the module carries.
    pub kernels: Vec<String>,
}

/// A generated module, not yet written.
#[derive(Clone, Debug)]
pub struct Generated {
    /// `model.rs`.
    pub source: String,
    /// `weights.bin`, when the weights are large.
    pub weights: Option<Vec<u8>>,
    /// Sizes.
    pub report: EmitReport,
}

/// Emits the module for `graph` into `dir` (created if needed): `dir/model.rs`, and
/// `dir/weights.bin` when the weights exceed [`WEIGHTS_FILE_THRESHOLD`]. Files are written to a
/// temporary file, then renamed.
pub fn emit_rust(graph: &Graph, dir: &Path) -> Result<EmitReport, EmitError> {
    emit_rust_with(graph, dir, &EmitOptions::default())
}

/// [`emit_rust`] with options.
pub fn emit_rust_with(graph: &Graph, dir: &Path, options: &EmitOptions) -> Result<EmitReport, EmitError> {
    write(generate(graph, options)?, dir)
}

/// Writes a generated module into `dir` (created if needed), as [`emit_rust`] does.
pub fn write(generated: Generated, dir: &Path) -> Result<EmitReport, EmitError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| EmitError::Write { path: dir.display().to_string(), cause: e.to_string() })?;
    let write = |path: &Path, bytes: &[u8]| -> Result<(), EmitError> {
        let err = |cause: String| EmitError::Write { path: path.display().to_string(), cause };
        crate::fsutil::write_atomically(path, bytes).map_err(|e| err(e.to_string()))?;
        // The temporary file was private; sources are readable like any other.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(|e| err(e.to_string()))?;
        }
        Ok(())
    };
    let mut report = generated.report;
    let bin = dir.join("weights.bin");
    match &generated.weights {
        Some(bytes) => {
            write(&bin, bytes)?;
            report.weights_bin = Some(bin);
        }
        None => {
            // A stale weights file from an earlier run would only confuse.
            if bin.exists() {
                std::fs::remove_file(&bin)
                    .map_err(|e| EmitError::Write { path: bin.display().to_string(), cause: e.to_string() })?;
            }
        }
    }
    let rs = dir.join("model.rs");
    write(&rs, generated.source.as_bytes())?;
    report.model_rs = Some(rs);
    Ok(report)
}

/// Generates the module for `graph` without writing it.
pub fn generate(graph: &Graph, options: &EmitOptions) -> Result<Generated, EmitError> {
    let opaque: Vec<String> = graph
        .dag
        .node_indices()
        .map(|id| graph.node(id))
        .filter(|n| n.op.is_opaque())
        .map(|n| format!("'{}' ({}::{})", n.name, n.op.domain(), n.op.onnx_name()))
        .collect();
    if !opaque.is_empty() {
        return Err(EmitError::Opaque { nodes: opaque.join(", ") });
    }
    let mut graph = graph.clone();
    let consts = fold_constants(&mut graph)?;
    let integer = (options.quantized == Quantized::Integer).then_some(&consts);
    let tables = if options.integer_requant { lower::Tables::All } else { lower::Tables::None };
    let mut program = lower::lower(&graph, integer, options, tables)?;
    if let Some(chosen) = options.weights_budget.and_then(|budget| tables_within(&program, budget)) {
        program = lower::lower(&graph, integer, options, lower::Tables::Only(chosen))?;
    }
    writer::write(&program)
}

/// The layers whose tables of steps fit `budget` bytes of weights beside the rest, when not all
/// of them do: by stored values per table byte, best first, each taken while it fits. `None`
/// when every table fits.
fn tables_within(program: &lower::Program, budget: usize) -> Option<BTreeSet<String>> {
    let total: usize = program.weights.iter().map(|w| w.len() * w.elem().bytes()).sum();
    if total <= budget {
        return None;
    }
    let tables: usize = program.table_uses.iter().map(|u| u.bytes).sum();
    let mut left = budget.saturating_sub(total - tables);
    let mut uses: Vec<&lower::TableUse> = program.table_uses.iter().collect();
    // stores/bytes, descending; ties by node name (deterministic).
    uses.sort_by(|a, b| (b.stores * a.bytes).cmp(&(a.stores * b.bytes)).then_with(|| a.node.cmp(&b.node)));
    let mut chosen = BTreeSet::new();
    for u in uses {
        if u.bytes <= left {
            left -= u.bytes;
            chosen.insert(u.node.clone());
        }
    }
    Some(chosen)
}

/// Replaces every node whose inputs are all constants (weight dequantization, shape arithmetic)
/// by its value; returns the integers behind each dequantized constant (for integer kernels).
fn fold_constants(graph: &mut Graph) -> Result<QuantConsts, EmitError> {
    let mut quantized = QuantConsts::new();
    for id in graph.topo_order()? {
        let node = graph.node(id).clone();
        let inputs: Vec<Option<&Tensor>> =
            node.inputs.iter().map(|v| v.and_then(|v| graph.constant(v).map(|t| &**t))).collect();
        if inputs.is_empty() || node.inputs.iter().zip(&inputs).any(|(v, t)| v.is_some() && t.is_none()) {
            continue;
        }
        let outputs = match &node.op {
            Op::DequantizeLinear(dq) => dequantize(dq, &inputs).map(|(t, q)| {
                if let Some(mut q) = q {
                    q.coded = node.inputs[0].is_some_and(|w| {
                        crate::shiftadd::coding_of(graph, w, crate::shiftadd::Layout::Unshared).is_some()
                    });
                    quantized.insert(node.outputs[0], q);
                }
                vec![t]
            }),
            op => op.eval(&inputs).and_then(Result::ok),
        };
        let Some(outputs) = outputs else { continue };
        graph.remove_node(id);
        for (&out, tensor) in node.outputs.iter().zip(outputs) {
            let v = graph.value_mut(out);
            v.ty = Some(tensor.ttype());
            v.kind = ValueKind::Const { tensor: Arc::new(tensor), origin: ConstOrigin::Derived };
        }
    }
    Ok(quantized)
}

/// DequantizeLinear of a constant: `(x - zero_point) * scale`, per tensor or per axis; and, for
/// 8-bit integers, the integers with their quantization.
fn dequantize(dq: &crate::ops::DequantizeLinear, inputs: &[Option<&Tensor>]) -> Option<(Tensor, Option<QuantConst>)> {
    let x = inputs.first().copied().flatten()?;
    let scale = inputs.get(1).copied().flatten()?.to_f64_vec()?;
    let zp = match inputs.get(2).copied().flatten() {
        Some(z) => z.to_f64_vec()?,
        None => vec![0.0; scale.len()],
    };
    if dq.block_size != 0 || zp.len() != scale.len() {
        return None;
    }
    let shape = x.ttype().shape;
    let xs = x.to_f64_vec()?;
    let (dim, inner, axis) = if scale.len() == 1 {
        (1, xs.len().max(1), 0)
    } else {
        let axis = crate::ops::norm_axis(dq.axis, shape.len()).ok()?;
        (shape[axis], shape[axis + 1..].iter().product(), axis)
    };
    if dim != scale.len() {
        return None;
    }
    let data: Vec<f32> = xs
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let c = (i / inner) % dim;
            ((q - zp[c]) as f32) * scale[c] as f32
        })
        .collect();
    let q = matches!(x.ttype().dtype, DType::I8 | DType::U8).then(|| QuantConst {
        values: xs.iter().map(|&v| v as i32).collect(),
        scale: scale.iter().map(|&s| s as f32).collect(),
        zero: zp.iter().map(|&z| z as i32).collect(),
        axis,
        coded: false,
    });
    Some((Tensor::f32(shape, data), q))
}

#[cfg(test)]
mod tests {
    use super::lower::{Program, TableUse, Weight};

    fn table(node: &str, bytes: usize, stores: usize) -> TableUse {
        TableUse { node: node.into(), bytes, stores }
    }

    #[test]
    fn tables_go_to_the_most_stores_per_byte_while_the_weights_fit() {
        let mut p = Program::default();
        // 1,000 bytes of weights, 600 of them three tables.
        p.weights.push(Weight::I8(vec![0; 1000]));
        p.table_uses = vec![table("a", 200, 100), table("b", 200, 800), table("c", 200, 400)];
        assert_eq!(super::tables_within(&p, 1000), None, "everything fits");
        let chosen = |budget| super::tables_within(&p, budget).unwrap().into_iter().collect::<Vec<_>>();
        assert_eq!(chosen(999), ["b", "c"]);
        assert_eq!(chosen(799), ["b"]);
        assert!(chosen(500).is_empty(), "the rest alone is 400 bytes; no table fits beside it");
    }
}
