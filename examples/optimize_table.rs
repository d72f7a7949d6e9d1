//! The before/after table of exact optimization: runs `--mode exact --target rpi3` (the
//! pipeline with default limits, output to a temporary directory) on every shared float and
//! int8 QDQ model and prints a Markdown table for the README.
//!
//!     cargo run --release --example optimize_table
//!
//! Columns: nodes of the imported graph (shape computations such as ppocr's
//! Shape → Gather → Concat → Reshape already folded, Constant nodes pooled) before → after;
//! compute nodes of the files themselves (every node but `Constant`) before → after and their
//! change; predicted rpi3 latency (the cost model's sum over layers, as in the
//! report) before → after; the wall time of the whole run (import, saturation, extraction,
//! lift, export, verification with tract, write); the largest absolute difference from the
//! original over every output and input set of the verification. A model that fails gets its
//! error in the row. Skips with a notice when ../shared is absent.

#[path = "common/mod.rs"]
mod common;

use gos_opt::cost::Objective;
use gos_opt::inspect::Inspection;
use gos_opt::pipeline::{self, Mode, Options, Outcome};
use std::time::Instant;

fn main() {
    let Some(models) = common::models_dir() else { return };
    let out = tempfile::tempdir().expect("a temporary directory");
    let mut suite = common::float_models(&models);
    suite.extend(common::qdq_models(&models));
    println!("| model | nodes | compute nodes | change | predicted rpi3 latency | optimize time | max abs error |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut failed = 0;
    for (k, m) in suite.iter().enumerate() {
        let opts = Options {
            input: m.path.clone(),
            output: Some(out.path().join(format!("{k}.onnx"))),
            target: "rpi3".into(),
            target_file: None,
            objective: Objective::Latency,
            mode: Mode::Exact,
            import: m.import.clone(),
            rules: Vec::new(),
            limits: gos_opt::search::Limits::default(),
            emit_rust: None,
            emit_options: Default::default(),
            approx: None,
            checks: Default::default(),
        };
        let t = Instant::now();
        let result = pipeline::run(&opts);
        let seconds = t.elapsed().as_secs_f64();
        match result {
            Ok(o) => {
                let files = (file_compute_nodes(&opts.input), file_compute_nodes(&o.output));
                println!("{}", row(&m.label, &o, files, seconds))
            }
            Err(e) => {
                failed += 1;
                let cause = e.to_string().replace('|', "\\|");
                println!("| {} | failed: {cause} |||||", m.label);
            }
        }
    }
    if failed > 0 {
        println!("\n{failed} model(s) failed.");
    }
}

/// Nodes other than `Constant` in an ONNX file (0 when it cannot be read).
fn file_compute_nodes(path: &std::path::Path) -> usize {
    use onnx_protobuf::{Message, ModelProto};
    let model = std::fs::read(path).ok().and_then(|b| ModelProto::parse_from_bytes(&b).ok());
    model.map_or(0, |m| m.graph.node.iter().filter(|n| n.op_type != "Constant").count())
}

fn latency_ms(i: &Inspection) -> Option<f64> {
    i.cost.as_ref().map(|c| c.latency_s * 1e3)
}

fn change(before: f64, after: f64) -> String {
    if before == 0.0 {
        return "—".into();
    }
    let pct = (after - before) / before * 100.0;
    match (pct * 10.0).round() / 10.0 {
        0.0 => "0.0 %".into(),
        pct => format!("{pct:+.1} %").replace('-', "−"),
    }
}

fn row(label: &str, o: &Outcome, (cb, ca): (usize, usize), seconds: f64) -> String {
    let latency = match (latency_ms(&o.before), latency_ms(&o.after)) {
        (Some(b), Some(a)) => format!("{b:.3} → {a:.3} ms ({})", change(b, a)),
        _ => "—".into(),
    };
    let max_abs = o.verification.outputs.iter().map(|r| r.figures.max_abs).fold(0.0f64, f64::max);
    let max_abs = if max_abs == 0.0 { "0".to_string() } else { format!("{max_abs:.1e}") };
    format!(
        "| {label} | {} → {} | {cb} → {ca} | {} | {latency} | {seconds:.2} s | {max_abs} |",
        o.nodes_before,
        o.nodes_after,
        change(cb as f64, ca as f64),
    )
}
