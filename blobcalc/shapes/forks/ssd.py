"""Shape rules of the SSD fork's layers (weiliu89/caffe, ssd branch, as brocolli-caffe 9.0.2 builds
them): PriorBox, Permute, Normalize, DetectionOutput, DetectionEvaluate, MultiBoxLoss, AnnotatedData."""
from __future__ import annotations

import struct

from blobcalc import caffe_pb2
from blobcalc.shapes.data import prefetch_buffers, tops_in_buffer
from blobcalc.shapes.misc import as_int32, axis_dim, check_op, legacy_dim
from blobcalc.shapes.model import (
    BACKWARD,
    FORWARD,
    INT_BYTES,
    SETUP,
    Buffer,
    Cost,
    RunContext,
    compute_not_modelled,
    elements_of_top,
    no_buffers,
    no_compute,
)
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
)

SSD = "SSD fork (weiliu89/caffe)"
SCALAR: Shape = ()  # a loss top (loss_layer.cpp)

# Each prior box is four corner coordinates; PriorBox writes them, then their four variances.
_COORDS_PER_BOX = 4
# DetectionOutput: one row per kept box, [image_id, label, confidence, xmin, ymin, xmax, ymax].
_DETECTION_ROW = 7
# DetectionEvaluate: one row per class or detection, [image_id, label, confidence, tp, fp].
_EVALUATION_ROW = 5
# AnnotatedData's box list: one row per box, [item_id, group_label, instance_id, xmin, ymin, xmax,
# ymax, difficult].
_GROUND_TRUTH_ROW = 8


def _float32(value: float) -> float:
    """The value as a C++ float holds it (the fork keeps aspect ratios in vector<float>)."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def _need_bottoms(ctx: LayerContext, needed: int, names: str) -> None:
    """Layers that declare no bottom count but read bottom[needed - 1] (Caffe would crash)."""
    check(len(ctx.bottom_shapes) >= needed,
          f"{ctx.layer.type} reads {needed} bottoms ({names}) but has {len(ctx.bottom_shapes)}")


# ---------------------------------------------------------------------------------------------
# PriorBox: prior_box_layer.cpp


def prior_aspect_ratios(param: caffe_pb2.PriorBoxParameter) -> list[float]:
    """PriorBoxLayer::LayerSetUp: ratio 1 first, then each given ratio not already present (within
    1e-6, compared as floats), followed by its reciprocal when `flip` is set."""
    ratios = [1.0]
    for ratio in param.aspect_ratio:
        if any(abs(_float32(ratio - known)) < 1e-6 for known in ratios):
            continue
        ratios.append(ratio)
        if param.flip:
            ratios.append(_float32(1.0 / ratio))
    return ratios


def priors_per_location(param: caffe_pb2.PriorBoxParameter) -> int:
    """One prior per (min_size, aspect ratio) pair, plus one per max_size (the sqrt(min*max) box)."""
    check(len(param.min_size) > 0, "must provide min_size.")
    for min_size in param.min_size:
        check(min_size > 0, "min_size must be positive.")
    count = len(prior_aspect_ratios(param)) * len(param.min_size)
    if param.max_size:
        check_op(len(param.min_size), "==", len(param.max_size),
                 "prior_box_param.min_size_size() == prior_box_param.max_size_size()")
        for min_size, max_size in zip(param.min_size, param.max_size, strict=True):
            check(max_size > min_size, "max_size must be greater than min_size.")
        count += len(param.max_size)
    return count


def _check_prior_box_settings(param: caffe_pb2.PriorBoxParameter) -> None:
    """The rest of PriorBoxLayer::LayerSetUp: variances, image size and step."""
    variances = list(param.variance)
    if len(variances) > 1:
        check_op(len(variances), "==", 4, "prior_box_param.variance_size() == 4")
    for variance in variances:
        check(variance > 0, f"Check failed: variance > 0 ({variance} vs. 0)")
    has = param.HasField
    if has("img_h") or has("img_w"):
        check(not has("img_size"), "Either img_size or img_h/img_w should be specified; not both.")
        check(as_int32(param.img_h) > 0, "img_h should be larger than 0.")
        check(as_int32(param.img_w) > 0, "img_w should be larger than 0.")
    elif has("img_size"):
        check(as_int32(param.img_size) > 0, "img_size should be larger than 0.")
    if has("step_h") or has("step_w"):
        check(not has("step"), "Either step or step_h/step_w should be specified; not both.")
        check(param.step_h > 0, "step_h should be larger than 0.")
        check(param.step_w > 0, "step_w should be larger than 0.")
    elif has("step"):
        check(param.step > 0, "step should be larger than 0.")


@shape_rule("PriorBox", counts=BlobCounts(exact_tops=1), origin=SSD)
def prior_box(ctx: LayerContext) -> LayerShapes:
    """prior_box_layer.cpp Reshape: [1, 2, H * W * priors * 4] for the feature map bottom[0]
    (H x W); channel 0 holds the boxes, channel 1 their variances. The image, bottom[1], is only
    read by Forward, for its size."""
    _need_bottoms(ctx, 1, "the feature map")
    param = ctx.layer.prior_box_param
    num_priors = priors_per_location(param)
    _check_prior_box_settings(param)
    feature = ctx.bottom
    height, width = legacy_dim(feature, 2), legacy_dim(feature, 3)
    length = as_int32(as_int32(as_int32(width * height) * num_priors) * _COORDS_PER_BOX)
    check_op(length, ">", 0, "top_shape[2] > 0")
    notes: tuple[str, ...] = ()
    if len(ctx.bottom_shapes) < 2 and not (param.HasField("img_size") or param.HasField("img_h")):
        notes = ("PriorBox has no image bottom and no img_size: Caffe's Forward would read a "
                 "bottom[1] that does not exist",)
    return LayerShapes(((1, 2, length),), notes=notes)


# ---------------------------------------------------------------------------------------------
# Permute: permute_layer.cpp


def permute_order(orders: list[int], num_axes: int) -> list[int]:
    """PermuteLayer::LayerSetUp: the listed axes first, then the others in their order."""
    chosen: list[int] = []
    for given in orders:
        axis = as_int32(given)  # the fork reads the uint32 field into an int
        check(axis < num_axes, f"order should be less than the input dimension. ({axis} vs. {num_axes})")
        check(axis not in chosen, "there are duplicate orders")
        chosen.append(axis)
    chosen.extend(axis for axis in range(num_axes) if axis not in chosen)
    check_op(num_axes, "==", len(chosen), "num_axes_ == orders.size()")
    return chosen


@shape_rule("Permute", counts=BlobCounts(exact_bottoms=1, exact_tops=1), origin=SSD)
def permute(ctx: LayerContext) -> LayerShapes:
    bottom = ctx.bottom
    order = permute_order(list(ctx.layer.permute_param.order), len(bottom))
    return LayerShapes((tuple(axis_dim(bottom, axis) for axis in order),))


# ---------------------------------------------------------------------------------------------
# Normalize: normalize_layer.cpp


@shape_rule("Normalize", counts=BlobCounts(exact_bottoms=1, exact_tops=1), origin=SSD)
def normalize(ctx: LayerContext) -> LayerShapes:
    """normalize_layer.cpp: top like bottom; one learned scale blob, a scalar (shape []) when
    channel_shared (the default), else one value per channel."""
    bottom = ctx.bottom
    check(len(bottom) >= 2, f"Number of axes of bottom blob must be >=2. ({len(bottom)} vs. 2)")
    channels = legacy_dim(bottom, 1)  # the layer sizes its buffers with the legacy accessors
    scale: Shape = SCALAR if ctx.layer.norm_param.channel_shared else (channels,)
    return LayerShapes((bottom,), (scale,))


# ---------------------------------------------------------------------------------------------
# DetectionOutput: detection_output_layer.cpp


def _check_nms(param: caffe_pb2.NonMaximumSuppressionParameter) -> None:
    check(param.nms_threshold >= 0, "nms_threshold must be non negative.")
    check(0 < param.eta <= 1, f"eta must be in (0, 1] (got {param.eta})")


def _check_prior_counts(loc: Shape, conf: Shape, priors: Shape, loc_classes: int,
                        num_classes: int) -> None:
    """DetectionOutput/MultiBoxLoss Reshape: priors come as [1, 2, 4 * P]; the location input
    must hold P * loc_classes * 4 values per image and the confidence input P * num_classes."""
    num_priors = legacy_dim(priors, 2) // _COORDS_PER_BOX
    check_op(as_int32(num_priors * loc_classes * _COORDS_PER_BOX), "==", legacy_dim(loc, 1),
             "num_priors_ * num_loc_classes_ * 4 == bottom[0]->channels()",
             "Number of priors must match number of location predictions.")
    check_op(as_int32(num_priors * num_classes), "==", legacy_dim(conf, 1),
             "num_priors_ * num_classes_ == bottom[1]->channels()",
             "Number of priors must match number of confidence predictions.")


@shape_rule("DetectionOutput", counts=BlobCounts(min_bottoms=3, max_bottoms=4, exact_tops=1),
            origin=SSD)
def detection_output(ctx: LayerContext) -> LayerShapes:
    """detection_output_layer.cpp: bottoms are locations, confidences and priors. The number of
    boxes kept is only known in Forward, so set-up gives one fake row: [1, 1, 1, 7] (keep_top_k
    does not change it)."""
    param = ctx.layer.detection_output_param
    check(param.HasField("num_classes"), "Must specify num_classes")
    num_classes = as_int32(param.num_classes)
    if param.HasField("nms_param"):
        _check_nms(param.nms_param)
    loc, conf, priors = ctx.bottom_shapes[:3]
    check_op(legacy_dim(loc, 0), "==", legacy_dim(conf, 0), "bottom[0]->num() == bottom[1]->num()")
    _check_prior_counts(loc, conf, priors, 1 if param.share_location else num_classes, num_classes)
    notes = []
    save = param.save_output_param
    for what, path in (("label map", save.label_map_file), ("name-size list", save.name_size_file)):
        if path:
            notes.append(f"Caffe reads the {what} '{path}' when it builds this layer; it must exist")
    if save.output_directory:
        notes.append(f"Caffe deletes and recreates the output directory '{save.output_directory}' "
                     "when it builds this layer")
    return LayerShapes(((1, 1, 1, _DETECTION_ROW),), notes=tuple(notes))


# ---------------------------------------------------------------------------------------------
# DetectionEvaluate: detection_evaluate_layer.cpp


@shape_rule("DetectionEvaluate", counts=BlobCounts(exact_tops=1), origin=SSD)
def detection_evaluate(ctx: LayerContext) -> LayerShapes:
    """detection_evaluate_layer.cpp: bottoms are the detections [1, 1, N, 7] and the ground truth
    [1, 1, G, 8]; the top has one row per positive class and one per detection: [1, 1, C + N, 5].
    (The layer's header misspells its bottom-count override, so Caffe checks no bottom count.)"""
    _need_bottoms(ctx, 2, "detections and ground truth")
    param = ctx.layer.detection_evaluate_param
    check(param.HasField("num_classes"), "Must provide num_classes.")
    check(param.overlap_threshold > 0, "overlap_threshold must be non negative.")
    detections, ground_truth = ctx.bottom_shapes[:2]
    for index, (shape, row) in enumerate(((detections, _DETECTION_ROW), (ground_truth, _GROUND_TRUTH_ROW))):
        check_op(legacy_dim(shape, 0), "==", 1, f"bottom[{index}]->num() == 1")
        check_op(legacy_dim(shape, 1), "==", 1, f"bottom[{index}]->channels() == 1")
        check_op(legacy_dim(shape, 3), "==", row, f"bottom[{index}]->width() == {row}")
    num_classes = as_int32(param.num_classes)
    positive_classes = num_classes if as_int32(param.background_label_id) == -1 else num_classes - 1
    rows = as_int32(positive_classes + legacy_dim(detections, 2))
    notes: tuple[str, ...] = ()
    if param.name_size_file:
        notes = (f"Caffe reads the name-size list '{param.name_size_file}' when it builds this layer; "
                 "it must exist",)
    return LayerShapes(((1, 1, rows, _EVALUATION_ROW),), notes=notes)


# ---------------------------------------------------------------------------------------------
# MultiBoxLoss: multibox_loss_layer.cpp


@shape_rule("MultiBoxLoss", counts=BlobCounts(exact_bottoms=4, exact_tops=1, auto_tops=True), origin=SSD)
def multibox_loss(ctx: LayerContext) -> LayerShapes:
    """multibox_loss_layer.cpp: bottoms are locations, confidences, priors and the ground-truth
    box list; the top is the scalar loss (a LossLayer, so Caffe adds it when none is named)."""
    param = ctx.layer.multibox_loss_param
    loc, conf, priors, ground_truth = ctx.bottom_shapes
    check(param.HasField("num_classes"), "Must provide num_classes.")
    num_classes = as_int32(param.num_classes)
    check_op(num_classes, ">=", 1, "num_classes_ >= 1", "num_classes should not be less than 1.")
    mines = param.mining_type != caffe_pb2.MultiBoxLossParameter.NONE
    if param.HasField("do_neg_mining"):
        check(param.do_neg_mining == mines,
              "do_neg_mining disagrees with mining_type (CHECK_EQ(do_neg_mining_, mining_type_ != NONE))")
    if mines:
        check(param.share_location, "Currently only support negative mining if share_location is true.")
    if param.conf_loss_type == caffe_pb2.MultiBoxLossParameter.SOFTMAX:
        background = as_int32(param.background_label_id)
        check(0 <= background < num_classes,
              "background_label_id should be within [0, num_classes) for Softmax.")
    # LossLayer::Reshape, then the layer's own checks.
    check_op(axis_dim(loc, 0), "==", axis_dim(conf, 0), "bottom[0]->shape(0) == bottom[1]->shape(0)",
             "The data and label should have the same first dimension.")
    legacy_dim(ground_truth, 2)  # the box count, read with a legacy accessor: at most 4 axes
    check_op(legacy_dim(loc, 0), "==", legacy_dim(conf, 0), "bottom[0]->num() == bottom[1]->num()")
    _check_prior_counts(loc, conf, priors, 1 if param.share_location else num_classes, num_classes)
    return LayerShapes((SCALAR,))


# ---------------------------------------------------------------------------------------------
# AnnotatedData: annotated_data_layer.cpp and the fork's DataTransformer::InferBlobShape


def _transformed_size(transform: caffe_pb2.TransformationParameter) -> tuple[int, int] | None:
    """(height, width) of a transformed image when the prototxt alone decides it, else None: a
    crop (crop_size, or crop_h / crop_w), else the size of a WARP or FIT_LARGE_SIZE_AND_PAD resize
    (FIT_SMALL_SIZE keeps each image's aspect ratio, so it depends on the data)."""
    crop_h, crop_w = as_int32(transform.crop_h), as_int32(transform.crop_w)
    if transform.crop_size:
        crop_h = crop_w = as_int32(transform.crop_size)
    resized: tuple[int, int] | None = None
    if transform.resize_param:
        # One resize in SSD; eric612's multi-scale fork lists several and shapes the blob by the first.
        resize = transform.resize_param[0]
        if resize.resize_mode != caffe_pb2.ResizeParameter.FIT_SMALL_SIZE:
            resized = (as_int32(resize.height), as_int32(resize.width))
    if resized is not None:
        check_op(resized[0], ">=", crop_h, "datum_height >= crop_h")
        check_op(resized[1], ">=", crop_w, "datum_width >= crop_w")
        return (crop_h or resized[0], crop_w or resized[1])
    if crop_h and crop_w:
        return (crop_h, crop_w)
    return None


# eric612/MobileNet-YOLO's release of the layer (annotated_data_layer.cpp, base_data_layer.cpp):
# yolo_data_type 1 lays the boxes out per image, at most 300 rows of (class, x, y, w, h).
_YOLO_BOX_ROWS = 300
_YOLO_BOX_VALUES = 5
_MOBILENET_YOLO = "MobileNet-YOLO fork (eric612/MobileNet-YOLO)"


def _annotated_label(ctx: LayerContext, batch: int) -> Shape:
    """The box list: SSD's [1, 1, boxes, 8] (one row at set-up), or with eric612's yolo_data_type 1
    [batch_size, 1, 300, 5]."""
    if ctx.layer.annotated_data_param.yolo_data_type == 1:
        return (batch, 1, _YOLO_BOX_ROWS, _YOLO_BOX_VALUES)
    return (1, 1, 1, _GROUND_TRUTH_ROW)


def _seg_label(ctx: LayerContext, data: Shape) -> Shape:
    """eric612's later releases: base_data_layer.cpp sets output_seg_labels_ when the layer has a
    third top, and DataLayerSetUp shapes it [batch_size, 1, height / seg_scales, width /
    seg_scales] of the data top (integer division), as that fork's lane_data_layer.cpp does too."""
    param = ctx.layer.annotated_data_param
    if param.seg_resize_width and param.seg_resize_height:
        # lane_data_layer.cpp puts seg_resize_width on axis 2 in DataLayerSetUp but on axis 3 in
        # load_batch: which one Caffe keeps depends on the release, so we do not guess.
        raise ShapeUnknown("the seg_label top with seg_resize_width/seg_resize_height: eric612's data "
                           "layers order the two axes differently in set-up and in each batch; pass "
                           "--input-shape for that top")
    scales = as_int32(param.seg_scales)
    check(scales != 0, "annotated_data_param.seg_scales must not be 0 (it divides the image size)")
    return (data[0], 1, data[2] // scales, data[3] // scales)


# Layer types only eric612's Caffe registers, and its annotated_data_param fields: either marks a net
# that fork builds.
_MOBILENET_YOLO_TYPES = frozenset({"Yolov3", "RegionLoss", "YoloSeg", "YoloDetectionOutput",
                                   "Yolov3DetectionOutput"})
_MOBILENET_YOLO_FIELDS = ("yolo_data_type", "yolo_data_jitter", "seg_scales", "seg_resize_width",
                          "seg_resize_height")


def _built_by_mobilenet_yolo(ctx: LayerContext) -> bool:
    param = ctx.layer.annotated_data_param
    return (not ctx.net_types.isdisjoint(_MOBILENET_YOLO_TYPES)
            or any(param.HasField(name) for name in _MOBILENET_YOLO_FIELDS))


@shape_rule("AnnotatedData", counts=BlobCounts(exact_bottoms=0, min_tops=1), origin=SSD, source=True)
def annotated_data(ctx: LayerContext) -> LayerShapes:
    """annotated_data_layer.cpp DataLayerSetUp: images [batch_size, channels, height, width] and,
    for box annotations, the box list [1, 1, boxes, 8] (at least one row) of the first datum.
    eric612/MobileNet-YOLO's release adds yolo_data_type 1 (boxes [batch, 1, 300, 5]) and a third
    top, the segmentation label; SSD's own layer fills two tops and leaves a third unshaped."""
    transform = ctx.layer.transform_param
    check(not (transform.HasField("mean_file") and len(transform.mean_value) > 0),
          "Cannot specify mean_file and mean_value at the same time")
    param = ctx.layer.data_param
    batch = as_int32(param.batch_size)
    eric612 = _built_by_mobilenet_yolo(ctx)
    check(ctx.num_tops <= (3 if eric612 else 2),
          "AnnotatedData fills two tops (three in eric612/MobileNet-YOLO's later releases); Caffe "
          "leaves any further top unshaped")
    size = _transformed_size(transform)
    label: tuple[Shape, ...] = (_annotated_label(ctx, batch),) if ctx.num_tops >= 2 else ()
    if size is None:
        labels = [",".join(str(d) for d in label[0]).replace("1,1,1,8", "1,1,B,8")] if label else []
        names = list(ctx.layer.top) + [f"top{i}" for i in range(len(ctx.layer.top), ctx.num_tops)]
        hint = " ".join(f"--input-shape {name}={dims}"
                        for name, dims in zip(names, [f"{batch},C,H,W", *labels], strict=False))
        raise ShapeUnknown(f"the image size comes from the database '{param.source}', which is never "
                           f"opened (no crop and no fixed-size resize_param); pass {hint}")
    channels = 1 if transform.force_gray else 3
    data: Shape = (batch, channels, *size)
    notes = [f"{channels} channel(s) assumed: the database '{param.source}' is never opened"]
    if label and label[0][3] == _GROUND_TRUTH_ROW:
        notes.append("the box list is shaped for one box, as Caffe shapes it when the first datum "
                     "holds one box (or none); its real row count is the first datum's box count")
    elif label:
        notes.append(f"yolo_data_type 1 ({_MOBILENET_YOLO}): room for {_YOLO_BOX_ROWS} boxes per image")
    seg: tuple[Shape, ...] = ()
    if ctx.num_tops == 3:
        seg = (_seg_label(ctx, data),)
        notes.append(f"third top: the segmentation label of {_MOBILENET_YOLO}'s later releases "
                     "(SSD's own AnnotatedData leaves it unshaped)")
    return LayerShapes((data, *label, *seg), notes=tuple(notes))


# --- The model of these fork layers beyond their shapes ------------------------------------------
# prior_box_layer.cpp writes its constant boxes in Forward; detection_evaluate_layer.cpp counts
# true/false positives on the host.
layer_model("PriorBox", "DetectionEvaluate", buffers=no_buffers, compute=no_compute)


def _permute_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """permute_layer.cpp fills permute_order_, old_steps_ and new_steps_ (Blob<int>, one per axis)."""
    return (Buffer("permute_order_, old_steps_, new_steps_ (int)", 3 * len(ctx.bottom), SETUP, INT_BYTES),)


layer_model("Permute", buffers=_permute_buffers, compute=no_compute)


def _normalize_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """normalize_layer.cpp/.cu: LayerSetUp/Reshape fill sum_channel_multiplier_ [C] and
    sum_spatial_multiplier_ [H*W] with ones; Forward squares into buffer_ (one image) and keeps the
    norms in norm_ ([N, H*W], or [N] across_spatial); Backward uses buffer_channel_ [C] and
    buffer_spatial_ [H*W]."""
    bottom = ctx.bottom
    channels, spatial = bottom[1], blob_count(bottom, 2)
    norms = bottom[0] * (1 if ctx.layer.norm_param.across_spatial else spatial)
    buffers = [Buffer("sum_channel_multiplier_", channels, SETUP), Buffer("sum_spatial_multiplier_", spatial, SETUP),
               Buffer("buffer_ (one image)", channels * spatial, FORWARD), Buffer("norm_", norms, FORWARD)]
    if ctx.backward:
        buffers += [Buffer("buffer_channel_", channels, BACKWARD), Buffer("buffer_spatial_", spatial, BACKWARD)]
    return tuple(buffers)


def _normalize_cost(ctx: RunContext) -> Cost:
    """A square-and-sum and a scale per element, a division by the norm."""
    n = elements_of_top(ctx)
    return Cost(maccs=2 * n, divisions=n)


layer_model("Normalize", buffers=_normalize_buffers, compute=_normalize_cost)


def _detection_output_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """detection_output_layer.cu decodes into bbox_preds_ (like the locations), permutes the
    confidences into conf_permute_ and, without share_location, the locations into bbox_permute_;
    the CPU Forward uses host vectors only."""
    if ctx.device != "gpu":
        return ()
    locations, confidences = blob_count(ctx.bottom_shapes[0]), blob_count(ctx.bottom_shapes[1])
    buffers = [Buffer("bbox_preds_", locations, FORWARD), Buffer("conf_permute_", confidences, FORWARD)]
    if not ctx.layer.detection_output_param.share_location:
        buffers.append(Buffer("bbox_permute_", locations, FORWARD))
    return tuple(buffers)


layer_model("DetectionOutput", buffers=_detection_output_buffers,
            compute=compute_not_modelled("non-maximum suppression depends on the scores"))


def _multibox_loss_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """multibox_loss_layer.cpp runs an inner location loss on loc_pred_/loc_gt_ [matches x 4] and an inner
    confidence loss on conf_pred_ [matches (+ mined negatives), classes] / conf_gt_; how many priors
    match is known only at run time, so the bound is taken: every prior of every image (the most the
    layer can reshape them to; SyncedMemory only grows). In Backward the predictions get diffs."""
    num, priors = ctx.bottom[0], blob_count(ctx.bottom_shapes[2]) // 8  # priors: [1, 2, P * 4]
    classes = ctx.layer.multibox_loss_param.num_classes
    boxes = num * priors
    buffers = [Buffer("loc_pred_, loc_gt_ (bound: every prior matched)", 2 * 4 * boxes, FORWARD),
               Buffer("inner location loss diff_, errors_ (bound)", 2 * 4 * boxes, FORWARD),
               Buffer("conf_pred_ (bound: every prior)", boxes * classes, FORWARD),
               Buffer("conf_gt_ (bound)", boxes, FORWARD),
               Buffer("inner confidence loss prob_ and its diff (bound)", 2 * boxes * classes, FORWARD),
               Buffer("inner softmax sum_multiplier_, scale_", classes + boxes, FORWARD),
               Buffer("loc_loss_, conf_loss_ and their diffs", 4, SETUP)]
    if ctx.backward:
        buffers.append(Buffer("loc_pred_, conf_pred_ diffs (bound)", 4 * boxes + boxes * classes, BACKWARD))
    return tuple(buffers)


layer_model("MultiBoxLoss", buffers=_multibox_loss_buffers,
            compute=compute_not_modelled("matching and hard-negative mining depend on the data"))
layer_model("AnnotatedData", buffers=prefetch_buffers, compute=no_compute, sharing=tops_in_buffer)
