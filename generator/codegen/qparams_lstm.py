"""Compile-time constants of the int8 UNIDIRECTIONAL_SEQUENCE_LSTM, as TFLite Micro computes them
(recurrent family).

TFLite Micro's integer LSTM (kernels/lstm_eval*.cc) runs each gate as two int8 x int8 -> int32 matrix
products (input and previous hidden state), each requantised to int16 of the fixed scale 2^-12,
added with saturation, then a sigmoid (tanh for the cell gate) on int16 giving int16 of scale 2^-15.
The cell state (int16, a power-of-two scale) becomes forget * cell + input * cell gate, each product
an int16 MUL; it is clipped when cell_clip > 0. The hidden state is tanh(cell) * output gate,
requantised to int8 with the hidden state tensor's scale and zero point. Only the gate biases enter
the input products; the recurrent products have none.

Everything here is the parameters of that arithmetic, from the float32 scales of the file, in double
precision as TFLite Micro's Prepare does; the C kernel (``mcuf_lstm.c``) does the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from generator.codegen.qparams import quantize_multiplier

GATE_INPUT_SCALE = 2.0**-12
"""The int16 scale TFLite Micro gives every gate's requantised matrix products (Q3.12)."""
GATE_OUTPUT_SCALE = 2.0**-15
"""The int16 scale of every gate's sigmoid / tanh output (Q0.15)."""
GATES = ("input", "forget", "cell", "output")
"""Gate order of the kernel's weight, bias and multiplier arrays (TFLite's operand order)."""
INPUT_WEIGHTS = (1, 2, 3, 4)
RECURRENT_WEIGHTS = (5, 6, 7, 8)
GATE_BIASES = (12, 13, 14, 15)
"""Operand positions, per gate in :data:`GATES` order."""
NO_CLIP = -1
MIN_CELL_POWER, MAX_CELL_POWER = -40, 0
"""Cell state scales 2^p the kernel takes: the tanh of the cell state shifts by 12 + p."""


@dataclass(frozen=True)
class LstmParams:
    in_mult: tuple[int, ...]
    in_shift: tuple[int, ...]
    rec_mult: tuple[int, ...]
    rec_shift: tuple[int, ...]
    """Per gate (:data:`GATES`): requantisation of the input and recurrent products to 2^-12."""
    forget_mult: int
    forget_shift: int
    """forget gate (2^-15) x cell state -> cell state."""
    input_mult: int
    input_shift: int
    """input gate (2^-15) x cell gate (2^-15) -> cell state."""
    hidden_mult: int
    hidden_shift: int
    """tanh(cell) (2^-15) x output gate (2^-15) -> hidden state (int8)."""
    tanh_mult: int
    tanh_shift: int
    """The tanh of the cell state: x * tanh_mult, rounded right by tanh_shift, as Q3.12 x 3."""
    clip: int
    """The quantised cell clip; :data:`NO_CLIP`: no clipping."""


def cell_scale_power(scale: float) -> int | None:
    """p with scale == 2^p exactly, or None (TFLite Micro rounds log2 of the scale and uses that)."""
    m, e = math.frexp(float(np.float32(scale)))
    return e - 1 if m == 0.5 else None


def tanh_input(power: int) -> tuple[int, int]:
    """(multiplier, right shift) of TFLite Micro's int16 tanh for an input of scale 2^power: its
    left shift (15 + power) - 3 becomes multiplier 3 << shift when not negative, else multiplier 3
    and a rounded right shift."""
    left = 15 + power - 3
    return (3 << left, 0) if left >= 0 else (3, -left)


def quantized_clip(cell_clip: float, cell_scale: float) -> int:
    """TFLite Micro's quantized_cell_clip: clip / scale in double, clamped to int16, truncated;
    -1 when cell_clip is not positive (TFLite Micro does not clip then)."""
    clip = float(np.float32(cell_clip))
    if not clip > 0:
        return NO_CLIP
    return int(min(max(clip / float(np.float32(cell_scale)), -32768.0), 32767.0))


def _mul(s1: float, s2: float, out: float) -> tuple[int, int]:
    return quantize_multiplier(float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(out)))


def _fc(x_scale: float, w_scale: float) -> tuple[int, int]:
    return _mul(x_scale, w_scale, GATE_INPUT_SCALE)


def lstm_params(x_scale: float, input_weight_scales: tuple[float, ...], hidden_scale: float,
                recurrent_weight_scales: tuple[float, ...], cell_scale: float,
                cell_clip: float) -> LstmParams:
    """The kernel's constants; ``cell_scale`` must be a power of two (:func:`cell_scale_power`)."""
    power = cell_scale_power(cell_scale)
    if power is None:
        raise ValueError(f"cell state scale {cell_scale!r} is not a power of two")
    ins = [_fc(x_scale, s) for s in input_weight_scales]
    recs = [_fc(hidden_scale, s) for s in recurrent_weight_scales]
    forget = _mul(GATE_OUTPUT_SCALE, cell_scale, cell_scale)
    inp = _mul(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, cell_scale)
    hidden = _mul(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, hidden_scale)
    tanh_mult, tanh_shift = tanh_input(power)
    return LstmParams(
        in_mult=tuple(m for m, _ in ins), in_shift=tuple(s for _, s in ins),
        rec_mult=tuple(m for m, _ in recs), rec_shift=tuple(s for _, s in recs),
        forget_mult=forget[0], forget_shift=forget[1], input_mult=inp[0], input_shift=inp[1],
        hidden_mult=hidden[0], hidden_shift=hidden[1], tanh_mult=tanh_mult, tanh_shift=tanh_shift,
        clip=quantized_clip(cell_clip, cell_scale),
    )


def folded_bias(w: npt.NDArray[np.int8], bias: npt.NDArray[np.int32] | None,
                in_offset: int) -> npt.NDArray[np.int32]:
    """bias[o] + in_offset * sum(w[o]) per row of a [units][inputs] gate matrix, wrapped to int32:
    the kernel then multiplies raw int8 values and adds this in wrapping int32 arithmetic, which
    gives TFLite Micro's sum wherever that fits in int32 (the import checks that it does)."""
    b = np.zeros(w.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
    folded = b + np.int64(in_offset) * np.asarray(w, np.int64).sum(axis=1)
    wrapped = (folded + (1 << 31)) % (1 << 32) - (1 << 31)
    out: npt.NDArray[np.int32] = wrapped.astype(np.int32)
    return out


def cell_buffer(op_index: int) -> str:
    """The arena scratch holding one batch row's int16 cell state while the op runs."""
    return f"op{op_index}_cell"


def cell_bytes(units: int) -> int:
    return 2 * units
