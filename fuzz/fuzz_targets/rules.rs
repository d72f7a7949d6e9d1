//! Fuzz target `rules`: runs [`checks::rules`] on every input; a panic is a crash.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::rules(data));
