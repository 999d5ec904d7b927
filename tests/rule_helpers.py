"""Call a registered shape rule directly on a layer written in prototxt text."""
from __future__ import annotations

from google.protobuf import text_format

from blobcalc import caffe_pb2
from blobcalc.shapes.registry import LayerContext, LayerShapes, Shape, rule_for


def apply_rule(layer_text: str, bottoms: list[Shape] | tuple[Shape, ...],
               phase: int = caffe_pb2.TEST, num_tops: int | None = None) -> LayerShapes:
    layer = text_format.Parse(layer_text, caffe_pb2.LayerParameter())
    rule = rule_for(layer.type)
    if rule is None:
        raise KeyError(f"no rule for {layer.type!r}")
    tops = len(layer.top) if num_tops is None else num_tops
    context = LayerContext(layer, tuple(tuple(b) for b in bottoms), phase, tops)
    return rule.compute(context)
