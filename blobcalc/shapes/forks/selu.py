"""SELU activation and its alpha-dropout, as used by soeaver/caffe-model's PSPNet nets."""
from __future__ import annotations

from blobcalc import caffe_pb2
from blobcalc.shapes.model import FORWARD, INT_BYTES, Buffer, Cost, RunContext, count, elements_of_top, no_buffers
from blobcalc.shapes.neuron import NEURON_COUNTS
from blobcalc.shapes.registry import LayerContext, LayerShapes, layer_model, shape_rule

SELU = "SELU fork used by soeaver/caffe-model"


@shape_rule("SeLu", "SeLuDropout", counts=NEURON_COUNTS, origin=SELU)
def selu(ctx: LayerContext) -> LayerShapes:
    """Element-wise neuron layers (SeLuDropout's selu_dropout_param only changes values): the top
    is shaped like the bottom."""
    return LayerShapes((ctx.bottom,))


# --- The model of these fork layers beyond their shapes ------------------------------------------

def _selu_cost(ctx: RunContext) -> Cost:
    n = elements_of_top(ctx)
    return Cost(maccs=n, comparisons=n, exponentials=n)


def _selu_dropout_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """selu_dropout_layer.cpp: like Dropout, the mask rand_vec_ (unsigned int) in TRAIN."""
    if ctx.phase != caffe_pb2.TRAIN:
        return ()
    return (Buffer("rand_vec_ (dropout mask)", count(ctx.bottom), FORWARD, INT_BYTES),)


layer_model("SeLu", buffers=no_buffers, compute=_selu_cost)
layer_model("SeLuDropout", buffers=_selu_dropout_buffers, compute=_selu_cost)
