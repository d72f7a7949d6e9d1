//! MNIST digit classification compiled into the program: `build.rs` turns the bundled ONNX model
//! into Rust with gos-opt; nothing here needs an allocator or `std`.
#![no_std]

/// The generated module: `INPUT_LEN`, `OUTPUT_LEN`, `ARENA_LEN` and `run`.
pub mod model {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

/// The digit a 28×28 image (row-major, as the model was trained) most likely shows, with the
/// ten scores.
pub fn classify(image: &[f32; model::INPUT_LEN], arena: &mut [f32; model::ARENA_LEN]) -> (usize, [f32; 10]) {
    let mut scores = [0f32; model::OUTPUT_LEN];
    model::run(image, &mut scores, arena);
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    (best, scores)
}
