"""Memory-aware structured pruning: remove whole channels where the planned SRAM peak is set.

Stages, one module each: :mod:`~generator.prune.channels` (which channels of a Keras functional model
must go together), :mod:`~generator.prune.surgery` (rebuild the model with the kept channels),
:mod:`~generator.prune.importance` (which channels matter least), :mod:`~generator.prune.irmap` (the
int8 IR's peak traced back to channel groups), :mod:`~generator.prune.whatif` and
:mod:`~generator.prune.policy` (judge candidate cuts by re-planning the resized IR),
:mod:`~generator.prune.measure` (int8 conversion from the user's data, plan, accuracy),
:mod:`~generator.prune.loop` (the loop, :func:`~generator.prune.loop.prune_to_budget` and the
file-level :func:`~generator.prune.loop.fit_to_budget`), :mod:`~generator.prune.report` and
:mod:`~generator.prune.progress` (table, JSON, plot, rich progress) and :mod:`~generator.prune.cli`
(``mcuforge prune``). Only the loop's callers import TensorFlow; importing this package does not.
"""
