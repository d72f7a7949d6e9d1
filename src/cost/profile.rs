//! Target profiles: the figures of one device, read from TOML (`targets/*.toml`, embedded in
//! the binary, or a user's file). Every field is required; errors read `file: field: cause`.
//!
//! The schema (units in brackets):
//!
//! ```toml
//! name = "rpi3"                       # the target name
//! description = "one line"
//! clock_hz = 1.2e9                    # [Hz]
//! cores = 4                           # cores on the chip
//! threads = 1                         # threads a kernel uses (we model one)
//! multiplier_cycles = 32              # optional: an integer multiply's latency [cycles]; sets
//!                                     # throughput.{i32,i16,i8}.{mul,fma}, which are then omitted
//! [simd]                              # lanes per vector instruction, per precision
//! f32 = 4                             # also i32, i16, i8
//! [throughput.f32]                    # vector instructions per cycle per thread, per class
//! mul = 0.5                           # also add, fma, shift, compare, transcendental, divide
//! [memory.l1]
//! size = 32768                        # [bytes]
//! bandwidth = 9.6e9                   # [bytes/s]
//! [memory.l2]                         # size and bandwidth as for l1
//! [memory.dram]
//! bandwidth = 3.6e9                   # [bytes/s]
//! [overhead]
//! kernel_cycles = 1000                # cycles per kernel launch
//! [energy.f32]                        # [pJ per element operation], same classes as throughput
//! [energy.memory]                     # [pJ per byte] moved at l1, l2, dram
//! [shift_add]                         # optional: how the target runs shift-add contractions
//! form = "datapath"                   # "kernel" (the default: `k_sa_run`'s instructions on a
//!                                     # processor) or "datapath" (adders of a fixed-function
//!                                     # datapath, each at the width its sum needs)
//! ```

use super::{MemLevel, OpClass, Precision};
use std::fmt::Write;
use std::path::Path;

/// Why a profile could not be read.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProfileError {
    /// The file could not be read or is not TOML.
    #[error("{origin}: {cause}")]
    File { origin: String, cause: String },
    /// A field is missing, mistyped or out of range, or unknown.
    #[error("{origin}: {field}: {cause}")]
    Field { origin: String, field: String, cause: String },
    /// No shipped profile has this name.
    #[error("unknown target '{name}' (known: {known})")]
    UnknownTarget { name: String, known: String },
}

/// One cache level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cache {
    /// Capacity in bytes.
    pub size: u64,
    /// Sustained bandwidth in bytes per second.
    pub bandwidth: f64,
}

/// Energy figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Energy {
    /// Picojoules per element operation, `[precision][class]`.
    pub ops: [[f64; 7]; 4],
    /// Picojoules per byte moved from L1.
    pub l1: f64,
    /// Picojoules per byte moved from L2.
    pub l2: f64,
    /// Picojoules per byte moved from DRAM.
    pub dram: f64,
}

impl Energy {
    /// Picojoules for one element operation.
    pub fn op_pj(&self, p: Precision, c: OpClass) -> f64 {
        self.ops[p as usize][c as usize]
    }

    /// Picojoules per byte at a level.
    pub fn byte_pj(&self, level: MemLevel) -> f64 {
        match level {
            MemLevel::L1 => self.l1,
            MemLevel::L2 => self.l2,
            MemLevel::Dram => self.dram,
        }
    }
}

/// How a target runs a contraction with digit-coded weights ([`crate::shiftadd`]), and so how
/// the cost model prices it against the multiply form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShiftAddForm {
    /// As the back end's shift-add kernel runs on a processor: its instructions per digit,
    /// per plane and per shared partial, the digit programs read from memory.
    #[default]
    Kernel,
    /// As a fixed-function datapath computes it: one adder per non-zero digit, shared partial
    /// and plane step, each priced at the width its sum needs; and the multiply form as a
    /// multiplier and an accumulate adder of the width its sum needs.
    Datapath,
}

impl ShiftAddForm {
    /// The value of `shift_add.form` in a profile.
    pub fn key(self) -> &'static str {
        match self {
            ShiftAddForm::Kernel => "kernel",
            ShiftAddForm::Datapath => "datapath",
        }
    }
}

/// A target's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Target name.
    pub name: String,
    /// One line saying what the target is.
    pub description: String,
    /// Clock frequency, Hz.
    pub clock_hz: f64,
    /// Cores on the chip.
    pub cores: u32,
    /// Threads one kernel uses (1: we model single-threaded kernels).
    pub threads: u32,
    /// An integer multiply's latency in cycles, for cores whose multiplier is an implementation
    /// option (a Cortex-M0+ has a one-cycle or a 32-cycle one). When set, it gives the integer
    /// `mul` throughput (1 / cycles) and `fma` (a multiply then an add: 1 / (cycles + 1)), and
    /// the file leaves those figures out.
    pub multiplier_cycles: Option<f64>,
    /// SIMD lanes per vector instruction, by [`Precision`].
    pub simd: [f64; 4],
    /// Vector instructions per cycle per thread, `[precision][class]`.
    pub throughput: [[f64; 7]; 4],
    /// L1 data cache (an MCU's SRAM).
    pub l1: Cache,
    /// L2 cache (an MCU's flash).
    pub l2: Cache,
    /// DRAM bandwidth, bytes per second.
    pub dram_bandwidth: f64,
    /// Cycles every kernel pays besides its work (dispatch, loop set-up).
    pub kernel_overhead_cycles: f64,
    /// Energy figures.
    pub energy: Energy,
    /// How it runs shift-add contractions (`[shift_add] form`, optional: [`ShiftAddForm::Kernel`]).
    pub shift_add: ShiftAddForm,
}

impl Profile {
    /// Element operations per cycle for one class at one precision: lanes × vector
    /// instructions per cycle × threads.
    pub fn ops_per_cycle(&self, p: Precision, c: OpClass) -> f64 {
        self.simd[p as usize] * self.throughput[p as usize][c as usize] * self.threads as f64
    }

    /// The smallest level a working set of `bytes` fits in.
    pub fn level_for(&self, bytes: u64) -> MemLevel {
        if bytes <= self.l1.size {
            MemLevel::L1
        } else if bytes <= self.l2.size {
            MemLevel::L2
        } else {
            MemLevel::Dram
        }
    }

    /// Bandwidth of a level, bytes per second.
    pub fn bandwidth(&self, level: MemLevel) -> f64 {
        match level {
            MemLevel::L1 => self.l1.bandwidth,
            MemLevel::L2 => self.l2.bandwidth,
            MemLevel::Dram => self.dram_bandwidth,
        }
    }

    /// Parses a profile; `origin` (a file name) prefixes errors.
    pub fn parse(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
            ProfileError::File { origin: origin.into(), cause: format!("{at}{}", e.message().trim()) }
        })?;
        let mut r = Reader { origin, table: &table, known: Vec::new() };
        let multiplier_cycles = if table.contains_key("multiplier_cycles") {
            let cycles = r.num("multiplier_cycles")?;
            for path in multiplier_fields() {
                if r.get(&path).is_ok() {
                    return Err(r.err(&path, "is set by multiplier_cycles; leave it out".into()));
                }
            }
            Some(cycles)
        } else {
            None
        };
        let per_class = |r: &mut Reader, section: &str| -> Result<[[f64; 7]; 4], ProfileError> {
            let mut out = [[0.0; 7]; 4];
            for p in Precision::ALL {
                for c in OpClass::ALL {
                    out[p as usize][c as usize] = match (section, multiplier_cycles) {
                        ("throughput", Some(cycles)) if derived_from_multiplier(p, c) => {
                            if c == OpClass::Mul {
                                1.0 / cycles
                            } else {
                                1.0 / (cycles + 1.0)
                            }
                        }
                        _ => r.num(&format!("{section}.{}.{}", p.key(), c.key()))?,
                    };
                }
            }
            Ok(out)
        };
        let (name, description) = (r.text("name")?, r.text("description")?);
        let (clock_hz, cores, threads) = (r.num("clock_hz")?, r.count("cores")?, r.count("threads")?);
        let shift_add = if table.contains_key("shift_add") {
            match r.text("shift_add.form")?.as_str() {
                "kernel" => ShiftAddForm::Kernel,
                "datapath" => ShiftAddForm::Datapath,
                other => {
                    return Err(r.err("shift_add.form", format!("must be \"kernel\" or \"datapath\", found {other:?}")))
                }
            }
        } else {
            ShiftAddForm::Kernel
        };
        let mut simd = [0.0; 4];
        for p in Precision::ALL {
            simd[p as usize] = r.num(&format!("simd.{}", p.key()))?;
        }
        let profile = Profile {
            name,
            description,
            clock_hz,
            cores,
            threads,
            multiplier_cycles,
            simd,
            throughput: per_class(&mut r, "throughput")?,
            l1: Cache { size: r.count("memory.l1.size")?, bandwidth: r.num("memory.l1.bandwidth")? },
            l2: Cache { size: r.count("memory.l2.size")?, bandwidth: r.num("memory.l2.bandwidth")? },
            dram_bandwidth: r.num("memory.dram.bandwidth")?,
            kernel_overhead_cycles: r.num("overhead.kernel_cycles")?,
            energy: Energy {
                ops: per_class(&mut r, "energy")?,
                l1: r.num("energy.memory.l1")?,
                l2: r.num("energy.memory.l2")?,
                dram: r.num("energy.memory.dram")?,
            },
            shift_add,
        };
        r.reject_unknown(r.table, "")?;
        if profile.threads > profile.cores {
            return Err(r.err("threads", format!("{} threads on {} cores", profile.threads, profile.cores)));
        }
        if profile.l2.size < profile.l1.size {
            return Err(r.err("memory.l2.size", "is smaller than memory.l1.size".into()));
        }
        Ok(profile)
    }

    /// The profile as TOML, every figure followed by `# {comment(field)}` (fields as dotted
    /// paths, `throughput.f32.mul`). [`Profile::parse`] reads it back.
    pub fn to_toml(&self, comment: impl Fn(&str) -> String) -> String {
        let mut s = String::new();
        let line = |s: &mut String, key: &str, path: &str, value: String| {
            let _ = writeln!(s, "{key} = {value} # {}", comment(path));
        };
        let _ = writeln!(s, "name = {:?}", self.name);
        let _ = writeln!(s, "description = {:?}", self.description);
        line(&mut s, "clock_hz", "clock_hz", num(self.clock_hz));
        line(&mut s, "cores", "cores", self.cores.to_string());
        line(&mut s, "threads", "threads", self.threads.to_string());
        if let Some(cycles) = self.multiplier_cycles {
            line(&mut s, "multiplier_cycles", "multiplier_cycles", num(cycles));
        }
        let _ = writeln!(s, "\n[simd] # lanes per vector instruction");
        for p in Precision::ALL {
            line(&mut s, p.key(), &format!("simd.{}", p.key()), num(self.simd[p as usize]));
        }
        for p in Precision::ALL {
            let _ = writeln!(s, "\n[throughput.{}] # vector instructions per cycle per thread", p.key());
            for c in
                OpClass::ALL.into_iter().filter(|&c| self.multiplier_cycles.is_none() || !derived_from_multiplier(p, c))
            {
                let path = format!("throughput.{}.{}", p.key(), c.key());
                line(&mut s, c.key(), &path, num(self.throughput[p as usize][c as usize]));
            }
        }
        for (key, cache) in [("l1", self.l1), ("l2", self.l2)] {
            let _ = writeln!(s, "\n[memory.{key}]");
            line(&mut s, "size", &format!("memory.{key}.size"), cache.size.to_string());
            line(&mut s, "bandwidth", &format!("memory.{key}.bandwidth"), num(cache.bandwidth));
        }
        let _ = writeln!(s, "\n[memory.dram]");
        line(&mut s, "bandwidth", "memory.dram.bandwidth", num(self.dram_bandwidth));
        let _ = writeln!(s, "\n[overhead]");
        line(&mut s, "kernel_cycles", "overhead.kernel_cycles", num(self.kernel_overhead_cycles));
        for p in Precision::ALL {
            let _ = writeln!(s, "\n[energy.{}] # pJ per element operation", p.key());
            for c in OpClass::ALL {
                let path = format!("energy.{}.{}", p.key(), c.key());
                line(&mut s, c.key(), &path, num(self.energy.ops[p as usize][c as usize]));
            }
        }
        let _ = writeln!(s, "\n[energy.memory] # pJ per byte moved");
        for (key, v) in [("l1", self.energy.l1), ("l2", self.energy.l2), ("dram", self.energy.dram)] {
            line(&mut s, key, &format!("energy.memory.{key}"), num(v));
        }
        let _ = writeln!(s, "\n[shift_add]");
        line(&mut s, "form", "shift_add.form", format!("{:?}", self.shift_add.key()));
        s
    }
}

/// Whether `multiplier_cycles`, when a profile sets it, gives this throughput figure: the
/// integer multiply and multiply-add.
fn derived_from_multiplier(p: Precision, c: OpClass) -> bool {
    p != Precision::F32 && matches!(c, OpClass::Mul | OpClass::Fma)
}

/// The throughput fields `multiplier_cycles` sets, as dotted paths.
fn multiplier_fields() -> Vec<String> {
    let mut paths = Vec::new();
    for p in Precision::ALL {
        for c in OpClass::ALL.into_iter().filter(|&c| derived_from_multiplier(p, c)) {
            paths.push(format!("throughput.{}.{}", p.key(), c.key()));
        }
    }
    paths
}

/// A float written so that TOML reads it back as a float (`4.0`, `0.25`, `1.2e9`).
fn num(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) {
        return format!("{v:e}");
    }
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) || !v.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

/// Reads dotted fields from a table, remembering which were read.
struct Reader<'a> {
    origin: &'a str,
    table: &'a toml::Table,
    known: Vec<String>,
}

impl<'a> Reader<'a> {
    fn err(&self, field: &str, cause: String) -> ProfileError {
        ProfileError::Field { origin: self.origin.into(), field: field.into(), cause }
    }

    fn get(&mut self, path: &str) -> Result<&'a toml::Value, ProfileError> {
        self.known.push(path.to_string());
        let mut table = self.table;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let value = table.get(*part).ok_or_else(|| self.err(path, "missing".into()))?;
            if i + 1 == parts.len() {
                return Ok(value);
            }
            table = value.as_table().ok_or_else(|| self.err(&parts[..=i].join("."), "must be a table".into()))?;
        }
        unreachable!("a path has at least one part")
    }

    fn num(&mut self, path: &str) -> Result<f64, ProfileError> {
        let v = match self.get(path)? {
            toml::Value::Float(f) => *f,
            toml::Value::Integer(i) => *i as f64,
            other => return Err(self.err(path, format!("must be a number, found {}", other.type_str()))),
        };
        if !v.is_finite() || v <= 0.0 {
            return Err(self.err(path, format!("must be a positive number, found {v}")));
        }
        Ok(v)
    }

    fn count<T: TryFrom<i64>>(&mut self, path: &str) -> Result<T, ProfileError> {
        match self.get(path)? {
            toml::Value::Integer(i) if *i > 0 => {
                T::try_from(*i).map_err(|_| self.err(path, format!("{i} is too large")))
            }
            other => Err(self.err(path, format!("must be a positive whole number, found {other}"))),
        }
    }

    fn text(&mut self, path: &str) -> Result<String, ProfileError> {
        match self.get(path)? {
            toml::Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            other => Err(self.err(path, format!("must be a non-empty string, found {other}"))),
        }
    }

    /// Errors on the first key that no read asked for (a typo would otherwise be ignored).
    fn reject_unknown(&self, table: &toml::Table, prefix: &str) -> Result<(), ProfileError> {
        for (key, value) in table {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            let under = format!("{path}.");
            if !self.known.iter().any(|k| *k == path || k.starts_with(&under)) {
                let here = if prefix.is_empty() { String::new() } else { format!("{prefix}.") };
                let siblings: std::collections::BTreeSet<&str> = self
                    .known
                    .iter()
                    .filter_map(|k| k.strip_prefix(here.as_str()))
                    .filter_map(|rest| rest.split('.').next())
                    .collect();
                let siblings: Vec<&str> = siblings.into_iter().collect();
                return Err(self.err(&path, format!("unknown field (known here: {})", siblings.join(", "))));
            }
            if let toml::Value::Table(t) = value {
                self.reject_unknown(t, &path)?;
            }
        }
        Ok(())
    }
}

/// A profile shipped with gos-opt: its name and TOML text (embedded at build time).
#[derive(Clone, Copy, Debug)]
pub struct Shipped {
    /// Target name.
    pub name: &'static str,
    /// The TOML, with its comments.
    pub text: &'static str,
}

/// The shipped profiles (`targets/*.toml`).
pub const SHIPPED: &[Shipped] = &[
    Shipped { name: "rpi3", text: include_str!("../../targets/rpi3.toml") },
    Shipped { name: "rpi4", text: include_str!("../../targets/rpi4.toml") },
    Shipped { name: "redmi-note-7s", text: include_str!("../../targets/redmi-note-7s.toml") },
    Shipped { name: "cortex-m4", text: include_str!("../../targets/cortex-m4.toml") },
    Shipped { name: "cortex-m7", text: include_str!("../../targets/cortex-m7.toml") },
    Shipped { name: "cortex-m0plus", text: include_str!("../../targets/cortex-m0plus.toml") },
    Shipped { name: "asic45", text: include_str!("../../targets/asic45.toml") },
    Shipped { name: "host", text: include_str!("../../targets/host.toml") },
];

/// Names of the shipped targets.
pub fn target_names() -> Vec<&'static str> {
    SHIPPED.iter().map(|s| s.name).collect()
}

/// The TOML of a shipped target, with its comments.
pub fn shipped_source(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|s| s.name == name).map(|s| s.text)
}

/// Loads a shipped target by name.
pub fn load_target(name: &str) -> Result<Profile, ProfileError> {
    let text = shipped_source(name)
        .ok_or_else(|| ProfileError::UnknownTarget { name: name.into(), known: target_names().join(", ") })?;
    Profile::parse(text, &format!("targets/{name}.toml"))
}

/// Loads a user's profile file.
pub fn load_file(path: &Path) -> Result<Profile, ProfileError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ProfileError::File { origin: origin.clone(), cause: e.to_string() })?;
    Profile::parse(&text, &origin)
}

/// The profile a command line asks for: `--target-file` when given, else `--target`.
pub fn resolve(target: Option<&str>, file: Option<&Path>) -> Result<Profile, ProfileError> {
    match (file, target) {
        (Some(path), _) => load_file(path),
        (None, Some(name)) => load_target(name),
        (None, None) => Err(ProfileError::UnknownTarget { name: String::new(), known: target_names().join(", ") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_toml_reads_back_the_same_profile() {
        for shipped in SHIPPED {
            let p = load_target(shipped.name).unwrap();
            let text = p.to_toml(|path| format!("figure {path}"));
            assert_eq!(Profile::parse(&text, "round-trip").unwrap(), p, "{}", shipped.name);
            assert!(text.contains("kernel_cycles = ") && text.contains("# figure overhead.kernel_cycles"));
        }
    }

    #[test]
    fn errors_say_file_field_cause() {
        let good = shipped_source("rpi3").unwrap();
        let err = |text: &str| Profile::parse(text, "my.toml").unwrap_err().to_string();
        assert_eq!(
            err(&good.replace("cores = 4", "cores = 0")),
            "my.toml: cores: must be a positive whole number, found 0"
        );
        assert_eq!(err(&good.replace("threads = 1", "threads = 8")), "my.toml: threads: 8 threads on 4 cores");
        assert_eq!(
            err(&good.replace("f32 = 4 ", "f32 = -4 ")),
            "my.toml: simd.f32: must be a positive number, found -4"
        );
        assert_eq!(err("name = \"x\"\n"), "my.toml: description: missing");
        assert_eq!(err(&good.replace("[simd]", "simd = 3\n[simdx]")), "my.toml: simd: must be a table");
        assert!(err("name = [").starts_with("my.toml: line 1: "), "{}", err("name = ["));
        assert!(
            err(&format!("warp = 9\n{good}")).starts_with("my.toml: warp: unknown field (known here: clock_hz, cores")
        );
        assert_eq!(
            load_target("rpi5").unwrap_err().to_string(),
            "unknown target 'rpi5' (known: rpi3, rpi4, redmi-note-7s, cortex-m4, cortex-m7, cortex-m0plus, asic45, host)"
        );
    }

    #[test]
    fn multiplier_cycles_set_the_integer_multiply_figures() {
        let m0 = load_target("cortex-m0plus").unwrap();
        assert_eq!(m0.multiplier_cycles, Some(32.0));
        assert_eq!(m0.ops_per_cycle(Precision::I8, OpClass::Mul), 1.0 / 32.0);
        assert_eq!(m0.ops_per_cycle(Precision::I32, OpClass::Fma), 1.0 / 33.0);
        assert_eq!(m0.ops_per_cycle(Precision::I8, OpClass::Add), 1.0);
        let source = shipped_source("cortex-m0plus").unwrap();
        let fast = Profile::parse(&source.replace("multiplier_cycles = 32 ", "multiplier_cycles = 1 "), "fast.toml");
        assert_eq!(fast.unwrap().ops_per_cycle(Precision::I16, OpClass::Mul), 1.0);
        let both = source.replace("[throughput.i8] # instructions per cycle", "[throughput.i8]\nmul = 1.0");
        assert_eq!(
            Profile::parse(&both, "both.toml").unwrap_err().to_string(),
            "both.toml: throughput.i8.mul: is set by multiplier_cycles; leave it out"
        );
    }

    #[test]
    fn shift_add_form_is_read_printed_and_kernel_by_default() {
        let asic = load_target("asic45").unwrap();
        assert_eq!(asic.shift_add, ShiftAddForm::Datapath);
        for t in target_names().into_iter().filter(|&t| t != "asic45") {
            assert_eq!(load_target(t).unwrap().shift_add, ShiftAddForm::Kernel, "{t}");
        }
        let text = asic.to_toml(|path| format!("figure {path}"));
        assert!(text.contains("[shift_add]\nform = \"datapath\" # figure shift_add.form"), "{text}");
        let source = shipped_source("asic45").unwrap();
        let kernel = Profile::parse(&source.replace("form = \"datapath\"", "form = \"kernel\""), "k.toml").unwrap();
        assert_eq!(kernel, Profile { shift_add: ShiftAddForm::Kernel, ..asic.clone() });
        assert_eq!(
            Profile::parse(&source.replace("form = \"datapath\"", "form = \"adders\""), "a.toml")
                .unwrap_err()
                .to_string(),
            "a.toml: shift_add.form: must be \"kernel\" or \"datapath\", found \"adders\""
        );
        assert_eq!(
            Profile::parse(&source.replace("form = \"datapath\"", "width = 3"), "w.toml").unwrap_err().to_string(),
            "w.toml: shift_add.form: missing"
        );
    }

    #[test]
    fn levels_follow_the_cache_sizes() {
        let p = load_target("rpi3").unwrap();
        assert_eq!(p.level_for(32 * 1024), MemLevel::L1);
        assert_eq!(p.level_for(32 * 1024 + 1), MemLevel::L2);
        assert_eq!(p.level_for(1 << 20), MemLevel::Dram);
        assert_eq!(p.ops_per_cycle(Precision::F32, OpClass::Fma), 2.0);
    }
}
