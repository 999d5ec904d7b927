"""The Python API: analyze a prototxt (a file path or the text itself) into a frozen NetAnalysis."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from blobcalc import caffe_pb2
from blobcalc.errors import InputFileError, UsageError
from blobcalc.forks import fork_fields_used
from blobcalc.graph import build_graph
from blobcalc.netstate import PHASES, build_state, filter_layers
from blobcalc.parse import parse_net, read_text
from blobcalc.propagate import ShapeOptions, auto_top_count, propagate
from blobcalc.result import NetAnalysis
from blobcalc.shapes.registry import Shape
from blobcalc.upgrade import upgrade_net

TEXT_SOURCE = "<text>"


def load_source(path_or_text: str | os.PathLike[str]) -> tuple[str, str]:
    """(source name, text): a path that exists is read; a string that looks like prototxt is the text."""
    if isinstance(path_or_text, os.PathLike) or os.path.exists(path_or_text):
        path = os.fspath(path_or_text)
        return path, read_text(path)
    if "{" in path_or_text or ":" in path_or_text or "\n" in path_or_text:
        return TEXT_SOURCE, path_or_text
    raise InputFileError(path_or_text, "no such file")


def analyze(path_or_text: str | os.PathLike[str], *, phase: str = "TEST", level: int = 0,
            stages: Iterable[str] = (), batch: int | None = None,
            input_shapes: Mapping[str, Shape] | None = None,
            top_shapes: Mapping[str, Shape] | None = None) -> NetAnalysis:
    """Parse, upgrade, filter by phase/level/stage, build the DAG and propagate shapes.

    Raises a BlobcalcError subclass for anything Caffe would refuse."""
    if phase not in PHASES:
        raise UsageError(f"phase must be TRAIN or TEST, not {phase!r}")
    if batch is not None and batch <= 0:
        raise UsageError(f"batch must be a positive number, not {batch}")
    source, text = load_source(path_or_text)
    net = parse_net(text, source)
    return analyze_net(net, source, phase=phase, level=level, stages=stages, batch=batch,
                       input_shapes=input_shapes, top_shapes=top_shapes)


def analyze_net(net: caffe_pb2.NetParameter, source: str, *, phase: str = "TEST", level: int = 0,
                stages: Iterable[str] = (), batch: int | None = None,
                input_shapes: Mapping[str, Shape] | None = None,
                top_shapes: Mapping[str, Shape] | None = None) -> NetAnalysis:
    """The same as analyze() on an already parsed NetParameter."""
    upgraded = upgrade_net(net, source)
    state = build_state(upgraded.net, PHASES[phase], level, stages)
    layers = filter_layers(upgraded.net, state)
    graph = build_graph(layers, auto_top_count)
    options = ShapeOptions(dict(input_shapes or {}), dict(top_shapes or {}), batch)
    results = propagate(graph, PHASES[phase], options)
    return NetAnalysis(source, upgraded.net.name, upgraded.era, phase, level, tuple(sorted(state.stages)),
                       results, graph.input_blobs, graph.output_blobs, upgraded.notices, graph,
                       fork_fields_used(net))
