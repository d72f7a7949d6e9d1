"""One measurement: a model emitted for a gos-opt target, built for a core at an opt-level,
run in the emulator on the test sets, counted, priced and checked."""

import os

import numpy as np

from . import build, count, emulate, models, reference


class Emitted:
    """A model emitted for one gos-opt target, with what every build of it shares:
    the test inputs, onnxruntime's outputs and the host build's outputs per opt-level."""

    def __init__(self, model, target, folder, sets):
        self.model, self.target, self.folder = model, target, folder
        self.sets = sets
        self.inputs = [models.load_input(s) for s in sets]
        self.ort = [reference.onnxruntime_output(model.path, x) for x in self.inputs]
        self.step, self.softmax = (
            reference.output_step(model.path) if model.kind == "int8" else (None, False)
        )
        self._host = {}

    def host_outputs(self, opt):
        """Outputs of the same module built for this machine (None each when it failed)."""
        if opt not in self._host:
            exe, _ = build.build_host(self.folder, opt)
            self._host[opt] = [build.run_host(exe, x) if exe else None for x in self.inputs]
        return self._host[opt]


def emit(gos_opt, model, target, work, all_sets):
    """Emitted for the model and target, or an error string."""
    folder = os.path.join(work, f"{model.kind}_{model.name}", target)
    ok, log = build.emit(gos_opt, model.path, target, folder)
    if not ok:
        return "emit failed: " + log[-1500:]
    sets = model.sets if all_sets else model.sets[:1]
    return Emitted(model, target, folder, sets)


def _sizes(image):
    s = image.sizes
    text, rodata, data = s.get(".text", 0), s.get(".rodata", 0), s.get(".data", 0)
    return {
        "text_bytes": text,
        "rodata_bytes": rodata,
        "data_bytes": data,
        "bss_bytes": s.get(".bss", 0),
        "flash_bytes": text + rodata + data,
    }


def _check(em, out, k, host):
    """Comparisons of one output with the host build's and onnxruntime's."""
    ort = em.ort[k]
    c = {
        "set": os.path.basename(em.sets[k]),
        "nan_in_output": bool(np.isnan(out).any()),
        "max_abs_diff_vs_ort": reference.max_abs_diff(out, ort),
        "argmax_matches_ort": bool(np.argmax(out) == np.argmax(ort)),
    }
    if host is not None:
        c["bit_exact_vs_host"] = reference.bit_exact(out, host)
        c["max_abs_diff_vs_host"] = reference.max_abs_diff(out, host)
    if em.step:
        c["steps_vs_ort"] = reference.diff_in_steps(out, ort, em.step, em.softmax)
    return c


def _verdict(em, checks):
    """'ok' or why the outputs are not trusted: int8 must match the host build bit for bit,
    float within 1e-4 (relative to the output's magnitude) of it."""
    for c, ort in zip(checks, em.ort):
        if "bit_exact_vs_host" not in c:
            return "host build failed"
        if c["nan_in_output"]:
            return "NaN in output"
        if em.model.kind == "int8" and not c["bit_exact_vs_host"]:
            return "differs from host build"
        if c["max_abs_diff_vs_host"] > 1e-4 * (1 + float(np.max(np.abs(ort)))):
            return "differs from host build"
    return "ok"


def _summary(row, em, core, tallies, runs):
    first = tallies[0]
    row.update(
        instructions=first["instructions"],
        cycles=first["cycles"],
        ms=first["cycles"] / core.clock_hz * 1e3,
        clock_mhz=core.mhz,
        stack_bytes=max(r.stack_bytes for r in runs),
        instructions_range_over_sets=[
            min(t["instructions"] for t in tallies),
            max(t["instructions"] for t in tallies),
        ],
        library_cycle_share=first["library_cycles"] / max(first["cycles"], 1),
        classes=first["classes"],
        class_cycles=first["class_cycles"],
        top_mnemonics=first["top_mnemonics"],
        functions=first["functions"],
        branches_taken=first["branches_taken"],
        branches_not_taken=first["branches_not_taken"],
        undecoded_block_runs=first["undecoded_block_runs"],
        emulator_seconds=round(sum(r.seconds for r in runs), 1),
    )
    macs = models.macs(em.model.path)
    row["macs"] = macs
    row["cycles_per_mac"] = first["cycles"] / macs if macs else None


def measure(em, core, opt, counter):
    """One row of results: sizes, counts, estimated cycles, checks (see report.py)."""
    m = em.model
    row = {
        "model": m.name,
        "kind": m.kind,
        "source": m.path,
        "core": core.name,
        "emit_target": em.target,
        "opt": f"O{opt}",
        "published_ms": models.PUBLISHED.get(m.name),
    }
    elf, log, seconds = build.build_elf(em.folder, core, opt)
    row["build_seconds"] = round(seconds, 1)
    if elf is None:
        row["status"] = "build failed: " + log[-1500:]
        return row
    image = emulate.load_elf(elf)
    row.update(_sizes(image))
    row["arena_bytes"] = 4 * emulate.lengths(image)[2]
    runs = [emulate.run(core, image, x.ravel(), counter) for x in em.inputs]
    failed = [r.error for r in runs if r.error]
    if failed:
        row["status"] = "run failed: " + failed[0]
        return row
    tallies = [count.tally(r, image, core) for r in runs]
    count.write_hot_blocks(elf[:-4] + "_hot.txt", f"{elf} on {core.name}", tallies[0].pop("hot"))
    hosts = em.host_outputs(opt)
    row["checks"] = [_check(em, r.output, k, hosts[k]) for k, r in enumerate(runs)]
    row["status"] = _verdict(em, row["checks"])
    _summary(row, em, core, tallies, runs)
    return row
