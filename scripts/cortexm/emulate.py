"""Run a built ELF's `entry(input, output, arena)` in unicorn and record executed blocks.

Memory map (generous; the point is counts, not fitting a chip): flash 8 MiB at 0x0800_0000
(the ELF's .text/.rodata), RAM 16 MiB at 0x2000_0000 (.data/.bss, then a 1 MiB stack filled
with a pattern so the deepest use shows, then input, output and arena). The arena is filled
with 0xFF bytes (NaNs), so a kernel reading an arena slot it never wrote shows up.
"""

import collections
import ctypes
import time
from dataclasses import dataclass, field

import numpy as np
from elftools.elf.elffile import ELFFile
from unicorn import UC_ARCH_ARM, UC_HOOK_BLOCK, UC_MODE_THUMB, Uc, UcError, arm_const
from unicorn.unicorn_const import UC_ERR_OK
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

FLASH, FLASH_SIZE = 0x0800_0000, 8 << 20
RAM, RAM_SIZE = 0x2000_0000, 16 << 20
STACK_LO, STACK_TOP = 0x2040_0000, 0x2050_0000
BUFFERS = 0x2050_0000
STOP = 0x0870_0000  # LR points here; it holds `b .`
STOP_CODE = b"\xfe\xe7"
STACK_FILL = 0xA5
SHF_ALLOC = 2


@dataclass
class Image:
    """What the harness needs of an ELF: loadable bytes, symbols, functions, section sizes."""

    segments: list  # [(address, bytes)]
    symbols: dict  # name -> address
    functions: list  # sorted [(start, size, name)]
    sizes: dict  # section name -> bytes

    def read(self, addr, size):
        for start, data in self.segments:
            if start <= addr and addr + size <= start + len(data):
                return data[addr - start : addr - start + size]
        if addr == STOP:
            return STOP_CODE[:size]
        raise KeyError(hex(addr))


@dataclass
class Run:
    output: np.ndarray
    error: str
    seconds: float
    stack_bytes: int
    blocks: dict = field(default_factory=dict)  # (address, size) -> executions
    taken: dict = field(default_factory=dict)  # (address, size) -> exits by a jump


def load_elf(path):
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        segments, sizes = [], {}
        for s in elf.iter_sections():
            if s["sh_flags"] & SHF_ALLOC:
                sizes[s.name] = s["sh_size"]
                if s["sh_type"] != "SHT_NOBITS":
                    segments.append((s["sh_addr"], s.data()))
        symbols, functions = {}, []
        for sym in elf.get_section_by_name(".symtab").iter_symbols():
            symbols[sym.name] = sym["st_value"]
            if sym["st_info"]["type"] == "STT_FUNC" and sym["st_size"] > 0:
                functions.append((sym["st_value"] & ~1, sym["st_size"], sym.name))
    return Image(segments, symbols, sorted(functions), sizes)


def new_machine(core):
    """A Thumb machine running the core's CPU model.

    Not UC_MODE_MCLASS: with that mode unicorn 2.1 replaces any model set by its default
    M-class core, a Cortex-M33 (ctl_get_cpu_model then answers UC_CPU_ARM_CORTEX_M33), and
    nothing says so. The M-profile behaviour comes with the model itself. selfcheck.py
    probes what the machine really runs.
    """
    mu = Uc(UC_ARCH_ARM, UC_MODE_THUMB)
    model = getattr(arm_const, core.uc_model)
    mu.ctl_set_cpu_model(model)
    if mu.ctl_get_cpu_model() != model:
        raise RuntimeError(f"unicorn ignored the CPU model {core.uc_model}")
    mu.mem_map(FLASH, FLASH_SIZE)
    mu.mem_map(RAM, RAM_SIZE)
    mu.mem_write(STOP, STOP_CODE)
    return mu


def lengths(image):
    """(INPUT_LEN, OUTPUT_LEN, ARENA_LEN) of the module, from the wrapper's GOS_LENS."""
    raw = bytes(image.read(image.symbols["GOS_LENS"], 12))
    return tuple(int(v) for v in np.frombuffer(raw, np.uint32))


def _align16(addr):
    return (addr + 15) & ~15


def _place_buffers(mu, x, lens):
    """Write input, output and arena after the stack; returns their addresses."""
    n_in, n_out, n_arena = lens
    p_in = BUFFERS
    p_out = _align16(p_in + 4 * n_in)
    p_arena = _align16(p_out + 4 * n_out)
    if p_arena + 4 * n_arena > RAM + RAM_SIZE:
        raise ValueError("arena does not fit the emulated RAM")
    mu.mem_write(STACK_LO, bytes([STACK_FILL]) * (STACK_TOP - STACK_LO))
    mu.mem_write(p_in, np.asarray(x, np.float32).tobytes())
    mu.mem_write(p_out, b"\xff" * (4 * n_out))
    mu.mem_write(p_arena, b"\xff" * (4 * n_arena))
    return p_in, p_out, p_arena


class NativeBlockCounter:
    """The block counter of rust/blockcount.rs (a cdylib), registered as a native unicorn hook
    through the binding's C library (unicorn 2.1.4's `uclib`, the pinned version)."""

    def __init__(self, lib_path):
        lib = ctypes.CDLL(lib_path)
        lib.counter_new.restype = ctypes.c_void_p
        lib.counter_new.argtypes = [ctypes.c_uint64]
        lib.counter_finish.restype = ctypes.c_size_t
        lib.counter_finish.argtypes = [ctypes.c_void_p]
        lib.counter_dump.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64)]
        lib.counter_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.hook = ctypes.cast(lib.counter_hook, ctypes.c_void_p)

    def attach(self, mu, entry):
        counter = self.lib.counter_new(entry)
        handle = uc_hook_h()
        status = uclib.uc_hook_add(
            mu._uch,
            ctypes.byref(handle),
            UC_HOOK_BLOCK,
            self.hook,
            ctypes.c_void_p(counter),
            ctypes.c_uint64(1),
            ctypes.c_uint64(0),
        )
        if status != UC_ERR_OK:
            self.lib.counter_free(counter)
            raise UcError(status)
        return lambda: self._collect(counter)

    def _collect(self, counter):
        n = self.lib.counter_finish(counter)
        buf = (ctypes.c_uint64 * (4 * n))()
        self.lib.counter_dump(counter, buf)
        self.lib.counter_free(counter)
        rows = np.frombuffer(buf, np.uint64).reshape(-1, 4).tolist()
        blocks = {(a, s): n for a, s, n, _ in rows}
        taken = {(a, s): t for a, s, _, t in rows if t}
        return blocks, taken


class PythonBlockCounter:
    """The same count with a Python hook (about 100x slower); checks the native one."""

    def attach(self, mu, entry):
        blocks = collections.defaultdict(int)
        taken = collections.defaultdict(int)
        last = [None, entry]  # previous block, its fall-through address

        def hook(_uc, addr, size, _data):
            key = (addr, size)
            blocks[key] += 1
            if addr != last[1]:
                taken[last[0]] += 1
            last[0] = key
            last[1] = addr + size

        mu.hook_add(UC_HOOK_BLOCK, hook)

        def collect():
            if last[0] is not None:
                taken[last[0]] += 1  # the final return to STOP
            return dict(blocks), dict(taken)

        return collect


def _stack_use(mu):
    """Bytes below the stack top that no longer hold the fill pattern."""
    stack = bytes(mu.mem_read(STACK_LO, STACK_TOP - STACK_LO))
    return len(stack.lstrip(bytes([STACK_FILL])))


def run(core, image, x, counter):
    """Run entry() on input x with a block counter (NativeBlockCounter or
    PythonBlockCounter); returns a Run with the output and the block counts."""
    mu = new_machine(core)
    for addr, data in image.segments:
        mu.mem_write(addr, data)
    lens = lengths(image)
    if x.size != lens[0]:
        raise ValueError(f"input has {x.size} values, the module wants {lens[0]}")
    p_in, p_out, p_arena = _place_buffers(mu, x, lens)
    for reg, value in (
        (arm_const.UC_ARM_REG_R0, p_in),
        (arm_const.UC_ARM_REG_R1, p_out),
        (arm_const.UC_ARM_REG_R2, p_arena),
        (arm_const.UC_ARM_REG_SP, STACK_TOP),
        (arm_const.UC_ARM_REG_LR, STOP | 1),
    ):
        mu.reg_write(reg, value)
    entry = image.symbols["entry"] & ~1
    collect = counter.attach(mu, entry)
    start, error = time.time(), None
    try:
        mu.emu_start(entry | 1, STOP)
    except UcError as e:
        error = f"{e} at pc={mu.reg_read(arm_const.UC_ARM_REG_PC):#x}"
    seconds = time.time() - start
    pc = mu.reg_read(arm_const.UC_ARM_REG_PC)
    if error is None and pc != STOP:
        error = f"stopped at pc={pc:#x}, not at the stop address"
    blocks, taken = collect()
    output = np.frombuffer(bytes(mu.mem_read(p_out, 4 * lens[1])), np.float32).copy()
    return Run(output, error, seconds, _stack_use(mu), blocks, taken)
