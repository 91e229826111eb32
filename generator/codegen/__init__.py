"""Code generation: a partial-execution program becomes kernel calls of the C runtime, then C.

The modules, without import cycles: :mod:`~generator.codegen.context` (the lowering context, the
parameter builders and the handler registry), the handler modules listed in
:mod:`~generator.codegen.handlers` (one per operator family), :mod:`~generator.codegen.lower_split`
(the program: whole operators through the handlers, channel slices through the same parameter
builders) and :mod:`~generator.codegen.emit` (the schedule as ``model.c`` / ``model.h``).
"""
