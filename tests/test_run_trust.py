"""`mcuforge run` builds and runs only what this user's mcuforge generated, unchanged.

A project is generated (a one-layer kws model, no TensorFlow) with a per-user key in a private
config folder; then its files are changed, added, removed or replaced by links, or its manifest is
re-signed, stripped or copied to another user. Every such project is refused before PlatformIO is
started (the build is replaced by a tripwire), with the differences named and the --trust-project
hint; with --trust-project it is built after a warning.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.errors import InputError
from generator.project import run as run_module
from generator.project import trust
from generator.project.generate import generate_project
from generator.project.options import AppKind, GenerateOptions
from generator.project.run import check_project
from tests.support.badgen import fc_model

pytestmark = pytest.mark.unit
runner = CliRunner()


class Tripwire(Exception):
    """Raised instead of building: the check let the project through."""


@pytest.fixture(autouse=True)
def _private_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config / "mcuforge" / trust.KEY_FILE


@pytest.fixture(autouse=True)
def _no_build(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    built: list[Path] = []

    def _tripwire(project_dir: Path, env: str, core_dir: Path | None = None) -> Path:
        built.append(project_dir)
        raise Tripwire(str(project_dir))

    monkeypatch.setattr(run_module, "build", _tripwire)
    return built


def _generate(tmp_path: Path, name: str = "project") -> Path:
    model = tmp_path / "kws_fc.tflite"
    model.write_bytes(fc_model((1, 490), 4).build())
    out = tmp_path / name
    generate_project(GenerateOptions(model=model, board="qemu_mps2_an386", app=AppKind.KWS), out)
    return out


def _refusal(project: Path) -> str:
    with pytest.raises(InputError) as caught:
        check_project(project)
    assert "--trust-project" in caught.value.hint
    return caught.value.message


def test_a_generated_project_passes(tmp_path: Path, _private_key: Path) -> None:
    project = _generate(tmp_path)
    assert check_project(project) == []
    manifest = json.loads((project / "mcuforge.json").read_text())
    assert set(manifest["files"]) == {p.relative_to(project).as_posix()
                                      for p in project.rglob("*")
                                      if p.is_file() and p.name != "mcuforge.json"}
    assert len(manifest["signature"]["hmac_sha256"]) == 64
    assert _private_key.stat().st_mode & 0o777 == 0o600


def test_a_build_folder_counts_only_as_mcuforge_run_left_it(tmp_path: Path) -> None:
    project = _generate(tmp_path)
    manifest = json.loads((project / "mcuforge.json").read_text())
    build = project / ".pio" / "build" / "qemu_mps2_an386"
    build.mkdir(parents=True)
    (build / "firmware.elf").write_bytes(b"\x7fELF")
    assert ".pio/ was not left by mcuforge run" in _refusal(project)  # shipped with the project
    trust.stamp_build_dir(project, manifest)  # what a build by mcuforge run leaves
    assert check_project(project) == []
    libdeps = project / ".pio" / "libdeps" / "qemu_mps2_an386" / "helper"
    libdeps.mkdir(parents=True)
    (libdeps / "library.json").write_text('{"build": {"extraScript": "x.py"}}')
    assert ".pio/ was changed since mcuforge run built it" in _refusal(project)


def test_an_extra_script_is_refused_before_any_build(tmp_path: Path, _no_build: list[Path]
                                                     ) -> None:
    project = _generate(tmp_path)
    ini = project / "platformio.ini"
    ini.write_text(ini.read_text() + "extra_scripts = pre:evil.py\n")
    (project / "evil.py").write_text("open('pwned', 'w')\n")
    result = runner.invoke(app, ["run", str(project)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "it is not the project mcuforge generated" in text
    assert "evil.py was added" in text and "platformio.ini was changed" in text
    assert "--trust-project" in text and "Traceback" not in text
    assert _no_build == [] and not (project / ".pio").exists()


@pytest.mark.parametrize("change", ["edit", "remove", "link", "add_lib", "fifo"])
def test_every_kind_of_change_is_named(tmp_path: Path, change: str) -> None:
    project = _generate(tmp_path)
    main_c = project / "src" / "main.c"
    if change == "edit":
        main_c.write_text(main_c.read_text() + "\n/* changed */\n")
        expected = "src/main.c was changed"
    elif change == "remove":
        main_c.unlink()
        expected = "src/main.c is missing"
    elif change == "link":
        target = tmp_path / "main.c"
        target.write_bytes(main_c.read_bytes())  # the same bytes, but through a link
        main_c.unlink()
        main_c.symlink_to(target)
        expected = f"src/main.c was changed (a symbolic link to {target})"
    elif change == "add_lib":
        (project / "lib" / "evil").mkdir(parents=True)
        (project / "lib" / "evil" / "library.json").write_text('{"build": {"extraScript": "x.py"}}')
        expected = "lib/evil/library.json was added"
    else:
        os.mkfifo(project / "src" / "pipe")
        expected = "src/pipe was added (not a regular file)"
    assert expected in _refusal(project)


def test_a_manifest_signed_with_another_key_is_foreign(tmp_path: Path, _private_key: Path
                                                       ) -> None:
    project = _generate(tmp_path)
    _private_key.write_text(os.urandom(trust.KEY_BYTES).hex())  # another machine's key
    assert "not signed by this user's mcuforge" in _refusal(project)


def test_a_resigned_manifest_is_foreign(tmp_path: Path) -> None:
    """The attacker changes a file, updates its hash and signs with a key of their own."""
    project = _generate(tmp_path)
    ini = project / "platformio.ini"
    ini.write_text(ini.read_text() + "extra_scripts = pre:evil.py\n")
    manifest = json.loads((project / "mcuforge.json").read_text())
    manifest["files"]["platformio.ini"] = trust.file_hashes({"x": ini.read_bytes()})["x"]
    manifest["signature"] = {"hmac_sha256": trust.signature(manifest, b"attacker's key")}
    (project / "mcuforge.json").write_text(json.dumps(manifest))
    message = _refusal(project)
    assert "not signed by this user's mcuforge" in message and "was changed" not in message


def test_an_unsigned_manifest_is_foreign(tmp_path: Path) -> None:
    project = _generate(tmp_path)
    manifest = json.loads((project / "mcuforge.json").read_text())
    del manifest["signature"], manifest["files"]
    (project / "mcuforge.json").write_text(json.dumps(manifest))
    message = _refusal(project)
    assert "mcuforge.json is not signed" in message and "lists no file hashes" in message


def test_without_a_home_nothing_is_signed_and_nothing_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", "/dev/null")
    warned: list[str] = []
    monkeypatch.setattr(trust._log, "warning", lambda text, *args: warned.append(text % args))
    project = _generate(tmp_path)
    assert len(warned) == 1 and "the project is unsigned" in warned[0]
    assert json.loads((project / "mcuforge.json").read_text())["signature"] is None
    assert "mcuforge.json is not signed" in _refusal(project)


@pytest.mark.parametrize("mode", [0o644, 0o600])
def test_a_key_others_can_read_or_a_linked_key_is_not_used(
        tmp_path: Path, _private_key: Path, mode: int) -> None:
    project = _generate(tmp_path)
    if mode == 0o644:
        _private_key.chmod(mode)
    else:
        moved = tmp_path / "moved-key"
        _private_key.rename(moved)
        _private_key.symlink_to(moved)
    assert "there is no mcuforge key for this user" in _refusal(project)
    assert trust.project_key(create=True) is None  # nor replaced by a new one


def test_trust_project_warns_and_builds(tmp_path: Path, _no_build: list[Path]) -> None:
    project = _generate(tmp_path)
    (project / "evil.py").write_text("")
    result = runner.invoke(app, ["run", str(project), "--trust-project"])
    assert isinstance(result.exception, Tripwire)  # it went on to the build
    assert _no_build == [project]
    text = " ".join(result.output.split())
    assert "warning:" in text and "evil.py was added" in text


def test_regeneration_keeps_the_signature(tmp_path: Path) -> None:
    first = (_generate(tmp_path) / "mcuforge.json").read_bytes()
    second = (_generate(tmp_path, "again") / "mcuforge.json").read_bytes()
    assert first == second and json.loads(first)["signature"] is not None


def test_the_first_key_wins_a_race(tmp_path: Path, _private_key: Path) -> None:
    first = trust.project_key(create=True)
    assert first is not None and len(first) == trust.KEY_BYTES
    trust._create_key(_private_key)  # a second writer finds a key there and leaves it
    assert trust.project_key(create=True) == first
    assert [p.name for p in _private_key.parent.iterdir()] == [trust.KEY_FILE]
