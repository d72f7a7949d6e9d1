//! The type of the bench's model list. The models themselves, compiled from ONNX into Rust by
//! `build.rs` (`OUT_DIR/models.rs`), are included by each bench target (`benches/common`), so
//! that `scripts/bench-peers.sh` can compile the generated code with `-C target-cpu=native`
//! while the runtimes it is compared with stay the same binaries.

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
