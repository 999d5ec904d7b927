"""Compute per layer: multiply-accumulates (1 MACC = 2 FLOPs) and counted element operations
(comparisons, additions, divisions, exponentials), as Netscope reports them, and the backward MACCs
of layers that run Backward in training. Only sums what each type's model declares
(blobcalc.shapes.model); a layer whose type has no compute model is listed, never counted as zero."""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc.backward import layer_model_of, run_contexts
from blobcalc.result import NetAnalysis
from blobcalc.shapes.model import Cost, NotModelled


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
    modelled: bool  # False: no compute model for this layer (not counted as zero silently)
    why_not_modelled: str = ""


def net_compute(analysis: NetAnalysis, *, training: bool = False) -> tuple[LayerCompute, ...]:
    """Per-layer compute; with `training`, the backward MACCs of the layers Net::Init runs backward."""
    rows = []
    contexts = run_contexts(analysis, training=training)
    for result, layer, ctx in zip(analysis.layers, analysis.graph.layers, contexts, strict=True):
        model = layer_model_of(result, layer)
        cost: Cost | None = None
        why = ""
        if ctx is None:
            why = result.reason or "its shapes are unknown"
        elif model is None or model.cost is None:
            why = "no compute model for this layer type"
        else:
            try:
                cost = model.cost(ctx)
            except NotModelled as exc:
                why = str(exc)
        if cost is None:
            rows.append(LayerCompute(result.index, result.name, result.type, 0, 0, 0, 0, 0, 0, False, why))
        else:
            rows.append(LayerCompute(result.index, result.name, result.type, cost.maccs, cost.comparisons,
                                     cost.additions, cost.divisions, cost.exponentials, cost.backward_maccs, True))
    return tuple(rows)
