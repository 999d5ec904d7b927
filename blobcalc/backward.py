"""Which layers run backward and which blobs get gradients, as Caffe's Net::Init decides it, and how
each layer runs (its RunContext, which the layer models read).

net.cpp: a layer needs backward when a bottom needs it or one of its parameters has lr_mult != 0;
then, walking back from the losses, layers that do not contribute to a loss, or whose tops all skip
back-propagation, are pruned; `force_backward` turns every layer back on (loss layers keep their
label bottom off: LossLayer::AllowForceBackward). `propagate_down` overrides a bottom's flag.
"""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc.graph import NetLayer
from blobcalc.result import LayerResult, NetAnalysis
from blobcalc.shapes.model import RunContext
from blobcalc.shapes.registry import Shape, ShapeRule, rule_for, rule_for_layer


@dataclass(frozen=True, slots=True)
class BackwardPlan:
    layer_needs: tuple[bool, ...]  # per layer: Backward() runs
    bottom_needs: tuple[tuple[bool, ...], ...]  # per layer and bottom: its gradient is computed


def backward_plan(analysis: NetAnalysis) -> BackwardPlan:
    graph_layers = analysis.graph.layers
    blob_needs: dict[str, bool] = {}
    layer_needs: list[bool] = []
    bottom_needs: list[list[bool]] = []
    for result, layer in zip(analysis.layers, graph_layers, strict=True):
        need = False
        flags: list[bool] = []
        param = layer.param
        propagate = param.propagate_down[:] if layer.bottom_refs and param.propagate_down else None
        for j, ref in enumerate(layer.bottom_refs):
            blob_need = blob_needs.get(ref.name, False)
            need |= blob_need
            flags.append(bool(propagate[j]) if propagate else blob_need)
        if result.param_shapes:
            specs = param.param
            lr_mults = [spec.lr_mult for spec in specs] if specs else []
            for i in range(len(result.param_shapes)):
                lr_mult = lr_mults[i] if i < len(lr_mults) else 1.0  # ParamSpec default lr_mult: 1
                need |= lr_mult != 0
        for ref in layer.top_refs:
            if ref.name not in blob_needs or need:
                blob_needs[ref.name] = blob_needs.get(ref.name, False) or need
        layer_needs.append(need)
        bottom_needs.append(flags)

    under_loss: set[str] = set()
    skip_backprop: set[str] = set()
    for index in range(len(graph_layers) - 1, -1, -1):
        layer, result = graph_layers[index], analysis.layers[index]
        contributes = False
        skip_propagate = True
        for j, ref in enumerate(layer.top_refs):
            weight = result.loss_weights[j] if j < len(result.loss_weights) else 0.0
            if weight or ref.name in under_loss:
                contributes = True
            if ref.name not in skip_backprop:
                skip_propagate = False
            if contributes and not skip_propagate:
                break
        if layer_needs[index] and skip_propagate:
            layer_needs[index] = False
            bottom_needs[index] = [False] * len(bottom_needs[index])
        if not contributes:
            layer_needs[index] = False
        for j, ref in enumerate(layer.bottom_refs):
            if contributes:
                under_loss.add(ref.name)
            else:
                bottom_needs[index][j] = False
            if not bottom_needs[index][j]:
                skip_backprop.add(ref.name)

    if analysis.force_backward:
        for index, layer in enumerate(graph_layers):
            layer_needs[index] = True
            rule = rule_for_layer(layer.param)
            loss_layer = rule is not None and rule.is_loss
            for j in range(len(layer.bottom_refs)):
                allow = not (loss_layer and j == 1)  # LossLayer::AllowForceBackward: not the labels
                bottom_needs[index][j] = bottom_needs[index][j] or allow
    return BackwardPlan(tuple(layer_needs), tuple(tuple(flags) for flags in bottom_needs))


def layer_model_of(result: LayerResult, layer: NetLayer) -> ShapeRule | None:
    """The registry entry that models a layer: a data layer that --input-shape replaced is an Input layer."""
    return rule_for("Input") if result.replaced_type else rule_for_layer(layer.param)


def run_contexts(analysis: NetAnalysis, *, training: bool, device: str = "gpu", engine: str = "caffe",
                 run_phase: int | None = None) -> tuple[RunContext | None, ...]:
    """How each layer runs (None for a layer whose shapes are unknown): in its own phase or in
    `run_phase`, with Backward as Net::Init plans it when `training`."""
    plan = backward_plan(analysis) if training else None
    contexts: list[RunContext | None] = []
    for index, (result, layer) in enumerate(zip(analysis.layers, analysis.graph.layers, strict=True)):
        bottoms = result.bottom_shapes
        if not result.known or None in bottoms:
            contexts.append(None)
            continue
        tops = result.top_shapes
        learned: tuple[bool, ...] = ()
        if result.param_shapes:
            specs = layer.param.param
            learned = tuple((specs[i].lr_mult if i < len(specs) else 1.0) != 0  # ParamSpec default lr_mult: 1
                            for i in range(len(result.param_shapes)))
        contexts.append(RunContext(
            layer.param, _known(bottoms), _known(tops), result.param_shapes, bool(layer.in_place) and layer.in_place[0],
            layer.phase if run_phase is None else run_phase, device, engine,
            plan.layer_needs[index] if plan else False,
            plan.bottom_needs[index] if plan else (False,) * len(bottoms), learned,
            result.loss_weights, result.datum_shape))
    return tuple(contexts)


def _known(shapes: tuple[Shape | None, ...]) -> tuple[Shape, ...]:
    return tuple(shape for shape in shapes if shape is not None)
