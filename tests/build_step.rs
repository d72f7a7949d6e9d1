//! The build step (`gos_opt::build::Builder`) runs the CLI's pipeline: it verifies what it
//! emits, and a rewrite that changes the model's results is a build error that writes nothing.

use gos_opt::build::{BuildError, Builder};
use gos_opt::pipeline::Mode;
use std::io::Write;
use std::path::PathBuf;

fn mnist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/mnist-8/model.onnx")
}

#[test]
fn an_exact_build_is_verified_and_writes_the_module_and_the_model() {
    let out = tempfile::tempdir().unwrap();
    let outcome =
        Builder::new(mnist()).target("cortex-m4").mode(Mode::Exact).rerun_if_changed(false).run(out.path()).unwrap();
    assert!(outcome.verification.passed, "{}", outcome.verification.summary());
    // The three bundled test sets and two seeded random inputs.
    assert_eq!(outcome.verification.input_sets, 5, "{}", outcome.verification.summary());
    let rust = outcome.emit.expect("the module");
    assert_eq!(rust.model_rs.as_deref(), Some(out.path().join("model.rs").as_path()));
    assert!(std::fs::read_to_string(out.path().join("model.rs")).unwrap().contains("pub fn run("));
    assert!(out.path().join("model.opt.onnx").is_file());
}

#[test]
fn a_wrong_rule_is_a_build_error_that_says_why_and_writes_nothing() {
    let mut rules = tempfile::Builder::new().suffix(".rules").tempfile().unwrap();
    // Wrong on purpose: dropping every Relu is cheaper, so extraction takes it.
    writeln!(
        rules,
        ";; wrong on purpose: relu is not the identity\n(rule relu-is-identity exact\n  (Relu ?op ?x) => ?x)"
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = Builder::new(mnist())
        .target("cortex-m4")
        .mode(Mode::Exact)
        .rules(rules.path())
        .rerun_if_changed(false)
        .emit_rust(out.path())
        .unwrap_err();
    match &err {
        BuildError::Pipeline(e) => assert!(e.is_verification(), "{e}"),
        other => panic!("expected a verification failure, got {other}"),
    }
    assert!(err.to_string().starts_with("verification failed, nothing written"), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing is written");
}

#[test]
fn an_unknown_target_is_refused_by_name() {
    let out = tempfile::tempdir().unwrap();
    let err = Builder::new(mnist()).target("pdp11").rerun_if_changed(false).emit_rust(out.path()).unwrap_err();
    assert!(err.to_string().starts_with("unknown target 'pdp11' (known: "), "{err}");
}
