//! How well the cost model predicts this machine: predicted `host` latency against latency
//! measured with tract (single thread), per layer and per model, over the shared models.
//!
//!     cargo run --release --example cost_fidelity [-- --target-file host.toml] [--budget-ms 60]
//!
//! Each layer is measured alone: the node and its constants become a one-node ONNX model, loaded
//! and run once with the reference runtime (`tract::Runnable`), then timed many times with
//! the same tract plan on inputs converted once (`Runnable::run` converts every tensor to and
//! from tract on each call, which would dominate memory-bound layers); the median run counts.
//! Prints per model and overall the Spearman rank correlation and the median relative error.
//! Not a test: timings are never asserted.

use gos_opt::cost::{self, Profile};
use gos_opt::graph::{ConstOrigin, Graph, Node, Value, ValueId, ValueKind};
use gos_opt::onnx::{self, ImportOptions};
use gos_opt::tensor::{Tensor, TensorType};
use gos_opt::tract::{to_tract, tract_dtype, Runnable};
use gos_opt::verify::{random_sets, InputSet, RandomSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tract_onnx::prelude::{Framework, InferenceFact, InferenceModelExt, IntoRunnable, TValue, TVec};

/// One layer's figures.
struct Layer {
    op: String,
    predicted: f64,
    measured: f64,
}

/// `node` alone, with its constant inputs as initializers and its other inputs as graph inputs.
fn single_node(graph: &Graph, node: &Node) -> Result<Graph, String> {
    let mut g = Graph::new(graph.meta.clone());
    g.meta.graph_carried.clear();
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    let mut inputs = Vec::new();
    for v in node.inputs.iter() {
        let Some(v) = *v else {
            inputs.push(None);
            continue;
        };
        if let Some(&id) = map.get(&v) {
            inputs.push(Some(id));
            continue;
        }
        let src = graph.value(v);
        let id = match &src.kind {
            ValueKind::Const { tensor, .. } => g.add_const(
                &src.name,
                tensor.clone(),
                ConstOrigin::Initializer { also_input: false, doc_string: String::new() },
            ),
            _ => {
                let ty = src.ty.clone().ok_or("an input without a type")?;
                let id = g.add_value(Value {
                    name: src.name.clone(),
                    ty: Some(ty),
                    kind: ValueKind::Input,
                    ..Value::default()
                });
                g.inputs.push(id);
                id
            }
        };
        map.insert(v, id);
        inputs.push(Some(id));
    }
    let mut outputs = Vec::new();
    for &o in &node.outputs {
        let src = graph.value(o);
        let id = g.add_value(Value { name: src.name.clone(), ty: src.ty.clone(), ..Value::default() });
        if src.ty.is_some() {
            g.outputs.push(id);
        }
        outputs.push(id);
    }
    g.add_node(Node { inputs, outputs, ..node.clone() }).map_err(|e| e.to_string())?;
    Ok(g)
}

/// Median seconds per call of `run`.
fn time(budget: Duration, mut run: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    for _ in 0..3 {
        run()?;
    }
    let start = Instant::now();
    let mut runs = Vec::new();
    while (runs.len() < 15 || start.elapsed() < budget) && runs.len() < 5000 {
        let t = Instant::now();
        run()?;
        runs.push(t.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    Ok(runs[runs.len() / 2])
}

/// Runs `bytes` with the reference runtime on seeded random inputs, then times tract's plan of
/// the same model (single thread, tract's default) on those inputs.
fn measure(bytes: &[u8], dir: Option<&Path>, graph: &Graph, budget: Duration) -> Result<f64, String> {
    let err = |e: &dyn std::fmt::Debug| format!("{e:?}").lines().next().unwrap_or_default().to_string();
    let types: HashMap<String, TensorType> =
        graph.inputs.iter().filter_map(|&id| Some((graph.value(id).name.clone(), graph.ty(id)?.clone()))).collect();
    let reference = Runnable::new(bytes, dir, &types).map_err(|e| e.to_string())?;
    // Integer inputs (indices) stay at 0 so that every op accepts them.
    let spec = RandomSpec { int_range: (0, 0), ..RandomSpec::with_seed(0) };
    let set: InputSet = random_sets(&types, &spec, 1).map_err(|e| e.to_string())?.remove(0);
    let names = &reference.input_names;
    let inputs: Vec<Tensor> =
        names.iter().map(|n| set.get(n).cloned().ok_or(format!("no input '{n}'"))).collect::<Result<_, _>>()?;
    reference.run(&inputs).map_err(|e| e.to_string())?;

    let onnx = tract_onnx::onnx();
    let mut model = onnx.model_for_read(&mut &bytes[..]).map_err(|e| err(&e))?;
    for (i, t) in inputs.iter().enumerate() {
        let dt = tract_dtype(t.dtype).ok_or("an input type tract lacks")?;
        model = model.with_input_fact(i, InferenceFact::dt_shape(dt, &t.shape)).map_err(|e| err(&e))?;
    }
    let plan = model.into_optimized().and_then(|m| m.into_runnable()).map_err(|e| err(&e))?;
    let tv: TVec<TValue> =
        inputs.iter().map(|t| to_tract(t).map(TValue::from)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    time(budget, || plan.run(tv.clone()).map(|_| ()).map_err(|e| err(&e)))
}

/// Ranks with ties averaged.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation.
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Median of |predicted - measured| / measured.
fn median_rel_err(layers: &[&Layer]) -> f64 {
    let mut e: Vec<f64> = layers.iter().map(|l| (l.predicted - l.measured).abs() / l.measured).collect();
    e.sort_by(f64::total_cmp);
    e.get(e.len() / 2).copied().unwrap_or(f64::NAN)
}

fn models(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            models(&p, out);
        } else if p.extension().is_some_and(|e| e == "onnx") {
            out.push(p);
        }
    }
}

fn us(s: f64) -> String {
    format!("{:.1} us", s * 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let profile: Profile = match arg("--target-file") {
        Some(f) => cost::load_file(Path::new(&f)).unwrap_or_else(|e| panic!("{e}")),
        None => cost::load_target("host").expect("the shipped host profile parses"),
    };
    let budget = Duration::from_millis(arg("--budget-ms").and_then(|v| v.parse().ok()).unwrap_or(60));
    let only = arg("--only");
    let verbose = args.iter().any(|a| a == "--verbose");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
    if !root.is_dir() {
        println!("skipping: {} not found", root.display());
        return;
    }
    let mut paths = Vec::new();
    models(&root, &mut paths);
    println!("profile: {} ({}); per-layer budget {budget:?}", profile.name, profile.description);
    let mut all: Vec<(String, Layer)> = Vec::new();
    let mut totals: Vec<(f64, f64)> = Vec::new();
    for path in &paths {
        let rel = path.strip_prefix(&root).unwrap_or(path).display().to_string();
        if only.as_ref().is_some_and(|o| !rel.contains(o.as_str())) {
            continue;
        }
        let graph = match onnx::import(path, &ImportOptions::default()) {
            Ok(g) => g,
            Err(e) => {
                println!("\n{rel}: skipped (import: {e})");
                continue;
            }
        };
        let info = gos_opt::inspect::inspect_on(&graph, Some(&profile), cost::Objective::Latency).expect("inspects");
        let order = graph.topo_order().expect("imported graphs are acyclic");
        let mut layers = Vec::new();
        let (mut skipped, mut folded) = (0, 0);
        for (id, node_info) in order.iter().zip(&info.nodes) {
            let node = graph.node(*id);
            // Weight-only layers are folded (by gos-opt at emission, by tract when it optimizes).
            if node_info.cost.as_ref().is_some_and(|c| c.weight_only) {
                folded += 1;
                continue;
            }
            let predicted = node_info.cost.as_ref().map(|c| c.latency_s).unwrap_or(0.0);
            let measured = single_node(&graph, node)
                .and_then(|g| Ok((onnx::export_bytes(&g).map_err(|e| e.to_string())?, g)))
                .and_then(|(bytes, g)| measure(&bytes, None, &g, budget));
            match measured {
                Ok(m) => {
                    let shapes = format!("{} -> {}", node_info.inputs.join(", "), node_info.outputs.join(", "));
                    if verbose {
                        let bound = node_info.cost.as_ref().map(|c| format!("{:?}", c.bottleneck)).unwrap_or_default();
                        println!("  {:<18} {:>10} {:>10} {bound:<8} {shapes}", node_info.op, us(predicted), us(m));
                    }
                    layers.push(Layer { op: node_info.op.clone(), predicted, measured: m })
                }
                Err(_) => skipped += 1,
            }
        }
        let bytes = std::fs::read(path).expect("the model was just imported");
        let whole = measure(&bytes, path.parent(), &graph, budget * 5);
        let predicted_total = info.cost.as_ref().map(|c| c.latency_s).unwrap_or(0.0);
        let refs: Vec<&Layer> = layers.iter().collect();
        let (p, m): (Vec<f64>, Vec<f64>) = layers.iter().map(|l| (l.predicted, l.measured)).unzip();
        println!(
            "\n{rel}: {} layers ({folded} weight-only, {skipped} not runnable alone); spearman {:.3}; median relative error {:.2}",
            layers.len(),
            spearman(&p, &m),
            median_rel_err(&refs)
        );
        let whole_text = match &whole {
            Ok(w) => us(*w),
            Err(e) => format!("not runnable ({e})"),
        };
        println!(
            "  model: predicted {}, measured {whole_text} (layers alone sum to {})",
            us(predicted_total),
            us(m.iter().sum())
        );
        if let Ok(w) = whole {
            totals.push((predicted_total, w));
        }
        all.extend(layers.into_iter().map(|l| (rel.clone(), l)));
    }
    if all.is_empty() {
        println!("no layer measured");
        return;
    }
    let (p, m): (Vec<f64>, Vec<f64>) = all.iter().map(|(_, l)| (l.predicted, l.measured)).unzip();
    let refs: Vec<&Layer> = all.iter().map(|(_, l)| l).collect();
    println!(
        "\noverall: {} layers over {} models; spearman {:.3}; median relative error {:.2}",
        all.len(),
        totals.len(),
        spearman(&p, &m),
        median_rel_err(&refs)
    );
    if totals.len() > 2 {
        let (tp, tm): (Vec<f64>, Vec<f64>) = totals.iter().copied().unzip();
        let errs: Vec<Layer> =
            totals.iter().map(|&(p, m)| Layer { op: String::new(), predicted: p, measured: m }).collect();
        let refs: Vec<&Layer> = errs.iter().collect();
        println!("models: spearman {:.3}; median relative error {:.2}", spearman(&tp, &tm), median_rel_err(&refs));
    }
    // Per op type: where the model is off, and in which direction.
    let mut by_op: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for (_, l) in &all {
        by_op.entry(&l.op).or_default().push(l.predicted / l.measured);
    }
    println!("\npredicted/measured by op (median, count):");
    for (op, mut r) in by_op {
        r.sort_by(f64::total_cmp);
        println!("  {op:<20} {:>8.2}  {}", r[r.len() / 2], r.len());
    }
}
