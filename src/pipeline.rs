//! The stages in order: import → (rewrite, by mode) → export → verify → write.

use crate::graph::{Graph, GraphError};
use crate::onnx::{self, ImportError, ImportOptions};
use crate::rules::{RuleError, RuleSet};
use crate::search;
use crate::tensor::TensorType;
use crate::verify::{self, VerifyError, VerifyReport};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What the optimizer may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No rewrites: import, export, verify, write.
    None,
    /// Exact rewrites only.
    Exact,
    /// Approximate rewrites under an accuracy budget too.
    Approx,
}

/// Everything one optimization run needs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The model to read (never modified).
    pub input: PathBuf,
    /// Where to write; `MODEL.opt.onnx` beside the input when `None`.
    pub output: Option<PathBuf>,
    /// Target name: a shipped profile ([`crate::cost::target_names`]), or the `name` of the
    /// profile in `target_file`.
    pub target: String,
    /// A user's profile (`--target-file`), used instead of the shipped `target`.
    pub target_file: Option<PathBuf>,
    /// What extraction minimizes (`--objective`).
    pub objective: crate::cost::Objective,
    /// Rewrite mode.
    pub mode: Mode,
    /// Import options (`--input-shape`).
    pub import: ImportOptions,
    /// User rule files (`--rules`), loaded after the shipped ones.
    pub rules: Vec<PathBuf>,
    /// Saturation limits (`--node-limit`, `--iter-limit`, `--time-limit`).
    pub limits: search::Limits,
}

/// Why a run failed. [`PipelineError::Verification`] maps to exit code 3, the rest to 1.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The model could not be imported.
    #[error("{path}: {cause}")]
    Import { path: String, cause: ImportError },
    /// The graph could not be exported.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The output would overwrite the input.
    #[error("output path {0} is the input model; gos-opt never overwrites its input (choose another -o)")]
    OutputIsInput(String),
    /// The target is unknown.
    #[error("unknown target '{0}' (known: {known})", known = crate::cost::target_names().join(", "))]
    UnknownTarget(String),
    /// The target profile could not be read.
    #[error(transparent)]
    Profile(#[from] crate::cost::ProfileError),
    /// The mode is not available.
    #[error("--mode {0} is not available yet (this build has --mode none and --mode exact)")]
    ModeUnavailable(&'static str),
    /// The model could not be lowered into the e-graph.
    #[error(transparent)]
    Lower(#[from] crate::ir::LowerError),
    /// No emittable program was found.
    #[error(transparent)]
    Extract(#[from] search::ExtractError),
    /// The extracted program could not be lifted back to a graph.
    #[error(transparent)]
    Lift(#[from] crate::ir::LiftError),
    /// A rule file could not be loaded (`file:line: rule NAME: cause`).
    #[error(transparent)]
    Rules(#[from] RuleError),
    /// The verification could not run.
    #[error("verification could not run: {0}")]
    VerifyRun(#[from] VerifyError),
    /// The rewritten model does not compute what the original computed; nothing was written.
    #[error("verification failed, nothing written: {0}")]
    Verification(String),
    /// Writing the output failed.
    #[error("cannot write {path}: {cause}")]
    Write { path: String, cause: String },
}

/// What a successful run produced.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The written model.
    pub output: PathBuf,
    /// Nodes before and after.
    pub nodes_before: usize,
    /// Nodes after rewriting.
    pub nodes_after: usize,
    /// The verification figures.
    pub verification: VerifyReport,
    /// What saturation did (exact mode).
    pub search: Option<search::Stats>,
    /// The input model: per-layer shapes, MACs and predicted cost on the target.
    pub before: crate::inspect::Inspection,
    /// The written model, likewise.
    pub after: crate::inspect::Inspection,
}

/// `MODEL.opt.onnx` beside `MODEL.onnx`.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    input.with_file_name(format!("{stem}.opt.onnx"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Runs the pipeline and writes the optimized model.
pub fn run(opts: &Options) -> Result<Outcome, PipelineError> {
    if opts.target_file.is_none() && crate::cost::shipped_source(&opts.target).is_none() {
        return Err(PipelineError::UnknownTarget(opts.target.clone()));
    }
    let profile = crate::cost::resolve(Some(&opts.target), opts.target_file.as_deref())?;
    // Loaded (and so checked) on every run.
    let rules = RuleSet::load(&opts.rules, &crate::rules::Functions)?;
    if opts.mode == Mode::Approx {
        return Err(PipelineError::ModeUnavailable("approx"));
    }
    let output = opts.output.clone().unwrap_or_else(|| default_output(&opts.input));
    if same_file(&opts.input, &output) {
        return Err(PipelineError::OutputIsInput(output.display().to_string()));
    }
    let import_err = |cause| PipelineError::Import { path: opts.input.display().to_string(), cause };
    let original = std::fs::read(&opts.input)
        .map_err(|e| import_err(ImportError::Io { path: opts.input.display().to_string(), cause: e.to_string() }))?;
    let dir = opts.input.parent();
    let mut graph: Graph = onnx::import_bytes(&original, dir, &opts.import).map_err(import_err)?;
    let nodes_before = graph.node_count();
    let before = crate::inspect::inspect_on(&graph, Some(&profile), opts.objective)?;
    let mut search = None;
    if opts.mode == Mode::Exact {
        let (optimized, stats) = optimize_exact(&graph, &rules, &profile, opts.objective, &opts.limits)?;
        graph = optimized;
        search = Some(stats);
    }
    graph.meta.set_metadata("gos-opt.version", env!("CARGO_PKG_VERSION"));
    graph.meta.set_metadata("gos-opt.target", &opts.target);
    let bytes = onnx::export_bytes(&graph)?;

    let verification = verify_against_original(&original, dir, &bytes, &graph)?;
    if !verification.passed {
        return Err(PipelineError::Verification(verification.summary()));
    }
    write_atomically(&output, &bytes)?;
    let after = crate::inspect::inspect_on(&graph, Some(&profile), opts.objective)?;
    Ok(Outcome { output, nodes_before, nodes_after: graph.node_count(), verification, search, before, after })
}

/// A node's price for extraction: its own cost under the target and objective, infinite when
/// the exporter cannot write it.
struct TargetCost<'a> {
    profile: &'a crate::cost::Profile,
    objective: crate::cost::Objective,
}

impl search::NodeCost for TargetCost<'_> {
    fn node_cost(&self, egraph: &crate::ir::IrGraph, _class: egg::Id, node: &crate::ir::Ir) -> f64 {
        crate::cost::objective_cost(self.profile, self.objective, node, egraph)
    }
}

/// Lower → saturate with the exact rules → extract the cheapest DAG for the target → lift.
pub fn optimize_exact(
    graph: &Graph,
    rules: &RuleSet,
    profile: &crate::cost::Profile,
    objective: crate::cost::Objective,
    limits: &search::Limits,
) -> Result<(Graph, search::Stats), PipelineError> {
    let mut analysis = crate::ir::analysis_for(graph);
    analysis.functions = std::sync::Arc::new(crate::rules::Functions);
    let lowered = crate::ir::lower_with(graph, analysis)?;
    let (egraph, stats) = search::saturate(lowered.egraph, lowered.root, &rules.rewrites(false), limits);
    let best = search::extract_dag(&egraph, lowered.root, &TargetCost { profile, objective })?;
    let optimized = crate::ir::lift(&egraph, &best.expr, graph, &lowered.origins)?;
    Ok((optimized, stats))
}

/// Seeded random input sets used besides the test sets found beside the model.
const RANDOM_SETS: usize = 2;

/// Runs the original and the candidate with tract on the test sets beside the model (if any)
/// and on seeded random inputs, and compares their outputs.
fn verify_against_original(
    original: &[u8],
    dir: Option<&Path>,
    candidate: &[u8],
    graph: &Graph,
) -> Result<VerifyReport, VerifyError> {
    let types: HashMap<String, TensorType> =
        graph.inputs.iter().filter_map(|&id| Some((graph.value(id).name.clone(), graph.ty(id)?.clone()))).collect();
    let names: Vec<String> = graph.inputs.iter().map(|&id| graph.value(id).name.clone()).collect();
    let mut sets = Vec::new();
    if let Some(dir) = dir {
        for test_set in verify::load_test_sets(dir, None)? {
            let set = test_set.input_set(&names)?;
            // A test set for other shapes than the ones imported cannot be used.
            if set.iter().all(|(name, t)| types.get(name).is_some_and(|ty| ty.shape == t.shape && ty.dtype == t.dtype))
            {
                sets.push(set);
            }
        }
    }
    sets.extend(verify::random_sets(&types, &verify::RandomSpec::with_seed(0), RANDOM_SETS)?);
    verify::verify(original, dir, candidate, dir, &sets, &types)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    use std::io::Write;
    let err = |cause: String| PipelineError::Write { path: path.display().to_string(), cause };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err(e.to_string()))?;
    tmp.write_all(bytes).map_err(|e| err(e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| err(e.to_string()))?;
    tmp.persist(path).map_err(|e| err(e.error.to_string()))?;
    Ok(())
}
