"""JSON and Markdown reports of the measured rows (measure.measure)."""

import json

from . import cycles, models


def write_json(path, rows, cores, command):
    doc = {
        "command": command,
        "cycle_tables": {c.name: c.table_doc for c in cores},
        "limits": cycles.TABLE_LIMITS,
        "rows": rows,
    }
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1)


def _kb(n):
    return f"{n / 1024:.1f}"


def check_text(row):
    checks = row.get("checks") or []
    if not checks:
        return ""
    exact = all(c.get("bit_exact_vs_host") for c in checks)
    host = "bit-exact" if exact else f"{max(c.get('max_abs_diff_vs_host', 0) for c in checks):.1e}"
    steps = [c["steps_vs_ort"] for c in checks if "steps_vs_ort" in c]
    ort = (
        f"{max(steps):.2f} steps"
        if steps
        else f"{max(c['max_abs_diff_vs_ort'] for c in checks):.1e}"
    )
    return f"{host}; {ort}"


def _ok(row):
    return row.get("status") == "ok" or "instructions" in row


def main_table(rows):
    lines = [
        (
            "| model | kind | core | emitted for | opt | instructions | est. cycles | ms @ clock "
            "| cycles/MAC | flash KB | stack B | arena KB | vs host; vs onnxruntime | status |"
        ),
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        head = (
            f"| {models.SHORT.get(r['model'], r['model'])} | {r['kind']} | {r['core']} "
            f"| {r['emit_target']} | {r['opt']} "
        )
        if not _ok(r):
            lines.append(head + "| | | | | | | | | " + r["status"].splitlines()[0][:80] + " |")
            continue
        cpm = f"{r['cycles_per_mac']:.1f}" if r.get("cycles_per_mac") else "-"
        lines.append(
            head + f"| {r['instructions']:,} | {r['cycles']:,} "
            f"| {r['ms']:.2f} @ {r['clock_mhz']:.0f} MHz | {cpm} | {_kb(r['flash_bytes'])} "
            f"| {r['stack_bytes']:,} | {_kb(r['arena_bytes'])} | {check_text(r)} "
            f"| {r['status']} |"
        )
    return lines


def _ms(row):
    return f"{row['ms']:.1f}" if row else "-"


def _ratio(row, ms):
    return f"{row['ms'] / ms:.2f}" if row else "-"


def published_table(rows):
    """Our Cortex-M4 ms next to MLPerf Tiny v1.1's (int8 there; float and int8 here)."""
    lines = [
        (
            "| model | MLPerf Tiny v1.1 TFLM reference | best entry | ours, int8 | ours, float "
            "| int8 / TFLM | int8 / best |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, pub in models.PUBLISHED.items():
        mine = {
            r["kind"]: r
            for r in rows
            if r["model"] == name and r["core"] == "cortex-m4" and r["opt"] == "O3" and _ok(r)
        }
        if not mine:
            continue
        best = min(v for k, v in pub.items() if k != "tflm_ref")
        i8, fl = mine.get("int8"), mine.get("float")
        lines.append(
            f"| {models.SHORT[name]} | {pub['tflm_ref']} | {best} | {_ms(i8)} "
            f"| {_ms(fl)} | {_ratio(i8, pub['tflm_ref'])} | {_ratio(i8, best)} |"
        )
    return lines


def target_comparison(rows):
    """Cycles of the same model on the same core emitted for different gos-opt targets."""
    targets = list(dict.fromkeys(r["emit_target"] for r in rows))
    per_core = {(r["model"], r["kind"], r["core"], r["opt"], r["emit_target"]) for r in rows}
    if len({k[:4] for k in per_core}) == len(per_core):  # one target per core: nothing to compare
        return []
    lines = [
        "| model | kind | core | opt | "
        + " | ".join(f"cycles, emitted for {t}" for t in targets)
        + " | "
        + " | ".join(f"{t} / {targets[0]}" for t in targets[1:])
        + " |",
        "|---|---|---|---|" + "---:|" * (2 * len(targets) - 1),
    ]
    keys = dict.fromkeys((r["model"], r["kind"], r["core"], r["opt"]) for r in rows)
    for key in keys:
        by = {
            r["emit_target"]: r
            for r in rows
            if (r["model"], r["kind"], r["core"], r["opt"]) == key and _ok(r)
        }
        cyc = [by[t]["cycles"] if t in by else None for t in targets]
        cells = [f"{c:,}" if c else "-" for c in cyc]
        ratios = [f"{c / cyc[0]:.2f}" if c and cyc[0] else "-" for c in cyc[1:]]
        name = models.SHORT.get(key[0], key[0])
        lines.append(
            f"| {name} | {key[1]} | {key[2]} | {key[3]} | " + " | ".join(cells + ratios) + " |"
        )
    return lines


def hot_costs(rows, top=4):
    """Per row: instruction classes and the functions that take the most cycles."""
    lines = []
    for r in rows:
        if not _ok(r):
            continue
        share = r.get("class_cycles", {})
        classes = ", ".join(
            f"{k} {v:,}"
            + (f" ({share[k] / max(r['cycles'], 1):.0%} of cycles)" if k in share else "")
            for k, v in list(r["classes"].items())[:8]
        )
        funcs = "; ".join(
            f"`{f['name'][-50:]}` {f['cycles'] / max(r['cycles'], 1):.0%}"
            for f in r["functions"][:top]
        )
        lines.append(
            f"- **{r['kind']} {models.SHORT.get(r['model'], r['model'])}, {r['core']}, "
            f"emitted for {r['emit_target']}, {r['opt']}**: outside the module "
            f"(core, compiler_builtins) {r['library_cycle_share']:.0%} of cycles; "
            f"instructions per class: {classes}; hottest functions: {funcs}"
        )
    return lines


def write_markdown(path, rows, cores, command, selfcheck_lines):
    doc = [
        "# Cortex-M cycles of gos-opt emitted modules (emulated)",
        "",
        (
            f"Generated by `{command}`. Instructions are counted in unicorn (every executed "
            "instruction); cycles are estimated from the tables below; ms = cycles / clock."
        ),
        "",
    ]
    doc += [f"- {c.table_doc}" for c in cores] + [f"- {cycles.TABLE_LIMITS}", ""]
    doc += ["CPU model self-check:", ""] + [f"    {line}" for line in selfcheck_lines] + [""]
    doc += main_table(rows) + [""]
    pub = published_table(rows)
    if len(pub) > 2:
        doc += (
            ["## Cortex-M4 against MLPerf Tiny v1.1 (NUCLEO-L4R5ZI, 120 MHz, ms)", ""] + pub + [""]
        )
    cmp = target_comparison(rows)
    if cmp:
        doc += ["## By emit target", ""] + cmp + [""]
    doc += ["## Where the cycles go", ""] + hot_costs(rows)
    with open(path, "w") as fh:
        fh.write("\n".join(doc) + "\n")
