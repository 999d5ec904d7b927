"""Normalization and affine layers: BatchNorm, Scale, Bias, LRN."""
from __future__ import annotations

from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    canonical_axis,
    check,
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
