//! tract's latency on the original and on the exactly optimized model (rpi3), measured A/B:
//! both loaded once (single thread, same inputs), then timed in alternating rounds so that
//! load on the machine drifting during the run hits both alike. Prints the median time per
//! inference of each and their ratio per shared float model, as a Markdown table.
//!
//!     cargo run --release --example tract_ab [-- --rounds 40]
//!
//! (`cargo bench --bench optimize -- tract` times the same pairs with criterion, one after the
//! other.) Skips with a notice when ../shared is absent.

#[path = "common/mod.rs"]
mod common;

use gos_opt::onnx::import;
use gos_opt::rules::{Functions, RuleSet};
use std::time::{Duration, Instant};

/// Wall time of one round of each model.
const ROUND: Duration = Duration::from_millis(100);

fn main() {
    let mut rounds = 40usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            other => panic!("unknown argument {other} (known: --rounds N)"),
        }
    }
    let Some(models) = common::models_dir() else { return };
    let rules = RuleSet::load(&[], &Functions).expect("the shipped rules load");
    let profile = gos_opt::cost::load_target("rpi3").expect("the rpi3 profile");
    let limits = gos_opt::search::Limits::default();
    println!("| model | original | optimized | optimized / original |");
    println!("|---|---:|---:|---:|");
    for m in common::float_models(&models) {
        let dir = m.path.parent();
        let original = std::fs::read(&m.path).expect("the shared model reads");
        let graph = import(&m.path, &m.import).expect("the shared model imports");
        let objective = gos_opt::cost::Objective::Latency;
        let (optimized, _) =
            gos_opt::pipeline::optimize_exact(&graph, &rules, &profile, objective, &limits).expect("optimizes");
        let optimized = gos_opt::onnx::export_bytes(&optimized).expect("exports");
        let types = graph.inputs.iter().filter_map(|&id| Some((graph.value(id).name.clone(), graph.ty(id)?.clone())));
        let inputs = common::inputs_for(&m, &types.collect());
        let load = |bytes: &[u8]| common::TractRun::new(bytes, dir, &inputs).expect("tract loads the model");
        let runs = [load(&original), load(&optimized)];
        // Runs per round: about ROUND of work for the original, after a warm-up.
        let t = Instant::now();
        let mut warm = 0u32;
        while t.elapsed() < ROUND || warm < 3 {
            runs.iter().for_each(|r| r.run());
            warm += 1;
        }
        let per_round = warm.max(1);
        let mut times = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
        for round in 0..rounds {
            // Alternate which goes first, so neither always follows the other.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for k in order {
                let t = Instant::now();
                for _ in 0..per_round {
                    runs[k].run();
                }
                times[k].push(t.elapsed().as_secs_f64() / f64::from(per_round));
            }
        }
        let [a, b] = times.map(median);
        println!("| {} | {} | {} | {:.2} |", m.label, show(a), show(b), b / a);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn show(seconds: f64) -> String {
    if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}
