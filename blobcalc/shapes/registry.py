"""The layer-type registry: one entry per Caffe layer type string holding everything about the type —
its shape rule and blob-count contract, and its model (blobcalc.shapes.model): scratch buffers, diffs
touched, top sharing and compute."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.shapes.model import (
    BufferFn,
    CostFn,
    SharingFn,
    TouchFn,
    own_tops,
    propagated_diffs_only,
)
from blobcalc.shapes.model import Shape as Shape  # re-exported: the rule modules import it from here
from blobcalc.shapes.model import count as model_count


class RuleCheckFailed(Exception):
    """Raised by a rule when Caffe would fail a CHECK; the propagator adds the layer's name."""


class ShapeUnknown(Exception):
    """Raised by a rule when the shape depends on data we never read (e.g. a database)."""


@dataclass(frozen=True, slots=True)
class LayerContext:
    """What a rule may look at: the upgraded layer, its bottom shapes and the phase."""

    layer: caffe_pb2.LayerParameter
    bottom_shapes: tuple[Shape, ...]
    phase: int  # caffe_pb2.TRAIN or caffe_pb2.TEST
    num_tops: int  # tops after Caffe added automatic ones
    rois: int | None = None  # --rois N: regions a detection head is sized for (None: Caffe's setup() shape)
    datum_shape: Shape | None = None  # --datum-shape: a database record's (C, H, W), for data layers
    # Every layer type of the net (this phase): tells a Python module's fork copy by the C++ layers
    # only that fork's Caffe has (py-R-FCN's proposal_target_layer.py next to PSROIPooling).
    net_types: frozenset[str] = frozenset()

    @property
    def bottom(self) -> Shape:
        return self.bottom_shapes[0]


@dataclass(frozen=True, slots=True)
class LayerShapes:
    """A rule's answer: one shape per top, one shape per parameter blob Caffe allocates."""

    top_shapes: tuple[Shape, ...]
    param_shapes: tuple[Shape, ...] = ()
    # Assumptions the rule had to make (e.g. channels of a database we never open).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BlobCounts:
    """Caffe's ExactNum/Min/Max Bottom/Top Blobs; -1 means no constraint (as in layer.hpp)."""

    exact_bottoms: int = -1
    min_bottoms: int = -1
    max_bottoms: int = -1
    exact_tops: int = -1
    min_tops: int = -1
    max_tops: int = -1
    equal_bottom_top: bool = False
    auto_tops: bool = False  # Caffe's AutoTopBlobs: missing tops are created anonymously


RuleFn = Callable[[LayerContext], LayerShapes]


BVLC = "BVLC Caffe"


@dataclass(frozen=True, slots=True)
class ShapeRule:
    layer_type: str
    compute: RuleFn
    counts: BlobCounts
    origin: str = BVLC  # which Caffe registers this type, e.g. "SSD fork (weiliu89/caffe)"
    source: bool = False  # feeds the net from outside (data/input layer): first axis is the batch
    # The type's model (blobcalc.shapes.model); None: not declared, so the figures say "partial".
    buffers: BufferFn | None = None
    cost: CostFn | None = None
    sharing: SharingFn = own_tops
    touches: TouchFn = propagated_diffs_only

    @property
    def is_loss(self) -> bool:
        """A subclass of Caffe's LossLayer: the only layers with AutoTopBlobs that are not data
        layers (a fork's data layer may create its tops automatically too)."""
        return self.counts.auto_tops and not self.source


_RULES: dict[str, ShapeRule] = {}
# Set by blobcalc.plugins while a user's rule file or an installed plugin registers its rules, e.g.
# "user rules (my_rules.py)": the origin reports name for those rules.
_user_origin: list[str] = []


def shape_rule(*layer_types: str, counts: BlobCounts | None = None, origin: str = BVLC,
               source: bool = False, replace: bool = False, buffers: BufferFn | None = None,
               compute: CostFn | None = None, sharing: SharingFn = own_tops,
               touches: TouchFn = propagated_diffs_only) -> Callable[[RuleFn], RuleFn]:
    """Register `fn` as the rule for each Caffe type string in `layer_types`; `origin` names the
    Caffe fork that defines the type when BVLC Caffe does not; `source` marks data/input layers.
    A type that already has a rule is an error unless `replace` (for user rules that override one).
    `buffers`, `compute`, `sharing` and `touches` give the type's model here, or later through
    layer_model().

    A Python layer's rule is keyed "Python:<module>.<layer>" (python_param), never by importing it."""
    if _user_origin:
        origin = _user_origin[-1] if origin == BVLC else f"{origin}, by {_user_origin[-1]}"

    def register(fn: RuleFn) -> RuleFn:
        for layer_type in layer_types:
            if layer_type in _RULES and not replace:
                raise ValueError(f"two shape rules for layer type {layer_type!r} (the first from "
                                 f"{_RULES[layer_type].origin}); pass replace=True to replace it")
            _RULES[layer_type] = ShapeRule(layer_type, fn, counts or BlobCounts(), origin, source, buffers,
                                           compute, sharing, touches)
        return fn

    return register


def layer_model(*layer_types: str, buffers: BufferFn | None = None, compute: CostFn | None = None,
                sharing: SharingFn | None = None, touches: TouchFn | None = None) -> None:
    """Give types registered with shape_rule their model (the parts passed here replace theirs)."""
    for layer_type in layer_types:
        rule = _RULES.get(layer_type)
        if rule is None:
            raise ValueError(f"layer_model({layer_type!r}): register its shape rule first")
        _RULES[layer_type] = dataclasses.replace(
            rule, buffers=buffers or rule.buffers, cost=compute or rule.cost,
            sharing=sharing or rule.sharing, touches=touches or rule.touches)


def rule_for(layer_type: str) -> ShapeRule | None:
    _load_builtin_rules()
    return _RULES.get(layer_type)


def python_rule_key(module: str, layer: str) -> str:
    return f"Python:{module}.{layer}"


def rule_for_layer(layer: caffe_pb2.LayerParameter) -> ShapeRule | None:
    """The rule for a layer: by type, or for a Python layer by its module and class names."""
    if layer.type == "Python":
        return rule_for(python_rule_key(layer.python_param.module, layer.python_param.layer))
    return rule_for(layer.type)


def is_source_layer(layer: caffe_pb2.LayerParameter) -> bool:
    """A data or input layer: its rule feeds the net from outside (its first axis is the batch)."""
    rule = rule_for_layer(layer)
    return rule is not None and rule.source


def registered_types() -> tuple[str, ...]:
    _load_builtin_rules()
    return tuple(sorted(_RULES))


def check(condition: bool, reason: str) -> None:
    """Fail the way a Caffe CHECK in LayerSetUp/Reshape would."""
    if not condition:
        raise RuleCheckFailed(reason)


def canonical_axis(axis: int, num_axes: int) -> int:
    """Blob::CanonicalAxisIndex: negative axes count from the end; out of range fails."""
    check(-num_axes <= axis < num_axes,
          f"axis {axis} out of range for a {num_axes}-axis blob")
    return axis + num_axes if axis < 0 else axis


count = model_count  # Blob::count over axes [start, end): the product of those dimensions, 1 for none


_loaded = False


def _load_builtin_rules() -> None:
    # Importing the rule modules runs their @shape_rule decorators; installed plugins (the entry-point
    # group blobcalc.shape_rules) register theirs right after, so they may replace a built-in rule.
    global _loaded
    if not _loaded:
        _loaded = True
        from blobcalc.plugins import load_entry_points
        from blobcalc.shapes import builtin  # noqa: F401

        load_entry_points()


def as_int32(value: int) -> int:
    """The C++ conversion of a uint32 / int64 proto field (or an int product) to `int`: Caffe's layers
    keep most uint32 fields (num_output, kernel_size, stride, pad, group) in `int` members, so
    4294967295 is -1 to their CHECKs."""
    return (value + 2**31) % 2**32 - 2**31


def trunc_div(numerator: int, denominator: int) -> int:
    """C++ integer division (truncates toward zero), which Caffe's size formulas use."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient
