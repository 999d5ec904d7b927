"""Loss layers (LossLayer and its BVLC subclasses) and Accuracy: scalar tops and the label checks."""
from __future__ import annotations

from blobcalc.shapes.misc import axis_dim, check_op, legacy_dim
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

SCALAR: Shape = ()  # "Loss layers output a scalar; 0 axes." (loss_layer.cpp)

# loss_layer.hpp: two bottoms, one top that Caffe creates itself when the prototxt names none.
LOSS_COUNTS = BlobCounts(exact_bottoms=2, exact_tops=1, auto_tops=True)
# softmax_loss_layer.hpp / infogain_loss_layer.hpp: an optional second top with the softmax.
LOSS_WITH_PROB_COUNTS = BlobCounts(exact_bottoms=2, min_tops=1, max_tops=2, auto_tops=True)


def check_loss_bottoms(ctx: LayerContext) -> None:
    """LossLayer::Reshape (loss_layer.cpp): data and label agree on their first dimension."""
    data, label = ctx.bottom_shapes[0], ctx.bottom_shapes[1]
    check_op(axis_dim(data, 0), "==", axis_dim(label, 0),
             "bottom[0]->shape(0) == bottom[1]->shape(0)",
             "The data and label should have the same first dimension.")


def _check_labels_match(ctx: LayerContext, axis: int, axis_name: str) -> tuple[int, int]:
    """outer_num * inner_num around `axis` must equal the label count (softmax_loss_layer.cpp,
    infogain_loss_layer.cpp, accuracy_layer.cpp); returns (outer_num, inner_num)."""
    data, label = ctx.bottom_shapes[0], ctx.bottom_shapes[1]
    outer_num, inner_num = count(data, 0, axis), count(data, axis + 1)
    check_op(outer_num * inner_num, "==", count(label), "outer_num_ * inner_num_ == bottom[1]->count()",
             f"Number of labels must match number of predictions; e.g., if {axis_name} axis == 1 "
             "and prediction shape is (N, C, H, W), label count (number of labels) must be N*H*W, "
             "with integer values in {0, 1, ..., C-1}.")
    return outer_num, inner_num


def _loss_tops(ctx: LayerContext, prob: Shape | None = None) -> tuple[Shape, ...]:
    """The scalar loss, and the softmax probabilities (shaped like bottom[0]) as a second top."""
    return (SCALAR,) if ctx.num_tops < 2 or prob is None else (SCALAR, prob)


@shape_rule("SoftmaxWithLoss", counts=LOSS_WITH_PROB_COUNTS)
def softmax_with_loss(ctx: LayerContext) -> LayerShapes:
    """softmax_loss_layer.cpp: one label per position outside softmax_param.axis."""
    data = ctx.bottom
    axis = canonical_axis(ctx.layer.softmax_param.axis, len(data))  # the internal Softmax's SetUp
    check_loss_bottoms(ctx)
    _check_labels_match(ctx, axis, "softmax")
    return LayerShapes(_loss_tops(ctx, data))


@shape_rule("EuclideanLoss", counts=LOSS_COUNTS)
def euclidean_loss(ctx: LayerContext) -> LayerShapes:
    """euclidean_loss_layer.cpp: both inputs have the same count per item."""
    check_loss_bottoms(ctx)
    data, target = ctx.bottom_shapes
    check_op(count(data, 1), "==", count(target, 1), "bottom[0]->count(1) == bottom[1]->count(1)",
             "Inputs must have the same dimension.")
    return LayerShapes((SCALAR,))


@shape_rule("SigmoidCrossEntropyLoss", counts=LOSS_COUNTS)
def sigmoid_cross_entropy_loss(ctx: LayerContext) -> LayerShapes:
    """sigmoid_cross_entropy_loss_layer.cpp: predictions and targets have the same count."""
    check_loss_bottoms(ctx)
    data, target = ctx.bottom_shapes
    check_op(count(data), "==", count(target), "bottom[0]->count() == bottom[1]->count()",
             "SIGMOID_CROSS_ENTROPY_LOSS layer inputs must have the same count.")
    return LayerShapes((SCALAR,))


@shape_rule("HingeLoss", counts=LOSS_COUNTS)
def hinge_loss(ctx: LayerContext) -> LayerShapes:
    """hinge_loss_layer.cpp: no Reshape of its own, only LossLayer's check."""
    check_loss_bottoms(ctx)
    return LayerShapes((SCALAR,))


def _check_single_label_per_item(label: Shape) -> None:
    """CHECK_EQ(bottom[1]->channels()/height()/width(), 1), through the legacy accessors."""
    for index, name in ((1, "channels"), (2, "height"), (3, "width")):
        check_op(legacy_dim(label, index), "==", 1, f"bottom[1]->{name}() == 1")


@shape_rule("MultinomialLogisticLoss", counts=LOSS_COUNTS)
def multinomial_logistic_loss(ctx: LayerContext) -> LayerShapes:
    """multinomial_logistic_loss_layer.cpp: the label is one value per item."""
    check_loss_bottoms(ctx)
    _check_single_label_per_item(ctx.bottom_shapes[1])
    return LayerShapes((SCALAR,))


@shape_rule("InfogainLoss",
            counts=BlobCounts(min_bottoms=2, max_bottoms=3, min_tops=1, max_tops=2, auto_tops=True))
def infogain_loss(ctx: LayerContext) -> LayerShapes:
    """infogain_loss_layer.cpp: softmax over infogain_loss_param.axis; the infogain matrix H
    (bottom[2], or the BlobProto file `source`) must hold num_labels^2 values."""
    layer = ctx.layer
    data = ctx.bottom
    axis = canonical_axis(layer.infogain_loss_param.axis, len(data))  # internal Softmax's SetUp
    check(not layer.loss_param.HasField("normalize"), 'normalize is deprecated. use "normalization"')
    notes: tuple[str, ...] = ()
    if len(ctx.bottom_shapes) < 3:
        check(layer.infogain_loss_param.HasField("source"), "Infogain matrix source must be specified.")
        notes = (f"infogain matrix file '{layer.infogain_loss_param.source}' is not read; Caffe "
                 f"requires it to exist and to hold {data[axis]}x{data[axis]} values",)
    check_loss_bottoms(ctx)
    _check_labels_match(ctx, axis, "infogain")
    if len(ctx.bottom_shapes) == 3:
        num_labels = data[axis]
        check_op(count(ctx.bottom_shapes[2]), "==", num_labels * num_labels,
                 "infogain->count() == num_labels_*num_labels_")
    return LayerShapes(_loss_tops(ctx, data), notes=notes)


@shape_rule("ContrastiveLoss", counts=BlobCounts(exact_bottoms=3, exact_tops=1, auto_tops=True))
def contrastive_loss(ctx: LayerContext) -> LayerShapes:
    """contrastive_loss_layer.cpp: two (N, C, 1, 1) feature blobs and an (N, 1, 1, 1) similarity."""
    first, second, similar = ctx.bottom_shapes
    check_op(legacy_dim(first, 1), "==", legacy_dim(second, 1),
             "bottom[0]->channels() == bottom[1]->channels()")
    for i, shape in ((0, first), (1, second)):
        check_op(legacy_dim(shape, 2), "==", 1, f"bottom[{i}]->height() == 1")
        check_op(legacy_dim(shape, 3), "==", 1, f"bottom[{i}]->width() == 1")
    for index, name in ((1, "channels"), (2, "height"), (3, "width")):
        check_op(legacy_dim(similar, index), "==", 1, f"bottom[2]->{name}() == 1")
    check_loss_bottoms(ctx)
    return LayerShapes((SCALAR,))


@shape_rule("Accuracy", counts=BlobCounts(exact_bottoms=2, min_tops=1, max_tops=2))
def accuracy(ctx: LayerContext) -> LayerShapes:
    """accuracy_layer.cpp: a scalar accuracy, and optionally per-class accuracies
    [bottom[0].shape(axis)]. Accuracy is not a LossLayer: no first-dimension check."""
    param = ctx.layer.accuracy_param
    data, label = ctx.bottom_shapes
    label_count = count(label)
    # C++ integer division: a label blob with no elements makes Caffe divide by zero.
    check(label_count > 0, "bottom[1] has no elements (Caffe divides by its count)")
    check_op(param.top_k, "<=", count(data) // label_count,
             "top_k_ <= bottom[0]->count() / bottom[1]->count()",
             "top_k must be less than or equal to the number of classes.")
    axis = canonical_axis(param.axis, len(data))
    _check_labels_match(ctx, axis, "label")
    tops: tuple[Shape, ...] = (SCALAR,)
    if ctx.num_tops > 1:
        tops += ((data[axis],),)
    return LayerShapes(tops)
