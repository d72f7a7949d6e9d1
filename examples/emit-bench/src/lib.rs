//! The models of the bench, compiled from ONNX into Rust by `build.rs`.

/// One generated model.
pub struct Model {
    /// Module name.
    pub name: &'static str,
    /// The ONNX file it came from.
    pub onnx: &'static str,
    /// The suffix of the test sets' stored outputs (`qdq` for the int8 models).
    pub sets: Option<&'static str>,
    /// Its `run`.
    pub run: fn(&[f32], &mut [f32], &mut [f32]),
    /// `INPUT_LEN`.
    pub input_len: usize,
    /// `OUTPUT_LEN`.
    pub output_len: usize,
    /// `ARENA_LEN`.
    pub arena_len: usize,
}

include!(concat!(env!("OUT_DIR"), "/models.rs"));
