"""Layers of the YOLO ports of eric612/MobileNet-YOLO: Reorg, the YOLOv2/v3 losses and detection
outputs, YoloSeg. (Its Upsample and AssistedExcitation live with the segmentation and attention
forks.)"""
from __future__ import annotations

from blobcalc.shapes.loss import LOSS_COUNTS, SCALAR, check_loss_bottoms
from blobcalc.shapes.misc import check_op, legacy_dim
from blobcalc.shapes.model import buffers_not_modelled, compute_not_modelled, no_buffers, no_compute
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    check,
    count,
    layer_model,
    shape_rule,
)

YOLO = "MobileNet-YOLO fork (eric612/MobileNet-YOLO)"

# The detection outputs hold one row [image_id, label, confidence, xmin, ymin, xmax, ymax] per kept
# box; Reshape sets one (fake) row because the number kept is only known after NMS in Forward.
_DETECTIONS: Shape = (1, 1, 1, 7)
_DETECTIONS_NOTE = ("one detection row at net construction; forward() resizes the top to "
                    "[1, 1, boxes kept after NMS, 7]")
# yolo_detection_output_layer.hpp / yolov3_detection_output_layer.hpp
_DETECTION_COUNTS = BlobCounts(min_bottoms=1, exact_tops=1)


@shape_rule("Reorg", counts=BlobCounts(exact_bottoms=1, exact_tops=1), origin=YOLO)
def reorg(ctx: LayerContext) -> LayerShapes:
    """reorg_layer.cpp (darknet's space-to-depth): [N, C*s*s, H/s, W/s], or with `reverse`
    [N, C/(s*s), H*s, W*s], in C++ integer division."""
    check(ctx.layer.top[0] != ctx.layer.bottom[0], "Reorg Layer does not allow in-place computation.")
    param = ctx.layer.reorg_param
    check(param.HasField("stride"), "Reorg Layer needs stride param.")
    stride = param.stride
    check(stride > 0, "stride 0 makes the layer divide by zero")
    num, channels, height, width = (legacy_dim(ctx.bottom, i) for i in range(4))
    if param.reverse:
        top = (num, channels // (stride * stride), height * stride, width * stride)
    else:
        top = (num, channels * stride * stride, height // stride, width // stride)
    return LayerShapes((top,))


@shape_rule("RegionLoss", counts=LOSS_COUNTS, origin=YOLO)
def region_loss(ctx: LayerContext) -> LayerShapes:
    """region_loss_layer.cpp (YOLOv2): a scalar loss; its Reshape skips LossLayer's check, so the
    label's first axis is free."""
    return LayerShapes((SCALAR,))


@shape_rule("Yolov3", counts=LOSS_COUNTS, origin=YOLO)
def yolov3(ctx: LayerContext) -> LayerShapes:
    """yolov3_layer.cpp: the input is side x side cells (side = its width) of `num` anchors, each
    with 4 box values, an objectness score and num_class class scores."""
    param = ctx.layer.yolov3_param
    data = ctx.bottom
    side = legacy_dim(data, 3)
    expected = side * side * param.num * (4 + param.num_class + 1)
    check_op(count(data, 1), "==", expected, "input_count == tmp_input_count",
             f"bottom[0] must hold side*side*num*(4+num_class+1) values per image (side {side} from "
             f"its width, num {param.num}, num_class {param.num_class})")
    check_loss_bottoms(ctx)
    return LayerShapes((SCALAR,))


@shape_rule("YoloDetectionOutput", counts=_DETECTION_COUNTS, origin=YOLO)
def yolo_detection_output(ctx: LayerContext) -> LayerShapes:
    """yolo_detection_output_layer.cpp: num_classes must be set; the label map file, if named, is
    read at set-up."""
    param = ctx.layer.yolo_detection_output_param
    check(param.HasField("num_classes"), "Must specify num_classes")
    notes = [_DETECTIONS_NOTE]
    if param.label_map_file:
        notes.append(f"Caffe reads the label map '{param.label_map_file}' at set-up; it is not read here")
    return LayerShapes((_DETECTIONS,), notes=tuple(notes))


@shape_rule("Yolov3DetectionOutput", counts=_DETECTION_COUNTS, origin=YOLO)
def yolov3_detection_output(ctx: LayerContext) -> LayerShapes:
    """yolov3_detection_output_layer.cpp: num_classes must be set and there is one bottom per mask
    group (mask_group_num)."""
    param = ctx.layer.yolov3_detection_output_param
    check(param.HasField("num_classes"), "Must specify num_classes")
    # groups_num_ = mask_size / mask_group_num_ comes before the check: 0 would divide by zero.
    check(param.mask_group_num != 0, "mask_group_num 0 makes the layer divide by zero")
    check_op(len(ctx.bottom_shapes), "==", param.mask_group_num, "bottom.size() == mask_group_num_")
    return LayerShapes((_DETECTIONS,), notes=(_DETECTIONS_NOTE,))


@shape_rule("YoloSeg", counts=BlobCounts(exact_bottoms=3, exact_tops=1, auto_tops=True), origin=YOLO)
def yolo_seg(ctx: LayerContext) -> LayerShapes:
    """yolo_seg.cpp: the prediction map, the segmentation label and class weights. Its "YoloSeg
    layer inputs must have the same count" CHECK_EQ compares bottom[0]->count() with itself (every
    stored release), so only LossLayer's check binds: a 2-channel prediction may meet a 1-channel
    label (forward reads the label over the prediction's count)."""
    check_loss_bottoms(ctx)
    return LayerShapes((SCALAR,))


# --- The model of these fork layers beyond their shapes ------------------------------------------
# reorg_layer.cpp rearranges into its top directly.
layer_model("Reorg", buffers=no_buffers, compute=no_compute)
# The YOLO losses and detection outputs compute on the host per box, with scratch blobs that differ
# between the forks' versions: not modelled.
layer_model("RegionLoss", "Yolov3", "YoloSeg", "YoloDetectionOutput", "Yolov3DetectionOutput",
            buffers=buffers_not_modelled("per-box scratch that differs between the YOLO forks"),
            compute=compute_not_modelled("per-box work that depends on the data"))
