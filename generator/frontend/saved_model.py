"""A TensorFlow SavedModel folder (``model.export(dir)``, ``tf.saved_model.save``) as a convertible model.

Such a folder holds no Keras layers, only serving signatures. mcuforge takes the ``serving_default``
signature, fixes its batch dimension to 1 (so every shape is static, as for Keras models) and hands
that function to TFLiteConverter. Loops (as recurrent layers become) are refused before conversion,
because int8 calibration of them can crash the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import ModelFormatError, UnsupportedOpsError

SIGNATURE = "serving_default"
_LOOP_OPS = frozenset({"While", "StatelessWhile", "TensorListReserve"})
_HINT = "export the model with model.export(path) (Keras) or tf.saved_model.save with a signature"


@dataclass(frozen=True, eq=False)
class SavedModelSignature:
    """The serving function of a SavedModel, with its one float input of a fixed sample shape."""

    path: Path
    loaded: Any
    function: Any
    input_name: str
    sample_shape: tuple[int, ...]

    def batch1_function(self, tf: Any) -> Any:
        """The serving function traced for a batch of one (a concrete function)."""
        spec = tf.TensorSpec((1, *self.sample_shape), tf.float32, name=self.input_name)
        serve = self.function

        @tf.function(input_signature=[spec])  # type: ignore[untyped-decorator]
        def batch1(x: Any) -> Any:
            return serve(**{self.input_name: x})

        return batch1.get_concrete_function()

    def converter(self, tf: Any) -> Any:
        """A TFLiteConverter of the batch-1 serving function (loops refused first)."""
        try:
            concrete = self.batch1_function(tf)
        except Exception as exc:  # tracing raises TensorFlow's many error types
            raise ModelFormatError(
                f"{self.path}: the '{SIGNATURE}' function cannot be traced for a batch of one "
                f"({type(exc).__name__}: {str(exc).strip()[:200]})", _HINT) from None
        _refuse_loops(concrete, self.path)
        return tf.lite.TFLiteConverter.from_concrete_functions([concrete], self.loaded)


def load_saved_model(tf: Any, path: Path) -> SavedModelSignature:
    """Load ``path`` and pick its serving signature; raise an InputError naming what is wrong."""
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TensorFlow raises many unrelated types for a bad folder
        raise ModelFormatError(
            f"{path}: not a loadable SavedModel ({type(exc).__name__}: {str(exc).strip()[:200]})",
            _HINT) from None
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if SIGNATURE not in signatures:
        found = ", ".join(sorted(signatures)) or "none"
        raise ModelFormatError(f"{path}: the SavedModel has no '{SIGNATURE}' signature (it has: "
                               f"{found})", _HINT)
    function = signatures[SIGNATURE]
    _, specs = function.structured_input_signature
    if len(specs) != 1:
        raise UnsupportedOpsError(
            f"{path}: the '{SIGNATURE}' signature takes {len(specs)} inputs ({', '.join(sorted(specs))})",
            "mcuforge compiles SavedModels with one input; give a Keras model instead")
    name, spec = next(iter(specs.items()))
    return SavedModelSignature(path, loaded, function, name, _sample_shape(tf, path, name, spec))


def _sample_shape(tf: Any, path: Path, name: str, spec: Any) -> tuple[int, ...]:
    dims = spec.shape.as_list() if spec.shape.rank is not None else None
    if not dims or any(d is None for d in dims[1:]):
        raise UnsupportedOpsError(
            f"{path}: input '{name}' of the '{SIGNATURE}' signature has the shape {dims}; only the "
            "batch dimension may be unknown", "export the model with a fixed input shape")
    if spec.dtype != tf.float32:
        raise UnsupportedOpsError(
            f"{path}: input '{name}' of the '{SIGNATURE}' signature is {spec.dtype.name}, not float32",
            "export the float model; mcuforge quantises it")
    return tuple(int(d) for d in dims[1:])


def _refuse_loops(concrete: Any, path: Path) -> None:
    graph = concrete.graph.as_graph_def()
    ops = {node.op for node in graph.node}
    for fn in graph.library.function:
        ops.update(node.op for node in fn.node_def)
    loops = sorted(ops & _LOOP_OPS)
    if loops:
        raise UnsupportedOpsError(
            f"{path}: the '{SIGNATURE}' function runs a loop ({', '.join(loops)}), as recurrent "
            "layers become; mcuforge does not compile loops",
            "model sequences with convolutions over time (Conv1D/Conv2D, as in a DS-CNN) instead of "
            "LSTM/GRU/RNN layers")
