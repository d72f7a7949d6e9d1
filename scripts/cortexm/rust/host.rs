// Host build of the same emitted model.rs: reads INPUT_LEN little-endian f32 from stdin,
// runs the model on a NaN-filled arena, writes OUTPUT_LEN little-endian f32 to stdout.
// scripts/cortexm/build.py copies it next to model.rs; outputs are compared with the emulator's.
#![allow(dead_code)]

#[path = "model.rs"]
mod model;

use std::io::{Read, Write};

fn main() {
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).expect("read stdin");
    let input: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(input.len(), model::INPUT_LEN, "input length");
    let mut output = vec![0f32; model::OUTPUT_LEN];
    let mut arena = vec![f32::NAN; model::ARENA_LEN];
    model::run(&input, &mut output, &mut arena);
    let out: Vec<u8> = output.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::io::stdout().write_all(&out).expect("write stdout");
}
