"""The per-layer figures every report shows, computed once so that all formats agree."""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc.memory import FLOAT32_BYTES, caffe_memory_required_bytes
from blobcalc.result import LayerResult, NetAnalysis
from blobcalc.shapes.registry import Shape


@dataclass(frozen=True, slots=True)
class LayerRow:
    layer: LayerResult
    output_elements: int
    output_bytes: int  # this layer's share of Caffe's "Memory required for data"
    param_count: int


@dataclass(frozen=True, slots=True)
class Totals:
    layers: int
    output_elements: int
    caffe_memory_required_bytes: int
    param_count: int
    partial: bool


def layer_rows(analysis: NetAnalysis) -> tuple[LayerRow, ...]:
    return tuple(LayerRow(layer, layer.output_elements, FLOAT32_BYTES * layer.output_elements,
                          layer.param_count) for layer in analysis.layers)


def totals(analysis: NetAnalysis) -> Totals:
    return Totals(len(analysis.layers), sum(layer.output_elements for layer in analysis.layers),
                  caffe_memory_required_bytes(analysis), analysis.param_count, analysis.partial)


def shape_text(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join(str(d) for d in shape) + "]"


def shapes_text(shapes: tuple[Shape | None, ...]) -> str:
    return " ".join(shape_text(s) for s in shapes) if shapes else "-"


def human_bytes(count: int) -> str:
    """Binary units, labelled as such (MiB = 1024² bytes)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"
