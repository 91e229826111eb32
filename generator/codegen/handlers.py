"""Every module that registers an operator's lowering (:func:`generator.codegen.context.register`).

Importing this module fills :data:`generator.codegen.context.HANDLERS`; a new operator family goes in
a module of its own, listed here.
"""

from generator.codegen import lower_core, lower_eltwise  # noqa: F401  (they register handlers)
from generator.codegen.context import HANDLERS

__all__ = ["HANDLERS"]
