"""Operator and tensor type names come from TFLite's schema (the generated code TensorFlow ships), and
a valid model with unsupported operators or types is refused in one message naming all of them, without
the corrupt-file hint."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tests.support.badgen  # noqa: F401  (first: the track makers import from it)
from generator.errors import ModelFormatError, UnsupportedOpsError
from generator.importer.problems import CORRUPT_HINT
from generator.importer.tflite_reader import (
    MAX_LISTED,
    READ_TYPES,
    codes,
    op_name,
    read_tflite,
    type_name,
)
from generator.importer.tflite_schema import schema
from generator.ir import OpKind
from tests.support import badgen_schema as bs
from tests.support.badgen import OpSpec, TensorSpec

pytestmark = pytest.mark.unit


def test_names_are_the_schemas() -> None:
    assert (op_name(80, ""), op_name(82, ""), op_name(114, "")) == ("FAKE_QUANT", "REDUCE_MAX",
                                                                    "QUANTIZE")
    assert op_name(250, "") == "BUILTIN_250"
    assert op_name(32, "TFLite_Detection_PostProcess") == "CUSTOM(TFLite_Detection_PostProcess)"
    assert (type_name(15), type_name(1), type_name(9)) == ("UINT32", "FLOAT16", "INT8")


def test_every_compiled_operator_has_its_schema_code() -> None:
    s = schema()
    assert {s.operators[c]: k for c, k in codes().kinds.items()} == {k.value: k for k in OpKind}
    assert sorted(codes().dtypes.values(), key=lambda d: d.name) == sorted(READ_TYPES,
                                                                         key=lambda d: d.name)
    for code, dtype in codes().dtypes.items():
        assert s.tensor_types[code] == dtype.name
    for kind, (index, name) in codes().options.items():
        assert s.options[index] == name, kind


def test_reading_a_model_does_not_import_tensorflow() -> None:
    script = ("import sys; from tests.support.badgen import fc_model; "
              "from generator.importer.tflite_reader import read_tflite; "
              "read_tflite(fc_model().build()); "
              "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]


@pytest.mark.parametrize("name", ["reduce_prod.tflite", "ops_and_uint32.tflite",
                                  "unknown_op_code.tflite", "int16_quantize.tflite"])
def test_a_valid_but_unsupported_model_is_not_called_corrupt(name: str) -> None:
    data = {"reduce_prod.tflite": bs._reduce_prod, "ops_and_uint32.tflite": bs._ops_and_types,
            "unknown_op_code.tflite": bs._unknown_op,
            "int16_quantize.tflite": bs._int16_quantize}[name]().build()
    with pytest.raises(UnsupportedOpsError) as info:
        read_tflite(data, name)
    assert "corrupt or was edited by hand" not in info.value.hint


def test_a_type_code_the_schema_lacks_is_malformed() -> None:
    with pytest.raises(ModelFormatError, match=r"has type 99 \(Tensor.type\), which the TFLite "
                                               r"schema does not define") as info:
        read_tflite(bs._unknown_type().build(), "m.tflite")
    assert info.value.hint.startswith(CORRUPT_HINT)


def test_an_unsupported_type_does_not_hide_the_unsupported_operators() -> None:
    with pytest.raises(UnsupportedOpsError) as info:
        read_tflite(bs._ops_and_types().build(), "m.tflite")
    message = info.value.message
    for part in ("3 unsupported operator(s)", "REDUCE_PROD (output tensor 'prod_out')",
                 "FAKE_QUANT (output tensor 'fake_quant_out')", "GATHER_ND (output tensor 'gathered')",
                 "1 tensor(s) of an unsupported type: 'indices' (UINT32)"):
        assert part in message, message
    assert "mcuforge compiles" in info.value.hint and "INT8" in info.value.hint


def test_an_unsupported_type_alone_is_named_with_its_schema_name() -> None:
    m = bs._int16_quantize()
    m.tensors[0].dtype = 1  # FLOAT16
    with pytest.raises(UnsupportedOpsError) as info:
        read_tflite(m.build(), "m.tflite")
    assert info.value.message == "m.tflite: 1 tensor(s) of an unsupported type: 'audio' (FLOAT16)"


def test_long_lists_are_cut_and_counted() -> None:
    m = bs._reduce_prod()
    x = m.outputs[0]
    for k in range(MAX_LISTED + 5):
        y = m.tensor(TensorSpec((1, 2), name=f"fq{k}"))
        m.ops.append(OpSpec(bs.FAKE_QUANT, (x,), (y,)))
        x = y
    m.outputs = [x]
    with pytest.raises(UnsupportedOpsError) as info:
        read_tflite(m.build(), "m.tflite")
    message = info.value.message
    assert f"{MAX_LISTED + 6} unsupported operator(s)" in message
    assert message.endswith("; and 6 more"), message
    assert message.count("FAKE_QUANT") == MAX_LISTED - 1


@pytest.mark.unit
def test_without_tensorflow_the_tflite_package_gives_the_same_names() -> None:
    """A user without TensorFlow reads a .tflite with the ``tflite`` package's enums: the same
    names for every code both define (TensorFlow's schema may be newer by a few operators)."""
    from generator.importer import tflite_schema as ts

    fallback = ts._tflite_package()
    ours = ts.schema()
    for enum, names in (("BuiltinOperator", ours.operators), ("TensorType", ours.tensor_types),
                        ("BuiltinOptions", ours.options), ("Padding", ours.padding),
                        ("ActivationFunctionType", ours.activations)):
        other = ts.enum_names(getattr(fallback, enum))
        assert len(other) > 0.9 * len(names), enum
        assert {k: names[k] for k in other if k in names} == {k: other[k] for k in other
                                                               if k in names}, enum
