"""Assorted BVLC layers (Embed, SPP, Im2col, Tile, Reduction, ArgMax, BatchReindex, Filter, MVN,
Parameter) and the Blob-accessor helpers that the data, loss and recurrent rules share."""
from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

from blobcalc import caffe_pb2
from blobcalc.shapes.geometry import conv_output_size, conv_window
from blobcalc.shapes.model import (
    BACKWARD,
    FORWARD,
    INT_BYTES,
    SETUP,
    Buffer,
    Cost,
    RunContext,
    addition_per_element,
    elements_of_bottom,
    no_buffers,
    no_compute,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    RuleCheckFailed,
    Shape,
    canonical_axis,
    check,
    count,
    layer_model,
    shape_rule,
)
from blobcalc.shapes.registry import (
    as_int32 as as_int32,  # re-exported: the shape modules take it from here
)

# ---------------------------------------------------------------------------------------------
# Blob accessors, as blob.hpp / blob.cpp define them.

_MAX_BLOB_AXES = 32  # blob.hpp kMaxBlobAxes
_INT_MAX = 2**31 - 1

_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def check_op(lhs: int, op: str, rhs: int, expression: str, message: str = "") -> None:
    """Caffe's CHECK_EQ/NE/LT/LE/GT/GE: fails with the message (or the checked expression) and
    both values, as glog prints them ('... (3 vs. 1)')."""
    if not _COMPARISONS[op](lhs, rhs):
        raise RuleCheckFailed(f"{message or expression} ({lhs} vs. {rhs})")


def shape_string(shape: Shape) -> str:
    """Blob::shape_string: '2 3 4 5 (120)'."""
    return "".join(f"{dim} " for dim in shape) + f"({count(shape)})"


def axis_dim(shape: Shape, axis: int) -> int:
    """Blob::shape(index): the index goes through CanonicalAxisIndex, so it must exist."""
    return shape[canonical_axis(axis, len(shape))]


def legacy_dim(shape: Shape, index: int) -> int:
    """Blob::LegacyShape behind num()/channels()/height()/width(): at most 4 axes; a missing
    axis reads as 1."""
    check(len(shape) <= 4, "Cannot use legacy accessors on Blobs with > 4 axes.")
    if index >= len(shape) or index < -len(shape):
        return 1
    return shape[index]


def blob_shape(dims: Sequence[int]) -> Shape:
    """Blob::Reshape(vector<int>) on dims taken from the prototxt: each dim becomes an int, must
    be >= 0, there are at most 32 axes, and the count must fit in an int."""
    check_op(len(dims), "<=", _MAX_BLOB_AXES, "shape.size() <= kMaxBlobAxes")
    shape = tuple(as_int32(dim) for dim in dims)
    total = 1
    for dim in shape:
        check_op(dim, ">=", 0, "shape[i] >= 0")
        if total != 0:
            check(dim <= _INT_MAX // total, "blob size exceeds INT_MAX")
        total *= dim
    return shape


# ---------------------------------------------------------------------------------------------
# Rules.

ONE_TO_ONE = BlobCounts(exact_bottoms=1, exact_tops=1)


@shape_rule("Embed", counts=ONE_TO_ONE)
def embed(ctx: LayerContext) -> LayerShapes:
    """embed_layer.cpp: top = bottom shape + [num_output]; weights [input_dim, num_output]
    (transposed from InnerProduct), bias [num_output]."""
    param = ctx.layer.embed_param
    num_output = as_int32(param.num_output)
    input_dim = as_int32(param.input_dim)
    check_op(num_output, ">", 0, "N_ > 0", "EmbedLayer num_output must be positive.")
    check_op(input_dim, ">", 0, "K_ > 0", "EmbedLayer input_dim must be positive.")
    weights: tuple[Shape, ...] = ((input_dim, num_output),)
    if param.bias_term:
        weights += ((num_output,),)
    return LayerShapes(((*ctx.bottom, num_output),), weights)


def _spp_level(level: int, height: int, width: int, pool: int) -> tuple[int, int]:
    """The PoolingLayer that SPPLayer::GetPoolingParam sets up for one pyramid level: `2^level`
    bins per side, kernel = stride = ceil(size / bins), pad = (kernel * bins - size + 1) / 2;
    then pooling_layer.cpp's checks and its (CEIL) output size."""
    bins = 2**level
    pooled: list[int] = []
    for size, axis in ((height, "h"), (width, "w")):
        kernel = -(-size // bins)
        pad = (kernel * bins - size + 1) // 2
        if pad != 0:
            check(pool in (caffe_pb2.SPPParameter.MAX, caffe_pb2.SPPParameter.AVE),
                  "Padding implemented only for average and max pooling.")
            check_op(pad, "<", kernel, f"pad_{axis}_ < kernel_{axis}_")
        out = -(-(size + 2 * pad - kernel) // kernel) + 1
        if pad != 0:
            if (out - 1) * kernel >= size + pad:
                out -= 1
            check_op((out - 1) * kernel, "<", size + pad,
                     f"(pooled_{axis}_ - 1) * stride_{axis}_ < {axis}_ + pad_{axis}_")
        pooled.append(out)
    return pooled[0], pooled[1]


@shape_rule("SPP", counts=ONE_TO_ONE)
def spp(ctx: LayerContext) -> LayerShapes:
    """spp_layer.cpp: one pooling per pyramid level; with pyramid_height 1 the single pooling's
    4-D output is the top, otherwise each level is flattened and all are concatenated:
    [num, channels * sum of the levels' pooled h * w]."""
    bottom = ctx.bottom
    num, channels, height, width = (legacy_dim(bottom, i) for i in range(4))
    check(height > 0, "Input dimensions cannot be zero.")
    check(width > 0, "Input dimensions cannot be zero.")
    param = ctx.layer.spp_param
    pyramid_height = as_int32(param.pyramid_height)
    # With no levels SPPLayer sets up its internal Split layer with no tops.
    check(pyramid_height >= 1, "Split Layer produces at least 1 top blob(s) as output. "
          "(spp_param.pyramid_height must be at least 1)")
    check(len(bottom) == 4, "Input must have 4 axes, corresponding to (num, channels, height, width)")
    if pyramid_height == 1:
        pooled_h, pooled_w = _spp_level(0, height, width, param.pool)
        return LayerShapes(((num, channels, pooled_h, pooled_w),))
    features = 0
    for level in range(pyramid_height):
        pooled_h, pooled_w = _spp_level(level, height, width, param.pool)
        features += channels * pooled_h * pooled_w
    return LayerShapes(((num, features),))


@shape_rule("Im2col", counts=ONE_TO_ONE)
def im2col(ctx: LayerContext) -> LayerShapes:
    """im2col_layer.cpp: channels multiplied by the kernel volume, each spatial axis becomes the
    convolution's output size (kernel/stride/pad/dilation resolved as BaseConvolutionLayer does)."""
    param = ctx.layer.convolution_param
    bottom = ctx.bottom
    channel_axis = canonical_axis(param.axis, len(bottom))
    num_spatial_axes = len(bottom) - channel_axis - 1
    check_op(num_spatial_axes, ">=", 1, "num_spatial_axes_ >= 1")
    window = conv_window(param, num_spatial_axes)
    top = list(bottom)
    for i in range(num_spatial_axes):
        top[channel_axis] *= window.kernel[i]
        spatial_axis = channel_axis + 1 + i
        top[spatial_axis] = conv_output_size(bottom[spatial_axis], window.kernel[i],
                                             window.stride[i], window.pad[i], window.dilation[i])
    return LayerShapes((tuple(top),))


@shape_rule("Tile", counts=ONE_TO_ONE)
def tile(ctx: LayerContext) -> LayerShapes:
    """tile_layer.cpp: the `axis` dimension multiplied by `tiles`."""
    param = ctx.layer.tile_param
    axis = canonical_axis(param.axis, len(ctx.bottom))
    check(param.HasField("tiles"), "Number of tiles must be specified")
    check_op(param.tiles, ">", 0, "tiles_ > 0", "Number of tiles must be positive.")
    top = list(ctx.bottom)
    top[axis] *= param.tiles
    return LayerShapes((tuple(top),))


@shape_rule("Reduction", counts=ONE_TO_ONE)
def reduction(ctx: LayerContext) -> LayerShapes:
    """reduction_layer.cpp: keeps the axes before `axis` (axis 0, the default, gives a scalar)."""
    axis = canonical_axis(ctx.layer.reduction_param.axis, len(ctx.bottom))
    return LayerShapes((ctx.bottom[:axis],))


@shape_rule("ArgMax", counts=ONE_TO_ONE)
def argmax(ctx: LayerContext) -> LayerShapes:
    """argmax_layer.cpp: with `axis`, that axis becomes top_k; without, at least 3 axes of 1 with
    [0] = num, [1] = 2 if out_max_val, [2] = top_k."""
    param = ctx.layer.argmax_param
    bottom = ctx.bottom
    top_k = param.top_k
    check_op(top_k, ">=", 1, "top_k_ >= 1", "top k must not be less than 1.")
    if param.HasField("axis"):
        axis = canonical_axis(param.axis, len(bottom))
        check_op(top_k, "<=", bottom[axis], "top_k_ <= bottom[0]->shape(axis_)",
                 "top_k must be less than or equal to the dimension of the axis.")
        top = list(bottom)
        top[axis] = top_k
        return LayerShapes((tuple(top),))
    check_op(top_k, "<=", count(bottom, 1), "top_k_ <= bottom[0]->count(1)",
             "top_k must be less than or equal to the dimension of the flattened bottom blob "
             "per instance.")
    top = [1] * max(len(bottom), 3)
    top[0] = axis_dim(bottom, 0)
    top[2] = top_k
    if param.out_max_val:
        top[1] = 2
    return LayerShapes((tuple(top),))


@shape_rule("BatchReindex", counts=BlobCounts(exact_bottoms=2, exact_tops=1))
def batch_reindex(ctx: LayerContext) -> LayerShapes:
    """batch_reindex_layer.cpp: first axis = length of the 1-D index blob bottom[1], the rest as
    bottom[0]. Only bottom[1]'s shape matters; its values (the indices) do not change shapes."""
    data, indices = ctx.bottom_shapes
    check_op(1, "==", len(indices), "1 == bottom[1]->num_axes()")
    return LayerShapes(((indices[0], *data[1:]),))


@shape_rule("Filter", counts=BlobCounts(min_bottoms=2, min_tops=1))
def filter_layer(ctx: LayerContext) -> LayerShapes:
    """filter_layer.cpp: bottoms 0..k-1 are filtered by the selector (the last bottom); top t
    is bottom t with its first axis replaced by the number of selected items.

    That number depends on the selector's values, which exist only at run time. But Caffe's
    Reshape has a `first_reshape_` flag: the first Reshape, the one done while the net is being
    built, uses bottom[0]'s first dimension instead of counting non-zero selector values. So
    the shape Caffe reports for a built net is exactly bottom[t] with num = bottom[0].shape(0),
    and that is what we return (no ShapeUnknown), with a note that it shrinks at run time."""
    check_op(ctx.num_tops, "==", len(ctx.bottom_shapes) - 1, "top.size() == bottom.size() - 1")
    selector = ctx.bottom_shapes[-1]
    for dim in selector[1:]:
        check_op(dim, "==", 1, "bottom[selector_index]->shape(i) == 1",
                 "Selector blob dimensions must be singletons (1), except the first")
    selected = axis_dim(selector, 0)
    for bottom in ctx.bottom_shapes[:-1]:
        check_op(selected, "==", axis_dim(bottom, 0),
                 "bottom[selector_index]->shape(0) == bottom[i]->shape(0)",
                 "Each bottom should have the same 0th dimension as the selector blob")
    first = ctx.bottom_shapes[0][0]
    tops = tuple((first, *bottom[1:]) for bottom in ctx.bottom_shapes[:ctx.num_tops])
    return LayerShapes(tops, notes=(
        "first axis as Caffe sets it when it builds the net (bottom[0]'s); at run time it is "
        "the number of non-zero selector values",))


@shape_rule("MVN", counts=ONE_TO_ONE)
def mvn(ctx: LayerContext) -> LayerShapes:
    """mvn_layer.cpp: the top is reshaped through the legacy accessors, so it is always 4-D
    [num, channels, height, width] (missing axes read as 1; more than 4 axes fail)."""
    return LayerShapes((tuple(legacy_dim(ctx.bottom, i) for i in range(4)),))


@shape_rule("Parameter", counts=BlobCounts(exact_bottoms=0, exact_tops=1))
def parameter(ctx: LayerContext) -> LayerShapes:
    """parameter_layer.hpp: one learnable blob of parameter_param.shape, exposed as the top."""
    shape = blob_shape(list(ctx.layer.parameter_param.shape.dim))
    return LayerShapes((shape,), (shape,))


# --- The model of these layers beyond their shapes -------------------------------------------------
# argmax_layer.cpp sorts in std::vectors; batch_reindex, filter, tile, im2col and parameter layers
# write their tops directly.
layer_model("BatchReindex", "Filter", "Tile", "Im2col", "Parameter", buffers=no_buffers, compute=no_compute)


def _argmax_cost(ctx: RunContext) -> Cost:
    return Cost(comparisons=elements_of_bottom(ctx))


layer_model("ArgMax", buffers=no_buffers, compute=_argmax_cost)


def _embed_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """embed_layer.cpp Reshape fills bias_multiplier_ [M] (the indices) with ones."""
    if not ctx.layer.embed_param.bias_term:
        return ()
    return (Buffer("bias_multiplier_", elements_of_bottom(ctx), SETUP),)


def _embed_cost(ctx: RunContext) -> Cost:
    """A table lookup: no multiply-accumulates; one addition per output for the bias."""
    return Cost(additions=count(ctx.top) if len(ctx.param_shapes) > 1 else 0)


layer_model("Embed", buffers=_embed_buffers, compute=_embed_cost)


def _mvn_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """mvn_layer.cpp: Reshape fills sum_multiplier_ [H*W] with ones; Forward writes mean_ and (with
    normalize_variance) variance_ [N, C or 1] and temp_ (like the bottom)."""
    param = ctx.layer.mvn_param
    bottom = ctx.bottom
    per_sample = 1 if param.across_channels else (bottom[1] if len(bottom) > 1 else 1)
    rows = (bottom[0] if bottom else 1) * per_sample
    buffers = [Buffer("sum_multiplier_", count(bottom, 2), SETUP), Buffer("mean_", rows),
               Buffer("temp_", count(bottom))]
    if param.normalize_variance:
        buffers.append(Buffer("variance_", rows))
    return tuple(buffers)


def _mvn_cost(ctx: RunContext) -> Cost:
    n = elements_of_bottom(ctx)
    normalize = ctx.layer.mvn_param.normalize_variance
    return Cost(maccs=n if normalize else 0, additions=2 * n, divisions=n if normalize else 0)


layer_model("MVN", buffers=_mvn_buffers, compute=_mvn_cost)


def _reduction_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """reduction_layer.cpp Reshape fills sum_multiplier_ [count from axis] with ones (SUM and MEAN)."""
    param = ctx.layer.reduction_param
    if param.operation not in (caffe_pb2.ReductionParameter.SUM, caffe_pb2.ReductionParameter.MEAN):
        return ()
    return (Buffer("sum_multiplier_", count(ctx.bottom, canonical_axis(param.axis, len(ctx.bottom))), SETUP),)


layer_model("Reduction", buffers=_reduction_buffers, compute=addition_per_element)


def _spp_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """spp_layer.cpp: with several levels, an inner Split (tops sharing the bottom's data), one Pooling
    per level into pooling_outputs_ (MAX: with its max_idx_), Flatten (sharing) and Concat into the top;
    a propagating Backward gives the split tops and the pooled outputs diffs."""
    param = ctx.layer.spp_param
    bottom = ctx.bottom
    levels = param.pyramid_height
    pooled = [count(_spp_level(level, bottom[2], bottom[3], param.pool)) * bottom[0] * bottom[1]
              for level in range(levels)]
    is_max = param.pool == caffe_pb2.SPPParameter.MAX
    buffers: list[Buffer] = []
    if is_max:
        buffers.append(Buffer("inner Pooling max_idx_ (all levels)", sum(pooled), FORWARD, INT_BYTES))
    if levels == 1:
        return tuple(buffers)
    buffers.append(Buffer("pooling_outputs_ (all levels)", sum(pooled), FORWARD))
    if ctx.backward and any(ctx.propagate_down):
        buffers.append(Buffer("diffs of the inner split tops and pooled outputs",
                              levels * count(bottom) + sum(pooled), BACKWARD))
    return tuple(buffers)


def _spp_cost(ctx: RunContext) -> Cost:
    """Every level's pooling reads the whole bottom once."""
    n = elements_of_bottom(ctx) * ctx.layer.spp_param.pyramid_height
    if ctx.layer.spp_param.pool == caffe_pb2.SPPParameter.MAX:
        return Cost(comparisons=n)
    return Cost(additions=n, divisions=count(ctx.top))


layer_model("SPP", buffers=_spp_buffers, compute=_spp_cost)
