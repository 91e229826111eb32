"""Compile a generated engine with the host C compiler and run it on int8 inputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt

from generator.compiler import CompiledModel
from generator.resources import runtime_dir

HARNESS = r"""
#include <stdio.h>
#include <string.h>
#include "model.h"
int main(int argc, char **argv) {
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    int n = 0;
    if (!in || !out || sscanf(argv[3], "%d", &n) != 1) return 2;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < MODEL_NUM_INPUTS; k++) {
            static const size_t sizes[] = {
                MODEL_INPUT0_BYTES
#if MODEL_NUM_INPUTS > 1
                , MODEL_INPUT1_BYTES
#endif
            };
            if (fread(model_input(k), 1, sizes[k], in) != sizes[k]) return 3;
        }
        model_run();
        fwrite(model_output(0), 1, MODEL_OUTPUT0_BYTES, out);
    }
    fclose(in); fclose(out);
    return 0;
}
"""

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]


def build_host(model: CompiledModel, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in model.engine.files().items():
        (workdir / name).write_text(text)
    (workdir / "main.c").write_text(HARNESS)
    rt = runtime_dir()
    exe = workdir / "engine"
    cmd = ["gcc", *CFLAGS, f"-I{rt / 'include'}", f"-I{workdir}", str(workdir / "main.c"),
           str(workdir / "model.c"), *sorted(str(p) for p in (rt / "src").glob("*.c")),
           "-o", str(exe), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise AssertionError(f"host build failed:\n{res.stderr[-4000:]}")
    return exe


def run_host(exe: Path, inputs: list[list[npt.NDArray[np.generic]]], out_dtype: str,
             out_size: int) -> list[npt.NDArray[np.generic]]:
    """``inputs[i]`` is the list of model inputs of run i; returns output 0 of each run."""
    workdir = exe.parent
    blob = b"".join(np.ascontiguousarray(x).tobytes() for run in inputs for x in run)
    (workdir / "in.bin").write_bytes(blob)
    res = subprocess.run([str(exe), str(workdir / "in.bin"), str(workdir / "out.bin"),
                          str(len(inputs))], capture_output=True, text=True, timeout=600)
    if res.returncode:
        raise AssertionError(f"engine exited with {res.returncode}: {res.stderr}")
    flat = np.frombuffer((workdir / "out.bin").read_bytes(), dtype=out_dtype)
    return [flat[i * out_size : (i + 1) * out_size] for i in range(len(inputs))]
