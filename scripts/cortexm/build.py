"""Emit a model with gos-opt, build the module for a core (bare-metal ELF) and for the host."""

import os
import shutil
import subprocess
import time

import numpy as np

RUST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rust")


def _run(cmd, **kw):
    r = subprocess.run(cmd, check=False, capture_output=True, **kw)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def emit(gos_opt, model_path, target, outdir):
    """gos-opt MODEL --target T -o OUT/m.onnx --emit-rust OUT/; returns (ok, log). A target
    written T@MODE adds --mode MODE: cortex-m0plus@none is the model as it is (multiply
    kernels) emitted for the M0+ (its integer stores, no float unit)."""
    os.makedirs(outdir, exist_ok=True)
    model_rs = os.path.join(outdir, "model.rs")
    if os.path.exists(model_rs):
        os.remove(model_rs)
    name, _, mode = target.partition("@")
    rc, out, err = _run(
        [
            gos_opt,
            model_path,
            "--target",
            name,
            *(["--mode", mode] if mode else []),
            "-o",
            os.path.join(outdir, "m.onnx"),
            "--emit-rust",
            outdir + "/",
            "-q",
        ]
    )
    return rc == 0 and os.path.exists(model_rs), out.decode(errors="replace") + err


def _copy_source(name, outdir):
    shutil.copy(os.path.join(RUST_DIR, name), os.path.join(outdir, name))


def build_elf(outdir, core, opt):
    """Build wrapper.rs + model.rs for the core; returns (elf path or None, log, seconds)."""
    _copy_source("wrapper.rs", outdir)
    elf = os.path.join(outdir, f"{core.name}_O{opt}.elf")
    t = time.time()
    rc, _, log = _run(
        [
            "rustc",
            "--edition",
            "2021",
            "--target",
            core.rust_target,
            "-C",
            f"target-cpu={core.rust_cpu}",
            "-C",
            f"opt-level={opt}",
            "-C",
            "panic=abort",
            "-C",
            "debuginfo=0",
            "-C",
            "linker=rust-lld",
            "-C",
            "link-arg=-T" + os.path.join(RUST_DIR, "link.ld"),
            "--crate-type",
            "bin",
            "-o",
            elf,
            "wrapper.rs",
        ],
        cwd=outdir,
    )
    return (elf if rc == 0 else None), log, time.time() - t


def build_block_counter(outdir):
    """The native block-counting hook (rust/blockcount.rs) as a shared library."""
    os.makedirs(outdir, exist_ok=True)
    lib = os.path.join(outdir, "libblockcount.so")
    rc, _, log = _run(
        [
            "rustc",
            "--edition",
            "2021",
            "-C",
            "opt-level=3",
            "--crate-type",
            "cdylib",
            "-o",
            lib,
            os.path.join(RUST_DIR, "blockcount.rs"),
        ]
    )
    if rc != 0:
        raise RuntimeError("building the block counter failed:\n" + log)
    return lib


def build_host(outdir, opt):
    """Build host.rs + model.rs for this machine; returns (executable or None, log)."""
    _copy_source("host.rs", outdir)
    exe = os.path.join(outdir, f"host_O{opt}")
    rc, _, log = _run(
        ["rustc", "--edition", "2021", "-C", f"opt-level={opt}", "-o", exe, "host.rs"], cwd=outdir
    )
    return (exe if rc == 0 else None), log


def run_host(exe, x):
    """Output of the host build on input x (float32), or None when it failed."""
    rc, out, _ = _run([exe], input=np.asarray(x, np.float32).tobytes())
    return np.frombuffer(out, np.float32).copy() if rc == 0 else None
