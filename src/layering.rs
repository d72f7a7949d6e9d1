//! Tests of the crate's layering, read from its sources: no import circle between the top-level
//! modules (the pipeline's stages and what they stand on, see lib.rs), and `cost` free of the
//! e-graph (it names neither `egg` nor `crate::ir`). Test code (`#[cfg(test)]` modules) may
//! reach upwards, to build its fixtures, and is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The files of test-only modules (`#[cfg(test)] mod NAME;`) declared in `src`.
fn test_files(src: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for p in sources(src) {
        let text = std::fs::read_to_string(&p).unwrap();
        let dir = match p.file_name().and_then(|f| f.to_str()) {
            Some("mod.rs" | "lib.rs") => p.parent().unwrap().to_path_buf(),
            _ => p.with_extension(""),
        };
        let mut rest = text.as_str();
        while let Some(i) = rest.find("#[cfg(test)]") {
            rest = &rest[i + "#[cfg(test)]".len()..];
            let decl = rest.trim_start();
            let decl = decl.strip_prefix("pub(crate) ").or_else(|| decl.strip_prefix("pub ")).unwrap_or(decl);
            if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.split_once(';')).map(|(n, _)| n.trim()) {
                if !name.contains(char::is_whitespace) {
                    out.insert(dir.join(format!("{name}.rs")));
                    out.insert(dir.join(name).join("mod.rs"));
                }
            }
        }
    }
    out
}

/// The top-level modules named by `crate::NAME` or `crate::{NAME, ...}` in `line`.
fn named_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        let rest = &line[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            for item in group.split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Module → modules it imports (outside comments and test code), with a file that does.
fn imports(src: &Path) -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let tests = test_files(src);
    let mut deps: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for p in sources(src).into_iter().filter(|p| !tests.contains(p)) {
        let rel = p.strip_prefix(src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for name in named_modules(line).into_iter().filter(|n| *n != top) {
                deps.entry(top.clone()).or_default().entry(name).or_insert_with(|| p.clone());
            }
        }
    }
    deps
}

/// Whether `to` is reachable from `from`.
fn reaches(deps: &BTreeMap<String, BTreeMap<String, PathBuf>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(m) = stack.pop() {
        for next in deps.get(&m).into_iter().flat_map(|d| d.keys()) {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    false
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let deps = imports(&src());
    assert!(deps.get("pipeline").is_some_and(|d| d.contains_key("emit")), "the scan sees imports");
    let circles: Vec<String> = deps
        .iter()
        .flat_map(|(a, to)| to.iter().map(move |(b, file)| (a, b, file)))
        .filter(|(a, b, _)| reaches(&deps, b, a))
        .map(|(a, b, file)| format!("{a} -> {b} ({})", file.display()))
        .collect();
    assert!(circles.is_empty(), "imports on a circle:\n{}", circles.join("\n"));
}

#[test]
fn cost_names_neither_the_e_graph_nor_the_ir() {
    let tests = test_files(&src());
    for p in sources(&src().join("cost")).into_iter().filter(|p| !tests.contains(p)) {
        let text = std::fs::read_to_string(&p).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            assert!(
                !line.contains("egg::") && !named_modules(line).iter().any(|m| m == "ir"),
                "{}: {line}",
                p.display()
            );
        }
    }
}

#[test]
fn the_scan_reads_grouped_and_nested_imports() {
    assert_eq!(named_modules("use crate::{ops::Op, tensor};"), ["ops", "tensor"]);
    assert_eq!(named_modules("x = crate::graph::ir_version_for(crate::onnx::X)"), ["graph", "onnx"]);
}
