//! Inline SVG charts for the HTML report: a horizontal before/after bar chart and a cost–error
//! scatter. Plain SVG with no script and no external resource; every text is escaped.

use std::fmt::Write;

/// `s` with the five HTML/XML special characters escaped, safe in text and in quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

/// A value shortened for a chart label: three significant digits below 1, three decimals
/// (trailing zeros dropped) below 100, none above (`0.0123`, `4.568`, `2`, `12346`).
pub fn short_number(v: f64) -> String {
    match v.abs() {
        a if a == 0.0 || !a.is_finite() => format!("{v}"),
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string(),
        a => {
            let digits = (2.0 - a.log10().floor()) as usize;
            format!("{v:.digits$}")
        }
    }
}

/// One row of the bar chart: a label and two non-negative values.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// The row's label (a layer name), shown shortened, in full in its tooltip.
    pub label: String,
    /// The value before (drawn grey).
    pub before: f64,
    /// The value after (drawn blue).
    pub after: f64,
}

const LABEL_W: f64 = 250.0;
const BARS_W: f64 = 520.0;
const ROW_H: f64 = 26.0;
const HEAD_H: f64 = 34.0;

/// A horizontal bar chart with two bars per row (before, after) on one linear scale, in `unit`.
/// Each row is a `<g class="layer">`.
pub fn bar_chart(bars: &[Bar], unit: &str) -> String {
    let max = bars.iter().flat_map(|b| [b.before, b.after]).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let scale = if max > 0.0 { BARS_W / max } else { 0.0 };
    let width = LABEL_W + BARS_W + 150.0;
    let height = HEAD_H + ROW_H * bars.len() as f64 + 8.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">"#
    );
    // Legend and scale.
    let _ = write!(
        s,
        r#"<rect x="{LABEL_W}" y="4" width="12" height="10" class="before"/><text x="{}" y="13">before</text><rect x="{}" y="4" width="12" height="10" class="after"/><text x="{}" y="13">after</text><text x="{}" y="13" class="axis">max {} {}</text>"#,
        LABEL_W + 16.0,
        LABEL_W + 80.0,
        LABEL_W + 96.0,
        LABEL_W + BARS_W,
        short_number(max),
        escape(unit)
    );
    let _ =
        write!(s, r#"<line x1="{LABEL_W}" y1="{}" x2="{LABEL_W}" y2="{}" class="axis"/>"#, HEAD_H - 6.0, height - 4.0);
    for (i, b) in bars.iter().enumerate() {
        let y = HEAD_H + ROW_H * i as f64;
        let wb = (b.before.max(0.0) * scale).min(BARS_W);
        let wa = (b.after.max(0.0) * scale).min(BARS_W);
        let _ = write!(
            s,
            r#"<g class="layer"><title>{}: {} → {} {}</title><text x="{}" y="{}" text-anchor="end">{}</text><rect class="before" x="{LABEL_W}" y="{y}" width="{wb:.1}" height="10"/><rect class="after" x="{LABEL_W}" y="{}" width="{wa:.1}" height="10"/><text x="{}" y="{}" class="value">{} → {}</text></g>"#,
            escape(&b.label),
            short_number(b.before),
            short_number(b.after),
            escape(unit),
            LABEL_W - 6.0,
            y + 14.0,
            escape(&shorten(&b.label, 36)),
            y + 11.0,
            LABEL_W + wb.max(wa) + 6.0,
            y + 14.0,
            short_number(b.before),
            short_number(b.after),
        );
    }
    s.push_str("</svg>");
    s
}

/// One point of the scatter.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Horizontal value (predicted cost).
    pub x: f64,
    /// Vertical value (the error or accuracy measure).
    pub y: f64,
    /// Tooltip text.
    pub label: String,
    /// Whether this is the chosen point (drawn larger, in another colour).
    pub chosen: bool,
}

/// A scatter plot of `points` joined in the given order, with the chosen one marked, axes from
/// 0 to the largest value (at least `min_x_max` / `min_y_max`), and an optional dashed
/// horizontal line at `limit` (the budget).
pub fn scatter(points: &[Point], x_label: &str, y_label: &str, min_max: (f64, f64), limit: Option<f64>) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 380.0, 70.0, 50.0, 20.0, 30.0);
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let x_max = points.iter().map(|p| finite(p.x)).fold(min_max.0, f64::max) * 1.05;
    let y_max = points.iter().map(|p| finite(p.y)).chain(limit).fold(min_max.1, f64::max) * 1.05;
    let (plot_w, plot_h) = (w - left - right, h - top - bottom);
    let px = |x: f64| left + if x_max > 0.0 { finite(x) / x_max * plot_w } else { 0.0 };
    let py = |y: f64| top + plot_h - if y_max > 0.0 { finite(y) / y_max * plot_h } else { 0.0 };
    let mut s = String::new();
    let _ = write!(s, r#"<svg class="chart pareto" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">"#);
    let (x0, y0) = (px(0.0), py(0.0));
    let _ = write!(
        s,
        r#"<line class="axis" x1="{x0}" y1="{y0}" x2="{}" y2="{y0}"/><line class="axis" x1="{x0}" y1="{y0}" x2="{x0}" y2="{top}"/>"#,
        w - right
    );
    for i in 0..=4 {
        let (fx, fy) = (x_max / 1.05 * i as f64 / 4.0, y_max / 1.05 * i as f64 / 4.0);
        let _ = write!(
            s,
            r#"<text class="axis" x="{:.1}" y="{}" text-anchor="middle">{}</text><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            px(fx),
            y0 + 16.0,
            short_number(fx),
            x0 - 6.0,
            py(fy) + 4.0,
            short_number(fy)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
        left + plot_w / 2.0,
        h - 10.0,
        escape(x_label),
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        escape(y_label)
    );
    if let Some(l) = limit {
        let _ = write!(
            s,
            r#"<line class="limit" x1="{x0}" y1="{:.1}" x2="{}" y2="{:.1}"/><text class="limit" x="{}" y="{:.1}" text-anchor="end">budget</text>"#,
            py(l),
            w - right,
            py(l),
            w - right,
            py(l) - 4.0
        );
    }
    if points.len() > 1 {
        let path: Vec<String> = points.iter().map(|p| format!("{:.1},{:.1}", px(p.x), py(p.y))).collect();
        let _ = write!(s, r#"<polyline class="front" points="{}"/>"#, path.join(" "));
    }
    for p in points {
        let (class, r) = if p.chosen { ("point chosen", 7) } else { ("point", 4) };
        let _ = write!(
            s,
            r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="{r}"><title>{}</title></circle>"#,
            px(p.x),
            py(p.y),
            escape(&p.label)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_text_and_attributes() {
        assert_eq!(escape(r#"<script>"a"&'b'</script>"#), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;");
    }

    #[test]
    fn one_group_per_bar_and_names_escaped() {
        let bars = [
            Bar { label: "<b>conv</b>".into(), before: 2.0, after: 1.0 },
            Bar { label: "relu".into(), before: 0.5, after: 0.0 },
        ];
        let svg = bar_chart(&bars, "us");
        assert_eq!(svg.matches(r#"<g class="layer">"#).count(), 2);
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;b&gt;conv&lt;/b&gt;"));
        // The largest value spans the whole bar area.
        assert!(svg.contains(&format!(r#"class="before" x="{LABEL_W}" y="{HEAD_H}" width="{BARS_W:.1}""#)), "{svg}");
    }

    #[test]
    fn scatter_marks_the_chosen_point() {
        let p = |x, y, chosen| Point { x, y, label: format!("{x}"), chosen };
        let svg = scatter(&[p(1.0, 0.0, false), p(0.5, 0.4, true)], "cost", "error", (1.0, 1.0), Some(1.0));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches("point chosen").count(), 1);
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn short_numbers_keep_three_significant_digits() {
        assert_eq!(short_number(0.012345), "0.0123");
        assert_eq!(short_number(4.5678), "4.568");
        assert_eq!(short_number(2.0), "2");
        assert_eq!(short_number(12345.6), "12346");
        assert_eq!(short_number(0.0), "0");
    }
}
