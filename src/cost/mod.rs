//! The hardware cost model: target profiles (data, `targets/*.toml`), operation counts per node,
//! and a roofline per node: `cycles = max(compute, memory) + overhead`, read as latency
//! (seconds) or energy (picojoules).
//!
//! A node's work is what it computes, counted per element precision and operation class
//! ([`OpCounts`]), and the bytes it moves. Compute cycles divide each count by the profile's
//! rate for it (SIMD lanes × vector instructions per cycle × threads; one lane for the
//! operations that do not vectorize: reductions along an axis, whose IEEE order a compiler
//! keeps sequential, and depthwise and pooling windows); memory cycles divide the bytes by the
//! bandwidth of the smallest memory level the node's working set fits in.
//!
//! ```
//! use gos_opt::cost::{self, Objective};
//! let rpi3 = cost::load_target("rpi3").unwrap();
//! let y = gos_opt::tensor::TensorType::new(gos_opt::tensor::DType::F32, vec![1, 64]);
//! let relu = gos_opt::ops::Op::Unary(gos_opt::ops::Unary { kind: gos_opt::ops::UnaryKind::Relu });
//! let c = cost::kernel_cost(&rpi3, &relu, &[Some(&y)], &[y.clone()]);
//! assert!(c.latency_s > 0.0 && c.objective(Objective::Energy) > 0.0);
//! ```

pub mod calibrate;
mod count;
mod profile;

pub use count::kernel_work;
// The counting vocabulary profiles are written in; it lives below `ops` (which counts into it).
pub use crate::work::{dot_work, precision_of, Counter, OpClass, OpCounts, Precision, Work};
pub use profile::{
    load_file, load_target, resolve, shipped_source, target_names, Cache, Energy, Profile, ProfileError, ShiftAddForm,
    SHIPPED,
};

use crate::ops::Op;
use crate::tensor::TensorType;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Which resource bounds a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bottleneck {
    /// Nothing to compute or move (views, leaves, weight-only classes).
    None,
    /// Compute cycles exceed memory cycles.
    Compute,
    /// Memory cycles exceed compute cycles.
    Memory,
}

/// The memory level a node's working set fits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemLevel {
    /// Fits in L1 (or the MCU's SRAM).
    L1,
    /// Fits in L2.
    L2,
    /// Larger than L2.
    Dram,
}

/// The cost of one node on one target.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Operation counts (all of them).
    pub ops: OpCounts,
    /// The part of `ops` that runs one lane at a time.
    pub scalar: OpCounts,
    /// Bytes moved.
    pub bytes: u64,
    /// The level the working set fits in, which sets the bandwidth and energy per byte.
    pub level: MemLevel,
    /// Cycles to compute.
    pub compute_cycles: f64,
    /// Cycles to move `bytes`.
    pub memory_cycles: f64,
    /// Per-kernel overhead cycles (0 for nodes that are not kernels).
    pub overhead_cycles: f64,
    /// `max(compute_cycles, memory_cycles) + overhead_cycles`.
    pub cycles: f64,
    /// Which of compute and memory dominates.
    pub bottleneck: Bottleneck,
    /// `cycles / clock`, seconds.
    pub latency_s: f64,
    /// Picojoules: `compute_pj + memory_pj`.
    pub energy_pj: f64,
    /// Picojoules of the operations.
    pub compute_pj: f64,
    /// Picojoules of the bytes moved, at the level's energy per byte.
    pub memory_pj: f64,
}

impl Estimate {
    /// The cost of a node that does nothing.
    pub fn zero() -> Estimate {
        Estimate {
            ops: OpCounts::default(),
            scalar: OpCounts::default(),
            bytes: 0,
            level: MemLevel::L1,
            compute_cycles: 0.0,
            memory_cycles: 0.0,
            overhead_cycles: 0.0,
            cycles: 0.0,
            bottleneck: Bottleneck::None,
            latency_s: 0.0,
            energy_pj: 0.0,
            compute_pj: 0.0,
            memory_pj: 0.0,
        }
    }

    /// The figure an objective minimizes: seconds for latency, picojoules for energy.
    pub fn objective(&self, objective: Objective) -> f64 {
        match objective {
            Objective::Latency => self.latency_s,
            Objective::Energy => self.energy_pj,
        }
    }

    /// What bounds the node for an objective: cycles for latency, picojoules for energy.
    pub fn bottleneck_for(&self, objective: Objective) -> Bottleneck {
        match objective {
            Objective::Latency => self.bottleneck,
            Objective::Energy if self.compute_pj == 0.0 && self.memory_pj == 0.0 => Bottleneck::None,
            Objective::Energy if self.compute_pj >= self.memory_pj => Bottleneck::Compute,
            Objective::Energy => Bottleneck::Memory,
        }
    }
}

/// What extraction minimizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Predicted seconds (the default).
    #[default]
    Latency,
    /// Predicted picojoules.
    Energy,
}

impl FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "latency" => Ok(Objective::Latency),
            "energy" => Ok(Objective::Energy),
            other => Err(format!("unknown objective '{other}' (known: latency, energy)")),
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Objective::Latency => "latency",
            Objective::Energy => "energy",
        })
    }
}

/// Prices work on a target: the roofline `max(compute, memory) + overhead`.
pub fn roofline(profile: &Profile, work: &Work) -> Estimate {
    let mut compute = 0.0;
    let mut op_energy = 0.0;
    for p in Precision::ALL {
        for c in OpClass::ALL {
            let (vector, scalar) = (work.ops.get(p, c) as f64, work.scalar.get(p, c) as f64);
            let rate = profile.ops_per_cycle(p, c);
            compute += vector / rate + scalar / (rate / profile.simd[p as usize]);
            op_energy += (vector + scalar) * profile.energy.op_pj(p, c);
        }
    }
    let mut ops = work.ops;
    ops.merge(&work.scalar);
    let bytes = work.bytes as f64;
    let level = profile.level_for(work.working_set);
    let memory = bytes / profile.bandwidth(level) * profile.clock_hz;
    let overhead = if work.kernel { profile.kernel_overhead_cycles } else { 0.0 };
    let cycles = compute.max(memory) + overhead;
    let bottleneck = if compute == 0.0 && memory == 0.0 {
        Bottleneck::None
    } else if compute >= memory {
        Bottleneck::Compute
    } else {
        Bottleneck::Memory
    };
    Estimate {
        ops,
        scalar: work.scalar,
        bytes: work.bytes,
        level,
        compute_cycles: compute,
        memory_cycles: memory,
        overhead_cycles: overhead,
        cycles,
        bottleneck,
        latency_s: cycles / profile.clock_hz,
        energy_pj: op_energy + bytes * profile.energy.byte_pj(level),
        compute_pj: op_energy,
        memory_pj: bytes * profile.energy.byte_pj(level),
    }
}

/// The cost of one ONNX kernel from its input and output types (what `inspect` shows per layer).
pub fn kernel_cost(profile: &Profile, op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> Estimate {
    roofline(profile, &kernel_work(op, inputs, outputs))
}
