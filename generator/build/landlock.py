"""Linux Landlock through its three system calls: confine a child process to reading a few paths.

Used for QEMU: semihosting lets firmware open any host file with QEMU's rights, and QEMU has no
option to stop it. A Landlock ruleset made here (:func:`read_only_ruleset`) allows reading and
executing below the given paths, writing ``/dev/null``, and nothing else; :func:`enforce` applies it
to the calling process (the child, between fork and exec) and cannot be undone there.

Landlock needs Linux 5.13 or later with the LSM enabled; :func:`available` says whether it is.
:func:`die_with_parent` (``prctl(PR_SET_PDEATHSIG)``) is the other child set-up QEMU runs get.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct
from collections.abc import Iterable

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on every Linux architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_HANDLED_BITS_BY_ABI = {1: 13, 2: 14, 3: 15, 4: 15}  # ABI 5 and later: 16 (IOCTL_DEV)
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | (1 << 14) | (1 << 15)
WRITABLE_FILES = ("/dev/null",)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    if _LIBC is None or os.uname().sysname != "Linux":
        return 0
    version = int(_LIBC.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0),
                                ctypes.c_uint32(_CREATE_RULESET_VERSION)))
    return max(version, 0)


def available() -> bool:
    return abi_version() >= 1


def _handled(abi: int) -> int:
    return (1 << _HANDLED_BITS_BY_ABI.get(abi, 16)) - 1


def _add_rule(libc: ctypes.CDLL, ruleset: int, path: str, rights: int, handled: int) -> None:
    """Allow ``rights`` below ``path``; a path that does not exist is skipped."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        allowed = rights & handled & (~0 if is_dir else _FILE_RIGHTS)
        attr = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd))
        if libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                        attr, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def read_only_ruleset(readable: Iterable[str]) -> int:
    """A ruleset file descriptor: read and execute below ``readable``, write only /dev/null.

    Raises OSError if Landlock is unavailable. The caller closes the descriptor.
    """
    abi = abi_version()
    if _LIBC is None or abi < 1:
        raise OSError("Landlock is not available")
    handled = _handled(abi)
    attr = ctypes.create_string_buffer(struct.pack("=Q", handled))
    ruleset = int(_LIBC.syscall(_CREATE_RULESET, attr, ctypes.c_size_t(8), ctypes.c_uint32(0)))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        for path in readable:
            _add_rule(_LIBC, ruleset, path, EXECUTE | READ_FILE | READ_DIR, handled)
        for path in WRITABLE_FILES:
            _add_rule(_LIBC, ruleset, path, READ_FILE | WRITE_FILE, handled)
    except OSError:
        os.close(ruleset)
        raise
    return ruleset


def enforce(ruleset: int) -> None:
    """Confine the calling process (and its future children) to ``ruleset``; raises OSError."""
    assert _LIBC is not None
    if _LIBC.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if _LIBC.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")


def die_with_parent(signum: int) -> None:
    """Ask the kernel to send ``signum`` to the calling process when its parent ends (Linux);
    elsewhere nothing happens."""
    if _LIBC is not None and os.uname().sysname == "Linux":
        _LIBC.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
