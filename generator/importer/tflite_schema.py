"""The TFLite schema's enums (operator codes, tensor types, options unions, fused activations), taken
from the Python that flatc generated from schema.fbs and TensorFlow ships
(``tensorflow/lite/python/schema_py_generated.py``), never typed by hand.

That one file is loaded by itself from TensorFlow's package folder, without importing TensorFlow
(which takes seconds): it needs only ``flatbuffers``. Without TensorFlow (reading a ``.tflite``
does not need it) the same generated enums come from the ``tflite`` package, a dependency of
mcuforge, whose schema may be a release older: an operator added since is named ``BUILTIN_<code>``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

from generator.errors import ToolError

SCHEMA_FILE = Path("lite", "python", "schema_py_generated.py")
"""Where the generated schema lies inside the installed ``tensorflow`` package."""
_MODULE = "_mcuforge_tflite_schema"


@dataclass(frozen=True)
class Schema:
    """Each enum of schema.fbs that the reader needs, value -> name."""

    operators: dict[int, str]
    """BuiltinOperator."""
    tensor_types: dict[int, str]
    """TensorType."""
    options: dict[int, str]
    """BuiltinOptions, the union type of an operator's options table."""
    activations: dict[int, str]
    """ActivationFunctionType."""
    padding: dict[int, str]
    """Padding."""
    weights_formats: dict[int, str]
    """FullyConnectedOptionsWeightsFormat."""

    def operator_code(self, name: str) -> int:
        return _code(self.operators, name, "BuiltinOperator")

    def options_type(self, name: str) -> int:
        return _code(self.options, name, "BuiltinOptions")


def _code(names: dict[int, str], name: str, enum: str) -> int:
    for value, n in names.items():
        if n == name:
            return value
    raise ToolError(f"the installed TFLite schema has no {enum}.{name}",
                    "install a TensorFlow that matches mcuforge (pip install 'mcuforge[tf]')")


def enum_names(enum: type) -> dict[int, str]:
    """A flatc-generated enum class (``class X(object): NAME = value``) as value -> name."""
    return {value: name for name, value in vars(enum).items()
            if not name.startswith("_") and isinstance(value, int)}


@cache
def schema() -> Schema:
    """The enums of the installed TensorFlow's schema (loaded once)."""
    module = _load()
    return Schema(
        operators=enum_names(module.BuiltinOperator),
        tensor_types=enum_names(module.TensorType),
        options=enum_names(module.BuiltinOptions),
        activations=enum_names(module.ActivationFunctionType),
        padding=enum_names(module.Padding),
        weights_formats=enum_names(module.FullyConnectedOptionsWeightsFormat),
    )


def _load() -> ModuleType:
    spec = importlib.util.find_spec("tensorflow")  # finds the package without running it
    folders = list(spec.submodule_search_locations or ()) if spec else []
    path = next((Path(f) / SCHEMA_FILE for f in folders if (Path(f) / SCHEMA_FILE).is_file()), None)
    if path is None:
        return _tflite_package()
    file_spec = importlib.util.spec_from_file_location(_MODULE, path)
    assert file_spec is not None and file_spec.loader is not None
    module = importlib.util.module_from_spec(file_spec)
    try:
        file_spec.loader.exec_module(module)
    except ImportError as exc:
        raise ToolError(f"{path}: TFLite's schema cannot be loaded ({exc})",
                        "reinstall TensorFlow (pip install 'mcuforge[tf]')") from None
    return module


def _tflite_package() -> ModuleType:
    """The enums of the ``tflite`` package (one generated module per enum), as one namespace."""
    names = ("BuiltinOperator", "TensorType", "BuiltinOptions", "ActivationFunctionType", "Padding",
             "FullyConnectedOptionsWeightsFormat")
    module = ModuleType(_MODULE)
    try:
        for name in names:
            setattr(module, name, getattr(importlib.import_module(f"tflite.{name}"), name))
    except (ImportError, AttributeError) as exc:
        raise ToolError(f"reading a .tflite needs TFLite's schema, from TensorFlow or the tflite "
                        f"package, and neither is usable ({exc})",
                        "pip install tflite (or 'mcuforge[tf]')") from None
    return module
