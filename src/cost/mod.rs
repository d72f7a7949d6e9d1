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

pub(crate) use count::{bytes_of, Tally};
pub use count::{dot_work, kernel_work, precision_of, Counter};
pub use profile::{
    load_file, load_target, resolve, shipped_source, target_names, Cache, Energy, Profile, ProfileError, SHIPPED,
};

use crate::ops::Op;
use crate::tensor::TensorType;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The element precisions a profile gives figures for; other element types map onto one of
/// them ([`precision_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit float (also f16/bf16, computed in f32, and f64 at twice the count).
    F32,
    /// 32-bit integer (also u32, and 64-bit integers at twice the count).
    I32,
    /// 16-bit integer (also u16).
    I16,
    /// 8-bit integer (also u8 and bool).
    I8,
}

impl Precision {
    /// Every precision, in table order.
    pub const ALL: [Precision; 4] = [Precision::F32, Precision::I32, Precision::I16, Precision::I8];

    /// The TOML key (`f32`, `i32`, `i16`, `i8`).
    pub fn key(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::I32 => "i32",
            Precision::I16 => "i16",
            Precision::I8 => "i8",
        }
    }
}

/// The classes of primitive operations a profile gives throughput and energy for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpClass {
    /// Multiply.
    Mul,
    /// Add, subtract, negate and other one-cycle arithmetic (conversions, rounding).
    Add,
    /// Fused multiply-add (one multiply-accumulate; for integers the widening MAC).
    Fma,
    /// Shift by a constant (for floats, a multiply by a power of two).
    Shift,
    /// Compare, min, max, select (ReLU, clipping, max-pooling).
    Compare,
    /// exp, log, tanh, sigmoid, erf, pow (one evaluation each).
    Transcendental,
    /// Divide, reciprocal, square root.
    Divide,
}

impl OpClass {
    /// Every class, in table order.
    pub const ALL: [OpClass; 7] = [
        OpClass::Mul,
        OpClass::Add,
        OpClass::Fma,
        OpClass::Shift,
        OpClass::Compare,
        OpClass::Transcendental,
        OpClass::Divide,
    ];

    /// The TOML key (`mul`, `add`, ...).
    pub fn key(self) -> &'static str {
        match self {
            OpClass::Mul => "mul",
            OpClass::Add => "add",
            OpClass::Fma => "fma",
            OpClass::Shift => "shift",
            OpClass::Compare => "compare",
            OpClass::Transcendental => "transcendental",
            OpClass::Divide => "divide",
        }
    }
}

/// Element operations per precision and class (one count per element, not per vector).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts([[u64; 7]; 4]);

impl OpCounts {
    /// The count of one class at one precision.
    pub fn get(&self, p: Precision, c: OpClass) -> u64 {
        self.0[p as usize][c as usize]
    }

    /// Adds `n` operations (saturating).
    pub fn add(&mut self, p: Precision, c: OpClass, n: u64) {
        let slot = &mut self.0[p as usize][c as usize];
        *slot = slot.saturating_add(n);
    }

    /// Removes and returns the count of class `c` at precision `p`.
    pub fn take(&mut self, p: Precision, c: OpClass) -> u64 {
        std::mem::take(&mut self.0[p as usize][c as usize])
    }

    /// The count of one class over all precisions.
    pub fn total(&self, c: OpClass) -> u64 {
        Precision::ALL.iter().fold(0u64, |acc, &p| acc.saturating_add(self.get(p, c)))
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &OpCounts) {
        for p in Precision::ALL {
            for c in OpClass::ALL {
                self.add(p, c, other.get(p, c));
            }
        }
    }

    /// Whether every count is zero.
    pub fn is_empty(&self) -> bool {
        self.0.iter().flatten().all(|&n| n == 0)
    }
}

impl Serialize for OpCounts {
    /// `{"f32": {"fma": 1024, ...}, ...}` with only the non-zero counts.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use std::collections::BTreeMap;
        let mut map: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        for p in Precision::ALL {
            for c in OpClass::ALL {
                if self.get(p, c) > 0 {
                    map.entry(p.key()).or_default().insert(c.key(), self.get(p, c));
                }
            }
        }
        map.serialize(s)
    }
}

/// What one node does, before a profile prices it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Work {
    /// Operation counts that vectorize.
    pub ops: OpCounts,
    /// Operation counts that run one lane at a time (sequential reductions, windows).
    pub scalar: OpCounts,
    /// Bytes read and written (inputs, outputs, and packing buffers).
    pub bytes: u64,
    /// Bytes that must stay resident for the traffic to hit a cache level (inputs and outputs;
    /// a packing buffer is streamed in cache-sized panels and does not count). It picks the
    /// memory level, whose bandwidth and energy per byte price all of `bytes`.
    pub working_set: u64,
    /// Whether the node runs as a kernel of its own (and pays the per-kernel overhead).
    pub kernel: bool,
}

impl Work {
    /// No work at all (leaves, weight-only classes).
    pub fn none() -> Work {
        Work::default()
    }
}

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
