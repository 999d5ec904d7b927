"""The Python API: analyze a prototxt (a file path or the text itself) into a frozen NetAnalysis."""
from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blobcalc import caffe_pb2
from blobcalc.compute import LayerCompute, net_compute
from blobcalc.errors import BlobcalcError, GraphError, InputFileError, ParseError, UsageError
from blobcalc.forks import fork_fields_used
from blobcalc.graph import NetGraph, build_graph
from blobcalc.memory import DEFAULT_ENGINE, DTYPE_BYTES, ENGINES
from blobcalc.memory_report import MemoryReport, build_memory_report
from blobcalc.netstate import PHASES, build_state, filter_layers, phase_independent
from blobcalc.parse import MAX_TEXT_BYTES, SkippedField, decode_text, parse_net, read_text
from blobcalc.plugins import load_rule_files
from blobcalc.propagate import ShapeOptions, auto_top_count, propagate
from blobcalc.result import NetAnalysis
from blobcalc.shapes.registry import Shape, rule_for_layer
from blobcalc.solver import NetSpec, is_solver_text, plan_solver
from blobcalc.upgrade import upgrade_net

TEXT_SOURCE = "<text>"
STDIN, STDIN_SOURCE = "-", "<stdin>"  # a net read from standard input, as Unix tools take "-"
MAX_NET_BYTES = MAX_TEXT_BYTES  # 256 MiB: a bigger net file is refused with its size, never read


def load_source(path_or_text: str | os.PathLike[str], max_bytes: int = MAX_NET_BYTES) -> tuple[str, str]:
    """(source name, text): a path that exists is read; "-" reads standard input (as "<stdin>"); a
    string that looks like prototxt is the text. A file (or text) of more than `max_bytes` bytes is
    refused with an InputFileError."""
    if path_or_text == STDIN:
        data = sys.stdin.buffer.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InputFileError(STDIN_SOURCE, f"holds more than {max_bytes} bytes, over the limit")
        return STDIN_SOURCE, decode_text(data, STDIN_SOURCE)
    if isinstance(path_or_text, os.PathLike) or os.path.exists(path_or_text):
        path = os.fspath(path_or_text)
        return path, read_text(path, max_bytes)
    if "{" in path_or_text or ":" in path_or_text or "\n" in path_or_text:
        if len(path_or_text) > max_bytes:
            raise InputFileError(TEXT_SOURCE, f"text of {len(path_or_text)} characters, over the limit of "
                                              f"{max_bytes} bytes")
        return TEXT_SOURCE, path_or_text
    raise InputFileError(path_or_text, "no such file")


def analyze(path_or_text: str | os.PathLike[str], *, phase: str | None = None, level: int = 0,
            stages: Iterable[str] = (), batch: int | None = None,
            input_shapes: Mapping[str, Shape] | None = None,
            top_shapes: Mapping[str, Shape] | None = None, proto: str | None = None,
            allow_unknown_fields: bool = False, rules: Sequence[str] = (), rois: int | None = None,
            datum_shapes: Mapping[str, Shape] | None = None) -> NetAnalysis:
    """Parse, upgrade, filter by phase/level/stage, build the DAG and propagate shapes.

    `proto`: read the net with a fork's caffe.proto (blobcalc.fork_schema); `allow_unknown_fields`: skip
    fields the schema lacks, each listed in the notices; `rules`: user rule files (blobcalc.plugins);
    `rois`: the number of regions detection heads are sized for (proposal layers' first axis).
    Without `phase`, TEST, or TRAIN when only TRAIN builds (analyze_net_that_builds).
    `datum_shapes`: {data layer: (C, H, W)} of the records its database holds (--datum-shape).
    Raises a BlobcalcError subclass for anything Caffe would refuse."""
    if phase is not None and phase not in PHASES:
        raise UsageError(f"phase must be TRAIN or TEST, not {phase!r}")
    if batch is not None and batch <= 0:
        raise UsageError(f"batch must be a positive number, not {batch}")
    _check_rois(rois)
    load_rule_files(rules)
    default_phase = "TEST"
    try:
        source, net, read_notices = _load_net(path_or_text, proto, allow_unknown_fields)
    except ParseError:
        solver_file = solver_given_as_net(path_or_text)
        if solver_file is None:
            raise
        # A solver where a net is expected: its train net, in TRAIN, with the state the solver gives it.
        spec = plan_solver(solver_file).train_net
        source, net, read_notices = _spec_net(spec, proto, allow_unknown_fields)
        read_notices = (f"{solver_file} is a solver, not a net: analysed as --solver {solver_file}",
                        f"train net: {spec.path} ({spec.resolution})", *read_notices)
        level, stages, default_phase = spec.state.level, (*stages, *spec.state.stage), "TRAIN"
    return _with_notices(analyze_net_that_builds(net, source, phase=phase, default_phase=default_phase, level=level,
                                                 stages=stages, batch=batch, input_shapes=input_shapes,
                                                 top_shapes=top_shapes, rois=rois,
                                                 datum_shapes=datum_shapes),
                         read_notices)


def solver_given_as_net(path_or_text: str | os.PathLike[str]) -> str | None:
    """The path of a solver file given where a net was expected (it failed to parse as a net), or None."""
    path = os.fspath(path_or_text)
    if not os.path.isfile(path):
        return None
    try:
        return path if is_solver_text(read_text(path, MAX_NET_BYTES)) else None
    except BlobcalcError:
        return None


def analyze_net(net: caffe_pb2.NetParameter, source: str, *, phase: str = "TEST", level: int = 0,
                stages: Iterable[str] = (), batch: int | None = None,
                input_shapes: Mapping[str, Shape] | None = None,
                top_shapes: Mapping[str, Shape] | None = None, rois: int | None = None,
                datum_shapes: Mapping[str, Shape] | None = None) -> NetAnalysis:
    """The same as analyze() on an already parsed NetParameter."""
    upgraded = upgrade_net(net, source)
    state = build_state(upgraded.net, PHASES[phase], level, stages)
    layers = filter_layers(upgraded.net, state)
    graph = build_graph(layers, auto_top_count)
    options = ShapeOptions(dict(input_shapes or {}), dict(top_shapes or {}), batch, rois, dict(datum_shapes or {}))
    results = propagate(graph, PHASES[phase], options)
    notices = (*upgraded.notices, *duplicate_name_notices(graph))
    return NetAnalysis(source, upgraded.net.name, upgraded.era, phase, level, tuple(sorted(state.stages)),
                       results, graph.input_blobs, graph.output_blobs, notices, graph,
                       fork_fields_used(net), upgraded.net.force_backward)


def analyze_net_that_builds(net: caffe_pb2.NetParameter, source: str, *, phase: str | None = None,
                            default_phase: str = "TEST", **options: Any) -> NetAnalysis:
    """analyze_net() in `phase`. Without one: in `default_phase`, or in the other phase when the default
    one has no producer for a bottom and the other builds (a train.prototxt whose data layer is only
    included in TRAIN), with `phase_notice` saying so. A phase that was asked for and fails that way
    names the phase that builds in the error. `options` are analyze_net()'s."""
    chosen = phase or default_phase
    try:
        return analyze_net(net, source, phase=chosen, **options)
    except GraphError as exc:
        if not exc.missing_bottom:
            raise
        other = "TRAIN" if chosen == "TEST" else "TEST"
        try:
            analysis = analyze_net(net, source, phase=other, **options)
        except BlobcalcError as other_error:
            if str(other_error) == str(exc):
                raise exc from None  # the same layers in both phases: nothing to tell about phases
            raise GraphError(exc.layer, exc.layer_type, f"{exc.reason} in the {chosen} phase; the {other} phase "
                             f"does not build either: {other_error}", exc.missing_bottom) from None
        if phase is not None:
            raise GraphError(exc.layer, exc.layer_type, f"{exc.reason} in the {chosen} phase; the {other} phase "
                             f"builds: try --phase {other}", exc.missing_bottom) from None
        failure = exc
    notice = (f"phase {other}: the net does not build in the {chosen} phase (layer '{failure.layer}' needs bottom "
              f"'{failure.missing_bottom}', which only the {other} phase produces); --phase {chosen} shows the error")
    return dataclasses.replace(analysis, notices=(notice, *analysis.notices), phase_notice=notice)


def duplicate_name_notices(graph: NetGraph) -> tuple[str, ...]:
    """Net::Init accepts two layers of one name; say so, since Caffe then matches trained weights
    to the first layer of that name only (Net::CopyTrainedLayersFrom looks names up in order)."""
    positions: dict[str, list[int]] = {}
    for layer in graph.layers:
        positions.setdefault(layer.name, []).append(layer.index)
    return tuple(f"layer name '{name}' is used by {len(found)} layers (#{', #'.join(map(str, found))}): Caffe "
                 "accepts it, but trained weights go to the first layer of that name only"
                 for name, found in positions.items() if len(found) > 1)


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
           solver: str | None = None, dtype: str = "float32", device: str = "gpu", proto: str | None = None,
           allow_unknown_fields: bool = False, rules: Sequence[str] = (), rois: int | None = None,
           assume_loss: bool = True, engine: str = DEFAULT_ENGINE,
           datum_shapes: Mapping[str, Shape] | None = None) -> NetReport:
    """Analyze a net (or a solver's train net) and compute its memory and compute report.
    `proto`, `allow_unknown_fields` and `rules` are analyze()'s, for every net read. `assume_loss`:
    a TRAIN net without any loss weight (a deploy net) is trained with a loss on its outputs, as a user
    would train it (MemoryReport.assumed_loss names them); False gives Caffe's literal answer, no backward.

    With `solver`, its type and regularization drive the solver-state figures; when no net is given,
    the solver's train net (TRAIN phase) is analysed and its test nets add their activations."""
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, not {dtype!r}")
    if device not in ("gpu", "cpu"):
        raise UsageError(f"device must be gpu or cpu, not {device!r}")
    _check_rois(rois)
    if engine not in ENGINES:
        raise UsageError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    given_datums = dict(datum_shapes or {})
    given_inputs = dict(input_shapes or {})
    given_tops = dict(top_shapes or {})
    notices: list[str] = []
    settings = None
    test_analyses: list[NetAnalysis] = []
    stage_list = tuple(stages)
    load_rule_files(rules)
    loaded = None
    if path_or_text is not None:
        try:
            loaded = _load_net(path_or_text, proto, allow_unknown_fields)
        except ParseError:
            solver_file = solver_given_as_net(path_or_text)
            if solver_file is None or solver is not None:
                raise
            solver, path_or_text = solver_file, None
            notices.append(f"{solver_file} is a solver, not a net: analysed as --solver {solver_file}")
    if solver is not None:
        plan = plan_solver(solver)
        settings = plan.settings
        notices += plan.notices
        if path_or_text is not None:
            notices.append("--solver with a net: only the solver's settings are used, not its nets")
    if solver is not None and path_or_text is None:
        spec = plan.train_net
        notices.append(f"train net: {spec.path} ({spec.resolution})")
        source, net, read_notices = _spec_net(spec, proto, allow_unknown_fields)
        level, stage_list = spec.state.level, (*stage_list, *spec.state.stage)
        default_phase = "TRAIN"
        for test_spec in plan.test_nets:
            notices.append(f"test net: {test_spec.path} ({test_spec.resolution})")
            test_source, test_net, test_notices = _spec_net(test_spec, proto, allow_unknown_fields)
            notices += [f"test net {test_source}: {notice}" for notice in test_notices]
            test_analyses.append(analyze_net(test_net, test_source, phase="TEST", level=test_spec.state.level,
                                             stages=tuple(test_spec.state.stage), batch=batch,
                                             input_shapes=given_inputs, top_shapes=given_tops, rois=rois,
                                             datum_shapes=given_datums))
    elif loaded is not None:
        source, net, read_notices = loaded
        default_phase = "TEST"
    else:
        raise UsageError("give a net file, or --solver")
    analysis = _with_notices(analyze_net_that_builds(net, source, phase=phase, default_phase=default_phase,
                                                     level=level, stages=stage_list, batch=batch,
                                                     input_shapes=given_inputs, top_shapes=given_tops, rois=rois,
                                                     datum_shapes=given_datums),
                             read_notices)

    def at_batch(base: NetAnalysis, new_batch: int) -> NetAnalysis:
        # Explicit input shapes keep their other axes; the batch axis follows the request. The same
        # phase builds the same net, so only the shapes are propagated again, over the same graph.
        inputs = {name: (new_batch, *shape[1:]) if shape else shape for name, shape in given_inputs.items()}
        options = ShapeOptions(inputs, dict(given_tops), new_batch, rois, given_datums)
        return dataclasses.replace(base, layers=propagate(base.graph, PHASES[base.phase], options))

    train_analysis = None
    if analysis.phase != "TRAIN" and not same_in_both_phases(net, analysis):
        train_analysis = functools.partial(analyze_net, net, source, phase="TRAIN", level=level, stages=stage_list,
                                           batch=batch, input_shapes=given_inputs, top_shapes=given_tops,
                                           rois=rois, datum_shapes=given_datums)
    # A TRAIN re-analysis is the parsed net's only later reader: otherwise let it go now (the analysis
    # keeps what it needs, which for a legacy net is its upgraded copy).
    del net
    memory = build_memory_report(analysis, at_batch, train_analysis, dtype=dtype, device=device, engine=engine,
                                 solver=settings,
                                 test_analyses=tuple(test_analyses), assume_loss=assume_loss, requested_batch=batch)
    return NetReport(analysis, memory, net_compute(analysis), tuple(notices))


def same_in_both_phases(net: caffe_pb2.NetParameter, analysis: NetAnalysis) -> bool:
    """True when the net's TRAIN and TEST phases have the same layers with the same shapes: no
    phase-dependent layer (netstate.phase_independent) and no user rule in `analysis`, since
    a user's rule may read the phase."""
    return phase_independent(net) and all(
        rule is None or rule.compute.__module__.startswith("blobcalc.")
        for rule in map(rule_for_layer, (layer.param for layer in analysis.graph.layers)))


def _check_rois(rois: int | None) -> None:
    if rois is not None and rois <= 0:
        raise UsageError(f"rois must be a positive number, not {rois}")


def _spec_net(spec: NetSpec, proto: str | None,
              allow_unknown_fields: bool) -> tuple[str, caffe_pb2.NetParameter, tuple[str, ...]]:
    if spec.inline is not None:
        return spec.path, spec.inline, ()
    return (spec.path, *_read_net(read_text(spec.path, MAX_NET_BYTES), spec.path, proto, allow_unknown_fields))


def _load_net(path_or_text: str | os.PathLike[str], proto: str | None,
              allow_unknown_fields: bool) -> tuple[str, caffe_pb2.NetParameter, tuple[str, ...]]:
    """(source, net, notices) of a file or text; the text itself is released once parsed."""
    source, text = load_source(path_or_text)
    return (source, *_read_net(text, source, proto, allow_unknown_fields))


def _read_net(text: str, source: str, proto: str | None,
              allow_unknown_fields: bool) -> tuple[caffe_pb2.NetParameter, tuple[str, ...]]:
    """The net read with our schema or, with `proto`, a fork's; and what reading it has to tell."""
    if proto is not None:
        from blobcalc.fork_schema import parse_with_fork_schema  # compiles a schema: only when asked for

        fork = parse_with_fork_schema(text, source, proto, allow_unknown_fields=allow_unknown_fields)
        return fork.net, (*skipped_field_notices(fork.skipped, fork.schema.label), *fork.notices)
    skipped: list[SkippedField] = []
    net = parse_net(text, source, allow_unknown_fields=allow_unknown_fields, skipped=skipped)
    return net, skipped_field_notices(skipped, "blobcalc's schema (BVLC Caffe and the forks it knows)")


def skipped_field_notices(skipped: Sequence[SkippedField], schema: str) -> tuple[str, ...]:
    """A first notice no reader can miss, then each skipped field (grouped by name) with its line:col."""
    if not skipped:
        return ()
    where: dict[str, list[str]] = {}
    for field in skipped:
        where.setdefault(f"{field.message_type.rpartition('.')[2]}.{field.name}", []).append(
            f"{field.line}:{field.col}")
    return (f"NOT A VALID CAFFE NET: {len(skipped)} field(s) unknown to {schema} were skipped "
            "(--allow-unknown-fields); no Caffe we know loads this file, and the figures ignore whatever "
            "those fields mean",
            *(f"skipped unknown field {name} at {', '.join(places)}" for name, places in where.items()))


def _with_notices(analysis: NetAnalysis, notices: tuple[str, ...]) -> NetAnalysis:
    return dataclasses.replace(analysis, notices=(*notices, *analysis.notices)) if notices else analysis
