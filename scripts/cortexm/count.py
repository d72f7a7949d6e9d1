"""Instruction counts per class and function, and estimated cycles, from block counts.

Each executed block is disassembled once (capstone) and priced with the core's cycle table
(cycles.py); a block ending in a branch is charged the branch's taken cost for each exit by a
jump and its not-taken cost for each fall-through.
"""

import bisect
import collections
from dataclasses import dataclass

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs

HOT_BLOCKS = 4
TOP_FUNCTIONS = 25
RUST_ESCAPES = (
    ("$LT$", "<"),
    ("$GT$", ">"),
    ("$u20$", " "),
    ("$C$", ","),
    ("$RF$", "&"),
    ("$BP$", "*"),
    ("$u5b$", "["),
    ("$u5d$", "]"),
    ("$u3b$", ";"),
    ("$u7b$", "{"),
    ("$u7d$", "}"),
    ("..", "::"),
    ("$u27$", "'"),
)


def _demangle_v0(name):
    """Path of a v0-mangled Rust symbol (_R...; the precompiled core and compiler_builtins use
    them), read leniently: crate hashes and generic arguments dropped."""
    parts, i = [], 2
    while i < len(name):
        if name.startswith("Cs", i) and "_" in name[i:]:
            i = name.index("_", i) + 1
        elif name[i].isdigit():
            j = i
            while j < len(name) and name[j].isdigit():
                j += 1
            n = int(name[i:j])
            j += 1 if name[j : j + 1] == "_" else 0
            parts.append(name[j : j + n])
            i = j + n
        else:
            i += 1
    return "::".join(parts) or name


def mangled(name):
    return name.startswith(("_ZN", "_R"))


def demangle(name):
    """Readable form of a mangled Rust symbol (legacy _ZN...E, hash dropped, or v0 _R...)."""
    if name.startswith("_R"):
        return _demangle_v0(name)
    if not name.startswith("_ZN"):
        return name
    i, parts = 3, []
    while i < len(name) and name[i].isdigit():
        j = i
        while name[j].isdigit():
            j += 1
        n = int(name[i:j])
        parts.append(name[j : j + n])
        i = j + n
    if parts and parts[-1].startswith("h") and len(parts[-1]) == 17:
        parts = parts[:-1]
    out = "::".join(parts)
    for escaped, plain in RUST_ESCAPES:
        out = out.replace(escaped, plain)
    return out


def in_module(name):
    """True for the emitted module's own code (crate `wrapper`), False for core/library code."""
    return name == "entry" or name.startswith("wrapper::")


@dataclass
class Block:
    insns: list  # capstone instructions
    classes: collections.Counter
    mnemonics: collections.Counter
    cycles: int  # everything but a final branch
    branch: object  # cycles.Cost of the final branch, or None
    class_cycles: collections.Counter  # cycles per class, but a final branch


def _instruction_cycles(costs):
    """Cycles of each instruction of a block; a final branch's are charged per exit later."""
    out, run = [], 0
    for k, c in enumerate(costs):
        if c.pipelined:
            out.append(2 if run == 0 else 1)
            run += 1
            continue
        run = 0
        if c.is_branch and k == len(costs) - 1:
            out.append(0)
        else:
            out.append(c.not_taken if c.is_branch else c.cycles)
    return out


def analyse_block(disasm, cost, code, addr):
    insns = list(disasm.disasm(code, addr))
    costs = [cost(i) for i in insns]
    each = _instruction_cycles(costs)
    class_cycles = collections.Counter()
    for c, n in zip(costs, each):
        class_cycles[c.cls] += n
    branch = costs[-1] if costs and costs[-1].is_branch else None
    return Block(
        insns,
        collections.Counter(c.cls for c in costs),
        collections.Counter(i.insn_name().lower() for i in insns),
        sum(each),
        branch,
        class_cycles,
    )


class FunctionIndex:
    """Which function an address belongs to (for aliases, the unmangled name wins)."""

    def __init__(self, functions):
        best = {}
        for start, size, name in functions:
            if start not in best or (mangled(best[start][1]) and not mangled(name)):
                best[start] = (size, name)
        self.entries = sorted((s, size, name) for s, (size, name) in best.items())
        self.starts = [e[0] for e in self.entries]

    def lookup(self, addr):
        k = bisect.bisect_right(self.starts, addr) - 1
        if k >= 0 and addr < self.entries[k][0] + self.entries[k][1]:
            start, _, name = self.entries[k]
            return start, demangle(name)
        return addr, "?"


def _branch_cycles(block, executions, exits_by_jump):
    """Cycles of a block's final branch over all executions; returns (cycles, taken)."""
    b = block.branch
    taken = min(exits_by_jump, executions) if b.conditional else executions
    return b.taken * taken + b.not_taken * (executions - taken), taken


def _new_function():
    return {"instructions": 0, "cycles": 0, "calls": 0, "classes": collections.Counter()}


def tally(run, image, core):
    """Counts and estimated cycles of one Run; see the keys of the returned dict."""
    disasm = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
    disasm.detail = True
    index = FunctionIndex(image.functions)
    totals = {
        "instructions": 0,
        "cycles": 0,
        "branches_taken": 0,
        "branches_not_taken": 0,
        "undecoded_block_runs": 0,
    }
    classes, mnemonics = collections.Counter(), collections.Counter()
    class_cycles = collections.Counter()
    functions = collections.defaultdict(_new_function)
    hot = []
    for (addr, size), n in run.blocks.items():
        block = analyse_block(disasm, core.cost, image.read(addr, size), addr)
        if sum(i.size for i in block.insns) != size:
            totals["undecoded_block_runs"] += n
        cycles = block.cycles * n
        if block.branch is not None:
            extra, taken = _branch_cycles(block, n, run.taken.get((addr, size), 0))
            cycles += extra
            class_cycles["branch"] += extra
            totals["branches_taken"] += taken
            totals["branches_not_taken"] += n - taken
        count = len(block.insns) * n
        totals["instructions"] += count
        totals["cycles"] += cycles
        classes.update({c: k * n for c, k in block.classes.items()})
        class_cycles.update({c: k * n for c, k in block.class_cycles.items()})
        mnemonics.update({m: k * n for m, k in block.mnemonics.items()})
        start, fname = index.lookup(addr)
        f = functions[fname]
        f["instructions"] += count
        f["cycles"] += cycles
        f["calls"] += n if addr == start else 0
        f["classes"].update({c: k * n for c, k in block.classes.items()})
        hot.append((count, addr, n, fname, block.insns))
    return dict(
        totals,
        classes=dict(classes.most_common()),
        class_cycles=dict(class_cycles.most_common()),
        top_mnemonics=dict(mnemonics.most_common(40)),
        distinct_blocks=len(run.blocks),
        library_cycles=sum(f["cycles"] for name, f in functions.items() if not in_module(name)),
        functions=_top_functions(functions),
        hot=sorted(hot, key=lambda h: -h[0])[:HOT_BLOCKS],
    )


def _top_functions(functions):
    ranked = sorted(functions.items(), key=lambda kv: -kv[1]["cycles"])[:TOP_FUNCTIONS]
    return [
        {
            "name": name,
            "instructions": f["instructions"],
            "cycles": f["cycles"],
            "calls": f["calls"],
            "classes": dict(f["classes"].most_common()),
        }
        for name, f in ranked
    ]


def write_hot_blocks(path, title, hot):
    """The hottest blocks (instructions = block length x executions) as a text listing."""
    with open(path, "w") as fh:
        fh.write(f"hottest blocks of {title} (instructions = block length x executions)\n")
        for count, addr, n, fname, insns in hot:
            fh.write(
                f"\n=== {addr:#x} ({len(insns)} insns) x {n:,} = {count:,} insns, in {fname}\n"
            )
            fh.writelines(f"  {i.address:#010x}  {i.mnemonic:10s} {i.op_str}\n" for i in insns)
