//! Generated Rust against tract, one thread each, same inputs (the first test set beside each
//! model), on the MLPerf Tiny models and mnist-8, float and int8 (QDQ: integer kernels, and
//! float kernels for comparison), measured by criterion; then each approx-mode model against
//! the same model in exact mode. The side-by-side table with onnxruntime is the `peers` bench
//! (`scripts/bench-peers.sh`).
//!
//!     cargo bench -p emit-bench --bench emit

mod common;

use common::{load, Loaded, MODELS};
use criterion::{black_box, Criterion};
use std::time::{Duration, Instant};

/// Median seconds of `f` over `runs` runs after a warm-up.
fn median(mut f: impl FnMut(), runs: usize) -> f64 {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        f();
    }
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn main() {
    if MODELS.is_empty() {
        println!("skipping: ../shared/models not found, no models to bench");
        return;
    }
    // A name filter (`cargo bench -p emit-bench --bench emit -- int8`) limits the approx table too.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let loaded: Vec<Loaded> = MODELS.iter().filter(|m| m.name.contains(&filter)).map(load).collect();
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for l in &loaded {
        let mut g = c.benchmark_group(l.model.name);
        g.bench_function("tract", |b| b.iter(|| l.tract.run(0, black_box(&l.set)).expect("tract runs")));
        let (mut y, mut arena) = (vec![0f32; l.model.output_len], vec![0f32; l.model.arena_len]);
        g.bench_function("generated", |b| b.iter(|| (l.model.run)(black_box(&l.x), &mut y, &mut arena)));
        g.finish();
    }
    c.final_summary();
    approx_against_exact(&loaded);
}

/// The generated code of each approx-mode model against the generated code of the same model in
/// exact mode, timed in alternating rounds (median per inference of each).
fn approx_against_exact(loaded: &[Loaded]) {
    let pairs: Vec<(&Loaded, &Loaded)> = loaded
        .iter()
        .filter_map(|a| {
            let name = a.model.name.strip_prefix("approx_")?;
            let exact = name.strip_suffix("_float").unwrap_or(name);
            Some((loaded.iter().find(|l| l.model.name == exact)?, a))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    println!("\n| model | exact, generated (µs) | approx, generated (µs) | speed-up |\n|---|---|---|---|");
    for (exact, approx) in pairs {
        let mut times = [Vec::new(), Vec::new()];
        for _ in 0..41 {
            for (k, l) in [exact, approx].into_iter().enumerate() {
                let (mut y, mut arena) = (vec![0f32; l.model.output_len], vec![0f32; l.model.arena_len]);
                times[k].push(median(|| (l.model.run)(black_box(&l.x), &mut y, &mut arena), 21));
            }
        }
        let [e, a] = times.map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        });
        println!("| {} | {:.1} | {:.1} | {:.2}× |", approx.model.name, e * 1e6, a * 1e6, e / a);
    }
}
