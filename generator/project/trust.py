"""Which projects ``mcuforge run`` builds and runs: those this user's mcuforge generated, unchanged.

``mcuforge generate`` records in ``mcuforge.json`` the SHA-256 of every file it writes (``files``)
and signs the manifest with an HMAC-SHA256 keyed by a per-user secret (``signature``). The secret is
made on first use: 32 random bytes in ``$XDG_CONFIG_HOME/mcuforge/project-key`` (else
``~/.config/mcuforge/project-key``), mode 0600. Without a usable home folder (``HOME=/dev/null``)
there is no key: projects are written unsigned and every project counts as foreign.

:func:`project_problems` compares a project folder with its manifest: a manifest without a valid
signature, and every file changed, missing or added (outside ``.git/`` and ``.pio/``), is a problem.
So is a ``.pio/`` build folder that ``mcuforge run`` did not leave: after each build it signs the
hashes of ``.pio/`` (:func:`stamp_build_dir`, ``.pio/mcuforge-build.json``), because PlatformIO runs
what it finds there too (library build scripts; SCons's signature database is a pickle). The
signature covers the manifest's canonical JSON, so a regenerated project is byte-identical on one
machine; another machine's key gives another signature. A signed project's ``upload_command`` is
the one mcuforge wrote, so ``mcuforge run`` runs it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

KEY_FILE = "project-key"
KEY_BYTES = 32
BUILD_DIR = ".pio"
IGNORED_DIRS = (BUILD_DIR, ".git")
"""Top-level folders of a project not compared with the manifest: PlatformIO's build folder (checked
against the build stamp instead) and version control."""
BUILD_STAMP = "mcuforge-build.json"
"""In ``.pio/``: the signed hashes of the build folder as the last ``mcuforge run`` build left it."""
MAX_SCANNED_FILES = 20_000
MAX_HASHED_BYTES = 256 * 1024 * 1024
SHOWN_PROBLEMS = 5
_log = logging.getLogger(__name__)


def key_path() -> Path | None:
    """Where the per-user key lives, or None if there is no usable config folder."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "mcuforge" / KEY_FILE
    home = os.environ.get("HOME") or ""
    if not home or not os.path.isabs(home):
        return None
    return Path(home) / ".config" / "mcuforge" / KEY_FILE


def _read_key(path: Path) -> bytes | None:
    """The key if ``path`` is this user's private regular file of the right size, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid()
                or info.st_mode & 0o077 or info.st_size != 2 * KEY_BYTES):
            return None
        text = os.read(fd, 2 * KEY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return bytes.fromhex(text.decode("ascii"))
    except ValueError:
        return None


def _create_key(path: Path) -> None:
    """Write a new random key to ``path`` atomically; a key another process wrote first stays."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{KEY_FILE}.{os.urandom(6).hex()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, os.urandom(KEY_BYTES).hex().encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(partial, path)  # fails if the key exists: never replace one
    except FileExistsError:
        pass
    finally:
        partial.unlink()


def project_key(create: bool) -> bytes | None:
    """This user's key; made first if ``create``. None when there is no usable key."""
    path = key_path()
    if path is None:
        return None
    key = _read_key(path)
    if key is None and create and not os.path.lexists(path):
        try:
            _create_key(path)
        except OSError:
            return None
        key = _read_key(path)
    return key


# --------------------------------------------------------------------------------------------------
# Signing


def file_hashes(files: Mapping[str, str | bytes]) -> dict[str, str]:
    """SHA-256 of each file's bytes (text as UTF-8), by relative path, sorted."""
    return {name: hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()
            for name, data in sorted(files.items())}


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def signature(manifest: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of the manifest without its ``signature`` entry."""
    return hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()


def signed_manifest(manifest: Mapping[str, Any], files: Mapping[str, str | bytes]) -> dict[str, Any]:
    """``manifest`` plus the hashes of ``files`` and this user's signature (None without a key)."""
    with_files = {**manifest, "files": file_hashes(files)}
    key = project_key(create=True)
    if key is None:
        _log.warning("no per-user mcuforge key at %s could be read or made: the project is "
                     "unsigned, and `mcuforge run` will build it only with --trust-project",
                     key_path() or "$XDG_CONFIG_HOME or $HOME/.config (neither is usable)")
    return {**with_files,
            "signature": None if key is None else {"hmac_sha256": signature(with_files, key)}}


# --------------------------------------------------------------------------------------------------
# Checking a project folder


def _hash_file(path: Path, size: int) -> str:
    """SHA-256 of a regular file, opened without following links or blocking on a FIFO."""
    if size > MAX_HASHED_BYTES:
        return "too large to check"
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "not a regular file"
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return digest.hexdigest()


UNHASHED = "a regular file"
"""What :func:`scan_tree` records for a regular file it was not asked to hash."""


def scan_tree(root: Path, ignored: tuple[str, ...] = IGNORED_DIRS,
              hashed: Collection[str] | None = None) -> dict[str, str]:
    """Every entry below ``root`` (but the ``ignored`` top-level folders) → SHA-256, or why it
    cannot be one. Only the relative paths in ``hashed`` (all, if None) are read and hashed;
    other regular files are recorded as :data:`UNHASHED`.

    Symbolic links and special files are never followed or read: they are reported as such.
    """
    found: dict[str, str] = {}

    def _unreadable(exc: OSError) -> None:
        where = Path(exc.filename or root)
        found[where.relative_to(root).as_posix() + "/"] = f"unreadable ({exc.strerror or exc})"

    for folder, dirs, names in os.walk(root, onerror=_unreadable, followlinks=False):
        here = Path(folder)
        if here == root:
            dirs[:] = [d for d in dirs if d not in ignored or (here / d).is_symlink()]
        for name in sorted([*dirs, *names]):
            path = here / name
            rel = path.relative_to(root).as_posix()
            kind = _entry_hash(path, hashed is None or rel in hashed)
            if kind is not None:
                found[rel] = kind
            if len(found) > MAX_SCANNED_FILES:
                found["..."] = f"more than {MAX_SCANNED_FILES} files"
                return found
    return found


def _entry_hash(path: Path, read: bool) -> str | None:
    """A file's SHA-256 (if ``read``), why it has none, or None for a real directory."""
    try:
        info = path.lstat()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if stat.S_ISDIR(info.st_mode):
        return None
    if stat.S_ISLNK(info.st_mode):
        try:
            return f"a symbolic link to {os.readlink(path)}"
        except OSError:
            return "a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    return _hash_file(path, info.st_size) if read else UNHASHED


def _signature_problem(manifest: Mapping[str, Any]) -> str | None:
    given = manifest.get("signature")
    mac = given.get("hmac_sha256") if isinstance(given, dict) else None
    if not isinstance(mac, str):
        return "mcuforge.json is not signed"
    key = project_key(create=False)
    if key is None:
        return (f"there is no mcuforge key for this user ({key_path() or 'no usable HOME'}), so "
                "no project counts as generated here")
    if not hmac.compare_digest(mac, signature(manifest, key)):
        return ("mcuforge.json is not signed by this user's mcuforge (made on another machine or "
                "by another user, or edited)")
    return None


def _detail(found: str) -> str:
    """`` (a symbolic link to x)`` and the like; nothing for a plain file."""
    plain = found == UNHASHED or (len(found) == 64 and all(c in "0123456789abcdef" for c in found))
    return "" if plain else f" ({found})"


def file_problems(recorded: Mapping[str, object], actual: Mapping[str, str]) -> list[str]:
    """What differs between the manifest's ``files`` and a scan of the folder, sorted by path."""
    problems = []
    for name in sorted(set(recorded) | set(actual)):
        if name == "mcuforge.json":
            continue
        if name not in actual:
            problems.append(f"{name} is missing")
        elif name not in recorded:
            problems.append(f"{name} was added{_detail(actual[name])}")
        elif recorded[name] != actual[name]:
            problems.append(f"{name} was changed{_detail(actual[name])}")
    return problems


def project_problems(project_dir: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Why ``project_dir`` is not a project this user's mcuforge generated; empty if it is."""
    sign_problem = _signature_problem(manifest)
    recorded = manifest.get("files")
    if not isinstance(recorded, dict):
        no_hashes = "mcuforge.json lists no file hashes (made by an older mcuforge?)"
        return [p for p in (sign_problem, no_hashes) if p is not None]
    if sign_problem is not None:  # nothing in the folder can be trusted: do not read it all
        return [sign_problem]
    return (file_problems(recorded, scan_tree(project_dir, hashed=set(recorded)))
            + build_dir_problems(project_dir, manifest))


# --------------------------------------------------------------------------------------------------
# The build folder: PlatformIO reads and runs what it finds in .pio/ (library scripts, SCons's
# pickled signature database), so a .pio/ that mcuforge run did not leave is refused too.


def _build_files(project_dir: Path) -> dict[str, str]:
    build = project_dir / BUILD_DIR
    return {name: digest for name, digest in scan_tree(build, ()).items() if name != BUILD_STAMP}


def _stamp_mac(key: bytes, manifest: Mapping[str, Any], files: Mapping[str, str]) -> str:
    body = json.dumps({"project": signature(manifest, key), "files": dict(files)},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).hexdigest()


def build_dir_problems(project_dir: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Why ``.pio/`` is not as the last ``mcuforge run`` of this project left it; empty if it is
    (or if there is none)."""
    build = project_dir / BUILD_DIR
    if not os.path.lexists(build):
        return []
    refused = [f"{BUILD_DIR}/ was not left by mcuforge run (delete it to build afresh)"]
    key = project_key(create=False)
    if key is None or build.is_symlink() or not build.is_dir():
        return refused
    try:
        stamp = json.loads((build / BUILD_STAMP).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return refused
    mac = stamp.get("hmac_sha256") if isinstance(stamp, dict) else None
    if not isinstance(mac, str) or not hmac.compare_digest(
            mac, _stamp_mac(key, manifest, _build_files(project_dir))):
        return [f"{BUILD_DIR}/ was changed since mcuforge run built it (delete it to build afresh)"]
    return []


def stamp_build_dir(project_dir: Path, manifest: Mapping[str, Any]) -> None:
    """Record the signed hashes of ``.pio/`` after a build; nothing happens without a key."""
    build = project_dir / BUILD_DIR
    key = project_key(create=False)
    if key is None or build.is_symlink() or not build.is_dir():
        return
    stamp = {"hmac_sha256": _stamp_mac(key, manifest, _build_files(project_dir))}
    partial = build / f".{BUILD_STAMP}.{os.urandom(6).hex()}.tmp"
    partial.write_text(json.dumps(stamp) + "\n", encoding="ascii")
    os.replace(partial, build / BUILD_STAMP)


def describe_problems(problems: list[str]) -> str:
    """The first few problems, joined, with a count of the rest."""
    shown = "; ".join(problems[:SHOWN_PROBLEMS])
    rest = len(problems) - SHOWN_PROBLEMS
    return shown + (f"; and {rest} more" if rest > 0 else "")
