"""Keras (.keras, .h5, SavedModel) -> full-int8 .tflite through TFLiteConverter.

The converter's choices are kept visible: weights are quantised per channel (the converter's default for
convolutions), activations per tensor, and the model's inputs/outputs are int8 unless float I/O is asked
for (then QUANTIZE / DEQUANTIZE ops appear at the boundary).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from generator.errors import InputError, ModelFormatError

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
    with tempfile.TemporaryFile() as sink:
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


def load_keras_model(path: Path) -> Any:
    """Load a Keras model from ``.keras``, ``.h5`` or a SavedModel directory."""
    tf = _tf()
    if not path.exists():
        raise InputError(f"{path}: no such file or directory", "check the model path")
    try:
        if path.is_dir():
            return tf.keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
        return tf.keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises many unrelated types for a bad file
        raise ModelFormatError(
            f"{path}: not a loadable Keras model ({type(exc).__name__}: {str(exc)[:200]})",
            "give a model saved with model.save('model.keras'), a .h5 file, a SavedModel directory, "
            "or an int8 .tflite",
        ) from exc


def load_calibration(path: Path) -> npt.NDArray[np.float32]:
    """Read representative inputs from a .npy, or the first array of a .npz."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read calibration data ({exc})", "give a .npy or .npz") from exc
    if isinstance(data, np.lib.npyio.NpzFile):
        key = "x" if "x" in data.files else data.files[0]
        arr = data[key]
    else:
        arr = data
    return np.asarray(arr, dtype=np.float32)


def _representative(
    model: Any, opts: QuantizeOptions
) -> Callable[[], Iterator[list[npt.NDArray[np.float32]]]]:
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
    keras = tf.keras
    inputs = [keras.Input(batch_shape=(1, *t.shape[1:]), dtype=t.dtype) for t in model.inputs]
    outputs = model(inputs[0] if len(inputs) == 1 else inputs)
    return tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs))


def quantize_keras(model: Any, opts: QuantizeOptions | None = None) -> bytes:
    """Convert a float Keras model to a full-int8 TFLite flatbuffer."""
    tf = _tf()
    opts = opts or QuantizeOptions()
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
        raise InputError(
            f"TFLite conversion failed: {str(exc).strip().splitlines()[-1][:300]}",
            "the model may use layers with no int8 TFLite equivalent; "
            "see 'mcuforge compile --help' for the supported operators",
        ) from exc
