"""SELU activation and its alpha-dropout, as used by soeaver/caffe-model's PSPNet nets."""
from __future__ import annotations

from blobcalc.shapes.neuron import NEURON_COUNTS
from blobcalc.shapes.registry import LayerContext, LayerShapes, shape_rule

SELU = "SELU fork used by soeaver/caffe-model"


@shape_rule("SeLu", "SeLuDropout", counts=NEURON_COUNTS, origin=SELU)
def selu(ctx: LayerContext) -> LayerShapes:
    """Element-wise neuron layers (SeLuDropout's selu_dropout_param only changes values): the top
    is shaped like the bottom."""
    return LayerShapes((ctx.bottom,))
