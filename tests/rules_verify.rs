//! `gos-opt rules verify`: every shipped exact rule passes on at least 50 random instances, a
//! wrong rule fails and is named, a rule that cannot be instantiated is an error, not a pass.

use gos_opt::rules::{Functions, RuleKind, RuleSet};
use std::io::Write;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).env("RUST_BACKTRACE", "0").output().expect("the binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().expect("exited normally"), text(&out.stdout), text(&out.stderr))
}

fn rule_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".rules").tempfile().expect("a temp file");
    f.write_all(text.as_bytes()).expect("written");
    f
}

/// The table's rows: (rule, checked cases, verdict).
fn rows(table: &str) -> Vec<(String, usize, String)> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let [name, cases, _, _, verdict] = cols.as_slice() else { return None };
            let checked = cases.split_once('/')?.0.parse().ok()?;
            Some((name.to_string(), checked, verdict.to_string()))
        })
        .collect()
}

#[test]
fn every_shipped_exact_rule_passes_with_50_cases() {
    let (code, stdout, stderr) = run(&["rules", "verify"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let shipped = RuleSet::load(&[], &Functions).expect("the shipped rules load");
    let exact: Vec<&str> =
        shipped.rules.iter().filter(|r| r.kind == RuleKind::Exact).map(|r| r.name.as_str()).collect();
    assert!(exact.len() > 100, "decompose.rules and algebra.rules are shipped");
    let rows = rows(&stdout);
    assert_eq!(rows.len(), exact.len(), "{stdout}");
    for (name, cases, verdict) in &rows {
        assert!(exact.contains(&name.as_str()), "{name} is not a shipped exact rule");
        assert!(*cases >= 50 && verdict == "pass", "{name}: {cases} cases, {verdict}");
    }
    assert!(stdout.contains(&format!(
        "{} exact rules: {} pass, 0 fail, 0 could not be checked",
        exact.len(),
        exact.len()
    )));
}

#[test]
fn a_wrong_rule_fails_and_is_named() {
    let f = rule_file(";; wrong on purpose: x + x is 2x, not x\n(rule add-self-is-self exact\n  (add ?x ?x) => ?x)\n");
    let (code, stdout, stderr) = run(&["rules", "verify", "--rules", f.path().to_str().unwrap()]);
    assert_ne!(code, 0);
    assert_eq!(code, 3, "verification failures exit 3");
    let rows = rows(&stdout);
    assert_eq!(rows.len(), 1, "only the file's rules are verified: {stdout}");
    assert_eq!((rows[0].0.as_str(), rows[0].2.as_str()), ("add-self-is-self", "FAIL"));
    assert!(stderr.contains("add-self-is-self"), "{stderr}");
}

#[test]
fn a_rule_that_never_fires_is_an_error() {
    // No instance is well typed: six elements never fit 7x7x7.
    let f = rule_file(
        ";; wrong on purpose: never well typed\n(rule never-fires exact\n  (neg ?x) => (reshape #ints:7,7,7 ?x))\n",
    );
    let (code, stdout, stderr) = run(&["rules", "verify", "--rules", f.path().to_str().unwrap()]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    let rows = rows(&stdout);
    assert_eq!((rows[0].0.as_str(), rows[0].1, rows[0].2.as_str()), ("never-fires", 0, "ERROR"));
    assert!(stdout.contains("could not be checked") && stderr.contains("never-fires"));
}

#[test]
fn a_right_rule_from_a_file_passes() {
    let f = rule_file(";; x * 2 == x + x: doubling is exact in binary floating point and in integers\n(rule double exact\n  (mul ?x 2) => (add ?x ?x))\n");
    let (code, stdout, stderr) = run(&["rules", "verify", "--rules", f.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(rows(&stdout), vec![("double".to_string(), 50, "pass".to_string())]);
}

#[test]
fn the_opt_in_winograd_rules_pass() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/winograd.rules");
    let (code, stdout, stderr) = run(&["rules", "verify", "--rules", path]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let names: Vec<String> = rows(&stdout)
        .into_iter()
        .map(|(name, cases, verdict)| {
            assert!(cases >= 50 && verdict == "pass", "{name}: {cases} cases, {verdict}");
            name
        })
        .collect();
    assert_eq!(
        names,
        ["conv3x3-winograd-f2", "conv3x3-winograd-f2-nobias", "conv3x3-winograd-f4", "conv3x3-winograd-f4-nobias"]
    );
}
