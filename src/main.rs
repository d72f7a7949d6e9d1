//! The `gos-opt` command line: a thin clap front end over the library.
//!
//! Exit codes (a contract): 0 ok, 1 error, 2 usage, 3 verification failed (nothing written).

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use gos_opt::cost::{self, Objective};
use gos_opt::onnx::{parse_input_shape, ImportOptions};
use gos_opt::pipeline::{self, Mode};
use gos_opt::rules::{Functions, RuleSet};
use gos_opt::search;
use std::path::PathBuf;
use std::process::ExitCode;

/// Rewrites a neural network's operators into cheaper equivalents for a target device.
#[derive(Parser, Debug)]
#[command(name = "gos-opt", version, about, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    optimize: OptimizeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Per node: op, input and output shapes, parameters, MACs; totals; opaque ops.
    Inspect {
        /// The ONNX model.
        model: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Static shape for a dynamic input, NAME=DIMS (e.g. x=1x3x48x320); repeatable.
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shape: Vec<String>,
        #[command(flatten)]
        cost: InspectCost,
    },
    /// The target profiles: list them, or print one (`targets show NAME`).
    Targets {
        #[command(subcommand)]
        command: Option<TargetsCommand>,
    },
    /// Measure this machine and write its profile (load it with --target-file).
    Calibrate {
        /// Write the profile here instead of printing it.
        #[arg(short, long, value_name = "host.toml")]
        output: Option<PathBuf>,
        /// Measure briefly (noisy figures; for tests). Also GOS_OPT_CALIBRATE_QUICK=1.
        #[arg(long)]
        quick: bool,
    },
    /// The rewrite rules: list them (and, later, verify them).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand, Debug)]
enum TargetsCommand {
    /// Print one profile (its TOML, with the source of every figure).
    Show {
        /// Target name.
        name: String,
    },
}

#[derive(Args, Debug)]
struct InspectCost {
    /// Predict each layer's latency and energy on this target.
    #[arg(long)]
    target: Option<String>,
    /// Predict on the profile in this file (see `gos-opt calibrate`).
    #[arg(long, value_name = "FILE")]
    target_file: Option<PathBuf>,
    /// Which figure decides each layer's bottleneck.
    #[arg(long, value_enum, default_value = "latency")]
    objective: ObjectiveArg,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ObjectiveArg {
    Latency,
    Energy,
}

impl From<ObjectiveArg> for Objective {
    fn from(o: ObjectiveArg) -> Objective {
        match o {
            ObjectiveArg::Latency => Objective::Latency,
            ObjectiveArg::Energy => Objective::Energy,
        }
    }
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Every loaded rule with its kind, file:line and justification.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        files: RuleFiles,
    },
    /// Checks every exact rule on random instances: both sides through the reference
    /// interpreter (kernels through tract), at least 50 accepted cases per rule; prints a table
    /// and exits 3 when a rule fails or cannot be instantiated.
    Verify {
        /// Verify the rules of this file (loaded after the shipped rules) instead of the shipped
        /// rules; repeatable.
        #[arg(long = "rules", value_name = "FILE")]
        rules: Vec<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct RuleFiles {
    /// A rule file to load after the shipped rules; repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct OptimizeArgs {
    /// The ONNX model to optimize (never modified).
    #[arg(required = true)]
    model: Option<PathBuf>,
    /// Target device: rpi3, rpi4, redmi-note-7s, cortex-m4, cortex-m7, cortex-m0plus, asic45, host
    /// (`gos-opt targets` lists them).
    #[arg(long, required_unless_present = "target_file")]
    target: Option<String>,
    /// A target profile file (e.g. from `gos-opt calibrate`), instead of a shipped target.
    #[arg(long, value_name = "FILE")]
    target_file: Option<PathBuf>,
    /// What the optimizer minimizes.
    #[arg(long, value_enum, default_value = "latency")]
    objective: ObjectiveArg,
    /// Output model (default: MODEL.opt.onnx beside the input).
    #[arg(short, long, value_name = "OUT.onnx")]
    output: Option<PathBuf>,
    /// What the optimizer may do.
    #[arg(long, value_enum, default_value = "exact")]
    mode: ModeArg,
    /// Static shape for a dynamic input, NAME=DIMS (e.g. x=1x3x48x320); repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shape: Vec<String>,
    /// Write a report of the run here: JSON, Markdown when the name ends in `.md`, a
    /// self-contained HTML page with charts for `.html`/`.htm`; repeatable.
    #[arg(long, value_name = "R.json")]
    report: Vec<PathBuf>,
    /// Also write the optimized model as a no_std Rust module: DIR/model.rs (and DIR/weights.bin
    /// for large weights). In exact mode this adds rules/winograd.rules to the search (the
    /// written model is then the module's; other runtimes run that form slower).
    #[arg(long, value_name = "DIR")]
    emit_rust: Option<PathBuf>,
    /// How the Rust module computes quantized (QDQ) Conv/Gemm/MatMul: 8-bit integer tensors and
    /// kernels (exact integer sums), or float kernels on dequantized values.
    #[arg(long, value_enum, default_value = "integer", value_name = "KIND")]
    emit_quantized: QuantizedArg,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// A rule file to load after the shipped rules; repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Exact mode: stop saturating past this many e-nodes.
    #[arg(long, value_name = "N", default_value_t = search::Limits::default().nodes)]
    node_limit: usize,
    /// Exact mode: stop saturating after this many iterations.
    #[arg(long, value_name = "N", default_value_t = search::Limits::default().iterations)]
    iter_limit: usize,
    /// Bound the whole run to this many seconds: saturation stops early, and a later stage past
    /// the bound stops the run with an error (exit 1, nothing written). Without it saturation
    /// stops after 5 s and the rest is unbounded.
    #[arg(long, value_name = "SECONDS")]
    time_limit: Option<f64>,
    /// Refuse a model declaring (or inferring) a tensor larger than this, before allocating it:
    /// bytes, or with a suffix K, M, G, T (powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "4G", value_parser = pipeline::parse_bytes)]
    max_memory: u64,
    /// Write the model without verifying it against the original: the report and the model's
    /// `gos-opt.verified` metadata say `false`.
    #[arg(long)]
    no_verify: bool,
    #[command(flatten)]
    approx: ApproxArgs,
}

/// `--mode approx`: data and budget.
#[derive(Args, Debug)]
#[command(next_help_heading = "Approx mode")]
struct ApproxArgs {
    /// Calibration samples: a folder of ONNX test sets, raw .f32 (the input's shape, N times),
    /// .npy, or an MNIST IDX file; `PATH@START..END` takes samples START..END. Without --eval,
    /// every second sample is held out for judging the result.
    #[arg(long, value_name = "DATA")]
    calib: Option<gos_opt::approx::data::DataSpec>,
    /// Labels of the calibration samples: raw u8 (.u8), raw i64 (.i64), .npy, or IDX.
    #[arg(long, value_name = "L")]
    labels: Option<gos_opt::approx::data::DataSpec>,
    /// Held-out samples the result is judged on (selection never sees them).
    #[arg(long, value_name = "DATA")]
    eval: Option<gos_opt::approx::data::DataSpec>,
    /// Labels of the held-out samples.
    #[arg(long, value_name = "L")]
    eval_labels: Option<gos_opt::approx::data::DataSpec>,
    /// Multiply float sample values by this (e.g. 255 for a model that takes raw pixels).
    #[arg(long, value_name = "K", default_value_t = 1.0)]
    data_scale: f32,
    /// What the result may lose: acc=POINTS (labelled accuracy drop), agree=FRACTION (top-1
    /// agreement with the original), rel=ERROR (relative L2 error of the outputs).
    #[arg(long, value_name = "METRIC=VALUE")]
    budget: Option<gos_opt::approx::budget::Budget>,
    /// Also write N variants along the cost–error front as MODEL.approx-K.onnx.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pareto: usize,
}

impl ApproxArgs {
    /// The request, when --mode approx has what it needs; a usage message otherwise.
    fn request(self, mode: &ModeArg) -> Result<Option<gos_opt::approx::Request>, String> {
        let given = self.calib.is_some() || self.budget.is_some() || self.eval.is_some() || self.pareto > 0;
        if !matches!(mode, ModeArg::Approx) {
            return if given {
                Err("--calib, --eval, --budget and --pareto belong to --mode approx".into())
            } else {
                Ok(None)
            };
        }
        match (self.calib, self.budget) {
            (Some(calib), Some(budget)) => Ok(Some(gos_opt::approx::Request {
                calib,
                labels: self.labels,
                eval: self.eval,
                eval_labels: self.eval_labels,
                data_scale: self.data_scale,
                budget,
                pareto: self.pareto,
            })),
            _ => Err("--mode approx needs --calib DATA and --budget acc=POINTS|agree=FRACTION|rel=ERROR".into()),
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum QuantizedArg {
    Integer,
    Float,
}

impl From<QuantizedArg> for gos_opt::emit::Quantized {
    fn from(q: QuantizedArg) -> Self {
        match q {
            QuantizedArg::Integer => gos_opt::emit::Quantized::Integer,
            QuantizedArg::Float => gos_opt::emit::Quantized::Float,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ModeArg {
    None,
    Exact,
    Approx,
}

fn import_options(specs: &[String]) -> Result<ImportOptions, String> {
    let mut opts = ImportOptions::default();
    for spec in specs {
        let (name, dims) = parse_input_shape(spec)?;
        opts.input_shapes.insert(name, dims);
    }
    Ok(opts)
}

/// Prints one line of cause plus context and returns the exit code.
fn fail(err: &anyhow::Error, code: u8) -> ExitCode {
    // Library errors already print their cause; skip chain entries the line already says.
    let mut line = String::new();
    for cause in err.chain().map(|c| c.to_string()) {
        if !line.contains(&cause) {
            line = if line.is_empty() { cause } else { format!("{line}: {cause}") };
        }
    }
    eprintln!("error: {}", line.replace('\n', " "));
    ExitCode::from(code)
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Some(Command::Inspect { model, json, input_shape, cost }) => {
            let opts = match import_options(&input_shape) {
                Ok(o) => o,
                Err(e) => return usage(&e),
            };
            let profile = match (&cost.target, &cost.target_file) {
                (None, None) => None,
                (target, file) => match cost::resolve(target.as_deref(), file.as_deref()) {
                    Ok(p) => Some(p),
                    Err(e @ cost::ProfileError::UnknownTarget { .. }) => return usage(&e.to_string()),
                    Err(e) => return fail(&e.into(), 1),
                },
            };
            match inspect(&model, &opts, json, profile.as_ref(), cost.objective.into()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            }
        }
        Some(Command::Targets { command }) => targets(command),
        Some(Command::Calibrate { output, quick }) => match calibrate(output.as_deref(), quick) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e, 1),
        },
        Some(Command::Rules { command: RulesCommand::Verify { rules } }) => match verify_rules(&rules) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(3),
            Err(e) => fail(&e, 1),
        },
        Some(Command::Rules { command }) => match rules(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e, 1),
        },
        None => optimize(cli.optimize),
    }
}

/// `gos-opt rules verify`: the table on stdout, a one-line summary of failures on stderr;
/// `Ok(false)` when a rule failed or could not be checked.
fn verify_rules(files: &[PathBuf]) -> anyhow::Result<bool> {
    let set = RuleSet::load(files, &Functions)?;
    let chosen: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let rules = set.rules.iter().filter(|r| {
        if chosen.is_empty() {
            gos_opt::rules::builtin().iter().any(|(f, _)| *f == r.file)
        } else {
            chosen.contains(&r.file)
        }
    });
    let reports = gos_opt::rules::verify_rules(rules, std::sync::Arc::new(Functions), &Default::default());
    print!("{}", gos_opt::rules::render_table(&reports));
    let bad: Vec<&str> = reports.iter().filter(|r| !r.passed()).map(|r| r.rule.as_str()).collect();
    if !bad.is_empty() {
        eprintln!("error: {} rule(s) failed verification: {}", bad.len(), bad.join(", "));
    }
    Ok(bad.is_empty())
}

fn rules(command: RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::List { json, files } => {
            let set = RuleSet::load(&files.rules, &Functions)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&set.listing())?);
            } else {
                print!("{}", set.to_text());
            }
        }
        RulesCommand::Verify { rules } => {
            verify_rules(&rules)?;
        }
    }
    Ok(())
}

fn targets(command: Option<TargetsCommand>) -> ExitCode {
    match command {
        None => {
            for name in cost::target_names() {
                match cost::load_target(name) {
                    Ok(p) => println!("{name:<14} {}", p.description),
                    Err(e) => return fail(&e.into(), 1),
                }
            }
            ExitCode::SUCCESS
        }
        Some(TargetsCommand::Show { name }) => match cost::shipped_source(&name) {
            Some(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            None => usage(&format!("unknown target '{name}' (known: {})", cost::target_names().join(", "))),
        },
    }
}

fn calibrate(output: Option<&std::path::Path>, quick: bool) -> anyhow::Result<()> {
    let quick = quick || std::env::var(cost::calibrate::QUICK_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    let opts = cost::calibrate::Options { quick };
    let mut progress = |step: &str| eprintln!("calibrate: {step}");
    let profile = cost::calibrate::calibrate(&opts, &mut progress).map_err(anyhow::Error::msg)?;
    let text = cost::calibrate::render(&profile, &cost::calibrate::today());
    match output {
        Some(path) => {
            gos_opt::fsutil::write_atomically(path, text.as_bytes())?;
            eprintln!("calibrate: wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn inspect(
    model: &std::path::Path,
    opts: &ImportOptions,
    json: bool,
    profile: Option<&cost::Profile>,
    objective: Objective,
) -> anyhow::Result<()> {
    let graph = gos_opt::onnx::import(model, opts).with_context(|| model.display().to_string())?;
    let info = gos_opt::inspect::inspect_on(&graph, profile, objective)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", info.to_text());
    }
    Ok(())
}

/// The run in two lines for stderr: predicted cost before and after, and what the search did.
fn summary(opts: &pipeline::Options, outcome: &pipeline::Outcome) -> String {
    let mut lines = Vec::new();
    if let (Some(b), Some(a)) = (&outcome.before.cost, &outcome.after.cost) {
        let change = if b.latency_s > 0.0 { (a.latency_s / b.latency_s - 1.0) * 100.0 } else { 0.0 };
        lines.push(format!(
            "predicted {} latency {:.4} ms -> {:.4} ms ({change:+.1}%), energy {:.3} uJ -> {:.3} uJ",
            opts.target,
            b.latency_s * 1e3,
            a.latency_s * 1e3,
            b.energy_pj * 1e-6,
            a.energy_pj * 1e-6
        ));
    }
    if let Some(s) = &outcome.search {
        let used = s.rules.iter().filter(|r| r.survives).count();
        lines.push(format!(
            "e-graph: {} iterations, {} e-nodes, {} e-classes, stop reason: {}, {:.2} s (+{:.2} s extraction); \
             {used} of {} applied rules survive in the program",
            s.iterations,
            s.nodes,
            s.classes,
            s.stop_reason,
            s.seconds,
            s.extraction_seconds,
            s.rules.len()
        ));
    }
    lines.join("\n")
}

/// Approx mode in two lines: the saving against exact mode and the held-out figures.
fn approx_summary(a: &gos_opt::approx::report::ApproxReport) -> String {
    let figures = |f: &gos_opt::approx::budget::Figures| {
        let mut parts = Vec::new();
        if let Some(acc) = f.accuracy {
            parts.push(format!("accuracy {acc:.2}%"));
        }
        if let Some(agree) = f.agreement {
            parts.push(format!("agreement {:.2}%", 100.0 * agree));
        }
        parts.push(format!("relative error {:.4}", f.rel_l2));
        parts.join(", ")
    };
    format!(
        "approx: {} rewrites, predicted {} {:.2}x lower than exact mode; held out ({} samples): {} (original {}); {:.0}% of budget {} used",
        a.applied.len(),
        a.cost.objective,
        a.cost.speedup_vs_exact,
        a.heldout_samples,
        figures(&a.result.heldout),
        figures(&a.original.heldout),
        100.0 * a.budget_used,
        a.budget
    )
}

fn optimize(args: OptimizeArgs) -> ExitCode {
    let Some(model) = args.model else {
        return usage("a MODEL and --target are required (see gos-opt --help)");
    };
    // With --target-file the target is named by the file's profile.
    let target = match (args.target, &args.target_file) {
        (_, Some(file)) => match cost::load_file(file) {
            Ok(p) => p.name,
            Err(e) => return fail(&e.into(), 1),
        },
        (Some(target), None) => target,
        (None, None) => return usage("a MODEL and --target are required (see gos-opt --help)"),
    };
    let import = match import_options(&args.input_shape) {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    let approx = match args.approx.request(&args.mode) {
        Ok(a) => a,
        Err(e) => return usage(&e),
    };
    let mode = match args.mode {
        ModeArg::None => Mode::None,
        ModeArg::Exact => Mode::Exact,
        ModeArg::Approx => Mode::Approx,
    };
    let opts = pipeline::Options {
        input: model,
        output: args.output,
        target,
        target_file: args.target_file,
        objective: args.objective.into(),
        mode,
        import,
        rules: args.rules,
        limits: search::Limits {
            nodes: args.node_limit,
            iterations: args.iter_limit,
            time: args
                .time_limit
                .map_or(search::Limits::default().time, |t| std::time::Duration::from_secs_f64(t.max(0.0))),
        },
        emit_rust: args.emit_rust,
        emit_options: gos_opt::emit::EmitOptions { quantized: args.emit_quantized.into(), ..Default::default() },
        approx,
        checks: pipeline::Checks {
            verify: !args.no_verify,
            max_memory: args.max_memory,
            time_limit: args.time_limit.map(|t| std::time::Duration::from_secs_f64(t.max(0.0))),
        },
    };
    let progress = if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new_spinner() };
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    let result = pipeline::run_with(&opts, &mut |stage| progress.set_message(stage.to_string()));
    progress.finish_and_clear();
    match result {
        Ok(outcome) => {
            let report = gos_opt::report::Report::new(&opts, &outcome);
            for path in &args.report {
                let written = report
                    .render_for(path)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| gos_opt::fsutil::write_atomically(path, &bytes).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    return fail(&anyhow::anyhow!(e).context("writing the report"), 1);
                }
            }
            if !args.quiet {
                eprintln!(
                    "wrote {} ({} nodes -> {}); verified: {}",
                    outcome.output.display(),
                    outcome.nodes_before,
                    outcome.nodes_after,
                    outcome.verification.summary()
                );
                eprintln!("{}", summary(&opts, &outcome));
                if let Some(a) = &outcome.approx {
                    eprintln!("{}", approx_summary(a));
                }
                if let Some(r) = &outcome.emit {
                    let rs = r.model_rs.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
                    eprintln!("wrote {rs} (arena {} B, weights {} B)", r.arena_bytes, r.weights_bytes);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if e.is_usage() {
                return usage(&e.to_string());
            }
            let code = if e.is_verification() { 3 } else { 1 };
            fail(&anyhow::Error::new(e), code)
        }
    }
}
