"""MobileNet-YOLO's LaneData layer (lane detection on TuSimple): an annotated-datum database layer
with a lane-point label top and a segmentation label top."""
from __future__ import annotations

from blobcalc import caffe_pb2
from blobcalc.shapes.data import prefetch_buffers, tops_in_buffer
from blobcalc.shapes.misc import as_int32
from blobcalc.shapes.model import no_compute
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    ShapeUnknown,
    check,
    layer_model,
    shape_rule,
    trunc_div,
)

MOBILENET_YOLO = "MobileNet-YOLO fork (eric612/MobileNet-YOLO)"

def _annotated_setting(layer: caffe_pb2.LayerParameter, name: str) -> int:
    return as_int32(getattr(layer.annotated_data_param, name))


@shape_rule("LaneData", counts=BlobCounts(exact_bottoms=0, min_tops=1, max_tops=3), origin=MOBILENET_YOLO,
            source=True)
def lane_data(ctx: LayerContext) -> LayerShapes:
    """lane_data_layer.cpp DataLayerSetUp: data [batch, C, H, W] from the first resize policy (or
    the crop); labels [batch, 1, 1, 1]; segmentation labels [batch, 1, H / seg_scales,
    W / seg_scales], or [batch, 1, seg_resize_width, seg_resize_height] (in that order) when both
    are set. The datum's channels are never read (3 assumed)."""
    batch = as_int32(ctx.layer.data_param.batch_size)
    transform = ctx.layer.transform_param
    crop = as_int32(transform.crop_size)
    resize = transform.resize_param[0] if transform.resize_param else None
    if crop > 0:
        height = width = crop
    elif resize is not None and resize.resize_mode == caffe_pb2.ResizeParameter.WARP and resize.height > 0:
        height, width = as_int32(resize.height), as_int32(resize.width)
    else:
        names = list(ctx.layer.top)
        raise ShapeUnknown(f"the image size comes from the database '{ctx.layer.data_param.source}', which "
                           f"is never opened; pass --input-shape {names[0]}={batch},3,H,W")
    tops: list[Shape] = [(batch, 3, height, width)]
    if ctx.num_tops >= 2:
        tops.append((batch, 1, 1, 1))
    if ctx.num_tops == 3:
        seg_width = _annotated_setting(ctx.layer, "seg_resize_width")
        seg_height = _annotated_setting(ctx.layer, "seg_resize_height")
        if seg_width == 0 or seg_height == 0:
            scales = _annotated_setting(ctx.layer, "seg_scales")
            check(scales != 0, "seg_scales must not be 0 (the label size is divided by it)")
            tops.append((batch, 1, trunc_div(height, scales), trunc_div(width, scales)))
        else:
            tops.append((batch, 1, seg_width, seg_height))
    return LayerShapes(tuple(tops), notes=(
        f"3 channels assumed: the database '{ctx.layer.data_param.source}' is never opened",))


# --- The model of these fork layers beyond their shapes ------------------------------------------
# lane_data_layer.cpp is a BasePrefetchingDataLayer of the MobileNet-YOLO fork: prefetch batches that
# the tops alias, as BVLC's Data layer.
layer_model("LaneData", buffers=prefetch_buffers, compute=no_compute, sharing=tops_in_buffer)
