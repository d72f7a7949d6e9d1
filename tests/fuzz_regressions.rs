//! Inputs the fuzzer found (and inputs kept to show a fixed behaviour), run through the same
//! checks as the fuzz targets (`fuzz/checks.rs`): every file in `tests/fuzz-regressions/<target>/`
//! must pass its target's check, that is import, parse or load without a panic and keep the
//! target's property. See the README's "Fuzzing" section.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

#[test]
fn every_kept_input_passes_its_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut failures = Vec::new();
    let mut ran = 0;
    for (target, check) in checks::TARGETS {
        let dir = root.join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<_> = entries.map(|e| e.expect("a readable directory").path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("a readable file");
            if let Err(message) = gos_opt::guard::catch(|| check(&data)) {
                failures.push(format!("{}: {message}", file.display()));
            }
            ran += 1;
        }
    }
    assert!(ran > 0, "no inputs found under {}", root.display());
    assert!(failures.is_empty(), "{} of {ran} kept inputs fail their check:\n{}", failures.len(), failures.join("\n"));
}
