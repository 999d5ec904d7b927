"""C3D (facebook/C3D v1.0): 3-D convolution, pooling and deconvolution over 5-D blobs
[num, channels, length, height, width], and its video data layers. C3D predates string layer
types; the type names are those blobcalc's V1 upgrade gives its enums."""
from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from blobcalc import caffe_pb2
from blobcalc.shapes.misc import as_int32, check_op
from blobcalc.shapes.model import FORWARD, SETUP, Buffer, Cost, RunContext, no_compute
from blobcalc.shapes.model import count as blob_count
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    ShapeUnknown,
    check,
    layer_model,
    shape_rule,
    trunc_div,
)
from blobcalc.shapes.vision import conv_cost

C3D = "C3D fork (facebook/C3D)"

_ONE_TO_ONE = BlobCounts(exact_bottoms=1, exact_tops=1)  # C3D's SetUp CHECKs one bottom, one top


def _single(values: Sequence[int], name: str, default: int) -> int:
    """C3D's kernel_size, pad and stride are plain optional fields: given at most once."""
    check(len(values) <= 1, f'Non-repeated field "{name}" is specified multiple times (C3D takes one {name})')
    return values[0] if values else default


def _five_axes(shape: Shape, layer_type: str) -> Shape:
    check(len(shape) == 5, f"{layer_type} reads a 5-D blob (num, channels, length, height, width); "
                           f"the bottom has {len(shape)} axes")
    return shape


def _float32(value: float) -> float:
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


@shape_rule("Convolution3D", counts=_ONE_TO_ONE, origin=C3D)
def convolution3d(ctx: LayerContext) -> LayerShapes:
    """convolution3d_layer.cpp: out = (in + 2 * pad - kernel) / stride + 1 (C++ int division) for
    height and width, and with the temporal pad, depth and stride for length. Weights
    [num_output, channels, kernel_depth, k, k] (filter_group splits the outputs only); bias
    [1, 1, 1, 1, num_output]."""
    param = ctx.layer.convolution_param
    num, channels, length, height, width = _five_axes(ctx.bottom, "Convolution3D")
    kernel = as_int32(_single(param.kernel_size, "kernel_size", 0))
    pad = as_int32(_single(param.pad, "pad", 0))
    stride = as_int32(_single(param.stride, "stride", 1))
    num_output = as_int32(param.num_output)
    check_op(num_output, ">", 0, "num_output_ > 0")
    check_op(num_output % as_int32(param.filter_group), "==", 0, "num_output_ % filter_group_ == 0")
    check(stride > 0 and param.temporal_stride > 0, "stride and temporal_stride must be greater than 0 "
                                                    "(C3D divides by them)")
    depth, temporal_pad = as_int32(param.kernel_depth), as_int32(param.temporal_pad)
    top = (num, num_output,
           trunc_div(length + 2 * temporal_pad - depth, as_int32(param.temporal_stride)) + 1,
           trunc_div(height + 2 * pad - kernel, stride) + 1,
           trunc_div(width + 2 * pad - kernel, stride) + 1)
    weight: Shape = (num_output, channels, depth, kernel, kernel)
    params = (weight, (1, 1, 1, 1, num_output)) if param.bias_term else (weight,)
    return LayerShapes((top,), params)


@shape_rule("Deconvolution3D", counts=_ONE_TO_ONE, origin=C3D)
def deconvolution3d(ctx: LayerContext) -> LayerShapes:
    """deconvolution3d_layer.cpp: out = (in - 1) * stride - 2 * pad + kernel per axis; weights
    [channels, num_output, kernel_depth, k, k]; bias [1, 1, 1, 1, num_output]."""
    param = ctx.layer.convolution_param
    num, channels, length, height, width = _five_axes(ctx.bottom, "Deconvolution3D")
    kernel = as_int32(_single(param.kernel_size, "kernel_size", 0))
    pad = as_int32(_single(param.pad, "pad", 0))
    stride = as_int32(_single(param.stride, "stride", 1))
    num_output = as_int32(param.num_output)
    check_op(num_output, ">", 0, "num_output_ > 0")
    depth, temporal_pad = as_int32(param.kernel_depth), as_int32(param.temporal_pad)
    temporal_stride = as_int32(param.temporal_stride)
    top = (num, num_output,
           (length - 1) * temporal_stride - 2 * temporal_pad + depth,
           (height - 1) * stride - 2 * pad + kernel,
           (width - 1) * stride - 2 * pad + kernel)
    weight: Shape = (channels, num_output, depth, kernel, kernel)
    params = (weight, (1, 1, 1, 1, num_output)) if param.bias_term else (weight,)
    return LayerShapes((top,), params)


def _pooled(size: int, pad: int, kernel: int, stride: int) -> int:
    """pool3d_layer.cpp: ceil of a float division, plus one (no clip for windows in the padding)."""
    return math.ceil(_float32(_float32(size + 2 * pad - kernel) / _float32(stride))) + 1


@shape_rule("Pooling3D", counts=_ONE_TO_ONE, origin=C3D)
def pooling3d(ctx: LayerContext) -> LayerShapes:
    """pool3d_layer.cpp: spatial size ceil((in + 2 * pad - kernel) / stride) + 1, length
    ceil((length - kernel_depth) / temporal_stride) + 1 (no temporal padding)."""
    param = ctx.layer.pooling_param
    num, channels, length, height, width = _five_axes(ctx.bottom, "Pooling3D")
    if param.pad != 0:
        check(param.pool == caffe_pb2.PoolingParameter.AVE, "Padding implemented only for average pooling.")
    kernel, pad, stride = as_int32(param.kernel_size), as_int32(param.pad), as_int32(param.stride)
    depth, temporal_stride = as_int32(param.kernel_depth), as_int32(param.temporal_stride)
    check(stride > 0 and temporal_stride > 0, "stride and temporal_stride must be greater than 0 "
                                              "(C3D divides by them)")
    top = (num, channels, _pooled(length, 0, depth, temporal_stride), _pooled(height, pad, kernel, stride),
           _pooled(width, pad, kernel, stride))
    return LayerShapes((top,))


def _unknown(ctx: LayerContext, why: str, patterns: Sequence[str]) -> ShapeUnknown:
    names = list(ctx.layer.top)
    options = " ".join(f"--input-shape {name}={pattern}" for name, pattern in zip(names, patterns, strict=False))
    return ShapeUnknown(f"{why}; pass {options}")


@shape_rule("C3DVideoData", counts=BlobCounts(exact_bottoms=0, min_tops=1, max_tops=2), origin=C3D, source=True)
def video_data(ctx: LayerContext) -> LayerShapes:
    """video_data_layer.cpp (V1 VIDEO_DATA): clips [batch, channels, new_length, H, W] with H x W
    the crop, else new_height x new_width; labels [batch, 1, 1, 1, 1]. The channels come from the
    video (3 assumed)."""
    param = ctx.layer.image_data_param
    new_length = as_int32(param.new_length)
    check(new_length > 0, "new length need to be positive")
    new_height, new_width = as_int32(param.new_height), as_int32(param.new_width)
    check((new_height == 0 and new_width == 0) or (new_height > 0 and new_width > 0),
          "Current implementation requires new_height and new_width to be set at the same time.")
    batch = as_int32(param.batch_size)
    # C3D reads crop_size from image_data_param (BVLC's V1 upgrade moves it only for BVLC types).
    crop = as_int32(param.crop_size or ctx.layer.transform_param.crop_size)
    if crop > 0:
        if new_height > 0:
            check_op(new_height, ">", crop, "datum_height_ > crop_size")
            check_op(new_width, ">", crop, "datum_width_ > crop_size")
        height, width = crop, crop
    elif new_height > 0:
        height, width = new_height, new_width
    else:
        raise _unknown(ctx, f"the frame size comes from the videos listed in '{param.source}', which are "
                            "never read", [f"{batch},3,{new_length},H,W", f"{batch},1,1,1,1"])
    tops: tuple[Shape, ...] = ((batch, 3, new_length, height, width),)
    if ctx.num_tops == 2:
        tops += ((batch, 1, 1, 1, 1),)
    return LayerShapes(tops, notes=(f"3 channels assumed: the videos listed in '{param.source}' are never "
                                    "read",))


@shape_rule("C3DVideoWithVoxelTruthData", counts=BlobCounts(exact_bottoms=0, exact_tops=2), origin=C3D,
            source=True)
def video_with_voxel_truth_data(ctx: LayerContext) -> LayerShapes:
    """video_with_voxel_truth_data_layer.cpp: the clip length and channels come from the first
    volume file, never read here: data [batch, C - truth, L, crop, crop], truth [batch, truth,
    L, crop, crop]."""
    param = ctx.layer.image_data_param
    batch, truth = as_int32(param.batch_size), as_int32(param.num_truth_channels)
    crop = as_int32(param.crop_size or ctx.layer.transform_param.crop_size)
    size = f"{crop},{crop}" if crop > 0 else "H,W"
    raise _unknown(ctx, f"the clip size comes from the first volume listed in '{param.source}', which is "
                        "never read", [f"{batch},C,L,{size}", f"{batch},{truth},L,{size}"])


# --- The model of these fork layers beyond their shapes ------------------------------------------

def _conv3d_buffers(ctx: RunContext, reverse: bool) -> tuple[Buffer, ...]:
    """convolution3d_layer.cpp / deconvolution3d_layer.cpp (C3D): col_buffer_ holds one image's columns
    [channels * kernel volume, output (deconvolution: input) volume] from the first Forward;
    bias_multiplier_ [output volume] is filled at Reshape."""
    weight = ctx.param_shapes[0]
    spatial = blob_count(ctx.bottom if reverse else ctx.top, 2)
    # The weight holds every input channel (filter_group splits the outputs only).
    buffers = [Buffer("col_buffer_ (vol2col, one image)", blob_count(weight, 1) * spatial, FORWARD)]
    if len(ctx.param_shapes) > 1:
        buffers.append(Buffer("bias_multiplier_", blob_count(ctx.top, 2), SETUP))
    return tuple(buffers)


def _convolution3d_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    return _conv3d_buffers(ctx, reverse=False)


def _deconvolution3d_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    return _conv3d_buffers(ctx, reverse=True)


def _convolution3d_cost(ctx: RunContext) -> Cost:
    return conv_cost(ctx, reverse=False)


def _deconvolution3d_cost(ctx: RunContext) -> Cost:
    return conv_cost(ctx, reverse=True)


layer_model("Convolution3D", buffers=_convolution3d_buffers, compute=_convolution3d_cost)
layer_model("Deconvolution3D", buffers=_deconvolution3d_buffers, compute=_deconvolution3d_cost)


def _pooling3d_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """pool3d_layer.cpp (C3D): MAX keeps its argmax in max_idx_ (like the top), AVE nothing."""
    if ctx.layer.pooling_param.pool == caffe_pb2.PoolingParameter.MAX:
        return (Buffer("max_idx_ (argmax indices)", blob_count(ctx.top), FORWARD),)
    return ()


def _pooling3d_cost(ctx: RunContext) -> Cost:
    param = ctx.layer.pooling_param
    window = param.kernel_size * param.kernel_size * max(param.kernel_depth, 1)
    out = blob_count(ctx.top)
    if param.pool == caffe_pb2.PoolingParameter.MAX:
        return Cost(comparisons=out * window)
    return Cost(additions=out * window, divisions=out)


layer_model("Pooling3D", buffers=_pooling3d_buffers, compute=_pooling3d_cost)


def _one_prefetch_batch(ctx: RunContext) -> tuple[Buffer, ...]:
    """C3D's BasePrefetchingDataLayer (2014 Caffe) keeps one prefetch batch of every top
    (prefetch_data_, prefetch_label_) and copies it into the tops in Forward."""
    return tuple(Buffer(f"prefetch batch of top {i}", blob_count(shape), SETUP)
                 for i, shape in enumerate(ctx.top_shapes))


layer_model("C3DVideoData", "C3DVideoWithVoxelTruthData", buffers=_one_prefetch_batch, compute=no_compute)
