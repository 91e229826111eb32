"""Keras (.keras, .h5, SavedModel) -> full-int8 .tflite through TFLiteConverter.

The converter's choices are kept visible: weights are quantised per channel (the converter's default for
convolutions), activations per tensor, and the model's inputs/outputs are int8 unless float I/O is asked
for (then QUANTIZE / DEQUANTIZE ops appear at the boundary).
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from generator import inputs
from generator.environment import low_temp_space, tmpdir_error
from generator.errors import InputError, ModelFormatError, UnsupportedOpsError
from generator.importer.saved_model import SavedModelSignature, load_saved_model

log = logging.getLogger(__name__)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass(frozen=True)
class QuantizeOptions:
    """How a float Keras model becomes int8."""

    calibration: npt.NDArray[np.float32] | None = None
    calibration_steps: int = 64
    float_io: bool = False
    seed: int = 0


def _tf() -> Any:
    try:
        with quiet_native_output():
            import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(
            "TensorFlow is needed to import a Keras model but is not installed",
            "pip install 'mcuforge[tf]', or give an int8 .tflite instead",
        ) from exc
    tf.get_logger().setLevel(logging.ERROR)
    return tf


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Silence what TensorFlow's converter prints straight to the process's stdout and stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "wb") as sink:  # no temporary file: TMPDIR may be full
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def check_model_path(path: Path) -> None:
    """The model path names a regular file or a SavedModel folder of regular files (no FIFO or
    device a loader could block on): see :func:`generator.inputs.check_model_path`."""
    inputs.check_model_path(path)


def load_keras_model(path: Path) -> Any:
    """Load a Keras model from ``.keras`` or ``.h5``, or the serving signature of a SavedModel
    directory (:mod:`generator.importer.saved_model`)."""
    tf = _tf()
    check_model_path(path)
    if path.is_dir():
        return load_saved_model(tf, path)
    try:
        # safe_mode: Keras refuses to deserialise Python code (Lambda layers, pickled functions)
        model = tf.keras.models.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many unrelated types for a bad file
        error = _load_error(path, exc)
        if not (_is_hdf5(path) and isinstance(error, ModelFormatError)):
            raise error from exc
        model = _load_legacy_h5(path, error)
    check_layers(model, str(path))
    return model


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_HDF5_MAGIC)) == _HDF5_MAGIC


def _legacy_keras() -> Any:
    """The Keras 2 package (``tf_keras``), or None if it is not installed."""
    try:
        with quiet_native_output():
            import tf_keras
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return tf_keras


def _load_legacy_h5(path: Path, keras3_error: InputError) -> Any:
    """Load an ``.h5`` saved by Keras 2 that Keras 3 cannot read (for example DepthwiseConv2D's
    ``groups`` field) with Keras 2 (``tf_keras``). Keras 2's HDF5 loader has no safe mode, so the
    stored architecture is read first and any layer carrying Python code is refused before loading."""
    tf_keras = _legacy_keras()
    if tf_keras is None:
        raise InputError(
            f"{path}: an .h5 file Keras 3 cannot read ({keras3_error.message}), and the Keras 2 "
            "loader (tf_keras) is not installed",
            "pip install 'mcuforge[tf]' (it brings tf_keras), or save the model again with Keras 3",
        )
    _refuse_python_layers(path)
    try:
        return tf_keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises many unrelated types for a bad file
        custom = _UNKNOWN_CLASS.search(str(exc)) or _UNKNOWN_LEGACY.search(str(exc))
        if custom:
            raise _custom_layer_error(path, custom.group(1)) from exc
        raise keras3_error from exc


_UNKNOWN_LEGACY = re.compile(r"Unknown (?:layer|object|activation|initializer)[^:]*: '?(\w+)")


def _refuse_python_layers(path: Path) -> None:
    """Refuse an HDF5 model whose stored architecture holds a Lambda (Python bytecode) layer."""
    import json

    import h5py

    try:
        with h5py.File(path, "r") as f:
            config = f.attrs.get("model_config")
    except OSError as exc:
        raise ModelFormatError(f"{path}: not a readable HDF5 file ({exc})",
                               "give a model saved with model.save('model.h5') or .keras") from exc
    if config is None:
        raise ModelFormatError(f"{path}: an HDF5 file with no model architecture (weights only?)",
                               "save the whole model with model.save('model.h5'), not save_weights")
    text = config.decode() if isinstance(config, bytes) else str(config)
    try:
        tree = json.loads(text)
    except ValueError as exc:
        raise ModelFormatError(f"{path}: its stored model architecture is not valid JSON",
                               "save the model again with model.save") from exc
    for node in _json_nodes(tree):
        if node.get("class_name") == "Lambda" or node["config"].get("function_type") == "lambda":
            raise UnsupportedOpsError(
                f"{path}: holds a {node.get('class_name')} layer, which carries Python code; mcuforge "
                "never runs code from a model file",
                "replace the Lambda layer with built-in Keras layers and save the model again",
            )


def _json_nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        if "class_name" in tree and isinstance(tree.get("config"), dict):
            yield tree
        for value in tree.values():
            yield from _json_nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _json_nodes(value)


def _custom_layer_error(path: Path, name: str) -> UnsupportedOpsError:
    return UnsupportedOpsError(
        f"{path}: uses the custom layer or function '{name}', which is not part of Keras",
        "mcuforge loads and compiles built-in Keras layers only; replace the custom layer with "
        "built-in ones",
    )


def _keras_of(tf: Any, model: Any) -> Any:
    """The Keras package a loaded model belongs to: Keras 3, or Keras 2 (tf_keras) for a legacy .h5."""
    if type(model).__module__.split(".")[0] == "tf_keras":
        return _legacy_keras()
    return tf.keras


_UNKNOWN_CLASS = re.compile(r"Could not locate (?:class|function) '([^']+)'")
_PYTHON_CODE = re.compile(r"deserialization of a `(\w+)` layer whose `function` is a Python lambda")


def _load_error(path: Path, exc: Exception) -> InputError:
    custom = _UNKNOWN_CLASS.search(str(exc))
    if custom:
        return _custom_layer_error(path, custom.group(1))
    code = _PYTHON_CODE.search(str(exc))
    if code:
        return UnsupportedOpsError(
            f"{path}: holds a {code.group(1)} layer, which carries Python code; mcuforge never runs "
            "code from a model file",
            "replace the Lambda layer with built-in Keras layers and save the model again",
        )
    return ModelFormatError(
        f"{path}: not a loadable Keras model ({type(exc).__name__}: {str(exc)[:200]})",
        "give a model saved with model.save('model.keras'), a .h5 file, a SavedModel directory, "
        "or an int8 .tflite",
    )


LSTM_NEEDS = {"stateful": False, "go_backwards": False, "unroll": False, "return_state": False,
              "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True}
"""LSTM layer options that convert to the fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM mcuforge
compiles (TFLite Micro's integer kernel: tanh cell activation, sigmoid gates, gate biases)."""

UNROLLED_RNNS = ("GRU", "SimpleRNN")
"""Recurrent layers converted unrolled (and LSTM layers whose options have no fused form): one FULLY_CONNECTED / TANH / LOGISTIC / MUL / ADD / SUB cell
per time step (with the SPLIT, STRIDED_SLICE and UNPACK that cut the gates and the steps apart)."""

UNROLLED_NEEDS = {"stateful": False}
"""Options of those layers the unrolled conversion needs: a stateful layer keeps its state across
calls in a variable, which an unrolled int8 graph has no place for."""

MAX_UNROLLED_STEPS = 512
"""Most time steps a layer is unrolled over (the converted graph grows by a cell per step)."""


def check_layers(model: Any, where: str) -> None:
    """Reject recurrent layers mcuforge cannot compile before conversion: the TFLite converter
    turns a recurrent layer into a WHILE loop mcuforge does not compile, and its int8 calibration of
    some of them crashes the whole process instead of raising. LSTM layers convert to the fused
    UNIDIRECTIONAL_SEQUENCE_LSTM (through Keras 2, :mod:`generator.importer.keras_rebuild`) when
    their options allow it (:data:`LSTM_NEEDS`); GRU and SimpleRNN layers, and LSTM layers with
    other options, over a fixed number of time steps are converted unrolled (:func:`unrolled`);
    stateful layers are refused."""
    keras = _keras_of(_tf(), model)
    layers = list(_all_layers(model))
    allowed = (keras.layers.LSTM, *(getattr(keras.layers, n) for n in UNROLLED_RNNS))
    bad = [f"'{layer.name}' ({type(layer).__name__})" for layer in layers
           if isinstance(layer, keras.layers.Bidirectional)
           or (isinstance(layer, keras.layers.RNN) and type(layer) not in allowed)]
    if bad:
        raise UnsupportedOpsError(
            f"{where}: recurrent layer(s) {', '.join(bad)}: converted to a WHILE loop (or crashing "
            "the converter), which mcuforge does not compile",
            "use LSTM, GRU or SimpleRNN layers (LSTM becomes TFLite's fused int8 LSTM, GRU and "
            "SimpleRNN are unrolled over their time steps), or model sequences with convolutions "
            "over time (Conv1D/Conv2D, as in a DS-CNN)",
        )
    for layer in layers:
        if _is_unrolled_rnn(keras, layer):
            _check_unrollable(layer, where)


def _fused_lstm(config: dict[str, Any]) -> bool:
    return all(config.get(k, v) == v for k, v in LSTM_NEEDS.items())


def _is_unrolled_rnn(keras: Any, layer: Any) -> bool:
    """A GRU or SimpleRNN, or an LSTM whose options have no fused int8 form (``go_backwards``, other
    activations, no bias, ``unroll=True``, ``return_state``): converted unrolled."""
    if type(layer) is keras.layers.LSTM:
        return not _fused_lstm(layer.get_config())
    return any(type(layer) is getattr(keras.layers, n) for n in UNROLLED_RNNS)


def _check_unrollable(layer: Any, where: str) -> None:
    kind = type(layer).__name__
    config = layer.get_config()
    off = [f"{k}={config.get(k)!r}" for k, v in UNROLLED_NEEDS.items() if config.get(k, v) != v]
    if off:
        raise UnsupportedOpsError(
            f"{where}: {kind} layer '{layer.name}' has {', '.join(off)}; mcuforge resets recurrent "
            "state every inference (a stateful layer keeps it across calls)",
            f"set stateful=False on '{layer.name}'")
    steps = _time_steps(layer)
    if steps is None:
        raise UnsupportedOpsError(
            f"{where}: {kind} layer '{layer.name}' runs over a variable number of time steps; "
            f"mcuforge compiles this {kind} unrolled, which needs a fixed sequence length",
            "give the model's input a fixed sequence length, e.g. keras.Input((49, 10))")
    if steps > MAX_UNROLLED_STEPS:
        raise UnsupportedOpsError(
            f"{where}: {kind} layer '{layer.name}' runs over {steps} time steps; mcuforge unrolls "
            f"{kind} layers over at most {MAX_UNROLLED_STEPS}",
            "shorten the sequence (e.g. a strided Conv1D or pooling before the recurrent layer)")


def _time_steps(layer: Any) -> int | None:
    """The fixed number of time steps a recurrent layer runs over, or None if it varies or is not
    known."""
    try:
        inp = layer.input
    except (AttributeError, ValueError):  # a layer never called, or called more than once
        return None
    if isinstance(inp, (list, tuple)):  # the sequence and an initial state
        inp = inp[0] if inp else None
    shape = getattr(inp, "shape", None)
    if shape is None or len(shape) < 2 or shape[1] is None:
        return None
    return int(shape[1])


def has_lstm(model: Any) -> bool:
    """Whether the model has an LSTM layer that converts to the fused int8 LSTM."""
    keras = _keras_of(_tf(), model)
    return any(type(layer) is keras.layers.LSTM and _fused_lstm(layer.get_config())
               for layer in _all_layers(model))


_UNROLLED_CONFIG = {"unroll": True, "dropout": 0.0, "recurrent_dropout": 0.0}
"""What an unrolled recurrent layer is converted with: dropout (a no-op at inference) off, since a
traced dropout leaves the converter's random-seed variables (VAR_HANDLE ...) in the graph."""


def _rewrite(config: dict[str, Any]) -> bool:
    return any(config.get(k, v) != v for k, v in _UNROLLED_CONFIG.items())


def unrolled(model: Any) -> Any:
    """The model with each GRU, SimpleRNN and non-fused LSTM layer set to ``unroll=True`` and no
    dropout (a clone with the same weights, checked to compute the same function), or the model
    itself if none needs it: the converter turns a rolled one into a WHILE loop, and crashes
    calibrating some of them."""
    keras = _keras_of(_tf(), model)
    if not any(_is_unrolled_rnn(keras, layer) and _rewrite(layer.get_config())
               for layer in _all_layers(model)):
        return model

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if _is_unrolled_rnn(keras, layer):
            config = {**config, **_UNROLLED_CONFIG}
        return type(layer).from_config(config)

    nested = {"recursive": True} if keras is not _legacy_keras() else {}
    twin = keras.models.clone_model(model, clone_function=clone, **nested)
    left = [layer.name for layer in _all_layers(twin)
            if _is_unrolled_rnn(keras, layer) and not layer.unroll]
    if left:
        raise UnsupportedOpsError(
            f"recurrent layer(s) {', '.join(left)} inside a nested model could not be "
            "unrolled for the conversion",
            "set unroll=True on them, or build the model without nesting")
    twin.set_weights(model.get_weights())
    from generator.importer.keras_rebuild import same_function

    same_function(model, twin, batch=1, what="the model with its GRU / SimpleRNN layers unrolled",
                  hint="give the model with unroll=True on its GRU and SimpleRNN layers")
    return twin


def _all_layers(model: Any) -> Iterator[Any]:
    for layer in getattr(model, "layers", ()):
        yield layer
        if getattr(layer, "layers", None):
            yield from _all_layers(layer)


def load_calibration(path: Path) -> npt.NDArray[np.float32]:
    """Read representative inputs from a .npy, or the array ``x`` (else the first) of a .npz."""
    hint = "give a .npy, or a .npz whose array 'x' holds the inputs, one sample per row"
    try:
        arr = _read_array(path)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: cannot read calibration data ({exc})", hint) from exc
    if arr is None:
        raise InputError(f"{path}: the .npz holds no arrays", hint)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{path}: calibration data is of type {arr.dtype}, not numbers", hint)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise InputError(f"{path}: calibration data holds no samples (shape {arr.shape})", hint)
    calib = np.asarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(calib)):
        raise InputError(f"{path}: calibration data holds NaN or infinite values",
                         "give real, finite inputs; int8 ranges are measured on them")
    return calib


def _read_array(path: Path) -> npt.NDArray[Any] | None:
    """The .npy, or the .npz's array ``x`` (else its first), sizes checked from the headers."""
    return inputs.load_array(path, "calibration data", member="x")


def _representative(
    model: Any, opts: QuantizeOptions
) -> Callable[[], Iterator[list[npt.NDArray[np.float32]]]]:
    if isinstance(model, SavedModelSignature):
        shape = model.sample_shape
    else:
        shape = tuple(int(d) if d is not None else 1 for d in model.inputs[0].shape[1:])
    if opts.calibration is not None:
        calib = opts.calibration
        if tuple(calib.shape[1:]) != shape:
            raise InputError(
                f"calibration data has sample shape {tuple(calib.shape[1:])}, the model input is {shape}",
                "give an array of shape (N, " + ", ".join(map(str, shape)) + ")",
            )
    else:
        log.warning(
            "no calibration data given: using random inputs; int8 accuracy will suffer "
            "(pass --calib with a .npy/.npz of real inputs)"
        )
        rng = np.random.default_rng(opts.seed)
        calib = rng.uniform(-1.0, 1.0, size=(opts.calibration_steps, *shape)).astype(np.float32)

    def gen() -> Iterator[list[npt.NDArray[np.float32]]]:
        for i in range(min(len(calib), opts.calibration_steps)):
            yield [calib[i : i + 1]]

    return gen


def _batch1_converter(tf: Any, model: Any) -> Any:
    """A converter for the model rebuilt with batch size 1, so every shape is static (Flatten and the
    like become a constant RESHAPE instead of SHAPE/STRIDED_SLICE/PACK)."""
    model = unrolled(model)
    keras = _keras_of(tf, model)
    if keras is tf.keras and has_lstm(model):  # Keras 3 LSTMs crash the int8 calibration
        return tf.lite.TFLiteConverter.from_keras_model(_in_keras2(model))
    inputs = [keras.Input(batch_shape=(1, *t.shape[1:]), dtype=t.dtype) for t in model.inputs]
    outputs = model(inputs[0] if len(inputs) == 1 else inputs)
    return tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs))


def _in_keras2(model: Any) -> Any:
    from generator.importer.keras_rebuild import rebuild

    tf_keras = _legacy_keras()
    if tf_keras is None:
        raise UnsupportedOpsError(
            "the model's LSTM layers convert to TFLite's fused int8 LSTM through Keras 2 "
            "(tf_keras), which is not installed", "pip install 'mcuforge[tf]' (it brings tf_keras)")
    return rebuild(model, tf_keras, batch=1)


def _temp_trouble(exc: BaseException) -> str | None:
    """Why the converter failed if its temporary folder is full or read-only, else None."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return os.strerror(exc.errno)
    return next((os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
                 if os.strerror(code) in str(exc)), None)


def quantize_keras(model: Any, opts: QuantizeOptions | None = None) -> bytes:
    """Convert a float Keras model to a full-int8 TFLite flatbuffer."""
    tf = _tf()
    opts = opts or QuantizeOptions()
    if isinstance(model, SavedModelSignature):
        conv = model.converter(tf)
    else:
        conv = _batch1_converter(tf, model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = _representative(model, opts)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not opts.float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    try:
        with quiet_native_output():
            return bytes(conv.convert())
    except Exception as exc:
        trouble = _temp_trouble(exc) or low_temp_space()  # the converter works in TMPDIR
        if trouble is not None:
            raise tmpdir_error(trouble) from None
        raise InputError(
            f"TFLite conversion failed: {str(exc).strip().splitlines()[-1][:300]}",
            "the model may use layers with no int8 TFLite equivalent; "
            "see 'mcuforge compile --help' for the supported operators",
        ) from exc
