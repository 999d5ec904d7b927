"""Attention-style forks: SENet's Axpy and MobileNet-YOLO's AssistedExcitation."""
from __future__ import annotations

from blobcalc.shapes.misc import axis_dim, check_op
from blobcalc.shapes.model import SETUP, Buffer, Cost, RunContext, count, elements_of_top, no_buffers
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, check, layer_model, shape_rule

SENET = "SENet fork (hujie-frank/SENet)"
MOBILENET_YOLO = "MobileNet-YOLO fork (eric612/MobileNet-YOLO)"


@shape_rule("Axpy", counts=BlobCounts(exact_bottoms=3, exact_tops=1), origin=SENET)
def axpy(ctx: LayerContext) -> LayerShapes:
    """axpy_layer.cpp: top = a * x + y with a per-channel scale a [N, C(, 1, 1)], x and y of the
    same shape; the top is shaped like x."""
    scale, x, y = ctx.bottom_shapes
    check_op(axis_dim(scale, 0), "==", axis_dim(x, 0), "bottom[0]->shape(0) == bottom[1]->shape(0)")
    check_op(axis_dim(scale, 1), "==", axis_dim(x, 1), "bottom[0]->shape(1) == bottom[1]->shape(1)")
    if len(scale) == 4:
        check_op(scale[2], "==", 1, "bottom[0]->shape(2) == 1")
        check_op(scale[3], "==", 1, "bottom[0]->shape(3) == 1")
    check(x == y, "bottom[1]->shape() == bottom[2]->shape()")
    return LayerShapes((x,))


@shape_rule("AssistedExcitation", counts=BlobCounts(exact_bottoms=3, exact_tops=1), origin=MOBILENET_YOLO)
def assisted_excitation(ctx: LayerContext) -> LayerShapes:
    """assisted_excitation_layer.cpp: adds a box mask (from the labels, bottom[1], weighted by
    bottom[2]) to bottom[0]; the top is shaped like bottom[0]. Counts as the layer's code uses
    its blobs (three bottoms, one top)."""
    return LayerShapes((ctx.bottom,))


# --- The model of these fork layers beyond their shapes ------------------------------------------

def _axpy_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """axpy_layer.cpp (SENet fork) Reshape fills spatial_sum_multiplier_ [H*W of x] with ones."""
    return (Buffer("spatial_sum_multiplier_", count(ctx.bottom_shapes[1], 2), SETUP),)


def _axpy_cost(ctx: RunContext) -> Cost:
    """a * x + y: one multiply-accumulate per output."""
    return Cost(maccs=elements_of_top(ctx))


layer_model("Axpy", buffers=_axpy_buffers, compute=_axpy_cost)


def _assisted_excitation_cost(ctx: RunContext) -> Cost:
    """The feature map scaled by the attention map: a multiply-add per output."""
    return Cost(maccs=elements_of_top(ctx))


layer_model("AssistedExcitation", buffers=no_buffers, compute=_assisted_excitation_cost)
