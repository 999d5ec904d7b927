"""Phase, level and stage filtering of layers, as Caffe's Net::FilterNet and StateMeetsRule do it."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.errors import GraphError

PHASES = {"TRAIN": caffe_pb2.TRAIN, "TEST": caffe_pb2.TEST}


@dataclass(frozen=True, slots=True)
class NetState:
    phase: int
    level: int
    stages: frozenset[str]


def build_state(net: caffe_pb2.NetParameter, phase: int, level: int, stages: Iterable[str]) -> NetState:
    """Caffe's Net(file, phase, level, stages): phase and level replace the file's, stages add to them."""
    return NetState(phase, level, frozenset(net.state.stage) | frozenset(stages))


def meets_rule(state: NetState, rule: caffe_pb2.NetStateRule) -> bool:
    """net.cpp StateMeetsRule: every condition the rule sets must hold."""
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    if any(stage not in state.stages for stage in rule.stage):
        return False
    return not any(stage in state.stages for stage in rule.not_stage)


def filter_layers(net: caffe_pb2.NetParameter, state: NetState) -> list[tuple[caffe_pb2.LayerParameter, int]]:
    """The layers Caffe keeps for this state, each with the phase it runs in (Net::Init gives a layer
    the net's phase unless the layer sets its own)."""
    kept: list[tuple[caffe_pb2.LayerParameter, int]] = []
    for layer in net.layer:
        if layer.include and layer.exclude:
            raise GraphError(layer.name, layer.type,
                             "Specify either include rules or exclude rules; not both.")
        if layer.include:
            included = any(meets_rule(state, rule) for rule in layer.include)
        else:
            included = not any(meets_rule(state, rule) for rule in layer.exclude)
        if included:
            kept.append((layer, layer.phase if layer.HasField("phase") else state.phase))
    return kept


def phase_independent(net: caffe_pb2.NetParameter) -> bool:
    """True when the TRAIN and TEST nets have the same layers and shapes: no include/exclude rules,
    no layer phase, and no Python layer (whose rules may read the phase). V0/V1 nets are upgraded
    first, so they are never taken as independent here."""
    if net.layers or net.state.stage:
        return False
    return not any(layer.include or layer.exclude or layer.HasField("phase") or layer.type == "Python"
                   for layer in net.layer)
