//! A run's limits: the largest tensor a model may declare (`--max-memory`), checked before
//! anything that size is allocated, and the whole run's deadline (`--time-limit`).

use crate::graph::Graph;
use crate::tensor::{shape_string, DType};
use std::time::{Duration, Instant};

/// The default `--max-memory`: 4 GiB, more than any model the suite holds declares for one
/// tensor, and less than the machines gos-opt runs on can allocate.
pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;

/// Why a run hit one of its limits.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LimitError {
    /// A tensor the model declares (or whose shape is inferred) is larger than the limit.
    #[error(
        "{what} '{name}' ({dtype} {shape}) would take {bytes} bytes, more than --max-memory {limit} bytes; nothing was allocated for it (raise --max-memory, or fix the shape with --input-shape)"
    )]
    Memory { what: &'static str, name: String, dtype: String, shape: String, bytes: String, limit: u64 },
    /// The run took longer than `--time-limit`.
    #[error("--time-limit of {limit:.1} s exceeded while {stage}; nothing written")]
    Time { limit: f64, stage: String },
}

/// Parses a byte count with an optional binary suffix: `1048576`, `512K`, `512M`, `4G`, `1T`
/// (`KiB`/`MB`-style spellings too; every suffix is a power of 1024).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("'{text}' is not a byte count (e.g. 512M, 4G)"))?;
    let shift = match suffix.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("'{text}': unknown size suffix '{suffix}' (use K, M, G or T)")),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("'{text}' is too large"))
}

/// Bytes of `dims` elements of ONNX element type `elem_type`; `None` when it overflows.
fn declared_bytes(elem_type: i32, dims: &[u64]) -> Option<u128> {
    let bits = DType::from_onnx(elem_type).and_then(DType::bits).unwrap_or(8) as u128;
    let numel = dims.iter().try_fold(1u128, |n, &d| n.checked_mul(d as u128))?;
    Some(numel.checked_mul(bits)?.div_ceil(8))
}

/// The error for a tensor of `bytes` (`None`: more than a u128 holds) over `limit`.
fn too_large(
    what: &'static str,
    name: &str,
    elem_type: i32,
    dims: &[u64],
    bytes: Option<u128>,
    limit: u64,
) -> Result<(), LimitError> {
    if bytes.is_some_and(|b| b <= limit as u128) {
        return Ok(());
    }
    let dtype = DType::from_onnx(elem_type).map_or_else(|| format!("type {elem_type}"), DType::name);
    let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    Err(LimitError::Memory {
        what,
        name: name.to_string(),
        dtype,
        shape: shape_string(&shape),
        bytes: bytes.map_or_else(|| "more than 2^128".into(), |b| b.to_string()),
        limit,
    })
}

/// Checks every tensor the file declares with a static size (initializers, graph inputs with
/// `input_shapes` applied, value_info, outputs) against `limit`, before import allocates.
pub fn check_declared(
    bytes: &[u8],
    input_shapes: &std::collections::HashMap<String, Vec<usize>>,
    limit: u64,
) -> Result<(), LimitError> {
    use onnx_protobuf::{Message, ModelProto};
    // A file that does not parse is the importer's to report.
    let Ok(model) = ModelProto::parse_from_bytes(bytes) else { return Ok(()) };
    let Some(g) = model.graph.as_ref() else { return Ok(()) };
    for t in &g.initializer {
        let dims: Vec<u64> = t.dims.iter().map(|&d| d.max(0) as u64).collect();
        too_large("initializer", &t.name, t.data_type, &dims, declared_bytes(t.data_type, &dims), limit)?;
    }
    let infos = [("input", &g.input), ("value_info", &g.value_info), ("output", &g.output)];
    for (what, list) in infos {
        for vi in list.iter() {
            let Some(tensor) = vi.type_.as_ref().filter(|t| t.has_tensor_type()).map(|t| t.tensor_type()) else {
                continue;
            };
            let dims: Option<Vec<u64>> = match input_shapes.get(&vi.name) {
                Some(given) if what == "input" => Some(given.iter().map(|&d| d as u64).collect()),
                _ => tensor.shape.as_ref().map(|s| {
                    s.dim.iter().map(|d| if d.has_dim_value() { d.dim_value().max(0) as u64 } else { 0 }).collect()
                }),
            };
            if let Some(dims) = dims {
                too_large(what, &vi.name, tensor.elem_type, &dims, declared_bytes(tensor.elem_type, &dims), limit)?;
            }
        }
    }
    Ok(())
}

/// Checks every value of an imported (or rewritten) graph whose type is known, inferred ones
/// included, against `limit`.
pub fn check_graph(graph: &Graph, limit: u64) -> Result<(), LimitError> {
    for v in &graph.values {
        if let Some(ty) = &v.ty {
            let dims: Vec<u64> = ty.shape.iter().map(|&d| d as u64).collect();
            let code = ty.dtype.onnx_code();
            too_large("tensor", &v.name, code, &dims, declared_bytes(code, &dims), limit)?;
        }
    }
    Ok(())
}

/// The whole run's deadline (`--time-limit`), or none.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    start: Instant,
    limit: Option<Duration>,
}

impl Deadline {
    /// A deadline `limit` from now (`None`: never).
    pub fn new(limit: Option<Duration>) -> Deadline {
        Deadline { start: Instant::now(), limit }
    }

    /// An error naming `stage` when the deadline has passed.
    pub fn check(&self, stage: &str) -> Result<(), LimitError> {
        match self.limit {
            Some(limit) if self.start.elapsed() > limit => {
                Err(LimitError::Time { limit: limit.as_secs_f64(), stage: stage.to_string() })
            }
            _ => Ok(()),
        }
    }

    /// The time left (`None`: unbounded).
    pub fn remaining(&self) -> Option<Duration> {
        self.limit.map(|l| l.saturating_sub(self.start.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("4G"), Ok(4 << 30));
        assert_eq!(parse_bytes("2kib"), Ok(2048));
        assert!(parse_bytes("4X").unwrap_err().contains("unknown size suffix"));
        assert!(parse_bytes("G").is_err());
        assert!(parse_bytes("99999999999T").unwrap_err().contains("too large"));
    }

    #[test]
    fn sizes_are_bytes_of_the_element_type() {
        assert_eq!(declared_bytes(1, &[2, 3]), Some(24));
        assert_eq!(declared_bytes(7, &[1_000_000]), Some(8_000_000));
        let e = too_large("input", "x", 1, &[1 << 20, 1 << 20], declared_bytes(1, &[1 << 20, 1 << 20]), 1 << 30)
            .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("input 'x' (float 1048576x1048576) would take 4398046511104 bytes"), "{text}");
        assert!(too_large("input", "x", 1, &[4], Some(16), 16).is_ok());
    }

    #[test]
    fn deadline_passes_only_when_set() {
        assert!(Deadline::new(None).check("x").is_ok());
        let d = Deadline::new(Some(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(d.check("verifying"), Err(LimitError::Time { .. })));
        assert_eq!(d.remaining(), Some(Duration::ZERO));
    }
}
