"""What a layer type does beyond its shapes, declared next to its shape rule: the scratch buffers it
allocates, which bottom diffs it touches, how its tops share memory, and what it computes.

Each part is a small plain function of a RunContext (how one layer runs: device, phase, training,
which diffs Backward propagates). The accounting modules (memory, compute) only sum what these
functions declare; they never look at a type name. `no_buffers` and `no_compute` are declarations
("this type allocates / computes nothing worth counting"), not defaults: a type whose model leaves
either out is listed as not modelled and makes its totals partial.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from blobcalc import caffe_pb2

Shape = tuple[int, ...]

SETUP, FORWARD, BACKWARD = "setup", "forward", "backward"  # when Caffe first touches a buffer
INT_BYTES = 4  # Blob<int> / Blob<unsigned int> elements (masks, indices, conv geometry) whatever the dtype

# How a layer's tops hold their memory (memory.py sums storages by these).
OWN = "own"  # each top has its own data and diff
SHARES_DATA = "shares data"  # SplitLayer: tops share the bottom's data, own their diffs
SHARES_BOTH = "shares data and diff"  # Flatten/Reshape: ShareData + ShareDiff of the bottom
DATA_IN_BUFFER = "data in a buffer"  # data layers: Forward points the tops into a prefetch batch


@dataclass(frozen=True, slots=True)
class Buffer:
    """One SyncedMemory a layer allocates beside its tops and parameters, named after Caffe's member."""

    name: str
    elements: int
    step: str = FORWARD  # SETUP, FORWARD or BACKWARD: when it is first touched (lazily allocated)
    fixed_element_bytes: int | None = None  # None: the net's dtype; INT_BYTES for int blobs
    # A bound on memory that is no SyncedMemory (cuDNN's cudaMalloc'd workspaces): reported apart,
    # never added to the totals, since its real size is chosen by cuDNN at run time.
    bound_only: bool = False

    def bytes(self, element_bytes: int) -> int:
        return self.elements * (self.fixed_element_bytes or element_bytes)


@dataclass(frozen=True, slots=True)
class RunContext:
    """How one layer runs: what a model function may look at."""

    layer: caffe_pb2.LayerParameter
    bottom_shapes: tuple[Shape, ...]
    top_shapes: tuple[Shape, ...]
    param_shapes: tuple[Shape, ...]
    in_place: bool  # top 0 is bottom 0
    phase: int  # caffe_pb2.TRAIN or TEST: the phase the layer runs in
    device: str = "gpu"  # "cpu" or "gpu": Forward_cpu/Backward_cpu or the .cu code
    engine: str = "caffe"  # --engine for --device gpu: "caffe" or "cudnn" (a layer's engine field wins)
    backward: bool = False  # this layer's Backward runs (training, Net::Init's layer_need_backward_)
    propagate_down: tuple[bool, ...] = ()  # per bottom: its gradient is computed
    param_learned: tuple[bool, ...] = ()  # per parameter blob: lr_mult != 0 (param_propagate_down_)
    loss_weights: tuple[float, ...] = ()  # per top, as Layer::SetLossWeights sets them
    datum_shape: Shape | None = None  # --datum-shape: a database record's (C, H, W)

    @property
    def bottom(self) -> Shape:
        return self.bottom_shapes[0]

    @property
    def top(self) -> Shape:
        return self.top_shapes[0]

    @property
    def learns_params(self) -> bool:
        return self.backward and any(self.param_learned)

    def uses_cudnn(self, engine_field: int) -> bool:
        """layer_factory.cpp: a layer's own `engine` (CAFFE 1, CUDNN 2) wins; DEFAULT (0) follows the
        build, which --engine stands for. cuDNN exists only on the GPU path."""
        if self.device != "gpu":
            return False
        if engine_field:
            return engine_field == 2
        return self.engine == "cudnn"


@dataclass(frozen=True, slots=True)
class Cost:
    """Forward work of one layer (multiply-accumulates and counted element operations) and, when its
    Backward runs, the backward multiply-accumulates."""

    maccs: int = 0
    comparisons: int = 0
    additions: int = 0
    divisions: int = 0
    exponentials: int = 0
    backward_maccs: int = 0


BufferFn = Callable[[RunContext], tuple[Buffer, ...]]
CostFn = Callable[[RunContext], Cost]
SharingFn = Callable[[int, int], str]  # (bottoms, tops) → OWN, SHARES_DATA, SHARES_BOTH or DATA_IN_BUFFER
TouchFn = Callable[[RunContext], tuple[bool, ...]]  # per bottom: diff touched beyond propagate_down


class NotModelled(Exception):
    """Raised by a model part declared not modelled: the figures leave the layer out and say partial."""


def buffers_not_modelled(reason: str) -> BufferFn:
    """Declared: this type's buffers are not modelled (`reason` says why); memory totals become partial."""
    def buffers(ctx: RunContext) -> tuple[Buffer, ...]:
        raise NotModelled(reason)
    return buffers


def compute_not_modelled(reason: str) -> CostFn:
    """Declared: this type's compute is not modelled (`reason` says why); compute totals become partial."""
    def cost(ctx: RunContext) -> Cost:
        raise NotModelled(reason)
    return cost


def no_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """Declared: the layer allocates nothing beside its tops and parameters."""
    return ()


def no_compute(ctx: RunContext) -> Cost:
    """Declared: the layer moves or shares memory but does no arithmetic worth counting."""
    return Cost()


def own_tops(bottoms: int, tops: int) -> str:
    """Caffe's usual case: every top owns its data and diff (or is its bottom, when in place)."""
    return OWN


def propagated_diffs_only(ctx: RunContext) -> tuple[bool, ...]:
    """Caffe's usual case: Backward writes the bottom diffs it propagates to, and no other."""
    return ()


def count(shape: Shape, start: int = 0, end: int | None = None) -> int:
    """Blob::count over axes [start, end)."""
    total = 1
    for dim in shape[start:end]:
        total *= dim
    return total


def elements_of_bottom(ctx: RunContext) -> int:
    return count(ctx.bottom) if ctx.bottom_shapes else 0


def elements_of_top(ctx: RunContext) -> int:
    return count(ctx.top) if ctx.top_shapes else 0


def comparison_per_element(ctx: RunContext) -> Cost:
    """ReLU-like layers: one comparison per output."""
    return Cost(comparisons=elements_of_top(ctx))


def transcendental_per_element(ctx: RunContext) -> Cost:
    """Sigmoid/TanH-like layers: an exponential, an addition and a division per element."""
    n = elements_of_bottom(ctx)
    return Cost(additions=n, divisions=n, exponentials=n)


def multiply_per_element(ctx: RunContext) -> Cost:
    """Scale-like layers: one multiply(-accumulate) per output."""
    return Cost(maccs=elements_of_top(ctx))


def addition_per_element(ctx: RunContext) -> Cost:
    return Cost(additions=elements_of_top(ctx))


def matrix_backward(maccs: int, ctx: RunContext) -> int:
    """The weight gradient costs one forward's worth of MACCs when learned, the bottom gradient another."""
    if not ctx.backward:
        return 0
    return maccs * (int(any(ctx.param_learned)) + int(any(ctx.propagate_down)))
