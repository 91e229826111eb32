"""The model zoo: every model converts to int8 with supported operators only, runs in the reference
interpreter with non-degenerate outputs, and converts to the same bytes every time."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support import zoo

SUPPORTED_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D",
    "MAX_POOL_2D", "MEAN", "PAD", "RESHAPE", "CONCATENATION", "SOFTMAX", "LOGISTIC", "QUANTIZE",
    "DEQUANTIZE",
})

# The operators each model converts to (TensorFlow 2.21). BatchNorm is folded everywhere, also
# after Dense; Flatten becomes RESHAPE; GlobalAveragePooling2D becomes MEAN.
EXPECTED_OPS: dict[str, frozenset[str]] = {
    "ds_cnn": frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}),
    "mobilenet_v1": frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED",
                               "SOFTMAX"}),
    "mobilenet_v2": frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED",
                               "SOFTMAX"}),
    "resnet8": frozenset({"CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"}),
    "fc_autoencoder": frozenset({"FULLY_CONNECTED"}),
    "conv_strides": frozenset({"CONV_2D", "PAD", "CONCATENATION"}),
    "depthwise_multiplier": frozenset({"DEPTHWISE_CONV_2D", "CONV_2D"}),
    "residual_scales": frozenset({"CONV_2D", "ADD", "LOGISTIC", "MUL"}),
    "pools": frozenset({"AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION"}),
    "zero_padding": frozenset({"PAD", "CONV_2D", "DEPTHWISE_CONV_2D"}),
    "concat_channels": frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "CONCATENATION"}),
    "sigmoid_out": frozenset({"CONV_2D", "RESHAPE", "FULLY_CONNECTED", "LOGISTIC"}),
    "float_io": frozenset({"QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED",
                           "SOFTMAX", "DEQUANTIZE"}),
}


def _param(name: str) -> Any:
    marks = [pytest.mark.tflite] + ([pytest.mark.slow] if name in zoo.LARGE else [])
    return pytest.param(name, marks=marks, id=name)


ALL = [_param(n) for n in zoo.SPECS]


def _op_names(model: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    return [str(d["op_name"]) for d in Interpreter(model_content=model)._get_ops_details()]


@contextmanager
def tempfile_model(model: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        yield path


# ----------------------------------------------------------------------------- no TensorFlow needed


@pytest.mark.unit
def test_groups_partition_the_zoo() -> None:
    assert set(zoo.LARGE) | set(zoo.CORNERS) == set(zoo.SPECS) == set(zoo.ZOO)
    assert not set(zoo.LARGE) & set(zoo.CORNERS)
    assert set(EXPECTED_OPS) == set(zoo.SPECS)


@pytest.mark.unit
def test_corner_models_cover_every_supported_operator() -> None:
    assert set().union(*(EXPECTED_OPS[n] for n in zoo.CORNERS)) == SUPPORTED_OPS


@pytest.mark.unit
def test_mobilenet_v2_channel_rounding() -> None:
    widths = [zoo._round8(c * 0.35) for _, c, _, _ in zoo.MOBILENET_V2_BLOCKS]
    assert zoo._round8(32 * 0.35) == 16
    assert widths == [8, 8, 16, 24, 32, 56, 112]


@pytest.mark.unit
@pytest.mark.parametrize("name", list(zoo.SPECS))
def test_inputs_are_seeded_and_shaped(name: str) -> None:
    a, b = zoo.zoo_inputs(name, 3, seed=7), zoo.zoo_inputs(name, 3, seed=7)
    assert len(a) == 3
    for x, y in zip(a, b, strict=True):
        assert x.shape == (1, *zoo.SPECS[name].input_shape)
        assert x.dtype == (np.float32 if zoo.SPECS[name].float_io else np.int8)
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], zoo.zoo_inputs(name, 1, seed=8)[0])


@pytest.mark.unit
def test_cache_hit_does_not_convert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCUFORGE_ZOO_CACHE", str(tmp_path))
    path = zoo.cache_path("pools")
    path.write_bytes(b"cached")

    def refuse(name: str) -> bytes:
        raise AssertionError("converted although cached")

    monkeypatch.setattr(zoo, "convert", refuse)
    assert zoo.zoo_tflite("pools") == b"cached"


@pytest.mark.unit
def test_cache_miss_writes_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCUFORGE_ZOO_CACHE", str(tmp_path))
    stale, other = tmp_path / "pools-0123456789abcdef.tflite", tmp_path / "pools_x-0123456789abcdef.tflite"
    stale.write_bytes(b"old")
    other.write_bytes(b"other")
    monkeypatch.setattr(zoo, "convert", lambda name: f"model {name}".encode())
    assert zoo.zoo_tflite("pools") == b"model pools"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([zoo.cache_path("pools").name, other.name])
    assert zoo.cache_key("pools") != zoo.cache_key("zero_padding")


@pytest.mark.unit
def test_unknown_name_lists_the_zoo() -> None:
    with pytest.raises(KeyError, match="ds_cnn"):
        zoo.zoo_tflite("no_such_model")


# ----------------------------------------------------------------------------- conversion


@pytest.mark.parametrize("name", ALL)
def test_converts_to_the_expected_supported_ops(name: str) -> None:
    ops = _op_names(zoo.zoo_tflite(name))
    unsupported = sorted(set(ops) - SUPPORTED_OPS)
    assert not unsupported, f"{name} contains unsupported ops {unsupported}"
    assert set(ops) == EXPECTED_OPS[name], f"{name}: {dict(Counter(ops))}"


@pytest.mark.parametrize("name", ALL)
def test_runs_in_the_reference_interpreter(name: str) -> None:
    from generator.importer.reference import run_reference

    model = zoo.zoo_tflite(name)
    outs = [run_reference(model, [x])[0] for x in zoo.zoo_inputs(name, 3, seed=1)]
    want = np.float32 if zoo.SPECS[name].float_io else np.int8
    assert all(o.dtype == want for o in outs)
    # Calibrated weights: the output depends on the input and is not pinned to one value.
    assert not np.array_equal(outs[0], outs[1]) or not np.array_equal(outs[0], outs[2])
    assert len(np.unique(np.stack(outs))) > 2


@pytest.mark.parametrize("name", ALL)
def test_conversion_is_deterministic(name: str) -> None:
    assert zoo.convert(name) == zoo.zoo_tflite(name)


@pytest.mark.tflite
def test_batchnorm_statistics_are_not_trivial() -> None:
    import keras

    model = zoo.ZOO["ds_cnn"]()
    bns = [lay for lay in model.layers if isinstance(lay, keras.layers.BatchNormalization)]
    assert len(bns) == 9
    for bn in bns:
        assert not np.allclose(bn.moving_mean.numpy(), 0.0)
        assert not np.allclose(bn.moving_variance.numpy(), 1.0)
        assert not np.allclose(bn.gamma.numpy(), 1.0)


# ----------------------------------------------------------------------------- TFLM arena search


@pytest.mark.unit
@pytest.mark.parametrize("need", [0, 1, 63, 64, 65, 1000, 24240, 24241])
def test_smallest_passing_finds_the_exact_threshold(need: int) -> None:
    from bench.tflm_arena import smallest_passing

    tried: list[int] = []

    def passes(n: int) -> bool:
        tried.append(n)
        return n >= need

    assert smallest_passing(passes, 24241) == need
    assert len(tried) < 40


@pytest.mark.tflite
@pytest.mark.slow
def test_tflm_min_arena_is_tight() -> None:
    from bench.tflm_arena import run_trial, tflm_min_arena_details

    model = zoo.zoo_tflite("pools")
    found = tflm_min_arena_details(model)
    assert found.min_arena <= found.accounting.total + 16
    with tempfile_model(model) as path:
        assert run_trial(path, found.min_arena).ok
        assert not run_trial(path, found.min_arena - 1).ok
