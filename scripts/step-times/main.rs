//! Runs an instrumented generated module (scripts/step-times.sh) RUNS times on a fixed input
//! and prints each kernel call's fastest time, the sums per kernel, and the fastest whole run.
#![allow(static_mut_refs)]
#[allow(dead_code, unused, clippy::all)]
mod model {
    include!(env!("MODEL"));
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let input: Vec<f32> = (0..model::INPUT_LEN).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
    let (mut out, mut arena) = (vec![0f32; model::OUTPUT_LEN], vec![0f32; model::ARENA_LEN]);
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        model::run(&input, &mut out, &mut arena);
        best = best.min(t.elapsed().as_secs_f64() * 1e6);
    }
    let t = unsafe { model::T };
    let mut per: std::collections::BTreeMap<&str, f64> = Default::default();
    for (i, name) in model::NAMES.iter().enumerate() {
        if t[i] == u64::MAX {
            continue; // not called
        }
        let us = t[i] as f64 / 1000.0;
        println!("{i:3} {us:9.2} us  {name}");
        *per.entry(name.split('<').next().unwrap_or(name)).or_default() += us;
    }
    println!("per kernel (sum of the calls' fastest times):");
    for (k, us) in &per {
        println!("    {us:9.2} us  {k}");
    }
    println!("sum of the calls' fastest times: {:.1} us; fastest run (timers included): {best:.1} us", per.values().sum::<f64>());
}
