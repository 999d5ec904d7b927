"""Compute per layer: multiply-accumulates (1 MACC = 2 FLOPs) for the matrix layers, and counted
element operations (comparisons, additions, divisions, exponentials) for the others, as Netscope
reports them; backward when the layer runs Backward in training."""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc.backward import BackwardPlan
from blobcalc.graph import NetLayer
from blobcalc.result import LayerResult, NetAnalysis
from blobcalc.shapes.registry import count


@dataclass(frozen=True, slots=True)
class LayerCompute:
    index: int
    name: str
    type: str
    maccs: int  # forward multiply-accumulates
    comparisons: int
    additions: int
    divisions: int
    exponentials: int
    backward_maccs: int  # training only: data and weight gradients of the matrix layers
    modelled: bool  # False: no compute formula for this layer type (not counted as zero silently)


def _zero(result: LayerResult, modelled: bool = True) -> LayerCompute:
    return LayerCompute(result.index, result.name, result.type, 0, 0, 0, 0, 0, 0, modelled)


ELEMENTWISE_FREE = frozenset({"Input", "Data", "ImageData", "WindowData", "HDF5Data", "MemoryData",
                              "DummyData", "Split", "Silence", "Flatten", "Reshape", "Concat", "Slice",
                              "Crop", "Dropout", "Accuracy", "ArgMax", "HDF5Output", "Parameter", "Tile",
                              "BatchReindex", "Filter"})


def layer_compute(result: LayerResult, layer: NetLayer, needs_backward: bool,
                  bottom_needs: tuple[bool, ...]) -> LayerCompute:
    if not result.known:
        return _zero(result, modelled=False)
    kind = result.replaced_type or result.type
    top = result.top_shapes[0] if result.top_shapes else None
    bottom = result.bottom_shapes[0] if result.bottom_shapes else None
    out = count(top) if top is not None else 0
    if kind in ("Convolution", "Deconvolution") and result.param_shapes and bottom is not None:
        weight = result.param_shapes[0]
        per_output = count(weight, 1)  # (C_in / group) x kernel for convolution
        # Deconvolution: each input element scatters into (num_output / group) x kernel outputs.
        maccs = (out if kind == "Convolution" else count(bottom)) * per_output
        maccs *= len(result.top_shapes)  # one pass per bottom/top pair
        backward = _matrix_backward(maccs, needs_backward, bottom_needs)
        return LayerCompute(result.index, result.name, kind, maccs, 0, out if len(result.param_shapes) > 1
                            else 0, 0, 0, backward, True)
    if kind in ("InnerProduct", "Embed") and result.param_shapes:
        weight = result.param_shapes[0]
        maccs = out * (count(weight) // max(weight[0] if not layer.param.inner_product_param.transpose
                                            else weight[1], 1))
        if kind == "Embed":
            maccs = 0  # a table lookup
        backward = _matrix_backward(maccs, needs_backward, bottom_needs)
        return LayerCompute(result.index, result.name, kind, maccs, 0, out if len(result.param_shapes) > 1
                            else 0, 0, 0, backward, True)
    if kind == "Pooling" and bottom is not None:
        param = layer.param.pooling_param
        window = (bottom[2] * bottom[3]) if param.global_pooling else (
            (param.kernel_size or param.kernel_h) * (param.kernel_size or param.kernel_w))
        if param.pool == 0:  # MAX
            return LayerCompute(result.index, result.name, kind, 0, out * window, 0, 0, 0, 0, True)
        return LayerCompute(result.index, result.name, kind, 0, 0, out * window, out, 0, 0, True)
    if kind in ("Softmax", "SoftmaxWithLoss") and bottom is not None:
        n = count(bottom)
        return LayerCompute(result.index, result.name, kind, 0, n, n, n, n, 0, True)
    if kind == "LRN" and bottom is not None:
        n = count(bottom)
        size = layer.param.lrn_param.local_size
        return LayerCompute(result.index, result.name, kind, n * size, 0, n, n, n, 0, True)
    if kind in ("BatchNorm", "MVN", "Normalize") and bottom is not None:
        n = count(bottom)
        return LayerCompute(result.index, result.name, kind, 0, 0, 2 * n, n, 0, 0, True)
    if kind in ("Scale", "Bias", "Eltwise", "PReLU", "Power") and top is not None:
        operands = max(len(result.bottom_shapes) - 1, 1) if kind == "Eltwise" else 1
        if kind in ("Scale", "PReLU"):
            return LayerCompute(result.index, result.name, kind, out, 0, 0, 0, 0, 0, True)
        if kind == "Eltwise" and layer.param.eltwise_param.operation == 2:  # MAX
            return LayerCompute(result.index, result.name, kind, 0, out * operands, 0, 0, 0, 0, True)
        return LayerCompute(result.index, result.name, kind, 0, 0, out * operands, 0, 0, 0, True)
    if kind in ("ReLU", "Threshold", "Clip", "AbsVal", "ReLU6") and top is not None:
        return LayerCompute(result.index, result.name, kind, 0, out, 0, 0, 0, 0, True)
    if kind in ("Sigmoid", "TanH", "ELU", "BNLL", "Exp", "Log", "Swish", "SigmoidCrossEntropyLoss") \
            and top is not None:
        n = count(bottom) if bottom is not None else out
        return LayerCompute(result.index, result.name, kind, 0, 0, n, n, n, 0, True)
    if kind in ("EuclideanLoss",) and bottom is not None:
        n = count(bottom)
        return LayerCompute(result.index, result.name, kind, n, 0, n, 0, 0, 0, True)
    if kind in ELEMENTWISE_FREE:
        return _zero(result)
    return _zero(result, modelled=False)


def _matrix_backward(maccs: int, needs_backward: bool, bottom_needs: tuple[bool, ...]) -> int:
    # The weight gradient costs one forward's worth of MACCs, the bottom gradient another.
    if not needs_backward:
        return 0
    return maccs * (1 + (1 if any(bottom_needs) else 0))


def net_compute(analysis: NetAnalysis, plan: BackwardPlan | None = None) -> tuple[LayerCompute, ...]:
    """Per-layer compute; with a backward plan (training), the backward MACCs of matrix layers."""
    rows = []
    for index, (result, layer) in enumerate(zip(analysis.layers, analysis.graph.layers, strict=True)):
        needs = plan.layer_needs[index] if plan is not None else False
        bottoms = plan.bottom_needs[index] if plan is not None else ()
        rows.append(layer_compute(result, layer, needs, bottoms))
    return tuple(rows)
