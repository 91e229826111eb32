"""Every bad input of tests/bad_inputs/expected.yaml through the CLI: a message, an exit code, and
nothing written.

Besides the corpus: the invalid board fixtures of tests/boards_invalid/ through ``generate --board``,
and unit checks of the structural graph checks on hand-made flatbuffers.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from generator.errors import ModelFormatError
from generator.importer.tflite_reader import read_tflite
from tests.support import badgen

CORPUS = Path(__file__).parent / "bad_inputs"
BOARDS_INVALID = Path(__file__).parent / "boards_invalid"
ENTRIES: dict[str, dict[str, Any]] = {}
for _file in sorted(CORPUS.glob("expected*.yaml")):  # expected.yaml and one file per track
    for _name, _entry in (yaml.safe_load(_file.read_text()) or {}).items():
        if _name in ENTRIES:
            raise ValueError(f"{_file.name}: case {_name} is defined twice")
        ENTRIES[_name] = _entry
BOARD_MESSAGES: dict[str, str] = yaml.safe_load((BOARDS_INVALID / "expected.yaml").read_text())
runner = CliRunner()


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    exit: int
    message: str
    setup: str | None = None
    early: str | None = None


def _cases() -> Iterator[Any]:
    for name, entry in ENTRIES.items():
        case = Case(tuple(str(a) for a in entry["args"]), entry["exit"], entry["message"],
                    entry.get("setup"), entry.get("early"))
        names = {m for a in case.args for m in re.findall(r"\{in:([^}]+)\}", a)}
        uses_tf = bool(names & badgen.MADE_WITH_TENSORFLOW) or any(
            n.endswith((".keras", ".h5")) for n in names)
        marks = [pytest.mark.tflite if uses_tf else pytest.mark.unit]
        if "xfail" in entry:
            marks.append(pytest.mark.xfail(strict=True, reason=entry["xfail"]))
        yield pytest.param(case, id=name, marks=marks)
    for fixture, message in sorted(BOARD_MESSAGES.items()):
        args = ("generate", "{in:image_32x32x3.tflite}", "--board", str(BOARDS_INVALID / fixture),
                "--app", "vww", "-o", "{out}")
        yield pytest.param(Case(args, 2, message), id=f"boards_invalid/{fixture}",
                           marks=pytest.mark.unit)


# ---- inputs and the output location -------------------------------------------------------------------


class Inputs:
    """The corpus files: committed ones from tests/bad_inputs/, the others made once per session."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        committed = CORPUS / name
        if committed.is_file():
            return committed
        made = self.folder / name
        if not made.exists():
            badgen.MAKERS[name](made)
        return made


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return Inputs(tmp_path_factory.mktemp("bad_inputs"))


def _mount(kind: str, where: Path, options: str) -> bool:
    """Mount a tmpfs (root only); False when this machine does not allow it."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, kind, str(where)],
                         capture_output=True, check=False)
    return res.returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True, check=False)


class Workspace:
    """Prepares ``{out}`` as the entry's setup asks, and undoes any mount afterwards."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.mounts: list[Path] = []

    def out(self, setup: str | None) -> Path:
        out = self.root / "out"
        if setup == "existing":
            out.mkdir()
            (out / "model.c").write_text("/* the previous engine */\n")
        elif setup == "is_file":
            out.write_text("a file where the output directory should go\n")
        elif setup == "parent_is_file":
            (self.root / "parent").write_text("a file\n")
            out = self.root / "parent" / "out"
        elif setup == "read_only":
            if not _mount("mcuforge-ro", self.root / "ro", "ro,size=64k"):
                pytest.skip("a read-only location needs a tmpfs mount (root); chmod does not stop root")
            self.mounts.append(self.root / "ro")
            out = self.root / "ro" / "out"
        elif setup == "full":
            out = self._full()
        elif setup == "proc":
            out = Path("/proc/mcuforge-bad-inputs-out")
        else:
            from tests.support.badgen_output import SETUPS  # the output track's setups

            if setup in SETUPS:
                out = SETUPS[setup](self)
        return out

    def _full(self) -> Path:
        where = self.root / "full"
        if _mount("mcuforge-full", where, "size=64k"):
            self.mounts.append(where)
            return where / "out"
        # no mount allowed: the same ENOSPC from the file writes, simulated
        from generator import output

        def no_space(path: Path, content: str | bytes) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

        self.monkeypatch.setattr(output, "_write_file", no_space)
        return where / "out"

    def close(self) -> None:
        for where in self.mounts:
            _umount(where)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    ws = Workspace(tmp_path / "work", monkeypatch)
    ws.root.mkdir()
    yield ws
    ws.close()


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a digest of its content (directories as '/')."""
    if not root.exists():
        return {}
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "/" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def matches(expected: str, text: str) -> bool:
    pattern = ".*?".join(re.escape(normalise(part)) for part in expected.split("*"))
    return re.search(pattern, normalise(text)) is not None


def _expand(arg: str, inputs: Inputs, out: Path) -> str:
    arg = re.sub(r"\{in:([^}]+)\}", lambda m: str(inputs.path(m.group(1))), arg)
    return arg.replace("{out}", str(out)).replace("{dir}", str(inputs.folder))


# ---- the corpus ----------------------------------------------------------------------------------------


# A case marked `early: STAGE` must be refused before that stage runs: these stand in for it.
EARLY_STAGES = {
    "plan": ("generator.compiler.search_splits", "generator.compiler.build_program"),
    "render": ("generator.project.generate.render_sets",),
    "build": ("generator.project.run.build",),  # mcuforge run: PlatformIO would start here
}


def _reached(stage: str) -> Any:
    def stand_in(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the run reached the {stage} stage before refusing the input")

    return stand_in


@pytest.mark.parametrize("case", list(_cases()))
def test_bad_input_gives_its_message_and_exit_code(case: Case, inputs: Inputs,
                                                   workspace: Workspace,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = workspace.out(case.setup)
    for target in EARLY_STAGES.get(case.early or "", ()):
        monkeypatch.setattr(target, _reached(case.early or ""))
    args = [_expand(a, inputs, out) for a in case.args]
    watched = workspace.root if out.is_relative_to(workspace.root) else out
    before = snapshot(watched)
    markers = badgen.attack_markers()
    for marker in markers:
        marker.unlink(missing_ok=True)
    res = runner.invoke(app, args)
    text = res.output
    assert not [m for m in markers if m.exists()], "an attack's command ran"
    assert "Traceback" not in text and "internal error" not in text, text
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == case.exit, f"exit {res.exit_code}, expected {case.exit}:\n{text}"
    assert matches(case.message, text), f"expected: {case.message}\nactual: {normalise(text)}"
    assert snapshot(watched) == before, "the output location changed"


@pytest.mark.unit
def test_every_corpus_file_is_used() -> None:
    used = {m for e in ENTRIES.values() for a in e["args"]
            for m in re.findall(r"\{in:([^}]+)\}", str(a))}
    committed = {p.name for p in CORPUS.glob("*") if not p.match("expected*.yaml")}
    assert committed <= used, f"unused corpus files: {committed - used}"
    missing = used - committed - set(badgen.MAKERS)
    assert not missing, f"no file or maker for {missing}"


@pytest.mark.unit
@pytest.mark.parametrize("name", ["model[/red].tflite", "x[bold]y.tflite"])
def test_names_that_look_like_markup_are_printed_as_they_are(name: str, tmp_path: Path) -> None:
    res = runner.invoke(app, ["compile", str(tmp_path / name), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and f"{name}: no such file or directory" in normalise(res.output), \
        res.output


# ---- structural checks of the reader on hand-made flatbuffers ------------------------------------------


@pytest.mark.unit
def test_hand_made_models_are_valid() -> None:
    from generator.compiler import compile_graph

    for builder in (badgen.fc_model(), badgen.conv_model(), badgen.conv_model(stride=2)):
        data = builder.build()
        compile_graph(read_tflite(data), data)


def _broken(**changes: dict[str, Any]) -> bytes:
    """The one-CONV_2D model of badgen with tensor fields changed (t0 input, t1 filter, t2 output)."""
    m = badgen.conv_model()
    for tensor, fields in changes.items():
        for name, value in fields.items():
            setattr(m.tensors[int(tensor[1:])], name, value)
    return m.build()


@pytest.mark.unit
@pytest.mark.parametrize(("data", "message"), [
    (_broken(t1={"shape": (4, 3, 3, 3), "data": bytes(108)}),
     "operator 0 CONV_2D 'conv_out': filter 'filter' (4, 3, 3, 3) does not match input (1, 8, 8, 2)"),
    (_broken(t2={"shape": (1, 6, 6, 5)}), "output 'conv_out' (1, 6, 6, 5) does not match filter"),
    (_broken(t2={"shape": (1, 7, 6, 4)}), "output 'conv_out' is 7x6, its input and window give 6x6"),
    (_broken(t0={"shape": (1, 8, 8)}), "input 'input' has shape (1, 8, 8), expected 4 dimensions"),
    (_broken(t0={"shape": (1, 0, 8, 2)}), "tensor 'input': has an empty dimension"),
    (_broken(t2={"zero_point": (300,)}), "tensor 'conv_out': has a zero point outside -128..127"),
    (_broken(t2={"scale": (float("nan"),)}), "tensor 'conv_out': has quantisation scale(s) outside"),
    (_broken(t1={"scale": (0.1, 0.2), "zero_point": (0, 0)}),
     "tensor 'filter': has 2 per-channel scales along axis 0"),
    (_broken(t1={"data": None}), "operator 0 CONV_2D 'conv_out': reads tensor 'filter' before any "
                                 "operator writes it"),
    (_broken(t0={"data": bytes(128)}), "model input 'input' is a constant"),
], ids=["filter-channels", "output-channels", "output-size", "rank", "empty-dim", "zero-point",
        "nan-scale", "per-channel-count", "filter-not-const", "const-input"])
def test_structural_problems_name_the_operator_or_tensor(data: bytes, message: str) -> None:
    with pytest.raises(ModelFormatError) as err:
        read_tflite(data, "m.tflite")
    assert message in err.value.message


@pytest.mark.unit
def test_grouped_convolution_is_unsupported_not_corrupt() -> None:
    from generator.errors import UnsupportedOpsError

    m = badgen.conv_model(channels=4)
    m.tensors[1].shape, m.tensors[1].data = (4, 3, 3, 2), bytes(72)
    with pytest.raises(UnsupportedOpsError, match="grouped convolution"):
        read_tflite(m.build())
