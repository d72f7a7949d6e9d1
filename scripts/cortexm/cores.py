"""The emulated cores: Rust target, unicorn CPU model, clock and cycle table of each."""

import os
from collections.abc import Callable
from dataclasses import dataclass

from . import cycles


@dataclass(frozen=True)
class Core:
    name: str  # also the --cores value
    rust_target: str  # rustc --target
    rust_cpu: str  # rustc -C target-cpu
    uc_model: str  # unicorn.arm_const constant of the CPU model
    clock_hz: float  # for the ms column
    fpu: bool
    table_doc: str
    cost: Callable  # capstone instruction -> cycles.Cost

    @property
    def mhz(self):
        return self.clock_hz / 1e6


def make_cores(m0plus_mul_cycles=32):
    """Both cores, the M0+ with a MULS of m0plus_mul_cycles (32: small multiplier; 1: fast)."""
    m4 = Core(
        "cortex-m4",
        "thumbv7em-none-eabihf",
        "cortex-m4",
        "UC_CPU_ARM_CORTEX_M4",
        120e6,
        True,
        cycles.M4_TABLE,
        cycles.cost_m4,
    )
    # unicorn has no Cortex-M0+ model; its Cortex-M0 runs the same ARMv6-M instruction set.
    m0p = Core(
        "cortex-m0plus",
        "thumbv6m-none-eabi",
        "cortex-m0plus",
        "UC_CPU_ARM_CORTEX_M0",
        48e6,
        False,
        cycles.M0PLUS_TABLE.format(mul=m0plus_mul_cycles),
        cycles.cost_m0plus(m0plus_mul_cycles),
    )
    return {c.name: c for c in (m4, m0p)}


def default_emit_target(core, repo_root):
    """gos-opt target a core's modules are emitted for unless --emit-target says otherwise."""
    own = os.path.join(repo_root, "targets", core.name + ".toml")
    return core.name if os.path.exists(own) else "cortex-m4"
