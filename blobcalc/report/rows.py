"""The per-layer figures every report shows, computed once so that all formats agree."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from blobcalc.api import NetReport
from blobcalc.compute import LayerCompute
from blobcalc.memory import FLOAT32_BYTES, LayerMemory, caffe_memory_required_bytes
from blobcalc.result import LayerResult, NetAnalysis
from blobcalc.shapes.registry import Shape
from blobcalc.units import human_bytes

__all__ = ["LayerRow", "Totals", "human_bytes", "iter_layer_rows", "layer_rows", "shape_text", "shapes_text", "totals"]


@dataclass(frozen=True, slots=True)
class LayerRow:
    layer: LayerResult
    output_elements: int
    output_bytes: int  # this layer's share of Caffe's "Memory required for data"
    param_count: int
    inference: LayerMemory
    training: LayerMemory | None  # only when the table's net is the one trained (TRAIN phase)
    compute: LayerCompute


@dataclass(frozen=True, slots=True)
class Totals:
    layers: int
    output_elements: int
    caffe_memory_required_bytes: int
    param_count: int
    partial: bool


def layer_rows(report: NetReport) -> tuple[LayerRow, ...]:
    return tuple(iter_layer_rows(report))


def iter_layer_rows(report: NetReport) -> Iterator[LayerRow]:
    """layer_rows one at a time, for the formats that write a row and forget it."""
    analysis = report.analysis
    training = report.memory.training
    aligned = training is not None and analysis.phase == "TRAIN" and len(training.rows) == len(analysis.layers)
    for i, layer in enumerate(analysis.layers):
        yield LayerRow(layer, layer.output_elements, FLOAT32_BYTES * layer.output_elements,
                       layer.param_count, report.memory.inference.rows[i],
                       training.rows[i] if aligned and training is not None else None, report.compute[i])


def totals(analysis: NetAnalysis) -> Totals:
    return Totals(len(analysis.layers), sum(layer.output_elements for layer in analysis.layers),
                  caffe_memory_required_bytes(analysis), analysis.param_count, analysis.partial)


def shape_text(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join(str(d) for d in shape) + "]"


def shapes_text(shapes: tuple[Shape | None, ...]) -> str:
    return " ".join(shape_text(s) for s in shapes) if shapes else "-"
