"""Face-recognition forks: SphereFace's MarginInnerProduct, L-Softmax's LargeMarginInnerProduct and
caffe-face's CenterLoss."""
from __future__ import annotations

from blobcalc.shapes.loss import LOSS_COUNTS, SCALAR, check_loss_bottoms
from blobcalc.shapes.misc import check_op, legacy_dim
from blobcalc.shapes.model import (
    BACKWARD,
    FORWARD,
    Buffer,
    Cost,
    RunContext,
    buffers_not_modelled,
    elements_of_bottom,
    elements_of_top,
    matrix_backward,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    canonical_axis,
    check,
    count,
    layer_model,
    shape_rule,
)

SPHEREFACE = "SphereFace fork (wy1iu/sphereface)"
LSOFTMAX = "L-Softmax fork (wy1iu/LargeMargin_Softmax_Loss)"
CENTER_LOSS = "center loss fork (ydwen/caffe-face)"

# margin_inner_product_layer.hpp / largemargin_inner_product_layer.hpp: features and labels in;
# the scores out, and optionally the current lambda.
_MARGIN_COUNTS = BlobCounts(exact_bottoms=2, max_tops=2)


def _margin_inner_product(ctx: LayerContext, num_output: int, axis_param: int) -> LayerShapes:
    """Both margin layers: one label per item (CHECK on num()), weights [num_output, K] with K the
    count from `axis` and no bias; scores [*bottom[:axis], num_output]; lambda [1]."""
    data, label = ctx.bottom_shapes
    check_op(legacy_dim(data, 0), "==", legacy_dim(label, 0), "bottom[0]->num() == bottom[1]->num()",
             "Number of labels must match number of output; DO NOT support multi-label this version.")
    axis = canonical_axis(axis_param, len(data))
    weight: Shape = (num_output, count(data, axis))
    tops: tuple[Shape, ...] = ((*data[:axis], num_output),)
    if ctx.num_tops == 2:
        tops += ((1,),)
    return LayerShapes(tops, (weight,))


@shape_rule("MarginInnerProduct", counts=_MARGIN_COUNTS, origin=SPHEREFACE)
def margin_inner_product(ctx: LayerContext) -> LayerShapes:
    """margin_inner_product_layer.cpp (A-Softmax): lambda (top[1]) is only shaped when asked for."""
    check(ctx.num_tops >= 1, "MarginInnerProduct reshapes top[0], so it needs a top")
    param = ctx.layer.margin_inner_product_param
    return _margin_inner_product(ctx, param.num_output, param.axis)


@shape_rule("LargeMarginInnerProduct", counts=_MARGIN_COUNTS, origin=LSOFTMAX)
def large_margin_inner_product(ctx: LayerContext) -> LayerShapes:
    """largemargin_inner_product_layer.cpp (L-Softmax): Reshape writes top[1] (lambda) whatever the
    number of tops, so the layer needs both."""
    check(ctx.num_tops == 2, "LargeMarginInnerProduct reshapes top[0] and top[1] (lambda) "
                             "unconditionally, so it needs two tops")
    param = ctx.layer.largemargin_inner_product_param
    return _margin_inner_product(ctx, param.num_output, param.axis)


@shape_rule("CenterLoss", counts=LOSS_COUNTS, origin=CENTER_LOSS)
def center_loss(ctx: LayerContext) -> LayerShapes:
    """center_loss_layer.cpp: the centers [num_output, K] (K = count of bottom[0] from `axis`) are
    the layer's one parameter blob; the label is one value per item."""
    param = ctx.layer.center_loss_param
    data, label = ctx.bottom_shapes
    axis = canonical_axis(param.axis, len(data))
    centers: Shape = (param.num_output, count(data, axis))
    for index, name in ((1, "channels"), (2, "height"), (3, "width")):
        check_op(legacy_dim(label, index), "==", 1, f"bottom[1]->{name}() == 1")
    check_loss_bottoms(ctx)
    return LayerShapes((SCALAR,), (centers,))


# --- The model of these fork layers beyond their shapes ------------------------------------------

def _margin_cost(ctx: RunContext) -> Cost:
    """An InnerProduct's multiply-accumulates: outputs x the weight's input size."""
    weight = ctx.param_shapes[0]
    maccs = elements_of_top(ctx) * weight[1]
    return Cost(maccs=maccs, backward_maccs=matrix_backward(maccs, ctx))


# margin_inner_product_layer.cpp (SphereFace) and large_margin_inner_product_layer.cpp keep norms,
# cosines and sign blobs per sample and class, depending on the margin type: not modelled.
layer_model("MarginInnerProduct", "LargeMarginInnerProduct",
            buffers=buffers_not_modelled("its per-sample norm, cosine and sign blobs"), compute=_margin_cost)


def _center_loss_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """center_loss_layer.cpp: Forward writes distance_ (like the features); Backward accumulates the
    centers' update in variation_sum_ (like the centers) when they are learned."""
    buffers = [Buffer("distance_", elements_of_bottom(ctx), FORWARD)]
    if ctx.learns_params:
        buffers.append(Buffer("variation_sum_", count(ctx.param_shapes[0]), BACKWARD))
    return tuple(buffers)


def _center_loss_cost(ctx: RunContext) -> Cost:
    n = elements_of_bottom(ctx)
    return Cost(maccs=n, additions=n)


layer_model("CenterLoss", buffers=_center_loss_buffers, compute=_center_loss_cost)
