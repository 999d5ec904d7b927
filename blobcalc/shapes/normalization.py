"""Normalization and affine layers: BatchNorm, Scale, Bias, LRN."""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.shapes.model import (
    BACKWARD,
    FORWARD,
    SETUP,
    Buffer,
    Cost,
    RunContext,
    count,
    elements_of_top,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    canonical_axis,
    check,
    layer_model,
    shape_rule,
)


@shape_rule("BatchNorm", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
def batch_norm(ctx: LayerContext) -> LayerShapes:
    """batch_norm_layer.cpp: mean [C], variance [C] and the moving-average factor [1]."""
    bottom = ctx.bottom
    # bottom[0]->shape(1): a 0-axis bottom fails Blob::CanonicalAxisIndex's check.
    channels = 1 if len(bottom) == 1 else bottom[canonical_axis(1, len(bottom))]
    for spec in ctx.layer.param:
        check(spec.lr_mult == 0, "Cannot configure batch normalization statistics as layer parameters.")
    return LayerShapes((bottom,), ((channels,), (channels,), (1,)))


def _affine_shape(bottom: Shape, axis: int, num_axes: int, what: str) -> Shape:
    """The blob shape Scale/Bias learn when they have one bottom: bottom's axes [axis, axis+num_axes)."""
    check(num_axes >= -1, "num_axes must be non-negative, or -1 to extend to the end of bottom[0]")
    start = canonical_axis(axis, len(bottom))
    if num_axes >= 0:
        check(len(bottom) >= start + num_axes,
              f"{what} blob's shape extends past bottom[0]'s shape when applied starting with "
              f"bottom[0] axis = {start}")
        return bottom[start:start + num_axes]
    return bottom[start:]


def _check_broadcast(bottom: Shape, operand: Shape, axis: int, what: str) -> None:
    """Scale/Bias Reshape: the operand must match bottom[0] from `axis` (axis 0 for a scalar)."""
    start = 0 if not operand else canonical_axis(axis, len(bottom))
    check(len(bottom) >= start + len(operand),
          f"{what} blob's shape extends past bottom[0]'s shape when applied starting with "
          f"bottom[0] axis = {start}")
    for i, dim in enumerate(operand):
        check(bottom[start + i] == dim,
              f"dimension mismatch between bottom[0]->shape({start + i}) and {what}->shape({i})")


@shape_rule("Scale", counts=BlobCounts(min_bottoms=1, max_bottoms=2, exact_tops=1))
def scale(ctx: LayerContext) -> LayerShapes:
    """scale_layer.cpp: a learned scale (one bottom) or bottom[1] as the scale; optional bias."""
    param = ctx.layer.scale_param
    bottom = ctx.bottom
    params: list[Shape] = []
    if len(ctx.bottom_shapes) == 1:
        scale_shape = _affine_shape(bottom, param.axis, param.num_axes, "scale")
        params.append(scale_shape)
    else:
        scale_shape = ctx.bottom_shapes[1]
    if param.bias_term:
        # The internal Bias layer gets num_axes = bottom[1]'s axes when the scale is a bottom.
        bias_axes = len(ctx.bottom_shapes[1]) if len(ctx.bottom_shapes) > 1 else param.num_axes
        params.append(_affine_shape(bottom, param.axis, bias_axes, "bias"))
    _check_broadcast(bottom, scale_shape, param.axis, "scale")
    return LayerShapes((bottom,), tuple(params))


@shape_rule("Bias", counts=BlobCounts(min_bottoms=1, max_bottoms=2, exact_tops=1))
def bias(ctx: LayerContext) -> LayerShapes:
    """bias_layer.cpp: a learned bias (one bottom) or bottom[1] added with broadcasting."""
    param = ctx.layer.bias_param
    bottom = ctx.bottom
    if len(ctx.bottom_shapes) == 1:
        bias_shape = _affine_shape(bottom, param.axis, param.num_axes, "bias")
        params: tuple[Shape, ...] = (bias_shape,)
    else:
        bias_shape, params = ctx.bottom_shapes[1], ()
    _check_broadcast(bottom, bias_shape, param.axis, "bias")
    return LayerShapes((bottom,), params)


@shape_rule("LRN", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
def lrn(ctx: LayerContext) -> LayerShapes:
    """lrn_layer.cpp: odd local_size, 4-D input, same shape out."""
    check(ctx.layer.lrn_param.local_size % 2 == 1, "LRN only supports odd values for local_size")
    check(len(ctx.bottom) == 4, "Input must have 4 axes, corresponding to (num, channels, height, width)")
    return LayerShapes((ctx.bottom,))


# --- The model of BatchNorm, Scale, Bias and LRN beyond their shapes ------------------------------

def _batch_norm_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """batch_norm_layer.cpp: Reshape fills batch_sum_multiplier_ [N] and spatial_sum_multiplier_
    [H*W] with ones; Forward writes mean_, variance_ [C], temp_ and x_norm_ (like the bottom) and
    num_by_chans_ [N*C]; an in-place Backward first copies the top diff into x_norm_'s diff."""
    bottom = ctx.bottom
    num = bottom[0] if bottom else 1
    channels = bottom[1] if len(bottom) > 1 else 1
    elements = count(bottom)
    buffers = [Buffer("batch_sum_multiplier_", num, SETUP), Buffer("spatial_sum_multiplier_", count(bottom, 2), SETUP),
               Buffer("mean_", channels), Buffer("variance_", channels), Buffer("temp_", elements),
               Buffer("x_norm_", elements), Buffer("num_by_chans_", num * channels)]
    if ctx.backward and ctx.in_place:
        buffers.append(Buffer("x_norm_ diff (the top diff of an in-place Backward)", elements, BACKWARD))
    return tuple(buffers)


def _bottom_diff_when_backward(ctx: RunContext) -> tuple[bool, ...]:
    """batch_norm_layer.cpp/.cu Backward takes bottom[0]->mutable_*_diff() unconditionally."""
    return (ctx.backward,) * len(ctx.bottom_shapes)


def _batch_norm_cost(ctx: RunContext) -> Cost:
    n = elements_of_top(ctx)
    return Cost(additions=2 * n, divisions=n)


layer_model("BatchNorm", buffers=_batch_norm_buffers, compute=_batch_norm_cost, touches=_bottom_diff_when_backward)


@dataclass(frozen=True, slots=True)
class _Broadcast:
    """scale_layer.cpp / bias_layer.cpp Reshape: the bottom seen as [outer, operand, inner]."""

    outer: int
    operand: int
    inner: int


def _broadcast(bottom: Shape, operand: Shape, axis: int) -> _Broadcast:
    start = 0 if not operand else canonical_axis(axis, len(bottom))  # a scalar operand: axis 0
    return _Broadcast(count(bottom, 0, start), count(operand), count(bottom, start + len(operand)))


def _scale_operand(ctx: RunContext) -> Shape:
    return ctx.bottom_shapes[1] if len(ctx.bottom_shapes) > 1 else ctx.param_shapes[0]


def _scale_learns(ctx: RunContext) -> bool:
    """Backward computes the scale's gradient: a learned scale with lr_mult != 0, or bottom[1]."""
    if len(ctx.bottom_shapes) > 1:
        return ctx.backward and len(ctx.propagate_down) > 1 and ctx.propagate_down[1]
    return ctx.backward and bool(ctx.param_learned) and ctx.param_learned[0]


def _scale_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """scale_layer.cpp/.cu: Reshape fills sum_multiplier_ [max(outer, inner)] with ones, and the inner
    Bias layer (bias_term) its bias_multiplier_ [inner]; in place, every Forward first copies the
    bottom into temp_; the scale gradient reduces through sum_result_ [outer * scale] when both outer
    and inner exceed 1."""
    shape = _broadcast(ctx.bottom, _scale_operand(ctx), ctx.layer.scale_param.axis)
    buffers = [Buffer("sum_multiplier_", max(shape.outer, shape.inner), SETUP)]
    if ctx.layer.scale_param.bias_term:
        buffers.append(Buffer("bias_layer_ bias_multiplier_", shape.inner, SETUP))
    if ctx.in_place:
        buffers.append(Buffer("temp_ (the bottom before an in-place Forward)", count(ctx.bottom), FORWARD))
    eltwise = count(ctx.bottom) == shape.operand
    if (_scale_learns(ctx) and not eltwise and shape.inner != 1 and shape.outer != 1
            and shape.outer * shape.operand != 1):
        buffers.append(Buffer("sum_result_", shape.outer * shape.operand, BACKWARD))
    return tuple(buffers)


def _scale_touches(ctx: RunContext) -> tuple[bool, ...]:
    """scale_layer.cpp Backward: the scale gradient's element-wise product goes into bottom[0]'s diff
    (not in place; in place it goes into temp_), whatever propagate_down says."""
    eltwise = count(ctx.bottom) == count(_scale_operand(ctx))
    scratch = _scale_learns(ctx) and not eltwise and not ctx.in_place
    return (scratch,) + (False,) * (len(ctx.bottom_shapes) - 1)


def _scale_cost(ctx: RunContext) -> Cost:
    """One multiplication per element, and one addition more with the bias."""
    out = elements_of_top(ctx)
    return Cost(maccs=out, additions=out if ctx.layer.scale_param.bias_term else 0)


layer_model("Scale", buffers=_scale_buffers, compute=_scale_cost, touches=_scale_touches)


def _bias_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """bias_layer.cpp Reshape fills bias_multiplier_ [inner] with ones."""
    operand = ctx.bottom_shapes[1] if len(ctx.bottom_shapes) > 1 else ctx.param_shapes[0]
    return (Buffer("bias_multiplier_", _broadcast(ctx.bottom, operand, ctx.layer.bias_param.axis).inner, SETUP),)


def _bias_cost(ctx: RunContext) -> Cost:
    return Cost(additions=elements_of_top(ctx))


layer_model("Bias", buffers=_bias_buffers, compute=_bias_cost)


CUDNN_LRN_MAX_N = 16  # cudnn.h: the largest local_size cuDNN's LRN takes


def _lrn_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """lrn_layer.cpp/.cu. ACROSS_CHANNELS: Forward writes scale_ (like the bottom; the CPU path's
    padded_square/padded_ratio are freed before Forward/Backward return). WITHIN_CHANNEL runs inner
    layers: Split (sharing the bottom's data), Power (square_output_), AVE Pooling (pool_output_),
    Power (power_output_) and an Eltwise PROD into the top; a Backward that propagates gives the two
    split tops and those three blobs a diff each. cuDNN: CuDNNLRNLayer keeps no blob of its own and
    CuDNNLCNLayer (WITHIN_CHANNEL) cudaMallocs its two temporaries (reported apart)."""
    param = ctx.layer.lrn_param
    elements = count(ctx.bottom)
    across = param.norm_region == caffe_pb2.LRNParameter.ACROSS_CHANNELS
    # layer_factory.cpp GetLRNLayer: ACROSS_CHANNELS with local_size over CUDNN_LRN_MAX_N (16) stays Caffe's.
    if ctx.uses_cudnn(param.engine) and not (across and param.local_size > CUDNN_LRN_MAX_N):
        if across:
            return ()
        return (Buffer("CuDNNLCNLayer tempData1, tempData2 (cudaMalloc, like the bottom)", 2 * elements, SETUP),)
    if across:
        return (Buffer("scale_ (across-channel norms)", elements, FORWARD),)
    buffers = [Buffer("square_output_", elements), Buffer("pool_output_", elements), Buffer("power_output_", elements)]
    if ctx.backward and any(ctx.propagate_down):
        buffers.append(Buffer("diffs of the inner layers (split tops, square, pool, power outputs)", 5 * elements,
                              BACKWARD))
    return tuple(buffers)


def _lrn_cost(ctx: RunContext) -> Cost:
    """ACROSS_CHANNELS: local_size multiply-adds per output (the sum of squares), then a power and a
    division; WITHIN_CHANNEL: a local_size x local_size window per output."""
    param = ctx.layer.lrn_param
    n = elements_of_top(ctx)
    window = param.local_size if param.norm_region == caffe_pb2.LRNParameter.ACROSS_CHANNELS \
        else param.local_size * param.local_size
    return Cost(maccs=n * window, additions=n, divisions=n, exponentials=n)


layer_model("LRN", buffers=_lrn_buffers, compute=_lrn_cost)
