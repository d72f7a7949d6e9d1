"""Instruction classes and cycle tables of the Cortex-M4 and the Cortex-M0+.

Each table maps one disassembled instruction (capstone) to a Cost: its class (for the
per-class counts), its cycles when it is not a branch, whether it is a single load/store
the M4 pipelines with its neighbours, and for a branch its cycles taken and not taken.
These are estimates from the Technical Reference Manuals' instruction timings; what they
leave out is stated in TABLE_LIMITS and in the README.
"""

from dataclasses import dataclass

from capstone import arm as csarm

M4_TABLE = (
    "Cortex-M4 (ARM DDI 0439B, table 3-1, P = 2): ALU/DSP/extend/IT/MOV 1; LDR*/STR* single 2, "
    "a run of N adjacent ones N+1; LDRD/STRD 3; LDM/STM/PUSH/POP 1+N (+2 if PC); "
    "MUL/MLA/SMLAD/SMULL/... 1; SDIV/UDIV 7; branch taken 3, not taken 1; TBB/TBH 4; LDR pc 4; "
    "VADD/VSUB/VMUL/VCVT/VCMP/VMOV/VABS/VNEG 1 (VMOV of 2 core regs 2); VMLA/VMLS/VFMA/VFMS/"
    "VNMLA... 3; VDIV/VSQRT 14; VLDR 2; VSTR 2; VLDM/VSTM/VPUSH/VPOP 1+N."
)
M0PLUS_TABLE = (
    "Cortex-M0+ (ARM DDI 0484C, table 3-1): ALU/MOV/extend/REV 1; LDR*/STR* 2 (no pipelining); "
    "LDM/STM/PUSH/POP 1+N, POP with PC 3+N; MULS {mul} (multiplier option); B<cc> taken 2, not "
    "taken 1; B 2; BL 3; BX/BLX 2; ADD/MOV to PC 2; MRS/MSR/DMB/DSB/ISB 3. No FPU: float "
    "arithmetic is the compiler's soft-float library, counted instruction by instruction."
)
TABLE_LIMITS = (
    "Not modelled: flash wait states and caches (the STM32L4R5's ART cache hides most for code, "
    "not for streamed weights), bus contention, load-use stalls, pipelining across blocks, IT "
    "folding, early-terminating divides; condition-failed instructions in IT blocks are "
    "charged like executed ones."
)

CLASSES = [
    "load",
    "store",
    "ldm_stm",
    "mul",
    "div",
    "dsp_simd",
    "extend",
    "branch",
    "fp_mac",
    "fp_arith",
    "fp_divsqrt",
    "fp_load",
    "fp_store",
    "fp_ldm_stm",
    "fp_mov",
    "system",
    "alu_other",
]

MUL_OPS = {
    "mul",
    "mla",
    "mls",
    "smull",
    "umull",
    "smlal",
    "umlal",
    "umaal",
    "smulbb",
    "smulbt",
    "smultb",
    "smultt",
    "smulwb",
    "smulwt",
    "smlabb",
    "smlabt",
    "smlatb",
    "smlatt",
    "smlawb",
    "smlawt",
    "smlalbb",
    "smlalbt",
    "smlaltb",
    "smlaltt",
    "smlad",
    "smladx",
    "smlsd",
    "smlsdx",
    "smuad",
    "smuadx",
    "smusd",
    "smusdx",
    "smlald",
    "smlaldx",
    "smlsld",
    "smlsldx",
    "smmul",
    "smmulr",
    "smmla",
    "smmlar",
    "smmls",
    "smmlsr",
}
DIV_OPS = {"sdiv", "udiv"}
DSP_SIMD_OPS = {
    "sadd16",
    "sadd8",
    "ssub16",
    "ssub8",
    "uadd16",
    "uadd8",
    "usub16",
    "usub8",
    "qadd",
    "qsub",
    "qdadd",
    "qdsub",
    "qadd16",
    "qadd8",
    "qsub16",
    "qsub8",
    "uqadd16",
    "uqadd8",
    "uqsub16",
    "uqsub8",
    "shadd16",
    "shadd8",
    "uhadd16",
    "uhadd8",
    "sasx",
    "ssax",
    "uasx",
    "usax",
    "qasx",
    "qsax",
    "sxtb16",
    "sxtab16",
    "uxtb16",
    "uxtab16",
    "pkhbt",
    "pkhtb",
    "sel",
    "ssat",
    "usat",
    "ssat16",
    "usat16",
    "usad8",
    "usada8",
}
EXT_OPS = {
    "sxtb",
    "sxth",
    "uxtb",
    "uxth",
    "sxtab",
    "sxtah",
    "uxtab",
    "uxtah",
    "rev",
    "rev16",
    "revsh",
}
BRANCH_OPS = {"b", "bl", "bx", "blx", "cbz", "cbnz"}
TABLE_BRANCH_OPS = {"tbb", "tbh"}
MULTI_OPS = {"ldm", "ldmdb", "ldmia", "pop", "stm", "stmdb", "stmia", "push"}
SYSTEM_OPS = {
    "mrs",
    "msr",
    "dmb",
    "dsb",
    "isb",
    "cpsid",
    "cpsie",
    "wfi",
    "wfe",
    "sev",
    "svc",
    "bkpt",
    "udf",
}
FP_MAC_OPS = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
FP_DIVSQRT_OPS = {"vdiv", "vsqrt"}
FP_MOV_OPS = {"vmov", "vmrs", "vmsr"}
CORE_REGS = {
    csarm.ARM_REG_SB,
    csarm.ARM_REG_SL,
    csarm.ARM_REG_FP,
    csarm.ARM_REG_IP,
    csarm.ARM_REG_LR,
}


@dataclass(frozen=True)
class Cost:
    cls: str
    cycles: int = 1  # when not a branch
    pipelined: bool = False  # M4: a single load/store that overlaps its neighbour
    taken: int = 0  # branches: cycles when taken ...
    not_taken: int = 0  # ... and when not
    conditional: bool = False

    @property
    def is_branch(self):
        return self.taken > 0


def _regs(insn):
    return [o for o in insn.operands if o.type == csarm.ARM_OP_REG]


def _writes_pc(insn):
    ops = insn.operands
    return bool(ops) and ops[0].type == csarm.ARM_OP_REG and ops[0].reg == csarm.ARM_REG_PC


def _lists_pc(insn):
    return any(o.reg == csarm.ARM_REG_PC for o in _regs(insn))


def _list_len(insn, name):
    """Registers moved by LDM/STM/PUSH/POP (LDM/STM name their base register first)."""
    return len(_regs(insn)) - (0 if name in ("push", "pop") else 1)


def _is_conditional(insn, name):
    return name in ("cbz", "cbnz") or insn.cc not in (csarm.ARM_CC_AL, csarm.ARM_CC_INVALID)


def _fp_cost(insn, name):
    """Cortex-M4 FPv4-SP instructions."""
    if name in FP_MAC_OPS:
        return Cost("fp_mac", 3)
    if name in FP_DIVSQRT_OPS:
        return Cost("fp_divsqrt", 14)
    if name == "vldr":
        return Cost("fp_load", 2)
    if name == "vstr":
        return Cost("fp_store", 2)
    if insn.mnemonic.lower().startswith(("vldm", "vstm", "vpush", "vpop")):
        n = len(_regs(insn)) - (0 if name in ("vpush", "vpop") else 1)
        return Cost("fp_ldm_stm", 1 + max(n, 1))
    if name in FP_MOV_OPS:
        regs = _regs(insn)
        core = sum(
            1 for o in regs if csarm.ARM_REG_R0 <= o.reg <= csarm.ARM_REG_R12 or o.reg in CORE_REGS
        )
        return Cost("fp_mov", 2 if name == "vmov" and len(regs) >= 4 and core >= 2 else 1)
    return Cost("fp_arith", 1)


def _load_store_cost_m4(insn, name):
    cls = "load" if name.startswith("ldr") else "store"
    if name in ("ldrd", "strd"):
        return Cost(cls, 3)
    if cls == "load" and _writes_pc(insn):
        return Cost(cls, 4)
    return Cost(cls, 2, pipelined=True)


def cost_m4(insn):
    """Cortex-M4 cost of one instruction (ARM DDI 0439B, table 3-1)."""
    name = insn.insn_name().lower()
    if name in BRANCH_OPS:
        return Cost("branch", taken=3, not_taken=1, conditional=_is_conditional(insn, name))
    if name in TABLE_BRANCH_OPS:
        return Cost("branch", 4)
    if name in MULTI_OPS:
        n = _list_len(insn, name)
        loads = name.startswith(("ldm", "pop"))
        return Cost("ldm_stm", 1 + n + (2 if loads and _lists_pc(insn) else 0))
    if name.startswith(("ldr", "str")):
        return _load_store_cost_m4(insn, name)
    if name in MUL_OPS:
        return Cost("mul", 1)
    if name in DIV_OPS:
        return Cost("div", 7)
    if name in DSP_SIMD_OPS:
        return Cost("dsp_simd", 1)
    if name in EXT_OPS:
        return Cost("extend", 1)
    if name.startswith("v"):
        return _fp_cost(insn, name)
    if name in SYSTEM_OPS:
        return Cost("system", 1)
    if _writes_pc(insn):  # MOV pc / ADD pc
        return Cost("branch", 3)
    return Cost("alu_other", 1)


def cost_m0plus(mul_cycles):
    """Cortex-M0+ cost function (ARM DDI 0484C, table 3-1) for a MULS of mul_cycles."""

    def cost(insn):
        name = insn.insn_name().lower()
        if name in ("b", "bx", "blx"):
            cond = _is_conditional(insn, name)
            return Cost("branch", taken=2, not_taken=1 if cond else 2, conditional=cond)
        if name == "bl":
            return Cost("branch", taken=3, not_taken=3)
        if name in MULTI_OPS:
            n = _list_len(insn, name)
            loads = name.startswith(("ldm", "pop"))
            return Cost("ldm_stm", (3 if loads and _lists_pc(insn) else 1) + n)
        if name.startswith(("ldr", "str")):
            return Cost("load" if name.startswith("ldr") else "store", 2)
        if name in MUL_OPS:
            return Cost("mul", mul_cycles)
        if name in EXT_OPS:
            return Cost("extend", 1)
        if name in ("mrs", "msr", "dmb", "dsb", "isb"):
            return Cost("system", 3)
        if name in SYSTEM_OPS:
            return Cost("system", 1)
        if _writes_pc(insn):  # MOV pc / ADD pc
            return Cost("branch", 2)
        return Cost("alu_other", 1)

    return cost
