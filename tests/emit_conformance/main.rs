//! The ONNX backend node conformance cases through the Rust back end.
//!
//! Per case (`../shared/conformance/onnx-node/node/*`, the ones whose ops gos-opt imports):
//! 1. gos-opt imports the model with the static input shapes of the first test set; an input that
//!    decides a shape (`ImportError::RuntimeOperand`) is PINNED to set 0's value through
//!    `ImportOptions::frozen_inputs`, and only the sets sharing that value are run.
//! 2. `emit::generate` writes the module. When the importer or the generator declines (an
//!    unsupported op or type, an opaque op), the case is SKIPPED, counted by reason; a panic in
//!    the generator is a FAILURE.
//! 3. All emitted modules are compiled together as one `#![no_std]` rlib with `-D warnings`, plus
//!    one runner binary (one rustc call each, in `target/emit-conformance`, skipped when nothing
//!    changed). A module that does not compile is a FAILURE (the others are rebuilt without it).
//! 4. The runner executes every test set (arena and outputs filled with NaN first, so a value
//!    nobody wrote shows) and every output is compared with the case's expected output: floats
//!    within 1e-4 + 1e-3·|expected| (conformance.rs's suite tolerance), integers exactly. A
//!    mismatch or a panic in the generated code is a FAILURE.
//!
//! The test asserts that nothing fails (bar [`KNOWN_FAILURES`]) and that at least
//! [`PASS_FLOOR`] cases pass. The summary goes to `target/emit-conformance/summary.md`.

#[path = "../common/mod.rs"]
mod common;
mod runner;

use common::{cell, panic_message, reason_key, shared_dir, target_dir, unsupported_ops, write_target_file};
use gos_opt::emit::{self, EmitError, EmitOptions, Generated};
use gos_opt::graph::Graph;
use gos_opt::onnx::{import, ImportError, ImportOptions};
use gos_opt::tensor::Tensor;
use gos_opt::verify::{io_names, load_test_sets, InputSet, Tolerance};
use runner::{compile, run_jobs, write_module, Job};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Passes measured; fewer is a regression. Raise it as the back end grows.
const PASS_FLOOR: usize = 301;

/// Cases that fail because of a known generator bug, with the reason (reported, not failed).
const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// Tolerance for float outputs against the suite's expected outputs (as in tests/conformance.rs).
const FLOAT_TOLERANCE: Tolerance = Tolerance::new(1e-4, 1e-3);

/// One test set of an emitted case: its inputs in graph-input order and its expected outputs.
struct Set {
    index: usize,
    inputs: Vec<Vec<f32>>,
    expected: Vec<Tensor>,
}

/// A case whose module was generated.
struct Emitted {
    name: String,
    /// Rust identifier of its module.
    ident: String,
    generated: Generated,
    inputs: usize,
    /// Names and element counts of the graph outputs, in order.
    outputs: Vec<(String, usize)>,
    sets: Vec<Set>,
    /// Inputs pinned to set 0's value.
    pinned: Vec<String>,
}

/// What preparing a case gave.
enum Prepared {
    Emitted(Box<Emitted>),
    /// Skipped: the reason's category (for the counts), and the full reason.
    Skipped(String, String),
    Failed(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Pass,
    KnownFailure,
    Fail,
    Skip,
}

/// The final result of one case.
struct Outcome {
    case: String,
    status: Status,
    /// The skip category (skips only).
    category: String,
    detail: String,
}

/// The category of a skip reason: [`reason_key`] of its part before `; ` (the explanation),
/// at most 120 characters.
fn category(reason: &str) -> String {
    let key = reason_key(reason.split("; ").next().unwrap_or_default());
    match key.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &key[..at]),
        None => key,
    }
}

/// Imports `path` with `shapes`, pinning every input the importer reports as deciding a shape
/// to its value in `values`, and every graph input that only feeds values (Clip's bounds...:
/// the importer passes such a node through opaque, which the back end cannot emit); the graph
/// and the pinned inputs.
fn import_pinned(
    path: &Path,
    shapes: HashMap<String, Vec<usize>>,
    values: &InputSet,
) -> Result<(Graph, Vec<String>), String> {
    let mut opts = ImportOptions { input_shapes: shapes, frozen_inputs: HashMap::new() };
    let mut pinned = Vec::new();
    loop {
        match import(path, &opts) {
            Ok(g) => {
                let runtime = value_only_inputs(&g);
                let fresh: Vec<String> = runtime
                    .into_iter()
                    .filter(|name| values.contains_key(name) && !opts.frozen_inputs.contains_key(name))
                    .collect();
                if fresh.is_empty() {
                    return Ok((g, pinned));
                }
                for name in fresh {
                    opts.frozen_inputs.insert(name.clone(), values[&name].clone());
                    pinned.push(name);
                }
            }
            Err(ImportError::RuntimeOperand { input, node, op }) => {
                let Some(value) = values.get(&input).filter(|_| !opts.frozen_inputs.contains_key(&input)) else {
                    return Err(format!("import: node '{node}' ({op}): input '{input}' decides a shape, not pinnable"));
                };
                opts.frozen_inputs.insert(input.clone(), value.clone());
                pinned.push(input);
            }
            Err(e) => return Err(format!("import: {e}")),
        }
    }
}

/// Graph inputs that feed an opaque node an operand that only feeds values.
fn value_only_inputs(g: &Graph) -> Vec<String> {
    let mut names = Vec::new();
    for id in g.topo_order().unwrap_or_default() {
        let node = g.node(id);
        let gos_opt::ops::Op::Opaque(o) = &node.op else { continue };
        for (i, input) in node.inputs.iter().enumerate() {
            let Some(v) = input else { continue };
            let value = g.value(*v);
            let is_input = matches!(value.kind, gos_opt::graph::ValueKind::Input);
            if is_input && o.domain.is_empty() && gos_opt::ops::feeds_values_only(&o.op_type, g.meta.opset(), i) {
                names.push(value.name.clone());
            }
        }
    }
    names
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_f64_vec().expect("numeric").into_iter().map(|v| v as f32).collect()
}

/// Imports and generates one case.
fn prepare(name: &str, dir: &Path) -> Prepared {
    let skip = |reason: String| Prepared::Skipped(category(&reason), reason);
    let model = dir.join("model.onnx");
    let Some((declared, _)) = std::fs::read(&model).ok().and_then(|b| io_names(&b)) else {
        return skip("model.onnx is not readable".into());
    };
    let sets = match load_test_sets(dir, None) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => return skip("no test_data_set".into()),
        Err(e) => return Prepared::Skipped("test data not readable".into(), e.to_string()),
    };
    let mut cases = Vec::new();
    for s in &sets {
        match s.input_set(&declared) {
            Ok(inputs) => cases.push((inputs, s.expected())),
            Err(e) => return Prepared::Skipped("test data not readable".into(), e.to_string()),
        }
    }
    let shapes = cases[0].0.iter().map(|(k, t)| (k.clone(), t.ttype().shape)).collect();
    let (graph, pinned) = match import_pinned(&model, shapes, &cases[0].0) {
        Ok(g) => g,
        Err(e) => return skip(e),
    };
    let generated = match emit::generate(&graph, &EmitOptions::default()) {
        Ok(g) => g,
        Err(e) => {
            let key = match &e {
                // One category for every element type but f32 and the 8/16-bit integers.
                EmitError::Unsupported { op, reason, .. }
                    if matches!(op.as_str(), "graph input" | "graph output") && reason.contains(" is ") =>
                {
                    format!("unsupported: {op} type")
                }
                EmitError::Unsupported { op, reason, .. } => category(&format!("unsupported: {op}: {reason}")),
                EmitError::Opaque { .. } => "opaque ops".into(),
                _ => return Prepared::Failed(format!("generate: {e}")),
            };
            return Prepared::Skipped(key, e.to_string());
        }
    };
    let input_names: Vec<String> = graph.inputs.iter().map(|&v| graph.value(v).name.clone()).collect();
    let mut outputs = Vec::new();
    for &v in &graph.outputs {
        let Some(ty) = graph.ty(v) else { return Prepared::Failed("an output's type is unknown".into()) };
        outputs.push((graph.value(v).name.clone(), ty.shape.iter().product()));
    }
    let set0 = cases[0].0.clone();
    let mut runnable = Vec::new();
    for (index, (inputs, expected)) in cases.into_iter().enumerate() {
        // A pinned input only stands for the sets that share set 0's value.
        if pinned.iter().any(|p| inputs.get(p) != set0.get(p)) {
            continue;
        }
        let mut values = Vec::new();
        for n in &input_names {
            match inputs.get(n) {
                Some(t) => values.push(f32s(t)),
                None => return skip(format!("test set {index} lacks input '{n}'")),
            }
        }
        if expected.len() != outputs.len() {
            return Prepared::Failed(format!(
                "the graph has {} outputs, test set {index} has {}",
                outputs.len(),
                expected.len()
            ));
        }
        runnable.push(Set { index, inputs: values, expected });
    }
    Prepared::Emitted(Box::new(Emitted {
        name: name.to_string(),
        ident: format!("c_{}", name.to_ascii_lowercase()),
        generated,
        inputs: input_names.len(),
        outputs,
        sets: runnable,
        pinned,
    }))
}

/// Prepares every case on every core (a shared work index), catching generator panics.
fn prepare_all(cases: &[(String, PathBuf)]) -> Vec<(String, Prepared)> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(cases.len()));
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((case, dir)) = cases.get(i) else { break };
                let p = catch_unwind(AssertUnwindSafe(|| prepare(case, dir)))
                    .unwrap_or_else(|p| Prepared::Failed(format!("import or generate panicked: {}", panic_message(p))));
                results.lock().expect("no worker panics while holding the lock").push((case.clone(), p));
            });
        }
    });
    let mut out = results.into_inner().expect("workers are done");
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Compares one output: the failure message, if any.
fn compare(name: &str, expected: &Tensor, actual: &[f32]) -> Option<String> {
    let dtype = expected.ttype().dtype;
    let tolerance = if dtype.is_float() { FLOAT_TOLERANCE } else { Tolerance::EXACT };
    let Some(want) = expected.to_f64_vec() else { return Some(format!("output '{name}' is not numeric")) };
    if want.len() != actual.len() {
        return Some(format!("output '{name}': {} values, expected {}", actual.len(), want.len()));
    }
    let (mut bad, mut worst) = (0, None::<(f64, usize)>);
    for (i, (&e, &a)) in want.iter().zip(actual).enumerate() {
        let a = a as f64;
        if !tolerance.accepts(e, a) {
            bad += 1;
            let d = if (e - a).is_nan() { f64::INFINITY } else { (e - a).abs() };
            if worst.is_none_or(|(w, _)| d > w) {
                worst = Some((d, i));
            }
        }
    }
    let (d, i) = worst?;
    Some(format!(
        "output '{name}' ({dtype}): {bad} of {} values differ, max |diff| {d:.3e} at [{i}]: expected {}, got {}",
        want.len(),
        want[i],
        actual[i]
    ))
}

#[test]
fn generated_code_passes_the_onnx_node_conformance_cases() {
    let Some(shared) = shared_dir() else { return };
    let started = std::time::Instant::now();
    let node = shared.join("conformance/onnx-node");
    let json = std::fs::read_to_string(node.join("node_ops.json")).expect("node_ops.json is readable");
    let ops: HashMap<String, Vec<String>> = serde_json::from_str(&json).expect("node_ops.json maps case → ops");
    let op_list = |case: &str| ops[case].iter().map(|o| o.trim_start_matches("ai.onnx::")).collect::<Vec<_>>();
    let mut names: Vec<&String> = ops.keys().collect();
    names.sort();
    let mut outcomes = Vec::new();
    let mut cases = Vec::new();
    for name in names {
        let missing = unsupported_ops(&ops[name]);
        if missing.is_empty() {
            cases.push((name.clone(), node.join("node").join(name)));
        } else {
            let detail = format!("the importer does not support {}", missing.join(", "));
            let category = "import: unsupported op".to_string();
            outcomes.push(Outcome { case: name.clone(), status: Status::Skip, category, detail });
        }
    }
    let prepared = prepare_all(&cases);
    let prepare_secs = started.elapsed().as_secs_f64();
    let mut emitted = Vec::new();
    for (case, p) in prepared {
        match p {
            Prepared::Emitted(e) => emitted.push(*e),
            Prepared::Skipped(category, detail) => {
                outcomes.push(Outcome { case, status: Status::Skip, category, detail })
            }
            Prepared::Failed(detail) => outcomes.push(failure(&case, detail)),
        }
    }
    let mut idents: Vec<&str> = emitted.iter().map(|e| e.ident.as_str()).collect();
    idents.sort_unstable();
    idents.dedup();
    assert_eq!(idents.len(), emitted.len(), "two cases share a module name");

    let root = target_dir().join("emit-conformance");
    let (src, io) = (root.join("src"), root.join("io"));
    std::fs::create_dir_all(&src).expect("create target/emit-conformance/src");
    let _ = std::fs::remove_dir_all(&io);
    std::fs::create_dir_all(&io).expect("create target/emit-conformance/io");
    for case in &emitted {
        write_module(&src, case);
    }
    let compile_started = std::time::Instant::now();
    let (runner, broken) = compile(&root, &emitted.iter().collect::<Vec<_>>());
    let compile_secs = compile_started.elapsed().as_secs_f64();
    let mut case_failures: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (c, case) in emitted.iter().enumerate() {
        if let Some((_, e)) = broken.iter().find(|(n, _)| *n == case.name) {
            case_failures.entry(c).or_default().push(e.clone());
            continue;
        }
        for (s, set) in case.sets.iter().enumerate() {
            let (input, output) = (
                io.join(format!("{}_{}.in", case.ident, set.index)),
                io.join(format!("{}_{}.out", case.ident, set.index)),
            );
            let bytes: Vec<u8> = set.inputs.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(&input, bytes).expect("write input");
            let line = format!("{}\t{}\t{}", case.ident, input.display(), output.display());
            jobs.push((line, Job { case: c, set: s, output }));
        }
    }
    let run_started = std::time::Instant::now();
    let crashed = run_jobs(&runner, &io, &jobs);
    let run_secs = run_started.elapsed().as_secs_f64();
    for (k, (_, job)) in jobs.iter().enumerate() {
        let case = &emitted[job.case];
        let set = &case.sets[job.set];
        if let Some(msg) = crashed.get(&k) {
            case_failures.entry(job.case).or_default().push(format!("set {}: {msg}", set.index));
            continue;
        }
        let bytes = std::fs::read(&job.output).expect("output");
        let y: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let mut at = 0;
        for ((name, len), expected) in case.outputs.iter().zip(&set.expected) {
            let actual = y.get(at..at + len).unwrap_or_default();
            at += len;
            if let Some(msg) = compare(name, expected, actual) {
                case_failures.entry(job.case).or_default().push(format!("set {}: {msg}", set.index));
            }
        }
    }
    let mut pinned_cases = 0;
    for (c, case) in emitted.iter().enumerate() {
        pinned_cases += usize::from(!case.pinned.is_empty());
        let (status, detail) = match case_failures.remove(&c) {
            None if case.sets.is_empty() => (Status::Skip, "no runnable test set".to_string()),
            None => (Status::Pass, pin_note(&case.pinned)),
            Some(msgs) => {
                outcomes.push(failure(&case.name, msgs.join("; ")));
                continue;
            }
        };
        let category = if status == Status::Skip { detail.clone() } else { String::new() };
        outcomes.push(Outcome { case: case.name.clone(), status, category, detail });
    }
    outcomes.sort_by(|a, b| a.case.cmp(&b.case));
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "emit conformance: prepared {} cases in {prepare_secs:.1} s, compile {compile_secs:.1} s, \
         {} jobs run in {run_secs:.1} s, total {elapsed:.1} s ({pinned_cases} emitted cases with pinned inputs)",
        cases.len(),
        jobs.len()
    );
    let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    let (pass, fail, known, skip) =
        (count(Status::Pass), count(Status::Fail), count(Status::KnownFailure), count(Status::Skip));
    let path = summarize(&outcomes, &op_list, elapsed);
    println!("{pass} pass, {fail} fail, {known} known failures, {skip} skip; summary: {}", path.display());
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Fail | Status::KnownFailure))
        .map(|o| format!("{} {} [{}]: {}", o.status.label(), o.case, op_list(&o.case).join(", "), o.detail))
        .collect();
    for f in &failures {
        println!("{f}");
    }
    for (name, _) in KNOWN_FAILURES {
        if !outcomes.iter().any(|o| o.case == *name && o.status == Status::KnownFailure) {
            println!("note: {name} is in KNOWN_FAILURES but no longer fails: remove it (and raise PASS_FLOOR)");
        }
    }
    assert_eq!(fail, 0, "{fail} case(s) fail:\n{}", failures.join("\n"));
    assert!(pass >= PASS_FLOOR, "{pass} cases pass, fewer than the floor {PASS_FLOOR} (a regression)");
}

/// A failed case: a known failure when [`KNOWN_FAILURES`] lists it.
fn failure(case: &str, detail: String) -> Outcome {
    let (status, detail) = match KNOWN_FAILURES.iter().find(|(n, _)| *n == case) {
        Some((_, why)) => (Status::KnownFailure, format!("known: {why}; {detail}")),
        None => (Status::Fail, detail),
    };
    Outcome { case: case.to_string(), status, category: String::new(), detail }
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::KnownFailure => "known failure",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

fn pin_note(pinned: &[String]) -> String {
    if pinned.is_empty() {
        String::new()
    } else {
        format!("pinned: {}", pinned.join(", "))
    }
}

/// Writes `target/emit-conformance/summary.md`: counts, skips by reason, failures, every case.
fn summarize<'a>(outcomes: &'a [Outcome], op_list: &dyn Fn(&'a str) -> Vec<&'a str>, elapsed: f64) -> PathBuf {
    let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    let mut md = String::new();
    let _ = writeln!(md, "# ONNX node conformance through the Rust back end\n");
    let _ = writeln!(
        md,
        "Generated by `cargo test --test emit_conformance` (tests/emit_conformance/) in {elapsed:.1} s; do not edit.\n"
    );
    let _ = writeln!(md, "| status | cases |\n|---|---|");
    for s in [Status::Pass, Status::Fail, Status::KnownFailure, Status::Skip] {
        let _ = writeln!(md, "| {} | {} |", s.label(), count(s));
    }
    let mut reasons: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.status == Status::Skip) {
        reasons.entry(&o.category).or_default().push(&o.case);
    }
    let mut reasons: Vec<(&str, Vec<&str>)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let _ = writeln!(md, "\n## Skipped, by reason\n\n| cases | reason | examples |\n|---|---|---|");
    for (reason, cases) in &reasons {
        let examples: Vec<&str> = cases.iter().take(3).copied().collect();
        let _ = writeln!(md, "| {} | {} | {} |", cases.len(), cell(reason, 200), examples.join(", "));
    }
    let _ = writeln!(md, "\n## Failures\n\n| case | ops | status | detail |\n|---|---|---|---|");
    for o in outcomes.iter().filter(|o| matches!(o.status, Status::Fail | Status::KnownFailure)) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            o.case,
            op_list(&o.case).join(", "),
            o.status.label(),
            cell(&o.detail, 600)
        );
    }
    let _ = writeln!(md, "\n## Cases\n\n| case | status | detail |\n|---|---|---|");
    for o in outcomes {
        let _ = writeln!(md, "| {} | {} | {} |", o.case, o.status.label(), cell(&o.detail, 300));
    }
    write_target_file("emit-conformance/summary.md", &md)
}
