"""Convolution, Deconvolution and Pooling: sliding-window layers over N spatial axes."""
from __future__ import annotations

import math
import struct

from blobcalc import caffe_pb2
from blobcalc.shapes.geometry import Window, conv_output_size, conv_window, deconv_output_size
from blobcalc.shapes.model import (
    BACKWARD,
    FORWARD,
    INT_BYTES,
    SETUP,
    Buffer,
    Cost,
    RunContext,
    count,
    matrix_backward,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    RuleCheckFailed,
    Shape,
    as_int32,
    canonical_axis,
    check,
    layer_model,
    shape_rule,
)

_CONV_COUNTS = BlobCounts(min_bottoms=1, min_tops=1, equal_bottom_top=True)


def _conv_like(ctx: LayerContext, reverse: bool) -> LayerShapes:
    """base_conv_layer.cpp LayerSetUp/Reshape; `reverse` is Deconvolution's reverse_dimensions()."""
    param = ctx.layer.convolution_param
    bottom = ctx.bottom
    channel_axis = canonical_axis(param.axis, len(bottom))
    num_spatial = len(bottom) - channel_axis - 1
    window = conv_window(param, num_spatial)
    channels = bottom[channel_axis]
    # int members in base_conv_layer.cpp: a uint32 above INT_MAX is negative to the CHECKs.
    num_output = as_int32(param.num_output)
    group = as_int32(param.group)
    check(num_output > 0, "num_output must be greater than 0 (CHECK_GT(num_output_, 0))")
    check(group > 0, "group must be greater than 0")
    if channels % group:
        raise RuleCheckFailed(f"{channels} input channels are not a multiple of group {group} "
                              "(CHECK_EQ(channels_ % group_, 0))")
    check(num_output % group == 0, "Number of output should be multiples of group.")
    for other in ctx.bottom_shapes[1:]:
        check(other == bottom, "All inputs must have the same shape.")
    out_channels, in_channels = (channels, num_output) if reverse else (num_output, channels)
    weight: Shape = (out_channels, in_channels // group, *window.kernel)
    params = (weight, (num_output,)) if param.bias_term else (weight,)
    size_of = deconv_output_size if reverse else conv_output_size
    spatial = tuple(
        size_of(bottom[channel_axis + 1 + i], window.kernel[i], window.stride[i], window.pad[i],
                window.dilation[i])
        for i in range(num_spatial))
    top: Shape = (*bottom[:channel_axis], num_output, *spatial)
    return LayerShapes((top,) * len(ctx.bottom_shapes), params)


@shape_rule("Convolution", counts=_CONV_COUNTS)
def convolution(ctx: LayerContext) -> LayerShapes:
    return _conv_like(ctx, reverse=False)


@shape_rule("Deconvolution", counts=_CONV_COUNTS)
def deconvolution(ctx: LayerContext) -> LayerShapes:
    return _conv_like(ctx, reverse=True)


def _float32(value: float) -> float:
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def pooled_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool, clip: bool) -> int:
    """pooling_layer.cpp Reshape: ceil (CEIL, the default) or floor of a float division, plus one,
    then one less when the last window would start inside the padding (the pad clip, which Caffe
    applies to both axes as soon as either has padding: `clip`)."""
    # Caffe divides in float: static_cast<float>(size + 2 * pad - kernel) / stride.
    quotient = _float32(_float32(size + 2 * pad - kernel) / _float32(stride))
    pooled = (math.ceil(quotient) if ceil_mode else math.floor(quotient)) + 1
    if clip:
        if (pooled - 1) * stride >= size + pad:
            pooled -= 1
        check((pooled - 1) * stride < size + pad,
              "the last pooling window starts in the padding (CHECK_LT((pooled - 1) * stride, size + pad))")
    return pooled


def pooling_window(param: caffe_pb2.PoolingParameter, bottom: Shape) -> Window:
    """pooling_layer.cpp LayerSetUp: kernel_size OR kernel_h/w, pad OR pad_h/w, stride OR stride_h/w."""
    has = param.HasField
    if param.global_pooling:
        check(not (has("kernel_size") or has("kernel_h") or has("kernel_w")),
              "With Global_pooling: true Filter size cannot specified")
    else:
        check((not has("kernel_size")) != (not (has("kernel_h") and has("kernel_w"))),
              "Filter size is kernel_size OR kernel_h and kernel_w; not both")
        check(has("kernel_size") or (has("kernel_h") and has("kernel_w")),
              "For non-square filters both kernel_h and kernel_w are required.")
    check((not has("pad") and has("pad_h") and has("pad_w")) or (not has("pad_h") and not has("pad_w")),
          "pad is pad OR pad_h and pad_w are required.")
    check((not has("stride") and has("stride_h") and has("stride_w"))
          or (not has("stride_h") and not has("stride_w")),
          "Stride is stride OR stride_h and stride_w are required.")
    if param.global_pooling:
        kernel = (bottom[2], bottom[3])
    elif has("kernel_size"):
        kernel = (as_int32(param.kernel_size),) * 2
    else:
        kernel = (as_int32(param.kernel_h), as_int32(param.kernel_w))
    check(kernel[0] > 0, "Filter dimensions cannot be zero.")
    check(kernel[1] > 0, "Filter dimensions cannot be zero.")
    # pooling_layer.cpp keeps them in int members (kernel_h_, pad_h_, stride_h_, ...).
    pad = tuple(map(as_int32, (param.pad, param.pad) if not has("pad_h") else (param.pad_h, param.pad_w)))
    stride = tuple(map(as_int32, (param.stride, param.stride) if not has("stride_h")
                       else (param.stride_h, param.stride_w)))
    if param.global_pooling:
        check(pad == (0, 0) and stride == (1, 1), "With Global_pooling: true; only pad = 0 and stride = 1")
    if pad != (0, 0):
        check(param.pool in (caffe_pb2.PoolingParameter.AVE, caffe_pb2.PoolingParameter.MAX),
              "Padding implemented only for average and max pooling.")
        check(pad[0] < kernel[0] and pad[1] < kernel[1],
              f"pad {pad} must be smaller than the kernel {kernel} (CHECK_LT(pad, kernel))")
    check(stride[0] > 0 and stride[1] > 0, "stride must be greater than 0 (Caffe would divide by zero)")
    return Window(kernel, stride, pad, (1, 1))


def _rounds_up(param: caffe_pb2.PoolingParameter) -> bool:
    """BVLC's round_mode (CEIL unless FLOOR), or, when a net sets it, the SSD-era forks' ceil_mode
    (pooling_layer.cpp of brocolli-caffe: the same formula with ceil or floor). No Caffe knows both
    fields, so a net setting both is refused."""
    if param.HasField("ceil_mode"):
        check(not param.HasField("round_mode"),
              "pooling_param sets both round_mode (BVLC Caffe) and ceil_mode (SSD-era forks); "
              "no Caffe reads both, so the rounding is ambiguous: keep one")
        return bool(param.ceil_mode)
    return bool(param.round_mode == caffe_pb2.PoolingParameter.CEIL)


@shape_rule("Pooling", counts=BlobCounts(exact_bottoms=1, min_tops=1, max_tops=2))
def pooling(ctx: LayerContext) -> LayerShapes:
    param = ctx.layer.pooling_param
    is_max = param.pool == caffe_pb2.PoolingParameter.MAX
    # MaxTopBlobs is 2 only for MAX pooling (the second top is the argmax mask).
    check(is_max or ctx.num_tops == 1, "Pooling Layer produces at most 1 top blob(s) as output.")
    bottom = ctx.bottom
    check(len(bottom) == 4, "Input must have 4 axes, corresponding to (num, channels, height, width)")
    window = pooling_window(param, bottom)
    ceil_mode = _rounds_up(param)
    clip = any(window.pad)
    spatial = tuple(pooled_size(bottom[2 + i], window.kernel[i], window.stride[i], window.pad[i], ceil_mode,
                                clip) for i in range(2))
    top: Shape = (bottom[0], bottom[1], *spatial)
    return LayerShapes((top,) * ctx.num_tops)


# --- The model of Convolution, Deconvolution and Pooling beyond their shapes ---------------------

CUDNN_WORKSPACE_LIMIT_BYTES = 8 * 1024 * 1024  # cudnn_conv_layer.cpp workspace_limit_bytes
CUDNN_STREAMS_PER_GROUP = 3  # cudnn_conv_layer.cpp


def conv_geometry_buffers(num_spatial: int) -> tuple[Buffer, ...]:
    """base_conv_layer.cpp LayerSetUp fills kernel_shape_, stride_, pad_, dilation_ (Blob<int> of one
    value per spatial axis) and Reshape fills conv_input_shape_ (channels + spatial axes)."""
    return (Buffer("kernel_shape_, stride_, pad_, dilation_ (int)", 4 * num_spatial, SETUP, INT_BYTES),
            Buffer("conv_input_shape_ (int)", num_spatial + 1, SETUP, INT_BYTES))


def conv_buffers(ctx: RunContext, reverse: bool) -> tuple[Buffer, ...]:
    """base_conv_layer.cpp/.cu and conv_layer / deconv_layer: geometry ints and bias_multiplier_ at
    Reshape; col_buffer_ (one image of im2col columns) when a gemm first touches it. Convolution's
    Forward skips it for 1x1 kernels (is_1x1_: kernel 1, stride 1, pad 0), but backward_*_gemm (the
    bottom gradient) touches it before testing is_1x1_; Deconvolution's Forward *is* backward_*_gemm.
    cuDNN (cudnn_conv_layer.cpp) never touches col_buffer_: its workspace is a cudaMalloc, not a
    SyncedMemory, bounded by 8 MiB per algorithm (workspace_limit_bytes) and reported apart."""
    param = ctx.layer.convolution_param
    weight = ctx.param_shapes[0]
    kernel = weight[2:]
    num_spatial = len(kernel)
    channel_axis = len(ctx.top) - num_spatial - 1
    buffers = list(conv_geometry_buffers(num_spatial))
    if param.bias_term:
        buffers.append(Buffer("bias_multiplier_", count(ctx.top, channel_axis + 1), SETUP))
    # layer_factory.cpp: a DEFAULT engine becomes cuDNN unless a dilation exceeds 1.
    dilated = any(d > 1 for d in param.dilation)
    if ctx.uses_cudnn(param.engine) and not (dilated and not param.engine):
        # cudnn_conv_layer.cpp / cudnn_deconv_layer.cpp Reshape: per bottom, the forward, backward-filter
        # and backward-data algorithms are chosen under workspace_limit_bytes (8 MiB); the largest of the
        # three is cudaMalloc'd once per group and CUDNN_STREAMS_PER_GROUP (3) stream.
        bound = CUDNN_WORKSPACE_LIMIT_BYTES * param.group * CUDNN_STREAMS_PER_GROUP
        buffers.append(Buffer("cuDNN workspace (cudaMalloc; at most 8 MiB x group x 3 streams)", bound, SETUP, 1,
                              bound_only=True))
        return tuple(buffers)
    window = conv_window(param, num_spatial)
    one_by_one = all(k == 1 for k in window.kernel) and all(s == 1 for s in window.stride) and not any(window.pad)
    # col_buffer_ [kernel_dim * group, spatial of the convolution's output side].
    spatial = count(ctx.bottom if reverse else ctx.top, channel_axis + 1)
    col_buffer = weight[1] * count(kernel) * param.group * spatial
    if reverse or not one_by_one:
        buffers.append(Buffer("col_buffer_ (im2col, one image)", col_buffer, FORWARD))
    elif ctx.backward and any(ctx.propagate_down):
        buffers.append(Buffer("col_buffer_ (touched by backward_gemm even for 1x1)", col_buffer, BACKWARD))
    return tuple(buffers)


def conv_touches(ctx: RunContext) -> tuple[bool, ...]:
    """conv_layer.cpp/.cu and deconv_layer Backward: `bottom[i]->mutable_*_diff()` is taken whenever the
    weights are learned or the bottom propagates, whatever propagate_down says for it."""
    touched = ctx.backward and (bool(ctx.param_learned and ctx.param_learned[0]) or any(ctx.propagate_down))
    return (touched,) * len(ctx.bottom_shapes)


def conv_cost(ctx: RunContext, reverse: bool) -> Cost:
    """One MACC per weight per output (Convolution) or per input (Deconvolution) element, per
    bottom/top pair; group- and dilation-aware through the weight's shape [out, in / group, kernel...];
    one addition per output for the bias."""
    per_element = count(ctx.param_shapes[0], 1)
    maccs = (count(ctx.bottom) if reverse else count(ctx.top)) * per_element * len(ctx.top_shapes)
    additions = count(ctx.top) * len(ctx.top_shapes) if len(ctx.param_shapes) > 1 else 0
    return Cost(maccs=maccs, additions=additions, backward_maccs=matrix_backward(maccs, ctx))


def _convolution_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    return conv_buffers(ctx, reverse=False)


def _deconvolution_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    return conv_buffers(ctx, reverse=True)


def _convolution_cost(ctx: RunContext) -> Cost:
    return conv_cost(ctx, reverse=False)


def _deconvolution_cost(ctx: RunContext) -> Cost:
    return conv_cost(ctx, reverse=True)


layer_model("Convolution", buffers=_convolution_buffers, compute=_convolution_cost, touches=conv_touches)
layer_model("Deconvolution", buffers=_deconvolution_buffers, compute=_deconvolution_cost, touches=conv_touches)


def _pooling_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """pooling_layer.cpp/.cu: MAX with one top keeps argmax indices in max_idx_ (int); STOCHASTIC in
    TRAIN keeps sampled indices in rand_idx_. cuDNN pooling (cudnn_pooling_layer) keeps nothing."""
    param = ctx.layer.pooling_param
    # layer_factory.cpp GetPoolingLayer: cuDNN only for one top and not MAX (Caffe's own MAX pooling
    # keeps its index tracking).
    if (ctx.uses_cudnn(param.engine) and len(ctx.top_shapes) == 1
            and param.pool != caffe_pb2.PoolingParameter.MAX):
        return ()
    if param.pool == caffe_pb2.PoolingParameter.MAX and len(ctx.top_shapes) == 1:
        return (Buffer("max_idx_ (argmax indices)", count(ctx.top), FORWARD, INT_BYTES),)
    if param.pool == caffe_pb2.PoolingParameter.STOCHASTIC and ctx.phase == caffe_pb2.TRAIN:
        return (Buffer("rand_idx_ (sampled indices)", count(ctx.top), FORWARD),)
    return ()


def _pooling_cost(ctx: RunContext) -> Cost:
    """MAX: one comparison per window element per output; AVE/STOCHASTIC: additions and a division."""
    param = ctx.layer.pooling_param
    window = count(pooling_window(param, ctx.bottom).kernel)
    out = count(ctx.top)
    if param.pool == caffe_pb2.PoolingParameter.MAX:
        return Cost(comparisons=out * window)
    return Cost(additions=out * window, divisions=out)


layer_model("Pooling", buffers=_pooling_buffers, compute=_pooling_cost)
