//! The generated code computes what tract computes on the same model.

use gos_opt::tensor::{DType, Tensor, TensorType};
use gos_opt::verify::TractModel;
use mnist_build::{classify, model};
use std::collections::HashMap;
use std::path::Path;

/// A crude "1": a vertical bar, plus a little structured noise so every pixel matters.
fn image(seed: u32) -> [f32; 784] {
    let mut x = [0f32; 784];
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    for (i, v) in x.iter_mut().enumerate() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let (r, c) = (i / 28, i % 28);
        let bar = if (12..16).contains(&c) && (4..24).contains(&r) { 255.0 } else { 0.0 };
        *v = bar + (state % 32) as f32;
    }
    x
}

#[test]
fn generated_code_agrees_with_tract() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/mnist-8/model.onnx");
    let bytes = std::fs::read(&path).expect("the bundled model");
    let ty = TensorType::new(DType::F32, model::INPUT_SHAPE.to_vec());
    let (inputs, _) = gos_opt::verify::io_names(&bytes).expect("ONNX");
    let types: HashMap<String, TensorType> = [(inputs[0].clone(), ty)].into();
    let tract = TractModel::load("mnist-8", &bytes, path.parent(), &types).expect("tract loads the model");
    let mut arena = [0f32; model::ARENA_LEN];
    for seed in 0..4 {
        let x = image(seed);
        let (digit, scores) = classify(&x, &mut arena);
        let set = [(inputs[0].clone(), Tensor::f32(model::INPUT_SHAPE.to_vec(), x.to_vec()))].into();
        let reference = tract.run(seed as usize, &set).expect("tract runs").remove(0);
        let reference = reference.as_f32().expect("float output");
        let mut best = 0;
        for (i, (r, s)) in reference.iter().zip(&scores).enumerate() {
            let d = (r - s).abs();
            assert!(d <= 1e-4 || d <= 1e-4 * r.abs(), "score {i}: tract {r}, generated {s}");
            if *r > reference[best] {
                best = i;
            }
        }
        assert_eq!(digit, best);
    }
}
