//! Fuzz target `profile`: runs [`checks::profile`] on every input; a panic is a crash.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::profile(data));
