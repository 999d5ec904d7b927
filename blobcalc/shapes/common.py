"""Structural layers: InnerProduct, Concat, Slice, Eltwise, Split, Flatten, Reshape, Softmax, Crop,
Silence."""
from __future__ import annotations

from blobcalc import caffe_pb2
from blobcalc.shapes.model import (
    FORWARD,
    INT_BYTES,
    OWN,
    SETUP,
    SHARES_BOTH,
    SHARES_DATA,
    Buffer,
    Cost,
    RunContext,
    elements_of_top,
    matrix_backward,
    no_buffers,
    no_compute,
    own_tops,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    as_int32,
    canonical_axis,
    check,
    count,
    layer_model,
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
    outputs = as_int32(param.num_output)  # N_ is an int (inner_product_layer.cpp)
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


# --- The model of these layers beyond their shapes -------------------------------------------------

def _inner_product_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """inner_product_layer.cpp Reshape fills bias_multiplier_ [M] (the rows: count before `axis`)."""
    if not ctx.layer.inner_product_param.bias_term:
        return ()
    return (Buffer("bias_multiplier_", count(ctx.top[:-1]), SETUP),)


def _inner_product_cost(ctx: RunContext) -> Cost:
    """M x N x K multiply-accumulates (K = the weight's input size), one addition per output for the bias."""
    weight = ctx.param_shapes[0]
    inputs = weight[0] if ctx.layer.inner_product_param.transpose else weight[1]
    out = elements_of_top(ctx)
    maccs = out * inputs
    return Cost(maccs=maccs, additions=out if len(ctx.param_shapes) > 1 else 0,
                backward_maccs=matrix_backward(maccs, ctx))


layer_model("InnerProduct", buffers=_inner_product_buffers, compute=_inner_product_cost)


def _one_bottom_shares(bottoms: int, tops: int) -> str:
    """concat_layer.cpp with one bottom and slice_layer.cpp with one top: ShareData + ShareDiff."""
    return SHARES_BOTH if bottoms == 1 and tops == 1 else OWN


def _shares_both(bottoms: int, tops: int) -> str:
    """flatten_layer.cpp / reshape_layer.cpp Reshape: ShareData + ShareDiff of the bottom."""
    return SHARES_BOTH


def _split_shares(bottoms: int, tops: int) -> str:
    """split_layer.cpp: each top shares the bottom's data; Backward sums the tops' own diffs."""
    return SHARES_DATA


layer_model("Concat", "Slice", buffers=no_buffers, compute=no_compute, sharing=_one_bottom_shares)
layer_model("Flatten", "Reshape", buffers=no_buffers, compute=no_compute, sharing=_shares_both)
layer_model("Split", buffers=no_buffers, compute=no_compute, sharing=_split_shares)
layer_model("Silence", buffers=no_buffers, compute=no_compute, sharing=own_tops)


def _eltwise_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """eltwise_layer.cpp/.cu: MAX with one top keeps the argmax in max_idx_ (int); SUM and PROD keep nothing."""
    if ctx.layer.eltwise_param.operation == caffe_pb2.EltwiseParameter.MAX:
        return (Buffer("max_idx_ (argmax indices)", count(ctx.top), FORWARD, INT_BYTES),)
    return ()


def _eltwise_cost(ctx: RunContext) -> Cost:
    """PROD: multiplications; MAX: comparisons; SUM: additions (a multiply-add each with coefficients)."""
    out = elements_of_top(ctx)
    operations = out * max(len(ctx.bottom_shapes) - 1, 1)
    operation = ctx.layer.eltwise_param.operation
    if operation == caffe_pb2.EltwiseParameter.PROD:
        return Cost(maccs=operations)
    if operation == caffe_pb2.EltwiseParameter.MAX:
        return Cost(comparisons=operations)
    if ctx.layer.eltwise_param.coeff:
        return Cost(maccs=operations)
    return Cost(additions=operations)


layer_model("Eltwise", buffers=_eltwise_buffers, compute=_eltwise_cost)


def softmax_buffers(bottom: Shape, axis: int, scale_used: bool = True) -> tuple[Buffer, ...]:
    """softmax_layer.cpp Reshape fills sum_multiplier_ [channels] with ones; Forward writes scale_
    (the bottom with the softmax axis set to 1)."""
    axis = canonical_axis(axis, len(bottom))
    buffers = [Buffer("sum_multiplier_", bottom[axis], SETUP)]
    if scale_used:
        buffers.append(Buffer("scale_", count(bottom) // max(bottom[axis], 1), FORWARD))
    return tuple(buffers)


def _softmax_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    # cudnn_softmax_layer.cpp runs SoftmaxLayer's Reshape (sum_multiplier_) but never uses scale_.
    param = ctx.layer.softmax_param
    return softmax_buffers(ctx.bottom, param.axis, scale_used=not ctx.uses_cudnn(param.engine))


def softmax_cost(ctx: RunContext) -> Cost:
    """A max (comparison), a subtraction, an exponential, a sum and a division per element."""
    n = count(ctx.bottom)
    return Cost(comparisons=n, additions=n, divisions=n, exponentials=n)


layer_model("Softmax", buffers=_softmax_buffers, compute=softmax_cost)


def _crop_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """crop_layer.cpp Reshape fills offsets, src_strides_ and dest_strides_: Blob<int>, one per axis."""
    return (Buffer("offsets, src_strides_, dest_strides_ (int)", 3 * len(ctx.bottom), SETUP, INT_BYTES),)


layer_model("Crop", buffers=_crop_buffers, compute=no_compute)
