"""Atomic output: a tree is written to a temporary sibling directory and moved into place whole.

A failed or interrupted run leaves the previous output untouched and no half-written tree behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from generator.errors import OutputError


def check_target(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a directory", "choose another output path")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise OutputError(f"{out_dir}: already exists and is not empty",
                          "pass --force to replace it, or choose another output directory")


def write_tree(out_dir: Path, files: Mapping[str, str | bytes], force: bool = False) -> None:
    """Write ``files`` (relative path -> content) as the directory ``out_dir``, atomically."""
    out_dir = out_dir.resolve()
    check_target(out_dir, force)
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
        staging.chmod(0o755)
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create the output directory ({exc.strerror})",
                          "choose a writable location") from exc
    try:
        for rel, content in sorted(files.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        _swap_in(staging, out_dir)
    except OSError as exc:
        raise OutputError(f"{out_dir}: writing failed ({exc.strerror or exc})",
                          "check free space and permissions; nothing was changed") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    os.replace(out_dir, old)
    try:
        os.replace(staging, out_dir)
    except OSError:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
