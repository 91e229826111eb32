"""Partial execution along the channel dimension (after Pex, Liberis & Lane 2022).

An operator's output need not exist in full if the operators around it can work on a few channels at a
time. A *chain* is a contiguous run of operators ``start..end`` whose intermediate tensors are each read
only by the next operator of the chain:

* the start is **channel-mixing** (CONV_2D, FULLY_CONNECTED) producing an output-channel slice from its
  full input, or **channel-wise** reading a channel slice of its full input;
* the middle operators are channel-wise (depthwise conv, pooling, spatial pad, ADD, SUB, MEAN over
  H and W, the table activations: LOGISTIC, RELU, TANH, HARD_SWISH, ...): a slice of channels in
  gives the same slice (times the depth multiplier) out;
* the end is channel-mixing, **consuming** an input-channel slice and accumulating into an int32 buffer
  that is requantised once all slices are done (exact: int32 sums are associative), or channel-wise,
  writing its slice into the full output tensor.

Split ``k`` ways, the chain's intermediate tensors only ever exist as one slice buffer each, reused by
every slice. No multiply-accumulate is added. This module is pure: it describes the step program and
its buffers (the memory model) and searches the splits; :mod:`generator.codegen.lower_split` turns the
same program into kernel calls, so the planner's figures are the generated code's figures.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from generator.codegen import qparams_lstm as ql
from generator.codegen.conv_fast import (
    borrowed_rows,
    borrows_output,
    cols_buffer,
    cols_bytes,
    reads_directly,
)
from generator.ir import (
    ALIASES,
    DepthwiseConv2DAttrs,
    Graph,
    MeanAttrs,
    Op,
    OpKind,
    PadAttrs,
)
from generator.plan.arena import Buffer, align_up, best_layout, lifetimes
from generator.plan.cost import BASE_TERMS, DEFAULT_BUDGET, DSP, TERMS, CostModel
from generator.plan.relations import TABLE_KINDS, Relation, of_relation

ADD_LIKE = frozenset({OpKind.ADD, OpKind.SUB})
"""Two-input operators of one kernel (mcuf_add_lut_s8: SUB is ADD with its second table negated):
sliced with both operands' slices, and run over their first input where it dies."""
MIXING = of_relation(Relation.MIXING)
WISE = of_relation(Relation.WISE)
SLICE_OPTIONS = (2, 3, 4, 6, 8, 12, 16)
MAX_CHAIN_OPS = 6


@dataclass(frozen=True)
class Chain:
    start: int
    end: int

    @property
    def ops(self) -> range:
        return range(self.start, self.end + 1)

    def overlaps(self, other: Chain) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass(frozen=True)
class Split:
    chain: Chain
    slices: int


class StepKind(enum.Enum):
    FULL = "full"          # an operator on whole tensors
    SLICE = "slice"        # one operator on one channel slice of a chain
    ZERO = "zero"          # clear a chain's int32 accumulator
    REQUANT = "requant"    # finish a chain's accumulator into the int8 output


@dataclass(frozen=True)
class Step:
    kind: StepKind
    op: int
    uses: tuple[str, ...]
    split: int = -1                      # index into Program.splits
    base: tuple[int, int] = (0, 0)       # base-channel range of a SLICE step


@dataclass(frozen=True, eq=False)
class Program:
    """The step program of a graph under a set of splits, with every buffer's size."""

    graph: Graph
    splits: tuple[Split, ...]
    steps: tuple[Step, ...]
    sizes: dict[str, int]
    pinned_first: tuple[str, ...]
    pinned_last: tuple[str, ...]
    alias: dict[int, int] = field(default_factory=dict)
    inplace: dict[int, int] = field(default_factory=dict)
    cols: frozenset[int] = frozenset()  # CONV_2D ops granted column scratch (fast kernels)

    @cached_property
    def buffers(self) -> tuple[Buffer, ...]:
        return tuple(lifetimes([s.uses for s in self.steps], self.sizes, self.pinned_first,
                               self.pinned_last))

    def root(self, tid: int) -> int:
        """The tensor whose buffer ``tid`` shares (itself unless aliased)."""
        while tid in self.alias:
            tid = self.alias[tid]
        return tid

    @cached_property
    def peak(self) -> int:
        """The largest total of (aligned) buffer bytes live at one step."""
        return max(self.step_live(), default=0)

    def step_live(self) -> list[int]:
        n = max(len(self.steps), 1)
        delta = [0] * (n + 1)
        for b in self.buffers:
            delta[b.first] += align_up(b.size)
            delta[b.last + 1] -= align_up(b.size)
        live, run = [], 0
        for d in delta[:n]:
            run += d
            live.append(run)
        return live


# ---- graph facts ------------------------------------------------------------------------------------


def channels(g: Graph, tid: int) -> int:
    shape = g.tensors[tid].shape
    return shape[-1] if shape else 1


def bytes_per_channel(g: Graph, tid: int) -> int:
    t = g.tensors[tid]
    return t.nbytes // max(channels(g, tid), 1)


def depth_multiplier(g: Graph, op: Op) -> int:
    if isinstance(op.attrs, DepthwiseConv2DAttrs):
        return channels(g, op.outputs[0]) // max(channels(g, op.inputs[0]), 1)
    return 1


def _activation_inputs(g: Graph, op: Op) -> list[int]:
    return [t for t in op.inputs if t >= 0 and not g.tensors[t].is_const]


def _wise_ok(g: Graph, op: Op) -> bool:
    if op.kind not in WISE:
        return False
    if op.kind is OpKind.PAD:
        assert isinstance(op.attrs, PadAttrs)
        return len(op.attrs.paddings) == 4 and op.attrs.paddings[3] == (0, 0)
    if op.kind is OpKind.MEAN:
        assert isinstance(op.attrs, MeanAttrs)
        return op.attrs.axes == (1, 2) and len(g.tensors[op.inputs[0]].shape) == 4
    if op.kind in ADD_LIKE:
        a, b = op.inputs[:2]
        return g.tensors[a].shape == g.tensors[b].shape and not g.tensors[b].is_const
    return len(g.tensors[op.inputs[0]].shape) == 4


def _mixing_ok(g: Graph, op: Op) -> bool:
    return op.kind in MIXING and not g.tensors[op.inputs[0]].is_const


def valid_chain(g: Graph, chain: Chain) -> bool:
    ops = g.ops
    if chain.end <= chain.start or chain.end >= len(ops):
        return False
    first, last = ops[chain.start], ops[chain.end]
    if not (_mixing_ok(g, first) or _wise_ok(g, first)):
        return False
    if not (_mixing_ok(g, last) or _wise_ok(g, last)):
        return False
    if any(not _wise_ok(g, ops[i]) for i in range(chain.start + 1, chain.end)):
        return False
    for i in range(chain.start, chain.end):
        t = ops[i].outputs[0]
        if g.consumers(t) != (i + 1,) or t in g.outputs:
            return False
        nxt = ops[i + 1]
        if nxt.kind in ADD_LIKE:
            if nxt.inputs[0] == nxt.inputs[1]:
                return False
            other = nxt.inputs[1] if nxt.inputs[0] == t else nxt.inputs[0]
            producer = g.producer(other)
            if producer is not None and producer >= chain.start:
                return False
        elif nxt.inputs[0] != t:
            return False
    return True


def candidate_chains(g: Graph) -> list[Chain]:
    out = []
    for s in range(len(g.ops)):
        for e in range(s + 1, min(s + MAX_CHAIN_OPS, len(g.ops))):
            c = Chain(s, e)
            if valid_chain(g, c):
                out.append(c)
            elif e > s + 1 and not valid_chain(g, Chain(s, e - 1)) and not _prefix_extendable(g, c):
                break
    return out


def _prefix_extendable(g: Graph, c: Chain) -> bool:
    """Whether a longer chain from the same start could still become valid."""
    for i in range(c.start + 1, c.end):
        if not _wise_ok(g, g.ops[i]):
            return False
    return True


# ---- slicing ----------------------------------------------------------------------------------------


def base_channels(g: Graph, chain: Chain) -> int:
    first = g.ops[chain.start]
    if first.kind in MIXING:
        return channels(g, first.outputs[0])
    return channels(g, first.inputs[0])


def slice_ranges(n: int, k: int) -> list[tuple[int, int]]:
    k = max(1, min(k, n))
    bounds = [n * j // k for j in range(k + 1)]
    return [(bounds[j], bounds[j + 1]) for j in range(k)]


def out_multiplier(g: Graph, chain: Chain, op_index: int) -> int:
    """Channels of op ``op_index``'s output per base channel."""
    m = 1
    for i in range(chain.start, op_index + 1):
        op = g.ops[i]
        if i == chain.start and op.kind in MIXING:
            continue
        m *= depth_multiplier(g, op)
    return m


def in_multiplier(g: Graph, chain: Chain, op_index: int) -> int:
    """Channels of op ``op_index``'s chain input per base channel."""
    return 1 if op_index == chain.start else out_multiplier(g, chain, op_index - 1)


def slice_buffer(tid: int) -> str:
    return f"t{tid}_slice"


def acc_buffer(op_index: int) -> str:
    return f"acc{op_index}"


def tmp_buffer(op_index: int) -> str:
    return f"tmp{op_index}"


# ---- in-place operators ----------------------------------------------------------------------------

INPLACE_GROUPS = (2, 4, 8, 16)
PW_TMP_BYTES = 1024


def inplace_form(g: Graph, op: Op) -> str | None:
    """'dw' or 'pw' if the operator has an in-place kernel, else None (structure only)."""
    if g.tensors[op.inputs[0]].is_const or len(g.tensors[op.inputs[0]].shape) != 4:
        return None
    if op.kind is OpKind.DEPTHWISE_CONV_2D and depth_multiplier(g, op) == 1:
        return "dw"
    if op.kind is OpKind.CONV_2D:
        w = g.tensors[op.inputs[1]]
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        attrs = op.attrs
        stride1 = getattr(attrs, "stride_h", 1) == 1 and getattr(attrs, "stride_w", 1) == 1
        if w.shape[1:3] == (1, 1) and stride1 and y.shape[-1] <= x.shape[-1]:
            return "pw"
    return None


def pw_block(g: Graph, op: Op) -> int:
    y = g.tensors[op.outputs[0]]
    pixels = y.size // y.shape[-1]
    return max(1, min(pixels, PW_TMP_BYTES // y.shape[-1]))


def inplace_tmp_bytes(g: Graph, op: Op, param: int) -> int:
    y = g.tensors[op.outputs[0]]
    c = y.shape[-1]
    if inplace_form(g, op) == "dw":
        return (y.size // c) * -(-c // param)
    return pw_block(g, op) * c


def is_consumer(g: Graph, chain: Chain) -> bool:
    return g.ops[chain.end].kind in MIXING


# ---- the step program ------------------------------------------------------------------------------


class _Builder:
    def __init__(self, g: Graph) -> None:
        self.g = g
        self.alias: dict[int, int] = {}
        self.sizes: dict[str, int] = {}
        self.steps: list[Step] = []
        self.want_inplace: dict[int, int] = {}
        self.inplace: dict[int, int] = {}

    def root(self, tid: int) -> int:
        while tid in self.alias:
            tid = self.alias[tid]
        return tid

    def full(self, tid: int) -> str:
        r = self.root(tid)
        name = f"t{r}"
        self.sizes.setdefault(name, self.g.tensors[r].nbytes)
        return name

    def sized(self, name: str, size: int) -> str:
        self.sizes[name] = max(self.sizes.get(name, 0), size)
        return name


def build_program(g: Graph, splits: Sequence[Split] = (),
                  inplace: dict[int, int] | None = None) -> Program:
    """The step program for ``splits`` (chains executed slice by slice) and ``inplace`` (operator
    index -> channel groups of an in-place depthwise conv, or any value for an in-place 1x1 conv).
    An in-place request is honoured only where the input dies at that operator."""
    b = _Builder(g)
    b.want_inplace = dict(inplace or {})
    by_start = {s.chain.start: (k, s) for k, s in enumerate(splits)}
    last_use = _last_uses(g)
    i = 0
    while i < len(g.ops):
        if i in by_start:
            k, split = by_start[i]
            _chain_steps(b, k, split)
            i = split.chain.end + 1
            continue
        _full_step(b, i, last_use)
        i += 1
    inputs = tuple(b.full(t) for t in g.inputs)
    outputs = tuple(b.full(t) for t in g.outputs)
    program = Program(g, tuple(splits), tuple(b.steps), b.sizes, inputs, outputs, dict(b.alias),
                      dict(b.inplace))
    return _grant_cols(program)


def _cols_need(p: Program) -> dict[int, tuple[int, int, int]]:
    """CONV_2D op -> (first step, last step, bytes of column scratch for its widest call)."""
    g = p.graph
    need: dict[int, tuple[int, int, int]] = {}
    for s, step in enumerate(p.steps):
        op = g.ops[step.op]
        if op.kind is not OpKind.CONV_2D or step.kind not in (StepKind.FULL, StepKind.SLICE):
            continue
        cin = channels(g, op.inputs[0])
        if step.kind is StepKind.SLICE and step.op != p.splits[step.split].chain.start:
            lo, hi = step.base
            cin = (hi - lo) * in_multiplier(g, p.splits[step.split].chain, step.op)
        elif step.kind is StepKind.SLICE and reads_directly(g, op):
            continue  # a 1x1 output slice would expand every input pixel again: read them directly
        first, _, size = need.get(step.op, (s, s, 0))
        need[step.op] = (first, s, max(size, cols_bytes(g, op, cin)))
    # those that gather their columns first (without scratch they run the portable kernel), the
    # largest first; 1x1 convs also run fast reading their pixels directly
    return dict(sorted(need.items(), key=lambda kv: (reads_directly(g, g.ops[kv[0]]),
                                                     -macs(g, g.ops[kv[0]]), kv[0])))


def _grant_cols(p: Program) -> Program:
    """Give each CONV_2D the column scratch of the fast kernels (generator/codegen/conv_fast.py)
    where it fits under the peak of the program without it, so that it never raises the peak;
    the others run scratch-free kernels."""
    live = p.step_live()
    peak = max(live, default=0)
    need = _cols_need(p)
    granted: set[int] = set()
    for i, (first, last, size) in need.items():
        if size and max(live[first : last + 1]) + align_up(size) <= peak:
            granted.add(i)
            for s in range(first, last + 1):
                live[s] += align_up(size)
    return _with_cols(p, granted, need)


def _with_cols(p: Program, granted: set[int], need: dict[int, tuple[int, int, int]]) -> Program:
    """``p`` (granted no column scratch) with scratch for the ``granted`` ops; those that need
    none (their columns live on the kernel's stack) are left without, as a zero-byte buffer would
    hand the kernel a pointer into other buffers."""
    granted = {i for i in granted if need[i][2]}
    if not granted:
        return p
    steps = tuple(Step(st.kind, st.op, (*st.uses, cols_buffer(st.op)), st.split, st.base)
                  if st.op in granted and st.kind in (StepKind.FULL, StepKind.SLICE) else st
                  for st in p.steps)
    sizes = dict(p.sizes) | {cols_buffer(i): need[i][2] for i in granted}
    return Program(p.graph, p.splits, steps, sizes, p.pinned_first, p.pinned_last, p.alias,
                   p.inplace, frozenset(granted))


def _without_cols(p: Program) -> Program:
    names = {cols_buffer(i) for i in p.cols}
    steps = tuple(Step(st.kind, st.op, tuple(u for u in st.uses if u not in names), st.split,
                       st.base) for st in p.steps)
    sizes = {k: v for k, v in p.sizes.items() if k not in names}
    return Program(p.graph, p.splits, steps, sizes, p.pinned_first, p.pinned_last, p.alias,
                   p.inplace)


def grant_in_layout(p: Program) -> Program:
    """More column scratch where the arena layout of ``p`` has room for it above the peak (the
    layout is often larger than the peak): each further CONV_2D, those that gather first, is
    granted its scratch if the layout does not grow."""
    bare = _without_cols(p)
    need = _cols_need(bare)
    arena = best_layout(list(p.buffers)).size
    granted = set(p.cols)
    for i in need:
        if i in granted or not need[i][2]:
            continue
        trial = _with_cols(bare, granted | {i}, need)
        if best_layout(list(trial.buffers)).size <= arena:
            granted.add(i)
            p = trial
    return p


def _last_uses(g: Graph) -> dict[int, int]:
    last: dict[int, int] = {}
    for i, op in enumerate(g.ops):
        for t in op.inputs:
            if t >= 0:
                last[t] = i
    return last


def _full_step(b: _Builder, i: int, last_use: dict[int, int]) -> None:
    g = b.g
    op = g.ops[i]
    if op.kind in ALIASES:
        b.alias[op.outputs[0]] = op.inputs[0]
        return
    if op.kind in ADD_LIKE and _can_add_in_place(b, i, op, last_use):
        b.alias[op.outputs[0]] = op.inputs[0]
    if op.kind in TABLE_KINDS and _can_look_up_in_place(b, i, op, last_use):
        b.alias[op.outputs[0]] = op.inputs[0]
    extra: list[str] = []
    if i in b.want_inplace and inplace_form(g, op) and _input_dies_here(b, i, op, last_use):
        b.alias[op.outputs[0]] = op.inputs[0]
        b.inplace[i] = b.want_inplace[i]
        extra.append(b.sized(tmp_buffer(i), inplace_tmp_bytes(g, op, b.want_inplace[i])))
    if op.kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM:  # one batch row's int16 cell state
        units = g.tensors[op.outputs[0]].shape[-1]
        extra.append(b.sized(ql.cell_buffer(i), ql.cell_bytes(units)))
    uses = [b.full(t) for t in _activation_inputs(g, op)] + [b.full(t) for t in op.outputs] + extra
    b.steps.append(Step(StepKind.FULL, i, tuple(dict.fromkeys(uses))))


def _input_dies_here(b: _Builder, i: int, op: Op, last_use: dict[int, int]) -> bool:
    g = b.g
    root = b.root(op.inputs[0])
    sharing = [t for t in range(len(g.tensors)) if b.root(t) == root]
    return all(last_use.get(t, -1) <= i for t in sharing) and not any(t in g.outputs for t in sharing)


def _can_add_in_place(b: _Builder, i: int, op: Op, last_use: dict[int, int]) -> bool:
    g = b.g
    x, y = op.inputs[0], op.outputs[0]
    if g.tensors[x].is_const or g.tensors[x].shape != g.tensors[y].shape:
        return False
    if g.tensors[op.inputs[1]].shape != g.tensors[y].shape:
        return False
    root = b.root(x)
    return _input_dies_here(b, i, op, last_use) and not any(
        t in g.inputs for t in range(len(g.tensors)) if b.root(t) == root
    )


def _can_look_up_in_place(b: _Builder, i: int, op: Op, last_use: dict[int, int]) -> bool:
    """A table operator overwrites its input where nothing reads that input later (nor is it a
    model input or output)."""
    g = b.g
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if x.is_const or x.dtype is not y.dtype or x.nbytes != y.nbytes:
        return False
    root = b.root(op.inputs[0])
    return _input_dies_here(b, i, op, last_use) and not any(
        t in g.inputs for t in range(len(g.tensors)) if b.root(t) == root
    )


def _chain_steps(b: _Builder, k: int, split: Split) -> None:
    g, chain = b.g, split.chain
    ranges = slice_ranges(base_channels(g, chain), split.slices)
    widest = max(hi - lo for lo, hi in ranges)
    consumer = is_consumer(g, chain)
    end_op = g.ops[chain.end]
    if consumer:
        acc = b.sized(acc_buffer(chain.end), g.tensors[end_op.outputs[0]].size * 4)
        b.steps.append(Step(StepKind.ZERO, chain.end, (acc,), k))
    for lo, hi in ranges:
        for i in chain.ops:
            b.steps.append(Step(StepKind.SLICE, i, _slice_uses(b, chain, i, widest, consumer), k,
                                (lo, hi)))
    if consumer:
        out = b.full(end_op.outputs[0])
        b.steps.append(Step(StepKind.REQUANT, chain.end, (acc_buffer(chain.end), out), k))


def _slice_uses(b: _Builder, chain: Chain, i: int, widest: int, consumer: bool) -> tuple[str, ...]:
    g = b.g
    op = g.ops[i]
    uses: list[str] = []
    for t in _activation_inputs(g, op):
        if i > chain.start and g.producer(t) == i - 1:
            uses.append(slice_buffer(t))
        else:
            uses.append(b.full(t))
    t_out = op.outputs[0]
    if i < chain.end:
        size = bytes_per_channel(g, t_out) * widest * out_multiplier(g, chain, i)
        uses.append(b.sized(slice_buffer(t_out), size))
    elif consumer:
        uses.append(acc_buffer(i))
    else:
        uses.append(b.full(t_out))
    return tuple(dict.fromkeys(uses))


# ---- lower bound -----------------------------------------------------------------------------------


def lower_bound(g: Graph) -> int:
    """A peak no schedule of this execution model can go below.

    At the moment an operator runs, at least its own smallest working set is live: a channel-wise
    operator needs one channel of its input and output; a channel-mixing one needs its full input and
    one output channel, or one input channel and its int32 accumulator (then, to finish, the
    accumulator and its int8 output); an operator that can run in place, its input plus one
    channel (depthwise) or one pixel (1x1) of scratch; anything else its full inputs and output.
    """
    bound = max([g.tensors[t].nbytes for t in (*g.inputs, *g.outputs)], default=0)
    for op in g.ops:
        if op.kind in ALIASES:
            continue
        ins = _activation_inputs(g, op)
        out = op.outputs[0]
        full_ws = sum(g.tensors[t].nbytes for t in {*ins, *op.outputs})
        ws = full_ws
        if op.kind in MIXING and ins:
            x = ins[0]
            acc = g.tensors[out].size * 4
            produce = g.tensors[x].nbytes + bytes_per_channel(g, out)
            consume = acc + max(bytes_per_channel(g, x), g.tensors[out].nbytes)
            ws = min(full_ws, produce, consume)
        elif _wise_ok(g, op):
            ws = sum(bytes_per_channel(g, t) for t in set(ins)) + bytes_per_channel(g, out)
        form = inplace_form(g, op)
        if form == "dw":
            ws = min(ws, g.tensors[ins[0]].nbytes + _pixels(g, out))
        elif form == "pw":
            ws = min(ws, g.tensors[ins[0]].nbytes + channels(g, out))
        bound = max(bound, ws)
    return bound


# ---- cost model -------------------------------------------------------------------------------------

def _pixels(g: Graph, tid: int) -> int:
    return g.tensors[tid].size // max(channels(g, tid), 1)


def macs(g: Graph, op: Op) -> int:
    y = g.tensors[op.outputs[0]]
    if op.kind in (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED):
        w = g.tensors[op.inputs[1]].shape
        per = w[1] * w[2] * (w[3] if op.kind is OpKind.CONV_2D else 1) \
            if op.kind is not OpKind.FULLY_CONNECTED else w[1]
        return y.size * per
    if op.kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM:  # four gates over features and units
        x = g.tensors[op.inputs[0]]
        return 4 * y.size * (x.shape[-1] + y.shape[-1])
    if op.kind is OpKind.TRANSPOSE_CONV:  # every input value times its filter taps
        w = g.tensors[op.inputs[1]].shape
        return g.tensors[op.inputs[2]].size * w[0] * w[1] * w[2]
    if op.kind is OpKind.SVDF:  # each filter's feature product, then one time weight
        w = g.tensors[op.inputs[1]].shape
        return g.tensors[op.inputs[0]].shape[0] * w[0] * (w[1] + 1)
    return 0


_MAC_TERM = {OpKind.CONV_2D: "macs_conv", OpKind.DEPTHWISE_CONV_2D: "macs_dw",
             OpKind.FULLY_CONNECTED: "macs_fc", OpKind.TRANSPOSE_CONV: "macs_conv",
             OpKind.SVDF: "macs_fc"}


def base_terms(g: Graph) -> dict[str, int]:
    """The work of whole-tensor execution (:data:`generator.plan.cost.BASE_TERMS`)."""
    out = dict.fromkeys(BASE_TERMS, 0)
    for op in g.ops:
        if op.kind in _MAC_TERM:
            out[_MAC_TERM[op.kind]] += macs(g, op)
        else:
            out["values"] += sum(g.tensors[t].size for t in _activation_inputs(g, op))
    return out


def base_cost(g: Graph, model: CostModel = DSP) -> float:
    return model.base_price(base_terms(g))


def split_terms(p: Program) -> dict[str, int]:
    """How often each term of partial execution (:data:`generator.plan.cost.TERMS`) occurs in
    ``p``: its channel slices and in-place operators."""
    g = p.graph
    t = dict.fromkeys(TERMS, 0)
    for s in p.splits:
        k = len(slice_ranges(base_channels(g, s.chain), s.slices))
        consumer = is_consumer(g, s.chain)
        for i in s.chain.ops:
            op = g.ops[i]
            out = op.outputs[0]
            if consumer and i == s.chain.end:
                t["acc_values"] += (k - 1) * g.tensors[out].size
                t["acc_finish"] += g.tensors[out].size
            elif op.kind is OpKind.CONV_2D:
                t["slice_px_conv"] += (k - 1) * _pixels(g, out)
            elif op.kind is OpKind.DEPTHWISE_CONV_2D:
                t["slice_px_dw"] += (k - 1) * _pixels(g, out)
            else:
                t["slice_px_other"] += (k - 1) * _pixels(g, out)
    for i, param in p.inplace.items():
        op = g.ops[i]
        out = op.outputs[0]
        if inplace_form(g, op) == "dw":
            t["inplace_dw_px"] += (param - 1) * _pixels(g, out)
            t["inplace_values"] += g.tensors[out].size
        else:
            t["inplace_pw_values"] += g.tensors[out].size
    return t


def kernel_terms(p: Program) -> dict[str, int]:
    """How often each term of the plan's CONV_2D kernel choices occurs in ``p``: 1x1 convs reading
    their pixels in place, columns gathered again by each extra output-channel slice, and
    multiply-accumulates summed tap by tap where no column scratch was granted."""
    g = p.graph
    t = dict.fromkeys(TERMS, 0)
    for s in p.splits:
        op = g.ops[s.chain.start]
        if op.kind is OpKind.CONV_2D and (not reads_directly(g, op) or cols_bytes(
                g, op, channels(g, op.inputs[0])) == 0):  # a 1x1 with its columns on the stack
            k = len(slice_ranges(base_channels(g, s.chain), s.slices))
            w = g.tensors[op.inputs[1]].shape
            t["rebuilt_cols"] += (k - 1) * _pixels(g, op.outputs[0]) * w[1] * w[2] * w[3]
    for i, op in enumerate(g.ops):
        if op.kind is not OpKind.CONV_2D or i in p.inplace:
            continue
        if i in p.cols or cols_bytes(g, op, channels(g, op.inputs[0])) == 0:
            continue  # columns granted, or on the stack
        if reads_directly(g, op):
            t["direct_macs"] += macs(g, op)
        else:
            rows = g.tensors[op.outputs[0]].shape[1]
            borrowed = _borrowed_rows(p, i, op)
            t["slow_macs"] += macs(g, op) * borrowed // rows if borrowed else macs(g, op)
    return t


def overhead_cost(p: Program, model: CostModel = DSP) -> float:
    """Estimated extra instructions of the plan's slices and in-place operators on the target."""
    return model.price(split_terms(p))


def kernel_cost(p: Program, model: CostModel = DSP) -> float:
    """Estimated instructions the plan's choice of CONV_2D kernels adds (see :func:`kernel_terms`)."""
    return model.price(kernel_terms(p))


def plan_cost(p: Program, model: CostModel = DSP) -> float:
    return overhead_cost(p, model) + kernel_cost(p, model)


def estimated_overhead(p: Program, model: CostModel = DSP) -> float:
    """The estimated extra instructions of ``p`` over whole-tensor execution, a fraction of it."""
    extra = plan_cost(p, model) - plan_cost(build_program(p.graph), model)
    return extra / max(base_cost(p.graph, model), 1.0)


def _borrowed_rows(p: Program, i: int, op: Op) -> int:
    """How many first output rows every call of CONV_2D op ``i`` borrows for its columns (and
    computes tap by tap); 0 where a call cannot borrow."""
    g = p.graph
    cin, cout = channels(g, op.inputs[0]), channels(g, op.outputs[0])
    for s in p.splits:
        if i in s.chain.ops:
            if i != s.chain.start or s.chain.end == i:
                return 0  # accumulating, or writing a slice of a wider output
            narrow = min(hi - lo for lo, hi in slice_ranges(base_channels(g, s.chain), s.slices))
            return borrowed_rows(g, op, cin, narrow) if borrows_output(
                g, op, cin, narrow, narrow) else 0
    if i in p.inplace or not borrows_output(g, op, cin, cout, cout):
        return 0
    return borrowed_rows(g, op, cin, cout)


def refine(g: Graph, p: Program, rounds: int = 8, model: CostModel = DSP) -> Program:
    """Cheaper programs at the same cost in memory: starting from ``p``, repeatedly take the move
    (re-split a chain, drop a split, run its operators in place instead, drop an in-place
    operator) that most lowers the estimated instructions (:func:`plan_cost`) without raising the
    peak or the arena layout of ``p``."""
    peak, arena = p.peak, best_layout(list(p.buffers)).size

    def cost(q: Program) -> float:
        return plan_cost(q, model)

    current, current_cost = p, cost(p)
    for _ in range(rounds):
        best, best_cost = current, current_cost
        for trial in _refinements(g, current):
            c = cost(trial)
            if c < best_cost and trial.peak <= peak and best_layout(list(trial.buffers)).size <= arena:
                best, best_cost = trial, c
        if best is current:
            return current
        current, current_cost = best, best_cost
    return current


def slice_options(n: int) -> list[int]:
    """The slice counts the search tries for a chain of ``n`` base channels: those of
    :data:`SLICE_OPTIONS` up to ``n`` whose slices all keep whole groups of four channels where
    ``n`` has them (a ragged slice runs the kernels' one-channel tails: on the Cortex-M55 a 64-channel
    chain in three slices costs four times what it does in four)."""
    out = []
    for k in SLICE_OPTIONS:
        if k > n:
            break
        if n % 4 == 0 and any((hi - lo) % 4 for lo, hi in slice_ranges(n, k)):
            continue
        out.append(k)
    return out


def _refinements(g: Graph, p: Program) -> Iterator[Program]:
    splits, inplace = list(p.splits), dict(p.inplace)
    for s in splits:
        others = [o for o in splits if o is not s]
        for k in slice_options(base_channels(g, s.chain)):
            if k != s.slices:
                yield build_program(g, sorted([*others, Split(s.chain, k)],
                                              key=lambda o: o.chain.start), inplace)
        yield build_program(g, others, inplace)
        for i in s.chain.ops:
            form = inplace_form(g, g.ops[i])
            options = [] if form is None else [1] if form == "pw" else [
                k for k in INPLACE_GROUPS if k <= channels(g, g.ops[i].outputs[0])]
            for param in options:
                yield build_program(g, others, {**inplace, i: param})
    for i in inplace:
        yield build_program(g, splits, {j: v for j, v in inplace.items() if j != i})


# ---- search -----------------------------------------------------------------------------------------

OVERHEAD_BUDGET = DEFAULT_BUDGET


@dataclass(frozen=True)
class SearchResult:
    program: Program
    unsplit: Program
    evaluated: int
    model: CostModel = DSP

    @property
    def overhead(self) -> float:
        """Estimated extra instructions over whole-tensor execution, as a fraction of it."""
        return estimated_overhead(self.program, self.model)


def search_splits(g: Graph, max_rounds: int = 200, budget: float = OVERHEAD_BUDGET,
                  model: CostModel = DSP) -> SearchResult:
    """Greedy descent on the peak: each round tries every move touching an operator at the peak
    (split or re-split a chain; run an operator in place) and keeps the best one whose estimated
    extra instructions on the target (``model``: slices, in-place operators and the CONV_2D
    kernels the smaller peak leaves them) stay within ``budget`` of whole-tensor execution. Ties
    go to fewer operators at the peak (repeated blocks), then to fewer slices. Last,
    :func:`refine` trades splits for cheaper ones at the same peak and arena."""
    chains = candidate_chains(g)
    unsplit = build_program(g)
    limit = budget * base_cost(g, model) + plan_cost(unsplit, model)
    current = unsplit
    evaluated = 1
    for _ in range(max_rounds):
        peak_ops = _ops_at_peak(current)
        best = current
        for trial in _moves(g, current, chains, peak_ops):
            evaluated += 1
            if plan_cost(trial, model) <= limit and _better(trial, best, model):
                best = trial
        if best is current:
            break
        current = best
    return SearchResult(grant_in_layout(refine(g, current, model=model)), unsplit, evaluated, model)


def _moves(g: Graph, current: Program, chains: list[Chain], peak_ops: set[int]) -> Iterator[Program]:
    splits, inplace = list(current.splits), dict(current.inplace)
    for chain in chains:
        if not any(i in peak_ops for i in chain.ops):
            continue
        kept = [s for s in splits if not s.chain.overlaps(chain)]
        kept_inplace = {i: v for i, v in inplace.items() if i not in chain.ops}
        for k in slice_options(base_channels(g, chain)):
            yield build_program(g, sorted([*kept, Split(chain, k)], key=lambda s: s.chain.start),
                                kept_inplace)
    for i in peak_ops:
        form = inplace_form(g, g.ops[i])
        if form is None or any(i in s.chain.ops for s in splits):
            continue
        options = [1] if form == "pw" else [k for k in INPLACE_GROUPS if k <= channels(g, g.ops[i].outputs[0])]
        for param in options:
            if inplace.get(i) != param:
                yield build_program(g, splits, {**inplace, i: param})


def _score(p: Program, model: CostModel) -> tuple[int, int, float]:
    """Lower peak first; then fewer operators at the peak (ties between repeated blocks); then
    less estimated overhead."""
    return (p.peak, len(_ops_at_peak(p)), plan_cost(p, model))


def _better(a: Program, b: Program, model: CostModel = DSP) -> bool:
    return _score(a, model) < _score(b, model)


def _ops_at_peak(p: Program) -> set[int]:
    if not p.steps:
        return set()
    live = p.step_live()
    top = max(live, default=0)
    return {p.steps[i].op for i, v in enumerate(live) if v == top}
