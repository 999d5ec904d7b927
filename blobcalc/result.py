"""Frozen results of an analysis: one LayerResult per layer of the built net, and the net's totals."""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc.graph import NetGraph
from blobcalc.shapes.registry import BVLC, Shape, count

OK = "ok"
UNKNOWN = "unknown"  # no rule, a rule that needs data we never read, or an unknown bottom upstream


@dataclass(frozen=True, slots=True)
class LayerResult:
    index: int
    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    top_shapes: tuple[Shape | None, ...]  # None: unknown
    param_shapes: tuple[Shape, ...]
    param_shared: tuple[bool, ...]  # per parameter blob: owned by an earlier layer (ParamSpec name)
    in_place: tuple[bool, ...]
    auto_split: bool  # a Split layer Caffe inserted
    status: str
    reason: str = ""  # why the layer is unknown
    replaced_type: str = ""  # the data layer type an --input-shape replaced by an Input layer
    notes: tuple[str, ...] = ()
    origin: str = ""  # who defines the layer's rule: "BVLC Caffe", a fork, or "" for no rule
    python_layer: str = ""  # "module.layer" of a Python layer (never imported)
    loss_weights: tuple[float, ...] = ()  # per top, as Caffe sets them (loss layers: 1 on the first)
    bottom_shapes: tuple[Shape | None, ...] = ()  # the shapes this layer read (None: unknown)
    datum_shape: Shape | None = None  # --datum-shape: the database record (C, H, W) of a data layer

    @property
    def known(self) -> bool:
        return self.status == OK

    @property
    def output_elements(self) -> int:
        """Elements of all known tops (a scalar top counts 1)."""
        return sum(count(shape) for shape in self.top_shapes if shape is not None)

    @property
    def param_count(self) -> int:
        """Elements of the parameter blobs this layer owns (shared ones are counted by their owner)."""
        return sum(count(shape) for shape, shared in zip(self.param_shapes, self.param_shared, strict=True)
                   if not shared)


@dataclass(frozen=True, slots=True)
class NetAnalysis:
    source: str  # the file path, or "<text>"
    net_name: str
    era: str  # the format the file was written in: V0, V1 or V2
    phase: str
    level: int
    stages: tuple[str, ...]
    layers: tuple[LayerResult, ...]
    input_blobs: tuple[str, ...]
    output_blobs: tuple[str, ...]
    notices: tuple[str, ...]
    graph: NetGraph
    fork_fields: tuple[str, ...] = ()  # fields of our schema that BVLC Caffe lacks, as used by the file
    force_backward: bool = False  # NetParameter.force_backward
    # Why `phase` is not the one asked for: the default phase did not build and this one does
    # (api.analyze_net_that_builds); also the first of `notices`.
    phase_notice: str = ""

    @property
    def partial(self) -> bool:
        """True when some layer's shapes are unknown, so totals leave those layers out."""
        return any(not layer.known for layer in self.layers)

    @property
    def unknown_layers(self) -> tuple[LayerResult, ...]:
        return tuple(layer for layer in self.layers if not layer.known)

    @property
    def unsupported_types(self) -> tuple[str, ...]:
        """Layer types (a Python layer as Python:module.layer) with no shape rule, by name: never
        silently counted as zero."""
        return tuple(sorted({_type_label(layer) for layer in self.layers if not layer.origin}))

    @property
    def fork_types(self) -> tuple[tuple[str, str], ...]:
        """(type, fork) for each layer type that BVLC Caffe does not register but a fork does."""
        found = {_type_label(layer): layer.origin for layer in self.layers
                 if layer.origin and layer.origin != BVLC}
        return tuple(sorted(found.items()))

    @property
    def param_count(self) -> int:
        """Unique learnable parameter elements, as Caffe's Net::learnable_params()."""
        return sum(layer.param_count for layer in self.layers)


def _type_label(layer: LayerResult) -> str:
    return f"Python:{layer.python_layer}" if layer.type == "Python" else layer.type
