"""The planner's instruction cost model: what partial execution costs on the target, per term.

:func:`generator.plan.pex.cost_terms` counts, for one step program, how often each term of
:data:`TERMS` occurs (channel slices times output pixels, multiply-accumulates that run without
column scratch, ...). A :class:`CostModel` prices each term in instructions of the target core, as
QEMU counts them (``-icount``) for the generated engine built with the kernels at -O2. The
planner keeps the extra instructions of a plan over whole-tensor execution within a budget of the
whole model's instructions (:data:`DSP` for cores with the DSP extension, the default; :data:`HELIUM`
for cores with MVE); ``python -m bench.pex_fit`` measures the terms on the emulated Cortex-M4F and
Cortex-M55 and refits the coefficients below (bounded least squares over single changes and the
planner's own choices on the four reference CNNs; the in-place terms from single in-place
operators of the DS-CNN measured alone); the base coefficients (the budget's denominator, the
whole model's instructions) by the same bounded fit, relative errors, on the four whole programs
(within 9%; FULLY_CONNECTED's from the latency estimate, no CNN has enough of it). The figures and
residuals are in ``bench/README.md``.
A linear model misses some interactions (a 1x1 conv's slices re-expanding its columns, ragged
slices), so it errs on the side of cost and the emulator test (tests/test_split_overhead.py)
holds the planner's choices to 2% measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_BUDGET = 0.02
"""The most extra instructions a plan may cost over whole-tensor execution, estimated on the target
core by its cost model, as a fraction of the whole model's (``--split-overhead`` in percent)."""

TERMS: tuple[str, ...] = (
    "slice_px_conv",    # (slices - 1) x output pixels of a CONV_2D sliced by output channels
    "slice_px_dw",      # the same for DEPTHWISE_CONV_2D
    "slice_px_other",   # the same for the other sliced operators (pools, PAD, ADD, MEAN)
    "acc_values",       # (slices - 1) x output values of an accumulating (input-sliced) operator
    "acc_finish",       # output values of an accumulator, cleared and requantised once
    "direct_macs",      # multiply-accumulates of 1x1 CONV_2D calls reading int8 pixels in place
    "rebuilt_cols",     # filter values x output pixels x (slices - 1): columns gathered again
    "slow_macs",        # multiply-accumulates summed tap by tap (no column scratch, no borrow)
    "inplace_dw_px",    # (groups - 1) x output pixels of an in-place DEPTHWISE_CONV_2D
    "inplace_values",   # output values of an in-place operator (copied back from its tmp)
    "inplace_pw_values",  # output values of an in-place 1x1 CONV_2D
)

BASE_TERMS: tuple[str, ...] = ("macs_conv", "macs_dw", "macs_fc", "values")
"""The terms of whole-tensor execution, for the budget's denominator."""


@dataclass(frozen=True)
class CostModel:
    name: str
    per_term: Mapping[str, float]
    base: Mapping[str, float]

    def price(self, terms: Mapping[str, int]) -> float:
        return sum(self.per_term.get(t, 0.0) * n for t, n in terms.items())

    def base_price(self, terms: Mapping[str, int]) -> float:
        return sum(self.base.get(t, 0.0) * n for t, n in terms.items())


DSP = CostModel(
    "dsp",
    per_term={
        "slice_px_conv": 56.8,
        "slice_px_dw": 42.3,
        "slice_px_other": 160.0,
        "acc_values": 10.3,
        "acc_finish": 45.3,
        "direct_macs": 0.11,
        "rebuilt_cols": 2.6,
        "slow_macs": 2.46,
        "inplace_dw_px": 0.0,
        "inplace_values": 1.55,
        "inplace_pw_values": 1.24,
    },
    base={"macs_conv": 1.24, "macs_dw": 7.04, "macs_fc": 2.0, "values": 43.4},
)
"""Cortex-M4F / M7 (SMLAD kernels)."""

HELIUM = CostModel(
    "helium",
    per_term={
        "slice_px_conv": 25.8,
        "slice_px_dw": 25.3,
        "slice_px_other": 614.0,
        "acc_values": 9.52,
        "acc_finish": 53.0,
        "direct_macs": 0.01,
        "rebuilt_cols": 0.5,
        "slow_macs": 3.87,
        "inplace_dw_px": 0.0,
        "inplace_values": 1.34,
        "inplace_pw_values": 1.05,
    },
    base={"macs_conv": 0.31, "macs_dw": 5.8, "macs_fc": 0.56, "values": 27.2},
)
"""Cortex-M55 (Helium kernels)."""

MODELS: Mapping[str, CostModel] = {m.name: m for m in (DSP, HELIUM)}


def for_core(mve: bool) -> CostModel:
    return HELIUM if mve else DSP
