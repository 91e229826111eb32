"""The encoders of generator/encoders.py, one language at a time, and the templates' use of them.

Unit examples pin each encoder's output; property tests (hypothesis) feed strings rich in the
sequences each language reads as syntax and parse the result back with that language's own
reader where one is at hand (gcc for C, PlatformIO's parser for INI, cmake, json/yaml,
markdown-it). The last part lists every ``{{ ... }}`` of every template and requires an encoder
filter on it, or its name on a short list of values that cannot carry outside text.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import nodes

from generator import boards
from generator import encoders as enc
from generator.encoders import EncodingError
from generator.resources import templates_dir
from generator.templating import EncoderFilters

# ---- strings an attacker would write ---------------------------------------------------------------

PIECES = ("*/", "/*", "*\\\n/", "\\", "\\\n", '"', "'", "\0", "${", "$(", "$<", "!", "[", "]",
          ";", "#", "=", "\n", "\r", "\t", "\f", "\v", "\u2028", "\u2029", "\u0085", "\u202e",
          "??/", "??=", "%", "%(x)s", "`", "``", "<", ">", "&", "|", "@", " ", "_", "*", "-", "1.",
          "é", "\u4e2d", "\U0001f600", "\udcff", "x", "int evil;", "//", "}", "{")
evil_text = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=12).map("".join)
"""Strings made of the sequences each output language reads as syntax, with random text between."""

HARMLESS = "harmless"
BASE = settings(database=None, derandomize=True, deadline=None, max_examples=100,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
"""Reproducible runs (a fixed seed, no example database written into the tree)."""


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# ---- C ---------------------------------------------------------------------------------------------

_C_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, '"': 34,
              "'": 39, "?": 63}


def decode_c_string(literal: str) -> bytes:
    """The bytes a C compiler stores for a string literal (quotes included in ``literal``)."""
    assert literal[0] == literal[-1] == '"'
    body, out, i = literal[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        octal = re.match(r"[0-7]{1,3}", body[i + 1:])
        if octal:
            out.append(int(octal.group(0), 8))
            i += 1 + len(octal.group(0))
        else:
            out.append(_C_ESCAPES[body[i + 1]])
            i += 2
    return bytes(out)


_C_TOKEN = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|[A-Za-z_0-9.]+|\S')


def c_tokens(text: str) -> list[str]:
    return _C_TOKEN.findall(text)


def preprocess(source: str, tmp: Path, lang: str = "c") -> str:
    """``source`` through gcc's preprocessor with trigraphs and line splicing on (``-std=c99``),
    every ``#include`` answered by an empty stub: the tokens this file itself holds, comments
    gone. A failure (an injected ``#error``, an unterminated comment) fails the test."""
    stubs = tmp / "stubs"
    stubs.mkdir(exist_ok=True)
    for name in re.findall(r'#\s*include\s*[<"]([^>"]+)[>"]', source):
        (stubs / name).parent.mkdir(parents=True, exist_ok=True)
        (stubs / name).write_text("")
    path = tmp / f"file.{ {'c': 'c', 'c++': 'cpp', 'dts': 'S'}[lang] }"
    path.write_bytes(_bytes(source))
    std = {"c": ["-x", "c", "-std=c99"], "c++": ["-x", "c++", "-std=c++11", "-trigraphs"],
           "dts": ["-x", "assembler-with-cpp", "-undef", "-trigraphs"]}[lang]
    res = subprocess.run(["gcc", *std, "-E", "-P", "-dD", "-nostdinc", "-I", str(stubs),
                          "-Werror=comment", str(path)], capture_output=True, check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    text = res.stdout.decode("utf-8", "surrogateescape")
    return "".join(line for line in text.splitlines(keepends=True)
                   if not re.match(r"#(define|undef) __", line))  # the compiler's own macros


needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


@pytest.mark.unit
@pytest.mark.parametrize(("text", "want"), [
    ("conv/Conv2D", "conv/Conv2D"),
    ("a*/b", "a*\\x2fb"),
    ("a/*b", "a/\\x2ab"),
    ("*\\\n/ int evil;", "*\\\\\\n/ int evil;"),
    ("x??/", "x?\\x3f/"),
    ("???", "?\\x3f?"),
    ("ends\\", "ends\\x5c"),
    ("ends\\  ", "ends\\x5c  "),
    ("nul\0cr\rls\u2028bidi\u202e", "nul\\x00cr\\rls\\u2028bidi\\u202e"),
    ("caf\u00e9 \u4e2d", "caf\u00e9 \u4e2d"),
    ("bad\udcffname", "bad\\udcffname"),
])
def test_c_comment_examples(text: str, want: str) -> None:
    assert enc.c_comment(text) == want


@pytest.mark.unit
@settings(parent=BASE)
@given(evil_text)
def test_c_comment_has_no_comment_syntax_and_one_line(text: str) -> None:
    out = enc.c_comment(text)
    assert "*/" not in out and "/*" not in out and "??" not in out
    assert all(ch.isprintable() for ch in out)
    assert not re.search(r"\\\s*$", out), "a trailing backslash splices the next line"


@pytest.mark.unit
@pytest.mark.parametrize(("text", "want"), [
    ("yes", '"yes"'),
    ('say "hi"\\', '"say \\"hi\\"\\\\"'),
    ("??=", '"\\?\\?="'),
    ("a\nb\0", '"a\\nb\\000"'),
    ("\u00e9", '"\\303\\251"'),
    ("\0" + "1", '"\\0001"'),
])
def test_c_string_examples(text: str, want: str) -> None:
    assert enc.c_string(text) == want


@pytest.mark.unit
@settings(parent=BASE)
@given(evil_text)
def test_c_string_decodes_to_the_utf8_bytes(text: str) -> None:
    literal = enc.c_string(text)
    assert c_tokens(literal) == [literal], "one string-literal token"
    assert all(0x20 <= ord(ch) < 0x7F for ch in literal)
    assert decode_c_string(literal) == _bytes(text)


@pytest.mark.hostc
@needs_gcc
@settings(parent=BASE, max_examples=60)
@given(comment=evil_text, label=evil_text)
def test_c_encoders_round_trip_through_gcc(comment: str, label: str, tmp_path: Path) -> None:
    """A comment and a string literal in one C file: gcc sees exactly the harmless file's tokens
    but for the literal, which holds the label's bytes."""
    def source(c: str, s: str) -> str:
        return (f"/* {enc.c_comment(c)} */\n// {enc.c_comment(c)}\n"
                f"static const char *label = {enc.c_string(s)}; /* {enc.c_comment(c)}\n"
                f" * {enc.c_comment(c)} */\nint after;\n")

    evil = c_tokens(preprocess(source(comment, label), tmp_path))
    harmless = c_tokens(preprocess(source(HARMLESS, HARMLESS), tmp_path))
    literal = [t for t in evil if t.startswith('"')]
    assert [t if not t.startswith('"') else '""' for t in evil] == \
        [t if not t.startswith('"') else '""' for t in harmless]
    assert [decode_c_string(t) for t in literal] == [_bytes(label)]
    path = tmp_path / "syntax.c"
    path.write_bytes(_bytes(source(comment, label)))
    res = subprocess.run(["gcc", "-std=c99", "-fsyntax-only", "-Werror=comment", "-Wall",
                          str(path)], capture_output=True, check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")


@pytest.mark.unit
@pytest.mark.parametrize("name", ["model", "_x1", "MODEL_H", "a" * 63])
def test_c_identifier_accepts(name: str) -> None:
    assert enc.c_identifier(name) == name


@pytest.mark.unit
@pytest.mark.parametrize("name", ["", "1x", "a-b", "a b", "int", "class", "a\n", "\u00e9", "a" * 64,
                                  "../../x"])
def test_c_identifier_refuses(name: str) -> None:
    with pytest.raises(EncodingError, match="cannot be written as a C identifier"):
        enc.c_identifier(name)


# ---- PlatformIO INI --------------------------------------------------------------------------------


def _ini_unrepresentable(text: str) -> bool:
    """Independently of the encoder: what PlatformIO's INI cannot hold verbatim."""
    return (not text or text != text.strip() or "${" in text or text[0] in "![;#" or
            any(not ch.isprintable() for ch in text) or re.search(r"\s[;#]", text) is not None)


def _parse_ini(text: str, tmp: Path) -> dict[str, dict[str, str]]:
    from platformio.project.config import ProjectConfig

    path = tmp / "platformio.ini"
    path.write_bytes(_bytes(text))
    config = ProjectConfig(str(path), parse_extra=False)
    return {section: {option: config.getraw(section, option) for option in config.options(section)}
            for section in config.sections()}


@pytest.mark.unit
@settings(parent=BASE, max_examples=150)
@given(value=evil_text, comment=evil_text)
def test_ini_value_and_comment_round_trip_through_platformio(value: str, comment: str,
                                                             tmp_path: Path) -> None:
    def ini(v: str, c: str) -> str:
        return (f"; {enc.ini_comment(c)}\n[env:a]\n; {enc.ini_comment(c)}\n"
                f"board = {enc.ini_value(v)}\nbuild_flags =\n    -DX\n")

    harmless = _parse_ini(ini(HARMLESS, HARMLESS), tmp_path)
    try:
        text = ini(value, comment)
    except EncodingError:
        assert _ini_unrepresentable(value)
        return
    parsed = _parse_ini(text, tmp_path)
    assert parsed.keys() == harmless.keys()
    assert parsed["env:a"] == {**harmless["env:a"], "board": value}


@pytest.mark.unit
@pytest.mark.parametrize("value", ["a\nb = c", "x\r", "${sysenv.HOME}", "a ; b", "a #b", " a", "!cmd",
                                   "[env:x]", ""])
def test_ini_value_refuses(value: str) -> None:
    with pytest.raises(EncodingError, match="PlatformIO INI value"):
        enc.ini_value(value)


@pytest.mark.unit
def test_ini_value_doubles_percent_and_keeps_plain_text() -> None:
    assert enc.ini_value("100%") == "100%%"
    assert enc.ini_value("timeout -k 2 120 qemu -kernel $SOURCE") == \
        "timeout -k 2 120 qemu -kernel $SOURCE"


@pytest.mark.unit
def test_scons_value_doubles_every_dollar() -> None:
    assert enc.scons_value("${HOME} $(cmd) $X") == "$${HOME} $$(cmd) $$X"


# ---- CMake -----------------------------------------------------------------------------------------

needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")


def cmake_commands(script: str, tmp: Path) -> list[tuple[str, list[str]]]:
    """The commands cmake runs for ``script`` and their arguments after evaluation (from
    ``--trace-expand``), Zephyr's and the target commands stubbed out so the file runs in script
    mode."""
    path = tmp / "CMakeLists.txt"
    path.write_bytes(_bytes(script))
    stub = tmp / "stub.cmake"
    stub.write_text("".join(f"macro({name})\nendmacro()\n" for name in (
        "find_package", "project", "target_sources", "target_include_directories",
        "get_target_property", "set_source_files_properties"))
        + f"include({path.as_posix()})\n")
    res = subprocess.run(["cmake", "--trace-format=json-v1", "--trace-expand", "-P", str(stub)],
                         capture_output=True, check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    out = []
    for line in res.stderr.decode("utf-8", "surrogateescape").splitlines():
        if line.startswith("{") and '"cmd"' in line:
            entry = json.loads(line)
            if entry.get("file") == str(path):
                out.append((entry["cmd"], entry["args"]))
    return out


@pytest.mark.unit
@needs_cmake
@settings(parent=BASE, max_examples=80)
@given(value=evil_text, comment=evil_text)
def test_cmake_argument_and_comment_round_trip_through_cmake(value: str, comment: str,
                                                             tmp_path: Path) -> None:
    def script(v: str, c: str) -> str:
        return (f"# {enc.cmake_comment(c)}\nset(X {enc.cmake_argument(v)})\n"
                f"#     west build -b {enc.cmake_comment(c)} zephyr\nset(Y after)\n")

    harmless = cmake_commands(script(HARMLESS, HARMLESS), tmp_path)
    try:
        text = script(value, comment)
    except EncodingError:
        assert ";" in value or "$<" in value or any(
            not ch.isprintable() and ch not in "\n\t\r" for ch in value)
        return
    got = cmake_commands(text, tmp_path)
    assert [cmd for cmd, _ in got] == [cmd for cmd, _ in harmless] == ["set", "set"]
    assert got[0][1] == ["X", value] and got[1][1] == harmless[1][1]


@pytest.mark.unit
def test_cmake_path_accepts_relative_source_paths_only() -> None:
    assert enc.cmake_path("frontend/mcuf_mfcc.c") == "frontend/mcuf_mfcc.c"
    for bad in ("../x.c", "/abs.c", "a b.c", "${X}.c", "a;b.c", ""):
        with pytest.raises(EncodingError):
            enc.cmake_path(bad)


# ---- Kconfig, devicetree ---------------------------------------------------------------------------


@pytest.mark.unit
def test_kconfig_value_and_string() -> None:
    assert [enc.kconfig_value(v) for v in ("y", "n", "4096", "0x20")] == ["y", "n", "4096", "0x20"]
    for bad in ("yes", "4096\nCONFIG_X=y", "", '"s"'):
        with pytest.raises(EncodingError):
            enc.kconfig_value(bad)
    assert enc.kconfig_string('a"b\\') == '"a\\"b\\\\"'
    with pytest.raises(EncodingError):
        enc.kconfig_string("a\nCONFIG_EVIL=y")


@pytest.mark.unit
@settings(parent=BASE)
@given(evil_text)
def test_kconfig_comment_is_one_line(text: str) -> None:
    line = "# " + enc.kconfig_comment(text)
    assert line.splitlines() == [line] and "\0" not in line


@pytest.mark.unit
@settings(parent=BASE)
@given(evil_text)
def test_dts_string_is_one_ascii_literal(text: str) -> None:
    literal = enc.dts_string(text)
    assert c_tokens(literal) == [literal] and all(0x20 <= ord(ch) < 0x7F for ch in literal)
    body = re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), literal[1:-1])
    assert re.sub(r"\\(.)", r"\1", body).encode("latin-1") == _bytes(text)


@pytest.mark.hostc
@needs_gcc
@settings(parent=BASE, max_examples=40)
@given(text=evil_text)
def test_dts_comment_through_the_devicetree_preprocessor(text: str, tmp_path: Path) -> None:
    def overlay(c: str) -> str:
        return f"/* overlay for {enc.dts_comment(c)}.\n * Input: {enc.dts_comment(c)}.\n */\n/ {{\n}};\n"

    assert c_tokens(preprocess(overlay(text), tmp_path, "dts")) == \
        c_tokens(preprocess(overlay(HARMLESS), tmp_path, "dts"))


# ---- JSON, YAML ------------------------------------------------------------------------------------


@pytest.mark.unit
@settings(parent=BASE)
@given(st.lists(evil_text, max_size=4))
def test_json_value_round_trips_and_is_yaml(values: list[str]) -> None:
    text = enc.json_value(values)
    assert all(ch.isprintable() for ch in text)
    assert json.loads(text) == values
    if all(ch.isprintable() or (ord(ch) < 0x10000 and not 0xD800 <= ord(ch) < 0xE000)
           for v in values for ch in v):  # YAML holds no lone surrogate
        assert yaml.safe_load(text) == values


# ---- Markdown --------------------------------------------------------------------------------------


def _markdown(text: str) -> list[object]:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").parse(text)


def _flat(tokens: list[object]) -> Iterator[object]:
    for token in tokens:
        yield token
        yield from _flat(getattr(token, "children", None) or [])


def _inline_text(tokens: list[object]) -> str:
    return "".join(getattr(t, "content", "") for t in _flat(tokens)
                   if getattr(t, "type", "") in ("text", "text_special", "code_inline"))


@pytest.mark.unit
@settings(parent=BASE, max_examples=150)
@given(evil_text)
def test_md_text_is_plain_text(text: str) -> None:
    """Alone in a paragraph: one paragraph of plain text showing the value (escapes shown)."""
    tokens = _markdown("Board: " + enc.md_text(text) + " end.\n")
    kinds = [t.type for t in _flat(tokens)]
    assert kinds[:2] == ["paragraph_open", "inline"] and kinds[-1] == "paragraph_close"
    assert set(kinds[2:-1]) <= {"text", "text_special"}, kinds
    assert _inline_text(tokens) == f"Board: {enc.visible(text)} end."


@pytest.mark.unit
@settings(parent=BASE, max_examples=150)
@given(evil_text)
def test_md_code_is_one_code_span(text: str) -> None:
    tokens = _markdown("from " + enc.md_code(text) + ".\n")
    kinds = [t.type for t in _flat(tokens)]
    assert kinds == ["paragraph_open", "inline", "text", "code_inline", "text", "paragraph_close"]
    code = next(t for t in _flat(tokens) if t.type == "code_inline")
    shown = enc.visible(text)
    assert code.content == (shown if shown else " ")


@pytest.mark.unit
@settings(parent=BASE, max_examples=100)
@given(evil_text)
def test_md_text_and_cell_code_stay_in_their_table_cell(text: str) -> None:
    table = "| a | b |\n|---|---|\n| " + enc.md_text(text) + " | " + enc.md_cell_code(text) + " |\n"
    cells = [t.type for t in _flat(_markdown(table)) if t.type in ("td_open", "th_open")]
    assert cells == ["th_open", "th_open", "td_open", "td_open"]


@pytest.mark.unit
@settings(parent=BASE)
@given(evil_text)
def test_md_code_line_is_one_line(text: str) -> None:
    assert "\n" not in enc.md_code_line(text) and "\r" not in enc.md_code_line(text)


# ---- every template value goes through an encoder --------------------------------------------------

SAFE_VALUES = {
    # numbers and counts computed by mcuforge
    "arena_alloc", "arena_bytes", "const_bytes", "c.count", "io.offset", "io.nbytes",
    "io.elements", "io.zero_point", "loop.index0", "c.num_classes", "c.out_zero_point", "c.chunk",
    "c.ring", "c.inference_every", "c.smoothing", "c.threshold_q", "c.suppression", "c.rate_hz",
    "c.counts_per_g", "c.hop", "c.width", "c.height", "c.person_class", "c.on_q", "c.off_q",
    "a.ring_samples", "a.rate_hz", "z.video_buffers", "z.mic_blocks", "m.app.config.width",
    "m.app.config.height", "m.ns_per_tick", "t.values.size", "m.model.arena", "m.app.num_classes",
    "m.emulated_clock_hz", "m.fit.flash_need", "m.fit.flash_budget", "m.fit.sram_need",
    "m.fit.sram_budget", "size", "m.model.unsplit_arena", "m.model.lower_bound",
    "m.model.const_bytes",
    # C text mcuforge writes itself (literals, expressions, types) from numbers and fixed names
    "io.scale", "c.out_scale", "c.threshold", "c.on_threshold", "c.off_threshold", "io.shape",
    "io.dtype", "c.ctype", "c.body", "call.params_type", "call.pname", "k", "v", "call.text",
    "call.trace", "kind", "m.value", "block.fingerprint", "fingerprint", "t.c_type", "row",
    # fixed words of mcuforge's own
    "version", "m.mcuforge_version", "m.app.kind", "m.app.title", "m.app.loop",
    "m.app.frontend_kind", "z.version", "t.zephyr.version",
}
"""Template values that cannot carry outside text, so need no encoder: numbers, C text the
generator builds from numbers and fixed names, mcuforge's own words."""
NUMERIC_FILTERS = {"length", "int", "round"}
PASS_THROUGH_FILTERS = {"wordwrap", "lower", "upper", "join", "format"}


def _dotted(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        base = _dotted(node.node)
        return f"{base}.{node.attr}" if base else None
    return None


def _unsafe(node: nodes.Node) -> list[str]:
    """The parts of an output expression that may carry outside text without an encoder."""
    if isinstance(node, nodes.Const):
        return []
    if isinstance(node, nodes.Filter):
        if node.name in enc.FILTERS or node.name in NUMERIC_FILTERS:
            return []
        if node.name == "map" and isinstance(node.args[0], nodes.Const) \
                and node.args[0].value in enc.FILTERS:
            return []
        if node.name in PASS_THROUGH_FILTERS:
            return [p for part in (node.node, *node.args) if part is not None
                    for p in _unsafe(part)]
        return [f"filter {node.name}"]
    if isinstance(node, (nodes.Sub, nodes.Add, nodes.Mul, nodes.Div)):
        return _unsafe(node.left) + _unsafe(node.right)
    if isinstance(node, nodes.CondExpr):
        return _unsafe(node.expr1) + (_unsafe(node.expr2) if node.expr2 else [])
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) \
            and isinstance(node.node.node, nodes.Const) and node.node.attr == "format":
        return [p for arg in node.args for p in _unsafe(arg)]  # "{:,}".format(number)
    name = _dotted(node)
    if name in SAFE_VALUES:
        return []
    return [name or type(node).__name__]


def _template_files() -> list[Path]:
    roots = [templates_dir(), Path(enc.__file__).parent / "frontends" / "templates"]
    return sorted(p for root in roots for p in root.rglob("*")
                  if p.is_file() and p.name != "cookiecutter.json" and "{{" in p.read_text())


def _copied_verbatim() -> set[Path]:
    out = set()
    for manifest in (templates_dir() / "projects").glob("*/cookiecutter.json"):
        for rel in json.loads(manifest.read_text())["_copy_without_render"]:
            out |= set(manifest.parent.glob(f"*/{rel}"))
    return out


@pytest.mark.unit
def test_every_template_value_is_encoded_or_known_safe() -> None:
    env = jinja2.Environment(extensions=[EncoderFilters])
    problems = []
    copied = _copied_verbatim()
    files = [p for p in _template_files() if p not in copied]
    assert len(files) >= 15
    for path in files:
        tree = env.parse(path.read_text(encoding="utf-8"))
        for output in tree.find_all(nodes.Output):
            for expr in output.nodes:
                if not isinstance(expr, nodes.TemplateData):
                    problems += [f"{path.relative_to(path.parents[3])}:{expr.lineno}: {p}"
                                 for p in _unsafe(expr)]
    assert problems == [], "values written without an encoder:\n" + "\n".join(problems)


@pytest.mark.unit
def test_the_template_check_catches_an_unencoded_value() -> None:
    env = jinja2.Environment(extensions=[EncoderFilters])
    tree = env.parse("/* {{ m.board.display_name }} {{ x | c_comment }} {{ c.labels | join(', ') }}"
                     " {{ c.labels | map('c_string') | join(', ') }} {{ io.offset }} */")
    found = [p for out in tree.find_all(nodes.Output) for e in out.nodes
             if not isinstance(e, nodes.TemplateData) for p in _unsafe(e)]
    assert found == ["m.board.display_name", "c.labels"]


@pytest.mark.unit
def test_file_name_templates_use_only_validated_values() -> None:
    names = {m for p in (templates_dir() / "projects").rglob("*")
             for m in re.findall(r"\{\{\s*([^}|]+?)\s*\}\}", p.name)}
    assert names == {"cookiecutter.project_slug", "cookiecutter._mcuf.targets.zephyr.overlay"}


# ---- what the board schema accepts, the encoders can write -----------------------------------------


def _accepted(about: tuple[str, str, str]) -> st.SearchStrategy[str]:
    return st.from_regex(f"^(?:{about[1]})$", fullmatch=True)


@pytest.mark.unit
@settings(parent=BASE, max_examples=200)
@given(platform=_accepted(boards._PIO_PLATFORM_ABOUT), board=_accepted(boards._PIO_ID_ABOUT),
       zephyr=_accepted(boards._ZEPHYR_BOARD_ABOUT), qemu=_accepted(boards._QEMU_NAME_ABOUT))
def test_every_name_the_board_schema_accepts_is_written_verbatim(platform: str, board: str,
                                                                zephyr: str, qemu: str) -> None:
    """A board YAML the schema accepts never trips an encoder, and its names need no escaping
    where they are written: INI values, shell words, CMake comments, C comments."""
    import shlex

    pio = boards.PlatformIO.model_validate({"platform": platform, "board": board,
                                            "framework": board})
    assert enc.ini_value(pio.platform) == platform and enc.ini_value(pio.board) == board
    z = boards.Zephyr.model_validate({"board": zephyr})
    assert enc.c_comment(z.board) == enc.cmake_comment(z.board) == enc.md_text(z.board) \
        .replace("\\", "") == zephyr
    emu = boards.Emulator.model_validate({"machine": qemu, "cpu": qemu,
                                          "extra_args": ["-m", qemu or "1"]})
    assert all(shlex.quote(part) == part and "$" not in part
               for part in (emu.machine, emu.cpu or "", *emu.extra_args))


@pytest.mark.unit
@settings(parent=BASE, max_examples=200)
@given(evil_text)
def test_free_board_text_is_refused_or_one_printable_line(text: str) -> None:
    from pydantic import ValidationError

    try:
        boards.Zephyr.model_validate({"board": text})
    except ValidationError:
        pass
    else:
        assert re.fullmatch(r"[A-Za-z0-9_@./-]+", text)
    try:
        cam = boards.Camera.model_validate({"model": text, "width": 1, "height": 1,
                                            "pixel_format": "rgb565"})
    except ValidationError:
        return
    assert cam.model.isprintable() and len(cam.model) <= 200
    assert not any(seq in cam.model for seq in ("*/", "/*", "${", "\\"))
