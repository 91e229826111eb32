"""Safe, atomic output: a tree is written to a temporary sibling directory and moved into place whole.

A failed or interrupted run leaves the previous output untouched and no half-written tree behind.
Ctrl-C (SIGINT) is held back only while directories are created, renamed or removed, so that an
interrupt can never fall between moving the old tree aside and moving the new one in, nor leave a
staging directory behind.

What may be replaced (:func:`check_target`): a missing or empty directory, or with ``force`` one that
holds an mcuforge marker (``mcuforge.json`` of a project, ``mcuforge-engine.json`` of an engine).
Never the root, the home directory, the current directory or an ancestor of it, an input or an
ancestor of one, nor a symbolic link.

One writer at a time (:func:`reserved`): a writer holds an exclusive ``flock`` on
``<parent>/.<name>.mcuforge-lock`` from its first check until its tree is in place; a second writer
is refused at once. Under the lock, staging folders left by a killed run (``.<name>.mcuforge-*``,
which only a lock holder creates) are removed, and a previous tree that a kill left aside is put back.

``MCUFORGE_TEST_SLOW_WRITE=<seconds>`` spreads a pause of that length over the writing of the files:
a test hook that makes interrupting a run half-way through reliable.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from generator.errors import OutputError

SLOW_WRITE_ENV = "MCUFORGE_TEST_SLOW_WRITE"
PROJECT_MARKER = "mcuforge.json"
ENGINE_MARKER = "mcuforge-engine.json"
MARKERS = (PROJECT_MARKER, ENGINE_MARKER)
_MARKER_MAX_BYTES = 4 << 20
_STEM_MAX = 120  # sibling names stay well below NAME_MAX (255) whatever the output's name
_HELD: set[Path] = set()  # outputs this process holds the lock of (reserved() is re-entrant)
_SURROGATE = re.compile("[\ud800-\udfff]")


# ---- text that is safe to write and to print -----------------------------------------------------------


def safe_text(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes of file names, kept by Python as U+DC80..
    U+DCFF) shown as ``\\xNN`` escapes, so that it encodes as UTF-8."""
    return _SURROGATE.sub(_show_surrogate, text)


def plot_text(text: str) -> str:
    """``text`` for a matplotlib title: :func:`safe_text`, with ``$`` escaped (matplotlib would
    parse text between two of them as mathtext, and fail on what is not)."""
    return safe_text(text).replace("$", r"\$")


def _show_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


# ---- what may be replaced -----------------------------------------------------------------------------


def check_target(out_dir: Path, force: bool, inputs: Iterable[Path] = ()) -> Path:
    """Refuse an output path that cannot or must not be replaced; returns it resolved.

    Refused always: a symbolic link, the root, a file, the home directory, the current directory or
    an ancestor of it, any of ``inputs`` or an ancestor of one. A non-empty directory is refused
    unless ``force``, and even then unless it holds an mcuforge marker."""
    resolved = _resolved(out_dir)
    info = _lstat(resolved, out_dir)
    if info is None:
        return resolved
    if not stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{out_dir}: exists and is not a directory", "choose another output path")
    _refuse_protected(out_dir, resolved, inputs)
    if _is_empty(resolved, out_dir):
        return resolved
    if not force:
        raise OutputError(f"{out_dir}: already exists and is not empty",
                          "pass --force to replace it, or choose another output directory")
    if not any(_is_marker(resolved / name) for name in MARKERS):
        raise OutputError(f"{out_dir}: is not an mcuforge output (it holds no {PROJECT_MARKER} or "
                          f"{ENGINE_MARKER}), so --force does not replace it",
                          "empty or remove it yourself, or choose another output directory")
    return resolved


def _resolved(out_dir: Path) -> Path:
    """The absolute, resolved output path; a symbolic link or the root is refused."""
    try:
        if out_dir.is_symlink():
            raise OutputError(f"{out_dir}: is a symbolic link; mcuforge does not write through "
                              "links", "give the directory the link points to, or another path")
        resolved = Path(os.path.abspath(out_dir)).resolve()
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot use this output path ({exc.strerror})",
                          "choose another output directory") from None
    except RuntimeError:  # a symlink loop in the parents
        raise OutputError(f"{out_dir}: cannot use this output path (symbolic link loop)",
                          "choose another output directory") from None
    except ValueError:  # a NUL character: no file system allows it
        raise OutputError(f"{out_dir!r}: cannot use this output path (it holds a NUL character)",
                          "choose another output directory") from None
    if resolved == Path(resolved.anchor):
        raise OutputError(f"{out_dir}: is the root directory", "choose a new output directory")
    return resolved


def _lstat(path: Path, shown: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except (FileNotFoundError, NotADirectoryError):  # a parent that is a file: see _make_parents
        return None
    except OSError as exc:
        raise OutputError(f"{shown}: cannot use this output path ({exc.strerror})",
                          "choose another output directory") from None


def _is_empty(path: Path, shown: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError as exc:
        raise OutputError(f"{shown}: cannot use this output path ({exc.strerror})",
                          "choose another output directory") from None


def _refuse_protected(out_dir: Path, resolved: Path, inputs: Iterable[Path]) -> None:
    for place, why in _protected(inputs):
        if resolved == place or resolved in place.parents:
            raise OutputError(f"{out_dir}: {why}; mcuforge never replaces it",
                              "choose a new, empty output directory")


def _protected(inputs: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Places an output must not be nor contain, each with the reason shown when it would."""
    for home in _homes():
        yield home, f"is or contains the home directory {home}"
    with contextlib.suppress(OSError):
        cwd = Path.cwd()
        yield cwd, "is or contains the current directory"
    for given in inputs:
        for place in _both_forms(given):
            yield place, f"is or contains the input {given}"


def _homes() -> Iterator[Path]:
    candidates = [os.environ.get("HOME", "")]
    with contextlib.suppress(KeyError, OSError):
        candidates.append(pwd.getpwuid(os.getuid()).pw_dir)
    for text in candidates:
        if text and os.path.isabs(text):
            yield from _both_forms(Path(text))


def _both_forms(path: Path) -> set[Path]:
    """The absolute path as written and with links resolved (an input may be a link)."""
    forms = {Path(os.path.abspath(path))}
    with contextlib.suppress(OSError, RuntimeError):
        forms.add(path.resolve())
    return forms


def _is_marker(path: Path) -> bool:
    """A regular file (not a link) holding a JSON object with an ``mcuforge`` version string."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MARKER_MAX_BYTES:
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            doc = json.loads(fh.read(_MARKER_MAX_BYTES))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("mcuforge"), str)


def engine_marker(version: str, files: Mapping[str, str | bytes]) -> str:
    """The text of ``mcuforge-engine.json``: the version and each file's SHA-256."""
    digests = {name: hashlib.sha256(data if isinstance(data, bytes) else
                                    safe_text(data).encode("utf-8")).hexdigest()
               for name, data in sorted(files.items())}
    return json.dumps({"mcuforge": version, "kind": "engine", "files": digests}, indent=2) + "\n"


# ---- one writer at a time, and what killed writers left -------------------------------------------------


@contextlib.contextmanager
def reserved(out_dir: Path, force: bool = False, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Hold the output's lock, tidy what killed runs left, and check the target; yields the
    resolved path. Re-entrant: a nested reservation of the same output only checks again. Parent
    directories created for the lock are removed again if no output was written."""
    inputs = tuple(inputs)
    resolved = _resolved(out_dir)
    if resolved in _HELD:
        yield check_target(out_dir, force, inputs)
        return
    _lstat(resolved, out_dir)  # an unusable name is reported as such, before anything is created
    created = _make_parents(resolved.parent)
    try:
        with _locked(resolved):
            _HELD.add(resolved)
            try:
                _tidy(resolved)
                yield check_target(out_dir, force, inputs)
            finally:
                _HELD.discard(resolved)
    finally:
        if not os.path.lexists(resolved):
            _remove_created(created)


def _stem(name: str) -> str:
    """The output's name as used in sibling names: shortened (with a digest) when it is long."""
    if len(name.encode("utf-8", "surrogatepass")) <= _STEM_MAX:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{name[:60]}~{digest}"


def lock_path(out_dir: Path) -> Path:
    """The lock file of an (absolute) output path: a hidden sibling."""
    return out_dir.with_name(f".{_stem(out_dir.name)}.mcuforge-lock")


def _make_parents(parent: Path) -> list[Path]:
    """Create ``parent`` and its missing ancestors; returns the ones created, outermost first."""
    missing: list[Path] = []
    for folder in (parent, *parent.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    created: list[Path] = []
    try:
        with _interrupts_held():
            for folder in reversed(missing):
                folder.mkdir()
                created.append(folder)
    except OSError as exc:
        _remove_created(created)
        raise OutputError(f"{parent}: cannot create the output directory ({exc.strerror})",
                          "choose a writable location") from None
    return created


def _remove_created(created: list[Path]) -> None:
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """An exclusive, non-blocking ``flock`` on the output's lock file, removed when released."""
    path = lock_path(out_dir)
    fd = _acquire(path, out_dir)
    try:
        yield
    finally:
        with _interrupts_held():
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)


def _acquire(path: Path, out_dir: Path) -> int:
    """Open and lock ``path``; retried when another writer removed the file we locked."""
    for _ in range(20):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputError(f"{path}: the lock file of {out_dir.name} is a symbolic link; "
                                  "mcuforge does not follow it",
                                  "remove it, or choose another output directory") from None
            raise OutputError(f"{out_dir.parent}: cannot create the output directory "
                              f"({exc.strerror})", "choose a writable location") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise OutputError(f"{out_dir}: another mcuforge run is writing it",
                                  "wait for it to finish, or choose another output "
                                  "directory") from None
            raise OutputError(f"{path}: cannot lock the output ({exc.strerror})",
                              "choose an output directory on a local file system") from None
        if _same_file(fd, path):
            return fd
        os.close(fd)  # the holder we waited for removed it: lock the new one
    raise OutputError(f"{out_dir}: another mcuforge run is writing it",
                      "wait for it to finish, or choose another output directory")


def _same_file(fd: int, path: Path) -> bool:
    try:
        held, now = os.fstat(fd), path.lstat()
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def _leftover_pattern(out_dir: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(_stem(out_dir.name))}\.mcuforge-(staging|old)-[a-z0-9_]{{8}}")


def leftovers(out_dir: Path) -> list[Path]:
    """Staging and set-aside folders of ``out_dir`` (absolute) that mcuforge made: directories,
    not links, named as only :func:`write_tree` names them."""
    pattern = _leftover_pattern(out_dir)
    found = []
    with contextlib.suppress(OSError), os.scandir(out_dir.parent) as entries:
        for entry in entries:
            if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                found.append(Path(entry.path))
    return sorted(found)


def _tidy(out_dir: Path) -> None:
    """Under the lock: put back a previous tree a killed run left aside (when nothing took its
    place), then remove every other leftover. No live writer owns them: it would hold the lock."""
    found = leftovers(out_dir)
    with _interrupts_held():
        with contextlib.suppress(OSError):  # an unreadable leftover is simply not put back
            aside = [p for p in found if ".mcuforge-old-" in p.name and any(p.iterdir())]
            if aside and not os.path.lexists(out_dir):
                newest = max(aside, key=lambda p: p.lstat().st_mtime)
                os.replace(newest, out_dir)
                found.remove(newest)
        for folder in found:
            shutil.rmtree(folder, ignore_errors=True)


# ---- writing ------------------------------------------------------------------------------------------


def write_tree(out_dir: Path, files: Mapping[str, str | bytes], force: bool = False,
               inputs: Iterable[Path] = ()) -> None:
    """Write ``files`` (relative path -> content) as the directory ``out_dir``, atomically, under
    the output's lock; what may be replaced is decided by :func:`check_target`."""
    with reserved(out_dir, force, inputs) as target:
        staging: Path | None = None
        try:
            with _interrupts_held():
                staging = _make_aside(target, "staging")
            pause = _slow_write_pause(len(files))
            for rel, data in sorted(files.items()):
                _write_file(_inside(staging, rel), data)
                time.sleep(pause)
            _swap_in(staging, target)
        except OSError as exc:
            raise OutputError(f"{out_dir}: writing failed ({exc.strerror or exc})",
                              "check free space and permissions; nothing was changed") from exc
        finally:
            with _interrupts_held():
                if staging is not None and staging.is_dir() and not staging.is_symlink():
                    shutil.rmtree(staging, ignore_errors=True)


def _make_aside(out_dir: Path, kind: str) -> Path:
    """A new empty sibling folder of ``out_dir`` named for :func:`leftovers` to find."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{_stem(out_dir.name)}.mcuforge-{kind}-",
                                       dir=out_dir.parent))
        folder.chmod(0o755)
    except OSError as exc:
        raise OutputError(f"{out_dir.parent}: cannot create the output directory ({exc.strerror})",
                          "choose a writable location") from exc
    return folder


def _inside(root: Path, rel: str) -> Path:
    """``root / rel`` for a relative path that stays inside ``root`` (generated names only)."""
    path = root / rel
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise OutputError(f"{rel}: an output file name leaves the output directory",
                          "this is a bug in mcuforge; please report it")
    return path


def _write_file(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_bytes(safe_text(data).encode("utf-8"))


def _slow_write_pause(n_files: int) -> float:
    try:
        total = float(os.environ.get(SLOW_WRITE_ENV, "0"))
    except ValueError:
        return 0.0
    return max(total, 0.0) / max(n_files, 1)


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Move ``staging`` to ``out_dir``; a previous tree is first renamed into a fresh empty folder
    of its own, and only that folder is removed afterwards."""
    with _interrupts_held():
        if not os.path.lexists(out_dir):
            os.replace(staging, out_dir)
            return
        old = _make_aside(out_dir, "old")
        try:
            os.replace(out_dir, old)
        except OSError:
            old.rmdir()
            raise
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


def write_files(items: Mapping[Path, Writer], inputs: Iterable[Path] = ()) -> None:
    """Write a set of files beside each other: each writer fills a new hidden temporary sibling
    (same suffix, for writers that look at it); only when all have succeeded are they renamed into
    place, so an error or Ctrl-C leaves the previous files as they were and no partial new set.
    A path that is one of ``inputs``, or a directory, is refused before anything is written."""
    check_files(items, inputs)
    temps: dict[Path, Path] = {}
    try:
        for path, writer in items.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{_stem(path.stem)}.tmp-", suffix=path.suffix,
                                        dir=path.parent)
            os.close(fd)
            temps[path] = Path(name)
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
            if tmp.is_symlink() or tmp.is_file():
                tmp.unlink()
            elif tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def check_files(paths: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Refuse output file paths that are one of ``inputs`` (as written or through links) or a
    directory."""
    protected = {form for given in inputs for form in _both_forms(given)}
    for path in paths:
        if _both_forms(path) & protected:
            raise OutputError(f"{path}: is also an input; mcuforge does not overwrite its inputs",
                              "choose another output name")
        if path.is_dir() and not path.is_symlink():
            raise OutputError(f"{path}: is a directory", "choose another output name")
