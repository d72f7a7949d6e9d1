//! Fuzz target `input_shape`: runs [`checks::input_shape`] on every input; a panic is a crash.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::input_shape(data));
