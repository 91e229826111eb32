"""TRANSPOSE_CONV's fixed-point parameters, computed as TFLite Micro's Prepare computes them."""

from __future__ import annotations

from generator.ir import Padding


def out_size(padding: Padding, size: int, k: int, stride: int) -> int:
    """TFLite's ComputeOutSize (dilation 1)."""
    if padding is Padding.SAME:
        return (size + stride - 1) // stride
    return (size - k + stride) // stride


def pad_before(padding: Padding, out: int, k: int, stride: int) -> int:
    """The padding before of a TRANSPOSE_CONV writing ``out`` rows (or columns): TFLite's
    ComputePaddingHeightWidth with the output's size where a convolution has its input's (dilation
    1), the same rule for SAME and VALID; VALID always gives 0."""
    total = (out_size(padding, out, k, stride) - 1) * stride + k - out
    return max(total, 0) // 2
