"""Makers of projects ``mcuforge run`` must refuse (tests/bad_inputs/expected_run.yaml).

Most start from a real generated project (a one-layer kws model on qemu_mps2_an386, signed with
this user's key) and then change what an attacker would: a build script added to platformio.ini,
another upload_command, a PlatformIO library with an extra script (in lib/ or in a shipped .pio/),
a manifest re-signed with a key of their own. The others are manifests that are no regular file, too large, or not JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.project import trust
from generator.project.generate import generate_project
from generator.project.options import AppKind, GenerateOptions

TARGETS = {"run_env": "qemu_mps2_an386", "emulated_envs": ["qemu_mps2_an386"],
           "platformio_envs": ["qemu_mps2_an386"]}


def generated(path: Path) -> Path:
    """A real project at ``path``, generated from a one-layer kws model next to it."""
    from tests.support.badgen import fc_model  # badgen imports this module: import it late

    model = path.with_name(path.name + ".model.tflite")
    model.write_bytes(fc_model((1, 490), 4).build())
    generate_project(GenerateOptions(model=model, board="qemu_mps2_an386", app=AppKind.KWS), path)
    return path


def _changed(change: Callable[[Path], None]) -> Callable[[Path], object]:
    def make(path: Path) -> None:
        change(generated(path))
    return make


def _append_to_ini(project: Path, text: str) -> None:
    ini = project / "platformio.ini"
    ini.write_text(ini.read_text(encoding="utf-8") + text, encoding="utf-8")


def _extra_script(project: Path) -> None:
    _append_to_ini(project, "extra_scripts = pre:build_helper.py\n")
    (project / "build_helper.py").write_text("open('/tmp/mcuforge-run-pwned', 'w')\n")


def _upload_command(project: Path) -> None:
    ini = project / "platformio.ini"
    text = ini.read_text(encoding="utf-8")
    start = text.index("upload_command =")
    end = text.index("\n", start)
    ini.write_text(text[:start] + "upload_command = touch /tmp/mcuforge-run-pwned" + text[end:],
                   encoding="utf-8")


def _library_script(project: Path) -> None:
    lib = project / "lib" / "helper"
    lib.mkdir(parents=True)
    (lib / "library.json").write_text('{"name": "helper", "build": {"extraScript": "x.py"}}\n')
    (lib / "x.py").write_text("open('/tmp/mcuforge-run-pwned', 'w')\n")


def _shipped_build_dir(project: Path) -> None:
    """A .pio/ that came with the project: a library with a build script where PlatformIO looks."""
    lib = project / ".pio" / "libdeps" / "qemu_mps2_an386" / "helper"
    lib.mkdir(parents=True)
    (lib / "library.json").write_text('{"name": "helper", "build": {"extraScript": "x.py"}}\n')
    (lib / "x.py").write_text("open('/tmp/mcuforge-run-pwned', 'w')\n")


def _resigned(project: Path) -> None:
    """platformio.ini changed, its hash updated, the manifest signed with another key."""
    _extra_script(project)
    manifest: dict[str, Any] = json.loads((project / "mcuforge.json").read_text())
    manifest["files"] = trust.file_hashes(
        {p.relative_to(project).as_posix(): p.read_bytes() for p in project.rglob("*")
         if p.is_file() and p.name != "mcuforge.json"})
    manifest["signature"] = {"hmac_sha256": trust.signature(manifest, b"another machine's key")}
    (project / "mcuforge.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _manifest(path: Path, text: str | bytes) -> None:
    path.mkdir()
    data = text.encode() if isinstance(text, str) else text
    (path / "mcuforge.json").write_bytes(data)


def _fifo_manifest(path: Path) -> None:
    path.mkdir()
    os.mkfifo(path / "mcuforge.json")


def _huge_manifest(path: Path) -> None:
    """A sparse 64 MiB mcuforge.json: far beyond any manifest, and nothing to read on disk."""
    path.mkdir()
    with open(path / "mcuforge.json", "wb") as stream:
        stream.truncate(64 << 20)


MAKERS: dict[str, Callable[[Path], object]] = {
    "run_project_extra_script": _changed(_extra_script),
    "run_project_upload_command": _changed(_upload_command),
    "run_project_library_script": _changed(_library_script),
    "run_project_resigned": _changed(_resigned),
    "run_project_shipped_build_dir": _changed(_shipped_build_dir),
    "run_project_unsigned": lambda path: _manifest(path, json.dumps({"targets": TARGETS})),
    "run_project_forged_signature": lambda path: _manifest(path, json.dumps(
        {"targets": TARGETS, "files": {}, "signature": {"hmac_sha256": "0" * 64}})),
    "run_manifest_fifo": _fifo_manifest,
    "run_manifest_huge": _huge_manifest,
    "run_manifest_not_utf8": lambda path: _manifest(path, b'{"targets": "\xff\xfe"}'),
    "run_manifest_deep": lambda path: _manifest(path, "[" * 100_000 + "]" * 100_000),
    "run_project_is_a_file": lambda path: path.write_text("not a folder\n"),
}
