"""Mobile-network forks: depthwise convolutions (DepthwiseConvolution, ConvolutionDepthwise),
ShuffleNet's ShuffleChannel and ReLU6."""
from __future__ import annotations

from blobcalc.shapes.misc import as_int32, check_op, legacy_dim
from blobcalc.shapes.model import (
    BACKWARD,
    FORWARD,
    SETUP,
    Buffer,
    Cost,
    RunContext,
    comparison_per_element,
    count,
    no_compute,
)
from blobcalc.shapes.neuron import NEURON_COUNTS
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, Shape, check, layer_model, shape_rule
from blobcalc.shapes.vision import conv_buffers, conv_cost, conv_touches, convolution

DEPTHWISE = "DepthwiseConvolution fork (yonghenglh6/DepthwiseConvolution)"
CONV_DW = "ConvolutionDepthwise fork (farmingyard/caffe-mobilenet)"
SHUFFLENET = "ShuffleNet fork (farmingyard/ShuffleNet)"
MOBILENET_YOLO = "MobileNet-YOLO fork (eric612/MobileNet-YOLO)"

_UINT32 = 2**32


@shape_rule("DepthwiseConvolution", counts=BlobCounts(min_bottoms=1, min_tops=1, equal_bottom_top=True),
            origin=DEPTHWISE)
def depthwise_convolution(ctx: LayerContext) -> LayerShapes:
    """depthwise_conv_layer.cpp derives from BaseConvolutionLayer and computes the output size as
    ConvolutionLayer does: shapes, weights and checks are Convolution's with the net's own group
    (num_output = group = channels in the nets that use it)."""
    return convolution(ctx)


def _pair(values: list[int], name: str) -> tuple[int, int]:
    """ConvolutionDepthwise reads value(0) for both axes when one value is given, else value(0)
    and value(1); with none given it reads past the end of the field."""
    check(len(values) > 0, f"ConvolutionDepthwise reads {name}(0) unconditionally; give {name} (or "
                           f"{name}_h and {name}_w): without it the fork reads past the field's end")
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _unsigned_size(size: int, pad: int, kernel: int, dilation: int, stride: int) -> int:
    """(size + 2 * pad - extent) / stride + 1 with the fork's unsigned int members: a negative
    numerator wraps around before the division; the result is stored back into an int."""
    extent = (dilation * (kernel - 1) + 1) % _UINT32
    numerator = (size + 2 * pad - extent) % _UINT32
    return as_int32(numerator // stride + 1)


@shape_rule("ConvolutionDepthwise", counts=BlobCounts(exact_bottoms=1, exact_tops=1), origin=CONV_DW)
def convolution_depthwise(ctx: LayerContext) -> LayerShapes:
    """conv_dw_layer.cpp: one filter per input channel whatever num_output and group say: top
    [N, C, H', W'], weights [C, 1, kh, kw], bias [C]."""
    param = ctx.layer.convolution_param
    has = param.HasField
    kernel = ((param.kernel_h, param.kernel_w) if has("kernel_h") and has("kernel_w")
              else _pair(list(param.kernel_size), "kernel_size"))
    stride = ((param.stride_h, param.stride_w) if has("stride_h") and has("stride_w")
              else _pair(list(param.stride), "stride"))
    pad = (param.pad_h, param.pad_w) if has("pad_h") and has("pad_w") else _pair(list(param.pad), "pad")
    dilation = _pair(list(param.dilation), "dilation") if len(param.dilation) else (1, 1)
    check(stride[0] > 0 and stride[1] > 0, "stride must be greater than 0 (the fork divides by it)")
    bottom = ctx.bottom
    channels = legacy_dim(bottom, 1)
    spatial = tuple(_unsigned_size(legacy_dim(bottom, 2 + i), pad[i], kernel[i], dilation[i], stride[i])
                    for i in range(2))
    weight: Shape = (channels, 1, *kernel)
    params = (weight, (channels,)) if param.bias_term else (weight,)
    return LayerShapes(((legacy_dim(bottom, 0), channels, *spatial),), params)


@shape_rule("ShuffleChannel", counts=BlobCounts(min_bottoms=1, min_tops=1), origin=SHUFFLENET)
def shuffle_channel(ctx: LayerContext) -> LayerShapes:
    """shuffle_channel_layer.cpp: the top is shaped like bottom[0] in LayerSetUp (the layer
    declares no blob counts; the channels % group check only runs in Forward)."""
    group = as_int32(ctx.layer.shuffle_channel_param.group)
    check_op(group, ">", 0, "group_ > 0", "group must be greater than 0")
    check(ctx.num_tops == 1, "ShuffleChannel shapes only top[0]; Caffe leaves further tops unshaped "
                             "(blobcalc cannot represent an unshaped blob)")
    return LayerShapes((ctx.bottom,))


@shape_rule("ReLU6", counts=NEURON_COUNTS, origin=MOBILENET_YOLO)
def relu6(ctx: LayerContext) -> LayerShapes:
    """relu6_layer.cpp: an element-wise NeuronLayer (relu6_param.negative_slope only changes values)."""
    return LayerShapes((ctx.bottom,))


# --- The model of these fork layers beyond their shapes ------------------------------------------

def _depthwise_convolution_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """depthwise_conv_layer (DepthwiseConvolution fork): a ConvolutionLayer whose CPU path is
    Caffe's (im2col into col_buffer_) and whose GPU kernels convolve directly (no col_buffer_)."""
    buffers = conv_buffers(ctx, reverse=False)
    if ctx.device == "gpu":
        return tuple(b for b in buffers if not b.name.startswith("col_buffer_"))
    return buffers


def _depthwise_cost(ctx: RunContext) -> Cost:
    return conv_cost(ctx, reverse=False)


layer_model("DepthwiseConvolution", buffers=_depthwise_convolution_buffers, compute=_depthwise_cost,
            touches=conv_touches)


def _convolution_depthwise_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """conv_dw_layer.cpp/.cu (ConvolutionDepthwise fork): Reshape fills weight_multiplier_ and
    bias_multiplier_ [N, top H, top W] with ones; the GPU Backward gathers the weight gradient in
    weight_buffer_ [C, kernel, N, top H, top W] and the bias gradient in bias_buffer_ [C, N, top H, top W]."""
    top = ctx.top
    per_channel = top[0] * count(top, 2)
    buffers = [Buffer("weight_multiplier_", per_channel, SETUP)]
    if len(ctx.param_shapes) > 1:
        buffers.append(Buffer("bias_multiplier_", per_channel, SETUP))
    if ctx.device == "gpu" and ctx.backward:
        learned = ctx.param_learned
        if learned and learned[0]:
            buffers.append(Buffer("weight_buffer_", top[1] * count(ctx.param_shapes[0], 2) * per_channel, BACKWARD))
        if len(learned) > 1 and learned[1]:
            buffers.append(Buffer("bias_buffer_", top[1] * per_channel, BACKWARD))
    return tuple(buffers)


layer_model("ConvolutionDepthwise", buffers=_convolution_depthwise_buffers, compute=_depthwise_cost)


def _shuffle_channel_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """shuffle_channel_layer.cpp: in place, Forward shuffles through temp_blob_ (like the bottom)."""
    if ctx.in_place:
        return (Buffer("temp_blob_", count(ctx.bottom), FORWARD),)
    return ()


layer_model("ShuffleChannel", buffers=_shuffle_channel_buffers, compute=no_compute)


def _relu6_cost(ctx: RunContext) -> Cost:
    return Cost(comparisons=2 * comparison_per_element(ctx).comparisons)


def _relu6_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """relu6_layer.cpp: element-wise, nothing beside the top."""
    return ()


layer_model("ReLU6", buffers=_relu6_buffers, compute=_relu6_cost)
