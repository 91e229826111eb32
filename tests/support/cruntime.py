"""Build the C runtime into a shared library for ctypes-level kernel tests."""

from __future__ import annotations

import ctypes
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from generator.resources import runtime_dir

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"]


@cache
def runtime_lib() -> ctypes.CDLL:
    rt = runtime_dir()
    sources = sorted(str(p) for p in (rt / "src").glob("*.c"))
    out = Path(tempfile.mkdtemp(prefix="mcuf_rt_")) / "libmcuf.so"
    cmd = ["gcc", *CFLAGS, f"-I{rt / 'include'}", *sources, "-o", str(out), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"runtime build failed:\n{res.stderr}")
    return ctypes.CDLL(str(out))
