"""Check that unicorn really emulates the core asked for.

With UC_MODE_MCLASS, unicorn 2.1.4 runs its default M-class core (a Cortex-M33, ARMv8-M Mainline
with FPU) whatever CPU model was set, and nothing says so: the Cortex-M0 model then runs SDIV and
VADD.F32 and the Cortex-M4 model runs TT. emulate.new_machine therefore sets the model on a plain
Thumb machine, and each core is probed with instructions it must run and instructions it must
refuse:
  cortex-m0plus (unicorn's Cortex-M0, ARMv6-M): MULS runs; SDIV (ARMv7-M) and VADD.F32 (FPU)
  fault.
  cortex-m4 (ARMv7E-M + FPv4-SP): SDIV and VADD.F32 run; TT (ARMv8-M only, what an M33 runs)
  faults.
"""

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs
from unicorn import UcError, arm_const

from .emulate import FLASH, new_machine

R0, R1 = arm_const.UC_ARM_REG_R0, arm_const.UC_ARM_REG_R1
# (instruction, little-endian Thumb encoding, r0 before, r0 after or None); r1 = 7
MULS = ("muls r0, r1, r0", bytes.fromhex("4843"), 6, 42)
SDIV = ("sdiv r0, r0, r1", bytes.fromhex("90fbf1f0"), 42, 6)
VADD = ("vadd.f32 s0, s0, s1", bytes.fromhex("30ee200a"), 0, None)
TT = ("tt r0, r1", bytes.fromhex("41e800f0"), 0, None)
PROBES = {
    "cortex-m0plus": [(MULS, True), (SDIV, False), (VADD, False)],
    "cortex-m4": [(MULS, True), (SDIV, True), (VADD, True), (TT, False)],
}


def _runs(core, code, r0_before, r0_after):
    """True when `code` executes to its end on the core (and leaves r0 as expected)."""
    mu = new_machine(core)
    mu.mem_write(FLASH, code + b"\x00\xbf" * 4)  # then NOPs
    mu.reg_write(R0, r0_before)
    mu.reg_write(R1, 7)
    end = FLASH + len(code)
    try:
        mu.emu_start(FLASH | 1, end, count=8)
    except UcError:
        return False
    if mu.reg_read(arm_const.UC_ARM_REG_PC) != end:
        return False
    return r0_after is None or mu.reg_read(R0) == r0_after


def _decoded(code):
    md = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
    return " ".join(f"{i.mnemonic} {i.op_str}" for i in md.disasm(code, 0))


def check(core):
    """List of (probe, expected, observed) lines; raises RuntimeError on a mismatch."""
    lines, bad = [], []
    for (mnemonic, code, r0_before, r0_after), must_run in PROBES[core.name]:
        ran = _runs(core, code, r0_before, r0_after)
        lines.append(
            f"{core.name}: {mnemonic:22s} [{_decoded(code) or 'not decoded'}] "
            f"{'runs' if ran else 'faults'} (must {'run' if must_run else 'fault'})"
        )
        if ran != must_run:
            bad.append(lines[-1])
    if bad:
        raise RuntimeError("unicorn does not emulate the core asked for:\n" + "\n".join(bad))
    return lines
