"""Lowering of FULLY_CONNECTED onto the packed kernels of ``mcuf_fc_packed.c``.

At compile time the weights are packed for the kernel's inner loop (:func:`pack_fc_weights`) and the
input offset is folded into the bias (:func:`fold_bias`). Requantisation follows the numerics mode
(:mod:`generator.numerics`): fixed point as TFLite Micro (``mcuf_fc_packed_s8``), or the double
rescale of TFLite's reference kernel (``mcuf_fc_packed_s8_f64``).

The same helpers lower the three forms partial execution uses: the whole op, a slice of its outputs
(each slice's rows packed on their own) and a slice of its inputs accumulated in int32 (each slice's
columns packed on their own), finished by one requantisation with the bias folded over all inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from generator.codegen.context import (
    Lowering,
    Weighted,
    fc_params,
    fc_scales,
    params,
    weighted_constants,
)
from generator.codegen.schedule import Arg, BufRef, Call, ConstRef, Literal
from generator.errors import McuforgeError
from generator.ir import Op
from generator.numerics import Numerics

ROWS = 4
"""Output rows per pass of the kernel (``MCUF_FC_ROWS``)."""

BLOCK_ALIGN = 4
"""Each slice's packed weights start at a multiple of this many bytes from their array's start, so
that a word-aligned array gives word-aligned slices: the Helium loop loads the weights of 16 inputs
of four rows with VLD4.32, which needs a word-aligned address (other addresses take a slower
gather)."""

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def pack_fc_weights(w: npt.NDArray[np.int8], rows: int = ROWS) -> npt.NDArray[np.int8]:
    """[out_n][in_n] weights -> the flat int8 layout of ``mcuf_fc_packed.c``: blocks of ``rows``
    rows, each holding per group of four inputs the rows' four bytes in turn, then per tail input
    (in_n % 4) the rows' bytes; the out_n % rows last rows plain."""
    out_n, in_n = w.shape
    full, q = out_n - out_n % rows, in_n - in_n % 4
    parts: list[npt.NDArray[np.int8]] = []
    for b in range(0, full, rows):
        block = w[b : b + rows]
        groups = block[:, :q].reshape(rows, q // 4, 4).transpose(1, 0, 2)  # [group][row][4]
        parts += [groups.reshape(-1), block[:, q:].T.reshape(-1)]
    parts.append(w[full:].reshape(-1))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.int8)


def fold_bias(w: npt.NDArray[np.int8], bias: npt.NDArray[np.int32] | None,
              in_offset: int) -> npt.NDArray[np.int32]:
    """bias[o] + in_offset * sum(w[o]): the kernels then multiply raw inputs. Import bounds every
    accumulator by 255 * sum|w| + |bias| < 2^31, so the folded bias is an int32."""
    b = np.zeros(w.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64)
    folded = b + np.int64(in_offset) * w.astype(np.int64).sum(axis=1)
    if folded.size and (folded.min() < INT32_MIN or folded.max() > INT32_MAX):
        raise McuforgeError("internal error: a FULLY_CONNECTED folded bias leaves int32",
                            "please report this with the model")
    out: npt.NDArray[np.int32] = folded.astype(np.int32)
    return out


def _requant_refs(lw: Lowering, i: int, op: Op, k: Weighted, lo: int) -> list[Arg]:
    """bias_f then mult, shift (fixed point) or scale (double), from output ``lo``; one entry per
    output in every case, so the kernels run with per_channel = 1."""
    in_offset = fc_params(lw.graph, op, 1, 1)["in_offset"]
    bias = lw.const(f"op{i}_bf", fold_bias(k.weights, k.bias, in_offset))
    if lw.numerics is Numerics.TFLITE_REF:
        scale = lw.const(f"op{i}_scale", fc_scales(lw.graph, op))
        return [ConstRef(bias.name, lo), ConstRef(scale.name, lo)]
    mult, shift = lw.const(f"op{i}_mult", k.mult), lw.const(f"op{i}_shift", k.shift)
    return [ConstRef(bias.name, lo), ConstRef(mult.name, lo), ConstRef(shift.name, lo)]


def _kernel(lw: Lowering) -> str:
    return "mcuf_fc_packed_s8_f64" if lw.numerics is Numerics.TFLITE_REF else "mcuf_fc_packed_s8"


def packed_blocks(lw: Lowering, name: str, blocks: Sequence[npt.NDArray[np.int8]]) -> list[ConstRef]:
    """Each block packed on its own, padded with zeros to a multiple of :data:`BLOCK_ALIGN` bytes,
    stored back to back in one array; one reference per block."""
    packed = [np.pad(p, (0, -p.size % BLOCK_ALIGN)) for p in map(pack_fc_weights, blocks)]
    if name not in lw.consts:
        lw.const(name, np.concatenate([p.reshape(-1) for p in packed]))
    refs, offset = [], 0
    for p in packed:
        refs.append(ConstRef(name, offset))
        offset += int(p.size)
    return refs


def lower_fc(lw: Lowering, i: int, op: Op) -> None:
    """The whole op: one call."""
    k = weighted_constants(lw.graph, op)
    out_n, in_n = k.weights.shape
    p = fc_params(lw.graph, op, in_n, out_n) | {"per_channel": 1}
    w = packed_blocks(lw, f"op{i}_wp", [k.weights])[0]
    args = (lw.buf(op.inputs[0]), w, *_requant_refs(lw, i, op, k, 0), lw.buf(op.outputs[0]))
    lw.emit(Call(_kernel(lw), args, "mcuf_fc_params", params(**p), f"FULLY_CONNECTED {op.name}", i))


def lower_fc_out_slice(lw: Lowering, i: int, op: Op, ranges: Sequence[tuple[int, int]],
                       index: int, out: BufRef) -> None:
    """Outputs ranges[index] of the op from its whole input; ``out`` points at the slice's first
    output. Every slice's rows are packed on their own (``op{i}_wp_o{len(ranges)}``)."""
    k = weighted_constants(lw.graph, op)
    out_n, in_n = k.weights.shape
    if lw.graph.tensors[op.outputs[0]].size != out_n:
        raise McuforgeError(f"FULLY_CONNECTED '{op.name}' with batches cannot be split")
    lo, hi = ranges[index]
    w = packed_blocks(lw, f"op{i}_wp_o{len(ranges)}", [k.weights[a:b] for a, b in ranges])[index]
    p = fc_params(lw.graph, op, in_n, hi - lo) | {"per_channel": 1}
    args = (lw.buf(op.inputs[0]), w, *_requant_refs(lw, i, op, k, lo), out)
    lw.emit(Call(_kernel(lw), args, "mcuf_fc_params", params(**p),
                 f"FULLY_CONNECTED {op.name} [out {lo}:{hi}]", i))


def lower_fc_in_slice(lw: Lowering, i: int, op: Op, ranges: Sequence[tuple[int, int]],
                      index: int, src: BufRef, acc: BufRef) -> None:
    """Adds the sums over inputs ranges[index] (read at ``src``) into the int32 accumulator."""
    k = weighted_constants(lw.graph, op)
    out_n = k.weights.shape[0]
    lo, hi = ranges[index]
    w = packed_blocks(lw, f"op{i}_wp_i{len(ranges)}", [k.weights[:, a:b] for a, b in ranges])[index]
    p = fc_params(lw.graph, op, hi - lo, out_n)
    lw.emit(Call("mcuf_fc_packed_s8_acc", (src, w, acc), "mcuf_fc_params", params(**p),
                 f"FULLY_CONNECTED {op.name} [in {lo}:{hi}]", i))


def lower_fc_requant(lw: Lowering, i: int, op: Op, acc: BufRef, out: BufRef) -> None:
    """Finishes an accumulated op: bias folded over all inputs, then the mode's requantisation."""
    g = lw.graph
    k = weighted_constants(g, op)
    out_n = k.weights.shape[0]
    n = g.tensors[op.outputs[0]].size // out_n
    fp = fc_params(g, op, 1, out_n)
    refs = _requant_refs(lw, i, op, k, 0)
    func = "mcuf_requant_s32_f64" if lw.numerics is Numerics.TFLITE_REF else "mcuf_requant_s32"
    tail = [Literal(str(fp[f])) for f in ("out_offset", "act_min", "act_max")]
    lw.emit(Call(func, (Literal(str(n)), Literal(str(out_n)), acc, *refs, *tail, out,
                        Literal(str(out_n))), comment=f"requantise {op.name}", op_index=i))
