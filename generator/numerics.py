"""Which runtime the generated engine is bit-exact with (``--numerics``).

TFLite Micro and TFLite's reference interpreter agree on every int8 kernel mcuforge generates except
two. FULLY_CONNECTED: TFLite Micro requantises its accumulators in fixed point (as TFLite's optimised
kernels and CMSIS-NN do), TFLite's reference kernel rescales them in double precision; the two differ
by 1 or 2 on some outputs (on the FC autoencoder of the zoo, on about a quarter of them). LOGISTIC:
TFLite Micro computes it in gemmlowp fixed point, the interpreter from a float table; they differ by 1
on a few of the 256 inputs of some quantisations (TANH is computed the same two ways; with the output
quantisation the import requires, no difference has been seen). SUM: the interpreter's reference int8
kernel reads its input as uint8, so ``tflite-ref`` refuses SUM rather than reproduce that.
"""

from __future__ import annotations

import enum


class Numerics(enum.StrEnum):
    TFLM = "tflm"
    """Fixed-point requantisation everywhere, bit-exact with TFLite Micro (the default)."""
    TFLITE_REF = "tflite-ref"
    """FULLY_CONNECTED rescaled in double, bit-exact with TFLite's reference interpreter."""

    @property
    def reference(self) -> str:
        """The runtime ``mcuforge debug`` compares against, for messages and tables."""
        return "TFLite Micro" if self is Numerics.TFLM else "the TFLite reference interpreter"


DEFAULT = Numerics.TFLM
