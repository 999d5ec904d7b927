"""Segmentation forks: SegNet/ENet (BN, Upsample, DenseImageData) and PSPNet/DeepLab (BN, Interp,
ImageSegData, SegAccuracy); also the nearest-neighbour Upsample of YOLOv3 ports."""
from __future__ import annotations

from collections.abc import Sequence

from blobcalc import caffe_pb2
from blobcalc.shapes.misc import as_int32, check_op, legacy_dim
from blobcalc.shapes.model import (
    SETUP,
    Buffer,
    Cost,
    RunContext,
    buffers_not_modelled,
    elements_of_bottom,
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
    trunc_div,
)

SEGNET = "SegNet fork (alexgkendall/caffe-segnet)"
PSPNET = "PSPNet fork (hszhao/PSPNet)"
MOBILENET_YOLO = "MobileNet-YOLO fork (eric612/MobileNet-YOLO)"

# The bn_param fields each fork's BNParameter has (our schema merges both into one message).
_SEGNET_BN_FIELDS = ("scale_filler", "shift_filler", "bn_mode")
_PSPNET_BN_FIELDS = ("slope_filler", "bias_filler", "momentum", "eps", "frozen", "engine")


def legacy_4d(shape: Shape) -> Shape:
    """(num(), channels(), height(), width()) of a blob, as the 4-D legacy accessors read it."""
    return tuple(legacy_dim(shape, i) for i in range(4))


def unknown_tops(ctx: LayerContext, why: str, patterns: Sequence[str]) -> ShapeUnknown:
    """ShapeUnknown naming the --input-shape options that would replace a data layer's tops."""
    names = list(ctx.layer.top) + [f"top{i}" for i in range(len(ctx.layer.top), ctx.num_tops)]
    options = " ".join(f"--input-shape {name}={pattern}"
                       for name, pattern in zip(names, patterns, strict=False))
    return ShapeUnknown(f"{why}; pass {options}")


@shape_rule("BN", counts=BlobCounts(exact_bottoms=1, min_tops=1, max_tops=3), origin=f"{SEGNET}; {PSPNET}")
def bn(ctx: LayerContext) -> LayerShapes:
    """Two forks register "BN". SegNet/ENet (bn_layer.cpp): scale and shift [1, C, 1, 1], a 4-D top
    from the legacy accessors and, in LEARN mode, up to two more tops (batch mean and variance,
    [1, C, 1, 1]; MaxTopBlobs is 3 in LEARN mode, else 1). PSPNet (bn_layer.cpp, from yjxiong's
    Caffe): exactly one top shaped like the bottom and four [1, C, 1, 1] blobs (slope, bias,
    moving mean, moving variance). Which one a layer means is read from its bn_param fields."""
    param = ctx.layer.bn_param
    segnet_fields = [name for name in _SEGNET_BN_FIELDS if param.HasField(name)]
    pspnet_fields = [name for name in _PSPNET_BN_FIELDS if param.HasField(name)]
    check(not (segnet_fields and pspnet_fields),
          f"bn_param mixes SegNet's fields ({', '.join(segnet_fields)}) with PSPNet's "
          f"({', '.join(pspnet_fields)}); neither fork's Caffe has both")
    bottom = ctx.bottom
    statistic: Shape = (1, legacy_dim(bottom, 1), 1, 1)
    # Without distinguishing fields, more than two param specs can only mean PSPNet's four blobs
    # (SegNet's BN would refuse them: too many params).
    if pspnet_fields or (not segnet_fields and len(ctx.layer.param) > 2):
        check_op(ctx.num_tops, "==", 1, "top.size() == 1", "BN Layer produces 1 top blob(s) as output.")
        notes = () if pspnet_fields else (
            "bn_param sets no field of either fork; PSPNet's BN assumed from its 4 param specs",)
        return LayerShapes((bottom,), (statistic,) * 4, notes)
    max_tops = 3 if param.bn_mode == caffe_pb2.BNParameter.LEARN else 1
    check(ctx.num_tops <= max_tops, f"BN Layer produces at most {max_tops} top blob(s) as output.")
    notes = () if segnet_fields else (
        "bn_param sets no field of either fork; SegNet's BN assumed (2 parameter blobs; "
        "PSPNet's BN has 4)",)
    tops = (legacy_4d(bottom),) + (statistic,) * (ctx.num_tops - 1)
    return LayerShapes(tops, (statistic, statistic), notes)


@shape_rule("Upsample", counts=BlobCounts(min_bottoms=1, max_bottoms=2, exact_tops=1),
            origin=f"{SEGNET}; {MOBILENET_YOLO}")
def upsample(ctx: LayerContext) -> LayerShapes:
    """Two forks register "Upsample": SegNet's unpooling reads the pooling mask as its second
    bottom; the YOLOv3 ports' nearest-neighbour upsampling has one bottom."""
    if len(ctx.bottom_shapes) == 2:
        return _segnet_upsample(ctx)
    return _nearest_upsample(ctx)


def _segnet_upsample(ctx: LayerContext) -> LayerShapes:
    """SegNet upsample_layer.cpp: the exact size upsample_h x upsample_w, else height * scale_h
    (minus 1 with pad_out_h) and width likewise."""
    param = ctx.layer.upsample_param
    has = param.HasField
    check((has("upsample_h") and has("upsample_w")) or (not has("scale") and has("scale_h") and has("scale_w"))
          or (not has("scale_h") and not has("scale_w")),
          "upsample_h & upsample_w are required, else (DEPRECATED) scale OR scale_h & scale_w are required.")
    exact: tuple[int, int] | None = None
    if has("upsample_h") and has("upsample_w"):
        exact = (as_int32(param.upsample_h), as_int32(param.upsample_w))
        check_op(exact[0], ">", 1, "upsample_h_ > 1")
        check_op(exact[1], ">", 1, "upsample_w_ > 1")
        scale_h = scale_w = 0
    else:
        if not has("scale_h"):
            scale_h = scale_w = as_int32(param.scale)
            check_op(scale_h, ">", 1, "scale_h_ > 1")
        else:
            scale_h, scale_w = as_int32(param.scale_h), as_int32(param.scale_w)
            check_op(scale_h, ">", 1, "scale_h_ > 1")
            check_op(scale_w, ">", 1, "scale_w_ > 1")
        check(not param.pad_out_h or scale_h == 2, "Output height padding compensation requires "
              "scale_h == 2, otherwise the output size is ill-defined.")
        check(not param.pad_out_w or scale_w == 2, "Output width padding compensation requires "
              "scale_w == 2, otherwise the output size is ill-defined.")
    data, mask = ctx.bottom_shapes
    check_op(len(data), "==", 4, "4 == bottom[0]->num_axes()",
             "Input must have 4 axes, corresponding to (num, channels, height, width)")
    check_op(len(mask), "==", 4, "4 == bottom[1]->num_axes()",
             "Input mask must have 4 axes, corresponding to (num, channels, height, width)")
    for axis, accessor in enumerate(("num", "channels", "height", "width")):
        check_op(data[axis], "==", mask[axis], f"bottom[0]->{accessor}() == bottom[1]->{accessor}()")
    if exact is None or exact[0] <= 0 or exact[1] <= 0:
        exact = (data[2] * scale_h - int(param.pad_out_h), data[3] * scale_w - int(param.pad_out_w))
    return LayerShapes(((data[0], data[1], *exact),))


def _nearest_upsample(ctx: LayerContext) -> LayerShapes:
    """eric612/MobileNet-YOLO upsample_layer.cpp: the last two axes times scale."""
    bottom = ctx.bottom
    check(len(bottom) >= 2, f"Upsample scales the last two axes; the bottom has {len(bottom)}")
    scale = as_int32(ctx.layer.upsample_param.scale)
    top = (*bottom[:-2], bottom[-2] * scale, bottom[-1] * scale)
    return LayerShapes((top,))


@shape_rule("Interp", counts=BlobCounts(min_bottoms=1, exact_tops=1), origin=PSPNET)
def interp(ctx: LayerContext) -> LayerShapes:
    """PSPNet's interp_layer.cpp (DeepLab's, with interp_type and a second bottom): exactly one
    way to give the output size; pad_beg/pad_end crop the input first."""
    param = ctx.layer.interp_param
    has = param.HasField
    check(param.interp_type in ("bilinear", "nearest_neighbor"),
          "Interp type error! bilinear or nearest_neighbor.")
    num_bottoms = len(ctx.bottom_shapes)
    check_op(num_bottoms, "<=", 2, "bottom.size() <= 2", "bottom number of interp layer should be 1 or 2 ")
    num_specs = (int(has("zoom_factor")) + int(has("shrink_factor")) + int(has("height") and has("width"))
                 + int(num_bottoms == 2))
    check_op(num_specs, "==", 1, "num_specs == 1", "Output dimension specified either by zoom factor or "
             "shrink factor or the 2nd bottom or explicitly")
    check_op(param.pad_beg, "<=", 0, "pad_beg_ <= 0", "Only supports non-pos padding (cropping) for now")
    check_op(param.pad_end, "<=", 0, "pad_end_ <= 0", "Only supports non-pos padding (cropping) for now")
    num, channels, height, width = legacy_4d(ctx.bottom)
    height_eff = height + param.pad_beg + param.pad_end
    width_eff = width + param.pad_beg + param.pad_end
    if has("zoom_factor"):
        check_op(param.zoom_factor, ">=", 1, "zoom_factor >= 1", "Zoom factor must be positive")
        out = (height_eff + (height_eff - 1) * (param.zoom_factor - 1),
               width_eff + (width_eff - 1) * (param.zoom_factor - 1))
    elif has("shrink_factor"):
        check_op(param.shrink_factor, ">=", 1, "shrink_factor >= 1", "Shrink factor must be positive")
        out = (trunc_div(height_eff - 1, param.shrink_factor) + 1,
               trunc_div(width_eff - 1, param.shrink_factor) + 1)
    elif has("height") and has("width"):
        out = (param.height, param.width)
    else:
        reference = ctx.bottom_shapes[1]
        out = (legacy_dim(reference, 2), legacy_dim(reference, 3))
    check_op(height_eff, ">", 0, "height_in_eff_ > 0", "height should be positive")
    check_op(width_eff, ">", 0, "width_in_eff_ > 0", "width should be positive")
    check_op(out[0], ">", 0, "height_out_ > 0", "height should be positive")
    check_op(out[1], ">", 0, "width_out_ > 0", "width should be positive")
    return LayerShapes(((num, channels, *out),))


@shape_rule("DenseImageData", counts=BlobCounts(exact_bottoms=0, exact_tops=2), origin=SEGNET, source=True)
def dense_image_data(ctx: LayerContext) -> LayerShapes:
    """SegNet's dense_image_data_layer.cpp (ENet's adds crop_height/crop_width and
    label_divide_factor): data [batch, 3 or 1, H, W] and label map [batch, 1, H, W], H x W from
    the crop, else new_height x new_width, else the first image (never read here)."""
    param = ctx.layer.dense_image_data_param
    new_height, new_width = as_int32(param.new_height), as_int32(param.new_width)
    check((new_height == 0 and new_width == 0) or (new_height > 0 and new_width > 0),
          "Current implementation requires new_height and new_width to be set at the same time.")
    crop_height, crop_width = as_int32(param.crop_height), as_int32(param.crop_width)
    check((crop_height == 0 and crop_width == 0) or (crop_height > 0 and crop_width > 0),
          "Current implementation requires crop_height and crop_width to be set at the same time.")
    channels = 3 if param.is_color else 1
    batch = as_int32(param.batch_size)
    crop = as_int32(ctx.layer.transform_param.crop_size)
    if crop_height > 0:
        data: Shape = (batch, channels, crop_height, crop_width)
        label: Shape = (batch, 1, crop_height, crop_width)
    elif crop > 0:
        data, label = (batch, channels, crop, crop), (batch, 1, crop, crop)
    elif new_height > 0:
        divide = as_int32(param.label_divide_factor)
        check(divide != 0, "label_divide_factor must not be 0 (the label size is divided by it)")
        data = (batch, channels, new_height, new_width)
        label = (batch, 1, trunc_div(new_height, divide), trunc_div(new_width, divide))
    else:
        raise unknown_tops(ctx, f"the image size comes from the first image listed in '{param.source}', "
                                "which is never read", [f"{batch},{channels},H,W", f"{batch},1,H,W"])
    return LayerShapes((data, label))


@shape_rule("ImageSegData", counts=BlobCounts(exact_bottoms=0, exact_tops=3, auto_tops=True), origin=PSPNET,
            source=True)
def image_seg_data(ctx: LayerContext) -> LayerShapes:
    """PSPNet's image_seg_data_layer.cpp (from DeepLab): data [batch, C, crop, crop], label
    [batch, 1, crop, crop] and the image sizes [batch, 1, 1, 2] (a third top Caffe adds when the
    net declares two)."""
    transform = ctx.layer.transform_param
    check(not transform.HasField("mean_file"), "ImageSegDataLayer does not support mean file")
    param = ctx.layer.image_data_param
    new_height, new_width = as_int32(param.new_height), as_int32(param.new_width)
    check((new_height == 0 and new_width == 0) or (new_height > 0 and new_width > 0),
          "Current implementation requires new_height and new_width to be set at the same time.")
    channels = 3 if param.is_color else 1
    batch = as_int32(param.batch_size)
    crop = as_int32(transform.crop_size)
    if crop > 0:
        height = width = crop
    elif new_height > 0:
        height, width = new_height, new_width
    else:
        raise unknown_tops(ctx, f"the image size comes from the first image listed in '{param.source}', "
                                "which is never read",
                           [f"{batch},{channels},H,W", f"{batch},1,H,W", f"{batch},1,1,2"])
    return LayerShapes(((batch, channels, height, width), (batch, 1, height, width), (batch, 1, 1, 2)))


@shape_rule("SegAccuracy", counts=BlobCounts(exact_bottoms=2, exact_tops=1), origin=PSPNET)
def seg_accuracy(ctx: LayerContext) -> LayerShapes:
    """PSPNet's seg_accuracy_layer.cpp: scores [N, C, H, W] against labels [N, 1, H, W]; the top
    holds pixel accuracy, mean recall and mean IoU: [1, 1, 1, 3]."""
    scores, labels = (legacy_4d(shape) for shape in ctx.bottom_shapes)
    check_op(1, "<=", scores[1], "1 <= bottom[0]->channels()",
             "top_k must be less than or equal to the number of channels (classes).")
    check_op(scores[0], "==", labels[0], "bottom[0]->num() == bottom[1]->num()",
             "The data and label should have the same number.")
    check_op(labels[1], "==", 1, "bottom[1]->channels() == 1", "The label should have one channel.")
    check_op(scores[2], "==", labels[2], "bottom[0]->height() == bottom[1]->height()",
             "The data should have the same height as label.")
    check_op(scores[3], "==", labels[3], "bottom[0]->width() == bottom[1]->width()",
             "The data should have the same width as label.")
    return LayerShapes(((1, 1, 1, 3),))


# --- The model of these fork layers beyond their shapes ------------------------------------------

def _bn_cost(ctx: RunContext) -> Cost:
    """SegNet's / PSPNet's BN: normalize (a subtraction and a division) then scale and shift (a
    multiply-add) per element."""
    n = elements_of_bottom(ctx)
    return Cost(maccs=n, additions=2 * n, divisions=n)


# bn_layer.cpp differs between SegNet's and PSPNet's forks (batch and spatial statistics blobs,
# buffer_blob_, x_norm_ in LEARN mode): not modelled.
layer_model("BN", buffers=buffers_not_modelled("its statistics and normalization blobs differ between forks"),
            compute=_bn_cost)
# upsample_layer.cpp scatters through the pooling mask (SegNet) or repeats pixels (MobileNet-YOLO).
layer_model("Upsample", buffers=no_buffers, compute=no_compute)


def _interp_cost(ctx: RunContext) -> Cost:
    """interp_layer.cpp: bilinear, four multiply-adds per output."""
    return Cost(maccs=4 * elements_of_top(ctx))


layer_model("Interp", buffers=no_buffers, compute=_interp_cost)


def _one_prefetch_batch(ctx: RunContext) -> tuple[Buffer, ...]:
    """SegNet's and DeepLab/PSPNet's BasePrefetchingDataLayer (2015 Caffe): one prefetch batch of every
    top, copied into the tops in Forward."""
    return tuple(Buffer(f"prefetch batch of top {i}", blob_count(shape), SETUP)
                 for i, shape in enumerate(ctx.top_shapes))


layer_model("DenseImageData", "ImageSegData", buffers=_one_prefetch_batch, compute=no_compute)


def _seg_accuracy_cost(ctx: RunContext) -> Cost:
    return Cost(comparisons=elements_of_bottom(ctx))


layer_model("SegAccuracy", buffers=no_buffers, compute=_seg_accuracy_cost)
