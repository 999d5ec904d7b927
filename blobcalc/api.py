"""The Python API: analyze a prototxt (a file path or the text itself) into a frozen NetAnalysis."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.compute import LayerCompute, net_compute
from blobcalc.errors import InputFileError, UsageError
from blobcalc.forks import fork_fields_used
from blobcalc.graph import build_graph
from blobcalc.memory import DTYPE_BYTES
from blobcalc.memory_report import MemoryReport, build_memory_report
from blobcalc.netstate import PHASES, build_state, filter_layers
from blobcalc.parse import parse_net, read_text
from blobcalc.propagate import ShapeOptions, auto_top_count, propagate
from blobcalc.result import NetAnalysis
from blobcalc.shapes.registry import Shape
from blobcalc.solver import NetSpec, plan_solver
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
                       fork_fields_used(net), upgraded.net.force_backward)


@dataclass(frozen=True, slots=True)
class NetReport:
    """Everything `blobcalc analyze` shows: the analysis, its memory report and per-layer compute."""

    analysis: NetAnalysis
    memory: MemoryReport
    compute: tuple[LayerCompute, ...]
    notices: tuple[str, ...] = ()  # e.g. how a solver's net paths were resolved


def report(path_or_text: str | os.PathLike[str] | None = None, *, phase: str | None = None,
           level: int = 0, stages: Iterable[str] = (), batch: int | None = None,
           input_shapes: Mapping[str, Shape] | None = None, top_shapes: Mapping[str, Shape] | None = None,
           solver: str | None = None, dtype: str = "float32", device: str = "gpu") -> NetReport:
    """Analyze a net (or a solver's train net) and compute its memory and compute report.

    With `solver`, its type and regularization drive the solver-state figures; when no net is given,
    the solver's train net (TRAIN phase) is analysed and its test nets add their activations."""
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, not {dtype!r}")
    if device not in ("gpu", "cpu"):
        raise UsageError(f"device must be gpu or cpu, not {device!r}")
    given_inputs = dict(input_shapes or {})
    given_tops = dict(top_shapes or {})
    notices: list[str] = []
    settings = None
    test_analyses: list[NetAnalysis] = []
    stage_list = tuple(stages)
    if solver is not None:
        plan = plan_solver(solver)
        settings = plan.settings
        notices += plan.notices
        if path_or_text is not None:
            notices.append("--solver with a net: only the solver's settings are used, not its nets")
    if solver is not None and path_or_text is None:
        spec = plan.train_net
        notices.append(f"train net: {spec.path} ({spec.resolution})")
        source, net = _spec_net(spec)
        level, stage_list = spec.state.level, (*stage_list, *spec.state.stage)
        phase = phase or "TRAIN"
        for test_spec in plan.test_nets:
            notices.append(f"test net: {test_spec.path} ({test_spec.resolution})")
            test_source, test_net = _spec_net(test_spec)
            test_analyses.append(analyze_net(test_net, test_source, phase="TEST", level=test_spec.state.level,
                                             stages=tuple(test_spec.state.stage), batch=batch,
                                             input_shapes=given_inputs, top_shapes=given_tops))
    elif path_or_text is not None:
        source, text = load_source(path_or_text)
        net = parse_net(text, source)
        phase = phase or "TEST"
    else:
        raise UsageError("give a net file, or --solver")
    analysis = analyze_net(net, source, phase=phase, level=level, stages=stage_list, batch=batch,
                           input_shapes=given_inputs, top_shapes=given_tops)

    def reanalyze(new_phase: str, new_batch: int | None) -> NetAnalysis:
        inputs = given_inputs
        if new_batch is not None:
            # Explicit input shapes keep their other axes; the batch axis follows the request.
            inputs = {name: (new_batch, *shape[1:]) if shape else shape for name, shape in inputs.items()}
        return analyze_net(net, source, phase=new_phase, level=level, stages=stage_list,
                           batch=new_batch if new_batch is not None else batch, input_shapes=inputs,
                           top_shapes=given_tops)

    memory = build_memory_report(analysis, reanalyze, dtype=dtype, device=device, solver=settings,
                                 test_analyses=tuple(test_analyses))
    return NetReport(analysis, memory, net_compute(analysis), tuple(notices))


def _spec_net(spec: NetSpec) -> tuple[str, caffe_pb2.NetParameter]:
    if spec.inline is not None:
        return spec.path, spec.inline
    return spec.path, parse_net(read_text(spec.path), spec.path)
