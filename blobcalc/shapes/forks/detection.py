"""Two-stage detector layers: Faster R-CNN's ROIPooling and SmoothL1Loss, R-FCN's PSROIPooling and
OHEM layers, PVANet's C++ Proposal layer."""
from __future__ import annotations

from google.protobuf import message

from blobcalc.shapes.loss import SCALAR, check_loss_bottoms, softmax_loss_buffers, softmax_with_loss
from blobcalc.shapes.misc import as_int32, axis_dim, check_op, legacy_dim
from blobcalc.shapes.model import (
    FORWARD,
    INT_BYTES,
    SETUP,
    Buffer,
    Cost,
    RunContext,
    buffers_not_modelled,
    compute_not_modelled,
    count,
    elements_of_bottom,
    no_buffers,
    no_compute,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    check,
    layer_model,
    shape_rule,
)

FASTER_RCNN = "Faster R-CNN fork (rbgirshick/caffe-fast-rcnn)"
RFCN = "R-FCN fork (daijifeng001/caffe-rfcn)"
PVANET = "PVANet fork (sanghoon/pva-faster-rcnn)"

# fast_rcnn_layers.hpp / rfcn_layers.hpp: RoI pooling reads the feature map and the RoI list.
_ROI_COUNTS = BlobCounts(min_bottoms=2, max_bottoms=2, min_tops=1, max_tops=1)


def require_fields(param: message.Message, param_name: str, *fields: str) -> None:
    """Fields the fork's caffe.proto declares `required`: without them Caffe's text parser refuses
    the net (our schema keeps them optional so that the rest of the net can still be read)."""
    missing = [name for name in fields if not param.HasField(name)]
    check(not missing, f"{param_name} is missing required field(s) {', '.join(missing)} (the fork's "
                       "caffe.proto declares them required, so Caffe cannot parse the net)")


def _check_legacy_dims_match(shapes: tuple[Shape, ...], first: int, other: int) -> None:
    """CHECK_EQ of bottom[first] and bottom[other] on channels(), height() and width()."""
    for index, name in ((1, "channels"), (2, "height"), (3, "width")):
        check_op(legacy_dim(shapes[first], index), "==", legacy_dim(shapes[other], index),
                 f"bottom[{first}]->{name}() == bottom[{other}]->{name}()")


def _rois(ctx: LayerContext) -> int:
    """The RoI count: bottom[1]->num(), each RoI being (batch index, x1, y1, x2, y2)."""
    rois = ctx.bottom_shapes[1]
    check_op(legacy_dim(rois, 1) * legacy_dim(rois, 2) * legacy_dim(rois, 3), "==", 5,
             "bottom[1]->channels() * bottom[1]->height() * bottom[1]->width() == 5",
             "ROI layer C x W x H must be == 5")
    return legacy_dim(rois, 0)


@shape_rule("ROIPooling", counts=_ROI_COUNTS, origin=FASTER_RCNN)
def roi_pooling(ctx: LayerContext) -> LayerShapes:
    """roi_pooling_layer.cpp: [RoIs, bottom[0] channels, pooled_h, pooled_w]."""
    param = ctx.layer.roi_pooling_param
    check_op(param.pooled_h, ">", 0, "roi_pool_param.pooled_h() > 0", "pooled_h must be > 0")
    check_op(param.pooled_w, ">", 0, "roi_pool_param.pooled_w() > 0", "pooled_w must be > 0")
    rois = _rois(ctx)
    channels = legacy_dim(ctx.bottom, 1)
    return LayerShapes(((rois, channels, as_int32(param.pooled_h), as_int32(param.pooled_w)),))


@shape_rule("PSROIPooling", counts=_ROI_COUNTS, origin=RFCN)
def psroi_pooling(ctx: LayerContext) -> LayerShapes:
    """psroi_pooling_layer.cpp: the input holds output_dim score maps per cell of a group_size x
    group_size grid; the top is [RoIs, output_dim, group_size, group_size]. Unlike ROIPooling it
    does not check that RoIs have 5 values."""
    param = ctx.layer.psroi_pooling_param
    require_fields(param, "psroi_pooling_param", "spatial_scale", "output_dim", "group_size")
    check_op(param.output_dim, ">", 0, "psroi_pooling_param.output_dim() > 0", "output_dim must be > 0")
    check_op(param.group_size, ">", 0, "psroi_pooling_param.group_size() > 0", "group_size must be > 0")
    output_dim, group = param.output_dim, param.group_size
    check_op(legacy_dim(ctx.bottom, 1), "==", output_dim * group * group,
             "channels_ == output_dim_ * group_size_ * group_size_",
             "input channel number does not match layer parameters")
    rois = legacy_dim(ctx.bottom_shapes[1], 0)
    return LayerShapes(((rois, output_dim, group, group),))


@shape_rule("SmoothL1Loss", counts=BlobCounts(min_bottoms=2, max_bottoms=4, exact_tops=1, auto_tops=True),
            origin=FASTER_RCNN)
def smooth_l1_loss(ctx: LayerContext) -> LayerShapes:
    """smooth_L1_loss_layer.cpp (py-faster-rcnn's Caffe): predictions, targets and optionally the
    inside and outside weights, all alike on channels, height and width."""
    bottoms = len(ctx.bottom_shapes)
    if bottoms >= 3:
        check_op(bottoms, "==", 4, "bottom.size() == 4",
                 "If weights are used, must specify both inside and outside weights")
    check_loss_bottoms(ctx)
    for other in range(1, bottoms):
        _check_legacy_dims_match(ctx.bottom_shapes, 0, other)
    return LayerShapes((SCALAR,))


def _per_item_shape(shape: Shape) -> Shape:
    """[num, 1, height, width]: the per-instance loss top of R-FCN's OHEM losses."""
    return (legacy_dim(shape, 0), 1, legacy_dim(shape, 2), legacy_dim(shape, 3))


@shape_rule("SmoothL1LossOHEM",
            counts=BlobCounts(min_bottoms=2, max_bottoms=3, min_tops=1, max_tops=2, auto_tops=True),
            origin=RFCN)
def smooth_l1_loss_ohem(ctx: LayerContext) -> LayerShapes:
    """smooth_l1_loss_ohem_layer.cpp: the scalar loss and, as a second top, the loss of each item
    [N, 1, H, W]; an optional third bottom holds the weights."""
    check_loss_bottoms(ctx)
    for other in range(1, len(ctx.bottom_shapes)):
        _check_legacy_dims_match(ctx.bottom_shapes, 0, other)
    tops: tuple[Shape, ...] = (SCALAR,)
    if ctx.num_tops >= 2:
        tops += (_per_item_shape(ctx.bottom),)
    return LayerShapes(tops)


@shape_rule("SoftmaxWithLossOHEM",
            counts=BlobCounts(exact_bottoms=2, min_tops=1, max_tops=3, auto_tops=True), origin=RFCN)
def softmax_with_loss_ohem(ctx: LayerContext) -> LayerShapes:
    """softmax_loss_ohem_layer.cpp: SoftmaxWithLoss's checks and tops (loss, probabilities), plus a
    third top with the loss of each item, shaped like the labels."""
    tops = softmax_with_loss(ctx).top_shapes
    if ctx.num_tops >= 3:
        tops += (ctx.bottom_shapes[1],)
    return LayerShapes(tops)


@shape_rule("BoxAnnotatorOHEM", counts=BlobCounts(exact_bottoms=4, exact_tops=2), origin=RFCN)
def box_annotator_ohem(ctx: LayerContext) -> LayerShapes:
    """box_annotator_ohem_layer.cpp: bottoms are the RoIs (5 channels), the per-RoI loss, the labels
    and the bbox weights; tops are the relabelled labels [N, 1, H, W] and bbox loss weights
    [N, bbox channels, H, W]."""
    param = ctx.layer.box_annotator_ohem_param
    require_fields(param, "box_annotator_ohem_param", "roi_per_img")
    check_op(param.roi_per_img, ">", 0, "roi_per_img_ > 0")
    rois, loss, labels, weights = ctx.bottom_shapes
    num, height, width = legacy_dim(rois, 0), legacy_dim(rois, 2), legacy_dim(rois, 3)
    check_op(5, "==", legacy_dim(rois, 1), "5 == bottom[0]->channels()")
    for i, shape in ((1, loss), (2, labels)):
        check_op(legacy_dim(shape, 0), "==", num, f"bottom[{i}]->num() == num_")
        check_op(legacy_dim(shape, 1), "==", 1, f"bottom[{i}]->channels() == 1")
        check_op(legacy_dim(shape, 2), "==", height, f"bottom[{i}]->height() == height_")
        check_op(legacy_dim(shape, 3), "==", width, f"bottom[{i}]->width() == width_")
    check_op(legacy_dim(weights, 0), "==", num, "bottom[3]->num() == num_")
    check_op(legacy_dim(weights, 2), "==", height, "bottom[3]->height() == height_")
    check_op(legacy_dim(weights, 3), "==", width, "bottom[3]->width() == width_")
    return LayerShapes(((num, 1, height, width), (num, legacy_dim(weights, 1), height, width)))


@shape_rule("Proposal", counts=BlobCounts(exact_bottoms=3, min_tops=1, max_tops=2), origin=PVANET)
def proposal(ctx: LayerContext) -> LayerShapes:
    """proposal_layer.cpp of PVANet's Caffe (read from the copies derived from it): room for
    post_nms_topn RoIs per image, [N * post_nms_topn, 5], and their scores [N * post_nms_topn].
    Forward keeps the RoIs that survive NMS, so the first axis shrinks once data flows."""
    post_nms_topn = as_int32(ctx.layer.proposal_param.post_nms_topn)
    rows = axis_dim(ctx.bottom, 0) * post_nms_topn
    tops: tuple[Shape, ...] = ((rows, 5),)
    if ctx.num_tops > 1:
        tops += ((rows,),)
    return LayerShapes(tops, notes=(
        f"room for {post_nms_topn} proposals per image; forward() keeps only those left after NMS",))


# --- The model of these fork layers beyond their shapes ------------------------------------------

def _roi_pooling_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """roi_pooling_layer.cpp (py-faster-rcnn) Forward keeps the argmax of every output in max_idx_ (int)."""
    return (Buffer("max_idx_ (argmax indices)", count(ctx.top), FORWARD, INT_BYTES),)


def _psroi_pooling_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """psroi_pooling_layer.cu (R-FCN) Forward records each output's source channel in mapping_channel_."""
    return (Buffer("mapping_channel_ (source channels)", count(ctx.top), FORWARD, INT_BYTES),)


_ROI_COST = compute_not_modelled("each bin's window depends on the ROIs, known only at run time")
layer_model("ROIPooling", buffers=_roi_pooling_buffers, compute=_ROI_COST)
layer_model("PSROIPooling", buffers=_psroi_pooling_buffers, compute=_ROI_COST)


def _smooth_l1_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """smooth_L1_loss_layer.cpp/.cu (py-faster-rcnn): Reshape fills ones_ with ones; Forward writes
    diff_ and errors_, each like the prediction."""
    n = elements_of_bottom(ctx)
    return (Buffer("ones_", n, SETUP), Buffer("diff_", n, FORWARD), Buffer("errors_", n, FORWARD))


def _smooth_l1_cost(ctx: RunContext) -> Cost:
    n = elements_of_bottom(ctx)
    return Cost(maccs=n, comparisons=n, additions=2 * n)


layer_model("SmoothL1Loss", "SmoothL1LossOHEM", buffers=_smooth_l1_buffers, compute=_smooth_l1_cost)


def _softmax_ohem_cost(ctx: RunContext) -> Cost:
    n = elements_of_bottom(ctx)
    return Cost(comparisons=n, additions=n, divisions=n, exponentials=n)


layer_model("SoftmaxWithLossOHEM", buffers=softmax_loss_buffers, compute=_softmax_ohem_cost)
# box_annotator_ohem_layer.cpp ranks the ROIs' losses on the host and writes its tops directly.
layer_model("BoxAnnotatorOHEM", buffers=no_buffers, compute=no_compute)
layer_model("Proposal", buffers=buffers_not_modelled("its anchor and proposal blobs depend on the image size"),
            compute=compute_not_modelled("non-maximum suppression depends on the scores"))
