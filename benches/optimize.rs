//! Exact optimization time per shared model (lower, saturate, extract, lift), for rpi3; and
//! tract's latency on the original and the optimized model (group `tract`, every shared float
//! model: one thread, the same inputs — the first test set's, or seeded random ones).
//! Run: `cargo bench --bench optimize`. Skips with a notice when ../shared is absent.

#[path = "../examples/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use gos_opt::onnx::{import, ImportOptions};
use gos_opt::rules::{Functions, RuleSet};
use std::path::Path;

fn optimize(c: &mut Criterion) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
    if !models.is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    let rules = RuleSet::load(&[], &Functions).expect("shipped rules load");
    let profile = gos_opt::cost::load_target("rpi3").expect("rpi3 profile");
    let limits = gos_opt::search::Limits::default();
    let mut group = c.benchmark_group("optimize");
    group.sample_size(10);
    for (name, rel, shape) in [
        ("resnet8", "mlperf-tiny/onnx/resnet8_cifar10_pretrainedResnet/model.onnx", None),
        ("dscnn", "mlperf-tiny/onnx/dscnn_kws/model.onnx", None),
        ("vww", "mlperf-tiny/onnx/mobilenetv1_025_vww96/model.onnx", None),
        ("mnist-8", "mnist-8/model.onnx", None),
        ("ppocr-rec", "ppocr/rec/model.onnx", Some(vec![1, 3, 48, 320])),
    ] {
        let mut opts = ImportOptions::default();
        if let Some(shape) = shape {
            opts.input_shapes.insert("x".into(), shape);
        }
        let graph = import(&models.join(rel), &opts).expect("the shared model imports");
        group.bench_function(name, |b| {
            b.iter(|| {
                gos_opt::pipeline::optimize_exact(&graph, &rules, &profile, gos_opt::cost::Objective::Latency, &limits)
                    .expect("optimizes")
            })
        });
    }
    group.finish();
}

/// tract on the original model and on the exact optimization for rpi3, exported in memory.
fn tract_latency(c: &mut Criterion) {
    let Some(models) = common::models_dir() else { return };
    let rules = RuleSet::load(&[], &Functions).expect("shipped rules load");
    let profile = gos_opt::cost::load_target("rpi3").expect("rpi3 profile");
    let limits = gos_opt::search::Limits::default();
    let mut group = c.benchmark_group("tract");
    group.sample_size(20);
    for m in common::float_models(&models) {
        let dir = m.path.parent();
        let original = std::fs::read(&m.path).expect("the shared model reads");
        let graph = import(&m.path, &m.import).expect("the shared model imports");
        let (optimized, _) =
            gos_opt::pipeline::optimize_exact(&graph, &rules, &profile, gos_opt::cost::Objective::Latency, &limits)
                .expect("optimizes");
        let optimized = gos_opt::onnx::export_bytes(&optimized).expect("exports");
        let types = graph.inputs.iter().filter_map(|&id| Some((graph.value(id).name.clone(), graph.ty(id)?.clone())));
        let inputs = common::inputs_for(&m, &types.collect());
        for (which, bytes) in [("original", &original), ("optimized", &optimized)] {
            let run = common::TractRun::new(bytes, dir, &inputs)
                .unwrap_or_else(|e| panic!("tract loads the {which} {}: {e}", m.label));
            group.bench_function(format!("{}/{which}", m.label), |b| b.iter(|| run.run()));
        }
    }
    group.finish();
}

criterion_group!(benches, optimize, tract_latency);
criterion_main!(benches);
