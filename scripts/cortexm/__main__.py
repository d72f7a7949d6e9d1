"""Measure gos-opt emitted Rust modules on Cortex-M cores in an instruction-level emulator.

Run through scripts/cortexm.sh (it makes the venv and builds gos-opt). Each model is emitted
with `gos-opt MODEL --target T --emit-rust DIR`, built with plain rustc for each core
(thumbv7em-none-eabihf for the Cortex-M4F, thumbv6m-none-eabi for the Cortex-M0+), run in
unicorn on the model's test inputs, counted per instruction class and priced with the core's
cycle table. Outputs are checked against the host build of the same module (bit for bit for
int8 models) and against onnxruntime.

Origin: grew from the Cortex-M4 counter in shared/tools/cortexm (cm4_count.py, wrapper.rs,
link.ld, written by a helper session), split here into one module per job: build.py (gos-opt,
rustc), emulate.py (unicorn), cycles.py (cycle tables), count.py (counts and cycles per class
and function), reference.py (onnxruntime, comparisons), report.py (JSON, Markdown),
selfcheck.py (is the CPU model really the one asked for), measure.py (one measurement).
"""

import argparse
import os
import shlex
import sys

from . import build, emulate, measure, models, report, selfcheck
from . import cores as cores_mod

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="scripts/cortexm.sh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--models", default=",".join(models.MODELS), help="comma list (default: %(default)s)"
    )
    ap.add_argument("--kinds", default="float,int8", help="comma list of float, int8")
    ap.add_argument(
        "--cores", default="cortex-m4,cortex-m0plus", help="comma list of cortex-m4, cortex-m0plus"
    )
    ap.add_argument("--opts", default="3", help="comma list of rustc opt-levels, e.g. 3,s")
    ap.add_argument(
        "--target",
        "--emit-target",
        dest="targets",
        default="auto",
        help="comma list of gos-opt targets the modules are emitted for; every "
        "core runs every one. auto (default): the core's own target, cortex-m4 "
        "for the M4 and cortex-m0plus for the M0+ when targets/cortex-m0plus.toml "
        "exists. E.g. --cores cortex-m0plus --emit-target cortex-m0plus,cortex-m4 "
        "compares the shift-add build with a multiply build on the M0+",
    )
    ap.add_argument(
        "--m0plus-mul-cycles",
        type=int,
        choices=(32, 1),
        default=32,
        help="MULS cycles of the M0+ (multiplier option; default %(default)s)",
    )
    ap.add_argument(
        "--python-hook",
        action="store_true",
        help="count blocks with a Python hook (about 100x slower) instead of the native one, "
        "to check it",
    )
    ap.add_argument(
        "--all-sets",
        action="store_true",
        help="run every test_data_set_k (checks, count spread); figures are set 0's",
    )
    ap.add_argument(
        "--shared", default=os.environ.get("GOS_SHARED", os.path.join(REPO, "..", "shared"))
    )
    ap.add_argument("--work", default=os.path.join(REPO, "target", "cortexm", "work"))
    ap.add_argument(
        "--json", default=os.path.join(REPO, "target", "cortexm", "results.json"), help="'' to skip"
    )
    ap.add_argument(
        "--md", default=os.path.join(REPO, "target", "cortexm", "results.md"), help="'' to skip"
    )
    args = ap.parse_args(argv)
    args.work = os.path.abspath(args.work)  # builds run inside it
    return args


def _split(text):
    return [x for x in text.split(",") if x]


def _targets_for(args, core):
    if args.targets == "auto":
        return [cores_mod.default_emit_target(core, REPO)]
    return _split(args.targets)


def _model_files(args):
    for name in _split(args.models):
        for kind in _split(args.kinds):
            m = models.locate(REPO, args.shared, name, kind)
            if m is None:
                print(f"skipping {kind} {name}: no model file", file=sys.stderr)
                continue
            yield m


def _line(row):
    head = f"{row['kind']:5s} {row['model']:32s} {row['core']:13s} {row['emit_target']:13s} {row['opt']}"
    if "instructions" not in row:
        return f"{head}  {row['status'].splitlines()[0]}"
    return (
        f"{head}  insns={row['instructions']:,} cycles~{row['cycles']:,} "
        f"ms={row['ms']:.2f}@{row['clock_mhz']:.0f}MHz stack={row['stack_bytes']} "
        f"{report.check_text(row)} {row['status']}"
    )


def _jobs(args, cores):
    """(model, core, emit target) in the order they are measured."""
    for model in _model_files(args):
        for core in cores:
            for target in _targets_for(args, core):
                yield model, core, target


def _failed(model, core, target, opt, status):
    return {
        "model": model.name,
        "kind": model.kind,
        "core": core.name,
        "emit_target": target,
        "opt": f"O{opt}",
        "status": status,
    }


def run_all(args, cores, gos_opt, counter):
    """Measures every job at every opt-level; yields the rows so far after each one."""
    rows, emitted = [], {}
    for model, core, target in _jobs(args, cores):
        if (model, target) not in emitted:  # both cores share one emitted module
            emitted[model, target] = measure.emit(gos_opt, model, target, args.work, args.all_sets)
        em = emitted[model, target]
        for opt in _split(args.opts):
            if isinstance(em, str):
                row = _failed(model, core, target, opt, em)
            else:
                row = measure.measure(em, core, opt, counter)
            rows.append(row)
            print(_line(row), flush=True)
            yield rows


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    all_cores = cores_mod.make_cores(args.m0plus_mul_cycles)
    unknown = [c for c in _split(args.cores) if c not in all_cores]
    if unknown:
        sys.exit(f"unknown core {unknown[0]}; known: {', '.join(all_cores)}")
    cores = [all_cores[c] for c in _split(args.cores)]
    gos_opt = os.path.abspath(
        os.environ.get("GOS_OPT", os.path.join(REPO, "target", "release", "gos-opt"))
    )
    command = "bash scripts/cortexm.sh " + shlex.join(sys.argv[1:] if argv is None else argv)
    checks = [line for core in cores for line in selfcheck.check(core)]
    print("\n".join(checks), flush=True)
    for path in (args.json, args.md, args.work):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if args.python_hook:
        counter = emulate.PythonBlockCounter()
    else:
        counter = emulate.NativeBlockCounter(build.build_block_counter(args.work))
    rows = []
    for rows in run_all(args, cores, gos_opt, counter):
        if args.json:
            report.write_json(args.json, rows, cores, command)
    if args.md:
        report.write_markdown(args.md, rows, cores, command, checks)
    written = [p for p in (args.json, args.md) if p]
    if written:
        print("wrote", " and ".join(written))
    return 0 if rows and all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
