"""Generated files read back by their own parsers show outside strings as values and nothing more.

The engine (model.h / model.c) with hostile tensor, operator and source names, and a whole
project (every project template) with hostile board text, model file name, labels, capture notes
and replay description: each file is parsed by its own reader (gcc's preprocessor with trigraphs
and line splicing, dtc, PlatformIO's config parser, cmake, markdown-it) and must give exactly what the
file made from harmless strings gives, except for the string literals holding the labels.

The project templates are rendered here with a Jinja environment set up as cookiecutter sets up
its own (checked against cookiecutter's output for the harmless context), so one hypothesis
example costs a few tool runs instead of a project generation.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from typer.testing import CliRunner

from generator.cli import app
from generator.codegen.emit import emit_engine
from generator.compiler import CompiledModel, compile_graph
from generator.engine_files import runtime_files
from generator.importer.tflite_reader import read_tflite
from generator.project import generate
from generator.project.generate import Project, build_project
from generator.project.options import AppKind, GenerateOptions
from generator.project.render import projects_dir, render_sets
from generator.templating import EncoderFilters
from tests.support.badgen import fc_model
from tests.test_encoders import (
    BASE,
    HARMLESS,
    _bytes,
    _flat,
    _markdown,
    _parse_ini,
    c_tokens,
    cmake_commands,
    decode_c_string,
    evil_text,
    preprocess,
)

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("cmake") is None,
                                reason="needs gcc and cmake")
runner = CliRunner()
BOARD = "nano33ble_sense"  # Arduino and Zephyr variants beside the emulated one
SETS = ("common", "platformio", "kws", "zephyr")


# ---- the engine ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine_model() -> CompiledModel:
    data = fc_model((1, 8), 4).build()
    return compile_graph(read_tflite(data), data, source="model.tflite")


def _engine(model: CompiledModel, name: str) -> dict[str, str]:
    """model.h / model.c with every model-given name (tensors, operators, file) set to ``name``."""
    s = model.schedule
    schedule = dataclasses.replace(
        s, inputs=tuple(dataclasses.replace(io, name=name) for io in s.inputs),
        outputs=tuple(dataclasses.replace(io, name=name) for io in s.outputs),
        calls=tuple(dataclasses.replace(c, comment=f"FULLY_CONNECTED {name}") for c in s.calls))
    return emit_engine(schedule, model.layout, source=name).files()


@pytest.mark.hostc
@settings(parent=BASE, max_examples=60)
@given(name=evil_text)
def test_engine_names_stay_in_comments(name: str, engine_model: CompiledModel,
                                       tmp_path: Path) -> None:
    evil, harmless = _engine(engine_model, name), _engine(engine_model, HARMLESS)
    for file in ("model.h", "model.c"):
        assert c_tokens(preprocess(evil[file], tmp_path)) == \
            c_tokens(preprocess(harmless[file], tmp_path)), file
    src = tmp_path / "engine"
    src.mkdir(exist_ok=True)
    for rel, text in {**runtime_files(), **evil}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(_bytes(text))
    _syntax_only(src / "model.c", src, src / "mcuf")


def _syntax_only(path: Path, *include: Path) -> None:
    res = subprocess.run(["gcc", "-std=c99", "-fsyntax-only", "-Werror=comment",
                          *[f"-I{d}" for d in include], str(path)], capture_output=True,
                         check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")


@pytest.mark.hostc
def test_a_tensor_name_that_ends_its_comment_compiles_inert(tmp_path: Path) -> None:
    """The reported attack: a tensor name of ``*\\``, a newline and ``/ int evil;``: `mcuforge
    compile` succeeds and gcc sees the same engine as for a plain name."""
    outs = {}
    for label, name in (("evil", "x*\\\n/ int evil;"), ("plain", "plain")):
        model = fc_model((1, 8), 4)
        model.tensors[model.inputs[0]].name = name
        path = tmp_path / f"{label}.tflite"
        path.write_bytes(model.build())
        out = tmp_path / f"out_{label}"
        res = runner.invoke(app, ["compile", str(path), "-o", str(out)])
        assert res.exit_code == 0, res.output
        outs[label] = out
    header = (outs["evil"] / "model.h").read_text(encoding="utf-8")
    assert "x*\\\\\\n/ int evil;" in header
    for file in ("model.h", "model.c"):
        evil = preprocess((outs["evil"] / file).read_text(encoding="utf-8"), tmp_path)
        plain = preprocess((outs["plain"] / file).read_text(encoding="utf-8"), tmp_path)
        assert c_tokens(evil) == c_tokens(plain) and "evil" not in c_tokens(evil)
    mcuf = [p.parent for p in outs["evil"].rglob("mcuf_kernels.h")]
    _syntax_only(outs["evil"] / "model.c", outs["evil"], *mcuf)


# ---- a whole project -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class Harmless:
    project: Project
    context: dict[str, Any]
    files: dict[str, str]
    tree: Path

    def __repr__(self) -> str:
        return "Harmless(...)"


def _options(model: Path, labels: str = "a,b,c,d") -> GenerateOptions:
    return GenerateOptions(model=model, board=BOARD, app=AppKind.KWS, labels=labels)


@pytest.fixture(scope="module")
def harmless(tmp_path_factory: pytest.TempPathFactory) -> Harmless:
    root = tmp_path_factory.mktemp("encoded")
    model = root / "kws.tflite"
    model.write_bytes(fc_model((1, 490), 4).build())
    project = build_project(_options(model))
    p = project
    context = generate._context(_options(model), p.board, p.compiled, p.figures, p.plan,
                                p.targets, p.fit)
    context["sources"] = generate._zephyr_sources(p.files)
    tree = root / "tree"
    for rel, text in p.files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(text if isinstance(text, bytes) else _bytes(text))
    return Harmless(project, context, render(context), tree)


def _env(template_set: str) -> jinja2.Environment:
    """Cookiecutter's environment for one template set: StrictUndefined, its _jinja2_env_vars,
    trailing newlines kept, the encoder filters."""
    manifest = json.loads((projects_dir() / template_set / "cookiecutter.json").read_text())
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              extensions=[EncoderFilters], **manifest["_jinja2_env_vars"])


def render(context: dict[str, Any]) -> dict[str, str]:
    """Every rendered project file (relative path -> text) for ``context``."""
    out: dict[str, str] = {}
    cc = {"_mcuf": context, "project_slug": "project"}
    for name in SETS:
        root = projects_dir() / name
        manifest = json.loads((root / "cookiecutter.json").read_text())
        env = _env(name)
        for path in sorted((root / "{{cookiecutter.project_slug}}").rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root / "{{cookiecutter.project_slug}}").as_posix()
            target = env.from_string(rel).render(cookiecutter=cc)
            if not target or target.endswith("/"):
                continue
            text = path.read_text(encoding="utf-8")
            out[target] = text if rel in manifest["_copy_without_render"] else \
                env.from_string(text).render(cookiecutter=cc)
    return out


@pytest.mark.unit
def test_the_direct_renderer_matches_cookiecutter(harmless: Harmless) -> None:
    by_cookiecutter = render_sets(SETS[:3], harmless.context) | render_sets(SETS[3:],
                                                                            harmless.context)
    assert by_cookiecutter == harmless.files


def hostile(context: dict[str, Any], text: str) -> dict[str, Any]:
    """``context`` with every free-text field set to ``text``: board display name and MCU, model
    file name, environment notes, capture notes, replay description, regenerate command, Zephyr
    board (in comments), and the first label."""
    ctx = copy.deepcopy(context)
    ctx["board"]["display_name"] = ctx["board"]["mcu"] = ctx["model"]["file"] = text
    t = ctx["targets"]
    for env in t["envs"]:
        env["comments"] = [text for _ in env["comments"]]
    t["arduino"]["how"] = t["zephyr"]["how"] = t["zephyr"]["board"] = text
    ctx["replay"]["description"] = ctx["replay"]["source"] = text
    ctx["regenerate"] = text
    ctx["app"]["config"]["labels"] = [text, *ctx["app"]["config"]["labels"][1:]]
    return ctx


C_FILES = {"src/app_config.h": "c", "src/main.c": "c", "src/port_replay.c": "c",
           "src/port_arduino.cpp": "c++", "zephyr/src/port_zephyr.c": "c"}


def _literals_blanked(tokens: list[str]) -> list[str]:
    return ['""' if t.startswith('"') else t for t in tokens]


def check_c(evil: dict[str, str], plain: dict[str, str], label: str, tmp: Path) -> None:
    for rel, lang in C_FILES.items():
        got = c_tokens(preprocess(evil[rel], tmp, lang))
        want = c_tokens(preprocess(plain[rel], tmp, lang))
        assert _literals_blanked(got) == _literals_blanked(want), rel
        changed = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
        assert all(decode_c_string(g) == _bytes(label) and w == '"a"' for g, w in changed), rel
    overlay = next(rel for rel in evil if rel.endswith(".overlay"))
    assert c_tokens(preprocess(evil[overlay], tmp, "dts")) == \
        c_tokens(preprocess(plain[overlay], tmp, "dts"))
    if shutil.which("dtc"):
        assert devicetree(evil[overlay], tmp) == devicetree(plain[overlay], tmp)


DTS_BASE = "/dts-v1/;\n/ { soc { pdm0: pdm { }; dcmi: dcmi { }; }; };\n"
"""A base tree with the nodes the overlays refer to (Zephyr appends overlays to the board's)."""


def devicetree(overlay: str, tmp: Path) -> str:
    """The tree dtc makes of the base tree plus ``overlay`` after the preprocessor Zephyr runs
    (``-x assembler-with-cpp -undef``), decompiled to text."""
    path = tmp / "full.dts"
    path.write_text(DTS_BASE + preprocess(overlay, tmp, "dts"), encoding="utf-8",
                    errors="surrogateescape")
    res = subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dts", str(path)], capture_output=True,
                         check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res.stdout.decode()


def check_ini(evil: dict[str, str], plain: dict[str, str], tmp: Path) -> None:
    assert _parse_ini(evil["platformio.ini"], tmp) == _parse_ini(plain["platformio.ini"], tmp)


def check_cmake(evil: dict[str, str], plain: dict[str, str], tmp: Path) -> None:
    rel = "zephyr/CMakeLists.txt"
    assert cmake_commands(evil[rel], tmp) == cmake_commands(plain[rel], tmp)


def _conf_settings(text: str) -> list[str]:
    lines = text.splitlines()
    assert all(not line or line.startswith(("#", "CONFIG_")) for line in lines), lines
    return [line for line in lines if line.startswith("CONFIG_")]


def check_conf(evil: dict[str, str], plain: dict[str, str]) -> None:
    rel = "zephyr/prj.conf"
    assert _conf_settings(evil[rel]) == _conf_settings(plain[rel])


def _structure(text: str) -> list[tuple[str, str, int]]:
    return [(t.type, t.tag, t.nesting) for t in _flat(_markdown(text))
            if t.type not in ("text", "text_special")]


def check_readme(evil: dict[str, str], plain: dict[str, str]) -> None:
    assert _structure(evil["README.md"]) == _structure(plain["README.md"])


def _checks(tmp: Path) -> dict[str, Callable[[dict[str, str], dict[str, str], str], None]]:
    return {
        "C": lambda e, p, label: check_c(e, p, label, tmp),
        "INI": lambda e, p, _: check_ini(e, p, tmp),
        "CMake": lambda e, p, _: check_cmake(e, p, tmp),
        "Kconfig": lambda e, p, _: check_conf(e, p),
        "Markdown": lambda e, p, _: check_readme(e, p),
    }


@pytest.mark.slow
@pytest.mark.hostc
@settings(parent=BASE, max_examples=40)
@given(text=evil_text)
def test_project_files_hold_outside_text_as_values_only(text: str, harmless: Harmless,
                                                         tmp_path: Path) -> None:
    evil = render(hostile(harmless.context, text))
    plain = render(hostile(harmless.context, "a"))
    assert evil.keys() == harmless.files.keys()
    for check in _checks(tmp_path).values():
        check(evil, plain, text)
    src = harmless.tree / "src"
    for rel in ("src/app_config.h", "src/main.c"):
        (harmless.tree / rel).write_bytes(_bytes(evil[rel]))
    _syntax_only(src / "main.c", src, src / "mcuf", src / "frontend")


@pytest.mark.unit
@settings(parent=BASE, max_examples=80)
@given(value=evil_text)
def test_a_platformio_option_value_is_read_back_exactly_or_refused(value: str, harmless: Harmless,
                                                                   tmp_path: Path) -> None:
    from generator.encoders import EncodingError
    from tests.test_encoders import _ini_unrepresentable

    ctx = copy.deepcopy(harmless.context)
    env = next(e for e in ctx["targets"]["envs"] if not e["emulated"])
    env["options"] = [[k, value if k == "board" else v] for k, v in env["options"]]
    try:
        files = render(ctx)
    except EncodingError:
        assert _ini_unrepresentable(value)
        return
    got = _parse_ini(files["platformio.ini"], tmp_path)
    want = _parse_ini(harmless.files["platformio.ini"], tmp_path)
    assert got == {**want, f"env:{BOARD}": {**want[f"env:{BOARD}"], "board": value}}


# ---- a model file name that tries to add an [env] ------------------------------------------------


def _sections(ini: Path) -> dict[str, list[str]]:
    from platformio.project.config import ProjectConfig

    config = ProjectConfig(str(ini), parse_extra=False)
    return {section: config.options(section) for section in config.sections()}


@pytest.mark.unit
def test_a_model_file_name_with_line_breaks_adds_no_section(tmp_path: Path) -> None:
    names = {"plain": "kws.tflite",  # (a file name holds no '/')
             "evil": "kws\n[env:evil]\nupload_command = touch pwned\n; x *\\\n #.tflite"}
    found = {}
    for label, name in names.items():
        model = tmp_path / label / name
        model.parent.mkdir()
        model.write_bytes(fc_model((1, 490), 4).build())
        out = tmp_path / f"out_{label}"
        res = runner.invoke(app, ["generate", str(model), "--board", BOARD, "--app", "kws",
                                  "-o", str(out)])
        assert res.exit_code == 0, res.output
        found[label] = out
    evil, plain = found["evil"], found["plain"]
    assert _sections(evil / "platformio.ini") == _sections(plain / "platformio.ini")
    assert set(_sections(evil / "platformio.ini")) == {
        "platformio", "env:qemu_mps2_an386", f"env:{BOARD}"}
    manifest = json.loads((evil / "mcuforge.json").read_text(encoding="utf-8"))
    assert any(names["evil"] in value for value in _strings(manifest))
    assert _structure((evil / "README.md").read_text()) == \
        _structure((plain / "README.md").read_text())
    ini = (evil / "platformio.ini").read_text(encoding="utf-8")
    assert all(line.startswith(";") for line in ini.splitlines() if "touch pwned" in line)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _walk(root: Path) -> Iterator[Path]:
    yield from (p for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.unit
@pytest.mark.parametrize("name", ["bad\udcffname.tflite", "caf\u00e9 [x] `y`.tflite"])
def test_model_file_names_that_are_not_plain_text_generate(name: str, tmp_path: Path) -> None:
    """A file name that is not valid UTF-8 (a surrogate escape) or holds markup characters is
    written escaped; every generated text file is valid UTF-8."""
    model = tmp_path / "in" / name
    model.parent.mkdir()
    try:
        model.write_bytes(fc_model((1, 490), 4).build())
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses the name")
    out = tmp_path / "out"
    res = runner.invoke(app, ["generate", str(model), "--board", "qemu_mps2_an386", "--app", "kws",
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    for path in _walk(out):
        if path.suffix in (".c", ".h", ".ini", ".md", ".txt", ".conf", ".json"):
            path.read_bytes().decode("utf-8")
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "bad\\udcffname" in readme or "caf\u00e9 [x] `y`" in readme


@pytest.mark.unit
def test_hypothesis_strings_reach_every_varied_field(harmless: Harmless) -> None:
    """The hostile context changes every file the checks read (so the checks are not vacuous)."""
    evil = render(hostile(harmless.context, "MARK"))
    for rel in ("platformio.ini", "README.md", "zephyr/CMakeLists.txt", "zephyr/prj.conf",
                "src/app_config.h", "src/main.c", "src/port_arduino.cpp",
                "zephyr/src/port_zephyr.c"):
        assert "MARK" in evil[rel] and "MARK" not in harmless.files[rel], rel


@pytest.mark.unit
def test_a_value_no_encoder_can_write_stops_cookiecutter_with_an_input_error(
        harmless: Harmless) -> None:
    """Cookiecutter lets the encoder's error through: an input error naming the value and the
    language, raised before anything is written (rendering comes before the write)."""
    from generator.encoders import EncodingError
    from generator.errors import InputError

    ctx = copy.deepcopy(harmless.context)
    env = next(e for e in ctx["targets"]["envs"] if not e["emulated"])
    env["options"] = [[k, "x\n!touch pwned" if k == "board" else v] for k, v in env["options"]]
    with pytest.raises(EncodingError, match=r"'x\\n!touch pwned' cannot be written as a "
                       "PlatformIO INI value: it holds a line break") as caught:
        render_sets(("platformio",), ctx)
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 2
