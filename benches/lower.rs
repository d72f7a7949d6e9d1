//! Lowering a model into the e-graph (the IR issue's goal: ppocr rec, 860 nodes, under 1 s).
//! Run: `cargo bench --bench lower`. Skips with a notice when ../shared is absent.

use criterion::{criterion_group, criterion_main, Criterion};
use gos_opt::onnx::{import, ImportOptions};
use std::path::Path;

fn lower(c: &mut Criterion) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
    if !models.is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    let mut group = c.benchmark_group("lower");
    for (name, rel, shape) in [
        ("ppocr-rec", "ppocr/rec/model.onnx", Some(vec![1, 3, 48, 320])),
        ("ppocr-cls", "ppocr/cls/model.onnx", Some(vec![1, 3, 48, 192])),
        ("resnet8", "mlperf-tiny/onnx/resnet8_cifar10_pretrainedResnet/model.onnx", None),
    ] {
        let mut opts = ImportOptions::default();
        if let Some(shape) = shape {
            opts.input_shapes.insert("x".into(), shape);
        }
        let graph = import(&models.join(rel), &opts).expect("the shared model imports");
        group.bench_function(name, |b| b.iter(|| gos_opt::ir::lower(&graph).expect("lowers")));
    }
    group.finish();
}

criterion_group!(benches, lower);
criterion_main!(benches);
