//! The peers bench's figures: Markdown tables of one run or of two runs (the generated code
//! compiled plain and native), and the tab-separated file a run is saved to.

use std::fmt::Write;

/// One model's figures from one run: seconds per inference and output differences.
pub struct Row {
    /// Module name (`int8_*`: QDQ model, integer kernels; `int8_float_*`: float kernels).
    pub name: String,
    /// Generated code.
    pub generated: f64,
    /// tract.
    pub tract: f64,
    /// onnxruntime, when it was loaded.
    pub ort: Option<f64>,
    /// Max abs difference between the generated output and tract's.
    pub diff_tract: f64,
    /// Max abs difference between the generated output and onnxruntime's.
    pub diff_ort: Option<f64>,
}

/// The five float MLPerf Tiny models, whose median ratio the tables end with.
const MLPERF: [&str; 5] = ["dscnn_kws", "fc_autoencoder_ad01", "mobilenetv1_025_vww96", "resnet8", "resnet_large"];

fn us(t: f64) -> String {
    format!("{:.1}", t * 1e6)
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "—".into(), f)
}

fn ratio(num: Option<f64>, den: f64) -> String {
    opt(num, |n| format!("{:.2}×", n / den))
}

fn diff(d: f64) -> String {
    format!("{d:.2e}")
}

/// Float models first, then the int8 QDQ models, each under a heading.
fn sections(rows: &[Row]) -> [(&'static str, Vec<&Row>); 2] {
    let int8 = |r: &&Row| r.name.starts_with("int8");
    [
        ("Float models", rows.iter().filter(|r| !int8(r)).collect()),
        (
            "int8 QDQ models (`int8_`: generated integer kernels, `int8_float_`: generated float kernels; \
             tract and onnxruntime run the QDQ model)",
            rows.iter().filter(int8).collect(),
        ),
    ]
}

/// The median over the five float MLPerf Tiny models of `f` (None when one is missing).
fn mlperf_median(rows: &[Row], f: impl Fn(&Row) -> Option<f64>) -> Option<f64> {
    let mut v: Vec<f64> =
        MLPERF.iter().map(|m| rows.iter().find(|r| r.name == *m).and_then(&f)).collect::<Option<_>>()?;
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// The table of one run.
pub fn single(rows: &[Row]) -> String {
    let mut s = String::new();
    for (title, rows) in sections(rows) {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title}:\n");
        s.push_str("| model | generated (µs) | tract (µs) | onnxruntime (µs) | tract / generated | onnxruntime / generated | max abs diff: tract | max abs diff: onnxruntime |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                us(r.generated),
                us(r.tract),
                opt(r.ort, us),
                ratio(Some(r.tract), r.generated),
                ratio(r.ort, r.generated),
                diff(r.diff_tract),
                opt(r.diff_ort, diff)
            );
        }
    }
    let tract = mlperf_median(rows, |r| Some(r.tract / r.generated));
    let ort = mlperf_median(rows, |r| Some(r.ort? / r.generated));
    if let Some(t) = tract {
        let _ = writeln!(
            s,
            "\nMedian over the five float MLPerf Tiny models: tract / generated {t:.2}×, onnxruntime / generated {}",
            opt(ort, |o| format!("{o:.2}×"))
        );
    }
    s
}

/// The table of two runs of the same models: the generated code compiled plain and native.
/// tract's and onnxruntime's times are the native run's (they are the same binaries in both);
/// each ratio is taken within its own run, whose rounds interleaved the three.
pub fn merged(plain: &[Row], native: &[Row]) -> String {
    let mut s = String::new();
    let pair = |n: &Row| plain.iter().find(|p| p.name == n.name);
    for (title, rows) in sections(native) {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title}:\n");
        s.push_str("| model | onnxruntime (µs) | tract (µs) | generated, native (µs) | generated, plain (µs) | onnxruntime / native | tract / native | onnxruntime / plain | tract / plain | max abs diff: tract, onnxruntime |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for n in rows {
            let p = pair(n);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}, {} |",
                n.name,
                opt(n.ort, us),
                us(n.tract),
                us(n.generated),
                opt(p.map(|p| p.generated), us),
                ratio(n.ort, n.generated),
                ratio(Some(n.tract), n.generated),
                opt(p.and_then(|p| p.ort.map(|o| o / p.generated)), |v| format!("{v:.2}×")),
                opt(p.map(|p| p.tract / p.generated), |v| format!("{v:.2}×")),
                diff(n.diff_tract),
                opt(n.diff_ort, diff)
            );
        }
    }
    let line = |rows: &[Row], build: &str| {
        let t = mlperf_median(rows, |r| Some(r.tract / r.generated));
        let o = mlperf_median(rows, |r| Some(r.ort? / r.generated));
        t.map(|t| {
            format!("{build}: onnxruntime / generated {}, tract / generated {t:.2}×", opt(o, |o| format!("{o:.2}×")))
        })
    };
    if let (Some(n), Some(p)) = (line(native, "native"), line(plain, "plain")) {
        let _ = writeln!(s, "\nMedian over the five float MLPerf Tiny models, {n}; {p}");
    }
    s
}

/// A run as tab-separated lines: name, generated, tract, onnxruntime (`-` when absent), and
/// the two differences.
pub fn save(rows: &[Row]) -> String {
    let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:e}"));
    rows.iter()
        .map(|r| {
            format!(
                "{}\t{:e}\t{:e}\t{}\t{:e}\t{}\n",
                r.name,
                r.generated,
                r.tract,
                f(r.ort),
                r.diff_tract,
                f(r.diff_ort)
            )
        })
        .collect()
}

/// Reads what [`save`] wrote.
pub fn parse(text: &str) -> Result<Vec<Row>, String> {
    let num = |s: &str| s.parse::<f64>().map_err(|e| format!("{s:?}: {e}"));
    let maybe = |s: &str| if s == "-" { Ok(None) } else { num(s).map(Some) };
    text.lines()
        .map(|line| match line.split('\t').collect::<Vec<_>>()[..] {
            [name, g, t, o, dt, dto] => Ok(Row {
                name: name.into(),
                generated: num(g)?,
                tract: num(t)?,
                ort: maybe(o)?,
                diff_tract: num(dt)?,
                diff_ort: maybe(dto)?,
            }),
            _ => Err(format!("not a saved row: {line:?}")),
        })
        .collect()
}
