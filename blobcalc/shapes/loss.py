"""Loss layers (LossLayer and its BVLC subclasses) and Accuracy: scalar tops and the label checks."""
from __future__ import annotations

from blobcalc.shapes.common import softmax_buffers, softmax_cost
from blobcalc.shapes.misc import axis_dim, check_op, legacy_dim
from blobcalc.shapes.model import (
    BACKWARD,
    FORWARD,
    SETUP,
    Buffer,
    Cost,
    RunContext,
    elements_of_bottom,
    no_buffers,
    transcendental_per_element,
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


# --- The model of the loss layers beyond their shapes ----------------------------------------------
# Every loss top's diff is allocated at SetUp by Layer::SetLossWeights (memory.py counts it for any
# layer with a loss weight). The GPU kernels of several losses use their bottoms' diffs as scratch in
# Forward ("this memory is not used for anything"), which the CPU code never does.

def _inner_loss_weight(ctx: RunContext, created_after_loss_layer_setup: bool) -> bool:
    """Whether an inner layer built from this layer's LayerParameter gets its top diff at its SetUp
    (Layer::SetLossWeights): SoftmaxWithLoss builds its Softmax in LayerSetUp, after
    LossLayer::LayerSetUp added the implicit loss_weight 1; SigmoidCrossEntropyLoss builds its Sigmoid
    in its constructor, from the prototxt as written."""
    weights = ctx.loss_weights if created_after_loss_layer_setup else tuple(ctx.layer.loss_weight)
    return bool(weights) and weights[0] != 0


def softmax_loss_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """softmax_loss_layer.cpp/.cu: the inner Softmax's buffers and its top prob_; prob_'s diff is
    allocated at SetUp through the loss weight, and the GPU Forward also uses it as the count buffer."""
    elements = elements_of_bottom(ctx)
    buffers = [*softmax_buffers(ctx.bottom, ctx.layer.softmax_param.axis), Buffer("prob_ (softmax output)", elements)]
    if _inner_loss_weight(ctx, created_after_loss_layer_setup=True):
        buffers.append(Buffer("prob_ diff (inner Softmax's loss weight)", elements, SETUP))
    elif ctx.device == "gpu":
        buffers.append(Buffer("prob_ diff (valid counts)", elements, FORWARD))
    return tuple(buffers)


def _softmax_loss_cost(ctx: RunContext) -> Cost:
    cost = softmax_cost(ctx)
    return Cost(cost.maccs, cost.comparisons, cost.additions, cost.divisions, cost.exponentials + ctx.bottom[0])


def _softmax_loss_touches(ctx: RunContext) -> tuple[bool, ...]:
    """softmax_loss_layer.cu Forward writes the per-element loss into bottom[0]'s diff."""
    return (ctx.device == "gpu",) + (False,) * (len(ctx.bottom_shapes) - 1)


layer_model("SoftmaxWithLoss", buffers=softmax_loss_buffers, compute=_softmax_loss_cost,
            touches=_softmax_loss_touches)


def _euclidean_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """euclidean_loss_layer.cpp/.cu Forward: diff_ = bottom[0] - bottom[1]."""
    return (Buffer("diff_ (prediction - target)", elements_of_bottom(ctx)),)


def _euclidean_cost(ctx: RunContext) -> Cost:
    n = elements_of_bottom(ctx)
    return Cost(maccs=n, additions=n)


layer_model("EuclideanLoss", buffers=_euclidean_buffers, compute=_euclidean_cost)


def _sigmoid_cross_entropy_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """sigmoid_cross_entropy_loss_layer.cpp: the inner Sigmoid's top sigmoid_output_, whose diff its
    SetUp allocates only when the prototxt sets loss_weight (the layer is built before LossLayer adds
    the implicit one)."""
    elements = elements_of_bottom(ctx)
    buffers = [Buffer("sigmoid_output_", elements)]
    if _inner_loss_weight(ctx, created_after_loss_layer_setup=False):
        buffers.append(Buffer("sigmoid_output_ diff (explicit loss_weight)", elements, SETUP))
    return tuple(buffers)


def _sigmoid_cross_entropy_touches(ctx: RunContext) -> tuple[bool, ...]:
    """sigmoid_cross_entropy_loss_layer.cu Forward: per-element loss in bottom[0]'s diff, valid
    counts in bottom[1]'s."""
    return (ctx.device == "gpu",) * 2 + (False,) * (len(ctx.bottom_shapes) - 2)


layer_model("SigmoidCrossEntropyLoss", buffers=_sigmoid_cross_entropy_buffers, compute=transcendental_per_element,
            touches=_sigmoid_cross_entropy_touches)


def _hinge_touches(ctx: RunContext) -> tuple[bool, ...]:
    """hinge_loss_layer.cpp Forward (CPU code on both paths) builds the margins in bottom[0]'s diff."""
    return (True,) + (False,) * (len(ctx.bottom_shapes) - 1)


def _hinge_cost(ctx: RunContext) -> Cost:
    n = elements_of_bottom(ctx)
    return Cost(comparisons=n, additions=n)


layer_model("HingeLoss", buffers=no_buffers, compute=_hinge_cost, touches=_hinge_touches)


def _multinomial_cost(ctx: RunContext) -> Cost:
    """multinomial_logistic_loss_layer.cpp: one log per sample."""
    return Cost(exponentials=ctx.bottom[0], additions=ctx.bottom[0])


layer_model("MultinomialLogisticLoss", buffers=no_buffers, compute=_multinomial_cost)


def _infogain_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """infogain_loss_layer.cpp: an inner Softmax like SoftmaxWithLoss's (prob_, its diff through the loss
    weight); the H matrix infogain_ [L x L] read at LayerSetUp when it is not a third bottom; Backward
    sums H's rows into sum_rows_H_ [L]."""
    param = ctx.layer.infogain_loss_param
    axis = canonical_axis(param.axis, len(ctx.bottom))
    labels = ctx.bottom[axis]
    elements = elements_of_bottom(ctx)
    buffers = [*softmax_buffers(ctx.bottom, param.axis), Buffer("prob_ (softmax output)", elements)]
    if _inner_loss_weight(ctx, created_after_loss_layer_setup=True):
        buffers.append(Buffer("prob_ diff (inner Softmax's loss weight)", elements, SETUP))
    if len(ctx.bottom_shapes) < 3:
        buffers.append(Buffer("infogain_ (H read from infogain_loss_param.source)", labels * labels, SETUP))
    if ctx.backward and ctx.propagate_down and ctx.propagate_down[0]:
        buffers.append(Buffer("sum_rows_H_", labels, BACKWARD))
    return tuple(buffers)


def _infogain_cost(ctx: RunContext) -> Cost:
    cost = softmax_cost(ctx)
    return Cost(elements_of_bottom(ctx), cost.comparisons, cost.additions, cost.divisions, cost.exponentials)


layer_model("InfogainLoss", buffers=_infogain_buffers, compute=_infogain_cost)


def _contrastive_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """contrastive_loss_layer.cpp/.cu: LayerSetUp fills summer_vec_ [C]; Forward writes diff_ [N x C]
    and dist_sq_ [N]; the GPU Forward squares into diff_sq_ [N x C] as well."""
    num, channels = ctx.bottom[0], count(ctx.bottom, 1)
    buffers = [Buffer("summer_vec_", channels, SETUP), Buffer("diff_ (a - b)", num * channels),
               Buffer("dist_sq_", num)]
    if ctx.device == "gpu":
        buffers.append(Buffer("diff_sq_", num * channels))
    return tuple(buffers)


def _contrastive_cost(ctx: RunContext) -> Cost:
    n = elements_of_bottom(ctx)
    return Cost(maccs=n, additions=n, comparisons=ctx.bottom[0])


layer_model("ContrastiveLoss", buffers=_contrastive_buffers, compute=_contrastive_cost)


def _accuracy_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """accuracy_layer.cpp: with a per-class top, Forward counts each class in nums_buffer_ [classes];
    accuracy_layer.cu reshapes it like bottom[0] for its per-class counts."""
    if len(ctx.top_shapes) < 2:
        return ()
    if ctx.device == "gpu":
        return (Buffer("nums_buffer_ (per-class counts, like bottom[0])", elements_of_bottom(ctx), FORWARD),)
    axis = canonical_axis(ctx.layer.accuracy_param.axis, len(ctx.bottom))
    return (Buffer("nums_buffer_ (per-class counts)", ctx.bottom[axis], FORWARD),)


def _accuracy_touches(ctx: RunContext) -> tuple[bool, ...]:
    """accuracy_layer.cu accumulates in bottom[0]'s diff and, with one top, counts in bottom[1]'s."""
    gpu = ctx.device == "gpu"
    return (gpu, gpu and len(ctx.top_shapes) == 1)


def _accuracy_cost(ctx: RunContext) -> Cost:
    """top_k comparisons against every score."""
    return Cost(comparisons=elements_of_bottom(ctx) * max(ctx.layer.accuracy_param.top_k, 1))


layer_model("Accuracy", buffers=_accuracy_buffers, compute=_accuracy_cost, touches=_accuracy_touches)
