"""CRF-RNN (torrvision/crfasrnn): the MultiStageMeanfield layer (V1 MULTI_STAGE_MEANFIELD)."""
from __future__ import annotations

from blobcalc.shapes.misc import as_int32, check_op, legacy_dim
from blobcalc.shapes.model import buffers_not_modelled, compute_not_modelled
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, Shape, layer_model, shape_rule

CRFASRNN = "CRF-RNN fork (torrvision/crfasrnn)"


@shape_rule("MultiStageMeanfield", counts=BlobCounts(exact_bottoms=3, exact_tops=1), origin=CRFASRNN)
def multi_stage_meanfield(ctx: LayerContext) -> LayerShapes:
    """multi_stage_meanfield.cpp: bottoms are the unaries, the previous estimate and the RGB
    image; the top is [num, channels, height, width] of the unaries; three [1, 1, C, C] blobs
    (spatial and bilateral kernel weights, compatibility matrix)."""
    iterations = as_int32(ctx.layer.multi_stage_meanfield_param.num_iterations)
    check_op(iterations, ">", 1, "num_iterations_ > 1", "Number of iterations must be greater than 1.")
    unaries = ctx.bottom
    channels = legacy_dim(unaries, 1)
    top = (legacy_dim(unaries, 0), channels, legacy_dim(unaries, 2), legacy_dim(unaries, 3))
    kernel: Shape = (1, 1, channels, channels)
    return LayerShapes((top,), (kernel,) * 3, notes=(
        "CRF-RNN initialises the kernel weights from the files spatial.par and bilateral.par in the "
        "working directory when the layer has no trained weights; it fails without them",))


# --- The model of these fork layers beyond their shapes ------------------------------------------
# multi_stage_meanfield.cpp runs num_iterations MeanfieldIteration objects, each with its own blobs
# and permutohedral lattices whose size depends on the image: neither memory nor compute is modelled.
layer_model("MultiStageMeanfield",
            buffers=buffers_not_modelled("its mean-field iterations' blobs and permutohedral lattices"),
            compute=compute_not_modelled("permutohedral filtering cost depends on the image"))
