"""The one intermediate representation: an int8 graph of tensors and operators.

Everything after the frontend works on these frozen dataclasses and NumPy; nothing here imports
TensorFlow. Tensors are referred to by their index in ``Graph.tensors``. Shapes are TFLite's (NHWC for
feature maps; OHWI for CONV_2D filters; 1HWC for DEPTHWISE_CONV_2D filters; [out, in] for FULLY_CONNECTED).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import numpy.typing as npt


class DType(enum.Enum):
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    INT32 = "int32"
    INT8 = "int8"
    UINT8 = "uint8"
    INT16 = "int16"
    INT64 = "int64"
    BOOL = "bool"

    @property
    def itemsize(self) -> int:
        return int(np.dtype(self.value).itemsize)

    @property
    def c_type(self) -> str:
        return {
            DType.FLOAT32: "float",
            DType.FLOAT64: "double",
            DType.INT32: "int32_t",
            DType.INT8: "int8_t",
            DType.UINT8: "uint8_t",
            DType.INT16: "int16_t",
            DType.INT64: "int64_t",
            DType.BOOL: "uint8_t",
        }[self]


class Padding(enum.Enum):
    SAME = "same"
    VALID = "valid"


class Activation(enum.Enum):
    NONE = "none"
    RELU = "relu"
    RELU6 = "relu6"
    RELU_N1_TO_1 = "relu_n1_to_1"
    TANH = "tanh"


class OpKind(enum.Enum):
    CONV_2D = "CONV_2D"
    DEPTHWISE_CONV_2D = "DEPTHWISE_CONV_2D"
    FULLY_CONNECTED = "FULLY_CONNECTED"
    ADD = "ADD"
    MUL = "MUL"
    AVERAGE_POOL_2D = "AVERAGE_POOL_2D"
    MAX_POOL_2D = "MAX_POOL_2D"
    MEAN = "MEAN"
    PAD = "PAD"
    RESHAPE = "RESHAPE"
    CONCATENATION = "CONCATENATION"
    SOFTMAX = "SOFTMAX"
    LOGISTIC = "LOGISTIC"
    QUANTIZE = "QUANTIZE"
    DEQUANTIZE = "DEQUANTIZE"
    # elementwise and reductions family
    RELU = "RELU"
    RELU6 = "RELU6"
    LEAKY_RELU = "LEAKY_RELU"
    ABS = "ABS"
    TANH = "TANH"
    HARD_SWISH = "HARD_SWISH"
    RSQRT = "RSQRT"
    L2_NORMALIZATION = "L2_NORMALIZATION"
    LOG_SOFTMAX = "LOG_SOFTMAX"
    SUB = "SUB"
    MAXIMUM = "MAXIMUM"
    MINIMUM = "MINIMUM"
    PRELU = "PRELU"
    SQUARED_DIFFERENCE = "SQUARED_DIFFERENCE"
    SUM = "SUM"
    REDUCE_MAX = "REDUCE_MAX"
    REDUCE_MIN = "REDUCE_MIN"
    ARG_MAX = "ARG_MAX"
    ARG_MIN = "ARG_MIN"
    # layout and data movement
    SQUEEZE = "SQUEEZE"
    EXPAND_DIMS = "EXPAND_DIMS"
    SHAPE = "SHAPE"
    STRIDED_SLICE = "STRIDED_SLICE"
    PACK = "PACK"
    GATHER = "GATHER"
    TRANSPOSE = "TRANSPOSE"
    RESIZE_NEAREST_NEIGHBOR = "RESIZE_NEAREST_NEIGHBOR"
    RESIZE_BILINEAR = "RESIZE_BILINEAR"
    TILE = "TILE"
    REVERSE_V2 = "REVERSE_V2"
    SPLIT = "SPLIT"
    SPLIT_V = "SPLIT_V"
    UNPACK = "UNPACK"
    SLICE = "SLICE"
    DEPTH_TO_SPACE = "DEPTH_TO_SPACE"
    SPACE_TO_DEPTH = "SPACE_TO_DEPTH"
    SPACE_TO_BATCH_ND = "SPACE_TO_BATCH_ND"
    BATCH_TO_SPACE_ND = "BATCH_TO_SPACE_ND"
    # recurrent
    UNIDIRECTIONAL_SEQUENCE_LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"
    # transposed convolution (decoder) and SVDF (keyword spotting)
    TRANSPOSE_CONV = "TRANSPOSE_CONV"
    SVDF = "SVDF"


ALIASES = frozenset({OpKind.RESHAPE, OpKind.SQUEEZE, OpKind.EXPAND_DIMS})
"""Operators whose output is their input's bytes under another shape: no data moves, the output
tensor shares the input's buffer."""


@dataclass(frozen=True)
class QuantParams:
    """Affine quantisation: real = scale * (q - zero_point), per tensor or per channel along ``axis``."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    @property
    def single_scale(self) -> float:
        return self.scale[0]

    @property
    def single_zero_point(self) -> int:
        return self.zero_point[0]


@dataclass(frozen=True, eq=False)
class Tensor:
    """A tensor. ``data`` is set for constants (weights, biases, shape operands) and is read-only."""

    name: str
    shape: tuple[int, ...]
    dtype: DType
    quant: QuantParams | None = None
    data: npt.NDArray[np.generic] | None = field(default=None, repr=False)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


# ---- operator attributes: one small frozen dataclass per operator family --------------------------


@dataclass(frozen=True)
class NoAttrs:
    pass


@dataclass(frozen=True)
class Conv2DAttrs:
    padding: Padding
    stride_h: int
    stride_w: int
    dilation_h: int = 1
    dilation_w: int = 1
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class DepthwiseConv2DAttrs:
    padding: Padding
    stride_h: int
    stride_w: int
    depth_multiplier: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class FullyConnectedAttrs:
    activation: Activation = Activation.NONE
    keep_num_dims: bool = False


@dataclass(frozen=True)
class Pool2DAttrs:
    padding: Padding
    stride_h: int
    stride_w: int
    filter_h: int
    filter_w: int
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class ElementwiseAttrs:
    """ADD, SUB, MUL (and L2_NORMALIZATION's fused activation)."""

    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class ConcatAttrs:
    axis: int
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class SoftmaxAttrs:
    beta: float = 1.0


@dataclass(frozen=True)
class MeanAttrs:
    """MEAN, SUM, REDUCE_MAX, REDUCE_MIN: the reduced axes (non-negative, sorted, distinct)."""

    axes: tuple[int, ...]
    keep_dims: bool


@dataclass(frozen=True)
class ArgAttrs:
    """ARG_MAX, ARG_MIN: the one reduced axis (non-negative); the index type is the output's
    (TFLite's kernels read the output tensor's type, not ArgMaxOptions.output_type)."""

    axis: int


@dataclass(frozen=True)
class ReshapeAttrs:
    """``new_shape`` is the output's shape. A graph read from a file also keeps the shape the file
    asks for (``requested``, at most one -1 inferred) and where it says so (``source``), so that the
    import checks can hold one against the other."""

    new_shape: tuple[int, ...]
    requested: tuple[int, ...] | None = None
    source: str = ""


@dataclass(frozen=True)
class SqueezeAttrs:
    """The dimensions SqueezeOptions.squeeze_dims names (negative counted from the end); empty
    means every dimension of size 1."""

    axes: tuple[int, ...]


@dataclass(frozen=True)
class ExpandDimsAttrs:
    """Where the new dimension of size 1 goes (the constant axis input, in [-rank-1, rank])."""

    axis: int


@dataclass(frozen=True)
class StridedSliceAttrs:
    """StridedSliceOptions: bit i of a mask concerns dimension i (begin, end ignored; ellipsis; a new
    axis; dimension i dropped, begin read as an index); ``offset`` makes end relative to begin."""

    begin_mask: int = 0
    end_mask: int = 0
    ellipsis_mask: int = 0
    new_axis_mask: int = 0
    shrink_axis_mask: int = 0
    offset: bool = False


@dataclass(frozen=True)
class PackAttrs:
    axis: int


@dataclass(frozen=True)
class GatherAttrs:
    axis: int
    batch_dims: int = 0


@dataclass(frozen=True)
class ResizeAttrs:
    """RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR options (the output size is the constant size
    input, which equals the output's height and width)."""

    align_corners: bool = False
    half_pixel_centers: bool = False


@dataclass(frozen=True)
class SplitAttrs:
    """SPLIT and SPLIT_V: how many outputs the options declare (the axis and sizes are constant
    inputs)."""

    num_splits: int


@dataclass(frozen=True)
class UnpackAttrs:
    num: int
    axis: int


@dataclass(frozen=True)
class BlockAttrs:
    """DEPTH_TO_SPACE and SPACE_TO_DEPTH: the side of the square block."""

    block_size: int


@dataclass(frozen=True)
class PadAttrs:
    """Padding amounts as ((before, after), ...) per dimension of the input."""

    paddings: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class LeakyReluAttrs:
    """LEAKY_RELU's slope below zero (elementwise and reductions family)."""

    alpha: float


@dataclass(frozen=True)
class LstmAttrs:
    """UNIDIRECTIONAL_SEQUENCE_LSTM (recurrent family), the int8 form TFLite Micro runs: int8
    activations and weights, int32 gate biases, an int8 hidden state and an int16 cell state, no
    peephole, projection or layer norm.

    The two state tensors (inputs 18 and 19, variable tensors in the file) are not operands in the
    IR: their slots are -1 and their quantisation is kept here. TFLite Micro sets them to their zero
    point when the interpreter is created and the engine does so at the start of every inference,
    so one inference equals one invoke of a fresh interpreter. Gate pre-activations are int16 of
    scale 2^-12 and gate outputs int16 of scale 2^-15, fixed by TFLite Micro's kernel (the
    operator's intermediate tensors, whose quantisation TFLite's interpreter reads, are ignored)."""

    cell_activation: Activation
    """The cell gate's non-linearity (UnidirectionalSequenceLSTMOptions.fused_activation_function:
    TANH in every converted Keras LSTM)."""
    cell_clip: float
    """|cell state| bound in real units; 0 (or below) means no clipping."""
    time_major: bool
    """Input [time, batch, features] rather than [batch, time, features]."""
    hidden_scale: float
    hidden_zero_point: int
    cell_scale: float
    """A power of two, as the converter writes it."""
    proj_clip: float = 0.0
    asymmetric_quantize_inputs: bool = False
    """Read for completeness: it concerns hybrid (float activations, int8 weights) kernels only."""
    hidden_name: str = ""
    cell_name: str = ""


@dataclass(frozen=True)
class TransposeConvAttrs:
    """TRANSPOSE_CONV (TransposeConvOptions). Its inputs keep TFLite's order: 0 the constant
    output shape, 1 the filter [out_c, k_h, k_w, in_c], 2 the data input, 3 the optional bias.
    There is no dilation; the padding before is TFLite's SAME/VALID rule applied to the output's
    size (ComputePaddingHeightWidth with the output as its input)."""

    padding: Padding
    stride_h: int
    stride_w: int
    activation: Activation = Activation.NONE


@dataclass(frozen=True)
class SvdfAttrs:
    """SVDF (SVDFOptions), the integer form TFLite Micro runs: int8 input, feature weights and
    output, int16 time weights and activation state, int32 bias. The state (input 4, a variable
    tensor of [batch, memory * filters] in the file) is no operand in the IR: its slot is -1 and
    its scale is kept here. TFLite Micro zeroes it when the interpreter is created and the engine
    does so at every inference, so one inference equals one invoke of a fresh interpreter (TFLite
    Micro shifts it along the memory and keeps it across invokes; a streaming model relies on
    that, which is not yet an engine option). With a fresh state only the newest memory column
    differs from the zero point (TFLite Micro resets an int8 state to its zero point, an int16
    one to 0), so the engine keeps no state."""

    rank: int
    memory: int
    """Time steps of the state (the time weights' second dimension)."""
    state_scale: float
    state_name: str = ""
    state_bits: int = 16
    """16 (int16 state and time weights, both runtimes) or 8 (int8 state and time weights, a form
    TFLite Micro runs and the interpreter does not)."""
    state_zero_point: int = 0
    """0 for the int16 state; the int8 state's (TFLite Micro resets it to this value)."""
    activation: Activation = Activation.NONE
    """SVDFOptions.fused_activation_function as written (NONE or RELU): neither runtime applies it
    in the integer kernel (TFLite Micro ignores it, the interpreter requires RELU and ignores it)."""


OpAttrs = (
    NoAttrs
    | Conv2DAttrs
    | DepthwiseConv2DAttrs
    | FullyConnectedAttrs
    | Pool2DAttrs
    | ElementwiseAttrs
    | ConcatAttrs
    | SoftmaxAttrs
    | MeanAttrs
    | ReshapeAttrs
    | PadAttrs
    | LeakyReluAttrs
    | ArgAttrs
    | SqueezeAttrs
    | ExpandDimsAttrs
    | StridedSliceAttrs
    | PackAttrs
    | GatherAttrs
    | ResizeAttrs
    | SplitAttrs
    | UnpackAttrs
    | BlockAttrs
    | LstmAttrs
    | TransposeConvAttrs
    | SvdfAttrs
)

MULTI_OUTPUT = frozenset({OpKind.SPLIT, OpKind.SPLIT_V, OpKind.UNPACK})
"""Operators with more than one output tensor (one per piece)."""

DATA_INPUT: dict[OpKind, int] = {OpKind.SPLIT: 1, OpKind.TRANSPOSE_CONV: 2}
"""The position of the data operand where it is not input 0 (SPLIT reads its axis first,
TRANSPOSE_CONV its output shape and filter)."""


@dataclass(frozen=True)
class Op:
    """An operator. ``inputs``/``outputs`` index ``Graph.tensors``; -1 marks an absent optional input."""

    kind: OpKind
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    attrs: OpAttrs = NoAttrs()
    name: str = ""


@dataclass(frozen=True, eq=False)
class Graph:
    """A single-subgraph model in execution order."""

    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = "model"

    def tensor(self, tid: int) -> Tensor:
        return self.tensors[tid]

    @cached_property
    def _producers(self) -> dict[int, int]:
        return {t: i for i, op in enumerate(self.ops) for t in op.outputs}

    @cached_property
    def _consumers(self) -> dict[int, tuple[int, ...]]:
        out: dict[int, list[int]] = {}
        for i, op in enumerate(self.ops):
            for t in op.inputs:
                if t >= 0:
                    out.setdefault(t, []).append(i)
        return {t: tuple(v) for t, v in out.items()}

    def producer(self, tid: int) -> int | None:
        """Index of the op producing tensor ``tid`` (None for inputs and constants)."""
        return self._producers.get(tid)

    def consumers(self, tid: int) -> tuple[int, ...]:
        """Indices of the ops reading tensor ``tid``, in execution order."""
        return self._consumers.get(tid, ())

    def activations(self) -> Iterator[int]:
        """Ids of all non-constant tensors that are used by the graph."""
        seen: set[int] = set()
        for tid in (*self.inputs, *(t for op in self.ops for t in (*op.inputs, *op.outputs))):
            if tid >= 0 and tid not in seen and not self.tensors[tid].is_const:
                seen.add(tid)
                yield tid

    def with_ops(self, ops: tuple[Op, ...]) -> Graph:
        return replace(self, ops=ops)
