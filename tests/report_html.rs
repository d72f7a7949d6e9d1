//! `--report R.html` through the command line, next to `--report R.json` of the same run: the
//! page's summary figures are the JSON report's, the chart has one bar per layer shown, every
//! rewritten node is in one row of the rewrite table, approx mode draws its front, nothing is
//! loaded from the network and model-controlled names are escaped.

use onnx_protobuf::{Message, ModelProto};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");
const MNIST8: &str = "models/mnist-8/model.onnx";
const CALIB: &str = "models/mnist-8/calib/t10k-1000-images-idx3-ubyte.gz";
const LABELS: &str = "models/mnist-8/calib/t10k-1000-labels-idx1-ubyte.gz";
/// `CHART_LAYERS` of `src/report/html.rs`.
const CHART_LAYERS: usize = 30;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_html").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creates the scratch directory");
    dir
}

/// Runs gos-opt with `args` plus `-o`, `--report r.json --report r.html` in `dir`; returns the
/// JSON report and the page.
fn run(dir: &Path, args: &[&str]) -> (serde_json::Value, String) {
    let (json, html) = (dir.join("r.json"), dir.join("r.html"));
    let out = dir.join("m.onnx");
    let reports = ["-o", out.to_str().unwrap(), "--report", json.to_str().unwrap(), "--report", html.to_str().unwrap()];
    let run = Command::new(BIN).args(args).args(reports).output().expect("the binary runs");
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let json = serde_json::from_str(&std::fs::read_to_string(json).expect("the JSON report")).expect("JSON");
    (json, std::fs::read_to_string(html).expect("the HTML report"))
}

/// The text of the element with `id` up to its closing `</tag>`.
fn element<'h>(html: &'h str, id: &str, tag: &str) -> &'h str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let end = html[start..].find(&format!("</{tag}>")).expect("closed") + start;
    &html[start..end]
}

/// Checks that hold for every page: no network resource, no script, one bar per layer shown,
/// the summary's figures equal to the JSON report's.
fn check_page(json: &serde_json::Value, html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for bad in ["http://", "https://", "<script", "src=", "@import", "url("] {
        assert!(!html.to_lowercase().contains(bad), "the page holds {bad}");
    }
    let summary = element(html, "summary", "table");
    let row = |name: &str| {
        let start = summary.find(&format!("<th>{name}</th>")).unwrap_or_else(|| panic!("no {name} row"));
        let end = summary[start..].find("</tr>").unwrap() + start;
        let cells: Vec<String> = summary[start..end]
            .split("<td")
            .skip(1)
            .map(|c| c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()].to_string())
            .collect();
        cells
    };
    let n = |v: &serde_json::Value| v.as_u64().unwrap().to_string();
    assert_eq!(row("nodes")[..2], [n(&json["nodes_before"]), n(&json["nodes_after"])]);
    assert_eq!(row("MACs")[..2], [n(&json["before"]["total_macs"]), n(&json["after"]["total_macs"])]);
    assert_eq!(row("parameters")[..2], [n(&json["before"]["total_params"]), n(&json["after"]["total_params"])]);
    let ms = |v: &serde_json::Value| format!("{:.4}", v["cost"]["latency_s"].as_f64().unwrap() * 1e3);
    assert_eq!(row("predicted latency (ms)")[..2], [ms(&json["before"]), ms(&json["after"])]);
    // The chart: one bar pair per layer up to CHART_LAYERS, the rest summed in one more; the
    // table: a row per node of the written model (and per original node computed no more),
    // which together stand for every original node.
    let table = element(html, "layer-table", "table");
    let layers = table.matches("<tr><td>").count();
    assert!(layers >= json["after"]["nodes"].as_array().unwrap().len());
    let members: u64 = table
        .split("<tr><td>")
        .skip(1)
        .map(|r| {
            r.split("<td class=\"num\">").nth(1).and_then(|c| c.split('<').next()).unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(members as usize, json["before"]["nodes"].as_array().unwrap().len());
    let bars = element(html, "layer-chart", "div").matches("<g class=\"layer\">").count();
    assert_eq!(bars, layers.min(CHART_LAYERS) + usize::from(layers > CHART_LAYERS));
}

/// The rows of the rewrite table.
fn rewrite_rows(html: &str) -> Vec<&str> {
    element(html, "rewrites", "table").split("<tr class=\"rewrite\">").skip(1).collect()
}

#[test]
fn exact_mode_page_shows_the_json_figures_and_every_rewritten_node_once() {
    let dir = scratch("exact");
    let (json, html) = run(&dir, &[MNIST8, "--target", "rpi3"]);
    check_page(&json, &html);
    let rows = rewrite_rows(&html);
    let fates = json["search"]["fates"].as_array().unwrap();
    let changed: Vec<&str> =
        fates.iter().filter(|f| f["fate"] != "kept").map(|f| f["node"].as_str().unwrap()).collect();
    assert!(!changed.is_empty(), "mnist-8 has rewrites in exact mode");
    for node in changed {
        let cell = format!("<br>{node} <span");
        let first = format!("<td>{node} <span");
        let holding = rows.iter().filter(|r| r.contains(&cell) || r.contains(&first)).count();
        assert_eq!(holding, 1, "{node} is in {holding} rewrite rows");
    }
    // Every rule a rewrite names is one whose work survives in the program.
    let survivors: Vec<&str> = json["search"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["survives"] == true)
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    for f in fates {
        for rule in f["rules"].as_array().into_iter().flatten() {
            assert!(survivors.contains(&rule.as_str().unwrap()), "{rule} of {f} does not survive");
        }
    }
    assert!(html.contains("id=\"search\"") && html.contains("id=\"verification\""));
    assert!(!html.contains("id=\"pareto\""), "no front in exact mode");
}

#[test]
fn approx_mode_page_has_the_front_and_the_figure_change_per_rewrite() {
    let dir = scratch("approx");
    let calib = format!("{CALIB}@0..200");
    let labels = format!("{LABELS}@0..200");
    let args = [MNIST8, "--target", "rpi3", "--mode", "approx", "--calib", &calib, "--labels", &labels];
    let (json, html) = run(&dir, &[&args[..], &["--data-scale", "255", "--budget", "acc=2"]].concat());
    check_page(&json, &html);
    let a = &json["approx"];
    let applied = a["applied"].as_array().unwrap();
    assert!(!applied.is_empty(), "approx mode replaced something on mnist-8");
    let rows = rewrite_rows(&html);
    for step in applied {
        let (rule, node) = (step["rule"].as_str().unwrap(), step["node"].as_str().unwrap());
        assert!(rows.iter().any(|r| r.contains(rule) && r.contains(node)), "{rule} at {node} has no row");
    }
    assert!(element(&html, "rewrites", "table").contains("held-out figure change"));
    let points = a["front"]["points"].as_array().unwrap();
    assert!(!points.is_empty());
    let pareto = element(&html, "pareto", "div");
    assert_eq!(pareto.matches("<circle").count(), points.len());
    let chosen = points.iter().filter(|p| p["rewrites"].as_u64() == Some(applied.len() as u64)).count();
    assert_eq!(pareto.matches("point chosen").count(), chosen);
}

#[test]
fn names_from_the_model_are_escaped() {
    let dir = scratch("escape");
    let mut model = ModelProto::parse_from_bytes(&std::fs::read(MNIST8).unwrap()).expect("mnist-8 parses");
    let evil = r#"<script>alert("x")</script>&'"#;
    model.graph.as_mut().unwrap().node[0].name = evil.into();
    let path = dir.join("evil.onnx");
    std::fs::write(&path, model.write_to_bytes().unwrap()).unwrap();
    let (json, html) = run(&dir, &[path.to_str().unwrap(), "--target", "rpi3", "--mode", "none"]);
    assert_eq!(json["before"]["nodes"][0]["name"], evil, "the name reaches the report");
    check_page(&json, &html);
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
}
