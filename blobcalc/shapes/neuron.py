"""Element-wise neuron layers: one bottom, one top of the same shape (Caffe's NeuronLayer)."""
from __future__ import annotations

from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, check, shape_rule

NEURON_COUNTS = BlobCounts(exact_bottoms=1, exact_tops=1)  # neuron_layer.hpp

NEURON_TYPES = ("AbsVal", "BNLL", "Clip", "Dropout", "ELU", "Exp", "Log", "Power", "ReLU",
                "Sigmoid", "Swish", "TanH", "Threshold")


@shape_rule(*NEURON_TYPES, counts=NEURON_COUNTS)
def same_shape(ctx: LayerContext) -> LayerShapes:
    return LayerShapes((ctx.bottom,))


@shape_rule("PReLU", counts=NEURON_COUNTS)
def prelu(ctx: LayerContext) -> LayerShapes:
    """prelu_layer.cpp: one slope per channel, or a single scalar slope when channel_shared."""
    check(len(ctx.bottom) >= 2, "Number of axes of bottom blob must be >=2.")
    slopes = () if ctx.layer.prelu_param.channel_shared else (ctx.bottom[1],)
    return LayerShapes((ctx.bottom,), (slopes,))
