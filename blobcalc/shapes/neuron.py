"""Element-wise neuron layers: one bottom, one top of the same shape (Caffe's NeuronLayer)."""
from __future__ import annotations

from blobcalc import caffe_pb2
from blobcalc.shapes.model import (
    BACKWARD,
    FORWARD,
    INT_BYTES,
    SETUP,
    Buffer,
    Cost,
    RunContext,
    comparison_per_element,
    count,
    elements_of_top,
    no_buffers,
    transcendental_per_element,
)
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, check, layer_model, shape_rule

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


# --- The model of the neuron layers beyond their shapes -----------------------------------------
# relu/threshold/clip/absval/sigmoid/tanh/elu/bnll/exp/log/power_layer.cpp: element-wise, in place or
# not, with no scratch of their own (cuDNN's ReLU/Sigmoid/TanH hold only descriptors).
layer_model("ReLU", "Threshold", "Clip", "AbsVal", buffers=no_buffers, compute=comparison_per_element)
layer_model("Sigmoid", "TanH", "ELU", "BNLL", "Exp", "Log", buffers=no_buffers,
            compute=transcendental_per_element)


def _power_cost(ctx: RunContext) -> Cost:
    """power_layer.cpp: (shift + scale * x) ^ power: a multiply-add per element, and a power (counted
    as an exponential) unless power is 1."""
    out = elements_of_top(ctx)
    return Cost(maccs=out, exponentials=out if ctx.layer.power_param.power != 1 else 0)


layer_model("Power", buffers=no_buffers, compute=_power_cost)


def _swish_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """swish_layer.cpp Forward: beta * x into sigmoid_input_, its inner Sigmoid's sigmoid_output_."""
    n = count(ctx.bottom)
    return (Buffer("sigmoid_input_", n, FORWARD), Buffer("sigmoid_output_", n, FORWARD))


def _swish_cost(ctx: RunContext) -> Cost:
    n = elements_of_top(ctx)
    return Cost(maccs=2 * n, additions=n, divisions=n, exponentials=n)


layer_model("Swish", buffers=_swish_buffers, compute=_swish_cost)


def _dropout_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """dropout_layer.cpp Forward_cpu takes the mask rand_vec_ (unsigned int) before testing the phase,
    so the CPU path allocates it in TEST too; dropout_layer.cu draws it only in TRAIN."""
    if ctx.device == "gpu" and ctx.phase != caffe_pb2.TRAIN:
        return ()
    return (Buffer("rand_vec_ (dropout mask)", count(ctx.bottom), FORWARD, INT_BYTES),)


def _dropout_cost(ctx: RunContext) -> Cost:
    """TRAIN: a comparison (the mask) and a multiplication per element; TEST: a copy."""
    if ctx.phase != caffe_pb2.TRAIN:
        return Cost()
    out = elements_of_top(ctx)
    return Cost(maccs=out, comparisons=out)


layer_model("Dropout", buffers=_dropout_buffers, compute=_dropout_cost)


def _prelu_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """prelu_layer.cpp: LayerSetUp fills multiplier_ [count(1)] with ones; in place, Forward copies the
    bottom into bottom_memory_; prelu_layer.cu's Backward sums the slope gradient through
    backward_buff_'s diff [count(1)] when the slopes are learned."""
    per_image = count(ctx.bottom, 1)
    buffers = [Buffer("multiplier_", per_image, SETUP)]
    if ctx.in_place:
        buffers.append(Buffer("bottom_memory_ (the bottom before an in-place Forward)", count(ctx.bottom),
                              FORWARD))
    if ctx.device == "gpu" and ctx.learns_params:
        buffers.append(Buffer("backward_buff_ diff (slope gradient per position)", per_image, BACKWARD))
    return tuple(buffers)


def _prelu_cost(ctx: RunContext) -> Cost:
    out = elements_of_top(ctx)
    return Cost(maccs=out, comparisons=out)


layer_model("PReLU", buffers=_prelu_buffers, compute=_prelu_cost)
