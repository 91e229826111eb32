"""Build a generated engine with the host C compiler and run it: for tests, `debug` and benchmarks."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from generator.compiler import CompiledModel
from generator.errors import OutputError, ToolError
from generator.resources import runtime_dir

# Reads every model input of each run from one file, writes every model output of each run to another;
# with tracing on, also appends (op, bytes, data) records of each operator's output.
HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "model.h"

static FILE *trace_file;

void mcuf_host_trace(int op, const void *data, long bytes)
{
    if (trace_file) {
        int header[2] = {op, (int)bytes};
        fwrite(header, sizeof header, 1, trace_file);
        fwrite(data, 1, (size_t)bytes, trace_file);
    }
}

static const long in_bytes[] = {MODEL_INPUT_SIZES};
static const long out_bytes[] = {MODEL_OUTPUT_SIZES};

int main(int argc, char **argv)
{
    if (argc < 4) return 2;
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    int runs = atoi(argv[3]);
    if (argc > 4) trace_file = fopen(argv[4], "wb");
    if (!in || !out) return 2;
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < MODEL_NUM_INPUTS; k++)
            if (fread(model_input(k), 1, (size_t)in_bytes[k], in) != (size_t)in_bytes[k]) return 3;
        model_run();
        for (int k = 0; k < MODEL_NUM_OUTPUTS; k++)
            fwrite(model_output(k), 1, (size_t)out_bytes[k], out);
    }
    fclose(in);
    fclose(out);
    if (trace_file) fclose(trace_file);
    return 0;
}
"""

CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")


@dataclass(frozen=True)
class HostEngine:
    exe: Path
    model: CompiledModel

    def run(self, runs: list[list[npt.NDArray[np.generic]]]) -> list[list[npt.NDArray[np.generic]]]:
        """Each run is a list of input arrays; returns each run's outputs, shaped like the model's."""
        outs, _ = self._run(runs, trace=False)
        return outs

    def trace(self, inputs: list[npt.NDArray[np.generic]]) -> dict[int, bytes]:
        """One run with tracing: op index -> that op's output bytes."""
        _, traces = self._run([inputs], trace=True)
        return traces

    def _run(self, runs: list[list[npt.NDArray[np.generic]]],
             trace: bool) -> tuple[list[list[npt.NDArray[np.generic]]], dict[int, bytes]]:
        work = self.exe.parent
        specs = self.model.schedule.outputs
        blob = b"".join(np.ascontiguousarray(x).tobytes() for run in runs for x in run)
        (work / "in.bin").write_bytes(blob)
        cmd = [str(self.exe), str(work / "in.bin"), str(work / "out.bin"), str(len(runs))]
        if trace:
            cmd.append(str(work / "trace.bin"))
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if res.returncode:
            raise ToolError(f"the host engine exited with status {res.returncode}: {res.stderr[-500:]}")
        data = (work / "out.bin").read_bytes()
        expected = len(runs) * sum(int(np.prod(s.shape, dtype=np.int64)) *
                                   np.dtype(s.dtype.value).itemsize for s in specs)
        if len(data) < expected:  # the engine could not write all of it (a full scratch folder)
            _check_room(work, res.stderr)
            raise OutputError(f"{work}: the host engine wrote {len(data)} of {expected} output "
                              "bytes", "free space in the temporary folder or set TMPDIR")
        outs: list[list[npt.NDArray[np.generic]]] = []
        pos = 0
        for _ in runs:
            run_out = []
            for spec in specs:
                dt = np.dtype(spec.dtype.value)
                n = int(np.prod(spec.shape, dtype=np.int64)) * dt.itemsize
                run_out.append(np.frombuffer(data[pos : pos + n], dtype=dt).reshape(spec.shape))
                pos += n
            outs.append(run_out)
        return outs, (_read_trace(work / "trace.bin") if trace else {})


def _read_trace(path: Path) -> dict[int, bytes]:
    raw = path.read_bytes()
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 8 <= len(raw):
        op, n = np.frombuffer(raw[pos : pos + 8], dtype=np.int32)
        out[int(op)] = raw[pos + 8 : pos + 8 + int(n)]
        pos += 8 + int(n)
    return out


def _check_room(workdir: Path, log: str) -> None:
    """A compiler or engine that failed for want of room in ``workdir`` is an output error."""
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        if os.strerror(code) in log:
            raise OutputError(f"{workdir}: the host build cannot write there ({os.strerror(code)})",
                              "free space there, or set TMPDIR to a writable folder with room")


def build_host(model: CompiledModel, workdir: Path, extra_flags: tuple[str, ...] = ()) -> HostEngine:
    """Compile the engine, the runtime and the harness with the host ``gcc``."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise ToolError("no host C compiler found", "install gcc (apt-get install gcc)")
    if model.engine.prefix != "model":
        raise ToolError("the host harness needs the engine prefix 'model'", "compile with --prefix model")
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in model.engine.files().items():
        (workdir / name).write_text(text)
    sizes_in = ", ".join(f"MODEL_INPUT{i}_BYTES" for i in range(len(model.schedule.inputs)))
    sizes_out = ", ".join(f"MODEL_OUTPUT{i}_BYTES" for i in range(len(model.schedule.outputs)))
    (workdir / "main.c").write_text(HARNESS.replace("MODEL_INPUT_SIZES", sizes_in)
                                    .replace("MODEL_OUTPUT_SIZES", sizes_out))
    rt = runtime_dir()
    exe = workdir / "engine"
    cmd = [cc, *CFLAGS, *extra_flags, "-DMCUF_TRACE_FN=mcuf_host_trace", f"-I{rt / 'include'}",
           f"-I{workdir}", str(workdir / "main.c"), str(workdir / "model.c"),
           *sorted(str(p) for p in (rt / "src").glob("*.c")), "-o", str(exe), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        _check_room(workdir, res.stderr)
        raise ToolError(f"host build of the engine failed:\n{res.stderr[-3000:]}",
                        "this is a bug in mcuforge's generated code; please report it")
    return HostEngine(exe, model)
