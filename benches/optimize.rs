//! Exact optimization time per shared model (lower, saturate, extract, lift), for rpi3.
//! Run: `cargo bench --bench optimize`. Skips with a notice when ../shared is absent.

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

criterion_group!(benches, optimize);
criterion_main!(benches);
