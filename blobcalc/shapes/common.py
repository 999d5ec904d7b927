"""Structural layers: InnerProduct, Concat, Slice, Eltwise, Split, Flatten, Reshape, Softmax, Crop,
Silence."""
from __future__ import annotations

from blobcalc import caffe_pb2
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    canonical_axis,
    check,
    count,
    shape_rule,
)

_MAX_BLOB_AXES = 32  # blob.hpp kMaxBlobAxes


@shape_rule("InnerProduct", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
def inner_product(ctx: LayerContext) -> LayerShapes:
    """inner_product_layer.cpp: weights [N, K] ([K, N] when transposed), K = count from `axis`."""
    param = ctx.layer.inner_product_param
    bottom = ctx.bottom
    axis = canonical_axis(param.axis, len(bottom))
    inputs = count(bottom, axis)
    outputs = param.num_output
    weight = (inputs, outputs) if param.transpose else (outputs, inputs)
    params = (weight, (outputs,)) if param.bias_term else (weight,)
    return LayerShapes(((*bottom[:axis], outputs),), params)


def _legacy_or_axis(ctx: LayerContext, legacy_field: str, legacy_value: int, axis: int,
                    what: str) -> int:
    """Concat's concat_dim / Slice's slice_dim (uint32, legacy) or the newer signed `axis`."""
    num_axes = len(ctx.bottom)
    if ctx.layer.HasField(f"{what}_param") and getattr(ctx.layer, f"{what}_param").HasField(legacy_field):
        check(legacy_value < 2**31,
              f"casting {legacy_field} from uint32 to int32 produced negative result; "
              f"{legacy_field} must satisfy 0 <= {legacy_field} < {_MAX_BLOB_AXES}")
        check(legacy_value < num_axes, f"{legacy_field} out of range.")
        return legacy_value
    return canonical_axis(axis, num_axes)


@shape_rule("Concat", counts=BlobCounts(min_bottoms=1, exact_tops=1))
def concat(ctx: LayerContext) -> LayerShapes:
    """concat_layer.cpp: every axis but the concat axis must agree; that one is summed."""
    param = ctx.layer.concat_param
    check(not (param.HasField("axis") and param.HasField("concat_dim")),
          "Either axis or concat_dim should be specified; not both.")
    axis = _legacy_or_axis(ctx, "concat_dim", param.concat_dim, param.axis, "concat")
    top = list(ctx.bottom)
    for other in ctx.bottom_shapes[1:]:
        check(len(other) == len(top), "All inputs must have the same #axes.")
        for j, dim in enumerate(other):
            if j != axis:
                check(dim == top[j],
                      f"All inputs must have the same shape, except at concat_axis "
                      f"({list(ctx.bottom)} vs {list(other)} at axis {j}).")
        top[axis] += other[axis]
    return LayerShapes((tuple(top),))


@shape_rule("Slice", counts=BlobCounts(exact_bottoms=1, min_tops=1))
def slice_layer(ctx: LayerContext) -> LayerShapes:
    """slice_layer.cpp: slice points, or an even split among the tops."""
    param = ctx.layer.slice_param
    check(not (param.HasField("axis") and param.HasField("slice_dim")),
          "Either axis or slice_dim should be specified; not both.")
    axis = _legacy_or_axis(ctx, "slice_dim", param.slice_dim, param.axis, "slice")
    bottom = ctx.bottom
    size = bottom[axis]
    tops = ctx.num_tops
    if param.slice_point:
        check(len(param.slice_point) == tops - 1,
              f"{len(param.slice_point)} slice points for {tops} tops (CHECK_EQ(slice_point_.size(), "
              "top.size() - 1))")
        check(tops <= size, f"{tops} tops cannot slice an axis of size {size}")
        sizes: list[int] = []
        previous = 0
        for point in param.slice_point:
            check(point > previous, f"slice points must increase ({point} after {previous})")
            sizes.append(point - previous)
            previous = point
        sizes.append(size - previous)
    else:
        check(size % tops == 0,
              f"Number of top blobs ({tops}) should evenly divide input slice axis ({size})")
        sizes = [size // tops] * tops
    shapes = tuple((*bottom[:axis], part, *bottom[axis + 1:]) for part in sizes)
    return LayerShapes(shapes)


@shape_rule("Eltwise", counts=BlobCounts(min_bottoms=2, exact_tops=1))
def eltwise(ctx: LayerContext) -> LayerShapes:
    """eltwise_layer.cpp: all bottoms must have exactly the same shape."""
    param = ctx.layer.eltwise_param
    check(not param.coeff or len(param.coeff) == len(ctx.bottom_shapes),
          "Eltwise Layer takes one coefficient per bottom blob.")
    check(not (param.operation == caffe_pb2.EltwiseParameter.PROD and param.coeff),
          "Eltwise layer only takes coefficients for summation.")
    for i, other in enumerate(ctx.bottom_shapes[1:], start=1):
        check(other == ctx.bottom,
              f"bottom[0]: {_shape_string(ctx.bottom)}, bottom[{i}]: {_shape_string(other)}")
    return LayerShapes((ctx.bottom,))


def _shape_string(shape: Shape) -> str:
    """Blob::shape_string: '2 3 4 5 (120)'."""
    return " ".join(str(d) for d in shape) + f" ({count(shape)})"


@shape_rule("Split", counts=BlobCounts(exact_bottoms=1, min_tops=1))
def split(ctx: LayerContext) -> LayerShapes:
    return LayerShapes((ctx.bottom,) * ctx.num_tops)


@shape_rule("Silence", counts=BlobCounts(min_bottoms=1, exact_tops=0))
def silence(ctx: LayerContext) -> LayerShapes:
    return LayerShapes(())


def _not_in_place(ctx: LayerContext) -> None:
    check(ctx.layer.top[0] != ctx.layer.bottom[0],
          f"{ctx.layer.type} Layer does not allow in-place computation.")


@shape_rule("Flatten", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
def flatten(ctx: LayerContext) -> LayerShapes:
    """flatten_layer.cpp: axes [axis, end_axis] become one."""
    _not_in_place(ctx)
    bottom = ctx.bottom
    start = canonical_axis(ctx.layer.flatten_param.axis, len(bottom))
    end = canonical_axis(ctx.layer.flatten_param.end_axis, len(bottom))
    return LayerShapes(((*bottom[:start], count(bottom, start, end + 1), *bottom[end + 1:]),))


@shape_rule("Reshape", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
def reshape(ctx: LayerContext) -> LayerShapes:
    """reshape_layer.cpp: 0 copies a bottom axis, -1 is inferred, axis/num_axes pick the span replaced."""
    _not_in_place(ctx)
    param = ctx.layer.reshape_param
    bottom = ctx.bottom
    dims = list(param.shape.dim)
    copy_axes = [i for i, d in enumerate(dims) if d == 0]
    inferred = [i for i, d in enumerate(dims) if d == -1]
    check(len(inferred) <= 1,
          "new shape contains multiple -1 dims; at most a single (1) value of -1 may be specified")
    constant = 1
    for d in dims:
        if d not in (0, -1):
            constant *= d
    start = param.axis if param.axis >= 0 else len(bottom) + param.axis + 1
    check(start >= 0, f"axis {param.axis} out of range")
    check(start <= len(bottom), f"axis {param.axis} out of range for a {len(bottom)}-D input blob")
    check(param.num_axes >= -1, "num_axes must be >= 0, or -1 for all")
    end = len(bottom) if param.num_axes == -1 else start + param.num_axes
    check(end <= len(bottom), f"end_axis = axis + num_axes is out of range ({end} > {len(bottom)})")
    top = [*bottom[:start], *dims, *bottom[end:]]
    for i in copy_axes:
        check(len(bottom) > start + i,
              "new shape contains a 0, but there was no corresponding bottom axis to copy")
        top[start + i] = bottom[start + i]
    if inferred:
        explicit = constant * count(bottom, 0, start) * count(bottom, end)
        for i in copy_axes:
            explicit *= top[start + i]
        check(explicit != 0 and count(bottom) % explicit == 0,
              f"bottom count ({count(bottom)}) must be divisible by the product of the specified "
              f"dimensions ({explicit})")
        top[start + inferred[0]] = count(bottom) // explicit
    result = tuple(top)
    check(count(result) == count(bottom),
          f"output count must match input count ({count(result)} vs {count(bottom)})")
    return LayerShapes((result,))


@shape_rule("Softmax", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
def softmax(ctx: LayerContext) -> LayerShapes:
    canonical_axis(ctx.layer.softmax_param.axis, len(ctx.bottom))
    return LayerShapes((ctx.bottom,))


@shape_rule("Crop", counts=BlobCounts(exact_bottoms=2, exact_tops=1))
def crop(ctx: LayerContext) -> LayerShapes:
    """crop_layer.cpp: axes from `axis` on take bottom[1]'s size, cropped at the given offsets."""
    param = ctx.layer.crop_param
    data, reference = ctx.bottom_shapes
    start = canonical_axis(param.axis, len(data))
    offsets = list(param.offset)
    if len(offsets) > 1:
        check(start + len(offsets) == len(data),
              "number of offset values specified must be equal to the number of dimensions following axis.")
    top = list(data)
    for i in range(start, len(data)):
        check(i < len(reference), f"the reference bottom has no axis {i} to crop to")
        offset = 0 if not offsets else offsets[0] if len(offsets) == 1 else offsets[i - start]
        check(data[i] - offset >= reference[i], f"invalid crop parameters in dimension: {i}")
        top[i] = reference[i]
    return LayerShapes((tuple(top),))
