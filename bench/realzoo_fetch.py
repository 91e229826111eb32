"""Re-extract the real-model zoo (``bench/realzoo_manifest.json``) from git mirrors and check each file.

Each manifest entry names a public repository, a commit, a path and the file's sha256. The mirrors are
bare git directories, one per repository, at ``MIRRORS/<owner>+<name>/repo`` (the layout the search
tool's fetch leaves); files are read with ``git show COMMIT:PATH`` and written as ``NAME.tflite``.

    python -m bench.realzoo_fetch /work/realzoo-models --mirrors /work/.mirror
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent / "realzoo_manifest.json"
LFS_POINTER = b"version https://git-lfs.github.com/spec/"


@dataclass(frozen=True)
class Entry:
    name: str
    repository: str
    commit: str
    path: str
    sha256: str


def load_manifest(path: Path = MANIFEST) -> list[Entry]:
    doc = json.loads(path.read_text())
    return [Entry(m["name"], m["repository"], m["commit"], m["path"], m["sha256"]) for m in doc["models"]]


def git_dir(mirrors: Path, repository: str) -> Path:
    return mirrors / repository.replace("/", "+") / "repo"


def extract(entry: Entry, mirrors: Path) -> bytes:
    """The file's bytes at its commit; raises ValueError with the reason when it cannot be had."""
    gd = git_dir(mirrors, entry.repository)
    if not gd.is_dir():
        raise ValueError(f"no mirror of {entry.repository} at {gd}")
    res = subprocess.run(["git", f"--git-dir={gd}", "show", f"{entry.commit}:{entry.path}"],
                         capture_output=True, check=False)
    if res.returncode != 0:
        raise ValueError(res.stderr.decode(errors="replace").strip().splitlines()[0])
    if res.stdout.startswith(LFS_POINTER):
        raise ValueError("a Git LFS pointer, not the model")
    digest = hashlib.sha256(res.stdout).hexdigest()
    if digest != entry.sha256:
        raise ValueError(f"sha256 {digest} differs from the manifest's {entry.sha256}")
    return res.stdout


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.realzoo_fetch", description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="folder to write NAME.tflite files into")
    p.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"),
                   help="folder of bare git mirrors, <owner>+<name>/repo (default: /work/.mirror)")
    p.add_argument("--manifest", type=Path, default=MANIFEST)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for entry in load_manifest(args.manifest):
        try:
            data = extract(entry, args.mirrors)
        except ValueError as exc:
            failed += 1
            print(f"FAIL {entry.name}: {exc}", file=sys.stderr)
            continue
        (args.out / f"{entry.name}.tflite").write_bytes(data)
        print(f"ok   {entry.name} ({len(data)} bytes)")
    print(f"{failed} failed" if failed else "all files match the manifest")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
