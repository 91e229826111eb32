"""Output locations mcuforge must refuse, and files for tests/bad_inputs/expected_output.yaml.

``SETUPS`` prepares ``{out}`` for the setups of that file (tests/test_bad_inputs.py ``Workspace.out``
hands them over): a link to an mcuforge output, an output that is the current or the home folder,
an output another writer holds the lock of, a lock file planted as a link, a full TMPDIR.
``MAKERS`` writes model files whose names look like rich markup.
"""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from generator import output

ENGINE = '{"mcuforge": "0.0", "kind": "engine"}\n'
_held: list[Any] = []  # lock files a setup holds; released when the test's monkeypatch undoes


class Workspace(Protocol):
    root: Path
    monkeypatch: pytest.MonkeyPatch
    mounts: list[Path]


def _engine(folder: Path) -> Path:
    """A folder ``compile`` could have written: replaceable with --force."""
    folder.mkdir(parents=True)
    (folder / output.ENGINE_MARKER).write_text(ENGINE)
    (folder / "model.c").write_text("/* the previous engine */\n")
    return folder


def _link_to_output(ws: Workspace) -> Path:
    real = _engine(ws.root / "real")
    link = ws.root / "out"
    link.symlink_to(real)
    return link


def _current_folder(ws: Workspace) -> Path:
    out = _engine(ws.root / "out")
    ws.monkeypatch.chdir(out)
    return out


def _home_folder(ws: Workspace) -> Path:
    out = _engine(ws.root / "out")
    ws.monkeypatch.setenv("HOME", str(out))
    return out


def _locked(ws: Workspace) -> Path:
    """Another writer (this process, through its own open file) holds the output's lock."""
    out = ws.root / "out"
    handle = open(output.lock_path(out), "a+b")  # held until the test ends
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    ws.monkeypatch.setattr(sys.modules[__name__], "_held", [handle])  # undo drops and closes it
    return out


def _lock_is_a_link(ws: Workspace) -> Path:
    out = ws.root / "out"
    victim = ws.root / "victim.txt"
    victim.write_text("must stay as it is\n")
    output.lock_path(out).symlink_to(victim)
    return out


def _tmp_full(ws: Workspace) -> Path:
    """TMPDIR on a 64 KB tmpfs (root); else the same ENOSPC from creating scratch folders."""
    where = ws.root / "tmpfull"
    where.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "mcuforge-tmpfull", str(where)],
        capture_output=True, check=False).returncode == 0
    if mounted:
        ws.mounts.append(where)
        ws.monkeypatch.setattr(tempfile, "tempdir", str(where))
    else:
        def no_space(*args: object, **kwargs: object) -> str:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        ws.monkeypatch.setattr("generator.environment.tempfile.mkdtemp", no_space)
    return ws.root / "out"


SETUPS: dict[str, Callable[[Workspace], Path]] = {
    "link_to_output": _link_to_output,
    "current_folder": _current_folder,
    "home_folder": _home_folder,
    "locked": _locked,
    "lock_is_a_link": _lock_is_a_link,
    "tmp_full": _tmp_full,
}


def _empty_in_folder(path: Path) -> None:
    """A 0-byte model; the name's ``/`` makes a folder, so the path holds ``[/x]``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


MAKERS: dict[str, Callable[[Path], object]] = {
    "markup[/x]name.tflite": _empty_in_folder,
    "markup[bold]name[/bold].tflite": _empty_in_folder,
}
