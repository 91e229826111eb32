"""The real CLI under hostile process environments: an unusable HOME, a POSIX locale or an ASCII
terminal, file names that are not UTF-8, names that look like rich markup, a full TMPDIR.

Every run must end with the expected exit code and message, print no traceback and no "internal
error", and write files that are valid UTF-8. Hand-made models only (no TensorFlow).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator import environment
from generator.cli import app
from generator.errors import OutputError
from tests.support import badgen

pytestmark = pytest.mark.unit

CLI = [sys.executable, "-m", "generator.cli"]
ROOT = Path(__file__).resolve().parents[1]
BOARD = ["--board", "qemu_mps2_an386", "--app", "kws"]


def run(args: Sequence[str | bytes], cwd: Path, env: dict[str, str] | None = None,
        drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a subprocess, its output as bytes (the terminal may not be UTF-8)."""
    base = {k: v for k, v in os.environ.items() if k not in drop}
    res = subprocess.run([*CLI, *args], capture_output=True, check=False, timeout=300, cwd=cwd,
                         env={**base, "PYTHONPATH": str(ROOT), **(env or {})})
    text = res.stdout + res.stderr
    assert b"Traceback" not in text and b"internal error" not in text, text.decode(errors="replace")
    return res


def said(res: subprocess.CompletedProcess[bytes]) -> str:
    """All the run printed, with runs of whitespace collapsed."""
    return " ".join((res.stdout + res.stderr).decode("utf-8", "replace").split())


def assert_utf8_tree(root: Path) -> None:
    """Every generated text file decodes as UTF-8 (the model flatbuffers are binary)."""
    for path in root.rglob("*"):
        if path.is_file() and path.suffix != ".tflite":
            path.read_bytes().decode("utf-8")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "fc.tflite").write_bytes(badgen.fc_model((1, 490), 4).build())
    return tmp_path


# ---- HOME -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("home", ["/dev/null", "unset", "a-file", "missing"])
def test_an_unusable_home_still_compiles(work: Path, home: str) -> None:
    env = {"HOME": {"/dev/null": "/dev/null", "a-file": str(work / "fc.tflite"),
                    "missing": str(work / "no" / "home")}.get(home, "")}
    res = run(["compile", "fc.tflite", "-o", "out"], work, env if home != "unset" else None,
              drop=("HOME",) if home == "unset" else ())
    assert res.returncode == 0, said(res)
    assert (work / "out" / "model.c").is_file()


def test_plan_and_generate_with_home_dev_null(work: Path) -> None:
    for args in (["plan", "fc.tflite", "-o", "plan"], ["generate", "fc.tflite", *BOARD, "-o", "p"]):
        res = run(args, work, {"HOME": "/dev/null"}, drop=environment.CACHE_VARIABLES)
        assert res.returncode == 0, said(res)
        assert "MPLCONFIGDIR" not in said(res) and "Matplotlib" not in said(res)  # no cache noise
    assert (work / "plan" / "fc.plan.png").is_file() and (work / "p" / "mcuforge.json").is_file()


def test_an_unusable_home_gets_private_cache_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment.CACHE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERAS_HOME", "/the/users/choice")
    monkeypatch.setenv("HOME", "/dev/null")
    chosen = environment.safe_environment()
    assert sorted(chosen) == ["MPLCONFIGDIR", "XDG_CACHE_HOME"]
    assert all(Path(os.environ[name]).is_dir() for name in chosen)
    assert os.environ["KERAS_HOME"] == "/the/users/choice"
    monkeypatch.setenv("HOME", str(Path.home() if environment.home_is_usable(str(Path.home()))
                                   else "/tmp"))
    assert environment.safe_environment() == {}


# ---- locale, terminal encoding, file names that are not UTF-8 ---------------------------------------------


LOCALES = [{"LC_ALL": "C"}, {"LANG": "C"}, {"LC_ALL": "POSIX", "PYTHONIOENCODING": "ascii:strict"}]


@pytest.mark.parametrize("env", LOCALES, ids=["LC_ALL=C", "LANG=C", "ascii-terminal"])
def test_names_that_are_not_utf8_under_a_posix_locale(work: Path, env: dict[str, str]) -> None:
    os.rename(work / "fc.tflite", os.fsencode(work) + b"/m\xff.tflite")
    res = run([b"compile", b"m\xff.tflite", b"-o", b"o\xff"], work, env)
    assert res.returncode == 0, said(res)
    assert "wrote o\\xff" in said(res)
    assert_utf8_tree(Path(os.fsdecode(os.fsencode(work) + b"/o\xff")))
    res = run([b"generate", b"m\xff.tflite", *BOARD, b"-o", b"p\xff"], work, env)
    assert res.returncode == 0, said(res)
    assert_utf8_tree(Path(os.fsdecode(os.fsencode(work) + b"/p\xff")))
    res = run([b"compile", b"gone\xff.tflite", b"-o", b"q"], work, env)
    assert res.returncode == 2 and "gone\\xff.tflite: no such file or directory" in said(res)
    res = run([b"compile", b"m\xff.tflite", b"-o", b"o\xff"], work, env)
    assert res.returncode == 4 and "o\\xff: already exists and is not empty" in said(res)


def test_plan_of_a_model_whose_name_is_not_utf8_or_mathtext(work: Path) -> None:
    for name in (b"m\xff.tflite", b"x$\\frac$.tflite"):
        (Path(os.fsdecode(os.fsencode(work) + b"/" + name))).write_bytes(
            (work / "fc.tflite").read_bytes())
        res = run([b"plan", name, b"-o", b"plans"], work, {"LC_ALL": "C"})
        assert res.returncode == 0, said(res)
    assert len(list((work / "plans").glob("*.plan.png"))) == 2


# ---- names that look like rich markup -----------------------------------------------------------------------


MARKUP = ["[/x]", "[bold]", "[red]x[/red", "[link=file:///etc/passwd]"]


def test_markup_in_paths_is_printed_as_it_is(work: Path) -> None:
    folder = work / "d[bold]a["
    folder.mkdir()
    model = folder / "x]m.tflite"  # the path holds "[/x]"
    os.rename(work / "fc.tflite", model)
    res = run(["compile", str(model), "-o", "o[red]"], work)
    assert res.returncode == 0, said(res)
    assert "x]m.tflite" in said(res) and "wrote o[red]" in said(res)
    res = run(["compile", "d[bold]a[/x]gone.tflite", "-o", "o2"], work)
    assert res.returncode == 2 and "d[bold]a[/x]gone.tflite: no such file" in said(res)
    res = run(["generate", str(model), *BOARD, "-o", "p[/x]"], work)
    assert res.returncode == 0, said(res)
    assert "wrote p[/x]" in said(res)
    res = run(["compile", str(model), "-o", "o[red]"], work)
    assert res.returncode == 4 and "o[red]: already exists and is not empty" in said(res)


def test_markup_in_tensor_names_is_printed_as_it_is(work: Path) -> None:
    m = badgen.fc_model((1, 490), 4)
    for tensor, name in zip(m.tensors, MARKUP, strict=True):
        tensor.name = name
    (work / "names.tflite").write_bytes(m.build())
    res = run(["plan", "names.tflite", "-o", "plans"], work)
    assert res.returncode == 0, said(res)
    assert "[link=file:///etc/passwd]" in said(res)  # the output tensor, in the table


# ---- TMPDIR -------------------------------------------------------------------------------------------------


@pytest.fixture
def full_tmpdir(tmp_path: Path) -> Iterator[Path | None]:
    """A 64 KB tmpfs to use as TMPDIR (root only); None when this machine does not allow it."""
    where = tmp_path / "tmpfull"
    where.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "mcuforge-tmpfull", str(where)],
        capture_output=True, check=False).returncode == 0
    yield where if mounted else None
    if mounted:
        subprocess.run(["umount", str(where)], capture_output=True, check=False)


def test_a_full_tmpdir_is_an_output_error(work: Path, full_tmpdir: Path | None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["generate", str(work / "fc.tflite"), *BOARD, "-o", str(work / "p")]
    if full_tmpdir is not None:
        res = run(args, work, {"TMPDIR": str(full_tmpdir)})
        code, text = res.returncode, said(res)
    else:  # no mount allowed: the same ENOSPC from the scratch folder, simulated
        def no_space(*args: object, **kwargs: object) -> str:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr("generator.environment.tempfile.mkdtemp", no_space)
        out = CliRunner().invoke(app, args)
        code, text = out.exit_code, " ".join(out.output.split())
    assert code == 4, text
    assert "the temporary folder cannot be used (No space left on device)" in text
    assert "set TMPDIR to a writable folder" in text
    assert not (work / "p").exists()
    assert full_tmpdir is None or list(full_tmpdir.iterdir()) == []


def test_a_missing_tmpdir_falls_back(work: Path) -> None:
    res = run(["generate", "fc.tflite", *BOARD, "-o", "p"], work, {"TMPDIR": str(work / "none")})
    assert res.returncode == 0, said(res)


def test_scratch_errors_outside_the_folder_are_not_blamed_on_it(tmp_path: Path) -> None:
    with pytest.raises(PermissionError), environment.scratch_dir("t-") as tmp:
        assert tmp.is_dir()
        raise PermissionError(errno.EACCES, "Permission denied", "/elsewhere/file")
    with pytest.raises(OutputError, match="temporary folder cannot be used"), \
            environment.scratch_dir("t-") as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "x"))
