//! The stages in order: import → (rewrite, by mode) → export → verify → write.

use crate::fsutil::write_atomically;
use crate::graph::{Graph, GraphError};
use crate::onnx::{self, ImportError, ImportOptions};
use crate::rules::{RuleError, RuleSet};
use crate::search;
use crate::tensor::TensorType;
use crate::verify::{self, VerifyError, VerifyReport};
use crate::winograd::Size;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub mod limits;
pub use limits::{parse_bytes, Deadline, LimitError, DEFAULT_MAX_MEMORY};

/// What the optimizer may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No rewrites: import, export, verify, write.
    None,
    /// Exact rewrites only (the default).
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
    /// Also write the written model as a Rust module into this directory (`--emit-rust`).
    pub emit_rust: Option<PathBuf>,
    /// Options of the Rust module.
    pub emit_options: crate::emit::EmitOptions,
    /// Approx mode's data and budget (required with [`Mode::Approx`]).
    pub approx: Option<crate::approx::Request>,
    /// Verification and resource limits (`--no-verify`, `--max-memory`, `--time-limit`).
    pub checks: Checks,
}

/// Whether a run verifies, and the limits it runs under.
#[derive(Clone, Debug)]
pub struct Checks {
    /// Verify the written model against the original (`--no-verify` turns it off: the report
    /// and the model's `gos-opt.verified` metadata then say `false`).
    pub verify: bool,
    /// The largest tensor, in bytes, the model may declare or have inferred (`--max-memory`).
    pub max_memory: u64,
    /// The whole run's time bound (`--time-limit`); saturation gets what is left of it.
    pub time_limit: Option<std::time::Duration>,
}

impl Default for Checks {
    /// Verify, [`DEFAULT_MAX_MEMORY`], no time bound beyond saturation's own.
    fn default() -> Self {
        Checks { verify: true, max_memory: DEFAULT_MAX_MEMORY, time_limit: None }
    }
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
    /// The target is unknown ([`crate::cost::ProfileError::UnknownTarget`]: see
    /// [`PipelineError::is_usage`]) or its profile could not be read.
    #[error(transparent)]
    Profile(#[from] crate::cost::ProfileError),
    /// Approx mode was asked for without its data or budget.
    #[error(
        "--mode approx needs calibration data and a budget: --calib DATA --budget acc=POINTS|agree=FRACTION|rel=ERROR"
    )]
    ApproxArgs,
    /// Approx mode's data could not be read.
    #[error("approx data: {0}")]
    Data(#[from] crate::approx::data::DataError),
    /// Approx mode failed (or its result broke the budget: see [`PipelineError::is_verification`]).
    #[error(transparent)]
    Approx(#[from] crate::approx::ApproxError),
    /// The model could not be lowered into the e-graph.
    #[error(transparent)]
    Lower(#[from] crate::ir::LowerError),
    /// No emittable program was found.
    #[error(transparent)]
    Extract(#[from] search::ExtractError),
    /// The extracted program could not be lifted back to a graph.
    #[error(transparent)]
    Lift(#[from] crate::lift::LiftError),
    /// The opset could not be raised for a recognized kernel.
    #[error("cannot raise the model's opset: {0}")]
    Upgrade(crate::graph::upgrade::UpgradeError),
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
    /// Rust could not be emitted (`--emit-rust`); nothing was written.
    #[error(transparent)]
    Emit(#[from] crate::emit::EmitError),
    /// A limit was hit (`--max-memory`, `--time-limit`); nothing was written.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A panic inside tract or gos-opt, caught; nothing was written.
    #[error("internal error while {stage}: {message}; nothing written")]
    Panic { stage: String, message: String },
}

impl PipelineError {
    /// Whether the run was asked for something that does not exist (an unknown target): a
    /// usage error (exit code 2) rather than a failure.
    pub fn is_usage(&self) -> bool {
        matches!(self, PipelineError::Profile(crate::cost::ProfileError::UnknownTarget { .. }))
    }

    /// Whether the written model would not have computed what it must (exit code 3): exact
    /// verification failed, or an approximate model broke its budget on held-out data.
    pub fn is_verification(&self) -> bool {
        matches!(
            self,
            PipelineError::Verification(_) | PipelineError::Approx(crate::approx::ApproxError::OverBudget { .. })
        )
    }
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
    /// Whether the written model was verified (`false` with `--no-verify`).
    pub verified: bool,
    /// The verification figures.
    pub verification: VerifyReport,
    /// What saturation did (exact mode).
    pub search: Option<search::Stats>,
    /// The input model: per-layer shapes, MACs and predicted cost on the target.
    pub before: crate::inspect::Inspection,
    /// The written model, likewise.
    pub after: crate::inspect::Inspection,
    /// The Rust module (`--emit-rust`): arena, weights and code sizes.
    pub emit: Option<crate::emit::EmitReport>,
    /// Approx mode's section: sensitivity, applied rewrites, figures, front.
    pub approx: Option<crate::approx::report::ApproxReport>,
    /// The searches repeated with fewer Winograd rules before this run's model was written
    /// ([`run_with`]), in order; empty when the first search's model was written.
    pub retries: Vec<Retry>,
}

/// A search repeated with a smaller Winograd cap, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Retry {
    /// The rules the repeated search left out: `"F(4x4,3x3)"` or `"Winograd"` (every size).
    pub without: &'static str,
    /// The previous attempt's error.
    pub cause: String,
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
    run_with(opts, &mut |_| {})
}

/// [`run`], telling `stage` what it starts on (`"importing"`, `"optimizing"`, `"exporting"`,
/// `"verifying"`, `"writing"`...), for a progress display.
///
/// A panic inside any stage (in tract or in gos-opt) is caught and returned as
/// [`PipelineError::Panic`] naming the stage; nothing is written then.
///
/// Exact runs that emit Rust search with the Winograd rules too (`rules::WINOGRAD`). A run
/// with Winograd rules (those or the user's) that fails verification, or whose form the back
/// end does not recognize (a form whose constants other rules changed: there is no kernel for
/// the bare ConvTranspose), is repeated without F(4×4, 3×3), then without any Winograd rule
/// ([`winograd_caps`]): F4 loses more bits than F2, and a model must not go unwritten for a
/// form that a smaller one, or the direct convolution, would replace within tolerance.
pub fn run_with(opts: &Options, stage: &mut dyn FnMut(&str)) -> Result<Outcome, PipelineError> {
    let emitting = opts.mode == Mode::Exact && opts.emit_rust.is_some();
    let caps = winograd_caps(opts, emitting);
    let mut used = caps[0];
    let mut result = run_caught(opts, emitting, caps[0], &mut used, stage);
    let mut retries = Vec::new();
    for &cap in &caps[1..] {
        let cause = match &result {
            Err(e @ PipelineError::Emit(crate::emit::EmitError::Unsupported { .. })) => e.to_string(),
            Err(e) if e.is_verification() => e.to_string(),
            _ => break,
        };
        // A quantized model's attempt already ran with its cap lowered to F2 (`run_stages`).
        if cap >= used {
            continue;
        }
        let without = match cap {
            Some(_) => "F(4x4,3x3)",
            None => "Winograd",
        };
        stage(match cap {
            Some(_) => "searching again without Winograd F(4×4, 3×3)",
            None => "searching again without Winograd",
        });
        retries.push(Retry { without, cause });
        result = run_caught(opts, emitting, cap, &mut used, stage);
    }
    result.map(|outcome| Outcome { retries, ..outcome })
}

/// The largest Winograd size each attempt of a run may use, in order: F4, then F2, then none
/// for exact runs that emit Rust or load a Winograd rule; only the first (no cap) otherwise.
fn winograd_caps(opts: &Options, emitting: bool) -> Vec<Option<Size>> {
    let loaded = || {
        RuleSet::load(&opts.rules, &crate::rules::Functions)
            .is_ok_and(|r| r.rules.iter().any(|r| crate::winograd::rule_size(&r.name).is_some()))
    };
    if opts.mode == Mode::Exact && (emitting || loaded()) {
        vec![Some(Size::F4), Some(Size::F2), None]
    } else {
        vec![Some(Size::F4)]
    }
}

/// One run of [`run_stages`], a panic caught and named by its stage; `used`: the cap the run
/// searched with (lowered for quantized models).
fn run_caught(
    opts: &Options,
    winograd: bool,
    cap: Option<Size>,
    used: &mut Option<Size>,
    stage: &mut dyn FnMut(&str),
) -> Result<Outcome, PipelineError> {
    let mut current = String::from("starting");
    let mut report = |name: &str| {
        current = name.to_string();
        stage(name);
    };
    match crate::guard::catch(|| run_stages(opts, winograd, cap, used, &mut report)) {
        Ok(result) => result,
        Err(message) => Err(PipelineError::Panic { stage: current, message }),
    }
}

/// The stages of [`run_with`], uncaught; `winograd`: add the Winograd rules to the search;
/// `cap`: the largest Winograd size whose rules stay in it (none with `None`); `used` is set to
/// the cap the search ran with.
fn run_stages(
    opts: &Options,
    winograd: bool,
    cap: Option<Size>,
    used: &mut Option<Size>,
    stage: &mut dyn FnMut(&str),
) -> Result<Outcome, PipelineError> {
    let deadline = Deadline::new(opts.checks.time_limit);
    stage("importing");
    // The one place a run resolves its target (unknown names are refused here).
    let profile = crate::cost::resolve(Some(&opts.target), opts.target_file.as_deref())?;
    // Loaded (and so checked) on every run.
    let mut rules = RuleSet::load(&opts.rules, &crate::rules::Functions)?;
    if winograd && !rules.rules.iter().any(|r| r.file.ends_with("winograd.rules")) {
        let (file, text) = crate::rules::WINOGRAD;
        rules.add_text(file, text, &crate::rules::Functions)?;
    }
    if opts.mode == Mode::Approx && opts.approx.is_none() {
        return Err(PipelineError::ApproxArgs);
    }
    let output = opts.output.clone().unwrap_or_else(|| default_output(&opts.input));
    if same_file(&opts.input, &output) {
        return Err(PipelineError::OutputIsInput(output.display().to_string()));
    }
    let import_err = |cause| PipelineError::Import { path: opts.input.display().to_string(), cause };
    let original = std::fs::read(&opts.input)
        .map_err(|e| import_err(ImportError::Io { path: opts.input.display().to_string(), cause: e.to_string() }))?;
    let dir = opts.input.parent();
    limits::check_declared(&original, &opts.import.input_shapes, opts.checks.max_memory)?;
    let mut graph: Graph = onnx::import_bytes(&original, dir, &opts.import).map_err(import_err)?;
    limits::check_graph(&graph, opts.checks.max_memory)?;
    deadline.check("importing")?;
    // No F(4×4, 3×3) in quantized (QDQ) models: the cost model prices a DequantizeLinear →
    // Conv → QuantizeLinear group as direct 8-bit multiply-accumulates, not as the integer
    // F(2×2, 3×3) kernel the back end runs on it (`k_qwino`), so it priced float F4 on the
    // dequantized values below the group and broke it up: onnxruntime's int8 larger ResNet ran
    // four of its layers as float F4, 461 → 562 µs (plain build, 2026-12-07).
    let quantized = graph.dag.node_indices().any(|id| matches!(graph.node(id).op, crate::ops::Op::DequantizeLinear(_)));
    let cap = if quantized { cap.min(Some(Size::F2)) } else { cap };
    *used = cap;
    rules.rules.retain(|r| crate::winograd::rule_size(&r.name).is_none_or(|s| Some(s) <= cap));
    // The evaluator's reference when tract cannot run the original.
    let source = graph.clone();
    let nodes_before = graph.node_count();
    // Read off the original: its ops decide where random inputs must stay.
    let domains = verify::input_domains(&graph);
    let before = crate::inspect::inspect_on(&graph, Some(&profile), opts.objective)?;
    let mut search = None;
    let mut approx = None;
    if opts.mode == Mode::Exact {
        stage("optimizing (saturate, extract, lift)");
        let mut limits = opts.limits.clone();
        if let Some(left) = deadline.remaining() {
            limits.time = limits.time.min(left);
        }
        let (optimized, stats) = optimize_exact(&graph, &rules, &profile, opts.objective, &limits)?;
        graph = optimized;
        search = Some(stats);
        deadline.check("optimizing")?;
    }
    if let (Mode::Approx, Some(request)) = (opts.mode, &opts.approx) {
        stage("reading the data");
        let inputs: Vec<(String, TensorType)> =
            graph.inputs.iter().filter_map(|&v| Some((graph.value(v).name.clone(), graph.ty(v)?.clone()))).collect();
        let (calib, heldout) = request.datasets(&inputs)?;
        let approx_opts = crate::approx::Options {
            calib,
            heldout,
            budget: request.budget,
            pareto: request.pareto,
            limits: opts.limits.clone(),
        };
        let cost = search::TargetCost::new(&profile, opts.objective, &graph);
        let objective = format!("{:?}", opts.objective).to_lowercase();
        let price = |g: &Graph| {
            let totals = crate::inspect::inspect_on(g, Some(&profile), opts.objective).ok().and_then(|i| i.cost);
            totals.map_or(f64::INFINITY, |c| match opts.objective {
                crate::cost::Objective::Latency => c.latency_s,
                crate::cost::Objective::Energy => c.energy_pj,
            })
        };
        let pricing = crate::approx::Pricing { extract: &cost, graph: &price, objective: &objective };
        let out = crate::approx::optimize(&graph, &original, dir, &rules, &pricing, &approx_opts, stage)?;
        graph = out.graph;
        search = Some(out.stats);
        approx = Some((out.report, out.variants, out.heldout_outputs));
        deadline.check("optimizing (approx)")?;
    }
    limits::check_graph(&graph, opts.checks.max_memory)?;
    graph.meta.set_metadata("gos-opt.version", env!("CARGO_PKG_VERSION"));
    graph.meta.set_metadata("gos-opt.target", &opts.target);
    graph.meta.set_metadata(VERIFIED_KEY, if opts.checks.verify { "true" } else { "false" });
    stage("exporting");
    let bytes = onnx::export_bytes(&graph)?;
    // Generated before verification so that a model the back end cannot do fails fast.
    if opts.emit_rust.is_some() {
        stage("generating Rust");
    }
    let no_fpu = profile.ops_per_cycle(crate::cost::Precision::F32, crate::cost::OpClass::Mul) < 0.1;
    let i8_lanes = profile.simd[crate::cost::Precision::I8 as usize];
    let emit_options = crate::emit::EmitOptions {
        narrow_int8: opts.emit_options.narrow_int8 || i8_lanes < 16.0,
        arm_dsp: opts.emit_options.arm_dsp || (4.0..16.0).contains(&i8_lanes),
        integer_requant: opts.emit_options.integer_requant || no_fpu,
        // A core without a float unit is a microcontroller, whose profile's L2 is its flash.
        weights_budget: opts.emit_options.weights_budget.or(no_fpu.then_some(profile.l2.size as usize)),
        unshared_digits: opts.emit_options.unshared_digits || !crate::shiftadd::searches_sharing(&profile),
        ..opts.emit_options
    };
    let rust = opts.emit_rust.as_ref().map(|_| crate::emit::generate(&graph, &emit_options)).transpose()?;

    deadline.check("exporting")?;
    let verification = match &approx {
        _ if !opts.checks.verify => {
            VerifyReport::skipped(&graph.outputs.iter().map(|&v| graph.value(v).name.clone()).collect::<Vec<_>>())
        }
        // Approx mode judged the model on held-out data against the budget already.
        Some((report, _, (reference, outputs))) => approx_verification(report, reference, outputs),
        None => {
            stage("verifying against the original");
            let original = verify::Model { bytes: &original, dir, graph: &source };
            let candidate = verify::Model { bytes: &bytes, dir, graph: &graph };
            verify_against_original(original, candidate, opts.mode, &domains)?
        }
    };
    if opts.checks.verify && !verification.passed {
        return Err(PipelineError::Verification(verification.summary()));
    }
    deadline.check("verifying")?;
    let emit = match (rust, &opts.emit_rust) {
        (Some(rust), Some(dir)) => Some(crate::emit::write(rust, dir)?),
        _ => None,
    };
    stage("writing");
    write_atomically(&output, &bytes)?;
    let after = crate::inspect::inspect_on(&graph, Some(&profile), opts.objective)?;
    let approx = match approx {
        Some((mut report, variants, _)) => {
            write_variants(&opts.input, &output, &opts.target, variants, &mut report)?;
            Some(report)
        }
        None => None,
    };
    Ok(Outcome {
        output,
        nodes_before,
        nodes_after: graph.node_count(),
        verified: opts.checks.verify,
        verification,
        search,
        before,
        after,
        emit,
        approx,
        retries: Vec::new(),
    })
}

/// The verification figures of an approximate model: its held-out outputs against the
/// original's (max errors, cosine, top-1), passed when the budget held there.
fn approx_verification(
    report: &crate::approx::report::ApproxReport,
    reference: &[Vec<crate::tensor::Tensor>],
    outputs: &[Vec<crate::tensor::Tensor>],
) -> VerifyReport {
    let names: Vec<String> = (0..reference.first().map_or(0, Vec::len)).map(|i| format!("output {i}")).collect();
    let mut v =
        VerifyReport::new(&format!("original model, within the budget {} on held-out data", report.budget), &names);
    let any = crate::verify::TolerancePolicy::accept_any();
    for (r, o) in reference.iter().zip(outputs) {
        v.add_set(r, o, &any);
    }
    v.passed = report.budget_used <= 1.0 && v.input_sets > 0;
    v
}

/// Writes the front variants (`--pareto`) as `MODEL.approx-K.onnx` beside the output, and
/// records each file in the report's front.
fn write_variants(
    input: &Path,
    output: &Path,
    target: &str,
    variants: Vec<(usize, Graph)>,
    report: &mut crate::approx::report::ApproxReport,
) -> Result<(), PipelineError> {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    for (k, (point, mut graph)) in variants.into_iter().enumerate() {
        graph.meta.set_metadata("gos-opt.version", env!("CARGO_PKG_VERSION"));
        graph.meta.set_metadata("gos-opt.target", target);
        let path = output.with_file_name(format!("{stem}.approx-{}.onnx", k + 1));
        write_atomically(&path, &onnx::export_bytes(&graph)?)?;
        report.front.points[point].file = Some(path.display().to_string());
    }
    Ok(())
}

/// A model lowered into the e-graph and saturated.
pub struct Saturated {
    /// The saturated e-graph.
    pub egraph: crate::ir::IrGraph,
    /// The `outputs` root class.
    pub root: egg::Id,
    /// Source nodes of kernel classes (for lifting and node fates).
    pub origins: crate::ir::Origins,
    /// What saturation did.
    pub stats: search::Stats,
}

/// Lowers `graph` (with the rules' function table) and saturates it with the exact rules.
pub fn saturate_exact(graph: &Graph, rules: &RuleSet, limits: &search::Limits) -> Result<Saturated, PipelineError> {
    let mut analysis = crate::ir::analysis_for(graph);
    analysis.functions = std::sync::Arc::new(crate::rules::Functions);
    let lowered = crate::ir::lower_with(graph, analysis)?;
    let (egraph, stats) = search::saturate(lowered.egraph, lowered.root, &rules.rewrites(false), limits);
    Ok(Saturated { egraph, root: lowered.root, origins: lowered.origins, stats })
}

/// Lower → saturate with the exact rules → extract the cheapest DAG for the target → lift.
pub fn optimize_exact(
    graph: &Graph,
    rules: &RuleSet,
    profile: &crate::cost::Profile,
    objective: crate::cost::Objective,
    limits: &search::Limits,
) -> Result<(Graph, search::Stats), PipelineError> {
    let Saturated { egraph, root, origins, mut stats } = saturate_exact(graph, rules, limits)?;
    let start = std::time::Instant::now();
    let best = search::extract_dag(&egraph, root, &search::TargetCost::new(profile, objective, graph))?;
    stats.extraction_seconds = start.elapsed().as_secs_f64();
    let chosen = search::chosen(&egraph, &best.expr);
    stats.rules = search::rule_uses(&egraph, &chosen, &stats.applied);
    stats.fates = search::node_fates(&egraph, &chosen, &origins, graph);
    let mut optimized = crate::lift::lift(&egraph, &best.expr, graph, &origins)?;
    // A kernel on weights whose consumers were folded into constants is dropped by lift.
    search::settle_fates(&mut stats.fates, &optimized);
    // A recognized kernel newer than the model's opset (LayerNormalization in an opset-12
    // model) raises the opset; extraction only chose it because the raise is possible.
    let needed = crate::graph::upgrade::needed(&optimized);
    crate::graph::upgrade::upgrade(&mut optimized, needed).map_err(PipelineError::Upgrade)?;
    Ok((optimized, stats))
}

/// Seeded random input sets used besides the test sets found beside the model.
const RANDOM_SETS: usize = 2;

/// The metadata key saying whether the written model was verified (`"true"`, or `"false"`
/// with `--no-verify`).
pub const VERIFIED_KEY: &str = "gos-opt.verified";

/// Runs the original and the candidate on the test sets beside the model (if any) and on
/// seeded random inputs (integer inputs inside `domains`), and compares their outputs: with
/// tract, else with gos-opt's evaluator; when neither runs them, in `--mode none` the written
/// nodes must be the original's byte for byte, and otherwise the evaluator verifies the regions
/// around the nodes it cannot run ([`verify::regions`]).
fn verify_against_original(
    original: verify::Model,
    candidate: verify::Model,
    mode: Mode,
    domains: &HashMap<String, verify::Domain>,
) -> Result<VerifyReport, VerifyError> {
    let (dir, graph) = (original.dir, candidate.graph);
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
    let spec = verify::RandomSpec { domains: domains.clone(), ..verify::RandomSpec::with_seed(0) };
    sets.extend(verify::random_sets(&types, &spec, RANDOM_SETS)?);
    match verify::verify_or_interpret(original, candidate, &sets, &types) {
        Err(VerifyError::NoReference { .. }) if mode == Mode::None => {
            verify::structural(original.bytes, candidate.bytes)
        }
        Err(VerifyError::NoReference { tract, interpreter }) => {
            verify::regions(original.graph, candidate.graph, &sets, &verify::TolerancePolicy::default()).map_err(
                |regions| VerifyError::NoReference {
                    tract,
                    interpreter: format!("{interpreter}; nor around the nodes it cannot run: {regions}"),
                },
            )
        }
        other => other,
    }
}

impl From<crate::fsutil::WriteError> for PipelineError {
    fn from(e: crate::fsutil::WriteError) -> Self {
        PipelineError::Write { path: e.path, cause: e.cause }
    }
}
