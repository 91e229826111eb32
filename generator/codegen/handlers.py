"""Every module that registers an operator's lowering (:func:`generator.codegen.context.register`).

Importing this module fills :data:`generator.codegen.context.HANDLERS`; a new operator family goes in
a module of its own, listed here.
"""

from generator.codegen import (  # noqa: F401  (they register handlers)
    lower_core,
    lower_eltwise,
    lower_layout,
    lower_lstm,  # recurrent family
    lower_ops,  # elementwise and reductions family: binary operators and reductions
    lower_svdf,  # SVDF (keyword spotting)
    lower_tconv,  # transposed convolution
    lower_unary,  # elementwise and reductions family
)
from generator.codegen.context import HANDLERS

__all__ = ["HANDLERS"]
