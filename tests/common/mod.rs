//! Helpers shared by the conformance and model tests: finding `../shared` and `target/`,
//! the import → lower → lift → export round trip, reading a model's ops, writing generated summaries.
#![allow(dead_code)] // each test crate uses its own subset

pub mod emitted;
pub mod suite;

use gos_opt::onnx::{export_bytes, import, ImportError, ImportOptions};
use gos_opt::tensor::{Tensor, TensorType};
use gos_opt::verify::InputSet;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `../shared` beside the crate, or `None` after printing the skip notice.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipping: ../shared not found");
        None
    }
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else the parent of the integration tests'
/// `CARGO_TARGET_TMPDIR`, else the crate's `target/`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() { dir } else { Path::new(env!("CARGO_MANIFEST_DIR")).join(dir) };
    }
    if let Some(parent) = Path::new(env!("CARGO_TARGET_TMPDIR")).parent() {
        return parent.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

/// Writes `target/<rel>` (creating directories) and returns its path.
pub fn write_target_file(rel: &str, contents: &str) -> PathBuf {
    let path = target_dir().join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    }
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Writes `values` as raw little-endian f32.
pub fn write_f32(path: &Path, values: &[f32]) {
    std::fs::write(path, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Runs `bin` (gos-opt) in approx mode for rpi3 on `model` (ONNX bytes, written to `dir`) with
/// raw f32 calibration and held-out samples under `budget` (`rel=0.05`); returns the written
/// model's bytes and the report's JSON text. Fails the test unless gos-opt exits with 0.
pub fn approx_rpi3(
    bin: &str,
    dir: &Path,
    model: &[u8],
    calib: &[f32],
    eval: &[f32],
    budget: &str,
) -> (Vec<u8>, String) {
    let (src, out, json) = (dir.join("m.onnx"), dir.join("m.opt.onnx"), dir.join("r.json"));
    let (calib_file, eval_file) = (dir.join("calib.f32"), dir.join("eval.f32"));
    std::fs::write(&src, model).unwrap_or_else(|e| panic!("cannot write {}: {e}", src.display()));
    write_f32(&calib_file, calib);
    write_f32(&eval_file, eval);
    let run = std::process::Command::new(bin)
        .arg(&src)
        .args(["--target", "rpi3", "--mode", "approx", "--budget", budget, "--calib"])
        .arg(&calib_file)
        .arg("--eval")
        .arg(&eval_file)
        .arg("-o")
        .arg(&out)
        .arg("--report")
        .arg(&json)
        .output()
        .expect("the binary runs");
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    (std::fs::read(&out).expect("the written model"), std::fs::read_to_string(&json).expect("the report"))
}

/// `domain::op_type` of every node of a model (default domain spelled `ai.onnx`), deduplicated.
pub fn model_ops(bytes: &[u8]) -> Option<Vec<String>> {
    use onnx_protobuf::{Message, ModelProto};
    let proto = ModelProto::parse_from_bytes(bytes).ok()?;
    let mut ops: Vec<String> = proto
        .graph
        .as_ref()?
        .node
        .iter()
        .map(|n| format!("{}::{}", if n.domain.is_empty() { "ai.onnx" } else { &n.domain }, n.op_type))
        .collect();
    ops.sort();
    ops.dedup();
    Some(ops)
}

/// The ops of `ops` (as `domain::op_type`) that gos-opt does not support.
pub fn unsupported_ops(ops: &[String]) -> Vec<String> {
    ops.iter()
        .filter(|op| match op.split_once("::") {
            Some(("ai.onnx", name)) => !gos_opt::ops::SUPPORTED.contains(&name),
            _ => true,
        })
        .cloned()
        .collect()
}

/// The static types of an input set, by name.
pub fn types_of(set: &InputSet) -> HashMap<String, TensorType> {
    set.iter().map(|(k, t)| (k.clone(), t.ttype())).collect()
}

/// The result of importing and exporting a model.
pub struct RoundTrip {
    /// The exported model, or one line saying which stage failed.
    pub result: Result<Vec<u8>, String>,
    /// Inputs pinned to constants because they decide shapes (in pinning order), also when a
    /// later stage failed.
    pub pinned: Vec<String>,
}

/// Imports `path` with `input_shapes` and the inputs named in `pins` frozen to their values in
/// `pin_values`, also pinning every input the importer reports as deciding a shape
/// (re-importing each time), and exports it again.
pub fn round_trip(
    path: &Path,
    input_shapes: HashMap<String, Vec<usize>>,
    pin_values: &HashMap<String, Tensor>,
    pins: &[String],
    exact: bool,
) -> RoundTrip {
    let frozen_inputs = pins.iter().filter_map(|p| Some((p.clone(), pin_values.get(p)?.clone()))).collect();
    let mut opts = ImportOptions { input_shapes, frozen_inputs };
    let mut pinned = pins.to_vec();
    let graph = loop {
        match import(path, &opts) {
            Ok(g) => break g,
            Err(ImportError::RuntimeOperand { input, node, op }) => {
                let value = pin_values.get(&input).filter(|_| !opts.frozen_inputs.contains_key(&input));
                let Some(value) = value else {
                    let e =
                        format!("import: node '{node}' ({op}): input '{input}' decides a shape and cannot be pinned");
                    return RoundTrip { result: Err(e), pinned };
                };
                opts.frozen_inputs.insert(input.clone(), value.clone());
                pinned.push(input);
            }
            Err(e) => return RoundTrip { result: Err(format!("import: {e}")), pinned },
        }
    };
    let rewritten = if exact { optimized(&graph) } else { through_egraph(&graph) };
    let result = rewritten.and_then(|g| export_bytes(&g).map_err(|e| format!("export: {e}")));
    RoundTrip { result, pinned }
}

/// Lower → extract → lift with no rules: the foundation's round trip passes through the e-graph.
pub fn through_egraph(graph: &gos_opt::graph::Graph) -> Result<gos_opt::graph::Graph, String> {
    let lowered = gos_opt::ir::lower(graph).map_err(|e| format!("lower: {e}"))?;
    let extractor = egg::Extractor::new(&lowered.egraph, egg::AstSize);
    let (_, expr) = extractor.find_best(lowered.root);
    gos_opt::lift::lift(&lowered.egraph, &expr, graph, &lowered.origins).map_err(|e| format!("lift: {e}"))
}

/// Exact optimization for rpi3 with the shipped rules (saturate, extract, lift), as the pipeline
/// runs it before verifying.
pub fn optimized(graph: &gos_opt::graph::Graph) -> Result<gos_opt::graph::Graph, String> {
    let rules = gos_opt::rules::RuleSet::load(&[], &gos_opt::rules::Functions).map_err(|e| e.to_string())?;
    let profile = gos_opt::cost::resolve(Some("rpi3"), None).map_err(|e| e.to_string())?;
    let limits = gos_opt::search::Limits::default();
    let objective = gos_opt::cost::Objective::Latency;
    let (g, _) = gos_opt::pipeline::optimize_exact(graph, &rules, &profile, objective, &limits)
        .map_err(|e| format!("optimize: {e}"))?;
    Ok(g)
}

/// The model with the named inputs turned into initializers holding `values` (the reference a
/// pinned round trip is compared with); `None` when the bytes do not parse.
pub fn pin_in_proto(bytes: &[u8], names: &[String], values: &HashMap<String, Tensor>) -> Option<Vec<u8>> {
    use onnx_protobuf::{Message, ModelProto};
    let mut proto = ModelProto::parse_from_bytes(bytes).ok()?;
    let g = proto.graph.as_mut()?;
    for name in names {
        g.input.retain(|i| &i.name != name);
        g.initializer.push(gos_opt::onnx::tensor_to_proto(name, values.get(name)?));
    }
    proto.write_to_bytes().ok()
}

/// The message of a caught panic.
pub fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Makes a string safe inside a markdown table cell (one line, no pipes), at most `max` chars.
pub fn cell(s: &str, max: usize) -> String {
    let one: String = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if one.chars().count() > max {
        format!("{}…", one.chars().take(max).collect::<String>())
    } else {
        one
    }
}

/// A failure or skip reason with what varies between cases blanked, so that reasons differing
/// only in names and numbers group together: node labels cut (they may nest quotes,
/// `'<unnamed, output 'y'>'`), quoted names as `'…'`, runs of digits as `N`.
pub fn reason_key(reason: &str) -> String {
    let mut reason = reason.to_string();
    while let Some(start) = reason.find("node '") {
        let Some(end) = reason[start..].find("' (").map(|e| start + e) else { break };
        reason.replace_range(start..end + 1, "node");
    }
    let mut key = String::new();
    let mut quoted = false;
    for ch in reason.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                if quoted {
                    key.push_str("'…'");
                }
            }
            _ if quoted => {}
            c if c.is_ascii_digit() => {
                if !key.ends_with('N') {
                    key.push('N');
                }
            }
            c => key.push(c),
        }
    }
    key
}
