"""Atomic output: a tree is written to a temporary sibling directory and moved into place whole.

A failed or interrupted run leaves the previous output untouched and no half-written tree behind.
Ctrl-C (SIGINT) is held back only while directories are created, renamed or removed, so that an
interrupt can never fall between moving the old tree aside and moving the new one in, nor leave a
staging directory behind.

``MCUFORGE_TEST_SLOW_WRITE=<seconds>`` spreads a pause of that length over the writing of the files:
a test hook that makes interrupting a run half-way through reliable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from generator.errors import OutputError

SLOW_WRITE_ENV = "MCUFORGE_TEST_SLOW_WRITE"


def check_target(out_dir: Path, force: bool) -> None:
    """Refuse an output path that is a file, or a non-empty directory unless ``force``."""
    try:
        exists, is_dir = out_dir.exists(), out_dir.is_dir()
        empty = not (is_dir and any(out_dir.iterdir()))
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot use this output path ({exc.strerror})",
                          "choose another output directory") from None
    if exists and not is_dir:
        raise OutputError(f"{out_dir}: exists and is not a directory", "choose another output path")
    if not empty and not force:
        raise OutputError(f"{out_dir}: already exists and is not empty",
                          "pass --force to replace it, or choose another output directory")


def write_tree(out_dir: Path, files: Mapping[str, str | bytes], force: bool = False) -> None:
    """Write ``files`` (relative path -> content) as the directory ``out_dir``, atomically."""
    out_dir = out_dir.resolve()
    check_target(out_dir, force)
    staging: Path | None = None
    try:
        with _interrupts_held():
            staging = _make_staging(out_dir)
        pause = _slow_write_pause(len(files))
        for rel, content in sorted(files.items()):
            _write_file(staging / rel, content)
            time.sleep(pause)
        _swap_in(staging, out_dir)
    except OSError as exc:
        raise OutputError(f"{out_dir}: writing failed ({exc.strerror or exc})",
                          "check free space and permissions; nothing was changed") from exc
    finally:
        with _interrupts_held():
            if staging is not None and staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def _make_staging(out_dir: Path) -> Path:
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
        staging.chmod(0o755)
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create the output directory ({exc.strerror})",
                          "choose a writable location") from exc
    return staging


def _write_file(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def _slow_write_pause(n_files: int) -> float:
    try:
        total = float(os.environ.get(SLOW_WRITE_ENV, "0"))
    except ValueError:
        return 0.0
    return max(total, 0.0) / max(n_files, 1)


def _swap_in(staging: Path, out_dir: Path) -> None:
    with _interrupts_held():
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


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Delay Ctrl-C until the block is done, then deliver it (KeyboardInterrupt, as usual).

    The handler is swapped rather than the signal blocked: in a process with other threads (such as
    TensorFlow's), a blocked signal would simply be delivered to another thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)


Writer = Callable[[Path], None]


def content(data: str | bytes) -> Writer:
    """A writer of fixed text or bytes, for :func:`write_files`."""

    def write(path: Path) -> None:
        _write_file(path, data)

    return write


def write_files(items: Mapping[Path, Writer]) -> None:
    """Write a set of files beside each other: each writer fills a hidden temporary sibling (same
    suffix, for writers that look at it); only when all have succeeded are they renamed into place,
    so an error or Ctrl-C leaves the previous files as they were and no partial new set."""
    temps: dict[Path, Path] = {
        path: path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}") for path in items
    }
    try:
        for path, writer in items.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            writer(temps[path])
        with _interrupts_held():
            for path, tmp in temps.items():
                os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{exc.filename or next(iter(items))}: writing failed "
                          f"({exc.strerror or exc})",
                          "check free space and permissions; the previous files were kept") from exc
    finally:
        for tmp in temps.values():
            if tmp.exists():
                tmp.unlink() if tmp.is_file() else shutil.rmtree(tmp, ignore_errors=True)
