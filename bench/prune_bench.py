"""Peak SRAM of MobileNetV2 (alpha 0.35, 96x96x3) with partial execution and pruning, against TFLM.

    python -m bench.prune_bench                # about two minutes on 2 cores
    python -m bench.prune_bench --min-keep 0.0625   # let layers narrow to 1/16
    python -m bench.prune_bench --epochs 1     # fine-tune between steps (on random data: no meaning)

The model is the test zoo's (random but calibrated weights) and the data are the zoo's random inputs
with random labels, so the memory figures are real and the accuracy figures are not: a pruned network
keeps its accuracy only when it is fine-tuned on real data, which this benchmark does not have.

Figures, all in bytes of SRAM for activations:

* ``TFLM``: the smallest ``arena_size`` with which TensorFlow Lite Micro runs the unpruned int8 model
  (:func:`bench.tflm_arena.tflm_min_arena`); the reference a TFLM user must reserve;
* mcuforge's arena for the unpruned model, without and with partial execution;
* the goal, a tenth of TFLM's arena; a pruning run aimed at it (refused at once when out of reach,
  with the reason);
* the pruned model's arena when pruning runs to the smallest arena it can reach (every layer at the
  peak at its minimum width), and the ratio to TFLM's.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODEL = "mobilenet_v2"


def tflm_arena(tflite: bytes) -> int | str:
    try:
        from bench.tflm_arena import tflm_min_arena
    except ImportError as exc:
        return f"bench.tflm_arena unavailable ({exc.name})"
    try:
        return tflm_min_arena(tflite)
    except RuntimeError as exc:
        return f"TFLM could not run the model ({str(exc)[:120]})"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.prune_bench", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=0, help="fine-tuning epochs per step (default 0)")
    p.add_argument("--min-keep", type=float, default=0.125,
                   help="narrowest share of a layer's channels (default 0.125)")
    p.add_argument("--samples", type=int, default=64, help="random samples (calibration, validation)")
    p.add_argument("--max-steps", type=int, default=16)
    args = p.parse_args(argv)

    import keras

    from generator.compiler import compile_graph
    from generator.data import Dataset, split_dataset
    from generator.errors import FitError
    from generator.importer.tflite_reader import read_tflite
    from generator.plan.arena import best_layout
    from generator.plan.pex import build_program
    from generator.prune.loop import PruneOptions, minimum_width_model, prune_to_budget
    from generator.prune.measure import measure, quantize
    from generator.prune.report import COLUMNS, step_row
    from tests.support.zoo import build_model, calibration_data

    t0 = time.perf_counter()
    keras.utils.set_random_seed(0)
    model = build_model(MODEL)
    x = calibration_data(MODEL, n=args.samples)
    y = np.random.default_rng(0).integers(0, 2, len(x))
    split = split_dataset(Dataset(x, y, ("a", "b"), "random inputs, random labels", "npz"), 0.25)
    opts = PruneOptions(epochs=args.epochs, final_epochs=0, max_steps=args.max_steps,
                        min_keep=args.min_keep, calibration_samples=len(split.train_y),
                        int8_eval_samples=4)

    tflite = quantize(model, split.train_x)
    graph = read_tflite(tflite)
    unsplit = best_layout(list(build_program(graph).buffers)).size
    partial = compile_graph(graph, tflite).arena_bytes
    input_bytes = sum(graph.tensors[t].nbytes for t in graph.inputs)
    print(f"{MODEL}: int8 input alone {input_bytes:,} B")
    print(f"mcuforge, unpruned: {unsplit:,} B without partial execution, {partial:,} B with it")
    tflm = tflm_arena(tflite)
    print(f"TFLM, unpruned: {tflm:,} B" if isinstance(tflm, int) else f"TFLM: {tflm}")
    reference = tflm if isinstance(tflm, int) else unsplit
    goal = reference // 10
    print(f"goal: 1/10 of {'TFLM' if isinstance(tflm, int) else 'the unsplit arena'} = {goal:,} B")

    try:
        prune_to_budget(model, split, goal, opts)
        print("goal reached")
    except FitError as exc:
        print(f"goal refused: {exc.message}")

    narrowest = minimum_width_model(model, opts)
    assert narrowest is not None
    floor = measure(narrowest, split.train_x[:16], name="minimum widths").arena
    print(f"arena with every prunable layer at {args.min_keep:.1%} of its channels: {floor:,} B")
    result = prune_to_budget(model, split, floor, opts)
    print()
    widths = (6, 26, 10, 13, 10, 10)
    cols = (COLUMNS[0], *COLUMNS[2:], COLUMNS[1])
    print("".join(f"{c:<{w}}" for c, w in zip(cols, (*widths, 0), strict=True)))
    for rec in result.steps:
        row = step_row(rec)
        cells = (row[0], *row[2:], row[1])
        print("".join(f"{c:<{w}}" for c, w in zip(cells, (*widths, 0), strict=True)))
    last = result.steps[-1]
    print()
    print(f"pruned + partial execution: arena {last.arena:,} B (peak {last.peak:,} B, lower bound "
          f"{last.lower_bound:,} B), flash {last.flash:,} B (was {result.steps[0].flash:,} B), "
          f"MACs {last.macs:,} (was {result.steps[0].macs:,})")
    print(f"ratio to {'TFLM' if isinstance(tflm, int) else 'the unsplit arena'}: "
          f"{reference / last.arena:.1f}x smaller (goal 10x: "
          f"{'met' if last.arena <= goal else 'not met'}); budget of this run met: {result.met}")
    print(f"the int8 input tensor alone is {input_bytes / reference:.1%} of the reference arena, "
          f"so no pruning of the layers can go below {reference / input_bytes:.1f}x")
    print("accuracy caveat: random weights, random inputs and random labels; the accuracy columns "
          "mean nothing here. Pruning this far without fine-tuning on real data would cost real "
          "accuracy; with data, give `mcuforge prune --data` and fine-tuning epochs.")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
