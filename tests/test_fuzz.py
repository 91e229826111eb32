"""Fuzzing, bounded in time: the .tflite path of ``mcuforge compile`` and the board loader.

* mutated real .tflite files (byte and bit flips, truncation, splices, insertions, random vtable
  entries, table offsets and fields; see :class:`tests.support.badgen.Mutator`),
* random but well-formed flatbuffers: small graphs of the supported operators with random shapes,
  operands and options, which exercise the structural checks rather than the bounds checks,
* random YAML documents and damaged copies of the shipped boards.

Each input must end in a :class:`McuforgeError` or succeed; anything else fails the test. Every input
runs under a per-input time limit (SIGALRM), and the process's peak memory must stay bounded. The
number of inputs tried is printed. ``MCUFORGE_FUZZ_SCALE`` multiplies the budgets for a longer run.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.boards import validate_board_file
from generator.compiler import compile_graph
from generator.errors import BoardError, McuforgeError
from generator.importer.tflite_reader import read_tflite
from generator.resources import boards_dir
from tests.support import badgen

SCALE = float(os.environ.get("MCUFORGE_FUZZ_SCALE", "1"))
SECONDS_PER_INPUT = 10
MAX_RSS_GROWTH_MB = 1024


def budget(n: int) -> int:
    return max(1, int(n * SCALE))


class Slow(Exception):
    """An input took longer than SECONDS_PER_INPUT."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise Slow(f"one input took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Tally:
    """Outcomes of a fuzz run, printed at the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.outcomes: Counter[str] = Counter()
        self.start = time.monotonic()
        self.rss = max_rss_mb()

    def run(self, action: Callable[[], object]) -> None:
        with time_limit(SECONDS_PER_INPUT):
            try:
                action()
            except McuforgeError as exc:
                self.outcomes[type(exc).__name__] += 1
                return
        self.outcomes["accepted"] += 1

    def report(self, capsys: pytest.CaptureFixture[str]) -> None:
        total = sum(self.outcomes.values())
        growth = max_rss_mb() - self.rss
        with capsys.disabled():
            print(f"\n{self.name}: {total} inputs in {time.monotonic() - self.start:.1f} s "
                  f"({dict(self.outcomes.most_common())}); peak memory grew {growth:.0f} MB")
        assert total > 0
        assert growth < MAX_RSS_GROWTH_MB, f"peak memory grew by {growth:.0f} MB"


def compile_bytes(data: bytes, partial: bool) -> None:
    """What ``mcuforge compile model.tflite`` does before writing."""
    graph = read_tflite(data, "fuzz.tflite")
    compile_graph(graph, data, partial=partial)


def _settings(examples: int) -> Callable[[Any], Any]:
    return settings(max_examples=budget(examples), deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


# ---- mutated real files ---------------------------------------------------------------------------------


def _seed_files() -> list[bytes]:
    from tests.support.tinymodel import tiny_tflite

    return [tiny_tflite(), badgen.fc_model().build(), badgen.conv_model(stride=2).build()]


@pytest.mark.slow
@pytest.mark.tflite
def test_mutated_tflite_files_give_errors_not_crashes(capsys: pytest.CaptureFixture[str]) -> None:
    mutators = [badgen.Mutator(seed) for seed in _seed_files()]
    tally = Tally("tflite mutations")

    @_settings(15000)
    @given(which=st.integers(0, len(mutators) - 1), seed=st.integers(0, 2**32 - 1),
           partial=st.booleans())
    def one(which: int, seed: int, partial: bool) -> None:
        data = mutators[which].mutate(random.Random(seed))
        tally.run(lambda: compile_bytes(data, partial))

    one()
    tally.report(capsys)


# ---- random well-formed graphs ---------------------------------------------------------------------------

# (builtin code, options type, the int32 option fields to fill, the int8 ones)
_OPS = (
    (0, 11, (), (0,)), (1, 5, (1, 2, 3, 4), (0, 5)), (2, 10, (0,), (1,)), (3, 1, (1, 2, 4, 5), (0, 3)),
    (4, 2, (1, 2, 3, 5, 6), (0, 4)), (6, 0, (), ()), (9, 8, (), (0, 2)), (14, 0, (), ()),
    (17, 5, (1, 2, 3, 4), (0, 5)), (18, 21, (), (0,)), (22, 0, (), ()), (25, 0, (), ()),
    (34, 0, (), ()), (40, 27, (), (0,)), (114, 0, (), ()),
)
_DTYPES = (badgen.INT8, badgen.INT8, badgen.INT8, badgen.INT32, badgen.FLOAT32, 7, 3)


@st.composite
def graphs(draw: st.DrawFn) -> bytes:
    m = badgen.TfliteBuilder()
    n_tensors = draw(st.integers(2, 7))
    for i in range(n_tensors):
        shape = tuple(draw(st.lists(st.integers(0, 6), max_size=5)))
        dtype = draw(st.sampled_from(_DTYPES))
        size = 1
        for d in shape:
            size *= d
        itemsize = {badgen.INT32: 4, badgen.FLOAT32: 4, 7: 2}.get(dtype, 1)
        const = draw(st.sampled_from((None, "right", "wrong")))
        data = None if const is None else bytes(draw(st.binary(
            min_size=size * itemsize if const == "right" else 0,
            max_size=size * itemsize if const == "right" else 16)))
        n_scales = draw(st.sampled_from((0, 1, 1, 1, 2, 4)))
        scale = tuple(draw(st.sampled_from((0.05, 0.5, 1 / 256, 0.0, -1.0, 1e-40, 1e30, float("nan"))))
                      for _ in range(n_scales)) or None
        zero_point = tuple(draw(st.integers(-130, 130)) for _ in range(n_scales)) or None
        m.tensor(badgen.TensorSpec(shape, dtype, data, scale, zero_point, name=f"t{i}"))
    index = st.integers(-1, n_tensors - 1)
    for _ in range(draw(st.integers(1, 4))):
        code, options_type, int_fields, byte_fields = draw(st.sampled_from(_OPS))
        m.ops.append(badgen.OpSpec(
            code, tuple(draw(st.lists(index, min_size=1, max_size=3))),
            tuple(draw(st.lists(index, min_size=1, max_size=2))), options_type,
            {f: draw(st.integers(-2, 4)) for f in int_fields},
            {f: draw(st.integers(0, 6)) for f in byte_fields}))
    m.inputs = draw(st.lists(index, min_size=1, max_size=2))
    m.outputs = draw(st.lists(index, min_size=1, max_size=2))
    return m.build()


@pytest.mark.unit
def test_random_flatbuffers_give_errors_not_crashes(capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally("random well-formed flatbuffers")

    @_settings(500)
    @given(data=graphs(), partial=st.booleans())
    def one(data: bytes, partial: bool) -> None:
        tally.run(lambda: compile_bytes(data, partial))

    one()
    tally.report(capsys)


@pytest.mark.slow
@pytest.mark.unit
def test_consistent_graphs_compile_and_broken_ones_are_errors(
        capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally("random operator chains (half with one field broken)")

    @_settings(5000)
    @given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(1, 6), broken=st.booleans(),
           partial=st.booleans())
    def one(seed: int, n_ops: int, broken: bool, partial: bool) -> None:
        rng = random.Random(seed)
        model = badgen.random_graph(rng, n_ops)
        if broken:
            badgen.break_one_thing(model, rng)
        data = model.build()
        tally.run(lambda: compile_bytes(data, partial))

    one()
    tally.report(capsys)
    assert tally.outcomes["accepted"] > budget(5000) // 4, "too few graphs compiled to mean much"


@pytest.mark.unit
def test_reshape_only_model() -> None:
    """Found by the random operator chains: a model of RESHAPE alone has no steps at all."""
    m = badgen.TfliteBuilder()
    x = m.tensor(badgen.TensorSpec((1, 4, 4, 2), name="input"))
    y = m.tensor(badgen.TensorSpec((1, 32), name="flat"))
    shape = m.tensor(badgen.TensorSpec((2,), badgen.INT32, bytes([1, 0, 0, 0, 32, 0, 0, 0]), None))
    m.ops.append(badgen.OpSpec(badgen.RESHAPE, (x, shape), (y,)))
    m.inputs, m.outputs = [x], [y]
    compile_bytes(m.build(), partial=True)


@pytest.mark.unit
def test_absurd_shapes_are_rejected_before_any_allocation() -> None:
    rss = max_rss_mb()
    for shape in ((1, 32768, 65536, 1), (65536,) * 4, (2**31 - 1,) * 8, (1, 2**31 - 1)):
        with pytest.raises(McuforgeError, match="absurd shape"):
            read_tflite(badgen.huge_tensor_model(shape))
    with pytest.raises(McuforgeError, match="far more than its"):
        read_tflite(badgen.shared_name_bomb())
    assert max_rss_mb() - rss < 200


# ---- the board loader ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.unit
def test_random_board_yaml_gives_board_errors(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    shipped = [(p.name, p.read_text()) for p in sorted(boards_dir().glob("*.yaml"))]
    tally = Tally("board YAML documents")

    def load(name: str, text: str) -> None:
        path = tmp_path / name  # a damaged board keeps its file name, so it may still load
        path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        try:
            validate_board_file(path)
        except McuforgeError as exc:
            assert isinstance(exc, BoardError), exc
            assert name in exc.message.splitlines()[0], exc.message
            raise

    @_settings(5000)
    @given(seed=st.integers(0, 2**32 - 1), damaged=st.booleans(), which=st.integers(0, 100))
    def one(seed: int, damaged: bool, which: int) -> None:
        rng = random.Random(seed)
        if damaged:
            name, text = shipped[which % len(shipped)]
            text = badgen.mutate_text(text, rng)
        else:
            name, text = "fuzz_board.yaml", badgen.random_yaml(rng)
        tally.run(lambda: load(name, text))

    one()
    tally.report(capsys)


# ---- damaged boards that still load: the generated files read back with no new structure -------------

_HOSTILE_PIECES = ("*/", "/*", "*\\\n/", "\\", '"', "'", "\0", "${x}", "$(x)", "!", "[env:x]",
                   "\n", "\r", "\u2028", ";", "#", "=", "%", "`", "<script>", "??/", "x", " ")


def _string_leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _string_leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _string_leaves(v, (*path, i))]
    return [path] if isinstance(node, str) else []


def _structure(files: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """What a parser sees of a project besides its values: platformio.ini's sections and option
    names (PlatformIO's own parser), mcuforge.json's keys, the Zephyr CMake commands and Kconfig
    symbols, and the C tokens of the app config outside comments and string literals."""
    import json

    from platformio.project.config import ProjectConfig

    from tests.test_encoders import c_tokens, preprocess

    ini = tmp / "platformio.ini"
    ini.write_text(files["platformio.ini"], encoding="utf-8")
    config = ProjectConfig(str(ini), parse_extra=False)
    values = [str(config.getraw(s, o)) for s in config.sections() for o in config.options(s)]
    assert not [v for v in values if v.lstrip().startswith("!") or "${" in v], values

    def keys(node: Any) -> Any:
        return {k: keys(v) for k, v in node.items()} if isinstance(node, dict) else None

    cmake = [line.split("(")[0].strip() for line in files["zephyr/CMakeLists.txt"].splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    conf = [line.split("=")[0] for line in files["zephyr/prj.conf"].splitlines()
            if line and not line.startswith("#")]
    tokens = ['""' if t.startswith('"') else t
              for t in c_tokens(preprocess(files["src/app_config.h"], tmp))]
    return {"ini": {s: config.options(s) for s in config.sections()},
            "manifest": keys(json.loads(files["mcuforge.json"])), "cmake": cmake, "conf": conf,
            "app_config": tokens}


@pytest.mark.slow
@pytest.mark.hostc
def test_damaged_boards_that_load_generate_files_with_no_new_structure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    import yaml

    from generator.project.generate import build_project
    from generator.project.options import AppKind, GenerateOptions

    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    model = tmp_path / "kws.tflite"
    model.write_bytes(badgen.fc_model((1, 490), 4).build())
    shipped = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(boards_dir().glob("*.yaml"))}
    names = [n for n in shipped if shipped[n].get("zephyr")]

    def project(board: Path) -> dict[str, Any]:
        options = GenerateOptions(model=model, board=str(board), app=AppKind.KWS, labels="a,b,c,d")
        return dict(build_project(options).files)

    tally = Tally("damaged boards through generate")

    def board_with(name: str, leaf: tuple[Any, ...], make: Callable[[str], str], stem: str) -> Path:
        data = yaml.safe_load(yaml.safe_dump(shipped[name]))
        node = data
        for key in leaf[:-1]:
            node = node[key]
        node[leaf[-1]] = make(node[leaf[-1]])
        path = tmp_path / stem / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    @_settings(400)
    @given(seed=st.integers(0, 2**32 - 1))
    def one(seed: int) -> None:
        rng = random.Random(seed)
        name = rng.choice(names)
        leaf = rng.choice(_string_leaves(shipped[name]))
        hostile = "".join(rng.choice(_HOSTILE_PIECES) for _ in range(rng.randint(1, 2)))
        plain = "".join(ch for ch in hostile if ch.isalnum()) or "x"
        where = rng.randrange(3)

        def put(text: str) -> Callable[[str], str]:
            return lambda old: (old + text, text + old, text)[where]

        def check() -> None:
            files = project(board_with(name, leaf, put(hostile), "hostile"))
            try:  # the same board with the hostile characters dropped: what the value may change
                twin = project(board_with(name, leaf, put(plain), "plain"))
            except McuforgeError:
                return
            assert _structure(files, tmp_path) == _structure(twin, tmp_path), (leaf, hostile)

        tally.run(check)

    one()
    tally.report(capsys)
    assert tally.outcomes["accepted"] > 0, dict(tally.outcomes)
