//! How far the greedy DAG extractor is from the optimum: every shared float model small enough
//! is lowered and saturated with the shipped exact rules as `--mode exact` does (default
//! limits), then extracted for rpi3 latency by greedy ([`search::extract_dag`]) and by ILP
//! ([`search::ilp`], CBC); prints a Markdown table of both DAG costs and the gap.
//!
//!     cargo run --release --features ilp --example extract_gap [-- --max-nodes N] [--timeout S]
//!
//! Needs the CBC library (`apt-get install coinor-libcbc-dev`). Models whose saturated e-graph
//! has more than `--max-nodes` e-nodes (default 20,000) are listed as skipped. Both costs are
//! the DAG cost of the extracted program (each class once), so they compare directly. Not a
//! test: nothing is asserted.

#[path = "common/mod.rs"]
mod common;

use gos_opt::cost::{self, Objective};
use gos_opt::onnx::import;
use gos_opt::pipeline;
use gos_opt::rules::{Functions, RuleSet};
use gos_opt::search::{self, ilp};
use std::time::{Duration, Instant};

fn main() {
    let mut max_nodes = 20_000usize;
    let mut timeout = Duration::from_secs(60);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--max-nodes" => max_nodes = value().parse().expect("--max-nodes N"),
            "--timeout" => timeout = Duration::from_secs(value().parse().expect("--timeout SECONDS")),
            other => panic!("unknown argument {other} (known: --max-nodes N, --timeout SECONDS)"),
        }
    }
    let Some(models) = common::models_dir() else { return };
    let rules = RuleSet::load(&[], &Functions).expect("the shipped rules load");
    let profile = cost::load_target("rpi3").expect("the rpi3 profile");
    let limits = search::Limits::default();

    println!("Extraction for rpi3 latency after saturation with the exact rules (default limits);");
    println!("costs are predicted µs of the extracted DAG; ILP by CBC, {}s limit.\n", timeout.as_secs());
    println!("| model | e-classes | e-nodes | greedy DAG cost | ILP cost | gap | greedy time | ILP time |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    for m in common::float_models(&models) {
        let graph = match import(&m.path, &m.import) {
            Ok(g) => g,
            Err(e) => {
                println!("| {} | import failed: {e} |||||||", m.label);
                continue;
            }
        };
        // As pipeline::optimize_exact lowers, saturates and prices.
        let saturated = match pipeline::saturate_exact(&graph, &rules, &limits) {
            Ok(s) => s,
            Err(e) => {
                println!("| {} | lowering failed: {e} |||||||", m.label);
                continue;
            }
        };
        let target = gos_opt::search::TargetCost::new(&profile, Objective::Latency, &graph);
        let (egraph, stats, root) = (saturated.egraph, saturated.stats, saturated.root);
        let label = format!("{} | {} | {}", m.label, stats.classes, stats.nodes);
        if stats.nodes > max_nodes {
            println!("| {label} | skipped: over {max_nodes} e-nodes |||||");
            continue;
        }
        let t = Instant::now();
        let greedy = match search::extract_dag(&egraph, root, &target) {
            Ok(g) => g,
            Err(e) => {
                println!("| {label} | greedy failed: {e} |||||");
                continue;
            }
        };
        let greedy_time = t.elapsed();
        let greedy_cost = ilp::dag_cost(&egraph, &greedy.expr, &target);
        let t = Instant::now();
        let solved = ilp::solve_ilp(&egraph, root, &target, timeout);
        let ilp_time = t.elapsed();
        match solved {
            Ok(o) => {
                let c = o.extraction.cost;
                // Identical programs sum identically (dag_cost sums in class order).
                let gap = if c > 0.0 { (greedy_cost - c) / c * 100.0 } else { 0.0 };
                let proven = if o.optimal { String::new() } else { " (time limit: best found)".to_string() };
                if (greedy.cost - greedy_cost).abs() > 1e-9 * greedy_cost.abs() {
                    notes.push(format!(
                        "{}: extract_dag reports {:.2}, its program costs {:.2}",
                        m.label,
                        greedy.cost * 1e6,
                        greedy_cost * 1e6
                    ));
                }
                println!(
                    "| {label} | {:.2} | {:.2}{proven} | {gap:.3} % | {:.1} ms | {:.2} s ({} solves) |",
                    greedy_cost * 1e6,
                    c * 1e6,
                    greedy_time.as_secs_f64() * 1e3,
                    ilp_time.as_secs_f64(),
                    o.solves,
                );
            }
            Err(e) => println!(
                "| {label} | {:.2} | ILP failed: {e} || {:.1} ms | {:.2} s |",
                greedy_cost * 1e6,
                greedy_time.as_secs_f64() * 1e3,
                ilp_time.as_secs_f64()
            ),
        }
    }
    if !notes.is_empty() {
        println!();
        for n in notes {
            println!("- {n}");
        }
    }
}
