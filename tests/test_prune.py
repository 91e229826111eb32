"""Memory-aware pruning end to end, on a small task trained here in seconds.

Task: 16x16 grey images of four noisy patterns (horizontal, vertical and diagonal stripes, and a
checkerboard; random frequency and phase, Gaussian noise of 1.2 times the pattern's amplitude), 800
samples, a quarter held out. Model: conv -> BN -> ReLU -> depthwise -> 1x1 conv with a residual add ->
max pool -> conv -> global pool -> softmax (12.5 KB arena unpruned, 99 % validation accuracy).

Budget 4 KB. What is checked:

* the budget is met by the planner's own measure: the arena (and so the peak) of the pruned int8 model,
  re-planned here from its .tflite;
* the pruned model still compiles bit-exactly: the generated C built on the host equals the TFLite
  reference interpreter on 24 validation inputs;
* accuracy: the pruned model's int8 validation accuracy is at most 5 points below the unpruned
  model's. With 200 validation samples one sample is 0.5 points and the binomial standard error of an
  accuracy near 95 % is about 1.5 points, so 5 points is over three standard errors: the noise of
  fine-tuning stays inside it, a model that pruning had broken would not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from generator.compiler import compile_graph
from generator.data import Dataset, DataSplit, split_dataset
from generator.errors import FitError
from generator.host import build_host
from generator.importer.reference import run_reference
from generator.importer.tflite_reader import read_tflite
from generator.plan.pex import search_splits
from generator.prune.loop import PruneOptions, PruneResult, fit_to_budget, prune_to_budget

pytestmark = [pytest.mark.tflite, pytest.mark.slow]

BUDGET = 4096
MARGIN = 0.05
RUNS = 24
SIZE = 16


def patterns(n: int, seed: int = 0, noise: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    xs, ys = [], []
    for i in range(n):
        k, f, ph = i % 4, rng.uniform(0.5, 1.2), rng.uniform(0, 2 * np.pi)
        img = (np.sin(f * yy + ph), np.sin(f * xx + ph), np.sin(f * (xx + yy) / 1.4 + ph),
               np.sin(f * xx + ph) * np.sin(f * yy + ph))[k]
        xs.append((img + rng.normal(0, noise, img.shape))[..., None].astype(np.float32))
        ys.append(k)
    return np.stack(xs), np.array(ys, np.int64)


def small_cnn() -> Any:
    import keras

    L = keras.layers

    def bn(x: Any) -> Any:
        return L.BatchNormalization(momentum=0.9)(x)

    inp = keras.Input((SIZE, SIZE, 1))
    a = L.ReLU()(bn(L.Conv2D(24, 3, padding="same", use_bias=False)(inp)))
    b = L.ReLU()(bn(L.DepthwiseConv2D(3, padding="same", use_bias=False)(a)))
    b = bn(L.Conv2D(24, 1, use_bias=False)(b))
    r = L.MaxPooling2D()(L.ReLU()(L.Add()([a, b])))
    c = L.ReLU()(bn(L.Conv2D(32, 3, padding="same", use_bias=False)(r)))
    out = L.Dense(4, activation="softmax")(L.GlobalAveragePooling2D()(c))
    return keras.Model(inp, out, name="patterns")


@pytest.fixture(scope="module")
def task() -> tuple[Any, DataSplit, np.ndarray, np.ndarray]:
    import keras

    x, y = patterns(800)
    split = split_dataset(Dataset(x, y, ("h", "v", "d", "c"), "patterns", "npz"), 0.25)
    keras.utils.set_random_seed(0)
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(split.train_x, split.train_y, epochs=10, batch_size=32, verbose=0)
    return model, split, x, y


@pytest.fixture(scope="module")
def pruned(task: tuple[Any, DataSplit, np.ndarray, np.ndarray]) -> PruneResult:
    model, split, _, _ = task
    return prune_to_budget(model, split, BUDGET, PruneOptions(epochs=2, final_epochs=4))


def test_budget_met_by_the_planners_own_measure(pruned: PruneResult) -> None:
    first, last = pruned.steps[0], pruned.steps[-1]
    assert first.arena > 2 * BUDGET, "the unpruned model must need pruning for the test to mean much"
    assert pruned.met and last.arena <= BUDGET
    graph = read_tflite(pruned.tflite)
    assert search_splits(graph).program.peak <= BUDGET
    assert compile_graph(graph, pruned.tflite).arena_bytes == last.arena
    assert last.peak <= last.arena
    assert last.flash < first.flash and last.macs < first.macs
    assert any(step.removed for step in pruned.steps)


def test_pruned_model_compiles_bit_exactly(pruned: PruneResult, tmp_path: Path,
                                           task: tuple[Any, DataSplit, np.ndarray, np.ndarray]
                                           ) -> None:
    compiled = pruned.measured.compiled
    engine = build_host(compiled, tmp_path)
    spec = compiled.schedule.inputs[0]
    inp = compiled.graph.tensors[compiled.graph.inputs[0]]
    assert inp.quant is not None
    xs = task[1].val_x[:RUNS] / inp.quant.single_scale + inp.quant.single_zero_point
    q = [np.clip(np.round(x), -128, 127).astype(spec.dtype.value).reshape(spec.shape) for x in xs]
    got = engine.run([[x] for x in q])
    for i, (x, out) in enumerate(zip(q, got, strict=True)):
        want = run_reference(pruned.tflite, [x])
        np.testing.assert_array_equal(out[0].reshape(want[0].shape), want[0], err_msg=f"input {i}")


def test_accuracy_within_margin(pruned: PruneResult) -> None:
    first, last = pruned.steps[0], pruned.steps[-1]
    assert first.int8_acc is not None and last.int8_acc is not None
    assert first.int8_acc >= 0.9, "the unpruned model must have learnt the task"
    assert last.int8_acc >= first.int8_acc - MARGIN, (first.int8_acc, last.int8_acc)
    assert last.float_acc >= first.float_acc - MARGIN, (first.float_acc, last.float_acc)


def test_budget_below_the_input_tensor_is_refused_at_once(
        task: tuple[Any, DataSplit, np.ndarray, np.ndarray]) -> None:
    model, split, _, _ = task
    with pytest.raises(FitError, match=r"input alone takes 256 B, above the SRAM budget of 200 B"):
        prune_to_budget(model, split, 200)


def test_budget_below_the_minimum_width_arena_is_refused_before_training(
        task: tuple[Any, DataSplit, np.ndarray, np.ndarray]) -> None:
    model, split, _, _ = task
    with pytest.raises(FitError, match=r"even with every prunable layer at its minimum width") as exc:
        prune_to_budget(model, split, 1000)
    assert "raise the budget to at least" in exc.value.hint


def test_fit_to_budget_from_files_raises_when_the_steps_run_out(
        task: tuple[Any, DataSplit, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    model, _, x, y = task
    model.save(tmp_path / "base.keras")
    np.savez(tmp_path / "data.npz", x=x, y=y)
    opts = PruneOptions(epochs=0, final_epochs=0, max_steps=1, max_fraction=0.25)
    with pytest.raises(FitError, match=r"after 1 pruning steps the planned arena is [\d,]+ B, still "
                                       r"above the budget of 4,096 B"):
        fit_to_budget(tmp_path / "base.keras", tmp_path / "data.npz", BUDGET, opts)


# ---- the command -----------------------------------------------------------------------------------


def test_prune_command_writes_model_tflite_json_and_plot(
        task: tuple[Any, DataSplit, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    from generator.cli import app

    model, _, x, y = task
    model_path, data = tmp_path / "base.keras", tmp_path / "data.npz"
    model.save(model_path)
    np.savez(data, x=x, y=y)
    out = tmp_path / "out" / "small.keras"
    args = ["prune", str(model_path), "--data", str(data), "--sram-budget", "8KB", "-o", str(out),
            "--epochs", "1", "--final-epochs", "0"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "pruning steps" in res.output and "acc int8" in res.output and "24->" in res.output
    for suffix in (".keras", ".tflite", ".prune.json", ".prune.png"):
        assert (tmp_path / "out" / f"small{suffix}").is_file(), suffix
    doc = json.loads((tmp_path / "out" / "small.prune.json").read_text())
    assert doc["met"] and doc["budget_bytes"] == 8192
    assert doc["steps"][-1]["arena_bytes"] <= 8192 < doc["steps"][0]["arena_bytes"]
    assert doc["data"]["train"] + doc["data"]["validation"] == len(y)
    assert read_tflite((tmp_path / "out" / "small.tflite").read_bytes()).ops
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 4 and "--force" in again.output


def test_prune_command_errors(task: tuple[Any, DataSplit, np.ndarray, np.ndarray],
                              tmp_path: Path) -> None:
    from generator.cli import app

    model, _, x, y = task
    model_path, data = tmp_path / "base.keras", tmp_path / "data.npz"
    model.save(model_path)
    np.savez(data, x=x, y=y)
    base = ["prune", str(model_path), "--data", str(data), "-o", str(tmp_path / "p.keras")]
    res = CliRunner().invoke(app, [*base, "--sram-budget", "12XB"])
    assert res.exit_code == 2 and "not a size" in res.output
    res = CliRunner().invoke(app, [*base, "--sram-budget", "100"])
    assert res.exit_code == 3 and "input alone" in res.output and "hint:" in res.output
    np.savez(data, x=x[:, :8], y=y)
    res = CliRunner().invoke(app, [*base, "--sram-budget", "4KB"])
    assert res.exit_code == 2 and "the model input is (16, 16, 1)" in res.output
