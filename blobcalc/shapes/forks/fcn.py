"""The V1 CROP layer of FCN-era Caffe forks (longjon/caffe "future" branch, torrvision/crfasrnn)."""
from __future__ import annotations

from blobcalc.shapes.model import no_buffers, no_compute
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, check, layer_model, shape_rule

FCN = "FCN-era forks (longjon/caffe, torrvision/crfasrnn)"


@shape_rule("FCNCrop", counts=BlobCounts(exact_bottoms=2, exact_tops=1), origin=FCN)
def fcn_crop(ctx: LayerContext) -> LayerShapes:
    """crop_layer.cpp of longjon/caffe: bottom[0] cropped to bottom[1]'s height and width, at offsets
    derived from the two blobs' coordinate maps (they change which pixels, not the shape)."""
    data, reference = ctx.bottom_shapes
    check(len(data) == 4 and len(reference) == 4, "CROP takes two 4-D bottoms (num, channels, height, width)")
    check(reference[2] <= data[2] and reference[3] <= data[3],
          f"cannot crop {data[2]}x{data[3]} to the larger {reference[2]}x{reference[3]}")
    return LayerShapes(((data[0], data[1], reference[2], reference[3]),))


# --- The model of these fork layers beyond their shapes ------------------------------------------
# FCN's crop_layer.cpp copies the window in Forward with plain ints: nothing beyond the top.
layer_model("FCNCrop", buffers=no_buffers, compute=no_compute)
