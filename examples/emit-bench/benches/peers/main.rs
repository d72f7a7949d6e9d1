//! Generated Rust against tract and onnxruntime side by side: one thread each, the same input
//! (the first test set beside each model), on the MLPerf Tiny models, mnist-8 and cnn_small,
//! float and int8 QDQ (the generated code with integer kernels, `int8_*`, and with float
//! kernels, `int8_float_*`; tract and onnxruntime run the QDQ model itself, onnxruntime as its
//! own int8 kernels). Interleaved rounds: in each round every engine runs a batch of
//! inferences in turn (a batch lasts about 20 ms), each timed; an engine's figure is the median
//! over rounds of each round's median. The outputs of the three are compared on the bench
//! input first (max abs difference in the table), so the bench times the same computation.
//!
//!     cargo bench -p emit-bench --bench peers [-- FILTER] [--rounds N] [--save FILE]
//!     PEERS --merge PLAIN.tsv NATIVE.tsv
//!
//! Without `ORT_DYLIB_PATH` (a readable onnxruntime library) it prints "skipping onnxruntime:
//! ..." and benches the other two. `--save` writes the figures as tab-separated lines;
//! `--merge` prints the table of two saved runs, the generated code compiled plain and with
//! `-C target-cpu=native` (`scripts/bench-peers.sh` does both).

mod onnxruntime;
mod table;

use common::{load, Loaded, MODELS};
use std::hint::black_box;
use std::time::{Duration, Instant};
use table::Row;

#[path = "../common/mod.rs"]
mod common;

/// How long one engine's batch of inferences lasts in a round, about.
const BATCH: Duration = Duration::from_millis(20);

/// The command line: a name filter, the number of rounds, where to save the figures, or two
/// saved runs to merge.
struct Args {
    filter: String,
    rounds: usize,
    save: Option<String>,
    merge: Option<(String, String)>,
}

fn args() -> Result<Args, String> {
    let mut out = Args { filter: String::new(), rounds: 15, save: None, merge: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--rounds" => {
                let n = value("--rounds")?;
                out.rounds = n.parse().ok().filter(|&r| r > 0).ok_or(format!("--rounds {n}: not a positive count"))?;
            }
            "--save" => out.save = Some(value("--save")?),
            "--merge" => out.merge = Some((value("--merge")?, value("--merge")?)),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            name => out.filter = name.into(),
        }
    }
    Ok(out)
}

fn main() {
    let args = args().unwrap_or_else(|e| {
        eprintln!("peers: {e}");
        std::process::exit(2)
    });
    if let Some((plain, native)) = &args.merge {
        let read = |p: &String| {
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            table::parse(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
        };
        print!("{}", table::merged(&read(plain), &read(native)));
        return;
    }
    if MODELS.is_empty() {
        println!("skipping: ../shared/models not found, no models to bench");
        return;
    }
    let env = onnxruntime::environment().inspect_err(|e| println!("skipping onnxruntime: {e}")).ok();
    let rows: Vec<Row> = MODELS
        .iter()
        .filter(|m| !m.name.starts_with("approx") && m.name.contains(&args.filter))
        .map(|m| bench(&load(m), env.as_ref(), args.rounds))
        .collect();
    print!("{}", table::single(&rows));
    if let Some(path) = &args.save {
        std::fs::write(path, table::save(&rows)).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

/// Times one model in the three engines (two without onnxruntime) after comparing outputs.
fn bench(l: &Loaded, env: Option<&ort::environment::Environment>, rounds: usize) -> Row {
    let name = l.model.name;
    let (mut y, mut arena) = (vec![0f32; l.model.output_len], vec![0f32; l.model.arena_len]);
    (l.model.run)(&l.x, &mut y, &mut arena);
    let tract_y = l.tract.run(0, &l.set).expect("tract runs");
    let tract_y = tract_y[0].to_f64_vec().expect("a numeric output");
    let mut ort = env.map(|env| {
        onnxruntime::OrtModel::load(env, std::path::Path::new(l.model.onnx))
            .unwrap_or_else(|e| panic!("{name}: onnxruntime: {e}"))
    });
    let ort_y = ort.as_mut().map(|o| o.run(&l.set).unwrap_or_else(|e| panic!("{name}: onnxruntime: {e}")));
    let diff_tract = max_abs_diff(&y, tract_y.iter().map(|&v| v as f32));
    let diff_ort = ort_y.map(|o| max_abs_diff(&y, o.into_iter()));
    let mut engines: Vec<Box<dyn FnMut() + '_>> = vec![
        Box::new(|| (l.model.run)(black_box(&l.x), &mut y, &mut arena)),
        Box::new(|| drop(black_box(l.tract.run(0, &l.set).expect("tract runs")))),
    ];
    if let Some(o) = ort.as_mut() {
        engines.push(Box::new(move || drop(black_box(o.run(&l.set).expect("onnxruntime runs")))));
    }
    let t = interleaved(&mut engines, rounds);
    eprintln!("{name}: done");
    Row { name: name.into(), generated: t[0], tract: t[1], ort: t.get(2).copied(), diff_tract, diff_ort }
}

/// The largest absolute difference between the generated output and another engine's
/// (infinite when their lengths differ or a value is NaN on one side only).
fn max_abs_diff(ours: &[f32], theirs: impl ExactSizeIterator<Item = f32>) -> f64 {
    if theirs.len() != ours.len() {
        return f64::INFINITY;
    }
    ours.iter()
        .zip(theirs)
        .map(|(&a, b)| if a.is_nan() && b.is_nan() { 0.0 } else { f64::from((a - b).abs()) })
        .fold(0.0, |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) })
}

/// Seconds per inference of each engine: every round runs each engine's batch in turn; the
/// figure is the median over rounds of the batch medians.
fn interleaved(engines: &mut [Box<dyn FnMut() + '_>], rounds: usize) -> Vec<f64> {
    let batches: Vec<usize> = engines.iter_mut().map(|f| batch_size(f)).collect();
    let mut medians = vec![Vec::with_capacity(rounds); engines.len()];
    for _ in 0..rounds {
        for ((f, &n), m) in engines.iter_mut().zip(&batches).zip(&mut medians) {
            let times: Vec<f64> = (0..n)
                .map(|_| {
                    let s = Instant::now();
                    f();
                    s.elapsed().as_secs_f64()
                })
                .collect();
            m.push(median(times));
        }
    }
    medians.into_iter().map(median).collect()
}

/// Warms `f` up for 100 ms and returns how many runs make a batch of about [`BATCH`] (3 to
/// 1000).
fn batch_size(f: &mut dyn FnMut()) -> usize {
    let (start, mut runs) = (Instant::now(), 0u32);
    while start.elapsed() < Duration::from_millis(100) {
        f();
        runs += 1;
    }
    let each = start.elapsed() / runs;
    (BATCH.as_nanos() / each.as_nanos().max(1)).clamp(3, 1000) as usize
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}
