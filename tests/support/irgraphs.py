"""Random int8 IR graphs built directly (no TensorFlow), for planner property tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from generator.ir import (
    Activation,
    Conv2DAttrs,
    DepthwiseConv2DAttrs,
    DType,
    ElementwiseAttrs,
    Graph,
    Op,
    OpKind,
    Padding,
    Pool2DAttrs,
    QuantParams,
    Tensor,
)


@dataclass
class GraphBuilder:
    rng: np.random.Generator
    tensors: list[Tensor] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)

    def act(self, shape: tuple[int, ...], name: str) -> int:
        scale = float(self.rng.uniform(0.01, 0.1))
        zp = int(self.rng.integers(-20, 20))
        self.tensors.append(Tensor(name, shape, DType.INT8, QuantParams((scale,), (zp,))))
        return len(self.tensors) - 1

    def const(self, data: np.ndarray, name: str, quant: QuantParams | None) -> int:
        dtype = DType.INT8 if data.dtype == np.int8 else DType.INT32
        data.setflags(write=False)
        self.tensors.append(Tensor(name, data.shape, dtype, quant, data))
        return len(self.tensors) - 1

    def shape(self, tid: int) -> tuple[int, ...]:
        return self.tensors[tid].shape

    def _weights(self, shape: tuple[int, ...], n_out: int, name: str) -> tuple[int, int]:
        w = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        scales = tuple(float(s) for s in self.rng.uniform(0.002, 0.02, size=n_out))
        wq = QuantParams(scales, (0,) * n_out, axis=0 if len(shape) != 4 or shape[0] != 1 else 3)
        b = self.rng.integers(-2000, 2000, size=(n_out,)).astype(np.int32)
        return self.const(w, f"{name}/w", wq), self.const(b, f"{name}/b", None)

    def conv(self, x: int, cout: int, k: int = 1, stride: int = 1,
             act: Activation = Activation.RELU6) -> int:
        _, h, w, cin = self.shape(x)
        oh, ow = (h + stride - 1) // stride, (w + stride - 1) // stride
        name = f"conv{len(self.ops)}"
        wt, b = self._weights((cout, k, k, cin), cout, name)
        y = self.act((1, oh, ow, cout), name)
        self.ops.append(Op(OpKind.CONV_2D, (x, wt, b), (y,),
                           Conv2DAttrs(Padding.SAME, stride, stride, activation=act), name))
        return y

    def dw(self, x: int, stride: int = 1, mult: int = 1) -> int:
        _, h, w, c = self.shape(x)
        oh, ow = (h + stride - 1) // stride, (w + stride - 1) // stride
        name = f"dw{len(self.ops)}"
        wt, b = self._weights((1, 3, 3, c * mult), c * mult, name)
        y = self.act((1, oh, ow, c * mult), name)
        self.ops.append(Op(OpKind.DEPTHWISE_CONV_2D, (x, wt, b), (y,),
                           DepthwiseConv2DAttrs(Padding.SAME, stride, stride, mult,
                                                activation=Activation.RELU6), name))
        return y

    def pool(self, x: int, kind: OpKind = OpKind.MAX_POOL_2D) -> int:
        _, h, w, c = self.shape(x)
        name = f"pool{len(self.ops)}"
        y = self.act((1, (h + 1) // 2, (w + 1) // 2, c), name)
        self.ops.append(Op(kind, (x,), (y,), Pool2DAttrs(Padding.SAME, 2, 2, 2, 2), name))
        return y

    def add(self, a: int, b: int) -> int:
        name = f"add{len(self.ops)}"
        y = self.act(self.shape(a), name)
        self.ops.append(Op(OpKind.ADD, (a, b), (y,), ElementwiseAttrs(), name))
        return y

    def graph(self, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> Graph:
        return Graph(tuple(self.tensors), tuple(self.ops), inputs, outputs, "random")


def inverted_residual_net(seed: int, blocks: int = 2, hw: int = 12, c: int = 8,
                          expand: int = 4, residual: bool = True) -> Graph:
    """A small MobileNetV2-like stack of expand -> depthwise -> project blocks."""
    b = GraphBuilder(np.random.default_rng(seed))
    x0 = b.act((1, hw, hw, c), "input")
    x = x0
    for i in range(blocks):
        stride = 2 if i == blocks - 1 and hw >= 8 else 1
        e = b.conv(x, c * expand)
        d = b.dw(e, stride=stride)
        p = b.conv(d, c, act=Activation.NONE)
        x = b.add(x, p) if residual and stride == 1 else p
    return b.graph((x0,), (x,))


def dw_pw_net(seed: int, hw: int = 10, c: int = 6, mult: int = 1) -> Graph:
    """A MobileNetV1-like depthwise -> pointwise stack with a pooling tail."""
    b = GraphBuilder(np.random.default_rng(seed))
    x0 = b.act((1, hw, hw, 3), "input")
    x = b.conv(x0, c, k=3, stride=2)
    x = b.dw(x, mult=mult)
    x = b.conv(x, 2 * c * mult)
    x = b.dw(x, stride=2)
    x = b.pool(x, OpKind.AVERAGE_POOL_2D)
    x = b.conv(x, 4)
    return b.graph((x0,), (x,))
