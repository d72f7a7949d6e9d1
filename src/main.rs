//! The `gos-opt` command line: a thin clap front end over the library.
//!
//! Exit codes (a contract): 0 ok, 1 error, 2 usage, 3 verification failed (nothing written).

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use gos_opt::onnx::{parse_input_shape, ImportOptions};
use gos_opt::pipeline::{self, Mode, PipelineError};
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
    },
}

#[derive(Args, Debug)]
struct OptimizeArgs {
    /// The ONNX model to optimize (never modified).
    #[arg(required = true)]
    model: Option<PathBuf>,
    /// Target device: rpi3, rpi4, redmi-note-7s, cortex-m4, cortex-m7, asic45, host.
    #[arg(long, required = true)]
    target: Option<String>,
    /// Output model (default: MODEL.opt.onnx beside the input).
    #[arg(short, long, value_name = "OUT.onnx")]
    output: Option<PathBuf>,
    /// What the optimizer may do.
    #[arg(long, value_enum, default_value = "none")]
    mode: ModeArg,
    /// Static shape for a dynamic input, NAME=DIMS (e.g. x=1x3x48x320); repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shape: Vec<String>,
    /// Write a JSON report of the run here.
    #[arg(long, value_name = "R.json")]
    report: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
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
        Some(Command::Inspect { model, json, input_shape }) => {
            let opts = match import_options(&input_shape) {
                Ok(o) => o,
                Err(e) => return usage(&e),
            };
            match inspect(&model, &opts, json) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            }
        }
        None => optimize(cli.optimize),
    }
}

fn inspect(model: &std::path::Path, opts: &ImportOptions, json: bool) -> anyhow::Result<()> {
    let graph = gos_opt::onnx::import(model, opts).with_context(|| model.display().to_string())?;
    let info = gos_opt::inspect::inspect(&graph)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", info.to_text());
    }
    Ok(())
}

fn optimize(args: OptimizeArgs) -> ExitCode {
    let (Some(model), Some(target)) = (args.model, args.target) else {
        return usage("a MODEL and --target are required (see gos-opt --help)");
    };
    let import = match import_options(&args.input_shape) {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    if !pipeline::TARGETS.contains(&target.as_str()) {
        return usage(&format!("unknown target '{target}' (known: {})", pipeline::TARGETS.join(", ")));
    }
    let mode = match args.mode {
        ModeArg::None => Mode::None,
        ModeArg::Exact => Mode::Exact,
        ModeArg::Approx => Mode::Approx,
    };
    let opts = pipeline::Options { input: model, output: args.output, target, mode, import };
    match pipeline::run(&opts) {
        Ok(outcome) => {
            if let Some(path) = &args.report {
                let written = serde_json::to_vec_pretty(&gos_opt::report::Report::new(&opts, &outcome))
                    .map_err(|e| e.to_string())
                    .and_then(|json| pipeline::write_atomically(path, &json).map_err(|e| e.to_string()));
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
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = if matches!(e, PipelineError::Verification(_)) { 3 } else { 1 };
            fail(&anyhow::Error::new(e), code)
        }
    }
}
