"""The process environment mcuforge runs in: a usable home for the libraries' caches, and the
temporary folder.

Matplotlib, Keras and mcuforge's own PlatformIO core keep caches under the home directory. When HOME
is unset, not a directory (``HOME=/dev/null``) or not writable, :func:`safe_environment` points
them at one private temporary folder for the run instead (settings the user made are kept).

:func:`scratch_dir` is the one way mcuforge makes scratch folders: a temporary folder that cannot
be created or filled (ENOSPC, EROFS, ...) is an :class:`~generator.errors.OutputError` naming it,
not an internal error.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from generator.errors import OutputError

CACHE_VARIABLES = ("MPLCONFIGDIR", "KERAS_HOME", "XDG_CACHE_HOME")
LOW_SPACE_BYTES = 32 << 20  # less than this free in TMPDIR explains a failed model conversion
# errors that say the temporary folder itself cannot take what is written into it
_TMP_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                         errno.ENOENT, errno.ENOTDIR, errno.EFBIG, errno.EMFILE})


def home_is_usable(home: str | None) -> bool:
    """A home directory the caches can live in: an absolute path to a writable directory."""
    if not home or not os.path.isabs(home):
        return False
    return os.path.isdir(home) and os.access(home, os.W_OK | os.X_OK)


def safe_environment() -> dict[str, str]:
    """With an unusable HOME, set the cache variables that are unset to folders in one private
    temporary folder (removed at exit); returns what was set. Does nothing when that folder cannot
    be made: the libraries then fall back or fail with their own messages."""
    if home_is_usable(os.environ.get("HOME")):
        return {}
    missing = [name for name in CACHE_VARIABLES if not os.environ.get(name)]
    if not missing:
        return {}
    try:
        base = tempfile.mkdtemp(prefix="mcuforge-home-")
    except OSError:
        return {}
    atexit.register(shutil.rmtree, base, True)
    chosen = {name: os.path.join(base, name.lower()) for name in missing}
    for folder in chosen.values():
        with contextlib.suppress(OSError):
            os.mkdir(folder, 0o700)
    os.environ.update(chosen)
    return chosen


def temp_root() -> str:
    """The temporary folder Python uses (``$TMPDIR``, else the system's), for messages."""
    try:
        return tempfile.gettempdir()
    except (OSError, FileNotFoundError):
        return os.environ.get("TMPDIR") or "/tmp"


def low_temp_space(needed: int = LOW_SPACE_BYTES) -> str | None:
    """``"only N KB free"`` when the temporary folder has less than ``needed`` bytes free (tools
    such as TensorFlow's converter then fail in ways that do not say so), else None."""
    try:
        info = os.statvfs(temp_root())
    except OSError:
        return None
    free = info.f_bavail * info.f_frsize
    return f"only {free // 1024:,} KB free" if free < needed else None


def tmpdir_error(reason: OSError | str) -> OutputError:
    """The error of a temporary folder that cannot be used, for ``reason``."""
    why = reason if isinstance(reason, str) else reason.strerror or str(reason)
    return OutputError(f"{temp_root()}: the temporary folder cannot be used ({why}); it is "
                       "TMPDIR or the system's default",
                       "free space there, or set TMPDIR to a writable folder with room")


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A new temporary folder, removed afterwards. Failing to create it, or a file error within
    it that says the folder is full or read-only, becomes :func:`tmpdir_error`."""
    try:
        tmp = tempfile.mkdtemp(prefix=prefix)
    except OSError as exc:  # FileNotFoundError too: no usable temporary directory at all
        raise tmpdir_error(exc) from None
    try:
        yield Path(tmp)
    except OSError as exc:
        if _about(exc, tmp):
            raise tmpdir_error(exc) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _about(exc: OSError, tmp: str) -> bool:
    """Whether ``exc`` is a failure to write into the scratch folder ``tmp``."""
    names = [str(name) for name in (exc.filename, exc.filename2) if name]
    inside = any(os.path.abspath(name).startswith(os.path.abspath(tmp)) for name in names)
    return exc.errno in _TMP_ERRNOS and (inside or not names)
