"""Atomic output for real: a run interrupted with SIGINT half-way through writing leaves the previous
output byte-identical and no staging directory behind; the rename window itself holds Ctrl-C back.

The subprocess runs use ``MCUFORGE_TEST_SLOW_WRITE`` (see :mod:`generator.output`) so that the
interrupt reliably lands while the new tree is being written, and hand-made models (no TensorFlow).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import output
from generator.errors import OutputError
from tests.support import badgen

pytestmark = pytest.mark.unit

CLI = [sys.executable, "-m", "generator.cli"]


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """Every hidden sibling of ``out`` named after it: staging, set-aside and lock files."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


MARKER = {output.ENGINE_MARKER: '{"mcuforge": "test"}\n'}


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # even if the test runner's parent ignores it


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, timeout=120,
                          env={**os.environ, **env})


def interrupt_while_writing(args: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    """Start ``mcuforge ARGS`` with slow writes, wait until its staging directory holds files, SIGINT."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, output.SLOW_WRITE_ENV: "60"},
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            staging = [p for p in out.parent.glob(f".{out.name}.mcuforge-staging-*") if p.is_dir()]
            if staging and any(p.is_file() for p in staging[0].rglob("*")):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"no staging directory appeared (exit {proc.poll()})")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture
def kws_model(tmp_path: Path) -> Path:
    path = tmp_path / "kws_fc.tflite"
    path.write_bytes(badgen.fc_model((1, 490), 4).build())
    return path


@pytest.mark.parametrize("command", ["compile", "generate"])
def test_sigint_mid_write_leaves_the_previous_output(command: str, kws_model: Path,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [command, str(kws_model), "-o", str(out)]
    if command == "generate":
        args += ["--board", "qemu_mps2_an386", "--app", "kws"]
    first = run(args)
    assert first.returncode == 0, first.stderr
    before = tree(out)
    assert len(before) > 10

    res = interrupt_while_writing([*args, "--force"], out)
    assert res.returncode == 130, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert tree(out) == before
    assert leftovers(out) == []


def test_sigint_into_an_empty_location_writes_nothing(kws_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    res = interrupt_while_writing(["compile", str(kws_model), "-o", str(out)], out)
    assert res.returncode == 130, res.stderr
    assert not out.exists() and leftovers(out) == []


# ---- in-process: the rename window and failures during the swap ---------------------------------------


def test_ctrl_c_during_the_swap_is_delivered_after_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    output.write_tree(out, {"a.c": "old\n", **MARKER})
    real_replace = os.replace
    calls = []

    def replace_then_interrupt(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:  # the old tree is aside, the new one not yet in place
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        output.write_tree(out, {"a.c": "new\n", "b.c": "new\n", **MARKER}, force=True)
    assert len(calls) == 2  # both renames ran before the interrupt was let through
    assert tree(out) == tree_of({"a.c": "new\n", "b.c": "new\n", **MARKER}, tmp_path / "expect")
    assert leftovers(out) == []


def tree_of(files: dict[str, str], where: Path) -> dict[str, str]:
    for name, text in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(text)
    return tree(where)


def test_a_failed_swap_restores_the_previous_output(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    output.write_tree(out, {"a.c": "old\n", **MARKER})
    before = tree(out)
    real_replace = os.replace

    def second_rename_fails(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        staging = Path(src).name.startswith(".out.mcuforge-staging-")
        if staging and Path(dst) == out.resolve():
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_fails)
    with pytest.raises(OutputError, match="writing failed"):
        output.write_tree(out, {"a.c": "new\n"}, force=True)
    assert tree(out) == before and leftovers(out) == []


def test_slow_write_hook_ignores_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(output.SLOW_WRITE_ENV, "soon")
    assert output._slow_write_pause(10) == 0.0
    monkeypatch.setenv(output.SLOW_WRITE_ENV, "2")
    assert output._slow_write_pause(4) == 0.5


@pytest.mark.unit
def test_a_set_of_files_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    from generator.output import content, write_files

    a, b = tmp_path / "m.plan.json", tmp_path / "m.plan.png"
    write_files({a: content("old json"), b: content(b"old png")})

    def broken(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device", str(path))

    with pytest.raises(OutputError, match="No space left on device"):
        write_files({a: content("new json"), b: broken})
    assert a.read_text() == "old json" and b.read_bytes() == b"old png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.plan.json", "m.plan.png"]
