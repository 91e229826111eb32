"""A TensorFlow SavedModel folder (``model.export(dir)``, ``tf.saved_model.save``) as a convertible model.

Such a folder holds no Keras layers, only serving signatures. mcuforge takes the ``serving_default``
signature, fixes its batch dimension to 1 (so every shape is static, as for Keras models) and hands
that function to TFLiteConverter. Loops (as recurrent layers become) are refused before conversion,
because int8 calibration of them can crash the process.

A SavedModel is a program: loading it runs its initialisers, and its graphs may hold operators that
read or write files, print to a file, call Python or abort the process. Before TensorFlow sees the
folder, every operator of every graph and function in ``saved_model.pb`` is read and the folder is
refused if any of them is one of :data:`FORBIDDEN_OPS`; a model exported from Keras has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import ModelFormatError, UnsupportedOpsError

SIGNATURE = "serving_default"
MAX_GRAPH_BYTES = 512 << 20
FORBIDDEN_OPS = frozenset({
    # files, checkpoints, datasets and summaries written or read outside the loader's own restore
    "WriteFile", "ReadFile", "MatchingFiles", "Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints",
    "LoadAndRemapMatrix", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
    "DatasetToTFRecord", "ExperimentalDatasetToTFRecord", "SaveDataset",
    "SaveDatasetV2", "SnapshotDataset", "SnapshotDatasetV2", "CreateSummaryFileWriter",
    "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary", "WriteHistogramSummary",
    "WriteImageSummary", "WriteAudioSummary", "WriteGraphSummary", "WriteRawProtoSummary",
    "ImportEvent", "FlushSummaryWriter", "CloseSummaryWriter",
    # output to files or debug URLs, Python callbacks, ending or stalling the process
    "Print", "PrintV2", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount",
    "DebugNumericSummary", "DebugNumericSummaryV2", "PyFunc", "PyFuncStateless", "EagerPyFunc",
    "Abort", "SleepDataset", "ExperimentalSleepDataset",
})
"""Operators refused anywhere in a SavedModel: none of them belongs in an inference graph."""
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
    """Check, then load ``path`` and pick its serving signature; raise an InputError naming what is
    wrong."""
    check_saved_model_ops(path)
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


def saved_model_ops(path: Path) -> set[str]:
    """Every operator type that loading or calling ``path/saved_model.pb`` (or ``.pbtxt``) can run."""
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    binary, text = path / "saved_model.pb", path / "saved_model.pbtxt"
    source = binary if binary.exists() else text
    try:
        if source.stat().st_size > MAX_GRAPH_BYTES:
            raise ModelFormatError(f"{source}: {source.stat().st_size:,} bytes of graph (at most "
                                   f"{MAX_GRAPH_BYTES:,})", _HINT)
        raw = source.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{path}: no readable saved_model.pb ({exc.strerror})", _HINT) from None
    proto = saved_model_pb2.SavedModel()
    try:
        if source is binary:
            proto.ParseFromString(raw)
        else:
            text_format.Parse(raw.decode("utf-8"), proto)
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelFormatError(f"{source}: not a SavedModel graph ({type(exc).__name__})",
                               _HINT) from None
    ops: set[str] = set()
    for meta in proto.meta_graphs:
        _check_assets(source, meta)
        ops |= _meta_graph_ops(meta)
    return ops


def _check_assets(source: Path, meta: Any) -> None:
    """Asset files are plain names inside the folder's ``assets/`` (never a path out of it)."""
    for asset in meta.asset_file_def:
        name = asset.filename
        if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
            raise ModelFormatError(f"{source}: asset file name {name!r} is not a plain file name in "
                                   "assets/", _HINT)


def _called(nodes: Any) -> set[str]:
    """Names of the functions the nodes call (``f`` attributes and lists of them)."""
    names: set[str] = set()
    for node in nodes:
        for attr in node.attr.values():
            if attr.func.name:
                names.add(attr.func.name)
            names.update(f.name for f in attr.list.func)
    return names


def _meta_graph_ops(meta: Any) -> set[str]:
    """Operator types of the top-level graph and of every function reachable from it or from the
    restored objects, except what only the checkpoint saver's own node calls (a SavedModel holds a
    save function with SaveV2 for re-saving; mcuforge never saves the model it loads)."""
    save_node = meta.saver_def.save_tensor_name.split(":")[0] if meta.HasField("saver_def") else ""
    nodes = [n for n in meta.graph_def.node if not (save_node and n.name == save_node)]
    functions = {f.signature.name: f for f in meta.graph_def.library.function}
    pending = _called(nodes) | set(meta.object_graph_def.concrete_functions)
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        if name in reached or name not in functions:
            continue
        reached.add(name)
        pending |= _called(functions[name].node_def)
    ops = {n.op for n in nodes}
    for name in reached:
        ops.update(n.op for n in functions[name].node_def)
    return ops


def check_saved_model_ops(path: Path) -> None:
    """Refuse a SavedModel whose graphs hold any of :data:`FORBIDDEN_OPS` (before loading it)."""
    bad = sorted(saved_model_ops(path) & FORBIDDEN_OPS)
    if bad:
        raise UnsupportedOpsError(
            f"{path}: the SavedModel's graphs use {', '.join(bad)}, which read or write files, call "
            "Python or stop the process; mcuforge does not load such a model",
            "export the model from Keras with model.export(path), or give a .keras file")
